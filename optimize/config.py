"""What a compile run takes and reports: ``CompileConfig`` and ``CompileReport``, pydantic only.

Kept apart from ``optimize.compile`` (which loads DSPy and the program) so that the CLI can build
its options and ``--help`` without importing DSPy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sdg_program.core.resources import gold_dir as shipped_gold_dir

Optimizer = Literal["bootstrap", "mipro", "gepa"]
Predictor = Literal["extract", "generate", "judge"]
PREDICTORS: tuple[str, ...] = ("extract", "generate", "judge")


class CompileConfig(BaseModel):
    """Everything a compile run depends on."""

    model_config = ConfigDict(extra="forbid")

    gold_dir: Path = Field(default_factory=shipped_gold_dir, description="Gold folder; default: the gold set shipped with sdg-program (data/gold)")
    input_dir: Path | None = Field(None, description="User documents: their rows join the selection set (label-free metrics)")
    user_rows: int = Field(4, ge=0, description="At most this many rows from --input-dir")
    optimizer: Optimizer = "bootstrap"
    predictors: list[Predictor] = Field(default_factory=lambda: list(PREDICTORS))
    lm: str = "local"
    judge_lm: str | None = None
    prompt_lm: str | None = Field(None, description="LM that proposes (MIPROv2) or reflects (GEPA); default: lm")
    api_base: str | None = None
    out: Path = Path("compiled.json")
    seed: int = 0
    max_demos: int = Field(2, ge=0, le=8, description="Demos per predictor (labeled + bootstrapped); demos cost context")
    max_bootstrapped_demos: int = Field(1, ge=0, le=8)
    bootstrap_attempts: int = Field(4, ge=0, description="Examples tried when bootstrapping demos from the model")
    num_candidates: int = Field(3, ge=1, description="Labeled demo sets tried by the bootstrap search")
    metric_threshold: float = Field(0.7, ge=0.0, le=1.0, description="A bootstrapped demo is kept when its metric reaches this")
    selection_size: int = Field(8, ge=1, description="Gold train examples per predictor used to choose between candidates")
    max_demo_chars: int = Field(2600, ge=200, description="Longest labeled demo (segments + output), in characters")
    dev_limit: int | None = Field(None, ge=1, description="Score on the first N dev examples per predictor")
    num_pairs: int = Field(3, ge=1, le=20, description="Pairs asked for per row while scoring (fewer = cheaper)")
    max_tokens: int = Field(1024, ge=64)
    max_retries: int = Field(0, ge=0, le=10, description="Re-asks per call while compiling (0: a malformed output scores 0)")
    max_metric_calls: int | None = Field(None, ge=1, description="GEPA budget (default: auto='light')")
    evaluate: bool = Field(True, description="Score before and after on dev")


class Cost(BaseModel):
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def add(self, other: "Cost") -> None:
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.seconds = round(self.seconds + other.seconds, 2)


class StageScore(BaseModel):
    """A predictor's score on a set of examples: the composite mean and its parts' means."""

    examples: int
    composite: float
    parts: dict[str, float] = Field(default_factory=dict)
    failures: int = Field(0, description="Calls that produced no usable output")


class CandidateResult(BaseModel):
    name: str
    demos: int
    selection_score: float


class PredictorReport(BaseModel):
    predictor: str
    before: StageScore | None = None
    after: StageScore | None = None
    relative_change: float | None = None
    demos: int = 0
    candidates: list[CandidateResult] = Field(default_factory=list)
    optimize_cost: Cost = Field(default_factory=Cost)
    evaluate_cost: Cost = Field(default_factory=Cost)


class CompileReport(BaseModel):
    config: dict[str, Any]
    predictors: list[PredictorReport]
    total_cost: Cost
    out: str
