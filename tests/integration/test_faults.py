"""Endpoint faults: classification, backoff, Retry-After, a run at 30% faults, an endpoint that is down.

The faults come from a real HTTP server on 127.0.0.1 (`tests/fault_server.py`) reached through the
real CLI and DSPy's real OpenAI-compatible client; only the server's answers are scripted.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import dspy
import pytest
from typer.testing import CliRunner

from sdg_program.backends.factory import build_lm
from sdg_program.backends.faults import FAULT_KINDS, FaultTally, RetryPolicy, classify
from sdg_program.cli.app import app
from sdg_program.core.records import FailedRow, GeneratedRecord
from tests.fault_server import FAULT_SERVER_KINDS, FaultPlan, FaultServer, fault_response
from tests.openai_stub import OpenAIStub, StubRequest, valid_reply

# A concern suite: real subprocesses, servers or the embedded model (see pyproject's markers).
pytestmark = pytest.mark.slow

KEY = "sk-fault-test-not-a-real-key"
SENTENCES = [
    "Pumps move cooling water through the primary loop of the plant.",
    "A heat exchanger passes the heat from the primary loop to the secondary loop.",
    "Operators check the coolant pressure every hour during normal operation.",
]


class Answer(dspy.Signature):
    """Answer with a number."""

    question: str = dspy.InputField()
    answer: int = dspy.OutputField()


def write_docs(root: Path, count: int) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = root / f"doc{index:03d}.md"
        path.write_text(f"# Plant note {index}\n\n" + " ".join(SENTENCES) + f" Note number {index} closes the page.\n")
        paths.append(path)
    return paths


def run_generate(tmp_path: Path, server: OpenAIStub, *extra: str, output: str = "out"):
    args = [
        "generate", "--input-dir", str(tmp_path / "docs"), "--output-dir", str(tmp_path / output),
        "--lm", "openai/stub", "--api-base", server.base_url, "--structured-output", "json_schema",
        "--num-pairs", "1", "--sentences-per-chunk", "2", "--min-text-length", "10",
        "--timeout", "1", "--retry-base-delay", "0.05", *extra,
    ]
    return CliRunner().invoke(app, args, env={"OPENAI_API_KEY": KEY, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"})


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# -- classification and backoff -------------------------------------------------------------


@pytest.mark.parametrize("kind", FAULT_SERVER_KINDS)
def test_each_injected_fault_is_classified_as_its_kind(kind, monkeypatch):
    """The real client's exception for each fault the server sends maps to that fault's code."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    plan = FaultPlan(stall_seconds=2.0)
    with OpenAIStub(reply=lambda request: fault_response(kind, request, plan)) as server:
        lm = build_lm("openai/stub", api_base=server.base_url, structured_output="json_schema", num_retries=0, timeout=1.0)
        lm.cache = False
        with dspy.context(lm=lm, adapter=dspy.JSONAdapter()), pytest.raises(Exception) as raised:
            dspy.Predict(Answer)(question="how many pumps?")
    assert classify(raised.value) == kind, repr(raised.value)[:500]


def test_fault_codes_are_known():
    assert set(FAULT_SERVER_KINDS) <= set(FAULT_KINDS)


def test_backoff_respects_retry_after_then_doubles_and_gives_up():
    class Limited(Exception):
        retry_after = 7.0

    policy = RetryPolicy(retries=3, base_delay=0.5, max_delay=1.5, jitter=0.0)
    assert policy.delay(Limited(), 0) == 7.0  # the server's hint wins over the backoff
    plain = RuntimeError("503")
    assert [policy.delay(plain, attempt) for attempt in range(4)] == [0.5, 1.0, 1.5, None]
    jittered = RetryPolicy(retries=1, base_delay=1.0, jitter=0.25).delay(plain, 0, random.Random(3))
    assert 1.0 <= jittered <= 1.25

    class Forever(Exception):
        retry_after = 3600.0  # "come back in an hour": the endpoint is down for this run

    assert policy.delay(Forever(), 0) is None


def test_fault_tally_adds_up_rows():
    run = FaultTally()
    row = FaultTally()
    row.record("timeout")
    row.waited(1.5)
    run.add(row.as_dict())
    run.add({"by_kind": {"timeout": 2, "rate_limited": 1}, "retries": 2, "backoff_seconds": 2.0})
    assert run.as_dict() == {"by_kind": {"rate_limited": 1, "timeout": 3}, "retries": 3, "backoff_seconds": 3.5}


# -- runs against the fault server ----------------------------------------------------------


def test_retry_waits_what_retry_after_says(tmp_path):
    """The first request is refused with Retry-After: 2; the retry must not come sooner."""
    write_docs(tmp_path / "docs", 1)
    plan = FaultPlan(retry_after=2)

    def first_refused(request: StubRequest):
        return fault_response("rate_limited", request, plan) if request.index == 0 else valid_reply(request)

    with OpenAIStub(reply=first_refused) as server:
        result = run_generate(tmp_path, server)
        arrivals = [request.received for request in server.requests]
    assert result.exit_code == 0, result.output
    assert arrivals[1] - arrivals[0] >= 2.0  # base delay is 0.05 s: only the header explains the wait
    faults = json.loads((tmp_path / "out" / "run.json").read_text())["counts"]["faults"]
    assert faults["by_kind"] == {"rate_limited": 1}
    assert faults["retries"] == 1 and faults["backoff_seconds"] == pytest.approx(2.0)


def test_a_run_at_30_percent_faults_completes_with_every_row_accounted_for(tmp_path):
    # Seed 11 has drawn every fault kind by request 34. At two calls a row (extraction inline) 12 rows
    # sometimes ended short of that; 18 rows make at least 36 requests, as 12 rows did at three calls a row.
    docs = write_docs(tmp_path / "docs", 18)
    with FaultServer(FaultPlan.spread(0.3, seed=11, retry_after=1, stall_seconds=1.6)) as server:
        result = run_generate(tmp_path, server, "--concurrency", "6")
        injected = dict(server.injected)
        calls = server.stats()["calls"]
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    records = read_jsonl(out / "records.jsonl")
    failures = read_jsonl(out / "failures.jsonl")
    # every row is in exactly one of the two files
    keys = [row["row_key"] for row in records + failures]
    assert len(keys) == len(set(keys)) == len(docs)
    assert sorted(row["source_id"] for row in records + failures) == sorted(path.name for path in docs)
    segments_by_row = {record["source_id"]: {chunk["chunk_id"]: chunk["text"] for chunk in record["chunks"]} for record in records}
    for record in records:
        GeneratedRecord.model_validate(record)
        for pair in record["deduplicated_qa_pairs"]:
            # the stub answers with the first 20 words of the cited segment: a cut-off reply that was
            # "repaired" into a shorter answer would be a wrong label and must never be kept
            cited = segments_by_row[record["source_id"]][pair["segment_ids"][0]]
            assert pair["answer"] == " ".join(cited.split()[:20])
    for failure in failures:
        FailedRow.model_validate(failure)
        assert failure["reason"]
    # the server injected faults of every kind and the run counted exactly those
    assert set(injected) == set(FAULT_SERVER_KINDS), injected
    counts = json.loads((out / "run.json").read_text())["counts"]
    assert counts["faults"]["by_kind"] == injected
    transient = sum(injected.get(kind, 0) for kind in ("rate_limited", "server_error", "unavailable", "timeout"))
    assert counts["faults"]["retries"] >= transient - len(failures)
    assert counts["faults"]["backoff_seconds"] >= injected["rate_limited"] * 1.0  # Retry-After: 1 each
    assert counts["rows_done"] + counts["rows_failed"] == len(docs)
    # every fault cost a request of its own; each kept row had at least its generate call succeed
    assert calls >= counts["rows_done"] + sum(injected.values())
    # the printed summary names each fault kind
    for kind in injected:
        assert f"fault: {kind}" in result.output


def test_an_endpoint_that_is_down_aborts_resumably(tmp_path):
    docs = write_docs(tmp_path / "docs", 30)
    with FaultServer(FaultPlan.down("unavailable")) as server:
        aborted = run_generate(tmp_path, server, "--concurrency", "4", "--num-retries", "2", "--max-failure-rate", "0.5")
        calls_while_down = server.stats()["calls"]
        assert aborted.exit_code == 3, aborted.output
        assert "Aborted" in aborted.output and "--resume" in aborted.output
        assert "fault: unavailable" in aborted.output
        run = json.loads((tmp_path / "out" / "run.json").read_text())
        assert run["status"] == "aborted"
        failed = run["counts"]["rows_failed"]
        assert 10 <= failed < len(docs)  # stopped early instead of trying every row
        assert calls_while_down <= (failed + 4) * 3  # 3 tries per row (1 + 2 retries), its first call only
        assert all(re.match(r"endpoint unavailable after [1-3] tries \(generate\)", row["reason"]) for row in read_jsonl(tmp_path / "out" / "failures.jsonl"))

        server.set_plan(FaultPlan())  # the endpoint is back
        resumed = run_generate(tmp_path, server, "--concurrency", "4", "--num-retries", "2", "--max-failure-rate", "0.5", "--resume")
    assert resumed.exit_code == 0, resumed.output
    records = read_jsonl(tmp_path / "out" / "records.jsonl")
    assert sorted(record["source_id"] for record in records) == sorted(path.name for path in docs)
    assert read_jsonl(tmp_path / "out" / "failures.jsonl") == []
    assert json.loads((tmp_path / "out" / "run.json").read_text())["status"] == "finished"
