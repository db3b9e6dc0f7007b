"""Remote endpoints against tests/openai_stub.py on 127.0.0.1: what reaches the wire for each --structured-output mode."""

import asyncio
import json
import warnings

import dspy
import pytest

from sdg_program.backends.endpoint_lm import EndpointLM
from sdg_program.backends.factory import build_lm, describe_lm
from tests.backends.lm_helpers import Classify, Fact, saved_and_loaded
from tests.openai_stub import OpenAIStub, completion, error

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


def test_program_save_and_load_rebuilds_the_endpoint_lm(stub, tmp_path):
    remote = endpoint(stub, "json_object_schema", seed=5)
    saved, restored = saved_and_loaded(remote, tmp_path / "program.json")
    assert saved["_dspy_lm_class"] == "sdg_program.backends.endpoint_lm.EndpointLM"
    assert type(restored) is EndpointLM
    assert restored.structured_output == "json_object_schema" and restored.api_base == stub.base_url
    assert restored.kwargs["seed"] == 5 and restored.kwargs["max_tokens"] == 200
    assert classify(restored).fact.kind == "fruit"


@pytest.mark.parametrize("mode", ["json_schema", "json_object"])
def test_endpoint_prompts_state_the_output_contract_once(offline_dspy, tmp_path, mode):
    """Endpoints get the compact prompt (bench/bench_cost.py): the output outline in the system message, the
    same text on every call of a stage (a cacheable prefix), no JSON schema in the prompt and none of the
    descriptions in the wire schema; the judge sees only the pairs convert may keep."""
    from sdg_program.ingest.chunking import ChunkingReport, iter_seed_rows
    from sdg_program.ingest.config import ChunkingConfig
    from sdg_program.program.retrieval_sdg import RetrievalSDG
    from sdg_program.program.settings import GenerationSettings

    for name, text in {"a.txt": "The pump cools the engine at full load. The valve opens at noon every day. Operators log the pressure each hour.",
                       "b.txt": "The library opened its north wing in 1998. The wing holds the map collection. Visitors borrow six books."}.items():
        (tmp_path / name).write_text(text + "\n")
    rows = list(iter_seed_rows(ChunkingConfig(input_dir=tmp_path, sentences_per_chunk=1, min_text_length=0), ChunkingReport()))
    for extract, stages in (("on", ("extract", "generate", "judge")), ("inline", ("generate", "judge"))):
        with OpenAIStub() as server:
            program = RetrievalSDG(GenerationSettings(num_pairs=2, extract=extract), lm=endpoint(server, mode))
            results = [program(row=row) for row in rows]
            requests = list(server.requests)
        assert all(result.qa_generation["pairs"] and result.document_artifacts["key_concepts"] for result in results)
        assert {request.signature for request in requests} == set(stages)
        for stage in stages:
            calls = [request for request in requests if request.signature == stage]
            assert len(calls) == 2, stage
            systems = {request.text("system") for request in calls}
            assert len(systems) == 1  # the same system message for both rows: a prefix a provider can cache
            system = systems.pop()
            assert "Reply with one JSON object with these fields:" in system
            assert "must adhere to the JSON schema" not in system and '\\"type\\"' not in system
            assert "Respond with a JSON object" not in calls[0].input_text
            if mode == "json_schema":
                assert '"description": "' not in json.dumps(calls[0].schema)  # (ArtifactItem has a property named description)
            if stage == "judge":  # the stub writes single-hop pairs: their one hop would restate segment_ids and answer
                assert "hop 1 (segments" not in calls[0].input_text
            if stage == "generate":  # the inline call has room for the artifacts on top of --max-tokens: 60 per item it may list
                budget = program.role_lms["generate"].kwargs["max_tokens"]
                assert calls[0].body["max_tokens"] == (budget + 60 * 8 * 2 if extract == "inline" else budget), extract
        judged = [request.input_text for request in requests if request.signature == "judge"]
        for result, prompt in zip(results, judged):
            for pair, validation in zip(result.deduplicated_qa_pairs, result.qa_validations):
                assert (pair["question"] in prompt) is validation["valid"]
