"""Program logic with a scripted LM (the real model runs in test_end_to_end.py)."""

import dspy
import numpy as np
import pytest

from sdg_program.core.errors import RowFailed
from sdg_program.ingest.chunking import ChunkedDocument, chunk_text, make_seed_row
from sdg_program.ingest.config import ChunkingConfig
from sdg_program.program.retrieval_sdg import RetrievalSDG
from sdg_program.program.settings import GenerationSettings
from sdg_program.program.windows import make_windows, window_chars_for
from tests.fake_lm import artifacts, evaluation, pair, scripted_lm

TEXT = (
    "DSPy compiles declarative language model calls into pipelines. "
    "Optimizers such as MIPROv2 tune instructions and demonstrations using a metric. "
    "A metric is a Python function that scores a prediction against an example."
)


def make_row(text=TEXT, sentences_per_chunk=1):
    chunks = chunk_text(text, "doc.md", sentences_per_chunk=sentences_per_chunk)
    return make_seed_row([ChunkedDocument("doc.md", text, chunks)], ChunkingConfig(input_dir=".", sentences_per_chunk=sentences_per_chunk))


def embed(texts):
    vectors = np.array([[1.0, 0.0] if "mipro" in text.lower() else [0.0, 1.0] for text in texts])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


GOOD = pair("how does mipro use a metric to tune prompts", "MIPROv2 tunes instructions and demonstrations using a metric.", [2, 3],
            query_type="multi_hop", hops=[[2], [3]])
DUPLICATE = pair("how does MIPRO tune prompts", "MIPROv2 tunes instructions.", [2])
OTHER = pair("what does dspy compile language model calls into", "DSPy compiles declarative language model calls into pipelines.", [1])


def test_program_produces_a_complete_record():
    lm = scripted_lm(artifacts("MIPROv2"), {"qa_pairs": {"pairs": [GOOD, DUPLICATE, OTHER]}},
                     {"evaluations": {"evaluations": [evaluation(1, 6.0), evaluation(0, 9.0)]}})
    program = RetrievalSDG(GenerationSettings(num_pairs=3), lm=lm, embed_texts=embed)
    result = program(row=make_row())
    assert len(result.qa_generation["pairs"]) == 3
    # the duplicate loses to the valid multi-hop pair, whatever the order
    assert [p["question"] for p in result.deduplicated_qa_pairs] == [GOOD["question"], OTHER["question"]]
    assert result.dedup == {"kept": [0, 2], "duplicate_of": {"1": 0}}
    # evaluations are matched by pair_index, not position
    scores = {e["pair_index"]: e["overall"]["score"] for e in result.qa_evaluations["evaluations"]}
    assert scores == {0: 9.0, 1: 6.0}
    assert [v["valid"] for v in result.qa_validations] == [True, True]
    assert result.document_artifacts["key_concepts"][0]["text"] == "MIPROv2"
    assert result.lm_usage["generate"]["calls"] == 1 and result.lm_usage["judge"]["calls"] == 1
    assert result.errors == []


def test_missing_evaluation_is_recorded_not_guessed():
    lm = scripted_lm(artifacts("x"), {"qa_pairs": {"pairs": [GOOD, OTHER]}}, {"evaluations": {"evaluations": [evaluation(5), evaluation(1)]}})
    result = RetrievalSDG(GenerationSettings(num_pairs=2), lm=lm, embed_texts=embed)(row=make_row())
    assert [e["pair_index"] for e in result.qa_evaluations["evaluations"]] == [1]
    assert any("no evaluation for pair 0" in error["error"] for error in result.errors)


def test_malformed_output_is_reasked_then_the_row_fails():
    lm = scripted_lm(artifacts("x"), {"qa_pairs": "this is not json"}, {"evaluations": {"evaluations": [evaluation(0)]}})
    program = RetrievalSDG(GenerationSettings(num_pairs=1, max_retries=2), lm=lm, embed_texts=embed)
    with pytest.raises(RowFailed) as failure:
        program(row=make_row())
    assert failure.value.errors[0]["stage"] == "generate"
    generate_calls = [entry for entry in lm.history if "min_complexity" in str(entry["messages"])]
    # first try + 2 re-asks (DSPy's ChatAdapter also makes one JSON fallback call per attempt)
    assert len(generate_calls) in (3, 6)


def test_judge_lm_is_used_for_judging_only():
    lm = scripted_lm(artifacts("x"), {"qa_pairs": {"pairs": [OTHER]}}, {"evaluations": {"evaluations": [evaluation(0)]}})
    judge = scripted_lm({}, {}, {"evaluations": {"evaluations": [evaluation(0, 3.0)]}})
    result = RetrievalSDG(GenerationSettings(num_pairs=1), lm=lm, judge_lm=judge, embed_texts=embed)(row=make_row())
    assert result.qa_evaluations["evaluations"][0]["overall"]["score"] == 3.0
    assert len(judge.history) == 1 and len(lm.history) == 1  # one generate call, extraction inline


def test_inline_extraction_writes_artifacts_and_pairs_in_one_call_per_window():
    lm = scripted_lm(artifacts("MIPROv2"), {"qa_pairs": {"pairs": [GOOD]}}, {"evaluations": {"evaluations": [evaluation(0)]}})
    result = RetrievalSDG(GenerationSettings(num_pairs=1), lm=lm, embed_texts=embed)(row=make_row())
    prompts = [str(entry["messages"]) for entry in lm.history]
    assert len(prompts) == 2  # generate (with the artifacts) and judge: no extract call
    assert "max_artifacts_per_type" in prompts[0] and "[[ ## num_pairs ## ]]" in prompts[0]
    assert "[[ ## artifacts ## ]]" not in prompts[0].split("Your output fields are")[0]  # not an input any more
    assert result.document_artifacts["key_concepts"][0]["text"] == "MIPROv2"
    assert result.lm_usage["generate"]["calls"] == 1 and result.lm_usage.get("extract", {}).get("calls", 0) == 0
    assert [p["question"] for p in result.deduplicated_qa_pairs] == [GOOD["question"]]


def test_extract_on_and_a_compiled_program_keep_the_separate_extract_call():
    def generate_demos(program):  # its generate demos read artifacts written by a separate call
        program.generate.demos = [dspy.Example(artifacts="(none)", num_pairs=1, qa_pairs={"pairs": [GOOD]}).with_inputs("artifacts", "num_pairs")]

    def extract_instructions(program):  # an instruction optimizer (GEPA, MIPROv2) rewrote extract's prompt, no demos
        program.extract.signature = program.extract.signature.with_instructions("List the facts of the segments.")

    cases = ((GenerationSettings(num_pairs=1, extract="on"), None), (GenerationSettings(num_pairs=1), generate_demos),
             (GenerationSettings(num_pairs=1), extract_instructions))
    for settings, compile_ in cases:
        lm = scripted_lm(artifacts("MIPROv2"), {"qa_pairs": {"pairs": [GOOD]}}, {"evaluations": {"evaluations": [evaluation(0)]}})
        program = RetrievalSDG(settings, lm=lm, embed_texts=embed)
        if compile_ is not None:
            compile_(program)
        result = program(row=make_row())
        prompts = [str(entry["messages"]) for entry in lm.history]
        assert len(prompts) == 3, settings  # extract, generate, judge
        assert "[[ ## num_pairs ## ]]" not in prompts[0] and "max_artifacts_per_type" in prompts[0]
        assert result.document_artifacts["key_concepts"][0]["text"] == "MIPROv2"


def test_windows_split_long_rows_and_each_window_gets_its_budget():
    long_text = " ".join(f"Sentence number {index} talks about topic {index}." for index in range(60))
    row = make_row(long_text, sentences_per_chunk=5)
    windows = make_windows(row.sections_structured, 400)
    assert len(windows) > 3
    assert sorted(i for w in windows for i in w.segment_ids) == [c.chunk_id for c in row.chunks]
    assert all(len(w.text) <= 400 or len(w.segment_ids) == 1 for w in windows)
    lm = scripted_lm(artifacts("x"), {"qa_pairs": {"pairs": [OTHER]}}, {"evaluations": {"evaluations": [evaluation(0)]}})
    result = RetrievalSDG(GenerationSettings(num_pairs=1, window_chars=500), lm=lm, embed_texts=None)(row=row)
    assert result.windows == len(make_windows(row.sections_structured, 500))
    assert result.lm_usage["generate"]["calls"] == result.windows


def test_window_size_follows_the_context_window():
    class Small:
        context_window = 4096
        kwargs = {"max_tokens": 1024}

    assert window_chars_for(Small(), GenerationSettings()) == (4096 - 1024 - 1500) * 3
    assert window_chars_for(object(), GenerationSettings(window_chars=800)) == 800


def test_program_saves_and_loads(tmp_path):
    program = RetrievalSDG(GenerationSettings(num_pairs=1))
    program.generate.signature = program.generate.signature.with_instructions("Custom instructions.")
    path = tmp_path / "program.json"
    program.save(str(path))
    loaded = RetrievalSDG(GenerationSettings(num_pairs=1))
    loaded.load(str(path))
    assert loaded.generate.signature.instructions == "Custom instructions."


def test_the_judge_and_dedup_see_only_pairs_convert_may_keep():
    """A pair failing a check convert never waives (here source-relative wording) is neither graded nor
    compared for duplicates: it stays in the record, unjudged, and no judge error is recorded for it."""
    source_relative = pair("according to the passage, what does dspy compile language model calls into",
                           "DSPy compiles declarative language model calls into pipelines.", [1])
    embedded = []

    def counting_embed(texts):
        embedded.append(list(texts))
        return embed(texts)

    lm = scripted_lm(artifacts("DSPy"), {"qa_pairs": {"pairs": [GOOD, source_relative, OTHER]}},
                     {"evaluations": {"evaluations": [evaluation(0, 9.0), evaluation(1, 8.0)]}})
    result = RetrievalSDG(GenerationSettings(num_pairs=3), lm=lm, embed_texts=counting_embed)(row=make_row())
    validity = [v["valid"] for v in result.qa_validations]
    assert validity == [True, False, True]
    judge_prompts = [entry["messages"][-1]["content"] for entry in lm.history if "[[ ## qa_pairs ## ]]" in entry["messages"][-1]["content"]]
    assert len(judge_prompts) == 1
    assert GOOD["question"] in judge_prompts[0] and OTHER["question"] in judge_prompts[0]
    assert source_relative["question"] not in judge_prompts[0]
    # The source-relative question shares all of OTHER's content words: compared, it would be embedded
    # with it. GOOD and OTHER share none, so with it left out nothing needs the embedder at all.
    assert embedded == []
    assert sorted(e["pair_index"] for e in result.qa_evaluations["evaluations"]) == [0, 2]
    assert result.errors == []


def test_extract_mode_rule():
    from sdg_program.program.settings import extract_mode

    assert extract_mode("auto", "window") == "inline"
    assert extract_mode("auto", "window", compiled=True) == "separate"
    assert extract_mode("auto", "window", in_process=True) == "separate"
    assert extract_mode("auto", "segment") == "none"
    assert extract_mode("inline", "window", in_process=True) == "inline"  # asked for: done
    assert extract_mode("inline", "segment") == "separate"  # no window-level generate call to merge into
    assert extract_mode("on", "window") == "separate" and extract_mode("off", "window") == "none"
