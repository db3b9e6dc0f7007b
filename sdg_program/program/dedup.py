"""Remove near-identical questions within a row by sentence-embedding cosine similarity.

Paraphrased questions with the same positives teach a retriever nothing new and leak
across splits. Unlike the reference tool, which always keeps the first of two
duplicates, we keep the *better* one (valid before invalid, then better grounded,
then more complex), so the order an LLM happened to write things in does not decide.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from pydantic import BaseModel


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
    """Greedy dedup: visit pairs from best to worst quality; drop a pair whose cosine with a kept one exceeds ``threshold``.

    ``quality[i]`` is any sortable key (higher is better); ties go to the earlier pair.
    ``embed_texts`` returns L2-normalised rows. Kept indices come back in original order.
    """
    if len(questions) != len(quality):
        raise ValueError("one quality key per question is required")
    if not questions:
        return DedupResult(kept=[], duplicate_of={})
    if len(questions) == 1:
        # Nothing to compare with: the answer is known without the embedder, which costs ~20 ms of
        # CPU per call (MiniLM on one core), the largest single cost of a row at high concurrency.
        return DedupResult(kept=[0], duplicate_of={})
    vectors = np.asarray(embed_texts(list(questions)), dtype=np.float32)
    similarity = np.clip(vectors @ vectors.T, -1.0, 1.0)
    order = sorted(range(len(questions)), key=lambda index: (quality[index], -index), reverse=True)
    kept: list[int] = []
    duplicate_of: dict[int, int] = {}
    for index in order:
        match = next((other for other in kept if similarity[index, other] > threshold), None)
        if match is None:
            kept.append(index)
        else:
            duplicate_of[index] = match
    return DedupResult(kept=sorted(kept), duplicate_of=duplicate_of)
