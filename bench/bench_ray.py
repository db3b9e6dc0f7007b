"""Ray benchmarks (issue 15): one command, one table per part. Figures are printed, never asserted.

    python bench/bench_ray.py                          # generate part, then the convert part (~3-5 min on 2 cores)
    python bench/bench_ray.py --rows 320 --skip-convert
    python bench/bench_ray.py --workers 1 2 4 --concurrency 64 --delay 0.2

Generate part: rows/s of the same seed rows against `tests/openai_stub.py` (a stub OpenAI server in its
own process, every call answered after --delay seconds) at one total concurrency, for the local engine
(threads in this process) and for `--engine ray` with 1 and 2 worker actors (each with its share of the
concurrency as threads). Both engines write through the driver's own path: `Checkpoint.append` (one
fsync'd line per row) and `RunStats.add_record`, called from the pool's feed loop.

- rows/s is measured after each engine's start (program built, workers up) and a short warm-up, so it
  is the steady state; the start time is printed beside it.
- driver CPU ms/row: this process's CPU time per written row during the timed run. For the local
  engine that is all the work; for Ray it is what the single writer pays per row (feeding rows,
  ray.wait/get, unpickling the record, the append and the counts).
- writer ms/row: the append + counts alone (a replay of the records just written), wall and CPU:
  1000 / that is the rows/s at which one writer saturates.
- projection: N nodes like this one (each running the 2-worker setup measured here), limited by the
  driver: min(N x node rows/s, 1000 / driver CPU ms per row). It assumes the endpoint keeps up.

Convert part: convert's embedding throughput local vs Ray (`bench/bench_ray_convert.py`).

Nothing leaves 127.0.0.1; Ray's local cluster is started here with no dashboard.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SCRATCH = Path(tempfile.mkdtemp(prefix="bench-ray-"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-a-real-key")  # set before the cluster starts: its workers inherit it


def write_docs(count: int) -> Path:
    docs = SCRATCH / "docs"
    docs.mkdir(exist_ok=True)
    for number in range(count):
        (docs / f"doc{number:04d}.txt").write_text(
            f"Unit {number} of the plant has pump P{number} rated at {number + 10} litres per minute. "
            f"Valve V{number} opens when line {number} passes {60 + number % 30} degrees. "
            f"Operators of unit {number} record the pressure every {number % 7 + 1} hours.\n",
            encoding="utf-8",
        )
    return docs


def keyed_rows(config, skip: int = 0, limit: int | None = None):
    """The seed rows with their keys, pulled lazily as the runner's own generator does."""
    from itertools import islice

    from sdg_program.ingest.chunking import ChunkingReport, iter_seed_rows
    from sdg_program.runner.config import row_key

    fingerprint = config.fingerprint()
    rows = iter_seed_rows(config.chunking, ChunkingReport())
    for row in islice(rows, skip, None if limit is None else skip + limit):
        yield row, row_key(row, fingerprint)


class Writer:
    """The driver's callbacks, as `generate` has them: one fsync'd JSONL line and the counts per row."""

    def __init__(self, output_dir: Path) -> None:
        from sdg_program.runner.checkpoint import Checkpoint
        from sdg_program.runner.stats import RunStats

        output_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint = Checkpoint(output_dir)
        self.stats = RunStats()
        self.records: list = []

    def on_record(self, record) -> None:
        self.checkpoint.append(self.checkpoint.records_path, record.model_dump(mode="json"))
        self.stats.add_record(record)
        self.records.append(record)

    def on_failure(self, failure) -> None:
        self.checkpoint.append(self.checkpoint.failures_path, failure.model_dump(mode="json"))
        self.stats.add_failure(failure)


def timed(run, config, writer: Writer, args) -> dict:
    """Warm up, then time ``run(rows, writer)`` on --rows rows: wall, this process's CPU, rows written."""
    run(keyed_rows(config, 0, args.warmup), Writer(SCRATCH / "warmup"))
    wall, cpu = time.perf_counter(), time.process_time()
    run(keyed_rows(config, args.warmup, args.rows), writer)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    done = writer.stats.rows_done
    return {"rows": done, "failed": writer.stats.rows_failed, "seconds": wall, "rows_per_s": done / wall, "driver_cpu_ms": 1000 * cpu / max(1, done)}


def local_engine(config, args) -> dict:
    from sdg_program.runner.generation import build_program
    from sdg_program.runner.rows import run_rows

    started = time.perf_counter()
    program, _ = build_program(config)
    start_seconds = time.perf_counter() - started

    def run(rows, writer: Writer) -> None:
        run_rows(program, rows, concurrency=args.concurrency, on_record=writer.on_record, on_failure=writer.on_failure)

    writer = Writer(SCRATCH / "out-local")
    return {"engine": "local", "workers": 0, "start_s": start_seconds, **timed(run, config, writer, args), "writer": writer}


def ray_engine(config, workers: int, args) -> dict:
    from sdg_program.runner.ray_engine import ray_workers

    config = config.model_copy(update={"engine": "ray", "num_workers": workers})
    started = time.perf_counter()
    with ray_workers(config, verbose=False) as pool:
        start_seconds = time.perf_counter() - started

        def run(rows, writer: Writer) -> None:
            pool.run_rows(rows, on_record=writer.on_record, on_failure=writer.on_failure)

        writer = Writer(SCRATCH / f"out-ray-{workers}")
        result = timed(run, config, writer, args)
    return {"engine": "ray", "workers": workers, "start_s": start_seconds, **result, "writer": writer}


def writer_cost(records: list) -> tuple[float, float]:
    """Wall and CPU ms per row of the writer alone, replaying ``records`` into a fresh folder."""
    writer = Writer(SCRATCH / "writer-replay")
    wall, cpu = time.perf_counter(), time.process_time()
    for record in records:
        writer.on_record(record)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return 1000 * wall / max(1, len(records)), 1000 * cpu / max(1, len(records))


def generate_section(args) -> None:
    import ray

    from sdg_program.core.ray_cluster import worker_env
    from sdg_program.ingest.config import ChunkingConfig
    from sdg_program.program.settings import GenerationSettings
    from sdg_program.runner.config import GenerateConfig
    from tests.openai_stub import StubProcess

    docs = write_docs(args.warmup + args.rows)
    load_before = os.getloadavg()[0]
    results = []
    with StubProcess(delay=args.delay) as stub:
        config = GenerateConfig(chunking=ChunkingConfig(input_dir=docs), generation=GenerationSettings(num_pairs=2), output_dir=SCRATCH / "unused",
                                lm="openai/stub-model", api_base=stub.base_url, structured_output="json_schema", concurrency=args.concurrency)
        calls_before = stub.stats()["calls"]
        results.append(local_engine(config, args))
        calls_per_row = (stub.stats()["calls"] - calls_before) / max(1, args.warmup + results[0]["rows"] + results[0]["failed"])
        # One cluster for every Ray run, so each run's start is the workers' start alone.
        cluster_started = time.perf_counter()
        ray.init(address="local", num_cpus=max(os.cpu_count() or 1, max(args.workers)), include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING, runtime_env={"env_vars": worker_env()})
        cluster_seconds = time.perf_counter() - cluster_started
        try:
            for workers in args.workers:
                results.append(ray_engine(config, workers, args))
        finally:
            ray.shutdown()

    ideal = args.concurrency / (calls_per_row * args.delay)
    local = results[0]
    print(f"\nGenerate: {args.rows} rows (after {args.warmup} warm-up rows) against the stub ({args.delay * 1000:.0f} ms per call, "
          f"{calls_per_row:.2f} calls per row), total concurrency {args.concurrency}; ideal {ideal:.1f} rows/s")
    print(f"   {'engine':>7} {'workers':>7} {'rows/job':>8} {'start s':>7} {'rows':>5} {'failed':>6} {'seconds':>7} {'rows/s':>7} {'x local':>7} {'of ideal':>8} {'driver CPU ms/row':>17}")
    for r in results:
        per_worker = math.ceil(args.concurrency / r["workers"]) if r["workers"] else args.concurrency
        print(f"   {r['engine']:>7} {r['workers'] or '-':>7} {per_worker:8d} {r['start_s']:7.1f} {r['rows']:5d} {r['failed']:6d} {r['seconds']:7.1f} "
              f"{r['rows_per_s']:7.1f} {r['rows_per_s'] / local['rows_per_s']:7.2f} {r['rows_per_s'] / ideal:8.0%} {r['driver_cpu_ms']:17.2f}")
    print(f"   start: building the program in this process, its imports done (local), or the workers' start, imports included, on a running cluster "
          f"(Ray; the cluster itself took {cluster_seconds:.1f} s)")
    print("   rows/job: rows each worker (or this process) runs at once; driver CPU ms/row: all the work for local, the single writer's share for Ray")

    wall_ms, cpu_ms = writer_cost(local["writer"].records)
    rays = [r for r in results if r["engine"] == "ray"]
    print(f"\n   writer alone (append with fsync + counts), replaying {len(local['writer'].records)} records: {wall_ms:.2f} ms wall, {cpu_ms:.2f} ms CPU per row "
          f"-> one writer saturates near {1000 / wall_ms:.0f} rows/s")
    if rays:
        node = max(rays, key=lambda r: r["workers"])
        # The driver's thread per row: its CPU, plus the fsync it waits for (the writer's wall beyond its CPU).
        driver_ms = node["driver_cpu_ms"] + max(0.0, wall_ms - cpu_ms)
        driver_cap = 1000 / driver_ms
        node_rate = node["rows_per_s"]
        print(f"   driver cost with Ray ({node['workers']} workers): {node['driver_cpu_ms']:.2f} ms CPU + {max(0.0, wall_ms - cpu_ms):.2f} ms waiting for fsync "
              f"= {driver_ms:.2f} ms per row -> the driver saturates near {driver_cap:.0f} rows/s")
        print(f"\n   projection, N nodes like this one ({node['workers']} workers, {node_rate:.1f} rows/s each), one driver, an endpoint that keeps up:")
        for nodes in (1, 10, 100):
            rate = min(nodes * node_rate, driver_cap)
            bound = "nodes" if rate == nodes * node_rate else "driver"
            print(f"   {nodes:5d} nodes: {rate:8.0f} rows/s ({bound}-bound); 100,000 rows in {100_000 / rate / 3600:.2f} h")
    print(f"   (1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores)")


# ============================================================================ convert part (issue 15, convert side)


def convert_section(args) -> None:
    """Convert's embedding throughput, --engine local vs --engine ray (bench/bench_ray_convert.py), bit-identity checked there."""
    from bench_ray_convert import convert_throughput

    print("\nConvert: embedding passes, passages/s (the slices convert embeds, one engine after the other)")
    convert_throughput(count=args.passages, workers=tuple(args.workers), printer=lambda line: print(f"   {line}"))


# ============================================================================ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=640, help="Timed rows per engine.")
    parser.add_argument("--warmup", type=int, default=32, help="Rows run before the timed rows (connections, first calls).")
    parser.add_argument("--concurrency", type=int, default=64, help="Total rows in flight, spread evenly over the Ray workers.")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray worker counts to measure.")
    parser.add_argument("--delay", type=float, default=0.2, help="Stub reply delay in seconds.")
    parser.add_argument("--skip-generate", action="store_true")
    parser.add_argument("--skip-convert", action="store_true")
    parser.add_argument("--passages", type=int, default=1024, help="Passages embedded per engine in the convert part.")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch folder.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("dspy").setLevel(logging.ERROR)
    import dspy

    dspy.settings.configure(disable_history=True)  # as the CLI does, and as every Ray worker does
    try:
        if not args.skip_generate:
            generate_section(args)
        if not args.skip_convert:
            convert_section(args)
    finally:
        if args.keep:
            print(f"\n(scratch kept: {SCRATCH})")
        else:
            import shutil

            shutil.rmtree(SCRATCH, ignore_errors=True)


if __name__ == "__main__":
    main()
