import pytest

from sdg_program.validation import RowSegments, ValidationSettings, answer_support, is_source_relative, validate_pair
from signatures import QAPair
from tests.fake_lm import pair

SEGMENTS = RowSegments({
    1: "DSPy compiles declarative language model calls into self-improving pipelines.",
    2: "Optimizers such as MIPROv2 tune instructions and few-shot demonstrations using a metric.",
    3: "A metric is a Python function that scores a prediction against an example.",
})
SETTINGS = ValidationSettings(min_hops=1, max_hops=3, min_complexity=2)


def check(**overrides):
    data = pair("how does mipro tune prompts with a metric", "MIPROv2 tunes instructions and demonstrations using a metric that scores a prediction.",
                [2, 3], query_type="multi_hop", hops=[[2], [3]])
    data.update(overrides)
    return validate_pair(QAPair.model_validate(data), SEGMENTS, SETTINGS)


def test_a_good_multi_hop_pair_is_valid():
    result = check()
    assert result.valid, result.reasons
    assert result.answer_support >= 0.5


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"segment_ids": [2, 9], "hop_contexts": [{"hop_number": 1, "segment_ids": [2], "summary": "x"}, {"hop_number": 2, "segment_ids": [9], "summary": "y"}]}, "unknown_segment_id"),
        ({"segment_ids": [2, 3, 1]}, "hop_segments_mismatch"),
        ({"hop_count": 3}, "hop_count_mismatch"),
        ({"hop_count": 1, "hop_contexts": [{"hop_number": 1, "segment_ids": [2, 3], "summary": "x"}]}, "hop_count_out_of_range"),
        ({"hop_contexts": [{"hop_number": 2, "segment_ids": [2], "summary": "x"}, {"hop_number": 1, "segment_ids": [3], "summary": "y"}]}, "hop_numbers_out_of_order"),
        ({"hop_contexts": [{"hop_number": 1, "segment_ids": [2, 3], "summary": "x"}, {"hop_number": 2, "segment_ids": [2, 3], "summary": "y"}]}, "hops_share_evidence"),
        ({"query_type": "structural"}, "single_hop_expected"),
        ({"question_complexity": 1}, "complexity_too_low"),
        ({"question": "According to the passage, how does MIPROv2 tune prompts?"}, "source_relative_question"),
        ({"question": "What does segment 2 say about optimizers?"}, "source_relative_question"),
        ({"answer": "The context says it uses bananas and rockets on Mars."}, "answer_not_supported"),
        ({"question": "mipro?"}, "question_too_short"),
    ],
)
def test_each_defect_is_reported(overrides, reason):
    result = check(**overrides)
    assert not result.valid
    assert reason in result.reasons


@pytest.mark.parametrize(
    "text",
    ["According to the document, what is X?", "In this passage the author argues", "Based on the provided context, why?",
     "As mentioned above, the value", "What is described in segment 4?", "from the given text"],
)
def test_source_relative_wording(text):
    assert is_source_relative(text)


@pytest.mark.parametrize("text", ["How do segment trees store intervals?", "what is the context window of llama 3", "Which document format does pandoc read?"])
def test_natural_queries_are_not_flagged(text):
    assert not is_source_relative(text)


def test_answer_support_counts_content_words():
    assert answer_support("metric scores prediction", ["A metric scores a prediction."]) == 1.0
    assert answer_support("bananas", ["A metric scores a prediction."]) == 0.0
    assert answer_support("", ["x"]) == 0.0
