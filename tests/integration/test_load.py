"""Load: `sdg-program generate` over 200 tiny documents at concurrency 64 loses and repeats no row.

The CLI runs as a subprocess against `tests/openai_stub.py` in its own process (`StubProcess`), with
the offline MiniLM embedder. 64 rows in flight share one checkpoint file, one embedder lock and one
progress bar; every seed row must end up in records.jsonl or failures.jsonl exactly once, and every
call the server answered must be accounted for by exactly one written record (a row run twice, or
a record written for a call that never happened, would show up as a mismatch). The helpers are
shared with `bench/bench_load.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from sdg_program.ingest.chunking import ChunkingReport, iter_seed_rows
from sdg_program.ingest.config import ChunkingConfig
from sdg_program.runner.config import row_key
from tests.conftest import offline_env
from tests.openai_stub import StubProcess

# A concern suite: real subprocesses, servers or the embedded model (see pyproject's markers).
pytestmark = pytest.mark.slow

SDG = str(Path(sys.executable).parent / "sdg-program")
NUM_DOCS = 200
CONCURRENCY = 64
STUB_DELAY = 0.2
RUN_TIMEOUT = 600.0

WORDS = ("pump", "valve", "boiler", "turbine", "filter", "sensor", "relay", "compressor", "gauge", "motor", "tank", "pipe")


def write_docs(root: Path, count: int) -> Path:
    """``count`` tiny distinct documents, one seed row each (file names sort in creation order)."""
    root.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        first, second = WORDS[index % len(WORDS)], WORDS[(index // len(WORDS)) % len(WORDS)]
        text = (
            f"The {first} {index} feeds the {second} line at {index % 97 + 3} litres per minute. "
            f"Crews check the {first} {index} every {index % 11 + 1} weeks and log its pressure.\n"
        )
        (root / f"doc{index:05d}.txt").write_text(text, encoding="utf-8")
    return root


def cli_env(scratch: Path) -> dict[str, str]:
    """Offline, no colour, a fresh DSPy cache (every call must reach the server)."""
    return offline_env(OPENAI_API_KEY="sk-load-test", COLUMNS="200", DSPY_CACHEDIR=str(scratch / "dspy-cache"))


def generate_command(docs: Path, output: Path, base_url: str, concurrency: int) -> list[str]:
    return [
        SDG, "generate", "--input-dir", str(docs), "--output-dir", str(output), "--overwrite",
        "--lm", "openai/stub", "--api-base", base_url, "--structured-output", "json_schema",
        "--num-pairs", "2", "--concurrency", str(concurrency),
    ]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] if path.exists() else []


@dataclass
class Accounting:
    """Where every seed row of a finished run went."""

    seed_keys: int
    records: int
    failures: int
    lost: list[str]  # seed keys in neither file
    repeated: list[str]  # keys written more than once (across both files)
    unknown: list[str]  # keys written that belong to no seed row
    calls_in_records: int  # LM calls the records say they made

    @property
    def ok(self) -> bool:
        return not (self.lost or self.repeated or self.unknown) and self.records + self.failures == self.seed_keys


def account_rows(output: Path) -> Accounting:
    """Recompute every seed row's key (the run's chunking settings and fingerprint, from run.json) and find it in the output."""
    run = json.loads((output / "run.json").read_text(encoding="utf-8"))
    chunking = ChunkingConfig.model_validate(run["config"]["chunking"])
    expected = {row_key(row, run["config_fingerprint"]) for row in iter_seed_rows(chunking, ChunkingReport())}
    records = read_jsonl(output / "records.jsonl")
    failures = read_jsonl(output / "failures.jsonl")
    written = Counter(row["row_key"] for row in records + failures)
    calls = sum(counts.get("calls", 0) for record in records for counts in record["lm_usage"].values())
    return Accounting(
        seed_keys=len(expected),
        records=len(records),
        failures=len(failures),
        lost=sorted(expected - set(written)),
        repeated=sorted(key for key, count in written.items() if count > 1),
        unknown=sorted(set(written) - expected),
        calls_in_records=calls,
    )


def test_generate_at_concurrency_64_loses_and_repeats_no_row(tmp_path):
    docs = write_docs(tmp_path / "docs", NUM_DOCS)
    output = tmp_path / "out"
    log = tmp_path / "generate.log"
    with StubProcess(delay=STUB_DELAY) as stub:
        with open(log, "wb") as stderr:
            completed = subprocess.run(generate_command(docs, output, stub.base_url, CONCURRENCY), stdout=subprocess.DEVNULL, stderr=stderr,
                                       env=cli_env(tmp_path), timeout=RUN_TIMEOUT)
        server = stub.stats()
    assert completed.returncode == 0, log.read_text(errors="replace")[-3000:]

    accounting = account_rows(output)
    assert accounting.seed_keys == NUM_DOCS
    assert accounting.lost == [] and accounting.repeated == [] and accounting.unknown == []
    # A healthy local server: no row may fail, so every row is a record.
    assert accounting.records == NUM_DOCS and accounting.failures == 0, read_jsonl(output / "failures.jsonl")[:3]
    # Every call the server answered belongs to exactly one written record.
    assert server["calls"] == accounting.calls_in_records
    sources = sorted(row["source_id"] for row in read_jsonl(output / "records.jsonl"))
    assert sources == sorted(path.name for path in docs.iterdir())
    run = json.loads((output / "run.json").read_text())
    assert run["status"] == "finished" and run["counts"]["rows_done"] == NUM_DOCS
    print(f"\n{NUM_DOCS} rows at concurrency {CONCURRENCY}: {server['calls']} calls, at most {server['max_in_flight']} in flight")
