"""Turn a `--lm` value into an LM, and say what it is: the one door to the backends.

`build_lm("local")` runs SmolLM2-135M-Instruct in this process (`local_lm.LocalLlamaLM`);
`build_lm("local:/path/model.gguf")` runs any GGUF; anything else (`openai/...`, `nvidia_nim/...`,
`ollama_chat/...`, `hosted_vllm/...`) is handed to `dspy.LM`, or to `endpoint_lm.EndpointLM` when
the endpoint's structured-output support is stated. Defaults come from `defaults`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dspy

from sdg_program.backends.defaults import DEFAULT_MAX_TOKENS, DEFAULT_NUM_RETRIES, DEFAULT_REPEAT_PENALTY, DEFAULT_SEED, DEFAULT_TEMPERATURE, DEFAULT_TIMEOUT
from sdg_program.backends.endpoint_lm import STRUCTURED_OUTPUT_MODES, EndpointLM, StructuredOutput, host_of
from sdg_program.backends.gguf_paths import checked_gguf_path
from sdg_program.backends.local_lm import LocalLlamaLM

LOCAL_SPEC = "local"
LOCAL_CONCURRENCY = 1
REMOTE_CONCURRENCY = 8


def is_local_spec(spec: str) -> bool:
    return spec == LOCAL_SPEC or spec.startswith(LOCAL_SPEC + ":")


def build_lm(
    spec: str,
    *,
    api_base: str | None = None,
    temperature: float = DEFAULT_TEMPERATURE,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    seed: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    num_retries: int = DEFAULT_NUM_RETRIES,
    api_key_env: str | None = None,
    n_ctx: int | None = None,
    n_threads: int | None = None,
    structured_output: StructuredOutput = "auto",
    cache: bool = False,
    repeat_penalty: float = DEFAULT_REPEAT_PENALTY,
) -> dspy.BaseLM:
    """Turn a `--lm` value into an LM.

    - `"local"`: SmolLM2-135M-Instruct in-process (`LocalLlamaLM`).
    - `"local:/path/model.gguf"`: that GGUF in-process; FileNotFoundError if it is missing.
    - anything else: a LiteLLM model string for `dspy.LM`, e.g. `openai/gpt-4o-mini`,
      `openai/meta/llama-3.1-8b-instruct` + `api_base` (NVIDIA NIM or any OpenAI-compatible
      server), `nvidia_nim/...`, `hosted_vllm/...`, `ollama_chat/...`.

    Remote keys come from the environment only (DSPy/LiteLLM read the provider's usual variable,
    e.g. OPENAI_API_KEY); `api_key_env` names another variable to read it from (e.g.
    "NVIDIA_API_KEY"). In DSPy 3.4 retries are DSPy's own: `num_retries` retries rate limits
    (429), timeouts, 5xx and connection errors with exponential backoff (honouring Retry-After).
    `api_base`, `timeout`, `num_retries` and `api_key_env` do not apply to local models;
    `n_ctx`, `n_threads` and `repeat_penalty` apply only to them.

    `structured_output` (remote only; the local model always decodes under the schema) says how the
    endpoint is asked for JSON: "auto" leaves it to DSPy's model tables (a custom model name behind
    `api_base` then gets no response_format at all); "json_schema", "json_object_schema" and
    "json_object" state what the server takes and return an `EndpointLM` (see `EndpointEngine`).

    `cache` (remote only) turns on DSPy's response cache. It is off by default: its key is the
    model name and the request, not the endpoint, so two servers that both serve "openai/model"
    would answer each other's requests from disk, and a run must reflect what the endpoint says
    now. Restarted runs do not need it: `--resume` skips the rows already written.
    """
    spec = (spec or "").strip()
    if not spec:
        raise ValueError("empty LM spec: use 'local', 'local:/path/model.gguf' or a LiteLLM model string")
    if structured_output not in STRUCTURED_OUTPUT_MODES:
        raise ValueError(f"structured_output must be one of {', '.join(STRUCTURED_OUTPUT_MODES)}, not {structured_output!r}")
    if is_local_spec(spec):
        model_path = None
        if spec != LOCAL_SPEC:
            model_path = spec[len(LOCAL_SPEC) + 1 :].strip()
            if not model_path:
                raise ValueError("'local:' needs a GGUF path, e.g. local:/models/model.gguf")
            model_path = checked_gguf_path(model_path)
        return LocalLlamaLM(
            model_path,
            n_ctx=n_ctx,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=DEFAULT_SEED if seed is None else seed,
            n_threads=n_threads,
            repeat_penalty=repeat_penalty,
        )

    if structured_output != "auto":
        if api_key_env and not os.environ.get(api_key_env):
            raise ValueError(f"environment variable {api_key_env} (named by api_key_env) is not set")
        return EndpointLM(
            spec,
            structured_output=structured_output,
            api_base=api_base,
            timeout=timeout,
            api_key_env=api_key_env,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
            num_retries=num_retries,
            cache=cache,
        )
    kwargs: dict[str, Any] = {"timeout": timeout, "cache": cache}
    if api_base:
        kwargs["api_base"] = api_base
    if seed is not None:
        kwargs["seed"] = seed
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            raise ValueError(f"environment variable {api_key_env} (named by api_key_env) is not set")
        kwargs["api_key"] = key
    return dspy.LM(spec, temperature=temperature, max_tokens=max_tokens, num_retries=num_retries, **kwargs)


def describe_lm(lm: dspy.BaseLM) -> dict[str, Any]:
    """Run metadata for an LM, built from an allow-list so no key or credential can leak.

    `api_base` is reduced to its host (and port): URLs may carry user:password or ?key=.
    """
    kwargs = getattr(lm, "kwargs", {}) or {}
    info: dict[str, Any] = {
        "kind": "local" if isinstance(lm, LocalLlamaLM) else "remote" if isinstance(lm, dspy.LM) else "custom",
        "model": str(getattr(lm, "model", type(lm).__name__)),
        "temperature": kwargs.get("temperature"),
        "max_tokens": kwargs.get("max_tokens", kwargs.get("max_completion_tokens")),
        "seed": kwargs.get("seed"),
    }
    if isinstance(lm, LocalLlamaLM):
        info["model_file"] = Path(lm.model_path).name
        info["context_window"] = lm.context_window
        info["backend"] = "llama.cpp"
        info["repeat_penalty"] = lm.engine.repeat_penalty
        info["n_threads"] = lm.engine.n_threads
    elif isinstance(lm, EndpointLM):
        info["api_base_host"] = host_of(lm.api_base)
        info["num_retries"] = lm.num_retries
        info["timeout"] = lm.engine.timeout
        info["structured_output"] = lm.structured_output
    elif isinstance(lm, dspy.LM):
        info["api_base_host"] = host_of(kwargs.get("api_base") or kwargs.get("base_url"))
        info["num_retries"] = getattr(lm, "num_retries", None)
        timeout = kwargs.get("timeout")
        info["timeout"] = timeout if isinstance(timeout, (int, float)) else None
        info["structured_output"] = "auto"
    else:
        info["class"] = f"{type(lm).__module__}.{type(lm).__qualname__}"
    return info


def default_concurrency(spec: str | dspy.BaseLM) -> int:
    """Worker threads that help: 1 for an in-process model (calls are serialized), 8 for endpoints."""
    if isinstance(spec, LocalLlamaLM):
        return LOCAL_CONCURRENCY
    if isinstance(spec, str) and is_local_spec(spec.strip()):
        return LOCAL_CONCURRENCY
    return REMOTE_CONCURRENCY
