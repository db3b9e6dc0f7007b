"""Remove near-identical questions within a row: word-level repeats, then sentence-embedding cosine.

Paraphrased questions with the same positives teach a retriever nothing new and leak
across splits. Unlike the reference tool, which always keeps the first of two
duplicates, we keep the *better* one (valid before invalid, then better grounded,
then more complex), so the order an LLM happened to write things in does not decide.

The embedding pass costs CPU (all-MiniLM-L6-v2, about 11 ms per question on one core) and was most
of a row's client CPU against an endpoint: a 2-core client could not embed the questions of the rows
a fast endpoint answers. So only pairs that could be duplicates are embedded. Two questions whose
word sets are nearly the same (Jaccard at least ``REPEAT_JACCARD``: "... (variant 1)" and "...
(variant 2)") are a repeat without asking the model. Two questions that share less than half of the
smaller one's content words are never compared: at cosine 0.9 MiniLM questions share most of their
content words. Only the questions of the remaining pairs go through the embedder, and a row whose
questions are all distinct costs no forward pass. What this screen lets through in the rare case
(a rewording with few words in common) is caught by convert's corpus-wide pass, which embeds every
kept question anyway (``export/dedup.py``).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from pydantic import BaseModel

from sdg_program.program.words import content_words, words

# Word-set Jaccard from which two questions are one question repeated (no embedding asked).
REPEAT_JACCARD = 0.8
# Share of the smaller question's content words two questions must have in common to be embedded and compared.
EMBED_OVERLAP = 0.5


class DedupResult(BaseModel):
    """Which pairs survive; ``duplicate_of[i]`` names the kept pair that replaced pair ``i``."""

    kept: list[int]
    duplicate_of: dict[int, int]


def deduplicate(
    questions: Sequence[str],
    quality: Sequence[tuple],
    embed_texts: Callable[[list[str]], np.ndarray],
    threshold: float = 0.9,
) -> DedupResult:
    """Greedy dedup: visit pairs from best to worst quality; drop a pair that repeats a kept one or whose cosine with it exceeds ``threshold``.

    ``quality[i]`` is any sortable key (higher is better); ties go to the earlier pair.
    ``embed_texts`` returns L2-normalised rows; it is called once at most, with only the questions
    that the word screen could not settle (see the module docstring). Kept indices come back in
    original order.
    """
    if len(questions) != len(quality):
        raise ValueError("one quality key per question is required")
    duplicate = duplicate_matrix(questions, embed_texts, threshold)
    order = sorted(range(len(questions)), key=lambda index: (quality[index], -index), reverse=True)
    kept: list[int] = []
    duplicate_of: dict[int, int] = {}
    for index in order:
        match = next((other for other in kept if duplicate[index, other]), None)
        if match is None:
            kept.append(index)
        else:
            duplicate_of[index] = match
    return DedupResult(kept=sorted(kept), duplicate_of=duplicate_of)


def duplicate_matrix(questions: Sequence[str], embed_texts: Callable[[list[str]], np.ndarray], threshold: float) -> np.ndarray:
    """Symmetric boolean matrix: question ``i`` duplicates question ``j`` (a repeat, or embedded and above ``threshold``)."""
    count = len(questions)
    duplicate = np.zeros((count, count), dtype=bool)
    word_sets = [set(words(question)) for question in questions]
    content = [content_words(question) for question in questions]
    to_compare: list[tuple[int, int]] = []
    for left in range(count):
        for right in range(left + 1, count):
            if _jaccard(word_sets[left], word_sets[right]) >= REPEAT_JACCARD:
                duplicate[left, right] = duplicate[right, left] = True
            elif _overlap(content[left], content[right]) >= EMBED_OVERLAP:
                to_compare.append((left, right))
    if to_compare:
        embedded = sorted({index for pair in to_compare for index in pair})
        row_of = {index: row for row, index in enumerate(embedded)}
        vectors = np.asarray(embed_texts([questions[index] for index in embedded]), dtype=np.float32)
        for left, right in to_compare:
            if float(vectors[row_of[left]] @ vectors[row_of[right]]) > threshold:
                duplicate[left, right] = duplicate[right, left] = True
    return duplicate


def _jaccard(left: set[str], right: set[str]) -> float:
    union = left | right
    return len(left & right) / len(union) if union else 1.0


def _overlap(left: set[str], right: set[str]) -> float:
    """Shared share of the smaller set; 1.0 when either has no content words (nothing to screen on: compare)."""
    smaller = min(len(left), len(right))
    return len(left & right) / smaller if smaller else 1.0
