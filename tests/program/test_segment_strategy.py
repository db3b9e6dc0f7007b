"""The segment strategy's logic with a scripted LM (the embedded model runs it in test_end_to_end.py)."""

import json

import dspy
import pytest
from dspy.utils.dummies import DummyLM

from sdg_program.backends.adapters import PlainPromptAdapter
from sdg_program.ingest.chunking import ChunkedDocument, chunk_text, make_seed_row
from sdg_program.ingest.config import ChunkingConfig
from sdg_program.program.compiled import LOCAL_DEFAULT_PROGRAM
from sdg_program.program.retrieval_sdg import RetrievalSDG
from sdg_program.program.settings import GenerationSettings
from sdg_program.program.strategies import pick_segments, strategy_for
from signatures import SegmentQA, WriteSegmentQA, narrow_segment_qa
from tests.fake_lm import artifacts, evaluation

TEXT = (
    "MIPROv2 proposes instructions and few-shot demonstrations, then searches their combinations with a Bayesian surrogate model. "
    "Next. "
    "BootstrapFewShot runs the teacher program on training examples and keeps the traces whose outputs pass the metric as demonstrations."
)


def make_row():
    chunks = chunk_text(TEXT, "doc.md", sentences_per_chunk=1)
    return make_seed_row([ChunkedDocument("doc.md", TEXT, chunks)], ChunkingConfig(input_dir=".", sentences_per_chunk=1))


def qa(question, answer, complexity=2):
    return {"qa": {"question": question, "answer": answer, "query_type": "contextual", "reasoning_type": "factual", "question_complexity": complexity}}


def test_pick_segments_skips_segments_without_a_fact_and_spreads_the_rest():
    row = make_row()
    texts = {chunk.chunk_id: chunk.text for chunk in row.chunks}
    assert pick_segments([1, 2, 3], texts, 5) == [1, 3]  # "Next." has nothing to ask about
    many = {index: TEXT.split(". ")[0] for index in range(1, 11)}
    assert pick_segments(list(many), many, 3) == [1, 4, 7]
    assert pick_segments(list(many), many, 10) == list(range(1, 11))


def test_auto_strategy_is_window_for_any_model_but_the_embedded_one():
    settings = GenerationSettings()
    assert strategy_for(DummyLM([{}]), settings) == "window"
    assert strategy_for(DummyLM([{}]), GenerationSettings(strategy="segment")) == "segment"


def test_candidates_until_one_passes_and_the_best_kept_when_none_does():
    copied = qa("MIPROv2 proposes instructions and few-shot demonstrations", "MIPROv2 proposes instructions and few-shot demonstrations")
    good = qa("how does MIPROv2 search combinations of instructions and demonstrations", "With a Bayesian surrogate model.")
    off_topic = qa("what is the capital of France", "Paris")
    lm = DummyLM(
        [
            artifacts("MIPROv2"),
            copied, good,  # segment 1: the second candidate passes
            off_topic, off_topic,  # segment 3: neither passes, the best is kept with its reasons
            {"evaluations": {"evaluations": [evaluation(0), evaluation(1)]}},
        ],
        adapter=dspy.JSONAdapter(),
    )
    settings = GenerationSettings(strategy="segment", segment_attempts=2, num_pairs=3, min_complexity=2)
    result = RetrievalSDG(settings, lm=lm)(row=make_row())

    pairs = result.qa_generation["pairs"]
    assert [pair["segment_ids"] for pair in pairs] == [[1], [3]]
    assert pairs[0]["question"] == good["qa"]["question"]
    assert pairs[0]["hop_contexts"] == [{"hop_number": 1, "segment_ids": [1], "summary": "With a Bayesian surrogate model."}]
    assert [(v["valid"], v["attempts"]) for v in result.generation_validations] == [(True, 2), (False, 2)]
    assert "question_not_grounded" in result.generation_validations[1]["reasons"]
    assert result.lm_usage["generate"]["calls"] == 4
    # The first candidate is the LM's own; later ones are separate samples.
    generate_calls = [entry for entry in lm.history if "`qa`" in json.dumps(entry["messages"])]
    assert [entry["kwargs"].get("temperature") for entry in generate_calls] == [None, 0.8, None, 0.8]
    assert [entry["kwargs"].get("rollout_id") for entry in generate_calls] == [None, 1, None, 1]


def test_complexity_offered_by_the_grammar_starts_at_min_complexity():
    schema = narrow_segment_qa(3).model_json_schema()
    assert schema["properties"]["question_complexity"]["enum"] == [3, 4, 5]
    with pytest.raises(ValueError):
        narrow_segment_qa(3).model_validate(qa("How does MIPROv2 search instruction combinations?", "a", complexity=2)["qa"])


def test_plain_prompt_adapter_asks_in_plain_words():
    messages = PlainPromptAdapter().format(WriteSegmentQA, demos=[], inputs={"text": "DSPy compiles programs."})
    assert messages == [
        {"role": "system", "content": WriteSegmentQA.instructions},
        {"role": "user", "content": "Text: DSPy compiles programs."},
    ]


def test_plain_prompt_adapter_refuses_a_cut_off_reply():
    with pytest.raises(dspy.utils.exceptions.AdapterParseError):
        PlainPromptAdapter().parse(WriteSegmentQA, '{"qa": {"question": "how does DSPy')


def test_shipped_compiled_default_loads_every_predictor():
    program = RetrievalSDG()
    program.load(str(LOCAL_DEFAULT_PROGRAM))
    saved = json.loads(LOCAL_DEFAULT_PROGRAM.read_text())
    assert {name for name, _ in program.named_predictors()} <= set(saved)
    assert program.write_segment_qa.signature.instructions == WriteSegmentQA.instructions


def test_grammar_decoded_questions_are_shaped_as_questions():
    from llama_cpp.llama_grammar import LlamaGrammar

    shaped = narrow_segment_qa(2)
    for copied in ("change inference strategies by changing the module", "DSPy", "What is it? And why?", "What is\nthis?"):
        with pytest.raises(ValueError):
            shaped.model_validate(qa(copied, "a")["qa"])
    assert shaped.model_validate(qa("How does MIPROv2 search instruction combinations?", "a")["qa"])
    # llama.cpp compiles the pattern into its grammar (it falls back to plain JSON when it cannot).
    assert LlamaGrammar.from_json_schema(json.dumps(shaped.model_json_schema()), verbose=False) is not None
    # Free text for models that are not grammar-decoded: keyword queries are real search queries.
    assert SegmentQA.model_validate(qa("difference between dspy.configure and dspy.context", "a")["qa"])
