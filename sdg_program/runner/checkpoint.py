"""The output folder of a run: append-only JSONL checkpoints, resume, and the refusal to mix runs.

Each finished row is appended to ``records.jsonl`` as one whole, flushed line; a row that fails
goes to ``failures.jsonl``. ``--resume`` skips rows already in ``records.jsonl`` and retries the
failed ones, so a killed run loses at most the rows in flight and never writes a row twice.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdg_program.core.errors import OutputExists, ResumeMismatch, UserError
from sdg_program.core.files import jsonl_text, remove_stale_temporaries, write_jsonl_atomic
from sdg_program.runner.config import FAILURES_FILE, RECORDS_FILE, RUN_FILE, GenerateConfig

logger = logging.getLogger(__name__)


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


def prepare_output(config: GenerateConfig, *, resume: bool, overwrite: bool) -> tuple[Checkpoint, set[str]]:
    """Create or reopen the output folder; return the checkpoint and the keys of rows already done."""
    output_dir = config.output_dir
    input_dir = config.chunking.input_dir.resolve()
    resolved_output = output_dir.resolve()
    if resolved_output == input_dir or input_dir in resolved_output.parents:
        raise UserError(f"--output-dir {output_dir} is inside --input-dir {config.chunking.input_dir}; its files would be read as documents")
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
