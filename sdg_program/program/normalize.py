"""Deterministic, recorded repairs of a QA pair's *structure* before it is validated.

A small model often writes a sound question and answer but gets the bookkeeping around them
wrong: hops numbered 2, 1 or 1, 1; a ``hop_count`` that disagrees with its own hop list; a
``segment_ids`` list that is not the union of the hops; a "contextual" question split into
three hops that all read the same segments. Validation would reject those pairs although the
pair itself says, unambiguously, what the structure should be. This module rebuilds that
structure from the pair itself and records every change as a short code, so that nothing is
fixed silently: the codes are stored next to the pair's validation verdict (``normalizations``)
and the original structural fields are kept there too (``original``).

What it never does:

- touch the question, the answer or the complexity (content is the model's, and is judged as is);
- add a segment ID the model did not cite for this pair, or drop one that it cited as evidence
  of a hop (a multi-hop pair's ``segment_ids`` becomes the union of its hops; a single-hop pair's
  one hop becomes its ``segment_ids``);
- split one evidence set into several hops (that would invent which hop reads what);
- repair unknown segment IDs, hop counts outside the allowed range, or a multi-hop pair whose
  hops repeat one evidence set next to other, different ones: those stay validation failures.

A "multi_hop" pair whose hops all read one and the same evidence set is not multi-hop: one
retrieval of that set answers it. It becomes a single-hop pair over exactly that set, labelled
``contextual`` (the single-hop label that claims least about the question's shape), and the
change is recorded as ``multi_hop_single_evidence``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from signatures import HopContext, QAPair, QueryType

# Stable codes, counted in summaries and reports. Order = the order the repairs are applied.
NORMALIZATION_CODES: tuple[str, ...] = (
    "repeated_segment_ids_removed",  # an ID listed twice in one list: kept once, first position
    "hops_reordered",  # hop_numbers were a permutation of 1..n: hops sorted by them
    "hops_renumbered",  # hop_numbers were not 1..n in list order: renumbered by list position
    "multi_hop_single_evidence",  # multi_hop with < 2 distinct hop evidence sets: one hop, contextual
    "single_hop_collapsed",  # a non-multi-hop pair with several hops: one hop over its segment_ids
    "hop_segments_from_pair",  # a single-hop pair's one hop cited other IDs than the pair: set to the pair's
    "segment_ids_from_hops",  # a multi-hop pair's segment_ids were not the union of its hops
    "hop_count_set",  # hop_count disagreed with the number of hops
)

# The structural fields normalisation may change; their originals are kept for audit.
STRUCTURAL_FIELDS: tuple[str, ...] = ("query_type", "hop_contexts", "hop_count", "segment_ids")

# The single-hop label a multi_hop pair with one evidence set is given (see the module docstring).
SINGLE_HOP_LABEL = QueryType.CONTEXTUAL


class Normalized(BaseModel):
    """A pair after normalisation, the codes of what changed, and the original structural fields."""

    pair: QAPair
    normalizations: list[str] = Field(default_factory=list)
    original: dict[str, Any] | None = Field(None, description="query_type, hop_contexts, hop_count, segment_ids as the model wrote them (only when something changed)")


def _unique(ids: list[int]) -> list[int]:
    return list(dict.fromkeys(ids))


def _joined_summary(hops: list[HopContext]) -> str:
    """The hops' distinct summaries in order, as one text (a merged hop keeps every fact it was given)."""
    summaries = [hop.summary.strip() for hop in hops if hop.summary.strip()]
    return " ".join(dict.fromkeys(summaries))


def _hop(number: int, segment_ids: list[int], summary: str) -> HopContext:
    """A plain HopContext, built without re-validation.

    The pair may be an instance of a narrowed per-call class (``signatures.narrow``) whose enums a
    repaired value (a renumbered hop, a merged ID list) need not satisfy; a repaired pair is
    therefore rebuilt as the plain contract classes. Its values are checked by validation next.
    """
    return HopContext.model_construct(hop_number=number, segment_ids=list(segment_ids), summary=summary)


def normalize_pair(pair: QAPair) -> Normalized:
    """Rebuild the pair's hop structure from the pair itself; record each change (see module docstring)."""
    codes: list[str] = []
    hops = list(pair.hop_contexts)
    segment_ids = list(pair.segment_ids)
    query_type = pair.query_type

    # Repeated IDs inside one list carry no information.
    unique_pair_ids = _unique(segment_ids)
    unique_hops = [_hop(hop.hop_number, _unique(hop.segment_ids), hop.summary) for hop in hops]
    if unique_pair_ids != segment_ids or any(len(new.segment_ids) != len(old.segment_ids) for new, old in zip(unique_hops, hops)):
        codes.append("repeated_segment_ids_removed")
    segment_ids, hops = unique_pair_ids, unique_hops

    # Hop order: trust the model's numbers when they are a permutation of 1..n, else the list order.
    numbers = [hop.hop_number for hop in hops]
    expected = list(range(1, len(hops) + 1))
    if numbers != expected:
        if sorted(numbers) == expected:
            hops = sorted(hops, key=lambda hop: hop.hop_number)
            codes.append("hops_reordered")
        else:
            hops = [_hop(position, hop.segment_ids, hop.summary) for position, hop in enumerate(hops, 1)]
            codes.append("hops_renumbered")

    if query_type == QueryType.MULTI_HOP:
        evidence_sets = {frozenset(hop.segment_ids) for hop in hops}
        if len(evidence_sets) < 2:
            # One evidence set (or one hop): not a multi-hop question. Never split the set into hops.
            evidence = _unique([segment for hop in hops for segment in hop.segment_ids]) or segment_ids
            hops = [_hop(1, evidence, _joined_summary(hops))]
            segment_ids = evidence
            query_type = SINGLE_HOP_LABEL
            codes.append("multi_hop_single_evidence")
        else:
            union = _unique([segment for hop in hops for segment in hop.segment_ids])
            if set(union) != set(segment_ids):
                segment_ids = union
                codes.append("segment_ids_from_hops")
    else:
        if len(hops) != 1:
            hops = [_hop(1, segment_ids, _joined_summary(hops))]
            codes.append("single_hop_collapsed")
        elif set(hops[0].segment_ids) != set(segment_ids):
            hops = [_hop(1, segment_ids, hops[0].summary)]
            codes.append("hop_segments_from_pair")

    hop_count = pair.hop_count
    if hop_count != len(hops):
        hop_count = len(hops)
        codes.append("hop_count_set")

    if not codes:
        return Normalized(pair=pair)
    original = pair.model_dump(mode="json", include=set(STRUCTURAL_FIELDS))
    fields = {name: getattr(pair, name) for name in QAPair.model_fields}
    fields.update(query_type=query_type, hop_contexts=hops, hop_count=hop_count, segment_ids=segment_ids)
    repaired = QAPair.model_construct(**fields)
    return Normalized(pair=repaired, normalizations=codes, original=original)
