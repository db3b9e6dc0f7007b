"""Which stages a row runs (settings `extract` and `judge`), and what the judge is shown."""

import dspy
from dspy.utils.dummies import DummyLM

from sdg_program.program.retrieval_sdg import RetrievalSDG
from sdg_program.program.settings import GenerationSettings
from sdg_program.program.windows import Window, cited_text
from sdg_program.runner.config import GenerateConfig
from tests.program.test_segment_strategy import make_row, qa


class EmbeddedLikeLM(DummyLM):
    """A scripted LM that says what the embedded default says of itself."""

    is_embedded_default = True


def test_judge_auto_is_off_only_when_the_embedded_model_would_grade_itself():
    embedded, other = EmbeddedLikeLM([{}]), DummyLM([{}])
    assert not RetrievalSDG(lm=embedded).judges()
    assert RetrievalSDG(lm=embedded, judge_lm=other).judges()  # a real judge runs
    assert RetrievalSDG(lm=other).judges()  # any other model judging itself: on (the user asked for no judge-lm)
    assert RetrievalSDG(GenerationSettings(judge="on"), lm=embedded).judges()
    assert not RetrievalSDG(GenerationSettings(judge="off"), lm=other).judges()
    # The run config says the same before any model is loaded (for the CLI's messages).
    assert not GenerateConfig(chunking={"input_dir": "."}).judge_runs
    assert GenerateConfig(chunking={"input_dir": "."}, judge_lm="openai/gpt-4o-mini").judge_runs
    assert GenerateConfig(chunking={"input_dir": "."}, lm="openai/gpt-4o-mini").judge_runs


def test_a_row_without_judge_says_so_and_makes_no_judge_or_extract_call():
    lm = EmbeddedLikeLM([qa("How does MIPROv2 search combinations of instructions and demonstrations?"),
                         qa("How does BootstrapFewShot keep traces whose outputs pass the metric?")], adapter=dspy.JSONAdapter())
    result = RetrievalSDG(GenerationSettings(strategy="segment", num_pairs=2), lm=lm)(row=make_row())
    assert result.judged is False and result.qa_evaluations == {"evaluations": []}
    assert result.lm_usage["judge"]["calls"] == result.lm_usage["extract"]["calls"] == 0
    assert not [error for error in result.errors if error["stage"] == "judge"]  # no "no evaluation for pair" noise


def test_the_judge_sees_only_the_cited_segments_under_their_headers():
    window = Window(
        text="Doc a.md\nSegment 1 [Doc: a.md]: pumps move water.\nSegment 2 [Doc: a.md]: valves open.\nDoc b.md\nSegment 3 [Doc: b.md]: fans cool.",
        segment_ids=[1, 2, 3],
    )
    assert cited_text(window, {2}) == "Doc a.md\nSegment 2 [Doc: a.md]: valves open."
    assert cited_text(window, {1, 3}) == "Doc a.md\nSegment 1 [Doc: a.md]: pumps move water.\nDoc b.md\nSegment 3 [Doc: b.md]: fans cool."
