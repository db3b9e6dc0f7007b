"""The in-process LM with the real SmolLM2 GGUF (no network, tiny prompts): every test here loads it."""

import asyncio
import json
import threading
import warnings
from pathlib import Path

import dspy
import pytest
from dspy.utils.exceptions import ContextWindowExceededError

from sdg_program.backends.endpoint_lm import EndpointLM
from sdg_program.backends.engine_base import ContextWindowExceeded
from sdg_program.backends.factory import build_lm, default_concurrency, describe_lm
from sdg_program.backends.gguf_paths import default_gguf_path
from sdg_program.backends.local_lm import LocalLlamaLM
from tests.backends.lm_helpers import Classify, Fact, saved_and_loaded

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lm() -> LocalLlamaLM:
    return LocalLlamaLM(max_tokens=32)


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


def test_program_save_and_load_rebuilds_the_local_lm(lm, tmp_path):
    saved, restored = saved_and_loaded(lm, tmp_path / "program.json")
    assert saved["_dspy_lm_class"] == "sdg_program.backends.local_lm.LocalLlamaLM"
    assert saved["model_path"] is None and saved["max_tokens"] == 32
    assert type(restored) is LocalLlamaLM and restored.model == lm.model
    assert restored.kwargs["max_tokens"] == 32 and restored.kwargs["seed"] == lm.kwargs["seed"]


def test_capabilities_of_the_local_and_endpoint_lms(lm, monkeypatch):
    """What the program and the optimizer ask instead of class names (strategies, retrieval_sdg, optimize.compile)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    other_gguf = build_lm(f"local:{default_gguf_path()}", max_tokens=16)  # the same file, but named: not the default
    schema_endpoint = build_lm("openai/x", api_base="http://127.0.0.1:9/v1", structured_output="json_schema")
    json_endpoint = build_lm("openai/x", api_base="http://127.0.0.1:9/v1", structured_output="json_object")
    plain = build_lm("openai/x", api_base="http://127.0.0.1:9/v1")
    assert isinstance(schema_endpoint, EndpointLM) and type(plain) is dspy.LM

    def capabilities(model):
        return tuple(getattr(model, name, False) for name in ("runs_in_process", "enforces_response_schema", "is_embedded_default"))

    assert capabilities(lm) == (True, True, True)
    assert capabilities(other_gguf) == (True, True, False)
    assert capabilities(schema_endpoint) == (False, True, False)
    assert capabilities(json_endpoint) == (False, False, False)
    assert capabilities(plain) == (False, False, False)


def test_build_lm_local_and_local_path():
    default = build_lm("local", max_tokens=16)
    assert isinstance(default, LocalLlamaLM)
    assert default.model_path == str(Path(default_gguf_path()).resolve())
    explicit = build_lm(f"local:{default_gguf_path()}", max_tokens=16)
    assert isinstance(explicit, LocalLlamaLM)
    assert explicit.model_path == default.model_path
    assert explicit.dump_state()["model_path"] == explicit.model_path


def test_describe_local(lm):
    info = describe_lm(lm)
    assert info["kind"] == "local"
    assert info["model_file"].endswith(".gguf")
    assert info["context_window"] == lm.context_window
    json.dumps(info)


def test_default_concurrency_of_a_local_lm(lm):
    assert default_concurrency(lm) == 1


def test_local_model_ignores_structured_output(lm):
    local = build_lm("local", structured_output="json_object", max_tokens=16)
    assert isinstance(local, LocalLlamaLM) and local.supports_response_schema
