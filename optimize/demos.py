"""Gold records -> stage examples whose fields are the predictor's own, so they double as labeled demos.

A DSPy labeled demo is a training example used as-is in the prompt: the adapter shows the
predictor's input fields as the user turn and its output fields as the assistant turn. So each
stage example carries, besides ``row`` (the stage input) and the labels the metric reads, exactly
the fields of its predictor's signature, filled from the gold record:

- extract:  ``document``, ``max_artifacts_per_type`` -> ``artifacts`` (the reference artifacts);
- generate: ``segments``, ``artifacts``, ``num_pairs``, counts, hops -> ``qa_pairs`` (the gold
  pairs; ``num_pairs`` and the counts are the gold pairs' own, so a demo never contradicts its ask);
- judge:    ``segments``, ``qa_pairs`` (rendered) -> ``evaluations`` (written from the known
  defects by :func:`reference_evaluation`).

Before a program is saved, :func:`slim_demos` keeps only the signature's fields of each demo, so
the compiled JSON does not carry whole seed rows.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import dspy

from optimize.gold import JudgedPair
from sdg_program.core.records import SeedRow
from sdg_program.program.settings import QUERY_TYPES, REASONING_TYPES, GenerationSettings
from sdg_program.program.windows import DEFAULT_WINDOW_CHARS, make_windows
from signatures import (
    ARTIFACT_TYPES,
    DocumentArtifacts,
    OverallScore,
    QAEvaluation,
    QAEvaluations,
    QAPairs,
    Score,
    render_artifacts,
    render_pairs_for_judge,
)


def row_text(row: SeedRow) -> str:
    """The segments as the program renders them for a row that fits one window (all gold rows do)."""
    return make_windows(row.sections_structured, DEFAULT_WINDOW_CHARS)[0].text


def trim_artifacts(artifacts: DocumentArtifacts, per_type: int) -> DocumentArtifacts:
    return DocumentArtifacts(**{name: list(getattr(artifacts, name))[:per_type] for name in ARTIFACT_TYPES})


def extract_example(gold: dspy.Example, settings: GenerationSettings) -> dspy.Example:
    per_type = settings.max_artifacts_per_type
    return dspy.Example(
        example_id=gold.example_id,
        source=gold.source,
        row=gold.row,
        artifact_terms=list(gold.artifact_terms),
        document=row_text(gold.row),
        max_artifacts_per_type=per_type,
        artifacts=trim_artifacts(gold.artifacts, per_type),
    ).with_inputs("row")


def generate_example(gold: dspy.Example, settings: GenerationSettings) -> dspy.Example:
    pairs = list(gold.pairs)
    query_counts = Counter(pair.query_type.value for pair in pairs)
    reasoning_counts = Counter(pair.reasoning_type.value for pair in pairs)
    return dspy.Example(
        example_id=gold.example_id,
        source=gold.source,
        row=gold.row,
        pairs=pairs,
        segments=row_text(gold.row),
        artifacts=render_artifacts(gold.artifacts),
        num_pairs=len(pairs),
        query_counts={name: query_counts.get(name, 0) for name in QUERY_TYPES},
        reasoning_counts={name: reasoning_counts.get(name, 0) for name in REASONING_TYPES},
        min_hops=settings.min_hops,
        max_hops=settings.max_hops,
        min_complexity=settings.min_complexity,
        qa_pairs=QAPairs(pairs=pairs),
    ).with_inputs("row", "artifacts")


def label_free_example(row: SeedRow, example_id: str) -> dspy.Example:
    """A user row without labels: only the label-free metric parts apply."""
    return dspy.Example(example_id=example_id, source="user", row=row).with_inputs("row")


_SOUND = {
    "relevance": (9, "A natural, standalone search query about a fact in the segments."),
    "accuracy": (9, "The answer is correct according to the segments."),
    "context_support": (9, "The cited segments contain what the answer needs."),
    "clarity": (9, "Clear and unambiguous."),
}
# Per defect: the criteria that drop, with the reason a careful judge would give.
_DEFECTS: dict[str, dict[str, tuple[int, str]]] = {
    "wrong_segment_ids": {"context_support": (2, "The cited segments do not contain the answer."), "accuracy": (6, "The answer may be right, but not according to the cited segments.")},
    "unsupported_answer": {"accuracy": (1, "The segments do not state this answer."), "context_support": (3, "The cited segments do not support this answer.")},
    "source_relative": {"relevance": (2, "It refers to 'the passage', so it is not a standalone search query."), "clarity": (5, "Unclear without the source at hand.")},
    "one_hop_as_multi_hop": {"context_support": (3, "Labelled multi_hop, but one segment alone answers it."), "relevance": (7, "A fair query, wrongly labelled.")},
}
_FIXES = {
    "none": "none",
    "wrong_segment_ids": "Cite the segments that state the answer.",
    "unsupported_answer": "Answer only with facts stated in the cited segments.",
    "source_relative": "Drop 'according to the passage' and name the subject.",
    "one_hop_as_multi_hop": "Label it contextual with a single hop.",
}


def reference_evaluation(index: int, judged: JudgedPair) -> QAEvaluation:
    """The evaluation a careful judge writes for a pair with a known defect (or none)."""
    scores = dict(_SOUND)
    scores.update(_DEFECTS.get(judged.defect, {}))
    if judged.defect == "none":
        overall = OverallScore(assessment="Keep: a sound pair for training a retriever.", score=9.0)
    else:
        worst = min(score for score, _ in scores.values())
        overall = OverallScore(assessment="Reject: " + _DEFECTS[judged.defect][min(_DEFECTS[judged.defect], key=lambda k: _DEFECTS[judged.defect][k][0])][1], score=float(max(1, worst)))
    return QAEvaluation(
        pair_index=index,
        relevance=Score(justification=scores["relevance"][1], score=scores["relevance"][0]),
        accuracy=Score(justification=scores["accuracy"][1], score=scores["accuracy"][0]),
        context_support=Score(justification=scores["context_support"][1], score=scores["context_support"][0]),
        clarity=Score(justification=scores["clarity"][1], score=scores["clarity"][0]),
        overall=overall,
        improvements=_FIXES[judged.defect],
    )


def judge_example(case: dspy.Example) -> dspy.Example:
    judged_pairs = list(case.judged_pairs)
    pairs = [judged.pair for judged in judged_pairs]
    return dspy.Example(
        example_id=case.case_id,
        source=case.source,
        row=case.row,
        pairs_to_judge=pairs,
        judged_pairs=judged_pairs,
        segments=row_text(case.row),
        qa_pairs=render_pairs_for_judge(pairs),
        evaluations=QAEvaluations(evaluations=[reference_evaluation(index, judged) for index, judged in enumerate(judged_pairs)]),
    ).with_inputs("row", "pairs_to_judge")


def stage_examples(name: str, gold: list[dspy.Example], settings: GenerationSettings) -> list[dspy.Example]:
    """Stage examples for predictor ``name`` from gold examples (judge cases for ``judge``)."""
    if name == "extract":
        return [extract_example(g, settings) for g in gold if g.kind == "generation"]
    if name == "generate":
        return [generate_example(g, settings) for g in gold if g.kind == "generation"]
    if name == "judge":
        return [judge_example(g) for g in gold if g.kind == "judge"]
    raise ValueError(f"unknown predictor {name!r}")


def demo_chars(example: dspy.Example) -> int:
    """Characters a labeled demo adds to the prompt (its segments plus its rendered output)."""
    text = example.get("document") or example.get("segments") or ""
    output = example.get("artifacts") if "document" in example else example.get("qa_pairs") if "num_pairs" in example else example.get("evaluations")
    dumped = output.model_dump_json() if hasattr(output, "model_dump_json") else str(output or "")
    return len(text) + len(dumped)


def slim_demos(predictor: dspy.Predict) -> None:
    """Keep only the signature's fields in each demo (drops rows and labels before saving)."""
    names = set(predictor.signature.input_fields) | set(predictor.signature.output_fields)
    slim = []
    for demo in predictor.demos:
        items: dict[str, Any] = {key: demo[key] for key in demo.keys() if key in names}
        if demo.get("augmented"):
            items["augmented"] = True
        slim.append(dspy.Example(**items))
    predictor.demos = slim
