"""Which QA pairs become queries, and why the others do not.

Every pair gets exactly one drop reason (or none), checked in the order of
``report.DROP_REASONS``, so the report can say where each pair went. A pair is kept only when it
has a question, passed validation, was judged at or above the threshold, and cites segments that
all map to passages, no more of them than ``max_pos_docs``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from sdg_program.export.config import ConvertConfig
from sdg_program.export.corpus import unique_question_ids
from sdg_program.export.tables import column, pair_row_features


@dataclass
class FilteredPairs:
    """Exploded pairs and what the filter counted."""

    kept: Any  # datasets.Dataset of kept pairs, in (source_id, pair_index) order
    question_ids: list[str]
    drop_counts: Counter
    invalid_reasons: Counter
    scores: list[float | None]
    vectors: np.ndarray | None = None  # question embeddings, when paraphrase control computed them



def drop_reason(pair: dict[str, Any], positives: list[str], unknown: int, threshold: float, max_pos_docs: int,
                waived: frozenset[str] = frozenset()) -> str:
    """Why a pair does not become a query ("" = kept). Checked in the order of report.DROP_REASONS.

    A pair invalid only for ``waived`` reasons counts as valid (the round trip judges them instead).
    A pair of a run whose judge was off (``judged`` False) has no score to compare with the threshold.
    """
    if not pair["question"]:
        return "empty_question"
    if not pair["valid"] and not (pair["reasons"] and set(pair["reasons"]) <= waived):
        return "invalid"
    if pair["score"] is None:
        if pair["judged"]:
            return "unjudged"
    elif pair["score"] < threshold:
        return "below_threshold"
    if not positives:
        return "no_positive"
    if unknown:
        return "unknown_segment"
    if len(positives) > max_pos_docs:
        return "too_many_positives"
    return ""


def explode_pairs(batch: dict[str, list], threshold: float, max_pos_docs: int, waived: frozenset[str] = frozenset()) -> pa.Table:
    """One row per QA pair, with its positives as corpus IDs (segment order, duplicates removed) and its drop reason.

    A batched ``datasets`` map over the records table; returns an Arrow table in the exact output
    schema, so ``datasets`` writes it without a cast.
    """
    pair_features = pair_row_features()
    out: dict[str, list] = {name: [] for name in pair_features}
    for source_id, file_names, chunk_ids, corpus_ids, pairs in zip(
        batch["source_id"], batch["file_names"], batch["chunk_ids"], batch["chunk_corpus_ids"], batch["pairs"]
    ):
        lookup = dict(zip(chunk_ids, corpus_ids))
        for pair in pairs:
            mapped = [lookup.get(segment) for segment in pair["segment_ids"]]
            positives = list(dict.fromkeys(doc for doc in mapped if doc is not None))
            unknown = sum(doc is None for doc in mapped)
            out["source_id"].append(source_id)
            out["file_names"].append(file_names)
            for name, value in pair.items():
                out[name].append(value)
            out["positive_ids"].append(positives)
            out["drop_reason"].append(drop_reason(pair, positives, unknown, threshold, max_pos_docs, waived))
    return pa.Table.from_pydict(out, schema=pair_features.arrow_schema)


def _keep_rows(values: list[str]) -> list[bool]:
    return [value == "" for value in values]


def filter_pairs(records, config: ConvertConfig) -> FilteredPairs:
    """Explode pairs, give each a drop reason, keep the rest, and name the kept ones."""
    from sdg_program.program.validation import WAIVED_BY_ROUNDTRIP  # here: that module loads DSPy, which --help does not need

    pairs = records.map(
        explode_pairs,
        batched=True,
        batch_size=200,
        remove_columns=records.column_names,
        fn_kwargs={"threshold": config.quality_threshold, "max_pos_docs": config.max_pos_docs,
                   "waived": WAIVED_BY_ROUNDTRIP if config.roundtrip else frozenset()},
        new_fingerprint="pairs",
    )
    reasons = column(pairs, "drop_reason")
    invalid_reasons: Counter[str] = Counter()
    for why, reason in zip(column(pairs, "reasons"), reasons):
        if reason == "invalid":
            invalid_reasons.update(why)
    kept = pairs.filter(_keep_rows, input_columns="drop_reason", batched=True, new_fingerprint="kept")
    question_ids = unique_question_ids(column(kept, "source_id"), column(kept, "question"))
    return FilteredPairs(kept, question_ids, Counter(reasons), invalid_reasons, column(pairs, "score"))
