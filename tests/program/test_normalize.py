"""Tests for sdg_program/normalize.py: structural repairs are made, recorded, and never touch content."""

from sdg_program.program.normalize import NORMALIZATION_CODES, normalize_pair
from sdg_program.program.validation import RowSegments, ValidationSettings, normalize_and_validate, validate_pair
from signatures import QAPair, QueryType
from signatures.narrow import narrow_qa_pairs
from tests.fake_lm import pair

SEGMENTS = RowSegments({
    1: "DSPy compiles declarative language model calls into self-improving pipelines.",
    2: "Optimizers such as MIPROv2 tune instructions and few-shot demonstrations using a metric.",
    3: "A metric is a Python function that scores a prediction against an example.",
})
SETTINGS = ValidationSettings(min_hops=1, max_hops=3, min_complexity=2)
QUESTION = "how does mipro tune prompts with a metric"
ANSWER = "MIPROv2 tunes instructions and demonstrations using a metric that scores a prediction."


def hop(number: int, ids: list[int], summary: str = "fact") -> dict:
    return {"hop_number": number, "segment_ids": ids, "summary": summary}


def make(**overrides) -> QAPair:
    data = pair(QUESTION, ANSWER, [2, 3], query_type="multi_hop", hops=[[2], [3]])
    data.update(overrides)
    return QAPair.model_validate(data)


def test_a_sound_pair_is_returned_unchanged():
    original = make()
    result = normalize_pair(original)
    assert result.pair is original
    assert result.normalizations == []
    assert result.original is None


def test_hop_count_is_set_from_the_hops():
    result = normalize_pair(make(hop_count=1))
    assert result.pair.hop_count == 2
    assert result.normalizations == ["hop_count_set"]
    assert result.original["hop_count"] == 1


def test_a_permutation_of_hop_numbers_is_sorted():
    result = normalize_pair(make(hop_contexts=[hop(2, [3], "second"), hop(1, [2], "first")]))
    assert [(h.hop_number, h.segment_ids, h.summary) for h in result.pair.hop_contexts] == [(1, [2], "first"), (2, [3], "second")]
    assert result.normalizations == ["hops_reordered"]


def test_repeated_hop_numbers_are_renumbered_by_position():
    result = normalize_pair(make(hop_contexts=[hop(1, [2]), hop(1, [3])]))
    assert [(h.hop_number, h.segment_ids) for h in result.pair.hop_contexts] == [(1, [2]), (2, [3])]
    assert result.normalizations == ["hops_renumbered"]


def test_multi_hop_segment_ids_become_the_union_of_the_hops():
    result = normalize_pair(make(segment_ids=[2]))
    assert result.pair.segment_ids == [2, 3]
    assert result.normalizations == ["segment_ids_from_hops"]
    # An ID cited only at pair level, by no hop, is dropped, never added to a hop.
    result = normalize_pair(make(segment_ids=[1, 2, 3]))
    assert result.pair.segment_ids == [2, 3]
    assert all(1 not in h.segment_ids for h in result.pair.hop_contexts)


def test_same_ids_in_another_order_are_not_a_change():
    assert normalize_pair(make(segment_ids=[3, 2])).normalizations == []
    single = make(query_type="contextual", segment_ids=[2, 3], hop_contexts=[hop(1, [3, 2])], hop_count=1)
    assert normalize_pair(single).normalizations == []


def test_repeated_ids_are_removed():
    result = normalize_pair(make(segment_ids=[2, 3, 3], hop_contexts=[hop(1, [2, 2]), hop(2, [3])]))
    assert result.pair.segment_ids == [2, 3]
    assert result.pair.hop_contexts[0].segment_ids == [2]
    assert result.normalizations == ["repeated_segment_ids_removed"]


def test_a_single_hop_pair_with_several_hops_collapses_to_one_hop_over_its_segment_ids():
    result = normalize_pair(make(query_type="structural", segment_ids=[2], hop_contexts=[hop(1, [2], "a"), hop(2, [2, 3], "b")], hop_count=2))
    assert result.pair.query_type == QueryType.STRUCTURAL
    assert len(result.pair.hop_contexts) == 1
    only = result.pair.hop_contexts[0]
    assert (only.hop_number, only.segment_ids, only.summary) == (1, [2], "a b")
    assert result.pair.segment_ids == [2]
    assert result.pair.hop_count == 1
    assert result.normalizations == ["single_hop_collapsed", "hop_count_set"]


def test_a_single_hop_pairs_hop_takes_the_pairs_segment_ids():
    result = normalize_pair(make(query_type="contextual", segment_ids=[3], hop_contexts=[hop(1, [2])], hop_count=1))
    assert result.pair.hop_contexts[0].segment_ids == [3]
    assert result.normalizations == ["hop_segments_from_pair"]


def test_multi_hop_with_one_evidence_set_becomes_single_hop_without_splitting_it():
    # Both hops read segments 2 and 3: one retrieval answers it. The set is kept whole.
    result = normalize_pair(make(hop_contexts=[hop(1, [2, 3], "x"), hop(2, [3, 2], "y")]))
    assert result.pair.query_type == QueryType.CONTEXTUAL
    assert [(h.hop_number, h.segment_ids) for h in result.pair.hop_contexts] == [(1, [2, 3])]
    assert result.pair.segment_ids == [2, 3]
    assert result.pair.hop_count == 1
    assert result.normalizations == ["multi_hop_single_evidence", "hop_count_set"]
    assert result.original["query_type"] == "multi_hop"
    assert len(result.original["hop_contexts"]) == 2
    # One hop labelled multi_hop is the same case.
    one = normalize_pair(make(hop_contexts=[hop(1, [2, 3])], hop_count=1))
    assert one.pair.query_type == QueryType.CONTEXTUAL and one.pair.hop_contexts[0].segment_ids == [2, 3]
    assert one.normalizations == ["multi_hop_single_evidence"]


def test_a_real_multi_hop_pair_with_a_repeated_hop_still_fails():
    repaired, verdict = normalize_and_validate(make(hop_contexts=[hop(1, [2]), hop(2, [2]), hop(3, [3])], hop_count=3), SEGMENTS, SETTINGS)
    assert not verdict.valid
    assert "hops_share_evidence" in verdict.reasons
    assert repaired.query_type == QueryType.MULTI_HOP


def test_content_is_never_rewritten_and_ids_are_never_invented():
    messy = make(query_type="contextual", segment_ids=[2, 2], hop_contexts=[hop(3, [1]), hop(3, [3])], hop_count=5, question_complexity=4)
    result = normalize_pair(messy)
    assert result.pair.question == messy.question
    assert result.pair.answer == messy.answer
    assert result.pair.question_complexity == 4
    assert result.pair.reasoning_type == messy.reasoning_type
    cited = set(messy.segment_ids) | {i for h in messy.hop_contexts for i in h.segment_ids}
    assert set(result.pair.segment_ids) <= cited
    assert all(set(h.segment_ids) <= cited for h in result.pair.hop_contexts)
    assert set(result.normalizations) <= set(NORMALIZATION_CODES)


def test_content_problems_still_fail_after_normalisation():
    unsupported = make(hop_count=1, answer="Bananas and rockets travel to Mars every winter.")
    repaired, verdict = normalize_and_validate(unsupported, SEGMENTS, SETTINGS)
    assert verdict.normalizations == ["hop_count_set"]
    assert not verdict.valid and "answer_not_supported" in verdict.reasons
    off_topic = make(question="What percentage of edits came from Venezuela?")
    assert "question_not_grounded" in normalize_and_validate(off_topic, SEGMENTS, SETTINGS)[1].reasons
    unknown = make(segment_ids=[2, 9], hop_contexts=[hop(1, [2]), hop(2, [9])])
    assert "unknown_segment_id" in normalize_and_validate(unknown, SEGMENTS, SETTINGS)[1].reasons
    too_many = make(hop_contexts=[hop(n, [n % 3 + 1]) for n in range(1, 5)], hop_count=4)
    assert "hop_count_out_of_range" in normalize_and_validate(too_many, SEGMENTS, SETTINGS)[1].reasons


def test_normalize_and_validate_records_repairs_on_the_verdict():
    broken = make(hop_count=3, segment_ids=[2], hop_contexts=[hop(2, [2]), hop(2, [3])])
    assert not validate_pair(broken, SEGMENTS, SETTINGS).valid
    repaired, verdict = normalize_and_validate(broken, SEGMENTS, SETTINGS)
    assert verdict.valid, verdict.reasons
    assert verdict.normalizations == ["hops_renumbered", "segment_ids_from_hops", "hop_count_set"]
    assert verdict.original == {"query_type": "multi_hop", "hop_contexts": [hop(2, [2]), hop(2, [3])], "hop_count": 3, "segment_ids": [2]}
    # The kept pair is a plain contract object that round-trips, so records and convert read it as usual.
    assert QAPair.model_validate(repaired.model_dump(mode="json")).model_dump(mode="json") == repaired.model_dump(mode="json")


def test_pairs_of_narrowed_per_call_classes_are_repaired_into_plain_contract_objects():
    narrowed = narrow_qa_pairs([1, 2, 3], max_pairs=1, max_hops=2)
    parsed = narrowed.model_validate({"pairs": [pair(QUESTION, ANSWER, [1, 2], query_type="multi_hop", hops=[[2], [3]])]}).pairs[0]
    repaired, verdict = normalize_and_validate(parsed, SEGMENTS, SETTINGS)
    assert verdict.normalizations == ["segment_ids_from_hops"]
    assert verdict.valid, verdict.reasons
    assert type(repaired) is QAPair
    assert repaired.model_dump(mode="json")["segment_ids"] == [2, 3]
