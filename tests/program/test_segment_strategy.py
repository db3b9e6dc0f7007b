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
from sdg_program.program.strategies import fact_sentences, pick_segments, strategy_for
from signatures import SegmentQuestion, WriteSegmentQA, narrow_segment_qa
from tests.fake_lm import evaluation

TEXT = (
    "MIPROv2 proposes instructions and few-shot demonstrations, then searches their combinations with a Bayesian surrogate model. "
    "Next. "
    "BootstrapFewShot runs the teacher program on training examples and keeps the traces whose outputs pass the metric as demonstrations."
)


def make_row():
    chunks = chunk_text(TEXT, "doc.md", sentences_per_chunk=1)
    return make_seed_row([ChunkedDocument("doc.md", TEXT, chunks)], ChunkingConfig(input_dir=".", sentences_per_chunk=1))


def qa(question, complexity=2):
    return {"qa": {"question": question, "query_type": "contextual", "reasoning_type": "factual", "question_complexity": complexity}}


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


def test_facts_are_the_richest_clean_sentences_of_a_segment():
    text = "Setting up DSPy\nInstall DSPy with pip and configure a language model before the first call. See below. Run `{{ x }}}` ]]"
    assert fact_sentences(text) == ["Install DSPy with pip and configure a language model before the first call."]
    ranked = fact_sentences("Pumps move water through pipes. The cooling pump moves hot water from the engine block to the roof radiator.")
    assert ranked[0].startswith("The cooling pump")
    assert fact_sentences("Next.") == []


def test_candidates_ask_about_facts_until_one_passes_and_the_best_is_kept_when_none_does():
    good = qa("How does MIPROv2 search combinations of instructions and demonstrations?")
    off_topic = qa("What is the capital of France?")
    lm = DummyLM(
        [
            good,  # segment 1: the first candidate passes
            off_topic, off_topic,  # segment 3: neither passes, the best is kept with its reasons
            {"evaluations": {"evaluations": [evaluation(0), evaluation(1)]}},  # a DummyLM is no embedded model: the judge runs
        ],
        adapter=dspy.JSONAdapter(),
    )
    settings = GenerationSettings(strategy="segment", segment_attempts=2, num_pairs=3, min_complexity=2)
    result = RetrievalSDG(settings, lm=lm)(row=make_row())

    pairs = result.qa_generation["pairs"]
    assert [pair["segment_ids"] for pair in pairs] == [[1], [3]]
    assert pairs[0]["question"] == good["qa"]["question"]
    # The fact asked about is the answer, and the one hop's summary: the answer is extractive.
    fact = TEXT.split(" Next. ")[0]
    assert pairs[0]["answer"] == fact
    assert pairs[0]["hop_contexts"] == [{"hop_number": 1, "segment_ids": [1], "summary": fact}]
    assert [(v["valid"], v["attempts"]) for v in result.generation_validations] == [(True, 1), (False, 2)]
    assert "question_not_grounded" in result.generation_validations[1]["reasons"]
    assert result.lm_usage["generate"]["calls"] == 3
    # The segment strategy reads no artifacts: extract off (auto).
    assert result.lm_usage["extract"]["calls"] == 0
    generate_calls = [entry for entry in lm.history if "`qa`" in json.dumps(entry["messages"])]
    assert [entry["kwargs"].get("temperature") for entry in generate_calls] == [None, None, 0.8]
    assert [entry["kwargs"].get("rollout_id") for entry in generate_calls] == [None, None, 1]
    assert fact in generate_calls[0]["messages"][-1]["content"]  # the model is shown the fact
    assert [evaluation["pair_index"] for evaluation in result.qa_evaluations["evaluations"]] == [0, 1]
    assert result.lm_usage["judge"]["calls"] == 1 and result.judged is True


def test_complexity_offered_by_the_grammar_starts_at_min_complexity():
    schema = narrow_segment_qa(3).model_json_schema()
    assert schema["properties"]["question_complexity"]["enum"] == [3, 4, 5]
    with pytest.raises(ValueError):
        narrow_segment_qa(3).model_validate(qa("How does MIPROv2 search instruction combinations?", complexity=2)["qa"])


def test_plain_prompt_adapter_asks_in_plain_words():
    messages = PlainPromptAdapter().format(WriteSegmentQA, demos=[], inputs={"fact": "DSPy compiles programs."})
    assert messages == [
        {"role": "system", "content": WriteSegmentQA.instructions},
        {"role": "user", "content": "Fact: DSPy compiles programs."},
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
            shaped.model_validate(qa(copied)["qa"])
    assert shaped.model_validate(qa("How does MIPROv2 search instruction combinations?")["qa"])
    with pytest.raises(ValueError):  # no figure is shown, so no visual reasoning
        shaped.model_validate({**qa("How does MIPROv2 search instruction combinations?")["qa"], "reasoning_type": "visual"})
    # llama.cpp compiles the pattern into its grammar (it falls back to plain JSON when it cannot).
    assert LlamaGrammar.from_json_schema(json.dumps(shaped.model_json_schema()), verbose=False) is not None
    # Free text for models that are not grammar-decoded: keyword queries are real search queries.
    assert SegmentQuestion.model_validate(qa("difference between dspy.configure and dspy.context")["qa"])
