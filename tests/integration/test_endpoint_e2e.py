"""End to end through a real OpenAI-compatible server: `sdg-program generate` against llama-cpp-python's
own server (`python -m llama_cpp.server`) running the embedded SmolLM2 GGUF on 127.0.0.1.

That server takes structured output only as `{"type": "json_object", "schema": ...}`, so this is
the `--structured-output json_object_schema` path, with the CLI, the runner, the checkpoint files
and the key handling all real. About a minute on 2 cores.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sdg_program.backends.gguf_paths import default_gguf_path
from sdg_program.core.records import FailedRow, GeneratedRecord
from sdg_program.ingest.chunking import ChunkingReport, iter_seed_rows
from sdg_program.ingest.config import ChunkingConfig
from signatures import QAPair
from tests.conftest import offline_env

# A concern suite: real subprocesses, servers or the embedded model (see pyproject's markers).
pytestmark = pytest.mark.slow

PLANTED_KEY = "sk-planted-test-key-123"
SERVER_START_TIMEOUT = 90.0
GENERATE_TIMEOUT = 420.0
SERVER_MODULES = ("uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")

DOCS = {
    "pumps.txt": (
        "The cooling pump moves water through the engine block at forty litres per minute. "
        "When the coolant passes ninety degrees, a thermostat opens the bypass valve. "
        "The bypass valve sends hot water to the radiator on the roof. "
        "Operators inspect the pump seals every three months."
    ),
    "library.txt": (
        "The city library opened its north wing in 1998. "
        "The north wing holds the map collection and a reading room for students. "
        "Old maps are scanned in the basement lab before they go on display. "
        "Visitors may borrow up to six books for three weeks."
    ),
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # uvicorn waits for a request in flight; do not wait for a long one
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """`python -m llama_cpp.server` on a free 127.0.0.1 port; yields its /v1 base URL."""
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"llama-cpp-python[server] is not installed (missing {', '.join(missing)})")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", default_gguf_path(),
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "8192", "--n_threads", "1",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=offline_env())
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {process.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer /v1/models within {SERVER_START_TIMEOUT:.0f} s:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.25)
        yield base_url
    finally:
        _stop(process)


def test_generate_through_llama_cpp_server(llama_server, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text + "\n", encoding="utf-8")
    output_dir = tmp_path / "out"
    command = [
        str(Path(sys.executable).parent / "sdg-program"), "generate",
        "--input-dir", str(docs),
        "--output-dir", str(output_dir),
        "--lm", "openai/smollm2",
        "--api-base", llama_server,
        "--structured-output", "json_object_schema",
        "--num-pairs", "2",
        "--max-tokens", "700",
        # The time budget of a 135M model on one thread: one call per stage, one artifact per kind.
        "--max-retries", "0",
        "--max-artifacts-per-type", "1",
        "--timeout", "300",
    ]
    started = time.monotonic()
    result = subprocess.run(
        command,
        capture_output=True,
        # A fresh DSPy response cache: every call must reach the server, on every run of this test.
        env=offline_env(OPENAI_API_KEY=PLANTED_KEY, COLUMNS="200", DSPY_CACHEDIR=str(tmp_path / "dspy-cache")),
        timeout=GENERATE_TIMEOUT,
    )
    elapsed = time.monotonic() - started
    stdout = result.stdout.decode("utf-8", errors="replace")
    stderr = result.stderr.decode("utf-8", errors="replace")
    # Exit codes: 0 = at least one row done; 1 = every row failed; 2 = bad options; 3 = aborted.
    assert result.returncode == 0, f"exit {result.returncode} after {elapsed:.0f} s\nstdout:\n{stdout[-3000:]}\nstderr:\n{stderr[-5000:]}"

    # Every seed row is accounted for: a record, or a failure with its reason.
    seed_rows = list(iter_seed_rows(ChunkingConfig(input_dir=docs), ChunkingReport()))
    assert len(seed_rows) == len(DOCS)
    records_path, failures_path = output_dir / "records.jsonl", output_dir / "failures.jsonl"
    records = [GeneratedRecord.model_validate_json(line) for line in records_path.read_text().splitlines() if line.strip()]
    failures = (
        [FailedRow.model_validate_json(line) for line in failures_path.read_text().splitlines() if line.strip()]
        if failures_path.exists() else []
    )
    assert all(failure.reason.strip() for failure in failures)
    done = [record.source_id for record in records] + [failure.source_id for failure in failures]
    assert sorted(done) == sorted(row.source_id for row in seed_rows), (done, stderr[-3000:])
    assert records, f"no row produced a record; failures: {[f.reason for f in failures]}"

    for record in records:
        for pair in record.qa_generation["pairs"]:
            QAPair.model_validate(pair)
        for pair in record.deduplicated_qa_pairs:
            QAPair.model_validate(pair)
        assert len(record.qa_validations) == len(record.deduplicated_qa_pairs)
        indexes = [evaluation["pair_index"] for evaluation in record.qa_evaluations["evaluations"]]
        assert all(0 <= index < len(record.deduplicated_qa_pairs) for index in indexes)
        assert len(set(indexes)) == len(indexes)
        assert record.lm_usage["generate"]["calls"] >= 1 and record.lm_usage["generate"]["completion_tokens"] > 0

    run = json.loads((output_dir / "run.json").read_text())
    assert run["status"] == "finished"
    assert run["models"]["lm"]["structured_output"] == "json_object_schema"
    assert run["models"]["lm"]["api_base_host"] == llama_server.split("/")[2]

    # The key was in the environment only: it reached the server, never a file or the console.
    for path in output_dir.rglob("*"):
        if path.is_file():
            assert PLANTED_KEY.encode() not in path.read_bytes(), path
    assert PLANTED_KEY not in stdout and PLANTED_KEY not in stderr
    print(f"\ngenerate through llama_cpp.server: {elapsed:.1f} s, {len(records)} records, {len(failures)} failures")
