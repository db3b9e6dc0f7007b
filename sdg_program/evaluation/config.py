"""The typed settings of ``sdg-program eval`` (and of :func:`sdg_program.evaluation`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


class EvaluateConfig(BaseModel):
    """Which BEIR folder to score, with which retrievers, and where to write the metrics."""

    model_config = ConfigDict(extra="forbid")

    beir_dir: Path = Field(description="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv")
    models: list[str | None] = Field(
        default_factory=lambda: [None],
        description="sentence-transformers model names or folders; None is the embedded all-MiniLM-L6-v2; [] scores no dense model",
    )
    bm25: bool = Field(True, description="Also score a BM25 baseline (bm25s)")
    split: str = Field("test", description="Which qrels file to score: qrels/<split>.tsv")
    batch_size: int = Field(64, ge=1, description="Texts per encoding batch")
    output: Path | None = Field(None, description="Also write the metrics as JSON to this file")

    @model_validator(mode="after")
    def _something_to_score(self) -> "EvaluateConfig":
        if not self.models and not self.bm25:
            raise ValueError("nothing to score: no dense model (models is empty) and bm25 is off")
        return self
