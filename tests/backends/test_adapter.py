"""CachedJSONAdapter gives exactly what dspy.JSONAdapter gives: messages, response_format, callbacks."""

import copy
import json
import pickle

import dspy
import pytest
from dspy.utils.callback import BaseCallback
from dspy.utils.exceptions import AdapterParseError

from sdg_program.backends.adapters import CachedJSONAdapter
from sdg_program.backends.factory import build_lm
from sdg_program.backends.faults import classify
from sdg_program.core.resources import compiled_program
from sdg_program.program.retrieval_sdg import RetrievalSDG, _with_field_types
from sdg_program.program.settings import GenerationSettings
from signatures import ExtractArtifacts, GenerateQAPairs, JudgeQAPairs
from signatures.narrow import narrow_artifacts, narrow_evaluations, narrow_qa_pairs
from signatures.segment import narrow_segment_qa

COMPILED = compiled_program("local_default")

GENERATE_INPUTS = dict(segments="Segment 1: Pumps move water.\nSegment 2: Valves open at 90 degrees.", artifacts="(none)", num_pairs=2,
                       query_counts="contextual: 1", reasoning_counts="factual: 1", min_hops=1, max_hops=2, min_complexity=2)
EXTRACT_INPUTS = dict(document="Segment 1: Pumps move water.", max_artifacts_per_type=3)
JUDGE_INPUTS = dict(segments="Segment 1: Pumps move water.", qa_pairs="pair_index: 0\nquestion: what moves water")


def _narrowed(signature, name, type_):
    return _with_field_types(signature, ((name, type_),))


class Capabilities:
    """Just the two LM attributes JSONAdapter reads to choose a response format."""

    def __init__(self, *, schema: bool = True, response_format: bool = True):
        self.supported_params = {"response_format"} if response_format else set()
        self.supports_response_schema = schema


def signatures_under_test():
    """Static, narrowed (two different narrowings of one field), string-defined and re-instructed signatures."""
    return [
        (ExtractArtifacts, EXTRACT_INPUTS),
        (_narrowed(ExtractArtifacts, "artifacts", narrow_artifacts(3)), EXTRACT_INPUTS),
        (GenerateQAPairs, GENERATE_INPUTS),
        (_narrowed(GenerateQAPairs, "qa_pairs", narrow_qa_pairs([1, 2], max_pairs=2, max_hops=2)), GENERATE_INPUTS),
        (_narrowed(GenerateQAPairs, "qa_pairs", narrow_qa_pairs([1, 2, 3], max_pairs=3, max_hops=2)), GENERATE_INPUTS),
        (JudgeQAPairs, JUDGE_INPUTS),
        (_narrowed(JudgeQAPairs, "evaluations", narrow_evaluations(1)), JUDGE_INPUTS),
        (_narrowed(JudgeQAPairs, "evaluations", narrow_evaluations(2)), JUDGE_INPUTS),
        (dspy.Signature("question: str, context: list[str] -> answer: str, confidence: float"), {"question": "q", "context": ["a", "b"]}),
        (GenerateQAPairs.with_instructions("Write one question."), GENERATE_INPUTS),
    ]


def compiled_demos():
    """The demos of the shipped compiled program, per predictor name."""
    program = RetrievalSDG(GenerationSettings())
    program.load(str(COMPILED))
    return {name: predictor.demos for name, predictor in program.named_predictors()}, program


def response_format_of(adapter, lm, signature):
    kwargs = {}
    adapter._prepare_response_format(lm, kwargs, signature)
    return kwargs.get("response_format", "absent")


def same_format(cached, plain) -> bool:
    if isinstance(plain, type):
        return isinstance(cached, type) and cached.__name__ == plain.__name__ and cached.model_json_schema() == plain.model_json_schema()
    return cached == plain


def test_messages_equal_json_adapter_for_static_narrowed_and_custom_signatures():
    cached, plain = CachedJSONAdapter(), dspy.JSONAdapter()
    cases = signatures_under_test()
    for _ in range(2):  # the second round is served from the cache
        for signature, inputs in cases:
            assert cached.format(signature, [], inputs) == plain.format(signature, [], inputs), signature


def test_messages_equal_json_adapter_with_compiled_demos():
    if not COMPILED.is_file():
        pytest.skip("no compiled program")
    demos, program = compiled_demos()
    assert any(demos.values()), "the compiled program should carry demos"
    cached, plain = CachedJSONAdapter(), dspy.JSONAdapter()
    inputs = {"extract": EXTRACT_INPUTS, "generate": GENERATE_INPUTS, "judge": JUDGE_INPUTS, "write_segment_qa": {"fact": "DSPy compiles programs."}}
    for _ in range(2):
        for name, predictor in program.named_predictors():
            for signature in (predictor.signature, _narrowed(predictor.signature, *_narrowing(name))):
                assert cached.format(signature, demos[name], inputs[name]) == plain.format(signature, demos[name], inputs[name])


def _narrowing(name):
    return {
        "extract": ("artifacts", narrow_artifacts(2)),
        "generate": ("qa_pairs", narrow_qa_pairs([1, 2], max_pairs=2, max_hops=2)),
        "judge": ("evaluations", narrow_evaluations(2)),
        "write_segment_qa": ("qa", narrow_segment_qa(2)),
    }[name]


@pytest.mark.parametrize("capabilities", [Capabilities(), Capabilities(schema=False), Capabilities(response_format=False)])
def test_response_format_equals_json_adapter(capabilities):
    cached, plain = CachedJSONAdapter(), dspy.JSONAdapter()
    for _ in range(2):
        for signature, _inputs in signatures_under_test():
            assert same_format(response_format_of(cached, capabilities, signature), response_format_of(plain, capabilities, signature)), signature


def test_response_format_is_built_once_per_signature_and_capability():
    adapter = CachedJSONAdapter()
    signature = _narrowed(GenerateQAPairs, "qa_pairs", narrow_qa_pairs([4, 7], max_pairs=2, max_hops=2))
    first = response_format_of(adapter, Capabilities(), signature)
    assert response_format_of(adapter, Capabilities(), signature) is first  # the cached class, not a rebuilt one
    assert response_format_of(adapter, Capabilities(schema=False), signature) == {"type": "json_object"}
    # The json_object dict is the caller's own: mutating it must not leak into the next call.
    mutated = response_format_of(adapter, Capabilities(schema=False), signature)
    mutated["type"] = "changed"
    assert response_format_of(adapter, Capabilities(schema=False), signature) == {"type": "json_object"}
    # Narrowed to other segment IDs: another class, another schema (a cache keyed by field name would fail here).
    other_signature = _narrowed(GenerateQAPairs, "qa_pairs", narrow_qa_pairs([5], max_pairs=2, max_hops=2))
    other = response_format_of(adapter, Capabilities(), other_signature)
    assert other is not first
    assert json.dumps(other.model_json_schema()) != json.dumps(first.model_json_schema())
    assert same_format(other, response_format_of(dspy.JSONAdapter(), Capabilities(), other_signature))


def test_dspy_response_cache_keys_are_unchanged():
    """DSPy's response cache keys a request by the format's schema: entries written with JSONAdapter still hit."""
    signature = _narrowed(GenerateQAPairs, "qa_pairs", narrow_qa_pairs([1, 2], max_pairs=2, max_hops=2))
    keys = set()
    cached = CachedJSONAdapter()
    for adapter in (dspy.JSONAdapter(), cached, cached):  # the second cached call is a cache hit
        request = {"model": "openai/stub", "messages": adapter.format(signature, [], GENERATE_INPUTS),
                   "response_format": response_format_of(adapter, Capabilities(), signature)}
        keys.add(dspy.cache.cache_key(request))
    assert len(keys) == 1


def test_cache_follows_in_place_edits_of_instructions_and_descriptions():
    """DSPy can edit a signature class in place (instructions setter, load_state on field descriptions)."""
    cached, plain = CachedJSONAdapter(), dspy.JSONAdapter()
    signature = dspy.Signature("question: str -> answer: str", "Answer briefly.")
    before = cached.format(signature, [], {"question": "q"})
    signature.instructions = "Answer in French."
    after = cached.format(signature, [], {"question": "q"})
    assert after != before and after == plain.format(signature, [], {"question": "q"})
    signature.output_fields["answer"].json_schema_extra["desc"] = "one word"
    edited = cached.format(signature, [], {"question": "q"})
    assert "one word" in edited[0]["content"] and edited == plain.format(signature, [], {"question": "q"})
    capabilities = Capabilities()
    assert same_format(response_format_of(cached, capabilities, signature), response_format_of(plain, capabilities, signature))


def test_schema_handed_out_is_not_changed_by_the_lm_call_path():
    """The cached response_format class is shared by every later call: DSPy's request building must not mutate its schema."""
    from dspy.clients.legacy_requests import _strict_json_schema

    adapter = CachedJSONAdapter()
    signature = _narrowed(JudgeQAPairs, "evaluations", narrow_evaluations(3))
    format_ = response_format_of(adapter, Capabilities(), signature)
    snapshot = json.dumps(format_.model_json_schema(), sort_keys=True)
    strict = _strict_json_schema(format_.model_json_schema())
    json.dumps(strict)
    assert json.dumps(format_.model_json_schema(), sort_keys=True) == snapshot


class CountingCallback(BaseCallback):
    def __init__(self):
        self.formats = 0
        self.parses = 0

    def on_adapter_format_start(self, call_id, instance, inputs):
        self.formats += 1

    def on_adapter_parse_start(self, call_id, instance, inputs):
        self.parses += 1


def test_callbacks_fire_as_often_as_with_json_adapter():
    counts = {}
    for adapter_class in (dspy.JSONAdapter, CachedJSONAdapter):
        callback = CountingCallback()
        adapter = adapter_class(callbacks=[callback])
        adapter.format(ExtractArtifacts, [], EXTRACT_INPUTS)
        adapter.parse(dspy.Signature("question -> answer"), '{"answer": "x"}')
        counts[adapter_class.__name__] = (callback.formats, callback.parses)
    assert counts["CachedJSONAdapter"] == counts["JSONAdapter"]


def test_copies_and_pickles_start_with_empty_caches_and_format_the_same():
    adapter = CachedJSONAdapter()
    expected = adapter.format(GenerateQAPairs, [], GENERATE_INPUTS)
    for clone in (copy.deepcopy(adapter), pickle.loads(pickle.dumps(adapter))):
        assert isinstance(clone, CachedJSONAdapter)
        assert len(clone._system_messages) == 0
        assert clone.format(GenerateQAPairs, [], GENERATE_INPUTS) == expected


def test_entries_go_with_their_signature_class():
    import gc

    adapter = CachedJSONAdapter()
    signature = dspy.Signature("question: str -> answer: str")
    adapter.format(signature, [], {"question": "q"})
    response_format_of(adapter, Capabilities(), signature)
    assert len(adapter._system_messages) == 1 and len(adapter._response_formats) == 1
    del signature
    gc.collect()
    assert len(adapter._system_messages) == 0 and len(adapter._response_formats) == 0


def test_program_requests_equal_json_adapter_through_an_endpoint(corpus, monkeypatch):
    """Whole rows through an OpenAI-compatible stub: the same request bodies with either adapter."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    from sdg_program.ingest.chunking import ChunkingReport, iter_seed_rows
    from sdg_program.ingest.config import ChunkingConfig
    from tests.openai_stub import OpenAIStub

    corpus("a.txt", "Pump P1 moves forty litres per minute. Valve V1 opens at ninety degrees. Operators log pressure hourly.\n")
    rows = list(iter_seed_rows(ChunkingConfig(input_dir=corpus.root), ChunkingReport()))
    bodies = {}
    for adapter in (dspy.JSONAdapter(), CachedJSONAdapter()):
        with OpenAIStub() as stub:
            lm = build_lm("openai/stub-model", api_base=stub.base_url, structured_output="json_schema")
            lm.cache = False
            program = RetrievalSDG(GenerationSettings(num_pairs=2), lm=lm)
            program.adapter = adapter
            for _ in range(2):
                program(row=rows[0])
            bodies[type(adapter).__name__] = [json.dumps(request.body, sort_keys=True) for request in stub.requests]
    assert len(bodies["JSONAdapter"]) == 4  # per row: generate (extraction inline) and judge
    assert bodies["CachedJSONAdapter"] == bodies["JSONAdapter"]


def test_program_uses_the_cached_adapter():
    assert isinstance(RetrievalSDG(GenerationSettings()).adapter, CachedJSONAdapter)


class Reply(dspy.Signature):
    """Answer the question."""

    question: str = dspy.InputField()
    answer: str = dspy.OutputField()


def test_a_cut_off_reply_is_refused_not_repaired():
    """json_repair would close the open string and hand back half an answer as if it were whole."""
    cut_off = '{"answer": "Beta systems index the rec'
    assert dspy.JSONAdapter().parse(Reply, cut_off) == {"answer": "Beta systems index the rec"}
    with pytest.raises(AdapterParseError) as raised:
        CachedJSONAdapter().parse(Reply, cut_off)
    assert classify(raised.value) == "truncated_json"
    # whole replies, also fenced or with a trailing comma, still parse
    assert CachedJSONAdapter().parse(Reply, '```json\n{"answer": "Beta systems index the records."}\n```') == {"answer": "Beta systems index the records."}
    assert CachedJSONAdapter().parse(Reply, '{"answer": "ok",}') == {"answer": "ok"}
