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
from typing import Literal, Union

from pydantic import ConfigDict, Field, create_model

from signatures.models import (
    ARTIFACT_TYPES,
    MAX_ARTIFACTS_PER_TYPE,
    MAX_HOPS,
    MAX_PAIRS,
    ArtifactItem,
    DocumentArtifacts,
    HopContext,
    QAEvaluation,
    QAEvaluations,
    QAPair,
    QAPairs,
    QueryType,
    ReasoningType,
)


def _field_description(model, name: str) -> str:
    return model.model_fields[name].description or ""


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))


def narrow_qa_pairs(segment_ids: Iterable[int], max_pairs: int, max_hops: int = MAX_HOPS) -> type[QAPairs]:
    """A QAPairs subclass that only allows these segment IDs, at most `max_pairs` pairs, and a hop
    structure that agrees with itself (see `_narrow_qa_pairs`). Counts are clamped to the static
    caps; the minimum hop count of a multi-hop pair stays a validation-step check."""
    ids = tuple(sorted(set(segment_ids)))
    if not ids or ids[0] < 1:
        raise ValueError(f"segment_ids must be non-empty and >= 1, got {ids!r}")
    return _narrow_qa_pairs(ids, _clamp(max_pairs, 1, MAX_PAIRS), _clamp(max_hops, 1, MAX_HOPS))


# String caps (maxLength, which llama.cpp grammars enforce). Without them SmolLM2-135M sometimes never
# closed a question or a summary and ran into max_tokens, which loses the whole call. The longest gold
# question, answer and hop summary (data/gold) are 222, 228 and 219 characters.
MAX_QUESTION_CHARS = 300
MAX_ANSWER_CHARS = 400
MAX_SUMMARY_CHARS = 300

# The order in which the grammar makes the model write a pair's fields. Question and answer come
# first, then the evidence. With the evidence first (the static models' order, which suits strong
# models), SmolLM2-135M filled the question with whatever it had just written ("factual",
# "MultiHopPair2", a hop summary); writing the question first, right after the segments, it wrote
# questions about the segments (see data/compiled/README.md for the measurements).
WRITING_ORDER: tuple[str, ...] = (
    "question",
    "answer",
    "segment_ids",
    "query_type",
    "reasoning_type",
    "hop_contexts",
    "hop_count",
    "question_complexity",
)

# Under the grammar a weak model still wrote hop_numbers 1, 1, 1, a hop_count of 1 after three hops,
# three hops for a "contextual" question, and every segment of the window in every hop. So each pair
# is one of a few *shapes*, every one internally consistent, with one segment per hop:
# - a single-hop pair (structural or contextual) cites one segment and has one hop numbered 1;
# - a multi_hop pair with k hops (2..max_hops) cites k segments and has hops numbered 1..k, in order.
# hop_count is a constant of the shape. The model picks the shape by how many segments it cites and
# by query_type; the grammar fixes every number. What it cannot express (hops on different segments,
# segment_ids equal to the hops' segments) is left to sdg_program.program.normalize and validation. In the
# gold set (data/gold) 138 of 144 pairs have this form (the rest cite two segments for a single-hop
# question or two segments in one hop); the static models still accept every form.
_SINGLE_HOP_TYPES = Literal[QueryType.STRUCTURAL, QueryType.CONTEXTUAL]
_REASONING_TYPES = Literal[tuple(ReasoningType)]


def _drop_descriptions(schema: dict) -> None:
    """No title and no descriptions: the instructions explain every field once.

    The schema is printed in the prompt for every shape, so repeated descriptions cost about 1,500
    prompt tokens per generate call; and SmolLM2-135M copied descriptions into its answers ("One step
    of reasoning: the segments it reads and the fact it adds.").
    """
    schema.pop("title", None)
    schema.pop("description", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
        prop.pop("description", None)


def _pair_schema(schema: dict) -> None:
    _drop_descriptions(schema)
    properties = schema["properties"]
    schema["properties"] = {name: properties[name] for name in WRITING_ORDER}
    schema["required"] = list(WRITING_ORDER)


class _QuietHop(HopContext):
    model_config = ConfigDict(json_schema_extra=_drop_descriptions)


class _ShapedPair(QAPair):
    model_config = ConfigDict(json_schema_extra=_pair_schema)


class _QuietPairs(QAPairs):
    model_config = ConfigDict(json_schema_extra=_drop_descriptions)


@lru_cache(maxsize=256)
def _narrow_qa_pairs(ids: tuple[int, ...], max_pairs: int, max_hops: int) -> type[QAPairs]:
    segment_id = Literal[ids]  # an enum in the schema: the grammar allows only these IDs

    def cited(count: int) -> tuple:
        return (list[segment_id], Field(min_length=count, max_length=count))

    hops = [
        create_model(
            f"Hop{number}",
            __base__=_QuietHop,
            hop_number=(Literal[number], Field()),
            segment_ids=cited(1),
            summary=(str, Field(max_length=MAX_SUMMARY_CHARS)),
        )
        for number in range(1, max_hops + 1)
    ]

    def shape(name: str, query_type, hop_count: int) -> type[QAPair]:
        return create_model(
            name,
            __base__=_ShapedPair,
            query_type=(query_type, Field()),
            reasoning_type=(_REASONING_TYPES, Field()),  # inline, without the enum's docstring
            hop_contexts=(tuple[tuple(hops[:hop_count])], Field()),
            hop_count=(Literal[hop_count], Field()),
            segment_ids=cited(hop_count),
            question=(str, Field(max_length=MAX_QUESTION_CHARS)),
            answer=(str, Field(max_length=MAX_ANSWER_CHARS)),
        )

    shapes = [shape("SingleHopPair", _SINGLE_HOP_TYPES, 1)]
    # k hops need k different segments; a window with fewer gets no k-hop shape.
    shapes += [shape(f"MultiHopPair{count}", Literal[QueryType.MULTI_HOP], count) for count in range(2, min(max_hops, len(ids)) + 1)]
    pair_type = shapes[0] if len(shapes) == 1 else Union[tuple(shapes)]
    return create_model(
        "QAPairs",
        __base__=_QuietPairs,
        pairs=(list[pair_type], Field(min_length=1, max_length=max_pairs)),
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
