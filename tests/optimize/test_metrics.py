"""The LLM-free metrics on hand-made cases: a sound pair scores high and each defect lowers it.

Uses the real embedded MiniLM (retrievability and diversity depend on what it finds similar).
"""

import dspy
import pytest

from optimize import metrics
from optimize.gold import JudgedPair
from sdg_program.ingest.chunking import ChunkedDocument, chunk_text, make_seed_row
from sdg_program.ingest.config import ChunkingConfig
from signatures import DocumentArtifacts, QAEvaluation, QAPair
from tests.fake_lm import evaluation, pair

TEXT = (
    "# Pumps\n\n"
    "The cooling loop of the P-40 pump circulates glycol through a brass heat exchanger. "
    "At full load the loop keeps the motor below 70 degrees Celsius.\n\n"
    "# Valves\n\n"
    "The relief valve opens at 8 bar. It protects the heat exchanger from pressure spikes.\n\n"
    "# Maintenance\n\n"
    "Replace the glycol every two years. Flush the loop with distilled water before refilling."
)


@pytest.fixture(scope="module")
def row():
    chunks = chunk_text(TEXT, "pump.md", sentences_per_chunk=2)
    built = make_seed_row([ChunkedDocument("pump.md", TEXT, chunks)], ChunkingConfig(input_dir=".", sentences_per_chunk=2))
    assert [chunk.chunk_id for chunk in built.chunks] == [1, 2, 3]
    return built


def qa(question, answer, segment_ids, **kwargs) -> QAPair:
    return QAPair.model_validate(pair(question, answer, segment_ids, **kwargs))


GOOD = qa("what temperature does the P-40 cooling loop hold the motor at under full load", "Below 70 degrees Celsius: the glycol cooling loop keeps the motor under 70 degrees at full load.", [1])
MULTI = qa("at what pressure does the valve protecting the P-40 heat exchanger open", "The relief valve, which protects the heat exchanger of the cooling loop, opens at 8 bar.", [1, 2],
           query_type="multi_hop", hops=[[1], [2]])
MAINTAIN = qa("how often should the pump glycol be replaced and how is the loop flushed", "Replace the glycol every two years and flush the loop with distilled water before refilling.", [3])
GOLD = [GOOD, MULTI, MAINTAIN]


def generation(row, pairs, gold=GOLD, requested=None):
    example = dspy.Example(row=row, pairs=gold).with_inputs("row")
    prediction = dspy.Prediction(qa_pairs=pairs, requested=requested or len(pairs))
    return metrics.generation_scores_for(example, prediction)


def test_sound_pairs_score_high(row):
    scores = generation(row, GOLD)
    assert scores.validity == 1.0 and scores.evidence_f1 == 1.0 and scores.standalone == 1.0
    assert scores.retrievability > 0.5
    assert scores.composite > 0.75


def test_wrong_segment_ids_lower_evidence_and_validity(row):
    wrong = GOOD.model_copy(update={"segment_ids": [3], "hop_contexts": [GOOD.hop_contexts[0].model_copy(update={"segment_ids": [3]})]})
    # (gold without the maintenance pair: evidence is matched by segments, so citing [3] would match it)
    good, bad = generation(row, [GOOD], gold=[GOOD, MULTI]), generation(row, [wrong], gold=[GOOD, MULTI])
    assert bad.evidence_f1 == 0.0 < good.evidence_f1
    assert "answer_not_supported" in bad.reasons[0]
    assert bad.composite < good.composite


def test_unsupported_answer_fails_validation(row):
    bad = generation(row, [GOOD.model_copy(update={"answer": "Around 120 degrees Fahrenheit with an oil bath."})])
    assert bad.validity == 0.0 and "answer_not_supported" in bad.reasons[0]
    assert bad.composite < generation(row, [GOOD]).composite


def test_source_relative_wording_is_penalised(row):
    relative = GOOD.model_copy(update={"question": "According to the passage, what temperature does the loop hold the motor at"})
    scores = generation(row, [relative])
    assert scores.standalone == 0.0 and "source_relative_question" in scores.reasons[0]
    assert scores.composite < generation(row, [GOOD]).composite


def test_one_hop_question_labelled_multi_hop_is_invalid(row):
    same_evidence = qa(GOOD.question, GOOD.answer, [1], query_type="multi_hop", hops=[[1], [1]])
    scores = generation(row, [same_evidence])
    assert "hops_share_evidence" in scores.reasons[0]
    assert scores.composite < generation(row, [GOOD]).composite


def test_copying_the_segment_lowers_retrievability(row):
    copied = GOOD.model_copy(update={"question": "The cooling loop of the P-40 pump circulates glycol through a brass heat exchanger"})
    [own] = metrics.retrievability([GOOD], row)
    [copy] = metrics.retrievability([copied], row)
    assert copy.copy_ratio == 1.0 and own.copy_ratio < 0.5
    assert copy.score < own.score or copy.score <= 0.5


def test_citing_every_segment_is_not_retrievable(row):
    everything = qa("what does the pump manual say", "The glycol cooling loop keeps the motor below 70 degrees; the relief valve opens at 8 bar.", [1, 2, 3])
    [result] = metrics.retrievability([everything], row)
    assert result.random_average_precision == 1.0 and result.score == 0.0


def test_duplicate_questions_lower_diversity_and_composite(row):
    duplicates = generation(row, [GOOD, GOOD, GOOD])
    varied = generation(row, GOLD)
    assert duplicates.diversity < 0.05 < varied.diversity
    assert duplicates.composite < varied.composite


def test_fewer_valid_pairs_than_asked_lower_yield(row):
    assert generation(row, [GOOD], requested=3).yield_ == pytest.approx(1 / 3, abs=1e-3)
    assert generation(row, [GOOD], requested=3).composite < generation(row, [GOOD], requested=1).composite


def test_no_pairs_score_zero(row):
    assert generation(row, []).composite == 0.0


def test_label_free_scores_need_no_gold(row):
    scores = metrics.score_generation(row, GOLD)
    assert scores.evidence_f1 is None and scores.composite > 0.7


def test_random_ap_baseline():
    assert metrics.expected_random_ap(1, 1) == 1.0
    assert metrics.expected_random_ap(1, 2) == pytest.approx(0.75)
    assert metrics.expected_random_ap(3, 3) == pytest.approx(1.0)
    assert metrics.average_precision([2, 1, 3], {2}) == 1.0


def test_program_prediction_and_dicts_are_read(row):
    example = dspy.Example(row=row, pairs=GOLD).with_inputs("row")
    from_program = dspy.Prediction(deduplicated_qa_pairs=[p.model_dump(mode="json") for p in GOLD])
    assert metrics.generate_metric(example, from_program) == generation(row, GOLD).composite


def test_generate_feedback_names_the_defect(row):
    example = dspy.Example(row=row, pairs=GOLD).with_inputs("row")
    relative = GOOD.model_copy(update={"question": "According to the passage, what temperature does the loop hold the motor at"})
    result = metrics.generate_feedback(example, dspy.Prediction(qa_pairs=[relative]))
    assert result.score == metrics.generate_metric(example, dspy.Prediction(qa_pairs=[relative]))
    assert "source_relative_question" in result.feedback and "stand alone" in result.feedback


# ---------------------------------------------------------------------------
# extract
# ---------------------------------------------------------------------------


def artifacts(*names):
    return DocumentArtifacts.model_validate({"entities": [{"text": n, "description": f"about {n}", "importance": "high"} for n in names[:2]],
                                              "technical_terms": [{"text": n, "description": f"about {n}", "importance": "high"} for n in names[2:]]})


def test_grounded_covering_artifacts_score_high(row):
    example = dspy.Example(row=row, artifact_terms=["P-40 pump", "relief valve"]).with_inputs("row")
    good = metrics.extraction_scores_for(example, dspy.Prediction(artifacts=artifacts("P-40 pump", "relief valve", "glycol", "heat exchanger")))
    assert good.grounded == 1.0 and good.coverage == 1.0 and good.composite > 0.95


def test_invented_missing_and_repeated_artifacts_score_lower(row):
    example = dspy.Example(row=row, artifact_terms=["P-40 pump", "relief valve"]).with_inputs("row")
    good = metrics.extract_metric(example, dspy.Prediction(artifacts=artifacts("P-40 pump", "relief valve", "glycol", "heat exchanger")))
    invented = metrics.extraction_scores_for(example, dspy.Prediction(artifacts=artifacts("Quantum flux", "relief valve", "Turbine blade", "glycol")))
    repeated = metrics.extract_metric(example, dspy.Prediction(artifacts=artifacts("glycol", "glycol", "glycol", "glycol")))
    empty = metrics.extract_metric(example, dspy.Prediction(artifacts=DocumentArtifacts()))
    assert invented.ungrounded == ["Quantum flux", "Turbine blade"] and invented.missed_terms == ["P-40 pump"]
    assert good > invented.composite and good > repeated and empty == 0.0
    feedback = metrics.extract_feedback(example, dspy.Prediction(artifacts=artifacts("Quantum flux", "relief valve")))
    assert "Quantum flux" in feedback.feedback and "P-40 pump" in feedback.feedback


# ---------------------------------------------------------------------------
# judge
# ---------------------------------------------------------------------------


def judge_case(row):
    judged = [
        JudgedPair(pair=GOOD, defect="none", expected_overall="high", expected_validation_reasons=[]),
        JudgedPair(pair=GOOD.model_copy(update={"question": "According to the passage, what is the temperature"}), defect="source_relative",
                   expected_overall="low", expected_low_criteria=["relevance"], expected_validation_reasons=["source_relative_question"]),
    ]
    return dspy.Example(row=row, qa_pairs=[j.pair for j in judged], judged_pairs=judged).with_inputs("row", "qa_pairs")


def judged(index, overall, relevance=None):
    value = evaluation(index, overall)
    if relevance is not None:
        value["relevance"]["score"] = relevance
    return QAEvaluation.model_validate(value)


def test_judge_that_agrees_scores_one_and_a_constant_judge_half(row):
    case = judge_case(row)
    assert metrics.judge_metric(case, dspy.Prediction(evaluations=[judged(0, 9.0), judged(1, 2.0, relevance=1)])) == 1.0
    for constant in (9.0, 5.0, 2.0):
        score = metrics.judge_metric(case, dspy.Prediction(evaluations=[judged(0, constant), judged(1, constant)]))
        assert score == pytest.approx(0.5, abs=0.01)


def test_judge_inverted_or_missing_scores_zero(row):
    case = judge_case(row)
    assert metrics.judge_metric(case, dspy.Prediction(evaluations=[judged(0, 2.0), judged(1, 9.0, relevance=9)])) == 0.0
    assert metrics.judge_scores_for(case, dspy.Prediction(evaluations=[judged(0, 9.0)])).details[1].overall is None
    # matched by pair_index, not by position
    assert metrics.judge_metric(case, dspy.Prediction(evaluations=[judged(1, 2.0, relevance=1), judged(0, 9.0)])) == 1.0


def test_judge_feedback_explains_the_missed_defect(row):
    case = judge_case(row)
    result = metrics.judge_feedback(case, dspy.Prediction(evaluations=[judged(0, 9.0), judged(1, 9.0)]))
    assert result.score < 1.0 and "the passage" in result.feedback
