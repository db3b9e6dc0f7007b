"""Embedding Arrow text columns for paraphrase control and hard-negative mining.

The model is loaded on first use only: a conversion without mining and without paraphrase
control never loads it. Columns are embedded in slices, so memory stays bounded by the slice,
not by the corpus.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Rows per slice while embedding.
EMBED_SLICE = 4096


class LazyEmbedder:
    """The embedder, loaded on first use only: conversions without mining or paraphrase control never load it."""

    def __init__(self, model, spec: str | None) -> None:
        self.model = model
        self.spec = spec

    def get(self):
        if self.model is None:
            from sdg_program.backends.embedder import load_embedder

            self.model = load_embedder(self.spec)
        return self.model


def embed_column(dataset, column: str, model, batch_size: int, on_progress: Callable[[int], None]) -> np.ndarray:
    """Embed a text column in slices (bounded memory), into one float32 matrix."""
    from sdg_program.backends.embedder import embed, embedding_dimension

    vectors = np.zeros((len(dataset), embedding_dimension(model)), dtype=np.float32)
    start = 0
    for batch in dataset.select_columns([column]).iter(batch_size=EMBED_SLICE):
        texts = batch[column]
        vectors[start : start + len(texts)] = embed(texts, model, batch_size=batch_size)
        start += len(texts)
        on_progress(len(texts))
    return vectors
