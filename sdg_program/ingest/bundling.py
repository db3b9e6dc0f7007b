"""Decide which documents go together in a multi-document bundle.

Bundles let the generator ask cross-document questions. They come from an explicit
manifest first; the remaining documents are grouped either by sorted path
(``sequential``, what the reference tool does) or by topic (``semantic``: documents
whose opening text embeds close together share a bundle).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from sdg_program.core.errors import ManifestError


def load_manifest(path: Path) -> list[list[str]]:
    """Read a manifest: a JSON/YAML list of lists, or ``{"bundles": [{"docs": [...]}]}``.

    Paths are relative to the input folder. Raises :class:`ManifestError` with the
    reason for anything else, so a typo never silently turns into default bundles.
    """
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ManifestError(f"cannot read manifest {path}: {error.strerror or error}") from error
    try:
        data = json.loads(raw) if path.suffix.lower() == ".json" else yaml.safe_load(raw)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise ManifestError(f"manifest {path} is not valid {path.suffix.lstrip('.').upper() or 'YAML'}: {error}") from error
    if isinstance(data, dict):
        if "bundles" not in data or not isinstance(data["bundles"], list):
            raise ManifestError(f"manifest {path}: a mapping needs a 'bundles' list")
        bundles = []
        for index, entry in enumerate(data["bundles"]):
            if not isinstance(entry, dict) or not isinstance(entry.get("docs"), list):
                raise ManifestError(f"manifest {path}: bundles[{index}] needs a 'docs' list")
            bundles.append(entry["docs"])
    elif isinstance(data, list):
        bundles = data
    else:
        raise ManifestError(f"manifest {path}: expected a list of bundles or a mapping with 'bundles'")
    result: list[list[str]] = []
    for index, bundle in enumerate(bundles):
        if not isinstance(bundle, list) or not bundle or not all(isinstance(doc, str) for doc in bundle):
            raise ManifestError(f"manifest {path}: bundle {index} must be a non-empty list of paths")
        result.append([Path(doc).as_posix().removeprefix("./") for doc in bundle])
    return result


def check_manifest(bundles: list[list[str]], known_docs: set[str], max_docs_per_bundle: int) -> None:
    """Reject unknown documents, documents used twice and oversized bundles."""
    used: set[str] = set()
    for index, bundle in enumerate(bundles):
        if len(bundle) > max_docs_per_bundle:
            raise ManifestError(
                f"manifest bundle {index} has {len(bundle)} documents, more than --max-docs-per-bundle {max_docs_per_bundle}"
            )
        for doc in bundle:
            if doc not in known_docs:
                raise ManifestError(f"manifest bundle {index}: {doc!r} is not among the matched files")
            if doc in used:
                raise ManifestError(f"manifest bundle {index}: {doc!r} is already in another bundle")
            used.add(doc)


def group_sequential(doc_ids: list[str], bundle_size: int) -> list[list[str]]:
    """Consecutive groups of ``bundle_size`` in the given order; the last may be smaller."""
    return [doc_ids[start : start + bundle_size] for start in range(0, len(doc_ids), bundle_size)]


def group_semantic(doc_ids: list[str], embeddings: np.ndarray, bundle_size: int) -> list[list[str]]:
    """Greedy topical grouping: each ungrouped document, in path order, takes its nearest ungrouped neighbours.

    ``embeddings`` are L2-normalised rows aligned with ``doc_ids``. Ties break by path
    order, so the result is deterministic.
    """
    if len(doc_ids) != len(embeddings):
        raise ValueError("one embedding per document is required")
    similarity = embeddings @ embeddings.T if len(doc_ids) else np.zeros((0, 0))
    remaining = list(range(len(doc_ids)))
    bundles: list[list[str]] = []
    while remaining:
        anchor = remaining.pop(0)
        if remaining:
            scores = similarity[anchor, remaining]
            order = np.argsort(-scores, kind="stable")[: bundle_size - 1]
            partners = sorted(remaining[position] for position in order)
        else:
            partners = []
        for partner in partners:
            remaining.remove(partner)
        bundles.append([doc_ids[index] for index in [anchor, *partners]])
    return bundles
