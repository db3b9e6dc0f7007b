"""Run the program over a corpus: concurrency, checkpoints, resume, progress and usage.

Each finished row is appended to ``records.jsonl`` as one whole, flushed line; a row
that fails after retries goes to ``failures.jsonl`` with its reason. ``--resume``
skips rows whose key (row content + settings) is already in ``records.jsonl`` and
retries the failed ones, so a killed run loses at most the rows in flight and never
writes a row twice. ``run.json`` records the redacted config, versions, a corpus
fingerprint and the counts.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import platform
import threading
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field

from sdg_program.config import ChunkingConfig, GenerationSettings
from sdg_program.faults import FaultTally
from sdg_program.output import jsonl_text, remove_stale_temporaries, write_json_atomic, write_jsonl_atomic
from sdg_program.program import ROLES, RetrievalSDG, RowFailed
from sdg_program.records import FailedRow, GeneratedRecord, SeedRow
from sdg_program.secrets import redact, scrub

logger = logging.getLogger(__name__)

RECORDS_FILE = "records.jsonl"
FAILURES_FILE = "failures.jsonl"
RUN_FILE = "run.json"


class GenerateConfig(BaseModel):
    """Everything a generate run depends on; YAML config files have this shape."""

    model_config = ConfigDict(extra="forbid")

    chunking: ChunkingConfig
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    output_dir: Path = Path("generated")
    lm: str = "local"
    judge_lm: str | None = None
    api_base: str | None = None
    judge_api_base: str | None = None
    embedder: str | None = None
    program: Path | None = None
    concurrency: int | None = Field(None, ge=1, le=512)
    num_records: int | None = Field(None, ge=1)
    max_tokens: int = Field(2048, ge=64)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    seed: int | None = 0
    timeout: float = Field(180.0, gt=0)
    num_retries: int = Field(5, ge=0, description="Retries of a call after a transient endpoint fault (429, 5xx, timeout)")
    retry_base_delay: float = Field(1.0, gt=0, le=60, description="First backoff in seconds (doubling per retry) when the endpoint sends no Retry-After")
    structured_output: Literal["auto", "json_schema", "json_object_schema", "json_object"] = Field("auto", description="How remote endpoints are asked for JSON (sdg_program.lm.EndpointEngine)")
    max_failure_rate: float | None = Field(None, gt=0.0, le=1.0, description="Abort when more than this share of rows fail (checked after 10 rows)")

    @property
    def self_judging(self) -> bool:
        """True when the judge is the generating model (same model string at the same endpoint)."""
        if self.judge_lm is None:
            return True
        return self.judge_lm == self.lm and (self.judge_api_base or self.api_base) == self.api_base

    def fingerprint(self) -> str:
        """Hash of every setting that changes what a row's output would be."""
        relevant = self.model_dump(
            mode="json",
            exclude={"output_dir": True, "concurrency": True, "num_records": True, "timeout": True, "num_retries": True, "retry_base_delay": True, "max_failure_rate": True, "chunking": {"input_dir"}},
        )
        if self.program is not None and self.program.is_file():
            relevant["program_sha256"] = hashlib.sha256(self.program.read_bytes()).hexdigest()
        # The prompts and output contracts themselves: after an upgrade that changes them, --resume
        # must refuse rather than mix rows written under the old prompts with new ones.
        relevant["signatures"] = signatures_digest()
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def signatures_digest() -> str:
    """Hash of the program's signatures: instructions, field names and descriptions, output JSON schemas."""
    from pydantic import TypeAdapter

    from signatures import ExtractArtifacts, GenerateQAPairs, JudgeQAPairs

    parts = []
    for signature in (ExtractArtifacts, GenerateQAPairs, JudgeQAPairs):
        parts.append(signature.instructions)
        for name, info in signature.fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            parts.append([name, extra.get("desc"), extra.get("prefix")])
        for name, info in signature.output_fields.items():
            parts.append([name, TypeAdapter(info.annotation).json_schema()])
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def row_key(row: SeedRow, fingerprint: str) -> str:
    """Key of a row's output: its content (chunks and names) and the run's settings."""
    digest = hashlib.sha256()
    digest.update(fingerprint.encode())
    digest.update(json.dumps(row.file_name).encode())
    for chunk in row.chunks:
        digest.update(chunk.content_hash.encode())
    digest.update("\n".join(row.sections_structured).encode())
    return digest.hexdigest()[:24]


@dataclass
class RunStats:
    """Counts for the progress bar, the summary and run.json."""

    rows_total: int = 0
    rows_done: int = 0
    rows_failed: int = 0
    rows_resumed: int = 0
    pairs_generated: int = 0
    pairs_after_dedup: int = 0
    pairs_valid: int = 0
    pairs_judged: int = 0
    judge_scores: list[float] = field(default_factory=list)
    rejection_reasons: Counter = field(default_factory=Counter)
    normalizations: Counter = field(default_factory=Counter)
    failure_reasons: Counter = field(default_factory=Counter)
    usage: dict[str, dict[str, int]] = field(default_factory=lambda: {role: {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0} for role in ROLES})
    faults: FaultTally = field(default_factory=FaultTally)
    seconds: float = 0.0
    aborted: str | None = None

    def add_record(self, record: GeneratedRecord) -> None:
        self.rows_done += 1
        self.pairs_generated += len(record.qa_generation["pairs"])
        self.pairs_after_dedup += len(record.deduplicated_qa_pairs)
        for validation in record.qa_validations:
            if validation["valid"]:
                self.pairs_valid += 1
            self.rejection_reasons.update(validation["reasons"])
            self.normalizations.update(validation.get("normalizations") or [])
        for evaluation in record.qa_evaluations["evaluations"]:
            self.pairs_judged += 1
            self.judge_scores.append(float(evaluation["overall"]["score"]))
        self.add_usage(record.lm_usage)
        self.faults.add(record.faults)

    def add_failure(self, failure: FailedRow) -> None:
        self.rows_failed += 1
        self.failure_reasons[failure_reason_code(failure.reason)] += 1
        self.faults.add(failure.faults)

    def add_usage(self, usage: dict[str, dict[str, int]]) -> None:
        for role, counts in usage.items():
            for key, value in counts.items():
                self.usage.setdefault(role, {}).setdefault(key, 0)
                self.usage[role][key] += value

    def tokens(self) -> int:
        return sum(counts.get("prompt_tokens", 0) + counts.get("completion_tokens", 0) for counts in self.usage.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_total": self.rows_total,
            "rows_done": self.rows_done,
            "rows_failed": self.rows_failed,
            "rows_resumed": self.rows_resumed,
            "pairs_generated": self.pairs_generated,
            "pairs_after_dedup": self.pairs_after_dedup,
            "pairs_removed_as_duplicates": self.pairs_generated - self.pairs_after_dedup,
            "pairs_valid": self.pairs_valid,
            "pairs_judged": self.pairs_judged,
            "judge_overall_mean": round(sum(self.judge_scores) / len(self.judge_scores), 3) if self.judge_scores else None,
            "rejection_reasons": dict(self.rejection_reasons.most_common()),
            "normalizations": dict(self.normalizations.most_common()),
            "failure_reasons": dict(self.failure_reasons.most_common()),
            "lm_usage": self.usage,
            "faults": self.faults.as_dict(),
            "wall_seconds": round(self.seconds, 2),
            "aborted": self.aborted,
        }


def failure_reason_code(reason: str) -> str:
    """The counted part of a failure reason: its text up to the first colon (e.g. "endpoint timeout after 6 tries (judge)")."""
    return reason.split(":")[0][:80]


class OutputExists(Exception):
    """The output folder already holds a run; the caller must choose --resume or --overwrite."""


class ResumeMismatch(Exception):
    """--resume was asked for, but the earlier run used different settings."""


class RunAborted(Exception):
    """Too many rows failed (--max-failure-rate): the run stopped and can be resumed."""

    def __init__(self, message: str, stats: "RunStats | None" = None):
        super().__init__(message)
        self.stats = stats


@dataclass
class Checkpoint:
    """The JSONL files of one output folder, appended line by line under a lock."""

    output_dir: Path
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def records_path(self) -> Path:
        return self.output_dir / RECORDS_FILE

    @property
    def failures_path(self) -> Path:
        return self.output_dir / FAILURES_FILE

    def append(self, path: Path, line: dict[str, Any]) -> None:
        data = (jsonl_text(line) + "\n").encode("utf-8")
        with self.lock:
            with open(path, "ab") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())


def repair_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL checkpoint, dropping a half-written last line (from a killed run) from the file."""
    if not path.exists():
        return []
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep < len(data):
        logger.warning("%s: discarding a half-written last line (%d bytes) from an interrupted run", path.name, len(data) - keep)
        with open(path, "r+b") as stream:
            stream.truncate(keep)
    rows = []
    for number, line in enumerate(data[:keep].splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            logger.warning("%s:%d is not valid JSON; ignored", path.name, number)
    return rows


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("sdg-program", "dspy", "llama_cpp_python", "sentence-transformers", "litellm"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            pass
    return versions


def prepare_output(config: GenerateConfig, *, resume: bool, overwrite: bool) -> tuple[Checkpoint, set[str]]:
    """Create or reopen the output folder; return the checkpoint and the keys of rows already done."""
    output_dir = config.output_dir
    input_dir = config.chunking.input_dir.resolve()
    resolved_output = output_dir.resolve()
    if resolved_output == input_dir or input_dir in resolved_output.parents:
        raise ValueError(f"--output-dir {output_dir} is inside --input-dir {config.chunking.input_dir}; its files would be read as documents")
    checkpoint = Checkpoint(output_dir)
    existing = checkpoint.records_path.exists() or checkpoint.failures_path.exists()
    if existing and not resume and not overwrite:
        raise OutputExists(f"{output_dir} already holds a run: pass --resume to continue it or --overwrite to start again")
    output_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(output_dir)  # left by a run killed while rewriting run.json or failures.jsonl
    if overwrite and not resume:
        for name in (RECORDS_FILE, FAILURES_FILE, RUN_FILE):
            (output_dir / name).unlink(missing_ok=True)
        return checkpoint, set()
    done: set[str] = set()
    if resume and existing:
        run_path = output_dir / RUN_FILE
        if run_path.exists():
            previous = json.loads(run_path.read_text()).get("config_fingerprint")
            if previous and previous != config.fingerprint():
                raise ResumeMismatch(
                    f"{output_dir} was generated with different settings (fingerprint {previous}, now {config.fingerprint()}); "
                    "use the same options to resume, or a new --output-dir"
                )
        done = {record["row_key"] for record in repair_jsonl(checkpoint.records_path) if "row_key" in record}
        # Failed rows are tried again; their old failure lines would otherwise be duplicates.
        failures = repair_jsonl(checkpoint.failures_path)
        if failures:
            logger.info("retrying %d rows that failed in the earlier run", len(failures))
            write_jsonl_atomic(checkpoint.failures_path, [])
    return checkpoint, done


@dataclass
class GenerateResult:
    output_dir: Path
    records_path: Path
    failures_path: Path
    stats: RunStats


def _record_from(row: SeedRow, key: str, prediction: Any) -> GeneratedRecord:
    return GeneratedRecord(**row.model_dump(), **{name: prediction[name] for name in (
        "document_artifacts", "qa_generation", "deduplicated_qa_pairs", "qa_evaluations", "qa_validations",
        "generation_validations", "dedup", "windows", "lm_usage", "faults", "errors")}, row_key=key)


def run_rows(
    program: RetrievalSDG,
    rows: Iterator[tuple[SeedRow, str]],
    *,
    concurrency: int,
    on_record: Callable[[GeneratedRecord], None],
    on_failure: Callable[[FailedRow], None],
    should_abort: Callable[[], str | None] = lambda: None,
) -> None:
    """Run ``program`` over ``(row, key)`` pairs with at most ``concurrency`` rows in flight.

    Rows are pulled lazily, so memory holds only the rows in flight. Results are
    handed to the callbacks in completion order from this thread.
    """

    def work(row: SeedRow, key: str) -> GeneratedRecord | FailedRow:
        try:
            prediction = program(row=row)
            return _record_from(row, key, prediction)
        except RowFailed as error:
            # Endpoint errors can echo request headers; nothing secret reaches failures.jsonl.
            errors = [{name: scrub(value) if isinstance(value, str) else value for name, value in entry.items()} for entry in error.errors]
            return FailedRow(row_key=key, source_id=row.source_id, file_name=row.file_name, reason=scrub(str(error))[:500], errors=errors, faults=error.faults)
        except Exception as error:  # never let one row end the run
            logger.exception("row %s failed", row.source_id)
            return FailedRow(row_key=key, source_id=row.source_id, file_name=row.file_name, reason=scrub(f"{type(error).__name__}: {error}")[:500])

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sdg-row") as pool:
        in_flight: set[Future] = set()
        source = iter(rows)
        exhausted = False
        while True:
            while not exhausted and len(in_flight) < concurrency and should_abort() is None:
                try:
                    row, key = next(source)
                except StopIteration:
                    exhausted = True
                    break
                in_flight.add(pool.submit(work, row, key))
            if not in_flight:
                break
            finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                result = future.result()
                if isinstance(result, GeneratedRecord):
                    on_record(result)
                else:
                    on_failure(result)
            if should_abort() is not None:
                exhausted = True
                # Rows in flight stop waiting out backoff and give up at their next fault.
                waiter = getattr(program, "waiter", None)
                if waiter is not None:
                    waiter.stop()


def write_run_file(config: GenerateConfig, stats: RunStats, *, status: str, corpus_fingerprint: str | None, lm_descriptions: dict[str, Any]) -> None:
    write_json_atomic(
        config.output_dir / RUN_FILE,
        {
            "status": status,
            "config": redact(config.model_dump(mode="json")),
            "config_fingerprint": config.fingerprint(),
            "corpus_fingerprint": corpus_fingerprint,
            "models": lm_descriptions,
            "versions": package_versions(),
            "counts": stats.as_dict(),
        },
    )
