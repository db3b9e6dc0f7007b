"""Metrics for the three predictors that need no LLM: deterministic checks plus the embedded MiniLM.

Why no LLM: the metric steers the optimizer, and an LLM judge of a 135M model's output would be
the same weak model grading itself. Everything here is reproducible and cheap (MiniLM embeds a
row in milliseconds).

Generation (``generate``), per row, over the pairs the model wrote. Each pair gets:

- ``valid``: it passes :func:`sdg_program.program.validation.validate_pair` (the contract the pipeline
  enforces; ``convert`` drops a pair that fails it, so an invalid pair is nearly worthless).
- ``evidence`` precision/recall/F1 (needs gold pairs): the pair is matched to the gold pair whose
  ``segment_ids`` overlap it best (segment F1; ties go to the gold question closest in embedding),
  and its ``segment_ids`` are compared with that gold pair's. Matching by segments, not wording,
  because a good generated question need not resemble the human one; it must cite the evidence a
  human would cite. A pair that cites only distractor segments matches nothing and scores 0.
  The flip side: a pair citing the segments of *some* gold pair matches it whatever it asks;
  validity (answer support) and retrievability are what catch a wrong question there.
- ``retrievability``: MiniLM embeds the question and every chunk of the row; the chunks are ranked
  by cosine and the average precision (AP) of the cited segments is taken, then rescaled so that
  a random ranking scores 0 and a perfect one 1 (``(AP - E[AP_random]) / (1 - E[AP_random])``).
  So citing every segment of a row - which any ranking "retrieves" - scores 0. A question that
  copies its segment ranks it first trivially, so the score is multiplied by a copy penalty: when
  more than half of the question's word trigrams occur verbatim in the cited text, the factor
  falls linearly from 1.0 to 0.5 (everything copied).
- ``standalone``: no source-relative wording (:func:`sdg_program.program.validation.is_source_relative`:
  "according to the passage", "segment 3").

``quality`` of a pair is the weighted mean of evidence, retrievability and standalone
(``PAIR_WEIGHTS``; evidence is left out without gold), times ``INVALID_FACTOR`` when it is not valid
(partial credit keeps a gradient for a model whose pairs all fail at first). The row's
``composite`` mixes the mean pair quality with ``diversity`` (1 - mean pairwise cosine of the
questions; only with 2+ pairs) and ``yield`` (valid pairs / pairs asked for): ``ROW_WEIGHTS``,
renormalised over the parts that exist. No pairs at all = 0. ``validity`` (share of valid pairs)
is reported as well.

Extraction (``extract``): ``grounded`` (share of items whose name is in the segments),
``coverage`` (needs gold: share of the gold terms - document titles, API names - that the items
name), ``distinct`` (no repeated items) and ``richness`` (distinct grounded items, up to 4).

Judge (``judge``), on gold judge cases whose verdicts are known: a pair expected *high* agrees
fully at overall >= 7 (the default quality threshold of ``convert``) and not at all at <= 4; a pair
expected *low* the reverse; linear in between. Criteria named in ``expected_low_criteria`` are
scored the same way. Any constant judge (every pair 8, or every pair 5) scores 0.5: only telling
sound pairs from defective ones earns more. A pair the judge skipped scores 0.

Each predictor has a DSPy metric ``metric(example, prediction, trace=None) -> float`` and a GEPA
variant returning ``dspy.Prediction(score=..., feedback=...)`` whose feedback names what went
wrong. They read the prediction of the stage modules in ``optimize/stages.py`` or of the whole
``RetrievalSDG`` (``deduplicated_qa_pairs``, ``document_artifacts``, ``qa_evaluations``), and work on
user rows without gold (the label-free parts only).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import dspy
import numpy as np
from pydantic import BaseModel, Field

from sdg_program.core.records import SeedRow
from sdg_program.program.validation import RowSegments, ValidationSettings, content_words, is_source_relative, validate_pair
from signatures import ARTIFACT_TYPES, DocumentArtifacts, QAEvaluation, QAPair, match_evaluations

EmbedTexts = Callable[[list[str]], np.ndarray]

PAIR_WEIGHTS: dict[str, float] = {"evidence_f1": 0.45, "retrievability": 0.35, "standalone": 0.20}
ROW_WEIGHTS: dict[str, float] = {"quality": 0.70, "diversity": 0.15, "yield": 0.15}
INVALID_FACTOR = 0.3
EXTRACTION_WEIGHTS_GOLD: dict[str, float] = {"grounded": 0.35, "coverage": 0.35, "distinct": 0.15, "richness": 0.15}
EXTRACTION_WEIGHTS_FREE: dict[str, float] = {"grounded": 0.55, "distinct": 0.20, "richness": 0.25}
RICHNESS_TARGET = 4
COPY_THRESHOLD = 0.5
COPY_MAX_PENALTY = 0.5
# Judge: overall (and criterion) scores at or above HIGH count as "keep", at or below LOW as "reject".
JUDGE_HIGH = 7.0
JUDGE_LOW = 4.0
JUDGE_OVERALL_WEIGHT = 0.6

_TOKEN = re.compile(r"\w+", re.UNICODE)


# ---------------------------------------------------------------------------
# Embeddings (the embedded MiniLM by default, cached per text)
# ---------------------------------------------------------------------------

_embed_override: EmbedTexts | None = None
_vector_cache: OrderedDict[str, np.ndarray] = OrderedDict()
_CACHE_SIZE = 20_000


def set_embed_texts(embed_texts: EmbedTexts | None) -> None:
    """Use another embedding function in every metric (tests pass a tiny fake); None = MiniLM."""
    global _embed_override
    _embed_override = embed_texts
    _vector_cache.clear()


def embed_texts(texts: list[str]) -> np.ndarray:
    """Unit vectors for texts; chunk texts repeat across evaluations, so vectors are cached."""
    if _embed_override is not None:
        return np.asarray(_embed_override(list(texts)), dtype=np.float32)
    missing = [text for text in dict.fromkeys(texts) if text not in _vector_cache]
    if missing:
        from sdg_program.backends.embedder import embed, load_embedder

        for text, vector in zip(missing, embed(missing, load_embedder(None))):
            _vector_cache[text] = vector
        while len(_vector_cache) > _CACHE_SIZE:
            _vector_cache.popitem(last=False)
    return np.stack([_vector_cache[text] for text in texts]) if texts else np.zeros((0, 1), dtype=np.float32)


# ---------------------------------------------------------------------------
# Reading predictions
# ---------------------------------------------------------------------------


def as_pairs(value: Any) -> list[QAPair]:
    """QA pairs from a QAPairs object, a list of QAPair/dicts, or a program prediction."""
    if value is None:
        return []
    if isinstance(value, dspy.Prediction) or hasattr(value, "deduplicated_qa_pairs") or hasattr(value, "qa_pairs"):
        for name in ("qa_pairs", "deduplicated_qa_pairs"):
            try:
                found = value[name] if isinstance(value, dspy.Prediction) else getattr(value, name)
            except (KeyError, AttributeError):
                continue
            return as_pairs(found)
        return []
    if hasattr(value, "pairs"):
        value = value.pairs
    if isinstance(value, dict) and "pairs" in value:
        value = value["pairs"]
    pairs = []
    for item in value:
        if isinstance(item, QAPair):
            pairs.append(item)
        else:
            try:
                pairs.append(QAPair.model_validate(item))
            except Exception:
                continue  # an unreadable pair counts as not written
    return pairs


def as_artifacts(value: Any) -> DocumentArtifacts | None:
    """Artifacts from a DocumentArtifacts, its dict, or a prediction (``artifacts``/``document_artifacts``)."""
    if value is None:
        return None
    if isinstance(value, DocumentArtifacts):
        return value
    if isinstance(value, dspy.Prediction):
        for name in ("artifacts", "document_artifacts"):
            if name in value:
                return as_artifacts(value[name])
        return None
    if isinstance(value, dict):
        try:
            return DocumentArtifacts.model_validate({name: value.get(name, []) for name in ARTIFACT_TYPES})
        except Exception:
            return None
    return None


def as_evaluations(value: Any, pairs_count: int) -> dict[int, QAEvaluation]:
    """Evaluations by pair index (``match_evaluations``) from a prediction, a QAEvaluations or a list."""
    if value is None:
        return {}
    if isinstance(value, dspy.Prediction):
        for name in ("evaluations", "qa_evaluations"):
            if name in value:
                return as_evaluations(value[name], pairs_count)
        return {}
    if hasattr(value, "evaluations"):
        value = value.evaluations
    if isinstance(value, dict) and "evaluations" in value:
        value = value["evaluations"]
    parsed = []
    for item in value or []:
        try:
            parsed.append(item if isinstance(item, QAEvaluation) else QAEvaluation.model_validate(item))
        except Exception:
            continue
    return match_evaluations(pairs_count, parsed)


def _field(example: Any, name: str, default: Any = None) -> Any:
    try:
        value = example[name]
    except (KeyError, TypeError, AttributeError):
        value = getattr(example, name, default)
    return default if value is None else value


def _row(example: Any) -> SeedRow:
    row = _field(example, "row")
    return row if isinstance(row, SeedRow) else SeedRow.model_validate(row)


# ---------------------------------------------------------------------------
# Generation parts
# ---------------------------------------------------------------------------


def validity(pairs: Sequence[QAPair], row: SeedRow, settings: ValidationSettings | None = None) -> tuple[float, list[list[str]]]:
    """Share of pairs passing the pipeline's deterministic validation, and each pair's reasons."""
    if not pairs:
        return 0.0, []
    segments = RowSegments.from_chunks(row.chunks)
    reasons = [validate_pair(pair, segments, settings or ValidationSettings()).reasons for pair in pairs]
    return sum(1 for r in reasons if not r) / len(pairs), reasons


def segment_prf(predicted: Sequence[int], gold: Sequence[int]) -> tuple[float, float, float]:
    predicted_set, gold_set = set(predicted), set(gold)
    if not predicted_set or not gold_set:
        return 0.0, 0.0, 0.0
    hits = len(predicted_set & gold_set)
    precision, recall = hits / len(predicted_set), hits / len(gold_set)
    return precision, recall, (2 * precision * recall / (precision + recall) if hits else 0.0)


class EvidenceMatch(BaseModel):
    gold_index: int | None
    precision: float
    recall: float
    f1: float


def match_evidence(pairs: Sequence[QAPair], gold_pairs: Sequence[QAPair]) -> list[EvidenceMatch]:
    """Best gold pair per generated pair by segment F1; ties broken by question cosine."""
    if not pairs or not gold_pairs:
        return []
    similarity = None
    matches = []
    for index, pair in enumerate(pairs):
        scored = [(segment_prf(pair.segment_ids, gold.segment_ids), gold_index) for gold_index, gold in enumerate(gold_pairs)]
        best_f1 = max(prf[2] for prf, _ in scored)
        if best_f1 == 0.0:
            matches.append(EvidenceMatch(gold_index=None, precision=0.0, recall=0.0, f1=0.0))
            continue
        tied = [item for item in scored if item[0][2] == best_f1]
        if len(tied) > 1:
            if similarity is None:
                vectors = embed_texts([p.question for p in pairs] + [g.question for g in gold_pairs])
                similarity = vectors[: len(pairs)] @ vectors[len(pairs) :].T
            tied.sort(key=lambda item: -float(similarity[index, item[1]]))
        (precision, recall, f1), gold_index = tied[0]
        matches.append(EvidenceMatch(gold_index=gold_index, precision=precision, recall=recall, f1=f1))
    return matches


def _tokens(text: str) -> list[str]:
    return [token.lower() for token in _TOKEN.findall(text)]


def copy_ratio(question: str, cited_texts: Sequence[str]) -> float:
    """Share of the question's word trigrams found verbatim in the cited text (unigrams if < 3 words)."""
    words = _tokens(question)
    source = _tokens(" ".join(cited_texts))
    if not words:
        return 0.0
    n = 3 if len(words) >= 3 else 1
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    available = {tuple(source[i : i + n]) for i in range(len(source) - n + 1)}
    return sum(1 for gram in grams if gram in available) / len(grams)


def copy_factor(ratio: float) -> float:
    """1.0 up to COPY_THRESHOLD, then down linearly to 1 - COPY_MAX_PENALTY at a full copy."""
    excess = max(0.0, ratio - COPY_THRESHOLD) / (1.0 - COPY_THRESHOLD)
    return 1.0 - COPY_MAX_PENALTY * min(1.0, excess)


def average_precision(ranking: Sequence[int], relevant: set[int]) -> float:
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for position, item in enumerate(ranking, 1):
        if item in relevant:
            hits += 1
            total += hits / position
    return total / len(relevant)


def expected_random_ap(relevant: int, total: int) -> float:
    """Expected AP of a uniformly random ranking of ``total`` items, ``relevant`` of them relevant.

    A relevant item sits at position p (uniform on 1..N) with (p-1)(R-1)/(N-1) other relevant
    items above it on average, so E[AP] = (1/N) * (H_N + (R-1)/(N-1) * (N - H_N)).
    """
    if relevant <= 0 or total <= 0:
        return 0.0
    if total == 1:
        return 1.0
    harmonic = sum(1.0 / p for p in range(1, total + 1))
    return (harmonic + (relevant - 1) / (total - 1) * (total - harmonic)) / total


class PairRetrievability(BaseModel):
    average_precision: float
    random_average_precision: float = Field(description="What a random ranking of the row's chunks would get")
    copy_ratio: float
    score: float = Field(description="AP rescaled against random (0) and perfect (1), times the copy factor")
    top_segments: list[int] = Field(description="The row's chunks closest to the question, best first")


def retrievability(pairs: Sequence[QAPair], row: SeedRow) -> list[PairRetrievability]:
    """Per pair: how well the question alone finds its cited segments among the row's chunks."""
    if not pairs or not row.chunks:
        return []
    ids = [chunk.chunk_id for chunk in row.chunks]
    texts = {chunk.chunk_id: chunk.text for chunk in row.chunks}
    chunk_vectors = embed_texts([texts[i] for i in ids])
    question_vectors = embed_texts([pair.question for pair in pairs])
    results = []
    for pair, vector in zip(pairs, question_vectors):
        scores = chunk_vectors @ vector
        ranking = [ids[i] for i in sorted(range(len(ids)), key=lambda i: (-float(scores[i]), ids[i]))]
        cited = {segment for segment in pair.segment_ids if segment in texts}
        ap = average_precision(ranking, cited)
        baseline = expected_random_ap(len(cited), len(ids))
        lifted = max(0.0, (ap - baseline) / (1.0 - baseline)) if baseline < 1.0 else 0.0
        ratio = copy_ratio(pair.question, [texts[s] for s in sorted(cited)])
        results.append(PairRetrievability(
            average_precision=round(ap, 4), random_average_precision=round(baseline, 4), copy_ratio=round(ratio, 4),
            score=round(lifted * copy_factor(ratio), 4), top_segments=ranking[: max(1, len(cited))],
        ))
    return results


def standalone(pairs: Sequence[QAPair]) -> float:
    return sum(1 for pair in pairs if not is_source_relative(pair.question)) / len(pairs) if pairs else 0.0


def diversity(pairs: Sequence[QAPair]) -> float | None:
    """1 - mean pairwise cosine of the questions; None with fewer than two pairs."""
    if len(pairs) < 2:
        return None
    vectors = embed_texts([pair.question for pair in pairs])
    similarity = vectors @ vectors.T
    upper = similarity[np.triu_indices(len(pairs), k=1)]
    return float(np.clip(1.0 - upper.mean(), 0.0, 1.0))


def weighted(parts: dict[str, float | None], weights: dict[str, float]) -> float:
    used = {name: weight for name, weight in weights.items() if parts.get(name) is not None}
    total = sum(used.values())
    return sum(parts[name] * weight for name, weight in used.items()) / total if total else 0.0


class GenerationScores(BaseModel):
    """Scores of one row's generated pairs; ``composite`` is the metric."""

    pairs: int
    validity: float = Field(description="Share of pairs that pass validation")
    evidence_precision: float | None = None
    evidence_recall: float | None = None
    evidence_f1: float | None = None
    retrievability: float
    standalone: float
    quality: float = Field(description="Mean pair quality (gated by validity)")
    diversity: float | None = None
    yield_: float = Field(alias="yield", description="Valid pairs / pairs asked for (capped at 1)")
    composite: float
    reasons: list[list[str]] = Field(default_factory=list, description="Validation reasons per pair")
    pair_quality: list[float] = Field(default_factory=list)
    evidence: list[EvidenceMatch] = Field(default_factory=list)
    retrieval: list[PairRetrievability] = Field(default_factory=list)

    model_config = {"populate_by_name": True}


def score_generation(
    row: SeedRow,
    pairs: Sequence[QAPair],
    gold_pairs: Sequence[QAPair] | None = None,
    *,
    requested: int | None = None,
    settings: ValidationSettings | None = None,
) -> GenerationScores:
    """All generation parts for one row; gold pairs are optional (label-free without them).

    ``requested`` is how many pairs were asked for (default: as many as were written).
    """
    pairs = list(pairs)
    has_gold = bool(gold_pairs)
    if not pairs:
        zero = 0.0 if has_gold else None
        return GenerationScores(pairs=0, validity=0.0, retrievability=0.0, standalone=0.0, quality=0.0, yield_=0.0, composite=0.0,
                                evidence_f1=zero, evidence_precision=zero, evidence_recall=zero)
    share_valid, reasons = validity(pairs, row, settings)
    retrieval = retrievability(pairs, row)
    evidence = match_evidence(pairs, gold_pairs) if has_gold else []
    qualities = []
    for index, pair in enumerate(pairs):
        parts = {
            "evidence_f1": evidence[index].f1 if evidence else None,
            "retrievability": retrieval[index].score,
            "standalone": 0.0 if is_source_relative(pair.question) else 1.0,
        }
        quality = weighted(parts, PAIR_WEIGHTS)
        qualities.append(quality if not reasons[index] else quality * INVALID_FACTOR)
    valid_count = sum(1 for r in reasons if not r)
    row_parts = {
        "quality": sum(qualities) / len(qualities),
        "diversity": diversity(pairs),
        "yield": min(1.0, valid_count / max(1, requested or len(pairs))),
    }

    def mean(values: list[float]) -> float:
        return round(sum(values) / len(values), 4)

    return GenerationScores(
        pairs=len(pairs),
        validity=round(share_valid, 4),
        evidence_precision=mean([m.precision for m in evidence]) if evidence else None,
        evidence_recall=mean([m.recall for m in evidence]) if evidence else None,
        evidence_f1=mean([m.f1 for m in evidence]) if evidence else None,
        retrievability=mean([r.score for r in retrieval]),
        standalone=round(standalone(pairs), 4),
        quality=round(row_parts["quality"], 4),
        diversity=None if row_parts["diversity"] is None else round(row_parts["diversity"], 4),
        yield_=round(row_parts["yield"], 4),
        composite=round(weighted(row_parts, ROW_WEIGHTS), 4),
        reasons=reasons,
        pair_quality=[round(q, 4) for q in qualities],
        evidence=evidence,
        retrieval=retrieval,
    )


# ---------------------------------------------------------------------------
# Extraction parts
# ---------------------------------------------------------------------------


class ExtractionScores(BaseModel):
    items: int
    grounded: float
    coverage: float | None = None
    distinct: float
    richness: float
    composite: float
    ungrounded: list[str] = Field(default_factory=list)
    missed_terms: list[str] = Field(default_factory=list)


def _share_found(words: set[str], available: set[str]) -> float:
    return len(words & available) / len(words) if words else 0.0


def score_artifacts(row: SeedRow, artifacts: DocumentArtifacts | None, gold_terms: Sequence[str] | None = None) -> ExtractionScores:
    """Are the extracted items in the segments, distinct, and do they name what matters (gold terms)?"""
    items = [item for name in ARTIFACT_TYPES for item in getattr(artifacts, name, [])] if artifacts is not None else []
    if not items:
        return ExtractionScores(items=0, grounded=0.0, coverage=0.0 if gold_terms else None, distinct=0.0, richness=0.0, composite=0.0, missed_terms=list(gold_terms or []))
    row_words = content_words(" ".join(chunk.text for chunk in row.chunks))
    grounded_flags = [_share_found(content_words(item.text), row_words) >= 0.5 for item in items]
    names = [" ".join(item.text.lower().split()) for item in items]
    distinct = len(set(names)) / len(names)
    grounded_distinct = {name for name, flag in zip(names, grounded_flags) if flag}
    parts: dict[str, float | None] = {
        "grounded": sum(grounded_flags) / len(items),
        "distinct": distinct,
        "richness": min(1.0, len(grounded_distinct) / RICHNESS_TARGET),
    }
    missed: list[str] = []
    if gold_terms:
        said = content_words(" ".join(f"{item.text} {item.description}" for item in items))
        missed = [term for term in gold_terms if _share_found(content_words(term), said) < 0.5]
        parts["coverage"] = 1.0 - len(missed) / len(gold_terms)
    weights = EXTRACTION_WEIGHTS_GOLD if gold_terms else EXTRACTION_WEIGHTS_FREE
    return ExtractionScores(
        items=len(items),
        grounded=round(parts["grounded"], 4),
        coverage=None if parts.get("coverage") is None else round(parts["coverage"], 4),
        distinct=round(distinct, 4),
        richness=round(parts["richness"], 4),
        composite=round(weighted(parts, weights), 4),
        ungrounded=[item.text for item, flag in zip(items, grounded_flags) if not flag],
        missed_terms=missed,
    )


# ---------------------------------------------------------------------------
# Judge agreement
# ---------------------------------------------------------------------------


def _agree(score: float, expected_high: bool) -> float:
    """1.0 when a score is on the expected side of the keep/reject band, linear inside the band."""
    if expected_high:
        return float(np.clip((score - JUDGE_LOW) / (JUDGE_HIGH - JUDGE_LOW), 0.0, 1.0))
    return float(np.clip((JUDGE_HIGH - score) / (JUDGE_HIGH - JUDGE_LOW), 0.0, 1.0))


class JudgedPairScore(BaseModel):
    defect: str
    expected_overall: str
    overall: float | None
    agreement: float
    verdict_correct: bool


class JudgeScores(BaseModel):
    pairs: int
    judged: int
    agreement: float = Field(description="The judge composite: mean per-pair agreement")
    verdict_accuracy: float = Field(description="Share of pairs on the right side of overall >= 7")
    details: list[JudgedPairScore] = Field(default_factory=list)


def score_judgement(judged_pairs: Sequence[Any], evaluations: dict[int, QAEvaluation]) -> JudgeScores:
    """Agreement of the judge's evaluations (by pair index) with the expected verdicts of a judge case."""
    details = []
    for index, judged in enumerate(judged_pairs):
        expected_high = judged.expected_overall == "high"
        evaluation = evaluations.get(index)
        if evaluation is None:
            details.append(JudgedPairScore(defect=judged.defect, expected_overall=judged.expected_overall, overall=None, agreement=0.0, verdict_correct=False))
            continue
        overall = float(evaluation.overall.score)
        agreement = _agree(overall, expected_high)
        if judged.expected_low_criteria:
            criteria = [_agree(float(getattr(evaluation, name).score), False) for name in judged.expected_low_criteria]
            agreement = JUDGE_OVERALL_WEIGHT * agreement + (1 - JUDGE_OVERALL_WEIGHT) * (sum(criteria) / len(criteria))
        details.append(JudgedPairScore(
            defect=judged.defect, expected_overall=judged.expected_overall, overall=overall,
            agreement=round(agreement, 4), verdict_correct=(overall >= JUDGE_HIGH) == expected_high,
        ))
    count = len(details)
    return JudgeScores(
        pairs=count,
        judged=sum(1 for d in details if d.overall is not None),
        agreement=round(sum(d.agreement for d in details) / count, 4) if count else 0.0,
        verdict_accuracy=round(sum(d.verdict_correct for d in details) / count, 4) if count else 0.0,
        details=details,
    )


# ---------------------------------------------------------------------------
# DSPy metrics (float) and GEPA feedback metrics (Prediction(score, feedback))
# ---------------------------------------------------------------------------


def generation_scores_for(example: Any, prediction: Any) -> GenerationScores:
    """Scores of a prediction: the stage's (``qa_pairs``, ``requested``) or the program's (``deduplicated_qa_pairs``)."""
    gold = _field(example, "pairs")
    gold_pairs = as_pairs(gold) if gold else None
    requested = _field(prediction, "requested")
    return score_generation(_row(example), as_pairs(prediction), gold_pairs, requested=requested)


def generate_metric(example: Any, prediction: Any, trace: Any = None) -> float:
    """Composite generation score of one row (see module docstring)."""
    return generation_scores_for(example, prediction).composite


def generate_feedback(example: Any, prediction: Any, trace: Any = None, pred_name: str | None = None, pred_trace: Any = None) -> dspy.Prediction:
    """GEPA metric: the composite plus what to fix, pair by pair."""
    scores = generation_scores_for(example, prediction)
    pairs = as_pairs(prediction)
    gold = as_pairs(_field(example, "pairs")) if _field(example, "pairs") else []
    notes: list[str] = []
    if not pairs:
        notes.append("No QA pair was produced (the output was empty or not valid JSON for the schema).")
    for index, pair in enumerate(pairs):
        problems = []
        if scores.reasons and scores.reasons[index]:
            problems.append("fails validation: " + ", ".join(scores.reasons[index]))
        if scores.evidence:
            match = scores.evidence[index]
            if match.gold_index is None:
                wanted = sorted({s for g in gold for s in g.segment_ids})
                problems.append(f"cites segments {pair.segment_ids}, none of which hold reference evidence (evidence is in {wanted})")
            elif match.f1 < 1.0:
                problems.append(f"cites {pair.segment_ids}; a human question on this evidence cites {gold[match.gold_index].segment_ids}")
        if scores.retrieval:
            retrieval = scores.retrieval[index]
            if retrieval.copy_ratio > COPY_THRESHOLD:
                problems.append("copies the segment's wording; a user would phrase the need in their own words")
            elif retrieval.score < 0.5:
                problems.append(f"the question does not single out its segments: it is closest to segments {retrieval.top_segments}")
        if is_source_relative(pair.question):
            problems.append("refers to the source ('the passage', 'segment N'); a search query must stand alone")
        if problems:
            notes.append(f"Pair {index} ({pair.question!r}): " + "; ".join(problems) + ".")
    if scores.diversity is not None and scores.diversity < 0.3:
        notes.append("The questions are near-duplicates; ask about different facts.")
    if scores.yield_ < 1.0 and pairs:
        notes.append(f"Only {round(scores.yield_ * 100)}% of the pairs asked for are valid.")
    summary = (
        f"Composite {scores.composite:.2f}: validity {scores.validity:.2f}, evidence F1 {scores.evidence_f1 if scores.evidence_f1 is not None else 'n/a'}, "
        f"retrievability {scores.retrievability:.2f}, standalone {scores.standalone:.2f}, diversity {scores.diversity if scores.diversity is not None else 'n/a'}, "
        f"yield {scores.yield_:.2f}."
    )
    return dspy.Prediction(score=scores.composite, feedback=" ".join([summary, *notes]) if notes else summary + " All pairs are sound.")


def extraction_scores_for(example: Any, prediction: Any) -> ExtractionScores:
    return score_artifacts(_row(example), as_artifacts(prediction), _field(example, "artifact_terms") or None)


def extract_metric(example: Any, prediction: Any, trace: Any = None) -> float:
    return extraction_scores_for(example, prediction).composite


def extract_feedback(example: Any, prediction: Any, trace: Any = None, pred_name: str | None = None, pred_trace: Any = None) -> dspy.Prediction:
    scores = extraction_scores_for(example, prediction)
    notes = [f"Composite {scores.composite:.2f} over {scores.items} items."]
    if scores.items == 0:
        notes.append("No item was extracted.")
    if scores.ungrounded:
        notes.append("Not found in the segments (invented or paraphrased): " + "; ".join(scores.ungrounded[:5]) + ".")
    if scores.missed_terms:
        notes.append("Missing important names from the segments: " + "; ".join(scores.missed_terms) + ".")
    if scores.distinct < 1.0:
        notes.append("Some items repeat; list each item once.")
    return dspy.Prediction(score=scores.composite, feedback=" ".join(notes))


def judge_scores_for(example: Any, prediction: Any) -> JudgeScores:
    judged_pairs = _field(example, "judged_pairs") or []
    return score_judgement(judged_pairs, as_evaluations(prediction, len(judged_pairs)))


def judge_metric(example: Any, prediction: Any, trace: Any = None) -> float:
    return judge_scores_for(example, prediction).agreement


def judge_feedback(example: Any, prediction: Any, trace: Any = None, pred_name: str | None = None, pred_trace: Any = None) -> dspy.Prediction:
    scores = judge_scores_for(example, prediction)
    judged_pairs = _field(example, "judged_pairs") or []
    notes = [f"Agreement {scores.agreement:.2f}."]
    for index, (detail, judged) in enumerate(zip(scores.details, judged_pairs)):
        if detail.overall is None:
            notes.append(f"Pair {index} was not evaluated (copy every pair_index).")
        elif not detail.verdict_correct:
            if judged.expected_overall == "high":
                notes.append(f"Pair {index} is sound (correct answer, right segments, standalone) but got overall {detail.overall:g}; it should be 7 or more.")
            else:
                what = {
                    "wrong_segment_ids": "its cited segments do not contain the answer (context_support should be low)",
                    "unsupported_answer": "its answer is not stated in the cited segments (accuracy should be low)",
                    "source_relative": "the question refers to 'the passage' instead of standing alone (relevance should be low)",
                    "one_hop_as_multi_hop": "it is labelled multi_hop but one segment answers it (context_support 3 or less)",
                }.get(judged.defect, "it is defective")
                notes.append(f"Pair {index}: {what}, yet overall was {detail.overall:g}; it should be 4 or less.")
    return dspy.Prediction(score=scores.agreement, feedback=" ".join(notes))
