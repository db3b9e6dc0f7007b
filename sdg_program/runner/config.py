"""What a generate run depends on: its typed config, the settings fingerprint and the row keys.

``--resume`` trusts a row of ``records.jsonl`` only when its key (the row's content plus the
fingerprint of every setting that changes its output, the program's signatures included) matches.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sdg_program.backends.defaults import DEFAULT_MAX_TOKENS, DEFAULT_NUM_RETRIES, DEFAULT_REPEAT_PENALTY, DEFAULT_SEED, DEFAULT_TEMPERATURE, DEFAULT_TIMEOUT
from sdg_program.core.records import SeedRow
from sdg_program.ingest.config import ChunkingConfig
from sdg_program.program.settings import PROGRAM_REVISION, GenerationSettings, judge_runs

RECORDS_FILE = "records.jsonl"
FAILURES_FILE = "failures.jsonl"
RUN_FILE = "run.json"
# Where and how rows run, not what they become: outside the fingerprint, so a run may be resumed on another engine.
ENGINE_FIELDS = {"engine": True, "ray_address": True, "num_workers": True, "worker_cpus": True, "worker_gpus": True}


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
    max_tokens: int = Field(DEFAULT_MAX_TOKENS, ge=64)
    temperature: float = Field(DEFAULT_TEMPERATURE, ge=0.0, le=2.0)
    seed: int | None = DEFAULT_SEED
    repeat_penalty: float = Field(DEFAULT_REPEAT_PENALTY, ge=1.0, le=2.0, description="In-process (local) models only: llama.cpp's penalty on repeated tokens; 1.0 = none")
    timeout: float = Field(DEFAULT_TIMEOUT, gt=0)
    num_retries: int = Field(DEFAULT_NUM_RETRIES, ge=0, description="Retries of a call after a transient endpoint fault (429, 5xx, timeout)")
    retry_base_delay: float = Field(1.0, gt=0, le=60, description="First backoff in seconds (doubling per retry) when the endpoint sends no Retry-After")
    structured_output: Literal["auto", "json_schema", "json_object_schema", "json_object"] = Field("auto", description="How remote endpoints are asked for JSON (sdg_program.backends.endpoint_lm.EndpointEngine)")
    max_failure_rate: float | None = Field(None, gt=0.0, le=1.0, description="Abort when more than this share of rows fail (checked after 10 rows)")
    # Where rows run. None of these changes a row's output, so none is part of the fingerprint.
    engine: Literal["local", "ray"] = Field("local", description="local: threads in this process; ray: worker actors on a Ray cluster (sdg_program.runner.ray_engine), this process still writes every file")
    ray_address: str | None = Field(None, description="engine ray: the cluster to join (e.g. ray://head:10001, auto). Default: RAY_ADDRESS, else a local cluster started for the run")
    num_workers: int | None = Field(None, ge=1, le=4096, description="engine ray: worker actors. Default: the cluster's CPUs / worker_cpus (and GPUs / worker_gpus), at most 64")
    worker_cpus: float = Field(1.0, gt=0, description="engine ray: CPUs reserved per worker actor (Ray num_cpus)")
    worker_gpus: float = Field(0.0, ge=0, description="engine ray: GPUs reserved per worker actor (Ray num_gpus)")

    @property
    def self_judging(self) -> bool:
        """True when the judge is the generating model (same model string at the same endpoint)."""
        if self.judge_lm is None:
            return True
        return self.judge_lm == self.lm and (self.judge_api_base or self.api_base) == self.api_base

    @property
    def judge_runs(self) -> bool:
        """Whether the run's judge runs (``generation.judge``; see ``program.settings.judge_runs``): the
        config's view of ``RetrievalSDG.judges``, before any model is loaded (``lm: local`` is the embedded default)."""
        return judge_runs(self.generation.judge, self.self_judging, self.lm.strip() == "local")

    def fingerprint(self) -> str:
        """Hash of every setting that changes what a row's output would be."""
        relevant = self.model_dump(
            mode="json",
            exclude={"output_dir": True, "concurrency": True, "num_records": True, "timeout": True, "num_retries": True, "retry_base_delay": True, "max_failure_rate": True, **ENGINE_FIELDS, "chunking": {"input_dir"}},
        )
        if self.program is not None and self.program.is_file():
            relevant["program_sha256"] = hashlib.sha256(self.program.read_bytes()).hexdigest()
        # The prompts and output contracts themselves: after an upgrade that changes them, --resume
        # must refuse rather than mix rows written under the old prompts with new ones.
        relevant["signatures"] = signatures_digest()
        relevant["program_revision"] = PROGRAM_REVISION
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def signatures_digest() -> str:
    """Hash of the program's signatures: instructions, field names and descriptions, output JSON schemas."""
    from pydantic import TypeAdapter

    from sdg_program.backends.adapters import field_extra
    from signatures import ExtractAndGenerateQAPairs, ExtractArtifacts, GenerateQAPairs, JudgeQAPairs, WriteSegmentQA

    parts = []
    for signature in (ExtractArtifacts, GenerateQAPairs, ExtractAndGenerateQAPairs, JudgeQAPairs, WriteSegmentQA):
        parts.append(signature.instructions)
        for name, info in signature.fields.items():
            extra = field_extra(info)
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
