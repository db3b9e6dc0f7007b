"""Pydantic models of the rows that flow between stages (the data contracts).

Other tools read these files, so field names follow DESIGN.md exactly; the first eight
fields of a seed row are also the reference tool's, so its users can switch.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Chunk(BaseModel):
    """A run of sentences (or one code block or table) with a stable segment ID."""

    model_config = ConfigDict(extra="forbid")

    chunk_id: int = Field(ge=1, description="1-based segment ID; runs across the members of a bundle")
    doc_id: str = Field(description="Path of the source document relative to the input folder (POSIX)")
    doc_chunk_index: int = Field(ge=1, description="1-based index of the chunk within its document")
    text: str
    sentence_count: int = Field(ge=0, description="Units in the chunk other than headings")
    word_count: int = Field(ge=0)
    char_start: int = Field(ge=0, description="Start offset of the chunk in the decoded source text")
    char_end: int = Field(ge=0, description="End offset (exclusive) in the decoded source text")
    content_hash: str = Field(description="sha256 hex digest of `text`")
    heading_path: list[str] = Field(default_factory=list, description="Headings above the chunk, outermost first")


class SeedRow(BaseModel):
    """One unit of generation: a document, or a bundle of documents for cross-document questions."""

    model_config = ConfigDict(extra="forbid")

    file_name: list[str]
    source_id: str
    text: str
    chunks: list[Chunk]
    sections_structured: list[str]
    bundle_id: str = ""
    bundle_members: list[str]
    is_multi_doc: bool = False


class GeneratedRecord(SeedRow):
    """One line of ``records.jsonl``: the seed row plus everything the program produced for it.

    ``deduplicated_qa_pairs``, ``qa_validations`` and the ``pair_index`` of each entry in
    ``qa_evaluations.evaluations`` refer to the same positions.
    """

    model_config = ConfigDict(extra="forbid")

    document_artifacts: dict[str, list[dict[str, Any]]]
    qa_generation: dict[str, list[dict[str, Any]]]
    deduplicated_qa_pairs: list[dict[str, Any]]
    qa_evaluations: dict[str, list[dict[str, Any]]]
    qa_validations: list[dict[str, Any]] = Field(description="Deterministic validation of each deduplicated pair")
    generation_validations: list[dict[str, Any]] = Field(description="Validation of every generated pair, before dedup")
    dedup: dict[str, Any]
    windows: int = Field(ge=1, description="Generation windows the row was cut into")
    judged: bool = Field(True, description="False when the run's judge was off (generation settings `judge`): its pairs have no judge scores by design, and convert keeps them on the deterministic checks")
    lm_usage: dict[str, dict[str, int]]
    errors: list[dict[str, Any]] = Field(default_factory=list, description="Non-fatal problems (e.g. a judge call that failed)")
    faults: dict[str, Any] = Field(default_factory=dict, description="Endpoint faults met on the way: by_kind counts, retries, backoff_seconds (sdg_program.backends.faults)")
    row_key: str = Field(description="Content-and-config key used by --resume")


class FailedRow(BaseModel):
    """One line of ``failures.jsonl``: a row that produced nothing, and why."""

    model_config = ConfigDict(extra="forbid")

    row_key: str
    source_id: str
    file_name: list[str]
    reason: str
    errors: list[dict[str, Any]] = Field(default_factory=list)
    faults: dict[str, Any] = Field(default_factory=dict, description="Endpoint faults met before the row gave up (sdg_program.backends.faults)")
