"""``engine: ray``: the same records as the local engine, every row exactly once, however workers die.

Fast tests run the worker pool against ``FakeRay``: the few ``ray`` calls the pool makes, in this
process, with actors that run a scripted program and die when a test says so. The slow ones start
one real local Ray cluster (2 CPUs, no dashboard) for the module and compare ``--engine ray`` with
``--engine local`` through the stub endpoint and through the embedded model.

Records are compared whole, by row key: a record holds no timing, and the stub (and the embedded
model at its fixed seed) answers the same prompt the same way, so nothing may differ between
engines but the order of the lines.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import pytest
from typer.testing import CliRunner

from sdg_program.backends.faults import Waiter
from sdg_program.cli.app import app
from sdg_program.core import ray_cluster as ray_cluster_module
from sdg_program.core.errors import RunAborted, UserError
from sdg_program.ingest.config import ChunkingConfig
from sdg_program.program.settings import GenerationSettings
from sdg_program.runner.config import GenerateConfig
from sdg_program.runner.generation import generate
from sdg_program.runner.ray_engine import ACTOR_NAME_PREFIX, RowWorker
from tests.openai_stub import OpenAIStub, valid_reply
from tests.runner.test_runner import make_config, read

runner = CliRunner()

# --------------------------------------------------------------------------- config and CLI


def test_engine_options_leave_the_fingerprint_unchanged(tmp_path):
    config = make_config(tmp_path, docs=1)
    on_ray = config.model_copy(update={"engine": "ray", "ray_address": "ray://head:10001", "num_workers": 7, "worker_cpus": 2.0, "worker_gpus": 0.5})
    assert on_ray.fingerprint() == config.fingerprint()
    assert config.model_copy(update={"num_records": 3}).fingerprint() == config.fingerprint()  # as before
    assert config.model_copy(update={"temperature": 0.5}).fingerprint() != config.fingerprint()


def test_engine_options_are_validated(tmp_path):
    base = make_config(tmp_path, docs=1).model_dump()
    for bad in ({"engine": "spark"}, {"num_workers": 0}, {"worker_cpus": 0}, {"worker_gpus": -1}):
        with pytest.raises(ValueError):
            GenerateConfig.model_validate({**base, **bad})
    result = runner.invoke(app, ["generate", "--help"], env={"COLUMNS": "200"})
    for option in ("--engine", "--ray-address", "--num-workers", "--worker-cpus", "--worker-gpus"):
        assert option in result.output
    assert "different order" in result.output


def test_missing_ray_says_what_to_install(tmp_path, monkeypatch):
    import importlib.util
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ray_cluster_module.RayMissing, match=r"pip install 'sdg-program\[ray\]'"):
        ray_cluster_module.import_ray()
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name == "ray" else find_spec(name, *args))
    config = make_config(tmp_path, docs=1)
    result = runner.invoke(app, ["generate", "--input-dir", str(config.chunking.input_dir), "--output-dir", str(tmp_path / "out"), "--engine", "ray"])
    assert result.exit_code == 2
    assert "pip install 'sdg-program[ray]'" in result.output
    assert not (tmp_path / "out").exists()


def test_a_provided_program_is_refused_on_ray(tmp_path):
    config = make_config(tmp_path, docs=1, engine="ray")
    with pytest.raises(UserError, match="provided program"):
        generate(config, program=EchoProgram())
    assert not config.output_dir.exists()


def test_workers_get_the_offline_environment(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("DSPY_CACHEDIR", "/tmp/dspy-cache-x")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-in-a-runtime-env")
    env = ray_cluster_module.worker_env()
    assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] and env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert env["DSPY_CACHEDIR"] == "/tmp/dspy-cache-x"
    assert "OPENAI_API_KEY" not in env


class InitRecorder:
    """The ``ray`` calls ray_cluster makes: which cluster it joins or starts, and whether it lets go."""

    def __init__(self, initialized: bool = False, fail: bool = False) -> None:
        self.initialized, self.fail = initialized, fail
        self.inits: list[dict[str, Any]] = []
        self.shutdowns = 0

    def is_initialized(self) -> bool:
        return self.initialized

    def init(self, **options: Any) -> None:
        if self.fail:
            raise ConnectionError("Could not find any running Ray instance")
        self.inits.append(options)

    def shutdown(self) -> None:
        self.shutdowns += 1


def test_which_cluster_a_run_uses_and_that_it_lets_go(monkeypatch):
    def run(ray_address=None, **recorder):
        fake = InitRecorder(**recorder)
        monkeypatch.setattr(ray_cluster_module, "import_ray", lambda: fake)
        with ray_cluster_module.ray_cluster(ray_address, cpus_needed=64) as ray:
            assert ray is fake
        return fake

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    started = run()
    [options] = started.inits
    assert options["address"] == "local" and options["include_dashboard"] is False and options["num_cpus"] == 64
    assert started.shutdowns == 1  # a cluster started for the run ends with it
    monkeypatch.setenv("RAY_ADDRESS", "head:6379")
    assert run().inits[0]["address"] == "head:6379" and "num_cpus" not in run().inits[0]
    assert run("ray://other:10001").inits[0]["address"] == "ray://other:10001"
    held = run(initialized=True)
    assert held.inits == [] and held.shutdowns == 0  # the caller's connection: used as is, left open
    with pytest.raises(UserError, match="cannot reach the Ray cluster at head:6379"):
        run(fail=True)


# --------------------------------------------------------------------------- the pool, on a fake Ray


class EchoProgram:
    """A stand-in for RetrievalSDG: a record that echoes the row, or a failure for ``fail_sources``. The pool is
    under test here, not the program, so its outputs do not depend on prompts or a scripted LM."""

    def __init__(self, fail_sources: set[str] = frozenset()) -> None:
        self.fail_sources = fail_sources
        self.waiter = Waiter()

    def __call__(self, row) -> dict[str, Any]:
        if row.source_id in self.fail_sources:
            raise RuntimeError(f"endpoint exploded for {row.source_id}")
        pair = {"question": f"what does {row.source_id} say?", "answer": row.text[:40], "segment_ids": [1]}
        return {"document_artifacts": {}, "qa_generation": {"pairs": [pair]}, "deduplicated_qa_pairs": [pair], "qa_evaluations": {"evaluations": []},
                "qa_validations": [{"valid": True, "reasons": []}], "generation_validations": [{"valid": True, "reasons": []}], "dedup": {},
                "windows": 1, "judged": False, "lm_usage": {"generate": {"calls": 1, "prompt_tokens": len(row.text), "completion_tokens": 9}},
                "faults": {}, "errors": []}



class _RayError(Exception):
    pass


class _RayActorError(_RayError):
    pass


class _ActorDiedError(_RayActorError):
    pass


class _ActorUnavailableError(_RayActorError):
    pass


class FakeRay:
    """The ``ray`` calls WorkerPool makes, in this process. Actors are ``RowWorker`` objects with a scripted program;
    a row's call resolves when the driver fetches it, raising the next error ``deaths[source_id]`` holds, if any."""

    class exceptions:
        RayError = _RayError
        RayActorError = _RayActorError
        ActorDiedError = _ActorDiedError
        ActorUnavailableError = _ActorUnavailableError

    def __init__(self, deaths: dict[str, list[type[Exception]]] | None = None, program: Callable[[], Any] = EchoProgram, on_get: Callable[[], None] = lambda: None,
                 start_error: str | None = None):
        self.deaths = {source: list(errors) for source, errors in (deaths or {}).items()}
        self.start_error = start_error
        self.program = program
        self.on_get = on_get
        self.actors: list[FakeActor] = []
        self.killed: list[FakeActor] = []
        self.ran_on: dict[str, list[int]] = {}
        self.rows_sent_while_restarting = 0
        self.max_pending = 0
        self.options: dict[str, Any] = {}

    def is_initialized(self) -> bool:
        return True

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": 2.0}

    def remote(self, cls: type) -> "FakeActorClass":
        assert cls is RowWorker
        return FakeActorClass(self)

    def wait(self, refs: list, num_returns: int = 1, timeout: float | None = None) -> tuple[list, list]:
        self.max_pending = max(self.max_pending, len(refs))
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        if isinstance(ref, list):
            return [self.get(one) for one in ref]
        self.on_get()
        return ref()

    def kill(self, actor: "FakeActor", no_restart: bool = True) -> None:
        self.killed.append(actor)


class FakeActorClass:
    def __init__(self, ray: FakeRay) -> None:
        self.ray = ray

    def options(self, **options: Any) -> "FakeActorClass":
        self.ray.options = options
        return self

    def remote(self, config: dict, cwd: str, fingerprint: str) -> "FakeActor":
        assert GenerateConfig.model_validate(config).fingerprint() == fingerprint
        worker = RowWorker.__new__(RowWorker)  # its run() and stop_waiting() as they are; the program scripted
        worker.program, worker.descriptions = self.ray.program(), {"lm": "scripted"}
        actor = FakeActor(self.ray, worker, len(self.ray.actors))
        self.ray.actors.append(actor)
        return actor


class _Method:
    def __init__(self, call: Callable[..., Any]) -> None:
        self.call = call

    def remote(self, *args: Any) -> Callable[[], Any]:
        return lambda: self.call(*args)


class FakeActor:
    def __init__(self, ray: FakeRay, worker: RowWorker, index: int) -> None:
        self.ray, self.worker, self.index = ray, worker, index
        self.stopped = False
        self.restarting = False
        self.incarnation = 0
        self.describe = _Method(self._describe)
        self.run = SimpleNamespace(remote=self._submit)
        self.stop_waiting = _Method(lambda: None)
        stop = self.stop_waiting.remote

        def stop_now(*args: Any) -> Callable[[], Any]:  # fire and forget, as on Ray: it happens without a get
            self.stopped = True
            self.worker.stop_waiting()
            return stop(*args)

        self.stop_waiting.remote = stop_now

    def _describe(self) -> dict[str, Any]:
        if self.ray.start_error:  # as Ray reports an exception in the actor's __init__
            raise _ActorDiedError(self.ray.start_error)
        self.restarting = False  # answering means it is back
        return self.worker.describe()

    def _submit(self, row, key) -> Callable[[], Any]:
        """A row handed to this actor: it runs when fetched, unless the actor died since (then it died with it)."""
        self.ray.rows_sent_while_restarting += self.restarting
        incarnation = self.incarnation
        return lambda: self._run(row, key, incarnation)

    def _run(self, row, key, incarnation: int):
        if incarnation != self.incarnation:
            raise _ActorUnavailableError(f"worker {self.index} died with this row queued")
        self.ray.ran_on.setdefault(row.source_id, []).append(self.index)
        errors = self.ray.deaths.get(row.source_id)
        if errors:
            self.restarting = True
            self.incarnation += 1
            raise errors.pop(0)(f"worker {self.index} died")
        return self.worker.run(row, key)


@pytest.fixture
def fake_ray(monkeypatch):
    """Install a FakeRay for the next generate(engine="ray"); call with deaths and a program factory."""

    def install(**kwargs: Any) -> FakeRay:
        fake = FakeRay(**kwargs)
        monkeypatch.setattr(ray_cluster_module, "import_ray", lambda: fake)
        return fake

    return install


def by_key(path: Path) -> dict[str, dict]:
    rows = read(path)
    keyed = {row["row_key"]: row for row in rows}
    assert len(keyed) == len(rows), "a row was written twice"
    return keyed


def test_fake_cluster_writes_what_the_local_engine_writes(tmp_path, fake_ray):
    local = make_config(tmp_path, docs=5)
    generate(local, program=EchoProgram(fail_sources={"doc3.md"}))
    fake = fake_ray(program=lambda: EchoProgram(fail_sources={"doc3.md"}))
    on_ray = local.model_copy(update={"engine": "ray", "output_dir": tmp_path / "ray", "num_workers": 2})
    result = generate(on_ray)
    assert by_key(result.records_path) == by_key(local.output_dir / "records.jsonl")
    assert by_key(result.failures_path) == by_key(local.output_dir / "failures.jsonl")
    run = json.loads((on_ray.output_dir / "run.json").read_text())
    assert run["status"] == "finished" and run["config_fingerprint"] == local.fingerprint()
    assert run["models"]["engine"] == "ray" and run["models"]["workers"] == 2
    assert fake.options["max_concurrency"] == 1 and fake.options["num_cpus"] == 1.0 and fake.options["max_task_retries"] == 0
    assert sorted(fake.killed, key=lambda actor: actor.index) == fake.actors  # every worker ended with the run


def test_a_row_whose_worker_dies_is_tried_once_more_on_another_worker(tmp_path, fake_ray):
    fake = fake_ray(deaths={"doc1.md": [_ActorUnavailableError]})
    config = make_config(tmp_path, docs=4, engine="ray", num_workers=2)
    result = generate(config)
    assert sorted(row["source_id"] for row in by_key(result.records_path).values()) == [f"doc{i}.md" for i in range(4)]
    assert read(result.failures_path) == []
    first, second = fake.ran_on["doc1.md"]
    assert first != second
    assert len(fake.actors) == 2  # Ray restarts a worker that is only unavailable: nothing to replace
    assert fake.rows_sent_while_restarting == 0  # no row waited behind the restart: the worker was out of service until it answered


def test_a_row_whose_workers_die_twice_is_a_failure_and_resume_completes_it(tmp_path, fake_ray):
    fake_ray(deaths={"doc2.md": [_ActorUnavailableError, _ActorUnavailableError]})
    config = make_config(tmp_path, docs=4, engine="ray", num_workers=2)
    result = generate(config)
    assert sorted(row["source_id"] for row in by_key(result.records_path).values()) == ["doc0.md", "doc1.md", "doc3.md"]
    [failure] = read(result.failures_path)
    assert failure["source_id"] == "doc2.md" and failure["reason"].startswith("Ray worker died running this row (2 of 2 attempts): _ActorUnavailableError")
    assert result.stats.failure_reasons == {"Ray worker died running this row (2 of 2 attempts)": 1}
    fake_ray()
    resumed = generate(config, resume=True)
    assert len(by_key(resumed.records_path)) == 4 and read(resumed.failures_path) == []
    assert resumed.stats.rows_resumed == 3 and resumed.stats.rows_done == 1


def test_a_worker_dead_for_good_is_replaced(tmp_path, fake_ray):
    fake = fake_ray(deaths={"doc0.md": [_ActorDiedError]})
    config = make_config(tmp_path, docs=3, engine="ray", num_workers=2)
    result = generate(config)
    assert len(by_key(result.records_path)) == 3
    assert len(fake.actors) == 3 and fake.actors[0] in fake.killed  # the dead one, then a new one in its place


def test_workers_that_cannot_start_fail_the_run_once_with_the_cause(tmp_path, fake_ray):
    traceback = "The actor died because of an error raised in its creation task, ray::RowWorker.__init__()\n  File x\nValueError: no such model: local:/missing.gguf"
    fake = fake_ray(start_error=traceback)
    with pytest.raises(UserError, match="could not start: ValueError: no such model: local:/missing.gguf"):
        generate(make_config(tmp_path, docs=2, engine="ray", num_workers=2))
    assert set(fake.killed) == set(fake.actors) and len(fake.actors) == 2


def test_rows_in_flight_are_bounded(tmp_path, fake_ray):
    fake = fake_ray()
    generate(make_config(tmp_path, docs=12, engine="ray", num_workers=2, concurrency=4))
    assert fake.options["max_concurrency"] == 2
    assert fake.max_pending == 2 * 2 * 2  # workers x rows each x 2


def test_max_failure_rate_aborts_stops_the_workers_and_resumes(tmp_path, fake_ray):
    fake = fake_ray(program=lambda: EchoProgram(fail_sources={f"doc{i}.md" for i in range(20)}))
    config = make_config(tmp_path, docs=20, engine="ray", num_workers=2, max_failure_rate=0.5)
    with pytest.raises(RunAborted, match="max-failure-rate"):
        generate(config)
    assert json.loads((config.output_dir / "run.json").read_text())["status"] == "aborted"
    assert all(actor.stopped for actor in fake.actors)
    assert len(read(config.output_dir / "failures.jsonl")) == 12  # checked after 10 rows: the 2 x 1 x 2 in flight then finish, no more start
    fake_ray()
    result = generate(config, resume=True)
    assert len(by_key(result.records_path)) == 20


def test_ctrl_c_ends_the_workers_and_leaves_a_resumable_run(tmp_path, fake_ray):
    gets = {"count": 0}

    def interrupt_on_the_third_row() -> None:
        gets["count"] += 1
        if gets["count"] == 5:  # each worker's describe call, two rows, then Ctrl-C
            raise KeyboardInterrupt

    fake = fake_ray(on_get=interrupt_on_the_third_row)
    config = make_config(tmp_path, docs=5, engine="ray", num_workers=2)
    with pytest.raises(KeyboardInterrupt):
        generate(config)
    assert set(fake.killed) == set(fake.actors)
    assert json.loads((config.output_dir / "run.json").read_text())["status"] == "running"  # as the local engine leaves it
    assert len(read(config.output_dir / "records.jsonl")) == 2
    fake_ray()
    result = generate(config, resume=True)
    assert len(by_key(result.records_path)) == 5 and result.stats.rows_resumed == 2


# --------------------------------------------------------------------------- a real local cluster

DOCS = {
    "pumps.txt": (
        "The cooling pump moves water through the engine block at forty litres per minute. "
        "When the coolant passes ninety degrees, a thermostat opens the bypass valve. "
        "The bypass valve sends hot water to the radiator on the roof."
    ),
    "library.txt": (
        "The city library opened its north wing in 1998. "
        "The north wing holds the map collection and a reading room for students. "
        "Old maps are scanned in the basement lab before they go on display."
    ),
    "bakery.txt": (
        "The bakery on Elm Street starts baking at four in the morning. "
        "Its sourdough rests for eighteen hours before it is shaped. "
        "Unsold bread is given to the shelter every evening."
    ),
    "harbour.txt": (
        "The harbour crane lifts containers of up to forty tonnes. "
        "Its operators work in shifts of six hours. "
        "Wind above sixty kilometres per hour stops all lifting."
    ),
}


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray cluster for the module (2 CPUs, no dashboard); the engine uses it and leaves it running."""
    ray = pytest.importorskip("ray")
    with pytest.MonkeyPatch.context() as patch:
        # Set before the cluster starts: its workers inherit this process's environment then, as the engine's own local cluster's do.
        patch.setenv("OPENAI_API_KEY", "sk-stub-not-a-real-key")
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning",
                 runtime_env={"env_vars": ray_cluster_module.worker_env()})
        yield ray
        ray.shutdown()


def write_docs(root: Path, names: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        (root / name).write_text(DOCS[name] + "\n", encoding="utf-8")
    return root


def kill_one_worker_when(ray, ready: Callable[[], bool], killed: list[str]) -> threading.Thread:
    """From a thread, once ``ready()``: kill one worker actor as a crash would (Ray restarts it)."""

    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not ready():
            time.sleep(0.05)
        names = sorted(name["name"] if isinstance(name, dict) else name for name in ray.util.list_named_actors())
        names = [name for name in names if name.startswith(ACTOR_NAME_PREFIX)]
        if names:
            ray.kill(ray.get_actor(names[0]), no_restart=False)
            killed.append(names[0])

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
def test_stub_endpoint_ray_writes_the_local_records_and_survives_a_killed_worker(ray_local, tmp_path):
    """Through the stub endpoint: one worker is killed mid-run; every row lands in exactly one file, none twice;
    --resume completes the run, and the records equal the local engine's, row key by row key.

    The resume runs on the local engine: resuming is the driver's work (the same for both engines, and
    covered on the Ray engine by the FakeRay tests above), and Ray workers take 15-30 s to start here."""
    docs = write_docs(tmp_path / "docs", list(DOCS))
    failing = {"on": True}

    def reply(request):  # the first run: every call about the bakery fails (no retries), so resume has work to do
        if failing["on"] and "bakery" in request.input_text.lower():
            from tests.openai_stub import error

            return error(500, "down for the bakery")
        return valid_reply(request)

    with OpenAIStub(reply, delay=0.3) as stub:
        base = GenerateConfig(chunking=ChunkingConfig(input_dir=docs), generation=GenerationSettings(num_pairs=2), lm="openai/stub",
                              api_base=stub.base_url, structured_output="json_schema", num_retries=0, output_dir=tmp_path / "local")
        failing["on"] = False
        generate(base)
        local = by_key(base.output_dir / "records.jsonl")
        assert len(local) == len(DOCS)

        failing["on"] = True
        stub.reset()
        on_ray = base.model_copy(update={"engine": "ray", "num_workers": 2, "concurrency": 2, "output_dir": tmp_path / "ray"})
        killed: list[str] = []
        watcher = kill_one_worker_when(ray_local, lambda: stub.stats()["calls"] >= 2, killed)
        first = generate(on_ray)
        watcher.join(timeout=10)
        assert killed, "no worker was killed"
        records, failures = by_key(first.records_path), by_key(first.failures_path)
        assert not records.keys() & failures.keys(), "a row is in both files"
        assert records.keys() | failures.keys() == local.keys(), "a row is in neither file"
        assert any(row["source_id"] == "bakery.txt" for row in failures.values())

        failing["on"] = False
        resumed = generate(on_ray.model_copy(update={"engine": "local"}), resume=True)  # engine options are outside the fingerprint
        assert read(resumed.failures_path) == []
        assert by_key(resumed.records_path) == local
        assert json.loads((on_ray.output_dir / "run.json").read_text())["status"] == "finished"


@pytest.mark.slow
def test_embedded_model_ray_writes_the_local_records(ray_local, tmp_path):
    """The embedded SmolLM2 inside a worker actor, one segment per document: the same records as in this process."""
    docs = write_docs(tmp_path / "docs", ["pumps.txt", "library.txt"])
    base = GenerateConfig(chunking=ChunkingConfig(input_dir=docs, sentences_per_chunk=3), generation=GenerationSettings(num_pairs=1, segment_attempts=1),
                          lm="local", max_tokens=256, output_dir=tmp_path / "local")
    generate(base)
    on_ray = base.model_copy(update={"engine": "ray", "num_workers": 1, "output_dir": tmp_path / "ray"})
    result = generate(on_ray)
    local = by_key(base.output_dir / "records.jsonl")
    assert len(local) == 2 and by_key(result.records_path) == local
    assert read(result.failures_path) == read(base.output_dir / "failures.jsonl") == []
