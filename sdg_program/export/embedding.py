"""Embedding Arrow text columns for paraphrase control and hard-negative mining.

The model is loaded on first use only: a conversion without mining and without paraphrase
control never loads it. Columns are embedded in slices, so memory stays bounded by the slice,
not by the corpus. With ``engine="ray"`` the same slices are embedded by a Ray actor pool instead
(``ray_embedding.py``); every embedding pass of convert goes through :func:`embed_column`, so this
is the one place the engine is chosen.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Rows per slice while embedding.
EMBED_SLICE = 4096


class LazyEmbedder:
    """The embedder, loaded on first use only: conversions without mining or paraphrase control never load it.

    With an ``engine`` (``ray_embedding.RayEmbedding``), ``get`` returns the engine and the model is
    never loaded in this process: the workers load it.
    """

    def __init__(self, model, spec: str | None, engine=None) -> None:
        self.model = model
        self.spec = spec
        self.engine = engine

    def get(self):
        if self.engine is not None:
            return self.engine
        if self.model is None:
            from sdg_program.backends.embedder import load_embedder

            self.model = load_embedder(self.spec)
        return self.model


def embed_column(dataset, column: str, model, batch_size: int, on_progress: Callable[[int], None]) -> np.ndarray:
    """Embed a text column in slices (bounded memory), into one float32 matrix.

    ``model`` is what ``LazyEmbedder.get`` returns: a sentence-transformers model, or an engine
    (anything with an ``embed_column`` method) that embeds the same ``EMBED_SLICE`` slices
    elsewhere and returns the same matrix. An empty column needs no engine.
    """
    from sdg_program.backends.embedder import embed, embedding_dimension, load_embedder

    engine = getattr(model, "embed_column", None)
    if engine is not None:
        if len(dataset) > 0:
            return engine(dataset, column, batch_size, on_progress)
        model = load_embedder(model.spec)  # an empty column's (0, d) shape needs only the model's dimension

    vectors = np.zeros((len(dataset), embedding_dimension(model)), dtype=np.float32)
    start = 0
    for batch in dataset.select_columns([column]).iter(batch_size=EMBED_SLICE):
        texts = batch[column]
        vectors[start : start + len(texts)] = embed(texts, model, batch_size=batch_size)
        start += len(texts)
        on_progress(len(texts))
    return vectors
