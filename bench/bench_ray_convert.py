"""convert's embedding throughput, local engine vs Ray actor pools (issue 15), in passages per second.

    python bench/bench_ray_convert.py                          # 1,024 passages, Ray with 1 and 2 workers
    python bench/bench_ray_convert.py --passages 4096 --workers 1 2 4

One embedding pass is what convert runs per column (``export.embedding.embed_column``): the
local engine embeds the slices in this process with torch's threads; the Ray engine
(``export.ray_embedding``) ships the same slices to an actor pool on a local Ray cluster and
fills the matrix as slices finish. Passages are ~500 characters of docs_dspy text (the shared
corpus), or synthetic words when it is absent. Slices are ``--slice`` rows for both engines (the
default 4,096 would give a small run a single slice, hence a single busy actor).

Per engine it prints the wall time of one pass, passages/s, and for Ray the pool's start-up (a
pass over one short text: actor start, imports, model load; paid once per pass) and the rate
without it. Every Ray result is checked bit for bit against the local matrix. On one machine the
local engine already uses every core through torch's threads, so Ray cannot beat it there; what
Ray adds is more machines (and GPU actors). ``convert_throughput`` is also called by
bench/bench_ray.py.
"""

from __future__ import annotations

import argparse
import logging
import re
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_CORPUS = REPO.parent / "shared" / "corpora" / "docs_dspy"
PASSAGE_CHARS = 500


def passages(count: int, source: Path = SHARED_CORPUS) -> list[str]:
    """``count`` passages of ~PASSAGE_CHARS characters, cut in order from the shared corpus (synthetic words without it)."""
    words: list[str] = []
    for path in sorted(source.rglob("*.md")) if source.is_dir() else []:
        words.extend(re.findall(r"\S+", path.read_text(encoding="utf-8", errors="replace")))
    if not words:
        words = [f"word{index % 997}" for index in range(50_000)]
    per_passage = max(10, PASSAGE_CHARS // 8)  # docs_dspy words average ~8 characters with their space
    span = max(1, len(words) - per_passage)
    starts = [(index * per_passage) % span for index in range(count)]
    return [" ".join(words[start : start + per_passage]) for start in starts]


def convert_throughput(count: int = 1024, workers: tuple[int, ...] = (1, 2), slice_rows: int = 256, batch_size: int = 64,
                       spec: str | None = None, printer=print) -> dict[str, dict[str, float]]:
    """Embed ``count`` passages once per engine; returns {engine: {"seconds", "passages_per_s", ...}} and prints a table.

    The local cluster (all CPUs, no dashboard) is started here unless Ray is already initialised,
    and shut down at the end only if started here.
    """
    import datasets
    import numpy as np
    import ray

    from sdg_program.backends.embedder import load_embedder
    from sdg_program.export import embedding
    from sdg_program.export.ray_embedding import RayEmbedding

    column = datasets.Dataset.from_dict({"text": passages(count)})
    warmup = datasets.Dataset.from_dict({"text": ["warm-up"]})
    results: dict[str, dict[str, float]] = {}
    previous_slice = embedding.EMBED_SLICE
    embedding.EMBED_SLICE = slice_rows
    started = not ray.is_initialized()
    try:
        model = load_embedder(spec)
        embedding.embed_column(warmup, "text", model, batch_size, lambda rows: None)
        began = time.perf_counter()
        expected = embedding.embed_column(column, "text", model, batch_size, lambda rows: None)
        seconds = time.perf_counter() - began
        results["local"] = {"seconds": seconds, "passages_per_s": count / seconds}
        if started:
            ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
        for size in workers:
            engine = RayEmbedding(spec, num_workers=size)
            began = time.perf_counter()
            embedding.embed_column(warmup, "text", engine, batch_size, lambda rows: None)
            startup = time.perf_counter() - began
            began = time.perf_counter()
            vectors = embedding.embed_column(column, "text", engine, batch_size, lambda rows: None)
            seconds = time.perf_counter() - began
            results[f"ray x{size}"] = {
                "seconds": seconds, "passages_per_s": count / seconds, "startup_s": startup,
                "passages_per_s_after_startup": count / max(1e-9, seconds - startup),
                "identical": float(vectors.dtype == np.float32 and vectors.tobytes() == expected.tobytes()),
            }
    finally:
        embedding.EMBED_SLICE = previous_slice
        if started and ray.is_initialized():
            ray.shutdown()
    _print(results, count, slice_rows, batch_size, printer)
    return results


def _print(results: dict[str, dict[str, float]], count: int, slice_rows: int, batch_size: int, printer) -> None:
    printer(f"convert embedding pass: {count} passages of ~{PASSAGE_CHARS} chars, slices of {slice_rows}, batch size {batch_size}")
    printer(f"{'engine':<10} {'seconds':>8} {'passages/s':>11} {'pool start s':>13} {'passages/s w/o start':>21} {'bit-identical':>14}")
    for name, row in results.items():
        startup = f"{row['startup_s']:.1f}" if "startup_s" in row else "-"
        steady = f"{row['passages_per_s_after_startup']:.1f}" if "startup_s" in row else "-"
        identical = "-" if "identical" not in row else ("yes" if row["identical"] else "NO")
        printer(f"{name:<10} {row['seconds']:>8.1f} {row['passages_per_s']:>11.1f} {startup:>13} {steady:>21} {identical:>14}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=1024)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--slice", type=int, default=256, help="rows per slice, both engines")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--embedder", default=None)
    args = parser.parse_args()
    convert_throughput(args.passages, tuple(args.workers), args.slice, args.batch_size, args.embedder)


if __name__ == "__main__":
    main()
