"""End to end with the real embedded model (SmolLM2-135M via llama.cpp) and the real embedder.

Two tiny documents from HotpotQA paragraphs go through `sdg-program generate` as a
user would run it. One run goes straight through; a second is killed with SIGKILL
after its first record and resumed: it must end with exactly the rows of the first.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sdg_program.core.records import FailedRow, GeneratedRecord
from signatures import QAEvaluation, QAPair

# A concern suite: real subprocesses, servers or the embedded model (see pyproject's markers).
pytestmark = pytest.mark.slow

# Two HotpotQA paragraphs shipped with the tests (tests/data/README.md), so no checkout skips these.
HOTPOT = Path(__file__).resolve().parent.parent / "data" / "hotpotqa_two_paragraphs.jsonl"
GENERATE = [sys.executable, "-m", "sdg_program", "generate", "--num-pairs", "2", "--segment-attempts", "2", "--max-tokens", "900", "--seed", "0"]


def write_docs(root: Path, count: int = 2) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with HOTPOT.open() as stream:
        for index, line in zip(range(count), stream):
            doc = json.loads(line)
            (root / f"{index:02d}_{doc['_id']}.md").write_text(f"# {doc['title']}\n\n{doc['text']}\n", encoding="utf-8")
    return root


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def outcome(output: Path) -> dict[str, object]:
    """What a run produced, keyed by row: the pairs and verdicts (usage and timing excluded)."""
    result = {}
    for record in read(output / "records.jsonl"):
        result[record["row_key"]] = (record["deduplicated_qa_pairs"], record["qa_evaluations"], record["qa_validations"])
    for failure in read(output / "failures.jsonl"):
        result[failure["row_key"]] = ("failed", failure["reason"])
    return result


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    docs = write_docs(base / "docs")
    output = base / "out"
    completed = subprocess.run([*GENERATE, "--input-dir", str(docs), "--output-dir", str(output)], capture_output=True, text=True, timeout=1200)
    return docs, output, completed


def test_embedded_model_produces_records_that_satisfy_the_contracts(uninterrupted):
    docs, output, completed = uninterrupted
    assert completed.returncode == 0, completed.stderr[-3000:]
    records = read(output / "records.jsonl")
    failures = read(output / "failures.jsonl")
    assert len(records) + len(failures) == 2
    assert records, f"no record produced; failures: {failures}"
    for line in records:
        record = GeneratedRecord.model_validate(line)
        chunk_ids = {chunk.chunk_id for chunk in record.chunks}
        for pair in record.qa_generation["pairs"]:
            parsed = QAPair.model_validate(pair)
            # the grammar only allows this row's segment IDs
            assert set(parsed.segment_ids) <= chunk_ids
        assert len(record.qa_validations) == len(record.deduplicated_qa_pairs)
        for evaluation in record.qa_evaluations["evaluations"]:
            assert 0 <= QAEvaluation.model_validate(evaluation).pair_index < len(record.deduplicated_qa_pairs)
        assert record.lm_usage["generate"]["calls"] >= 1 and record.lm_usage["generate"]["completion_tokens"] > 0
    for line in failures:
        FailedRow.model_validate(line)
    run = json.loads((output / "run.json").read_text())
    assert run["status"] == "finished" and run["models"]["lm"]["kind"] == "local"
    assert "Generation summary" in completed.stdout


def test_a_killed_run_resumes_to_exactly_the_uninterrupted_rows(uninterrupted, tmp_path):
    docs, reference_output, _ = uninterrupted
    output = tmp_path / "out"
    command = [*GENERATE, "--input-dir", str(docs), "--output-dir", str(output)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = output / "records.jsonl"
    deadline = time.time() + 900
    while time.time() < deadline and process.poll() is None:
        if records.exists() and records.read_bytes().count(b"\n") >= 1:
            break
        time.sleep(0.2)
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = len(read(records))
    assert done_before < 2, "the run finished before it could be killed"
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=1200)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert outcome(output) == outcome(reference_output)
    keys = [record["row_key"] for record in read(records)]
    assert len(keys) == len(set(keys))
