"""The mining phase: hard negatives for every train and val query, drawn from the training corpus.

Passages and questions are embedded here and handed to ``negatives.mine_hard_negatives``, which
holds the search and the rules (positives and likely false negatives are never picked). Test
queries get none: the BEIR set has no negatives, and test passages are not in the training corpus.
"""

from __future__ import annotations

from sdg_program.export.assign import Splits
from sdg_program.export.config import ConvertConfig
from sdg_program.export.embedding import LazyEmbedder, embed_column
from sdg_program.export.gate import FilteredPairs
from sdg_program.export.progress import ConvertProgress
from sdg_program.export.report import NegativesSummary
from sdg_program.export.tables import column


def mine_negatives(config: ConvertConfig, pairs: FilteredPairs, splits: Splits, training_corpus, embedder: LazyEmbedder,
                   progress: ConvertProgress) -> tuple[dict[int, list[str]], NegativesSummary | None]:
    """Hard negatives (passage IDs) for train/val pairs, keyed by kept-pair row; no summary when nothing is mined."""
    if config.eval_only or config.num_negatives == 0:
        return {}, None
    summary = NegativesSummary(requested_per_query=config.num_negatives, margin=config.negative_margin)
    rows = [index for index, split in enumerate(splits.kept_splits) if split in ("train", "val")]
    if not rows:
        return {}, summary
    with progress.phase("embed corpus"), progress.bar("Embedding passages", len(training_corpus)) as advance:
        corpus_vectors = embed_column(training_corpus, "text", embedder.get(), config.embed_batch_size, advance)
    with progress.phase("embed questions"):
        subset = pairs.kept.select(rows)
        if pairs.vectors is not None:
            query_vectors = pairs.vectors[rows]
        else:
            with progress.bar("Embedding questions", len(subset)) as advance:
                query_vectors = embed_column(subset, "question", embedder.get(), config.embed_batch_size, advance)
    with progress.phase("mine negatives"):
        from sdg_program.export.negatives import mine_hard_negatives  # imports torch: only when needed

        corpus_ids = column(training_corpus, "id")
        row_of = {passage: row for row, passage in enumerate(corpus_ids)}
        positives = [[row_of[passage] for passage in ids] for ids in column(subset, "positive_ids")]
        mined, stats = mine_hard_negatives(query_vectors, corpus_vectors, positives, config.num_negatives, config.negative_margin)
    negatives = {row: [corpus_ids[index] for index in picked] for row, picked in zip(rows, mined)}
    return negatives, summary.model_copy(update={
        "queries": stats.queries, "negatives": stats.negatives, "queries_short": stats.queries_short,
        "excluded_as_likely_positive": stats.excluded_as_likely_positive,
    })
