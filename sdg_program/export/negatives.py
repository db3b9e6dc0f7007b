"""Similarity search for convert: hard-negative mining and near-duplicate (paraphrase) links.

Hard negatives: a retriever learns most from passages that look relevant but are not. The risk
is a *false* negative, an unlabelled passage that does answer the query (a near copy of a
positive, or a second place stating the fact). Following the positive-aware recipe
(NV-Retriever), a candidate is excluded when it scores above ``margin`` x the score of the
query's *weakest* positive, so only passages clearly less similar than every labelled answer
are used.

Search is exact while queries x corpus is small (one matrix product per block of query rows,
masking, ``torch.topk``). Above ``EXACT_MAX_CELLS`` it switches to an inverted-file (IVF) search:
spherical k-means cuts the corpus into about sqrt(N) clusters, each query is scored only against
the ``nprobe`` clusters whose centroids are closest, and the candidates are merged. On 2 CPU
cores a float32 matrix product runs at ~30 GFLOPS, so exact search of 64,000 queries against
180,000 passages costs ~5 minutes; IVF costs seconds. A hard negative does not have to be *the*
most similar passage, only a very similar one, and a paraphrase (cosine > 0.9) lies next to its
twin, so the few neighbours IVF can miss change little. Both paths are deterministic (seeded
k-means, stable sorts).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

# Score-matrix cells per block (float32): 2**25 cells = 128 MB, whatever the corpus size.
BLOCK_CELLS = 2**25
# Up to this many query x corpus cells the search is exact (2**28 cells: ~7 s on 2 cores).
EXACT_MAX_CELLS = 2**28
# IVF: clusters probed per query, k-means iterations and sample size per cluster.
NPROBE = 16
KMEANS_ITERATIONS = 10
KMEANS_SAMPLE_PER_CLUSTER = 64
NEG_INF = float("-inf")


@dataclass
class MiningStats:
    """What mining did, for the report."""

    queries: int = 0
    negatives: int = 0
    queries_short: int = 0  # queries that got fewer negatives than requested (tiny corpus)
    excluded_as_likely_positive: int = 0  # candidates above margin x weakest-positive score
    approximate: bool = False  # IVF search was used


def block_rows(corpus_size: int, cells: int = BLOCK_CELLS) -> int:
    """Query rows per block so that one block of scores stays under ``cells`` floats."""
    return max(1, cells // max(1, corpus_size))


def _tensor(matrix: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32))


# ---------------------------------------------------------------------------
# hard negatives
# ---------------------------------------------------------------------------


def mine_hard_negatives(
    query_vectors: np.ndarray,
    corpus_vectors: np.ndarray,
    positives: Sequence[Sequence[int]],
    num_negatives: int,
    margin: float,
    *,
    cells: int = BLOCK_CELLS,
    exact_max_cells: int = EXACT_MAX_CELLS,
    seed: int = 0,
) -> tuple[list[list[int]], MiningStats]:
    """Indices of up to ``num_negatives`` hard negatives per query, most similar first.

    ``query_vectors`` (Q x d) and ``corpus_vectors`` (N x d) must be L2-normalised, so a dot
    product is the cosine. ``positives[i]`` holds corpus row indices of query i's positives
    (at least one). A candidate is excluded when it is a positive or scores above
    ``margin * min(positive scores)``.
    """
    count = len(positives)
    if count != len(query_vectors):
        raise ValueError(f"{len(query_vectors)} query vectors but {count} positive lists")
    stats = MiningStats(queries=count)
    if count == 0 or num_negatives <= 0 or len(corpus_vectors) == 0:
        stats.queries_short = count if num_negatives > 0 else 0
        return [[] for _ in range(count)], stats
    queries, corpus = _tensor(query_vectors), _tensor(corpus_vectors)
    rows, cols = _positive_cells(positives)
    with torch.inference_mode():
        positive_scores = (queries[rows] * corpus[cols]).sum(dim=1)
        weakest = torch.full((count,), float("inf")).scatter_reduce_(0, rows, positive_scores, reduce="amin")
        limits = margin * weakest
        if count * len(corpus) <= exact_max_cells:
            result = _mine_exact(queries, corpus, rows, cols, limits, num_negatives, cells, stats)
        else:
            stats.approximate = True
            result = _mine_ivf(queries, corpus, rows, cols, positive_scores, limits, num_negatives, seed, stats)
    for picked in result:
        stats.negatives += len(picked)
        stats.queries_short += len(picked) < num_negatives
    return result, stats


def _positive_cells(positives: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(query row, corpus row) index tensors of every positive."""
    rows: list[int] = []
    cols: list[int] = []
    for row, indices in enumerate(positives):
        if not indices:
            raise ValueError(f"query {row} has no positive")
        rows.extend([row] * len(indices))
        cols.extend(indices)
    return torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long)


def _mine_exact(queries, corpus, rows, cols, limits, num_negatives, cells, stats) -> list[list[int]]:
    """Score every query against the whole corpus, a block of query rows at a time."""
    k = min(num_negatives, corpus.shape[0])
    result: list[list[int]] = []
    step = block_rows(corpus.shape[0], cells)
    for start in range(0, queries.shape[0], step):
        stop = min(start + step, queries.shape[0])
        scores = queries[start:stop] @ corpus.T
        inside = (rows >= start) & (rows < stop)
        block_rows_, block_cols = rows[inside] - start, cols[inside]
        too_close = scores > limits[start:stop].unsqueeze(1)
        too_close[block_rows_, block_cols] = False
        stats.excluded_as_likely_positive += int(torch.count_nonzero(too_close))
        scores.masked_fill_(too_close, NEG_INF)
        scores[block_rows_, block_cols] = NEG_INF
        values, indices = torch.topk(scores, k, dim=1)
        for row_values, row_indices in zip(values.tolist(), indices.tolist()):
            result.append([index for value, index in zip(row_values, row_indices) if value != NEG_INF])
    return result


def _mine_ivf(queries, corpus, rows, cols, positive_scores, limits, num_negatives, seed, stats) -> list[list[int]]:
    """Score each query against its ``NPROBE`` nearest clusters only; positives are removed afterwards."""
    index = IVFIndex.build(corpus, seed)
    probes = index.probe(queries, NPROBE)
    count, width = queries.shape[0], probes.shape[1]
    most_positives = int(torch.bincount(rows).max())
    per_probe = num_negatives + most_positives
    # candidates[q, slot * per_probe + j]: the j-th best row of the query's slot-th probed cluster
    scores = torch.full((count * width, per_probe), NEG_INF)
    found = torch.zeros((count * width, per_probe), dtype=torch.long)
    excluded = 0
    for positions, asking, members, values, slots, masked in index.search(queries, probes, per_probe, limits=limits):
        scores[positions, : values.shape[1]] = values
        found[positions, : values.shape[1]] = members[slots]
        excluded += masked
    scores, found = scores.view(count, -1), found.view(count, -1)
    # positives that were scored and masked are not "excluded candidates"
    probed = (probes[rows] == index.assignment[cols].unsqueeze(1)).any(dim=1)
    stats.excluded_as_likely_positive = excluded - int(torch.count_nonzero(probed & (positive_scores > limits[rows])))
    padded = torch.full((count, most_positives), -1, dtype=torch.long)
    slot_of = torch.arange(len(rows)) - torch.searchsorted(rows, rows)  # rows are sorted: rank within the query
    padded[rows, slot_of] = cols
    scores.masked_fill_((found.unsqueeze(2) == padded.unsqueeze(1)).any(dim=2), NEG_INF)
    values, best = torch.topk(scores, min(num_negatives, scores.shape[1]), dim=1)
    picked = torch.gather(found, 1, best)
    result = [[index for value, index in zip(row_values, row_ids) if value != NEG_INF]
              for row_values, row_ids in zip(values.tolist(), picked.tolist())]
    # A query whose positives score low against it has a low limit, and its nearest clusters may
    # hold nothing under it: search those few queries exactly.
    wanted = min(num_negatives, corpus.shape[0])
    short = [row for row, chosen in enumerate(result) if len(chosen) < wanted]
    if short:
        position = torch.full((count,), -1, dtype=torch.long)
        position[short] = torch.arange(len(short))
        inside = position[rows] >= 0
        redo = _mine_exact(queries[short], corpus, position[rows[inside]], cols[inside], limits[short], num_negatives, BLOCK_CELLS, stats)
        for row, chosen in zip(short, redo):
            result[row] = chosen
    return result


# ---------------------------------------------------------------------------
# IVF index
# ---------------------------------------------------------------------------


@dataclass
class IVFIndex:
    """Corpus rows grouped by their nearest k-means centroid (an inverted file)."""

    vectors: torch.Tensor
    centroids: torch.Tensor
    assignment: torch.Tensor  # cluster of each row
    members: list[torch.Tensor]  # row indices per cluster, ascending

    @classmethod
    def build(cls, vectors: torch.Tensor, seed: int) -> "IVFIndex":
        clusters = max(1, min(4096, int(np.sqrt(vectors.shape[0]))))
        centroids = spherical_kmeans(vectors, clusters, seed)
        assignment = nearest(vectors, centroids, 1)[:, 0]
        order = torch.argsort(assignment, stable=True)
        counts = torch.bincount(assignment, minlength=clusters).tolist()
        members = list(torch.split(order, counts))
        return cls(vectors, centroids, assignment, members)

    def probe(self, queries: torch.Tensor, nprobe: int) -> torch.Tensor:
        """The ``nprobe`` clusters nearest to each query (Q x nprobe)."""
        return nearest(queries, self.centroids, min(nprobe, self.centroids.shape[0]))

    def search(
        self,
        queries: torch.Tensor,
        probes: torch.Tensor,
        k: int,
        *,
        limits: torch.Tensor | None = None,
        query_groups: torch.Tensor | None = None,
        base_groups: torch.Tensor | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]]:
        """Per probed cluster, the top-``k`` rows for each query probing it.

        Yields ``(positions, queries, members, values, slots, masked)``: ``positions`` index the
        flattened (query, probe slot) pairs, ``members[slots]`` are the rows found, ``values`` their
        scores (-inf where fewer than ``k`` qualified). Scores above ``limits[query]`` are masked
        (``masked`` counts them), as are rows whose group equals the query's (same owner, or itself).
        """
        flat_clusters = probes.reshape(-1)
        order = torch.argsort(flat_clusters, stable=True)
        flat_queries = order // probes.shape[1]
        bounds = torch.bincount(flat_clusters, minlength=len(self.members)).tolist()
        for cluster, (positions, asking) in enumerate(zip(torch.split(order, bounds), torch.split(flat_queries, bounds))):
            members = self.members[cluster]
            if len(asking) == 0 or len(members) == 0:
                continue
            block = queries[asking] @ self.vectors[members].T
            masked = 0
            if limits is not None:
                over = block > limits[asking].unsqueeze(1)
                masked = int(torch.count_nonzero(over))
                block.masked_fill_(over, NEG_INF)
            if query_groups is not None:
                block.masked_fill_(query_groups[asking].unsqueeze(1) == base_groups[members].unsqueeze(0), NEG_INF)
            values, slots = torch.topk(block, min(k, len(members)), dim=1)
            yield positions, asking, members, values, slots, masked


def nearest(vectors: torch.Tensor, centroids: torch.Tensor, k: int, cells: int = BLOCK_CELLS) -> torch.Tensor:
    """Indices of the ``k`` most similar centroids per vector, computed in blocks."""
    parts = []
    step = block_rows(centroids.shape[0], cells)
    for start in range(0, vectors.shape[0], step):
        parts.append(torch.topk(vectors[start : start + step] @ centroids.T, k, dim=1).indices)
    return torch.cat(parts) if parts else torch.zeros((0, k), dtype=torch.long)


def spherical_kmeans(vectors: torch.Tensor, clusters: int, seed: int, iterations: int = KMEANS_ITERATIONS) -> torch.Tensor:
    """Unit-length centroids fitted on a seeded sample (k-means on the sphere: assign by cosine, mean, renormalise)."""
    rng = np.random.default_rng(seed)
    total = vectors.shape[0]
    sample_size = min(total, clusters * KMEANS_SAMPLE_PER_CLUSTER)
    sample = vectors[torch.from_numpy(np.sort(rng.choice(total, size=sample_size, replace=False)))]
    centroids = sample[torch.from_numpy(np.sort(rng.choice(sample_size, size=clusters, replace=False)))].clone()
    for _ in range(iterations):
        assignment = nearest(sample, centroids, 1)[:, 0]
        sums = torch.zeros_like(centroids).index_add_(0, assignment, sample)
        filled = torch.bincount(assignment, minlength=clusters) > 0
        centroids[filled] = torch.nn.functional.normalize(sums[filled], dim=1)
    return centroids


# ---------------------------------------------------------------------------
# near-duplicate links
# ---------------------------------------------------------------------------


def near_duplicate_links(
    vectors: np.ndarray,
    owners: Sequence[int],
    threshold: float,
    *,
    neighbours: int = 10,
    cells: int = BLOCK_CELLS,
    exact_max_cells: int = EXACT_MAX_CELLS,
    seed: int = 0,
) -> list[tuple[int, int]]:
    """Pairs of *owners* (e.g. source records) that hold two texts with cosine above ``threshold``.

    For each text, at most ``neighbours`` of its best matches among texts of other owners
    become links. The cap keeps the output linear in the number of texts even when thousands
    of texts are identical; such a cluster stays connected, because each member links to
    several others. Returns sorted, de-duplicated ``(smaller owner, larger owner)`` pairs.
    """
    total = len(vectors)
    if total != len(owners):
        raise ValueError(f"{total} vectors but {len(owners)} owners")
    if total < 2:
        return []
    matrix = _tensor(vectors)
    owner_ids = torch.as_tensor(np.asarray(owners, dtype=np.int64))
    with torch.inference_mode():
        if total * total <= exact_max_cells:
            pairs = _links_exact(matrix, owner_ids, threshold, neighbours, cells)
        else:
            index = IVFIndex.build(matrix, seed)
            pairs = []
            for _, asking, members, values, slots, _ in index.search(matrix, index.probe(matrix, NPROBE // 2), neighbours,
                                                                     query_groups=owner_ids, base_groups=owner_ids):
                hit = values > threshold
                if bool(hit.any()):
                    left = owner_ids[asking.unsqueeze(1).expand_as(slots)[hit]]
                    right = owner_ids[members[slots][hit]]
                    pairs.extend(zip(left.tolist(), right.tolist()))
    return sorted({(min(left, right), max(left, right)) for left, right in pairs})


def _links_exact(matrix, owner_ids, threshold, neighbours, cells) -> list[tuple[int, int]]:
    """Each text against every later text, a block of rows at a time."""
    total = matrix.shape[0]
    pairs = []
    step = block_rows(total, cells)
    for start in range(0, total - 1, step):
        stop = min(start + step, total)
        scores = matrix[start:stop] @ matrix[start:].T
        scores.masked_fill_(owner_ids[start:stop].unsqueeze(1) == owner_ids[start:].unsqueeze(0), NEG_INF)
        size = stop - start
        scores[:, :size].masked_fill_(torch.ones(size, size, dtype=torch.bool).tril(), NEG_INF)
        values, indices = torch.topk(scores, min(neighbours, scores.shape[1]), dim=1)
        for row, slot in (values > threshold).nonzero().tolist():
            pairs.append((int(owner_ids[start + row]), int(owner_ids[start + int(indices[row, slot])])))
    return pairs
