"""How documents are found, read, chunked, sectioned and bundled: the typed config of the ingest stage."""

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
    resolve_includes: bool = Field(
        False,
        description="Replace Markdown snippet includes (--8<-- \"file\", {* file *}) by the named file's text, for files inside input_dir; off: drop them",
    )
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
