"""Pydantic models at the LM boundaries: artifacts, QA pairs with hops, judge scores.

These models are the contracts in DESIGN.md ("QA pair", "Judge"). They are also the JSON schemas that
DSPy's JSONAdapter sends as `response_format`, which the local LM turns into llama.cpp JSON-schema
constrained decoding. So the schemas stay small and use only what llama.cpp's converter understands:
`type`, `properties`, `required`, `enum`, `items`, `minItems`/`maxItems`, `$defs`/`$ref` (plus the
annotations `title`, `description`, `default`, which it ignores).

Two facts about llama-cpp-python's converter (`llama_cpp.llama_grammar.json_schema_to_gbnf`) shaped
the types below:

- It ignores `minimum`/`maximum`. Bounded small integer ranges (complexity 1-5, scores 1-10) are
  therefore `Literal` enums, which the grammar does enforce; open ranges (segment IDs >= 1) keep
  `ge=` and are checked by pydantic only.
- It enforces `minItems`/`maxItems`. List caps (the `MAX_*` constants) make a weak model close its
  lists instead of looping until it hits `max_tokens`.

Key order inside an object is the order the model writes it in. Evidence comes before the words that
depend on it: a pair lists its hops, then `hop_count`, then `segment_ids`, then the question and
answer; a score gives its justification before the number. JSON key order is not part of any contract.

Pydantic validates lists of nested models all-or-nothing: one bad pair fails the whole LM call. The
pure semantic checks (hop union, hop_count == len(hop_contexts), complexity >= min_complexity, IDs
that exist) are deliberately *not* validators here; they belong to the deterministic validation step,
which can reject one pair with a reason instead of losing the whole row.
"""

from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# Caps on list lengths. They become `maxItems` in the JSON schema, so constrained decoding stops a
# weak model from repeating items forever. Callers must not ask for more than these.
MAX_ARTIFACTS_PER_TYPE = 5
MAX_PAIRS = 20
MAX_HOPS = 5
MAX_SEGMENTS_PER_PAIR = 10

MIN_COMPLEXITY = 1
MAX_COMPLEXITY = 5
MIN_SCORE = 1
MAX_SCORE = 10

# Enumerated so that llama.cpp grammars enforce the range (they ignore minimum/maximum).
# Keep in sync with MIN_/MAX_COMPLEXITY and MIN_/MAX_SCORE; a test checks it.
Complexity = Literal[1, 2, 3, 4, 5]
ScoreValue = Literal[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]

# A segment ID is the 1-based `chunk_id` of a chunk (running across members in a bundle).
SegmentId = Annotated[int, Field(ge=1)]


def _drop_titles(schema: dict) -> None:
    """Remove pydantic's generated `title`s: the LM reads the schema, and titles only repeat the names."""
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)


class _Contract(BaseModel):
    """Base of the LM-facing models.

    Class docstrings and field descriptions of subclasses end up in the JSON schema that the LM
    reads, so they are written for the LM: short and instructive. Notes for developers go in comments.
    """

    # Unknown keys are an error, not ignored: a reply like {"artifacts": {"unexpected": ...}} is the
    # wrong shape and must be re-asked, not read as "no artifacts". (The schema gains
    # additionalProperties: false, which strict structured-output endpoints require anyway.)
    model_config = ConfigDict(json_schema_extra=_drop_titles, extra="forbid")


# ---------------------------------------------------------------------------
# Artifact extraction
# ---------------------------------------------------------------------------


class ArtifactItem(_Contract):
    """One important item found in the segments."""

    text: str = Field(description="The item, as named in the segments.")
    description: str = Field(description="What the segments say about it.")
    importance: str = Field(description="Why it matters.")


def _artifact_list(description: str):
    return Field(default_factory=list, max_length=MAX_ARTIFACTS_PER_TYPE, description=description)


class DocumentArtifacts(_Contract):
    """Important items of the segments, by kind. A kind the segments lack stays empty."""

    key_concepts: list[ArtifactItem] = _artifact_list("Main ideas.")
    relationships: list[ArtifactItem] = _artifact_list("Links between ideas, parts or documents.")
    themes: list[ArtifactItem] = _artifact_list("Recurring topics.")
    entities: list[ArtifactItem] = _artifact_list("Named people, organisations, places, products, works.")
    processes: list[ArtifactItem] = _artifact_list("Procedures or sequences of steps.")
    insights: list[ArtifactItem] = _artifact_list("Conclusions, findings, claims.")
    technical_terms: list[ArtifactItem] = _artifact_list("Specialised vocabulary and its meaning.")
    contextual_factors: list[ArtifactItem] = _artifact_list("Conditions, time, place, assumptions.")


# The eight artifact kinds in their canonical order (the field order of DocumentArtifacts).
ARTIFACT_TYPES: tuple[str, ...] = tuple(DocumentArtifacts.model_fields)


# ---------------------------------------------------------------------------
# QA generation
# ---------------------------------------------------------------------------


# Str enums, so JSON holds plain strings. Their docstrings are shown to the LM too.
class QueryType(StrEnum):
    """How the question uses the segments."""

    MULTI_HOP = "multi_hop"
    STRUCTURAL = "structural"
    CONTEXTUAL = "contextual"


class ReasoningType(StrEnum):
    """What kind of reasoning the answer needs."""

    FACTUAL = "factual"
    RELATIONAL = "relational"
    INFERENTIAL = "inferential"
    TEMPORAL = "temporal"
    PROCEDURAL = "procedural"
    CAUSAL = "causal"
    VISUAL = "visual"


class HopContext(_Contract):
    """One step of reasoning: the segments it reads and the fact it adds."""

    hop_number: Annotated[int, Field(ge=1)] = Field(description="1 for the first hop, then 2, 3, ...")
    segment_ids: list[SegmentId] = Field(
        min_length=1,
        max_length=MAX_SEGMENTS_PER_PAIR,
        description="Segment IDs read in this hop.",
    )
    summary: str = Field(description="The fact this hop contributes, in one sentence.")


# Field order is writing order: evidence (hops, then hop_count, then segment_ids) before the question.
class QAPair(_Contract):
    """A search query, its answer, and exactly the segments that answer it."""

    query_type: QueryType = Field(description="multi_hop, structural or contextual.")
    reasoning_type: ReasoningType = Field(
        description="factual, relational, inferential, temporal, procedural, causal or visual."
    )
    hop_contexts: list[HopContext] = Field(
        min_length=1,
        max_length=MAX_HOPS,
        description="One entry per hop, in order. Exactly one for questions that are not multi_hop.",
    )
    hop_count: Annotated[int, Field(ge=1)] = Field(description="Number of hops: len(hop_contexts).")
    segment_ids: list[SegmentId] = Field(
        min_length=1,
        max_length=MAX_SEGMENTS_PER_PAIR,
        description="All segments needed to answer: the union of the hops' segment_ids.",
    )
    question: str = Field(description="A standalone search query, as a user would type it.")
    answer: str = Field(description="The answer, using only facts from the cited segments.")
    question_complexity: Complexity = Field(description="1 (simple lookup) to 5 (deep synthesis).")


class QAPairs(_Contract):
    """Question-answer pairs for one set of segments."""

    pairs: list[QAPair] = Field(min_length=1, max_length=MAX_PAIRS, description="Distinct QA pairs.")


# ---------------------------------------------------------------------------
# Judge
# ---------------------------------------------------------------------------


# The justification comes before the number, so the number follows the reason.
class Score(_Contract):
    """A reason, then a score from 1 to 10."""

    justification: str = Field(description="One sentence: why this score.")
    score: ScoreValue = Field(description="1 (bad) to 10 (excellent).")


# `score` is what the quality filter compares with its threshold. Float per the contract; the
# grammar does not bound it (llama.cpp ignores minimum/maximum), pydantic does.
class OverallScore(_Contract):
    """An assessment, then an overall score from 1 to 10."""

    assessment: str = Field(description="One sentence: should this pair train a retriever?")
    score: float = Field(ge=MIN_SCORE, le=MAX_SCORE, description="1 (reject) to 10 (excellent).")


# Tied to its pair by `pair_index`, never by list position (see match_evaluations).
class QAEvaluation(_Contract):
    """The evaluation of one pair."""

    pair_index: Annotated[int, Field(ge=0)] = Field(description="The pair_index of the pair being judged.")
    relevance: Score = Field(description="Is it a natural, standalone, useful search query?")
    accuracy: Score = Field(description="Is the answer correct according to the segments?")
    context_support: Score = Field(description="Do the cited segments support the answer, no more, no less?")
    clarity: Score = Field(description="Is the question clear and unambiguous?")
    overall: OverallScore = Field(description="Overall verdict.")
    improvements: str = Field(description="One concrete fix, or 'none'.")


class QAEvaluations(_Contract):
    """Evaluations of the given pairs."""

    evaluations: list[QAEvaluation] = Field(
        min_length=1, max_length=MAX_PAIRS, description="One evaluation per pair."
    )


def match_evaluations(pairs_count: int, evaluations: Iterable[QAEvaluation]) -> dict[int, QAEvaluation]:
    """Map pair index -> evaluation, using each evaluation's `pair_index` only.

    The judge may reorder, skip, repeat or invent indices. Indices outside `range(pairs_count)` are
    dropped, and for a repeated index the first evaluation wins. Pairs missing from the result were
    not judged; the caller records that instead of guessing from list positions.
    """
    matched: dict[int, QAEvaluation] = {}
    for evaluation in evaluations:
        index = evaluation.pair_index
        if index < 0 or index >= pairs_count:
            continue
        if index in matched:
            continue
        matched[index] = evaluation
    return matched
