"""Document-disjoint train/val/test splits, with near-duplicate and group control.

The unit of a split is never a single QA pair: every pair of a source document (or bundle) lands
in the same split, otherwise a test question's passage would have been trained on through a
sibling question. Units are the connected components of a union-find over source records, joined
when two records

- share a document (a document in a single-document row and in a bundle),
- hold near-duplicate questions (paraphrases; see ``negatives.near_duplicate_links``), or
- contain documents of the same group in a ``--groups-json`` file (dedup or topic clusters).

Units are then assigned to splits by a seeded greedy fill that follows the requested ratios by
*pair* count, and no split with a non-zero share is ever left empty when there are enough units
(the reference floors unit counts and can produce an empty validation set).
"""

from __future__ import annotations

import json
import posixpath
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sdg_program.core.errors import GroupsError

SPLITS = ("train", "val", "test")


class UnionFind:
    """Union-find over string keys; the smallest key of a component is its root, so results are stable."""

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self.parent: dict[str, str] = {}
        for key in keys:
            self.add(key)

    def add(self, key: str) -> None:
        self.parent.setdefault(key, key)

    def find(self, key: str) -> str:
        self.add(key)
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:  # path compression
            self.parent[key], key = root, self.parent[key]
        return root

    def union(self, left: str, right: str) -> bool:
        """Join two components; True if they were separate."""
        a, b = self.find(left), self.find(right)
        if a == b:
            return False
        if b < a:
            a, b = b, a
        self.parent[b] = a
        return True

    def components(self) -> dict[str, str]:
        """Key -> root of its component."""
        return {key: self.find(key) for key in self.parent}


@dataclass
class Unit:
    """A group of source records that must stay in one split."""

    key: str
    records: list[str] = field(default_factory=list)
    documents: set[str] = field(default_factory=set)
    weight: int = 0  # kept QA pairs


def normalise_path(path: str) -> str:
    """Backslashes to slashes and a POSIX normpath, as the reference does for file names."""
    return posixpath.normpath(str(path).replace("\\", "/"))


# ---------------------------------------------------------------------------
# groups JSON (reference format: {"exact"|"fuzzy"|"semantic": {"groups"|"clusters": {id: [doc, ...]}}})
# ---------------------------------------------------------------------------


def load_groups(paths: Sequence[Path]) -> list[list[str]]:
    """Every group of every file, as lists of document names, in file and key order."""
    groups: list[list[str]] = []
    for path in paths:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise GroupsError(f"cannot read groups file {path}: {error}") from error
        if not isinstance(data, dict):
            raise GroupsError(f"{path}: expected a JSON object with keys exact, fuzzy and/or semantic")
        found = False
        for kind in ("exact", "fuzzy", "semantic"):
            section = data.get(kind)
            if section is None:
                continue
            if not isinstance(section, dict):
                raise GroupsError(f"{path}: '{kind}' must be an object holding 'groups' or 'clusters'")
            for name in ("groups", "clusters"):
                members = section.get(name)
                if members is None:
                    continue
                if not isinstance(members, dict) or not all(isinstance(v, list) for v in members.values()):
                    raise GroupsError(f"{path}: '{kind}.{name}' must map group IDs to lists of documents")
                found = True
                groups.extend([str(doc) for doc in docs] for docs in members.values())
        if not found:
            raise GroupsError(f"{path}: no 'groups' or 'clusters' under exact, fuzzy or semantic")
    return groups


class DocumentMatcher:
    """Matches group document names to the file names of the records.

    Order (as in the reference): exact normalised path, then the path without its extension,
    then the basename. A fallback that hits more than one file is an error, never a guess.
    """

    def __init__(self, file_names: Iterable[str]) -> None:
        self.paths: set[str] = set()
        self.stems: dict[str, set[str]] = defaultdict(set)
        self.basenames: dict[str, set[str]] = defaultdict(set)
        for name in file_names:
            path = normalise_path(name)
            self.paths.add(path)
            self.stems[posixpath.splitext(path)[0]].add(path)
            self.basenames[posixpath.basename(path)].add(path)

    def match(self, name: str) -> str | None:
        path = normalise_path(name)
        if path in self.paths:
            return path
        for candidates in (self.stems.get(posixpath.splitext(path)[0]), self.basenames.get(posixpath.basename(path))):
            if not candidates:
                continue
            if len(candidates) > 1:
                raise GroupsError(f"Ambiguous match for group document {name!r}: {sorted(candidates)}")
            return next(iter(candidates))
        return None


# ---------------------------------------------------------------------------
# units
# ---------------------------------------------------------------------------


def build_units(
    record_documents: dict[str, list[str]],
    record_weights: dict[str, int],
    *,
    groups: Sequence[Sequence[str]] = (),
    record_links: Iterable[tuple[str, str]] = (),
) -> tuple[list[Unit], dict[str, int]]:
    """Join records into units; returns the units (sorted by key) and counts for the report.

    ``record_documents`` maps a record's source ID to its documents (file names),
    ``record_links`` are extra pairs of source IDs to keep together (paraphrases).
    """
    finder = UnionFind(record_documents)
    by_document: dict[str, str] = {}
    for source_id in sorted(record_documents):
        for document in record_documents[source_id]:
            other = by_document.setdefault(normalise_path(document), source_id)
            finder.union(other, source_id)
    counts = {"shared_document_merges": 0, "group_merges": 0, "paraphrase_merges": 0, "group_documents_unmatched": 0}
    counts["shared_document_merges"] = len(record_documents) - len(set(finder.components().values()))
    if groups:
        matcher = DocumentMatcher(by_document)
        for group in groups:
            members = []
            for name in group:
                path = matcher.match(name)
                if path is None:
                    counts["group_documents_unmatched"] += 1
                else:
                    members.append(by_document[path])
            for member in members[1:]:
                counts["group_merges"] += finder.union(members[0], member)
    for left, right in record_links:
        counts["paraphrase_merges"] += finder.union(left, right)
    units: dict[str, Unit] = {}
    for source_id, root in sorted(finder.components().items()):
        unit = units.setdefault(root, Unit(key=root))
        unit.records.append(source_id)
        unit.documents.update(normalise_path(d) for d in record_documents[source_id])
        unit.weight += record_weights.get(source_id, 0)
    return [units[key] for key in sorted(units)], counts


# ---------------------------------------------------------------------------
# assignment
# ---------------------------------------------------------------------------


def split_targets(train_ratio: float, val_ratio: float) -> dict[str, float]:
    """Share of pairs per split; test gets the rest."""
    return {"train": train_ratio, "val": val_ratio, "test": max(0.0, 1.0 - train_ratio - val_ratio)}


def assign_splits(units: Sequence[Unit], targets: dict[str, float], seed: int, *, largest_first: bool) -> dict[str, str]:
    """Unit key -> split name. Only units with weight > 0 are assigned.

    Units are shuffled with their own ``random.Random(seed)`` (never the global RNG); with
    ``largest_first`` they are then stable-sorted by weight, largest first, which packs
    group-based splits closer to the ratios. Each unit goes to the split furthest below its
    target pair count. Finally every split with a non-zero share that is still empty takes the
    smallest unit of the split holding the most units, as long as that leaves the donor
    non-empty.
    """
    pool = sorted((unit for unit in units if unit.weight > 0), key=lambda unit: unit.key)
    random.Random(seed).shuffle(pool)
    if largest_first:
        pool.sort(key=lambda unit: -unit.weight)
    active = [name for name in SPLITS if targets.get(name, 0.0) > 0]
    total = sum(unit.weight for unit in pool)
    goal = {name: targets[name] * total for name in active}
    filled = {name: 0 for name in active}
    members: dict[str, list[Unit]] = {name: [] for name in active}
    for unit in pool:
        name = max(active, key=lambda split: (goal[split] - filled[split], -active.index(split)))
        members[name].append(unit)
        filled[name] += unit.weight
    for name in active:
        if members[name]:
            continue
        donor = max(active, key=lambda split: (len(members[split]), -active.index(split)))
        if len(members[donor]) < 2:
            continue
        smallest = min(members[donor], key=lambda unit: (unit.weight, unit.key))
        members[donor].remove(smallest)
        members[name].append(smallest)
    return {unit.key: name for name, assigned in members.items() for unit in assigned}
