"""The quality gate phase: round-trip retrievability, then corpus-wide dedup, over the pairs the filter kept.

Both judge a pair against the whole set rather than against its own row, so they run after the
filter (``gate.py``) and the corpus (``corpus.py``), before the splits: a pair dropped here never
reaches a split, a training file or the BEIR set. Each drop is a reason in the report
(``not_retrievable``, ``duplicate``), and ``report.json`` lists every dropped pair with its round
trip rank and, for a duplicate, the question ID of the pair it duplicates.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sdg_program.export.config import ConvertConfig
from sdg_program.export.dedup import choose_duplicates, duplicate_links, quality_order
from sdg_program.export.embedding import LazyEmbedder, embed_column
from sdg_program.export.gate import FilteredPairs
from sdg_program.export.progress import ConvertProgress
from sdg_program.export.report import DroppedPair, GateSummary
from sdg_program.export.roundtrip import default_roundtrip_k, retrievable, roundtrip_ranks
from sdg_program.export.tables import column

# How deep each retriever's ranking is read, beyond k: a positive just past k still gets its true rank in the report.
DEPTH_FACTOR = 4


def rank_histogram(ranks: list[int | None], k: int) -> dict[str, int]:
    """Counts of best positive ranks in bins 1, 2-3, 4-10, 11-k, beyond k."""
    bins = {"1": 0, "2-3": 0, "4-10": 0, f"11-{k}": 0, f">{k}": 0}
    for rank in ranks:
        if rank is None or rank > k:
            bins[f">{k}"] += 1
        elif rank == 1:
            bins["1"] += 1
        elif rank <= 3:
            bins["2-3"] += 1
        elif rank <= 10:
            bins["4-10"] += 1
        else:
            bins[f"11-{k}"] += 1
    return {name: count for name, count in bins.items() if count or name in ("1", f">{k}")}


def apply_quality_gate(pairs: FilteredPairs, corpus, config: ConvertConfig, embedder: LazyEmbedder,
                       progress: ConvertProgress) -> tuple[FilteredPairs, GateSummary]:
    """Drop the kept pairs that fail the round trip or duplicate a better pair; count and list them."""
    summary = GateSummary(dedup_threshold=config.dedup_threshold, corpus_size=len(corpus))
    count = len(pairs.kept)
    if count == 0 or (not config.roundtrip and config.dedup_threshold is None):
        return pairs, summary
    model = embedder.get()
    # The same column embedding as paraphrase grouping (assign.py), which then reuses these vectors.
    with progress.phase("embed questions"), progress.bar("Embedding questions", count) as advance:
        vectors = embed_column(pairs.kept, "question", model, config.embed_batch_size, advance)
    ranks: list[int | None] = [None] * count
    reasons = [""] * count
    if config.roundtrip:
        k = config.roundtrip_k or default_roundtrip_k(len(corpus))
        ranks = _ranks(pairs, corpus, vectors, model, config, k, progress)
        reasons = ["" if retrievable(rank, k) else "not_retrievable" for rank in ranks]
        summary.roundtrip_k = k
        summary.ranks = rank_histogram(ranks, k)
    duplicate_of: dict[int, int] = {}
    if config.dedup_threshold is not None:
        with progress.phase("dedup"):
            duplicate_of = _duplicates(vectors, reasons, column(pairs.kept, "score"), ranks, config.dedup_threshold)
        for row in duplicate_of:
            reasons[row] = "duplicate"
    summary.dropped = _dropped(pairs, reasons, ranks, duplicate_of)
    return _without(pairs, reasons, vectors), summary


def _ranks(pairs: FilteredPairs, corpus, vectors: np.ndarray, model, config: ConvertConfig, k: int, progress: ConvertProgress) -> list[int | None]:
    """Each kept pair's best fused rank of a positive over the whole corpus."""
    with progress.phase("embed corpus"), progress.bar("Embedding passages", len(corpus)) as advance:
        corpus_vectors = embed_column(corpus, "text", model, config.embed_batch_size, advance)
    with progress.phase("round trip"):
        row_of = {passage: row for row, passage in enumerate(column(corpus, "id"))}
        positives = [[row_of[passage] for passage in ids if passage in row_of] for ids in column(pairs.kept, "positive_ids")]
        return roundtrip_ranks(column(pairs.kept, "question"), positives, column(corpus, "text"), vectors, corpus_vectors, depth=k * DEPTH_FACTOR)


def _duplicates(vectors: np.ndarray, reasons: list[str], scores: list[float | None], ranks: list[int | None], threshold: float) -> dict[int, int]:
    """Dropped row -> kept row, among the rows the round trip kept."""
    rows = [row for row, reason in enumerate(reasons) if not reason]
    if len(rows) < 2:
        return {}
    links = duplicate_links(vectors[rows], threshold)
    order = quality_order([scores[row] for row in rows], [ranks[row] for row in rows])
    return {rows[dropped]: rows[kept] for dropped, kept in choose_duplicates(links, order).items()}


def _dropped(pairs: FilteredPairs, reasons: list[str], ranks: list[int | None], duplicate_of: dict[int, int]) -> list[DroppedPair]:
    sources = column(pairs.kept, "source_id")
    indices = column(pairs.kept, "pair_index")
    return [
        DroppedPair(source_id=sources[row], pair_index=indices[row], question_id=pairs.question_ids[row], reason=reason, roundtrip_rank=ranks[row],
                    duplicate_of=pairs.question_ids[duplicate_of[row]] if row in duplicate_of else None)
        for row, reason in enumerate(reasons) if reason
    ]


def _without(pairs: FilteredPairs, reasons: list[str], vectors: np.ndarray) -> FilteredPairs:
    """The filtered pairs less the dropped rows, with the drops counted and the question vectors carried along."""
    keep = [row for row, reason in enumerate(reasons) if not reason]
    drops = [reason for reason in reasons if reason]
    if not drops:
        return replace(pairs, vectors=vectors)
    kept = pairs.kept.select(keep)
    counts = pairs.drop_counts.copy()
    counts.update(drops)
    counts[""] -= len(drops)
    # Kept pairs keep their question IDs: a dropped duplicate's duplicate_of names one of them.
    question_ids = [pairs.question_ids[row] for row in keep]
    return replace(pairs, kept=kept, question_ids=question_ids, drop_counts=counts, vectors=vectors[keep])
