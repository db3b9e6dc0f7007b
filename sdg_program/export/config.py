"""What ``convert`` is asked to do and what it answers: its options, its result and the file names it uses.

Kept apart from the conversion itself so that the CLI can build and check a ``ConvertConfig``
without importing Arrow, ``datasets`` or the embedder.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sdg_program.core.errors import MissingInputError
from sdg_program.export.report import ConvertReport

DEFAULT_CORPUS_ID = "sdg_program"
RECORDS_FILE = "records.jsonl"
# Files this command writes, relative to the output folder (stale ones of another mode are removed).
TRAIN_FILES = ("train.json", "val.json", "corpus/train.parquet", "corpus/merlin_metadata.json")
EVAL_FILES = ("eval_beir/corpus.jsonl", "eval_beir/queries.jsonl", "eval_beir/qrels/test.tsv")
REPORT_FILES = ("report.json", "report.html")
# Working folders are <prefix>.<pid>.<random> in the system temp folder (see core.files.make_work_dir).
WORK_DIR_PREFIX = "sdg-convert"


class SplitStrategy(StrEnum):
    """How split units are formed and filled."""

    RANDOM = "random"
    DEDUPPED = "dedupped"
    CLUSTER = "cluster"


class ConvertConfig(BaseModel):
    """Options of ``sdg-program convert``; defaults match the reference tool where it has them."""

    model_config = ConfigDict(extra="forbid")

    input_path: Path = Field(description="A generate output folder, its records.jsonl, or a reference-format JSONL file")
    output_dir: Path | None = Field(None, description="Default: <input>_train_eval beside the input (<input>_eval with eval_only)")
    corpus_id: str | None = Field(None, description="Default: the input folder's (or file's) name")
    eval_only: bool = Field(False, description="Write only the BEIR set, from all kept pairs")
    train_ratio: float = Field(0.8, ge=0.0, le=1.0)
    val_ratio: float = Field(0.1, ge=0.0, le=1.0)
    seed: int = 42
    quality_threshold: float = Field(7.0, description="Keep pairs whose judge overall.score is at least this")
    max_pos_docs: int = Field(5, ge=1, description="Drop queries with more positive passages than this")
    split_strategy: SplitStrategy = SplitStrategy.RANDOM
    groups_json: list[Path] = Field(default_factory=list, description="Groups files for dedupped/cluster splits")
    num_negatives: int = Field(5, ge=0, le=100)
    negative_margin: float = Field(0.95, gt=0.0, le=1.0, description="Exclude candidates scoring above margin x the weakest positive")
    unroll_positives: bool = Field(False, description="One training example per positive")
    paraphrase_threshold: float | None = Field(0.9, gt=0.0, le=1.0, description="Cosine above which questions of two units join them; None = off")
    roundtrip: bool = Field(True, description="Keep a pair only if BM25 + embedder retrieval (fused) over the whole corpus ranks a positive within roundtrip_k")
    roundtrip_k: int | None = Field(None, ge=1, description="Default: 2% of the corpus, at least 10 passages (export.roundtrip.default_roundtrip_k)")
    dedup_threshold: float | None = Field(0.95, gt=0.0, le=1.0, description="Cosine above which two kept questions are one; the better pair stays. None = off. 0.95 drops repeated and near-identical questions and keeps rewordings (bench/bench_quality.py)")
    language: str | None = Field(None, description="Language every question must be in when records are validated here (no qa_validations); default: its segments'")
    disabled_checks: list[str] = Field(default_factory=list, description="Validation reason codes not checked when records are validated here")
    embedder: str | None = Field(None, description="sentence-transformers model; default: bundled all-MiniLM-L6-v2")
    embed_batch_size: int = Field(64, ge=1)
    redact: bool = Field(False, description="Mask credentials and personal data found in the written files as [REDACTED:kind] (export/redact.py); recorded in report.json")
    # Where the embedding passes run. They change no output byte (export/ray_embedding.py), so they
    # are excluded from model_dump and thus from report.json's settings, which stay engine-independent.
    engine: Literal["local", "ray"] = Field("local", exclude=True, description="local: embed in this process; ray: embed on a Ray actor pool (pip install 'sdg-program[ray]')")
    ray_address: str | None = Field(None, exclude=True, description="Ray cluster to join (engine ray); default: RAY_ADDRESS, else a local cluster started for the run")
    num_workers: int | None = Field(None, ge=1, exclude=True, description="Embedding actors (engine ray); default: one per cluster CPU (per GPU share with worker_gpus)")
    worker_gpus: float = Field(0, ge=0, exclude=True, description="GPUs per embedding actor (engine ray); 0 = CPU actors, the only ones byte-identical to engine local")

    @model_validator(mode="after")
    def _check(self) -> "ConvertConfig":
        if self.train_ratio + self.val_ratio > 1.0 + 1e-9:
            raise ValueError(f"train_ratio + val_ratio must be at most 1 (got {self.train_ratio} + {self.val_ratio})")
        if self.split_strategy != SplitStrategy.RANDOM and not self.groups_json and not self.eval_only:
            raise ValueError(f"--split-strategy {self.split_strategy.value} needs --groups-json")
        if self.engine == "local":
            ray_only = [name for name in ("ray_address", "num_workers") if getattr(self, name) is not None] + (["worker_gpus"] if self.worker_gpus else [])
            if ray_only:
                raise ValueError(f"{', '.join(ray_only)} apply to engine 'ray' only (engine is 'local')")
        return self

    def validation_settings(self):
        """The ``ValidationSettings`` for records without verdicts: written pairs, this run's language and switches."""
        from sdg_program.program.validation import ValidationSettings  # the program stage: imported only when loading

        return ValidationSettings.for_written_pairs(language=self.language, disabled_checks=frozenset(self.disabled_checks))

    def records_file(self) -> Path:
        """The JSONL file to read. A folder must hold records.jsonl or exactly one .jsonl file.

        Several .jsonl files are refused rather than merged: the reference merges them and then
        double-counts the records of a re-run.
        """
        path = self.input_path
        if path.is_file():
            return path
        if not path.is_dir():
            raise MissingInputError(f"{path} does not exist")
        if (path / RECORDS_FILE).is_file():
            return path / RECORDS_FILE
        candidates = sorted(path.glob("*.jsonl"))
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise MissingInputError(f"{path} holds no {RECORDS_FILE} and no .jsonl file")
        raise ValueError(f"{path} holds several .jsonl files ({', '.join(c.name for c in candidates)}); pass one file")

    def _base(self) -> tuple[Path, str]:
        """(folder beside which outputs go, base name) of the input."""
        path = self.input_path
        if path.is_file() and path.name == RECORDS_FILE:
            path = path.parent
        if path.is_dir():
            resolved = path.resolve()
            return resolved.parent, resolved.name
        return path.parent, path.stem

    def resolved_output_dir(self) -> Path:
        if self.output_dir is not None:
            return self.output_dir
        parent, name = self._base()
        return parent / f"{name}_{'eval' if self.eval_only else 'train_eval'}"

    def resolved_corpus_id(self) -> str:
        if self.corpus_id:
            return self.corpus_id
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", self._base()[1]).strip("_.")
        return name or DEFAULT_CORPUS_ID


class ConvertResult(BaseModel):
    """What ``convert`` returns: where it wrote, what it counted, and how long each phase took."""

    output_dir: Path
    files: list[Path]
    report: ConvertReport
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per phase (not in report.json, which stays deterministic)")
