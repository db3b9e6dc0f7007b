"""``engine: ray``: rows run in a pool of Ray actors; this process stays the single writer of the output.

The driver (this process) pulls seed rows lazily from the same generator as the local engine and
hands them one at a time to worker actors. Each actor builds its LMs, program and embedder once
(``build_program``; the embedded llama.cpp model loads in every actor) and runs the rows it is given
as threads, up to its share of the run's concurrency. It returns finished ``GeneratedRecord`` or
``FailedRow`` objects, and the driver hands them to the same ``on_record``/``on_failure`` callbacks
as :func:`~sdg_program.runner.rows.run_rows`: ``records.jsonl``, ``failures.jsonl``, ``run.json``,
resume, the fingerprint and the failure accounting are the local engine's. Rows finish in a
different order.

Why an actor pool fed by the driver rather than Ray Data: the writer has to see every result
anyway, rows are few and slow (seconds of LLM calls each, not milliseconds of arithmetic), and a
pool lets the driver retry exactly the rows a dead worker held.

Bounded work: at most ``2 x per-worker concurrency`` rows per worker are in flight (half running,
half queued in the actor so it never waits for the driver), so memory holds only those rows.

A worker that dies (killed, out of memory, its node lost): Ray restarts it (``MAX_RESTARTS``), or
the driver replaces it once Ray gives up, and no row is sent to it until it answers again (its
restart loads the models anew). Every row it held is tried once more on another worker; a row
whose second worker dies too goes to ``failures.jsonl`` with the reason, so no row is lost or
written twice. A row that was still queued in the dead actor counts as tried: Ray cannot tell
whether it started.
"""

from __future__ import annotations

import logging
import math
import os
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

from sdg_program.core.errors import SdgError, UserError
from sdg_program.core.ray_cluster import default_num_workers, ray_cluster, worker_env
from sdg_program.core.records import FailedRow, GeneratedRecord, SeedRow
from sdg_program.core.secrets import scrub
from sdg_program.runner.config import GenerateConfig

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 2  # a row is tried on at most two workers that die under it
MAX_RESTARTS = 3  # Ray restarts a dead worker this often before the driver replaces it
ACTOR_NAME_PREFIX = "sdg-program-worker"


class WorkerStartFailed(UserError):
    """The worker actors could not build the program (a bad --lm, a missing model file on a node, another sdg-program version, ...)."""


class WorkersLost(SdgError):
    """Workers kept dying faster than they could be replaced; the run stops (resumable, like a killed run)."""


class RowWorker:
    """One Ray actor: builds the program once, then runs the rows it is handed, several at a time (threads).

    Registered with Ray at run time (``ray.remote(RowWorker)``), as Ray is an optional import.
    """

    def __init__(self, config: dict[str, Any], cwd: str, fingerprint: str) -> None:
        import dspy

        from sdg_program.runner.generation import build_program

        # Relative paths in the config (--program, an --embedder folder) mean what they mean to the driver.
        if os.path.isdir(cwd):
            os.chdir(cwd)
        settings = GenerateConfig.model_validate(config)
        # The driver keys rows by its fingerprint; a worker whose signatures or --program file differ
        # (another sdg-program on a node, a file missing there) would write rows that key does not describe.
        if settings.fingerprint() != fingerprint:
            raise RuntimeError(f"this worker's settings fingerprint is {settings.fingerprint()}, the driver's {fingerprint}: "
                               "install the same sdg-program on every node, and put --program at the same path on each")
        # As the CLI does for the local engine (cli/generate.py dspy_history_off): DSPy keeps the
        # last 10,000 calls in memory (~33 KB each), which a long-lived worker would only pile up.
        dspy.settings.configure(disable_history=True)
        self.program, self.descriptions = build_program(settings)

    def describe(self) -> dict[str, Any]:
        """The model descriptions for run.json; answering at all means the program is built."""
        return self.descriptions

    def run(self, row: SeedRow, key: str) -> GeneratedRecord | FailedRow:
        """One row, with the local engine's error handling (a row's failure becomes a ``FailedRow``)."""
        from sdg_program.runner.rows import run_rows

        results: list[GeneratedRecord | FailedRow] = []
        run_rows(self.program, iter([(row, key)]), concurrency=1, on_record=results.append, on_failure=results.append)
        return results[0]

    def stop_waiting(self) -> None:
        """The run aborts: rows here stop waiting out retry backoff and give up at their next fault."""
        self.program.waiter.stop()


@dataclass
class _Flight:
    """A row handed to a worker: which one (slot and the handle it had then) and how often it was tried."""

    row: SeedRow
    key: str
    attempt: int = 1
    slot: int = -1
    handle: Any = None
    failed_slots: set[int] = field(default_factory=set)


class WorkerPool:
    """The run's worker actors: started once, fed rows by :meth:`run_rows`, recovered when one dies, ended by :meth:`close`."""

    def __init__(self, ray: Any, config: GenerateConfig, *, num_workers: int, per_worker: int) -> None:
        self.ray = ray
        self.config = config
        self.num_workers = num_workers
        self.per_worker = per_worker
        self.slot_cap = 2 * per_worker  # rows in flight per worker: half running, half queued in the actor
        self.run_id = uuid.uuid4().hex[:8]
        self.replaced = 0
        self.max_replacements = 2 * num_workers + 2
        self.remote_class = ray.remote(RowWorker)
        self.config_data = config.model_dump(mode="json")
        self.actors: list[Any] = []
        self.probes: dict[Any, int] = {}  # describe() calls to workers out of service, by slot: done = back in service
        self.descriptions: dict[str, Any] = {}

    # ------------------------------------------------------------------ lifecycle

    def _new_actor(self, slot: int) -> Any:
        return self.remote_class.options(
            name=f"{ACTOR_NAME_PREFIX}-{self.run_id}-{slot}-{self.replaced}",
            num_cpus=self.config.worker_cpus,
            num_gpus=self.config.worker_gpus,
            max_concurrency=self.per_worker,
            max_restarts=MAX_RESTARTS,
            max_task_retries=0,  # the driver retries rows itself, so it can count the attempts
            runtime_env={"env_vars": worker_env()},
        ).remote(self.config_data, os.getcwd(), self.config.fingerprint())

    def start(self) -> None:
        """Create the actors and wait until each has built its program (so a bad config fails here, once)."""
        self.actors = [self._new_actor(slot) for slot in range(self.num_workers)]
        logger.info("starting %d Ray workers (%d rows each at a time)", self.num_workers, self.per_worker)
        try:
            described = self.ray.get([actor.describe.remote() for actor in self.actors])
        except self.ray.exceptions.RayError as error:
            self.close()
            raise WorkerStartFailed(f"the Ray workers could not start: {_cause(error)}") from None
        self.descriptions = {**described[0], "engine": "ray", "workers": self.num_workers, "rows_per_worker": self.per_worker}

    def close(self) -> None:
        """End every worker at once (rows still running in them are dropped; resume redoes them)."""
        for actor in self.actors:
            try:
                self.ray.kill(actor, no_restart=True)
            except Exception:  # already gone
                pass
        self.actors = []
        self.probes = {}

    # ------------------------------------------------------------------ a worker that died

    def _out_of_service(self) -> set[int]:
        return set(self.probes.values())

    def _lost(self, slot: int, handle: Any, error: Exception) -> None:
        """A worker died under a row. Take it out of service until it answers again, so no row waits behind its restart."""
        if handle is self.actors[slot] and slot not in self._out_of_service():  # not already being recovered
            self._recover(slot, error)

    def _recover(self, slot: int, error: Exception) -> None:
        """Ray restarts a worker that died (``ActorUnavailableError``); once it gives up (``ActorDiedError``), replace it.
        Either way a ``describe()`` call tells when the worker is back."""
        if isinstance(error, self.ray.exceptions.ActorDiedError):
            self.replaced += 1
            if self.replaced > self.max_replacements:
                raise WorkersLost(f"Ray workers kept dying ({self.replaced} replaced); last: {_first_lines(error)}. Resume once the cluster is healthy.")
            logger.warning("Ray worker %d is dead for good; starting a replacement: %s", slot, _first_lines(error))
            try:
                self.ray.kill(self.actors[slot], no_restart=True)
            except Exception:
                pass
            self.actors[slot] = self._new_actor(slot)
        self.probes[self.actors[slot].describe.remote()] = slot

    def _probe_answered(self, ref: Any) -> None:
        slot = self.probes.pop(ref)
        try:
            self.ray.get(ref)
        except self.ray.exceptions.RayActorError as error:
            self._recover(slot, error)

    # ------------------------------------------------------------------ the feed loop

    def run_rows(
        self,
        rows: Iterator[tuple[SeedRow, str]],
        *,
        on_record: Callable[[GeneratedRecord], None],
        on_failure: Callable[[FailedRow], None],
        should_abort: Callable[[], str | None] = lambda: None,
    ) -> None:
        """:func:`~sdg_program.runner.rows.run_rows` on the workers: same callbacks, called from this thread."""
        feed = _Feed(self, iter(rows), on_record, on_failure)
        try:
            while True:
                if not feed.stopped and should_abort() is not None:
                    feed.stop()
                feed.submit()
                if not feed.pending and (feed.stopped or not feed.work_left()):
                    break
                for ref in feed.wait():
                    if ref in self.probes:
                        self._probe_answered(ref)
                    else:
                        feed.collect(ref)
        except BaseException:
            # Ctrl-C or a lost cluster: stop every worker now, as the local engine drops its rows in
            # flight; what was written stays, run.json still says "running", and --resume continues.
            self.close()
            raise


class _Feed:
    """One run's rows on their way through the pool: pulled lazily, retried after a worker death, results handed on."""

    def __init__(self, pool: WorkerPool, source: Iterator[tuple[SeedRow, str]], on_record: Callable[[GeneratedRecord], None], on_failure: Callable[[FailedRow], None]) -> None:
        self.pool = pool
        self.ray = pool.ray
        self.source = source
        self.on_record = on_record
        self.on_failure = on_failure
        self.pending: dict[Any, _Flight] = {}
        self.retries: deque[_Flight] = deque()
        self.load = [0] * pool.num_workers
        self.exhausted = False
        self.stopped = False

    def work_left(self) -> bool:
        return bool(self.retries) or not self.exhausted

    def stop(self) -> None:
        """The run aborts: no new rows; rows in flight give up at their next fault; rows awaiting a retry fail now."""
        self.stopped = True
        for actor in self.pool.actors:
            actor.stop_waiting.remote()
        while self.retries:
            self.on_failure(_worker_failure(self.retries.popleft(), "not tried again: the run was aborted"))

    def _next(self) -> _Flight | None:
        if self.retries:
            return self.retries.popleft()
        while not self.exhausted:
            try:
                row, key = next(self.source)
            except StopIteration:
                self.exhausted = True
                break
            return _Flight(row, key)
        return None

    def submit(self) -> None:
        """Hand rows to workers in service until each holds ``slot_cap`` (the least loaded first)."""
        out = self.pool._out_of_service()
        while not self.stopped:
            free = [slot for slot in range(self.pool.num_workers) if slot not in out and self.load[slot] < self.pool.slot_cap]
            if not free:
                return
            flight = self._next()
            if flight is None:
                return
            candidates = [slot for slot in free if slot not in flight.failed_slots] or free  # another worker than the one(s) that died under it
            flight.slot = min(candidates, key=lambda slot: self.load[slot])
            flight.handle = self.pool.actors[flight.slot]
            self.load[flight.slot] += 1
            self.pending[flight.handle.run.remote(flight.row, flight.key)] = flight

    def wait(self) -> list[Any]:
        """Block until a row or a probe is done; return everything done by then."""
        refs = [*self.pending, *self.pool.probes]
        ready, _ = self.ray.wait(refs, num_returns=1)
        if len(refs) > 1:
            ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
        return ready

    def collect(self, ref: Any) -> None:
        """A row came back: its record or failure goes to the callbacks; a worker death sends it to another worker once."""
        flight = self.pending.pop(ref)
        self.load[flight.slot] -= 1
        try:
            result = self.ray.get(ref)
        except self.ray.exceptions.RayActorError as error:
            self.pool._lost(flight.slot, flight.handle, error)
            flight.failed_slots.add(flight.slot)
            if flight.attempt < MAX_ATTEMPTS and not self.stopped:
                logger.warning("Ray worker %d died running %s; trying it on another worker", flight.slot, flight.row.source_id)
                flight.attempt += 1
                self.retries.append(flight)
            else:
                self.on_failure(_worker_failure(flight, _first_lines(error)))
            return
        except self.ray.exceptions.RayError as error:  # the result could not come back (object lost, not deserialisable)
            self.on_failure(_worker_failure(flight, _first_lines(error), reason="Ray could not return this row's result"))
            return
        if isinstance(result, GeneratedRecord):
            self.on_record(result)
        else:
            self.on_failure(result)


def _worker_failure(flight: _Flight, detail: str, *, reason: str | None = None) -> FailedRow:
    reason = reason or f"Ray worker died running this row ({flight.attempt} of {MAX_ATTEMPTS} attempts)"
    return FailedRow(row_key=flight.key, source_id=flight.row.source_id, file_name=flight.row.file_name, reason=scrub(f"{reason}: {detail}")[:500])


def _first_lines(error: BaseException, lines: int = 2) -> str:
    """The head of a Ray error (its full text carries a traceback), on one line."""
    text = " ".join(line.strip() for line in str(error).strip().splitlines()[:lines] if line.strip())
    return f"{type(error).__name__}: {text}"[:400]


def _cause(error: BaseException) -> str:
    """What failed in a worker: the last line of the remote traceback Ray's message carries ("ValueError: ...")."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return scrub(lines[-1] if lines else type(error).__name__)[:400]


def per_worker_concurrency(config: GenerateConfig, num_workers: int) -> int:
    """Rows each worker runs at once: ``concurrency`` spread over the workers, else the local engine's default per worker."""
    if config.concurrency is not None:
        return max(1, math.ceil(config.concurrency / num_workers))
    from sdg_program.backends.factory import default_concurrency

    return min(default_concurrency(config.lm), default_concurrency(config.judge_lm or config.lm))


@contextmanager
def ray_workers(config: GenerateConfig, *, verbose: bool | None = None) -> Iterator[WorkerPool]:
    """The run's cluster and started worker pool; both are ended on the way out."""
    if verbose is None:
        verbose = logging.getLogger("sdg_program").isEnabledFor(logging.INFO)  # -v
    cpus_needed = (config.num_workers or 0) * config.worker_cpus
    with ray_cluster(config.ray_address, cpus_needed=cpus_needed, verbose=verbose) as ray:
        _check_resources(ray, config)
        num_workers = config.num_workers or default_num_workers(ray, config.worker_cpus, config.worker_gpus)
        if config.num_workers is None and config.concurrency is not None:
            num_workers = min(num_workers, config.concurrency)  # a worker with nothing to run is a wasted model copy
        pool = WorkerPool(ray, config, num_workers=num_workers, per_worker=per_worker_concurrency(config, num_workers))
        try:
            pool.start()
            yield pool
        finally:
            pool.close()


def _check_resources(ray: Any, config: GenerateConfig) -> None:
    """Workers the cluster cannot place would wait for ever: no GPUs at all is an error, too few CPUs a warning
    (an autoscaling cluster may still add nodes)."""
    resources = ray.cluster_resources()
    if config.worker_gpus > 0 and not resources.get("GPU"):
        raise UserError(f"worker_gpus is {config.worker_gpus}, but the Ray cluster has no GPUs")
    needed = (config.num_workers or 0) * config.worker_cpus
    if needed > resources.get("CPU", 0):
        logger.warning("num_workers x worker_cpus = %g CPUs, but the Ray cluster has %g: workers wait until nodes join", needed, resources.get("CPU", 0))
