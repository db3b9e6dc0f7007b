"""Convert's embedding passes on Ray (``engine="ray"``): the slices of a column, embedded by a pool of actors.

Every embedding pass of convert (the quality gate's question and corpus passes, paraphrase
grouping, hard-negative mining) goes through ``embedding.embed_column``; with the Ray engine that
function hands the column to :class:`RayEmbedding`, which must return the very matrix the local
loop would: the export files are byte-identical whichever engine ran.

Why a Ray row is a whole slice, not a passage: ``SentenceTransformer.encode`` sorts the texts of
one call by length and pads each batch, so a text embedded in a different slice can come out
different in the last bits (measured: splitting 600 texts into two calls changed 274 rows, by up
to 1e-7; torch's thread count, 1 to 4, changed nothing on this CPU). So the driver cuts the column
into exactly the ``EMBED_SLICE``-row slices of the local loop, puts each into the object store as
one single-row Arrow block (``{"slice": i, "texts": [...]}``), and ``map_batches`` with
``batch_size=1`` gives each actor call one whole slice, embedded with the same model and
``batch_size``. Ray can neither split nor merge a slice. Results carry their slice number and are
written into the N x d float32 matrix at the slice's offset as they arrive (``iter_batches``), so
order does not depend on ``preserve_order`` and the driver never holds more than the matrix, one
slice of texts and one slice of results.

Each actor (:class:`SliceEmbedder`) loads the embedder once, by spec, with the Hub switched off
(``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` in its runtime environment); with ``worker_gpus`` it
reserves that share of a GPU and moves the model there (GPU floats differ from CPU ones, so files
are then no longer byte-identical to ``--engine local``). Which cluster, and starting, joining and
leaving it, is ``core.ray_cluster``'s, shared with generate's Ray engine. Ray is imported only when
a pass runs: a conversion that embeds nothing never starts a cluster.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from sdg_program.core.ray_cluster import ray_cluster, worker_env

logger = logging.getLogger(__name__)

# CPUs each actor reserves. Ray then sets OMP_NUM_THREADS=1 in it; torch's thread count does not change the floats (module docstring).
ACTOR_CPUS = 1


def worker_spec(spec: str | None) -> str | None:
    """The embedder spec as workers must see it: a local model folder as an absolute path (their working folder differs)."""
    if spec and Path(spec).expanduser().exists():
        return str(Path(spec).expanduser().resolve())
    return spec


class SliceEmbedder:
    """One Ray actor: loads the embedder once, then embeds one whole slice per call (a single-row Arrow batch)."""

    def __init__(self, spec: str | None, batch_size: int, device: str) -> None:
        from sdg_program.backends.embedder import load_embedder

        self.model = load_embedder(spec)
        if device != "cpu":
            self.model = self.model.to(device)
        self.batch_size = batch_size

    def __call__(self, batch):
        import pyarrow as pa

        from sdg_program.backends.embedder import embed

        slices, vectors, counts = [], [], []
        for number, texts in zip(batch.column("slice").to_pylist(), batch.column("texts").to_pylist()):
            matrix = embed(texts, self.model, batch_size=self.batch_size)
            slices.append(number)
            counts.append(len(texts))
            vectors.append(matrix.tobytes())
        return pa.table({"slice": pa.array(slices, pa.int64()), "rows": pa.array(counts, pa.int64()),
                         "vectors": pa.array(vectors, pa.large_binary())})


class RayEmbedding:
    """The Ray engine of ``embed_column``: joins (or starts) a cluster on first use, and leaves only what it started.

    ``address``: a cluster to join (default ``RAY_ADDRESS``); without one a local cluster is
    started for the run with this machine's CPUs (at least ``num_workers``), no dashboard. When
    Ray is already initialised in this process (a notebook, a test), that session is used and left
    running.
    ``num_workers``: actors in the pool (default: what the cluster's CPUs, or GPUs with
    ``worker_gpus``, allow), never more than there are slices.
    """

    def __init__(self, spec: str | None, *, address: str | None = None, num_workers: int | None = None, worker_gpus: float = 0) -> None:
        self.spec = worker_spec(spec)
        self.address = address
        self.num_workers = num_workers
        self.worker_gpus = worker_gpus
        self._cluster: contextlib.ExitStack | None = None  # open from the first pass until close()

    def embed_column(self, dataset, column: str, batch_size: int, on_progress: Callable[[int], None]) -> np.ndarray:
        """The float32 matrix ``embedding.embed_column`` would compute locally, from the actor pool."""
        from sdg_program.export.embedding import EMBED_SLICE

        total = len(dataset)
        self._connect()
        blocks = list(self._put_slices(dataset, column, EMBED_SLICE))
        vectors: np.ndarray | None = None
        filled = 0
        for number, rows, data in self._results(blocks, batch_size):
            block = np.frombuffer(data, dtype=np.float32).reshape(rows, -1)
            if vectors is None:
                vectors = np.zeros((total, block.shape[1]), dtype=np.float32)
            vectors[number * EMBED_SLICE : number * EMBED_SLICE + rows] = block
            filled += rows
            on_progress(rows)
        if vectors is None or filled != total:  # a lost slice must fail the pass, never leave zero rows
            raise RuntimeError(f"the Ray embedding pass returned {filled} of {total} rows of column {column!r}")
        return vectors

    def close(self) -> None:
        """Shut down (or disconnect from) the cluster if this engine called ``ray.init``; never a session it found running."""
        if self._cluster is not None:
            cluster, self._cluster = self._cluster, None
            cluster.close()

    # -- internals -----------------------------------------------------------------------------

    def _connect(self) -> None:
        """Join ``address`` (else ``RAY_ADDRESS``) or start a local cluster, once; ``core.ray_cluster`` decides which and what to leave."""
        if self._cluster is not None:
            return
        cluster = contextlib.ExitStack()
        # log_to_driver off (ray_cluster's default): worker output would tear the bar
        cluster.enter_context(ray_cluster(self.address, cpus_needed=(self.num_workers or 0) * ACTOR_CPUS))
        self._cluster = cluster

    @staticmethod
    def _put_slices(dataset, column: str, size: int) -> Iterator:
        """Object refs of one single-row Arrow table per slice; the driver holds one slice of texts at a time."""
        import pyarrow as pa
        import ray

        for number, batch in enumerate(dataset.select_columns([column]).with_format("arrow").iter(batch_size=size)):
            texts = batch.column(column).combine_chunks()
            offsets = pa.array([0, len(texts)], pa.int32())
            yield ray.put(pa.table({"slice": pa.array([number], pa.int64()), "texts": pa.ListArray.from_arrays(offsets, texts)}))

    def _results(self, blocks: list, batch_size: int) -> Iterator[tuple[int, int, bytes]]:
        """(slice number, rows, float32 bytes) per slice, in completion order."""
        import ray
        import ray.data

        workers = min(self._pool_size(), len(blocks))
        device = "cuda" if self.worker_gpus > 0 else "cpu"
        dataset = ray.data.from_arrow_refs(blocks).map_batches(
            SliceEmbedder,
            fn_constructor_kwargs={"spec": self.spec, "batch_size": batch_size, "device": device},
            batch_size=1,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=ACTOR_CPUS,
            num_gpus=self.worker_gpus or None,
            runtime_env={"env_vars": worker_env(llm=False)},
            udf_modifying_row_count=False,
        )
        dataset.context.enable_progress_bars = False  # convert draws its own bar (on_progress)
        dataset.context.print_on_execution_start = False
        with _quiet("ray.data"):  # its per-execution INFO lines and the "progress bars disabled" notice
            for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=0):
                yield from zip(batch.column("slice").to_pylist(), batch.column("rows").to_pylist(), batch.column("vectors").to_pylist())

    def _pool_size(self) -> int:
        if self.num_workers:
            return self.num_workers
        import ray

        resources = ray.cluster_resources()
        if self.worker_gpus > 0:
            return max(1, int(resources.get("GPU", 0) / self.worker_gpus))
        return max(1, int(resources.get("CPU", 1) // ACTOR_CPUS))


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Only errors from logger ``name`` inside the block; convert logs its own phases."""
    chosen = logging.getLogger(name)
    level = chosen.level
    chosen.setLevel(logging.ERROR)
    try:
        yield
    finally:
        chosen.setLevel(level)
