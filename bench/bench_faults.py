"""Fault-run benchmark: what a generate run does when the endpoint misbehaves. Figures printed, not asserted.

    python bench/bench_faults.py                     # 120 docs, 30% faults, concurrency 16 (~2 min)
    python bench/bench_faults.py --docs 400 --fault-rate 0.5 --retry-after 2 --concurrency 32

Runs `generate` (the Python API behind the CLI) against `tests/fault_server.py`, a local
OpenAI-compatible server that answers after a fixed delay and injects 429 (with Retry-After), 500,
503, stalls past the client timeout, cut-off JSON, wrong-shape JSON and empty replies at the given
rate, then once more against the same server with no faults. Prints rows attempted, kept and failed
(by reason), pairs kept, faults by kind as the run counted them next to what the server injected,
retries, seconds spent in backoff (summed over workers), and the wall time lost against the clean run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-a-real-key")

SENTENCES = (
    "The cooling pump moves water through the engine block at forty litres per minute.",
    "When the coolant passes ninety degrees, a thermostat opens the bypass valve.",
    "The bypass valve sends hot water to the radiator on the roof.",
    "Operators inspect the pump seals every three months.",
)


def write_corpus(root: Path, count: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (root / f"note{index:05d}.md").write_text(f"# Maintenance note {index}\n\n" + " ".join(SENTENCES) + f" This is note {index}.\n")


def run(docs: Path, output: Path, server, args) -> tuple[dict, float]:
    from rich.console import Console

    from sdg_program.ingest.config import ChunkingConfig
    from sdg_program.program.settings import GenerationSettings
    from sdg_program.runner.config import GenerateConfig
    from sdg_program.runner.generation import generate

    config = GenerateConfig(
        chunking=ChunkingConfig(input_dir=docs, sentences_per_chunk=2, min_text_length=10),
        generation=GenerationSettings(num_pairs=2),
        output_dir=output,
        lm="openai/stub",
        api_base=server.base_url,
        structured_output="json_schema",
        concurrency=args.concurrency,
        timeout=args.timeout,
        num_retries=args.num_retries,
        retry_base_delay=args.base_delay,
    )
    started = time.perf_counter()
    generate(config, overwrite=True, console=Console(file=open(os.devnull, "w")))
    return json.loads((output / "run.json").read_text()), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=120)
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds the server takes per good answer")
    parser.add_argument("--retry-after", type=float, default=1.0, help="Retry-After sent with each 429")
    parser.add_argument("--timeout", type=float, default=2.0, help="client timeout; stalls last timeout + 1 s")
    parser.add_argument("--base-delay", type=float, default=0.25, help="first backoff without Retry-After")
    parser.add_argument("--num-retries", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from tests.fault_server import FaultPlan, FaultServer

    scratch = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    docs = scratch / "docs"
    write_corpus(docs, args.docs)
    plan = FaultPlan.spread(args.fault_rate, seed=args.seed, retry_after=args.retry_after, stall_seconds=args.timeout + 1.0)
    with FaultServer(plan, delay=args.delay, keep_requests=False) as server:
        faulty, faulty_seconds = run(docs, scratch / "faulty", server, args)
        injected = dict(server.injected)
        requests = server.stats()["calls"]
        server.set_plan(FaultPlan())
        server.reset()
        clean, clean_seconds = run(docs, scratch / "clean", server, args)

    counts = faulty["counts"]
    faults = counts["faults"]
    print(f"fault run: {args.docs} docs, {args.fault_rate:.0%} faults, concurrency {args.concurrency}, "
          f"server delay {args.delay * 1000:.0f} ms, Retry-After {args.retry_after:g} s, timeout {args.timeout:g} s, "
          f"backoff {args.base_delay:g} s doubling, {args.num_retries} retries")
    print()
    rows = [
        ("rows attempted", counts["rows_done"] + counts["rows_failed"]),
        ("rows kept (records.jsonl)", counts["rows_done"]),
        ("rows failed (failures.jsonl)", counts["rows_failed"]),
        *((f"  failed: {reason}", number) for reason, number in counts["failure_reasons"].items()),
        ("pairs valid (fault run / clean run)", f"{counts['pairs_valid']} / {clean['counts']['pairs_valid']}"),
        ("requests sent", requests),
        ("faults (counted by the run / injected by the server)", f"{sum(faults['by_kind'].values())} / {sum(injected.values())}"),
        *((f"  {kind}", f"{faults['by_kind'].get(kind, 0)} / {injected.get(kind, 0)}") for kind in sorted(set(injected) | set(faults["by_kind"]))),
        ("retries after transient faults", faults["retries"]),
        ("time in backoff, summed over workers", f"{faults['backoff_seconds']:.1f} s"),
        ("wall time (fault run / clean run)", f"{faulty_seconds:.1f} s / {clean_seconds:.1f} s"),
        ("wall time lost to faults", f"{faulty_seconds - clean_seconds:.1f} s ({(faulty_seconds / clean_seconds - 1) * 100:.0f}%)"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
