"""Load benchmark: `sdg-program generate` over thousands of small documents at concurrency 64.

    .venv/bin/python bench/bench_load.py                         # 500 then 2,000 documents (~3 min on 2 busy cores)
    .venv/bin/python bench/bench_load.py --docs 2000 --concurrency 64 --delay 0.2 --keep

For each corpus size the documents are written to a temporary folder and the real CLI runs as a
subprocess against `tests/openai_stub.py` in its own process (`StubProcess`: valid JSON for every
signature after `--delay` seconds), with the offline MiniLM embedder. Printed, never asserted:

- wall time of the whole command (start-up included) and rows/s, over the whole command and over
  the run's own `wall_seconds` (run.json);
- peak RSS of the generate process, exact (`os.wait4` returns that child's own rusage), and its RSS
  sampled from /proc while rows finish: at a quarter, half, three quarters and all of the rows;
- rows done / failed and the row accounting of `tests/test_load.py`: every seed row's key is in
  records.jsonl or failures.jsonl exactly once, and the server's call count equals the calls the
  records report.

Memory is bounded when the peak RSS of the 2,000-document run is about that of the 500-document
run: rows are pulled lazily and at most `--concurrency` are held at once. (DSPy's call history, up
to 10,000 prompts and responses, grew RSS by ~33 KB per call until `generate` turned it off.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.integration.test_load import account_rows, cli_env, generate_command, write_docs  # noqa: E402
from tests.openai_stub import StubProcess  # noqa: E402

SAMPLE_SECONDS = 0.25

def rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` now, from /proc (None once it has exited)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def run_generate(docs: Path, output: Path, base_url: str, concurrency: int, scratch: Path) -> dict:
    """Run generate as a child; sample (seconds, rows written, RSS) while it runs; reap it with wait4 for its exact peak RSS."""
    command = generate_command(docs, output, base_url, concurrency)
    records = output / "records.jsonl"
    log = scratch / f"generate-{output.name}.log"
    samples: list[tuple[float, int, float]] = []
    rows_written = 0
    offset = 0
    started = time.perf_counter()
    with open(log, "wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=cli_env(scratch))
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid != 0:
            break
        if records.exists():
            with open(records, "rb") as stream:
                stream.seek(offset)
                chunk = stream.read()
            offset += len(chunk)
            rows_written += chunk.count(b"\n")
        rss = rss_mb(process.pid)
        if rss is not None:
            samples.append((time.perf_counter() - started, rows_written, rss))
        time.sleep(SAMPLE_SECONDS)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
    if process.returncode != 0:
        raise SystemExit(f"generate exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
    return {"wall": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "samples": samples}


def rss_at_progress(samples: list[tuple[float, int, float]], total: int) -> dict[str, float]:
    """RSS at the first sample with at least 25/50/75/100% of the rows written."""
    points: dict[str, float] = {}
    for share in (0.25, 0.5, 0.75, 1.0):
        wanted = int(total * share)
        for _, rows, rss in samples:
            if rows >= wanted:
                points[f"{rows} rows"] = rss
                break
    return points


def measure(count: int, args: argparse.Namespace, scratch: Path) -> dict:
    docs = write_docs(scratch / f"docs-{count}", count)
    output = scratch / f"out-{count}"
    with StubProcess(delay=args.delay) as stub:
        result = run_generate(docs, output, stub.base_url, args.concurrency, scratch)
        server = stub.stats()
    run = json.loads((output / "run.json").read_text(encoding="utf-8"))
    accounting = account_rows(output)
    result.update(
        docs=count,
        rows_done=run["counts"]["rows_done"],
        rows_failed=run["counts"]["rows_failed"],
        run_seconds=run["counts"]["wall_seconds"],
        calls=server["calls"],
        max_in_flight=server["max_in_flight"],
        accounting=accounting,
        rss_points=rss_at_progress(result["samples"], accounting.records + accounting.failures),
    )
    return result


def report(result: dict, concurrency: int, delay: float) -> None:
    accounting = result["accounting"]
    rows = result["rows_done"] + result["rows_failed"]
    ideal = concurrency / (3 * delay)  # rows/s if only the server's delay counted (3 calls per row)
    print(f"\n{result['docs']:,} documents, concurrency {concurrency}, stub delay {delay} s")
    print(f"  wall time (whole command)   {result['wall']:.1f} s  ->  {rows / result['wall']:.1f} rows/s")
    print(f"  run wall_seconds (run.json) {result['run_seconds']:.1f} s  ->  {rows / result['run_seconds']:.1f} rows/s (server-bound ideal {ideal:.0f})")
    print(f"  rows done / failed          {result['rows_done']:,} / {result['rows_failed']:,}")
    print(f"  server calls / most in flight  {result['calls']:,} / {result['max_in_flight']}")
    print(f"  peak RSS of generate        {result['peak_rss_mb']:.0f} MB")
    print("  RSS while rows finish       " + ", ".join(f"{name}: {rss:.0f} MB" for name, rss in result["rss_points"].items()))
    lost_ok = "yes" if accounting.ok and accounting.calls_in_records == result["calls"] else "NO"
    print(f"  every row exactly once      {lost_ok} (seed rows {accounting.seed_keys:,}, records {accounting.records:,}, failures {accounting.failures:,}, "
          f"lost {len(accounting.lost)}, repeated {len(accounting.repeated)}, unknown {len(accounting.unknown)}, "
          f"calls in records {accounting.calls_in_records:,})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[500, 2000], help="corpus sizes to run, in order")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds the stub waits before each answer")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (documents, outputs, logs)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-load-"))
    results = []
    try:
        for count in args.docs:
            result = measure(count, args, scratch)
            report(result, args.concurrency, args.delay)
            results.append(result)
        if len(results) > 1:
            first, last = results[0], results[-1]
            print(f"\npeak RSS {first['docs']:,} docs: {first['peak_rss_mb']:.0f} MB; {last['docs']:,} docs: {last['peak_rss_mb']:.0f} MB "
                  f"({last['peak_rss_mb'] / first['peak_rss_mb']:.2f}x for {last['docs'] / first['docs']:.0f}x the documents)")
    finally:
        if args.keep:
            print(f"\nkept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
