"""Typed configuration shared by the CLI, the Python API and YAML config files."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_FILE_EXTENSIONS = [".txt", ".md", ".text", ".mdx", ".rst"]

SectionStrategy = Literal["sequential", "doc_balanced", "interleaved"]
BundleBy = Literal["sequential", "semantic"]


class ChunkingConfig(BaseModel):
    """How documents are found, read, chunked, sectioned and bundled."""

    model_config = ConfigDict(extra="forbid")

    input_dir: Path
    file_pattern: str = Field("*", description="Case-sensitive glob on the file name (not the path)")
    recursive: bool = True
    file_extensions: list[str] | None = Field(
        default_factory=lambda: list(DEFAULT_FILE_EXTENSIONS),
        description="Case-insensitive suffixes; '' matches names without a dot; None allows every file",
    )
    min_text_length: int = Field(50, ge=0, description="Skip documents whose text, after mark-up clean-up, is shorter")
    num_files: int | None = Field(None, ge=1, description="Use the first N usable documents (sorted by path)")
    max_file_bytes: int | None = Field(50_000_000, ge=1, description="Skip files larger than this")
    follow_symlinks: bool = True
    allow_external_symlinks: bool = False
    sentences_per_chunk: int = Field(5, ge=1)
    max_chunk_chars: int = Field(2000, ge=100, description="Character cap per chunk; longer units are split")
    num_sections: int = Field(1, ge=1)
    section_strategy: SectionStrategy = "sequential"
    multi_doc: bool = False
    bundle_size: int = Field(2, ge=1)
    max_docs_per_bundle: int = Field(3, ge=1)
    multi_doc_manifest: Path | None = None
    bundle_by: BundleBy = "sequential"
    embedder: str | None = Field(None, description="sentence-transformers model for semantic bundling (default: the embedded MiniLM)")

    @field_validator("file_extensions")
    @classmethod
    def _normalise_extensions(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        normalised = []
        for extension in value:
            extension = extension.strip().lower()
            if extension and not extension.startswith("."):
                extension = "." + extension
            normalised.append(extension)
        return normalised

    @model_validator(mode="after")
    def _check_bundles(self) -> "ChunkingConfig":
        if self.multi_doc and self.bundle_size > self.max_docs_per_bundle:
            raise ValueError(
                f"bundle_size ({self.bundle_size}) is larger than max_docs_per_bundle ({self.max_docs_per_bundle})"
            )
        return self


QUERY_TYPES = ("multi_hop", "structural", "contextual")
REASONING_TYPES = ("factual", "relational", "inferential", "temporal", "procedural", "causal", "visual")
# Text corpora get no `visual` questions unless asked for (the reference always asks for one).
DEFAULT_REASONING_ORDER = ("factual", "relational", "inferential", "procedural", "causal", "temporal")
_DEFAULT_QUERY_WEIGHTS = {"multi_hop": 3, "structural": 2, "contextual": 2}


def split_by_weights(total: int, weights: dict[str, int]) -> dict[str, int]:
    """Largest-remainder split of ``total`` in proportion to ``weights`` (ties by key order)."""
    weight_sum = sum(weights.values())
    exact = {key: total * weight / weight_sum for key, weight in weights.items()}
    counts = {key: int(value) for key, value in exact.items()}
    leftovers = sorted(weights, key=lambda key: (-(exact[key] - counts[key]), list(weights).index(key)))
    for key in leftovers[: total - sum(counts.values())]:
        counts[key] += 1
    return counts


def default_query_counts(num_pairs: int) -> dict[str, int]:
    """3:2:2 multi_hop:structural:contextual, scaled to ``num_pairs`` (7 gives 3, 2, 2)."""
    return split_by_weights(num_pairs, _DEFAULT_QUERY_WEIGHTS)


def default_reasoning_counts(num_pairs: int) -> dict[str, int]:
    """Round-robin over the six text reasoning types; ``visual`` only when asked for."""
    counts = {key: 0 for key in REASONING_TYPES}
    for index in range(num_pairs):
        counts[DEFAULT_REASONING_ORDER[index % len(DEFAULT_REASONING_ORDER)]] += 1
    return counts


class GenerationSettings(BaseModel):
    """What the program asks for per row (or per window of a long row) and how it checks it."""

    model_config = ConfigDict(extra="forbid")

    num_pairs: int = Field(7, ge=1, le=20, description="QA pairs requested per window of a row")
    query_counts: dict[str, int] | None = Field(None, description="Pairs per query type; must sum to num_pairs")
    reasoning_counts: dict[str, int] | None = Field(None, description="Pairs per reasoning type; must sum to num_pairs")
    min_hops: int = Field(1, ge=1)
    max_hops: int = Field(3, ge=1, le=5)
    min_complexity: int = Field(2, ge=1, le=5)
    similarity_threshold: float = Field(0.9, ge=0.0, le=1.0)
    max_artifacts_per_type: int = Field(2, ge=1, le=5)
    min_answer_support: float = Field(0.5, ge=0.0, le=1.0)
    max_retries: int = Field(2, ge=0, le=10, description="Re-asks after malformed LLM output, per call")
    window_chars: int | None = Field(None, ge=500, description="Segment characters per generation window; default from the LM's context")
    strategy: Literal["auto", "window", "segment"] = Field(
        "auto",
        description="window: one generate call per window writes every pair (single- and multi-hop); "
        "segment: one short call per chosen segment writes one single-hop pair; auto: segment for the embedded model, window otherwise",
    )
    segment_attempts: int = Field(4, ge=1, le=10, description="segment strategy: candidates per segment until one passes validation")

    @model_validator(mode="after")
    def _fill_and_check_counts(self) -> "GenerationSettings":
        if self.min_hops > self.max_hops:
            raise ValueError(f"min_hops ({self.min_hops}) must be <= max_hops ({self.max_hops})")
        if self.query_counts is None:
            self.query_counts = default_query_counts(self.num_pairs)
        if self.reasoning_counts is None:
            self.reasoning_counts = default_reasoning_counts(self.num_pairs)
        for name, counts, allowed in (
            ("query_counts", self.query_counts, QUERY_TYPES),
            ("reasoning_counts", self.reasoning_counts, REASONING_TYPES),
        ):
            unknown = sorted(set(counts) - set(allowed))
            if unknown:
                raise ValueError(f"{name}: unknown keys {unknown}; allowed: {', '.join(allowed)}")
            if any(value < 0 for value in counts.values()):
                raise ValueError(f"{name}: counts must be >= 0")
            if sum(counts.values()) != self.num_pairs:
                raise ValueError(f"{name} sum to {sum(counts.values())}, but num_pairs is {self.num_pairs}")
            for key in allowed:
                counts.setdefault(key, 0)
        return self
