"""Round-trip retrievability: a question is kept only if retrieval over the exported corpus finds it a positive.

Word overlap between a question and its segments says little: "What is the next section about?"
shares a word with any document, and a good paraphrase shares few. What a retriever's training
data needs is a question that *leads to* its passage. So every candidate question is run against
the whole exported corpus by two retrievers that fail differently, BM25 (``bm25s``: exact words)
and the embedder (meaning), their rankings are fused by reciprocal rank fusion, and the pair is
kept only if one of its positives ranks within ``k``. This is the consistency filter of
Promptagator-style pipelines, made lenient twice: either retriever may find the passage, and ``k``
grows with the corpus (a fixed 10 means nothing on a 16-passage corpus and is strict on 100,000).

Ranks are exact within each retriever's top ``depth``; a passage beyond both lists has no fused
rank (never retrieved). Memory stays bounded: the dense side scores a block of questions against
the corpus at a time, never a full question-by-passage matrix.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

# Reciprocal rank fusion: score(passage) = sum over retrievers of 1 / (RRF_CONSTANT + rank).
RRF_CONSTANT = 60
# The default k: this share of the corpus, and never fewer than MIN_ROUNDTRIP_K passages. Chosen on
# the labelled set (bench/bench_quality.py --roundtrip): see ROUNDTRIP_SHARE's comment there.
ROUNDTRIP_SHARE = 0.02
MIN_ROUNDTRIP_K = 10
# Score blocks of this many question-passage cells at a time on the dense side.
BLOCK_CELLS = 8_000_000


def default_roundtrip_k(corpus_size: int) -> int:
    """k for a corpus of ``corpus_size`` passages: ROUNDTRIP_SHARE of it, at least MIN_ROUNDTRIP_K (at most all)."""
    return max(1, min(corpus_size, max(MIN_ROUNDTRIP_K, math.ceil(ROUNDTRIP_SHARE * corpus_size))))


def bm25_rankings(corpus_texts: Sequence[str], questions: Sequence[str], depth: int) -> list[list[int]]:
    """Per question, the corpus rows BM25 scores above zero, best first, at most ``depth`` of them."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG into convert's output
    if not corpus_texts or not questions:
        return [[] for _ in questions]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(list(corpus_texts), stopwords="en", show_progress=False), show_progress=False)
    tokens = bm25s.tokenize(list(questions), stopwords="en", show_progress=False)
    rows, scores = retriever.retrieve(tokens, k=min(depth, len(corpus_texts)), show_progress=False, n_threads=1)
    return [[int(row) for row, score in zip(found, values) if score > 0] for found, values in zip(rows, scores)]


def dense_rankings(question_vectors: np.ndarray, corpus_vectors: np.ndarray, depth: int, cells: int = BLOCK_CELLS) -> list[list[int]]:
    """Per question, the ``depth`` corpus rows of highest cosine (vectors are L2-normalised), best first."""
    total = len(corpus_vectors)
    if total == 0:
        return [[] for _ in range(len(question_vectors))]
    depth = min(depth, total)
    step = max(1, cells // max(1, total))
    rankings: list[list[int]] = []
    for start in range(0, len(question_vectors), step):
        scores = question_vectors[start : start + step] @ corpus_vectors.T
        top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
        order = np.take_along_axis(scores, top, axis=1).argsort(axis=1, kind="stable")[:, ::-1]
        rankings.extend(np.take_along_axis(top, order, axis=1).tolist())
    return rankings


def fused_ranking(rankings: Sequence[Sequence[int]]) -> list[int]:
    """Reciprocal rank fusion of several best-first lists of corpus rows (ties by row, for determinism)."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking, 1):
            scores[row] = scores.get(row, 0.0) + 1.0 / (RRF_CONSTANT + rank)
    return sorted(scores, key=lambda row: (-scores[row], row))


def best_positive_rank(ranking: Sequence[int], positives: Sequence[int]) -> int | None:
    """The 1-based rank of the first positive in ``ranking``, or None if none is there."""
    wanted = set(positives)
    return next((rank for rank, row in enumerate(ranking, 1) if row in wanted), None)


def roundtrip_ranks(
    questions: Sequence[str],
    positive_rows: Sequence[Sequence[int]],
    corpus_texts: Sequence[str],
    question_vectors: np.ndarray,
    corpus_vectors: np.ndarray,
    depth: int,
) -> list[int | None]:
    """Each question's best fused rank of one of its positives over the whole corpus (None: not found within depth)."""
    lexical = bm25_rankings(corpus_texts, questions, depth)
    semantic = dense_rankings(question_vectors, corpus_vectors, depth)
    return [best_positive_rank(fused_ranking([bm25, dense]), positives) for bm25, dense, positives in zip(lexical, semantic, positive_rows)]


def retrievable(rank: int | None, k: int) -> bool:
    """Whether a pair whose best positive ranks ``rank`` passes the round trip at ``k``."""
    return rank is not None and rank <= k
