"""The split phase: which split (train, val or test) every kept pair lands in.

Records are joined into units by shared documents, ``--groups-json`` groups and, with
paraphrase control, near-duplicate questions found by embedding the kept questions; the units
are then assigned to splits by ``splits.assign_splits``. With ``eval_only`` every unit is test.
The algorithms live in ``splits.py`` and ``negatives.py``; this module feeds them the kept pairs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sdg_program.export.config import ConvertConfig, SplitStrategy
from sdg_program.export.embedding import LazyEmbedder, embed_column
from sdg_program.export.gate import FilteredPairs
from sdg_program.export.progress import ConvertProgress
from sdg_program.export.splits import Unit, assign_splits, build_units, split_targets
from sdg_program.export.tables import column


@dataclass
class Splits:
    """Units and the split of every kept pair."""

    units: list[Unit]
    assignment: dict[str, str]  # unit key -> split
    split_of_record: dict[str, str]
    kept_splits: list[str]
    merges: dict[str, int]
    links: int


def split_pairs(config: ConvertConfig, records, pairs: FilteredPairs, groups: list[list[str]], embedder: LazyEmbedder, progress: ConvertProgress) -> Splits:
    """Units (shared documents, groups, paraphrases) and their splits; everything is test with eval_only.

    The question embeddings computed for paraphrase control are kept on ``pairs.vectors``, so
    mining does not embed the same questions again.
    """
    record_docs = dict(zip(column(records, "source_id"), column(records, "file_names")))
    kept_sources = column(pairs.kept, "source_id")
    links: list[tuple[str, str]] = []
    if not config.eval_only and config.paraphrase_threshold is not None and len(pairs.kept) > 1:
        if pairs.vectors is None or len(pairs.vectors) != len(pairs.kept):  # the quality gate may have embedded them
            with progress.phase("embed questions"), progress.bar("Embedding questions", len(pairs.kept)) as advance:
                pairs.vectors = embed_column(pairs.kept, "question", embedder.get(), config.embed_batch_size, advance)
        with progress.phase("paraphrases"):
            from sdg_program.export.negatives import near_duplicate_links  # imports torch: only when needed

            order = sorted(record_docs)
            index_of = {source_id: index for index, source_id in enumerate(order)}
            owner_links = near_duplicate_links(pairs.vectors, [index_of[s] for s in kept_sources], config.paraphrase_threshold)
            links = [(order[left], order[right]) for left, right in owner_links]
    with progress.phase("split"):
        units, merges = build_units(record_docs, dict(Counter(kept_sources)), groups=groups, record_links=links)
        if config.eval_only:
            assignment = {unit.key: "test" for unit in units if unit.weight > 0}
        else:
            targets = split_targets(config.train_ratio, config.val_ratio)
            assignment = assign_splits(units, targets, config.seed, largest_first=config.split_strategy != SplitStrategy.RANDOM)
        split_of_record = {record: assignment[unit.key] for unit in units if unit.key in assignment for record in unit.records}
    return Splits(units, assignment, split_of_record, [split_of_record[s] for s in kept_sources], merges, len(links))
