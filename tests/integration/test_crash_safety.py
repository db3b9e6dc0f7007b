"""Crash safety: `sdg-program generate` and `sdg-program convert` killed with SIGKILL at random points.

Everything is real: the CLI runs as a subprocess, the LM is `tests/openai_stub.py` (a local
OpenAI-compatible HTTP server answering every signature with valid JSON after a small delay, so a
run lasts long enough to be killed mid-way), the embedder is the offline MiniLM.

- generate: killed after a random number of finished rows plus a random delay (both drawn from
  `random.Random(seed)`), then `--resume`d. The rows of records.jsonl must be exactly those of an
  uninterrupted run (same row keys, same content), none twice, none lost, and the resumed run must
  have skipped the rows the killed one finished.
- convert: killed a random delay after a randomly chosen phase began (phases are read from its
  `-v` log), then re-run. The output folder must hold exactly the files of an uninterrupted run,
  byte for byte, and nothing else: no temporary file, and no stale working folder in TMPDIR.
  A kill that lands in the report phase must find report.html's temporary open (it is, for the
  whole render), so the clean-up of both kinds of leftovers is exercised, not assumed.

The uninterrupted generate run is also the convert input (its pairs pass validation and the
judge threshold), built once per module.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import offline_env
from tests.openai_stub import OpenAIStub

# A concern suite: real subprocesses, servers or the embedded model (see pyproject's markers).
pytestmark = pytest.mark.slow

SDG = str(Path(sys.executable).parent / "sdg-program")
SEEDS = (0, 1, 2)
NUM_DOCS = 16
CONCURRENCY = 4
# Three calls per row at 0.1 s: 16 rows at concurrency 4 take over 1 s, enough to land a kill among them.
STUB_DELAY = 0.1
RUN_TIMEOUT = 300.0
# Fields of a record that may legitimately differ between two runs over the same rows. None do:
# the stub's answers and its token counts depend on the prompt only, and timing lives in run.json,
# not in records, so lm_usage and everything else are compared too.
RUN_DEPENDENT_FIELDS: tuple[str, ...] = ()
PHASE_LINE = re.compile(r"convert: ([a-z][a-z ]*?)\s*$")
WORK_DIR_PREFIX = "sdg-convert"  # convert's working folders: sdg-convert.<pid>.<random> (sdg-convert-<random> before they named the pid)

TOPICS = ("pump", "valve", "boiler", "turbine", "filter", "sensor", "relay", "compressor")


def write_docs(root: Path, count: int) -> Path:
    """`count` small, distinct documents (one seed row each)."""
    root.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        topic = TOPICS[index % len(TOPICS)]
        text = (
            f"The {topic} unit {index} moves water through the plant at {10 + index} litres per minute. "
            f"Operators inspect the seals of {topic} unit {index} every {2 + index % 5} months. "
            f"When the pressure passes {50 + index} bar, the {topic} unit {index} opens its bypass line.\n"
        )
        (root / f"doc{index:03d}.txt").write_text(text, encoding="utf-8")
    return root


def cli_env(workspace: Path) -> dict[str, str]:
    """Offline, no colour, a private DSPy cache and a private TMPDIR (where convert keeps its working folder)."""
    return offline_env(
        OPENAI_API_KEY="sk-crash-safety-test",
        COLUMNS="200",
        DSPY_CACHEDIR=str(workspace / "dspy-cache"),
        TMPDIR=str(workspace / "tmp"),
    )


def generate_command(docs: Path, output: Path, base_url: str) -> list[str]:
    return [
        SDG, "generate", "--input-dir", str(docs), "--output-dir", str(output),
        "--lm", "openai/stub", "--api-base", base_url, "--structured-output", "json_schema",
        "--num-pairs", "2", "--concurrency", str(CONCURRENCY),
    ]


def convert_command(records: Path, output: Path) -> list[str]:
    """Convert without the embedder phases (paraphrase grouping, hard negatives).

    They write nothing, so a kill inside them is no different from a kill in any other phase that
    writes nothing; leaving them out halves each run (no sentence-transformers import). Re-runs with
    them are byte-identical too (tests/test_convert.py).
    """
    return [SDG, "convert", str(records), "--output-dir", str(output), "--num-negatives", "0", "--no-group-paraphrases", "-v"]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] if path.exists() else []


def complete_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def canonical(row: dict) -> str:
    return json.dumps({key: value for key, value in row.items() if key not in RUN_DEPENDENT_FIELDS}, sort_keys=True, ensure_ascii=False)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative POSIX path -> bytes)."""
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def temporaries(output: Path) -> list[str]:
    """Hidden or .tmp files under ``output``: what an interrupted atomic write leaves behind."""
    return sorted(path.relative_to(output).as_posix() for path in output.rglob("*") if path.name.startswith(".") or path.name.endswith(".tmp"))


def work_dirs(tmpdir: Path) -> list[str]:
    """Convert's working folders in TMPDIR (removed by the run that made them, or by the next run once stale)."""
    return sorted(path.name for path in tmpdir.iterdir() if path.name.startswith(WORK_DIR_PREFIX))


def tail(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-3000:] if path.exists() else ""


def kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def stub():
    with OpenAIStub(delay=STUB_DELAY, keep_requests=False) as server:
        yield server


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("crash")
    (root / "tmp").mkdir()
    return root


@pytest.fixture(scope="module")
def reference(stub, workspace):
    """An uninterrupted generate run: the expected rows, and the convert input."""
    docs = write_docs(workspace / "docs", NUM_DOCS)
    output = workspace / "reference"
    log = workspace / "reference-generate.log"
    with open(log, "wb") as stderr:
        completed = subprocess.run(generate_command(docs, output, stub.base_url), stdout=subprocess.DEVNULL, stderr=stderr, env=cli_env(workspace), timeout=RUN_TIMEOUT)
    assert completed.returncode == 0, tail(log)
    rows = read_jsonl(output / "records.jsonl")
    assert len(rows) == NUM_DOCS and not read_jsonl(output / "failures.jsonl"), tail(log)
    kept = [evaluation for row in rows for evaluation in row["qa_evaluations"]["evaluations"] if evaluation["overall"]["score"] >= 7]
    valid = [verdict for row in rows for verdict in row["qa_validations"] if verdict["valid"]]
    assert kept and valid, "the stub's pairs must pass validation and the judge, or convert has nothing to write"
    return docs, output, rows


@pytest.fixture(scope="module")
def converted(reference, workspace):
    """An uninterrupted convert run into the path every case writes to (report.json records paths)."""
    _, generated, _ = reference
    output = workspace / "converted"
    log = workspace / "reference-convert.log"
    with open(log, "wb") as stderr:
        completed = subprocess.run(convert_command(generated / "records.jsonl", output), stdout=subprocess.DEVNULL, stderr=stderr, env=cli_env(workspace), timeout=RUN_TIMEOUT)
    assert completed.returncode == 0, tail(log)
    files = snapshot(output)
    assert {"train.json", "val.json", "corpus/train.parquet", "eval_beir/qrels/test.tsv", "report.html"} <= set(files)
    phases = list(dict.fromkeys(match.group(1) for line in log.read_text().splitlines() if (match := PHASE_LINE.search(line))))
    assert {"load", "export", "report"} <= set(phases), phases
    shutil.rmtree(output)
    return generated / "records.jsonl", output, files, phases


@pytest.mark.parametrize("seed", SEEDS)
def test_generate_killed_at_a_random_point_resumes_to_the_uninterrupted_rows(seed, stub, reference, workspace, tmp_path):
    docs, _, expected = reference
    rng = random.Random(seed)
    rows_before_kill = rng.randrange(1, NUM_DOCS - 2 * CONCURRENCY)
    delay = rng.uniform(0.0, 0.3)
    output = tmp_path / "out"
    records = output / "records.jsonl"
    command = generate_command(docs, output, stub.base_url)
    log = tmp_path / "generate.log"

    with open(log, "wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=cli_env(workspace))
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while complete_lines(records) < rows_before_kill and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        assert process.poll() is None, f"generate ended (exit {process.returncode}) before the kill point:\n{tail(log)}"
        kill(process)
    finally:
        if process.poll() is None:
            kill(process)
    done_before = complete_lines(records)
    assert rows_before_kill <= done_before < NUM_DOCS, (rows_before_kill, done_before)

    with open(log, "ab") as stderr:
        resumed = subprocess.run([*command, "--resume"], stdout=subprocess.DEVNULL, stderr=stderr, env=cli_env(workspace), timeout=RUN_TIMEOUT)
    assert resumed.returncode == 0, tail(log)

    rows = read_jsonl(records)
    keys = [row["row_key"] for row in rows]
    assert len(keys) == len(set(keys)), "a row was written twice"
    assert sorted(keys) == sorted(row["row_key"] for row in expected), "a row was lost or has a different key"
    assert sorted(map(canonical, rows)) == sorted(map(canonical, expected)), "a resumed row differs from the uninterrupted run"
    assert not read_jsonl(output / "failures.jsonl")
    run = json.loads((output / "run.json").read_text())
    assert run["status"] == "finished"
    # The resumed run skipped exactly the rows the killed one had finished, and ran only the rest.
    assert run["counts"]["rows_resumed"] == done_before
    assert run["counts"]["rows_done"] == NUM_DOCS - done_before
    assert temporaries(output) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_convert_killed_at_a_random_point_reruns_to_identical_files(seed, converted, workspace, tmp_path):
    records, output, expected, phases = converted
    rng = random.Random(seed)
    phase = rng.choice(phases)
    delay = rng.uniform(0.0, 0.15)
    left = kill_convert_during(records, output, phase, delay, workspace, tmp_path)
    print(f"seed {seed}: killed {delay:.2f} s into '{phase}'; left behind: {left or 'nothing'}")
    if phase == "report":
        # report.html's temporary is open for the whole render (well over 0.15 s): the kill must have left it.
        assert any(name.startswith(".report.html.") and name.endswith(".tmp") for name in left), left
    # Every logged phase runs after the working folder is made: the kill left it behind.
    assert any(name.startswith(WORK_DIR_PREFIX) for name in left), left
    rerun_and_compare(records, output, expected, workspace, tmp_path)


def kill_convert_during(records: Path, output: Path, phase: str, delay: float, workspace: Path, tmp_path: Path) -> list[str]:
    """Start convert into an empty ``output``, SIGKILL it ``delay`` s after ``phase`` is logged; return what it left."""
    shutil.rmtree(output, ignore_errors=True)
    log = tmp_path / "convert.log"
    process = subprocess.Popen(convert_command(records, output), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=cli_env(workspace))
    watchdog = threading.Timer(RUN_TIMEOUT, process.kill)  # a convert that hangs must not hang the tests
    watchdog.start()
    seen: list[str] = []
    try:
        for raw in process.stderr:
            line = raw.decode("utf-8", errors="replace")
            seen.append(line)
            match = PHASE_LINE.search(line)
            if match and match.group(1) == phase:
                break
        time.sleep(delay)
        alive = process.poll() is None
        log.write_text("".join(seen), encoding="utf-8")
        assert alive, f"convert ended (exit {process.returncode}) before the kill point ({phase!r} + {delay:.2f} s):\n{tail(log)}"
        kill(process)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            kill(process)
        process.stderr.close()
    return temporaries(output) + work_dirs(workspace / "tmp")


def rerun_and_compare(records: Path, output: Path, expected: dict[str, bytes], workspace: Path, tmp_path: Path) -> None:
    log = tmp_path / "rerun.log"
    with open(log, "wb") as stderr:
        completed = subprocess.run(convert_command(records, output), stdout=subprocess.DEVNULL, stderr=stderr, env=cli_env(workspace), timeout=RUN_TIMEOUT)
    assert completed.returncode == 0, tail(log)
    assert temporaries(output) == [], "temporaries of the killed run are still in the output folder"
    assert work_dirs(workspace / "tmp") == [], "the killed run's working folder is still in TMPDIR"
    files = snapshot(output)
    assert sorted(files) == sorted(expected)
    different = [name for name in expected if files[name] != expected[name]]
    assert not different, f"files differ from the uninterrupted run: {different}"


def test_only_leftovers_of_dead_processes_are_removed(tmp_path):
    """The clean-up must never take a temporary or working folder from a run that is still going."""
    from sdg_program.core.files import make_work_dir, remove_stale_temporaries

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {
            "dead": f".train.json.{dead.pid}.abc123_x.tmp",
            "live": f".train.json.{live.pid}.abc123_x.tmp",
            "other_target": f".val.json.{dead.pid}.abc123_x.tmp",
            "not_ours": ".train.json.tmp",
        }
        for name in names.values():
            (tmp_path / name).write_text("partial")
        (tmp_path / f"sdg-convert.{dead.pid}.zz9_ab12").mkdir()
        (tmp_path / f"sdg-convert.{live.pid}.zz9_ab12").mkdir()

        removed = remove_stale_temporaries(tmp_path, "train.json")
        assert [path.name for path in removed] == [names["dead"]]
        removed = remove_stale_temporaries(tmp_path)
        assert [path.name for path in removed] == [names["other_target"]]
        assert sorted(path.name for path in tmp_path.glob(".*")) == sorted([names["live"], names["not_ours"]])

        work = make_work_dir("sdg-convert", tmp_path)
        assert sorted(path.name for path in tmp_path.glob("sdg-convert.*")) == sorted([f"sdg-convert.{live.pid}.zz9_ab12", work.name])
        assert work.name.startswith(f"sdg-convert.{os.getpid()}.")
    finally:
        live.kill()
        live.wait()
