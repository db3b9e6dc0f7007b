"""Corpus-wide dedup: the same question asked of two documents is one training query, not two.

Generation deduplicates within one row only, and convert's paraphrase control merely puts near
duplicates into one split; a retriever then still trains on the same question twice with two
different positives, which teaches it that either passage is right. Here every candidate question
is embedded once (``embedding.embed_column``; paraphrase grouping reuses the vectors), near
neighbours are found across the whole set with blocked matrix products (``negatives.near_duplicate_links``: a block of rows against the rest, or
an inverted-file index for large sets; never a full question-by-question matrix), and of each
group of near duplicates only the best pair is kept: judged higher, then retrieved better (round
trip rank), then first in the input. Every dropped pair records which kept pair it duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# How many nearest other questions each question is compared with: enough for any real cluster of
# rewordings, and it keeps the link list linear in the number of questions.
NEIGHBOURS = 10


def duplicate_links(vectors: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pairs of rows (smaller, larger) whose questions have cosine above ``threshold``."""
    from sdg_program.export.negatives import near_duplicate_links  # imports torch: only when needed

    return near_duplicate_links(vectors, list(range(len(vectors))), threshold, neighbours=NEIGHBOURS)


def quality_order(scores: Sequence[float | None], ranks: Sequence[int | None]) -> list[int]:
    """Rows from the pair to keep first to the pair to drop first: higher judge score, better rank, earlier row."""
    def key(row: int) -> tuple[float, float, int]:
        score = scores[row]
        rank = ranks[row]
        return (-(score if score is not None else float("-inf")), rank if rank is not None else float("inf"), row)

    return sorted(range(len(scores)), key=key)


def choose_duplicates(links: Sequence[tuple[int, int]], order: Sequence[int]) -> dict[int, int]:
    """Dropped row -> the kept row it duplicates, walking rows best first.

    A row is kept unless it links to a row already kept; so of every group the best pair stays,
    and a pair linked only through a dropped one (A~B, B~C, A not~C) is judged on its own.
    """
    neighbours: dict[int, set[int]] = {}
    for left, right in links:
        neighbours.setdefault(left, set()).add(right)
        neighbours.setdefault(right, set()).add(left)
    kept: set[int] = set()
    dropped: dict[int, int] = {}
    position = {row: index for index, row in enumerate(order)}
    for row in order:
        better = sorted((other for other in neighbours.get(row, ()) if other in kept), key=position.__getitem__)
        if better:
            dropped[row] = better[0]
        else:
            kept.add(row)
    return dropped
