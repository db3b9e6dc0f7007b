"""Per-call output types that tighten the static schemas to what one call allows.

The static models cap lists at module-wide maxima and accept any segment ID >= 1. Under constrained
decoding a small model tends to fill every list to its cap and to cite segment IDs that do not exist
(SmolLM2-135M wrote `segment_ids: [1, ..., 10]` for a 4-segment input). These factories build
subclasses whose JSON schema allows only this call's segment IDs, pair indices and list sizes, so the
llama.cpp grammar rules those mistakes out instead of a later check throwing the output away.

Use them with a per-call signature, which keeps the predictor's (possibly optimized) instructions:

    signature = self.generate.signature.with_updated_fields(
        "qa_pairs", type_=narrow_qa_pairs(segment_ids, max_pairs=num_pairs, max_hops=max_hops)
    )
    prediction = self.generate(signature=signature, **inputs)

The results are instances of subclasses of QAPairs / QAPair / HopContext / QAEvaluations /
DocumentArtifacts, so downstream code and `model_dump()` are unchanged.

Trade-off: pydantic enforces the narrowed schema too, so one out-of-range ID fails the whole call.
With grammar-constrained decoding that cannot happen; for an API model without constrained decoding
prefer the static types and let the validation step reject single pairs.
"""

from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

from pydantic import Field, create_model

from signatures.models import (
    ARTIFACT_TYPES,
    MAX_ARTIFACTS_PER_TYPE,
    MAX_HOPS,
    MAX_PAIRS,
    MAX_SEGMENTS_PER_PAIR,
    ArtifactItem,
    DocumentArtifacts,
    HopContext,
    QAEvaluation,
    QAEvaluations,
    QAPair,
    QAPairs,
)


def _field_description(model, name: str) -> str:
    return model.model_fields[name].description or ""


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))


def narrow_qa_pairs(segment_ids: Iterable[int], max_pairs: int, max_hops: int = MAX_HOPS) -> type[QAPairs]:
    """A QAPairs subclass that only allows these segment IDs, at most `max_pairs` pairs, and at most
    `max_hops` hops per pair (hop_number and hop_count in 1..max_hops). Counts are clamped to the
    static caps; the minimum hop count stays a validation-step check."""
    ids = tuple(sorted(set(segment_ids)))
    if not ids or ids[0] < 1:
        raise ValueError(f"segment_ids must be non-empty and >= 1, got {ids!r}")
    return _narrow_qa_pairs(ids, _clamp(max_pairs, 1, MAX_PAIRS), _clamp(max_hops, 1, MAX_HOPS))


@lru_cache(maxsize=256)
def _narrow_qa_pairs(ids: tuple[int, ...], max_pairs: int, max_hops: int) -> type[QAPairs]:
    segment_id = Literal[ids]  # an enum in the schema: the grammar allows only these IDs
    hop_number = Literal[tuple(range(1, max_hops + 1))]
    max_segments = min(len(ids), MAX_SEGMENTS_PER_PAIR)

    hop_model = create_model(
        "HopContext",
        __base__=HopContext,
        __doc__=HopContext.__doc__,
        hop_number=(hop_number, Field(description=_field_description(HopContext, "hop_number"))),
        segment_ids=(
            list[segment_id],
            Field(min_length=1, max_length=max_segments, description=_field_description(HopContext, "segment_ids")),
        ),
    )
    pair_model = create_model(
        "QAPair",
        __base__=QAPair,
        __doc__=QAPair.__doc__,
        hop_contexts=(
            list[hop_model],
            Field(min_length=1, max_length=max_hops, description=_field_description(QAPair, "hop_contexts")),
        ),
        hop_count=(hop_number, Field(description=_field_description(QAPair, "hop_count"))),
        segment_ids=(
            list[segment_id],
            Field(min_length=1, max_length=max_segments, description=_field_description(QAPair, "segment_ids")),
        ),
    )
    return create_model(
        "QAPairs",
        __base__=QAPairs,
        __doc__=QAPairs.__doc__,
        pairs=(
            list[pair_model],
            Field(min_length=1, max_length=max_pairs, description=_field_description(QAPairs, "pairs")),
        ),
    )


def narrow_evaluations(pairs_count: int) -> type[QAEvaluations]:
    """A QAEvaluations subclass for judging `pairs_count` pairs: `pair_index` must be one of
    0..pairs_count-1 and the list holds exactly `pairs_count` evaluations."""
    if pairs_count < 1 or pairs_count > MAX_PAIRS:
        raise ValueError(f"pairs_count must be in 1..{MAX_PAIRS}, got {pairs_count}")
    return _narrow_evaluations(pairs_count)


@lru_cache(maxsize=MAX_PAIRS)
def _narrow_evaluations(pairs_count: int) -> type[QAEvaluations]:
    pair_index = Literal[tuple(range(pairs_count))]
    evaluation_model = create_model(
        "QAEvaluation",
        __base__=QAEvaluation,
        __doc__=QAEvaluation.__doc__,
        pair_index=(pair_index, Field(description=_field_description(QAEvaluation, "pair_index"))),
    )
    return create_model(
        "QAEvaluations",
        __base__=QAEvaluations,
        __doc__=QAEvaluations.__doc__,
        evaluations=(
            list[evaluation_model],
            Field(
                min_length=pairs_count,
                max_length=pairs_count,
                description=_field_description(QAEvaluations, "evaluations"),
            ),
        ),
    )


def narrow_artifacts(max_per_type: int) -> type[DocumentArtifacts]:
    """A DocumentArtifacts subclass with at most `max_per_type` items per kind (clamped to
    1..MAX_ARTIFACTS_PER_TYPE), so the requested cap is enforced, not only asked for."""
    return _narrow_artifacts(_clamp(max_per_type, 1, MAX_ARTIFACTS_PER_TYPE))


@lru_cache(maxsize=MAX_ARTIFACTS_PER_TYPE)
def _narrow_artifacts(max_per_type: int) -> type[DocumentArtifacts]:
    fields = {
        name: (
            list[ArtifactItem],
            Field(
                default_factory=list,
                max_length=max_per_type,
                description=_field_description(DocumentArtifacts, name),
            ),
        )
        for name in ARTIFACT_TYPES
    }
    return create_model(
        "DocumentArtifacts", __base__=DocumentArtifacts, __doc__=DocumentArtifacts.__doc__, **fields
    )
