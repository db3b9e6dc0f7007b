"""The typed settings and results of ``sdg-program finetune`` (and of :func:`sdg_program.evaluation.finetune`).

Every default is defined here, once; the CLI reads them from ``FinetuneConfig.model_fields``.
They are chosen for what ``convert`` produces and where it usually runs: a few hundred to a
few thousand generated questions, a CPU, and a base model (all-MiniLM-L6-v2) that is already a
good retriever. The aim is a short, safe adaptation to the user's documents, not training from
scratch; each field's docstring says why its default is what it is.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from sdg_program.evaluation.retrieval import RetrieverScores

METRICS = ("ndcg_at_10", "recall_at_10", "recall_at_100", "mrr_at_10")
METRIC_LABELS = {"ndcg_at_10": "nDCG@10", "recall_at_10": "Recall@10", "recall_at_100": "Recall@100", "mrr_at_10": "MRR@10"}


class LossName(str, Enum):
    """``mnrl``: MultipleNegativesRankingLoss; ``cached-mnrl``: its GradCache variant, whose memory does not grow with the batch."""

    MNRL = "mnrl"
    CACHED_MNRL = "cached-mnrl"


class Device(str, Enum):
    """``auto`` trains on a GPU when torch sees one, on the CPU otherwise."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class FinetuneConfig(BaseModel):
    """What to train, from which export, with which settings, and where to write the model."""

    model_config = ConfigDict(extra="forbid")

    export_dir: Path = Field(description="Output folder of `sdg-program convert` (X_train_eval/): train.json, val.json, corpus/train.parquet, eval_beir/")
    base_model: str | None = Field(None, description="sentence-transformers model name or folder to start from; None is the embedded all-MiniLM-L6-v2")
    output_dir: Path | None = Field(None, description="Where the tuned model goes; default: <export_dir>/model")
    overwrite: bool = Field(False, description="Replace an existing output folder (otherwise it is refused)")
    epochs: float = Field(1.0, gt=0, description="Passes over train.json")
    """One pass: the base model was trained on a billion pairs, generated sets are small, and
    more passes over the same few passages overfit them; the best validation checkpoint is kept anyway."""
    batch_size: int = Field(32, ge=2, description="Questions per step; each question's in-batch negatives are the other questions' passages")
    """32 gives 31 in-batch negatives per question and fits a MiniLM step in ~2 GB on a CPU;
    for larger batches on small memory use loss cached-mnrl."""
    learning_rate: float = Field(2e-5, gt=0, description="Peak learning rate (linear decay after warm-up)")
    """The usual rate for adapting a BERT-size encoder: high enough to move in one epoch,
    low enough not to erase what the base model knows."""
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Share of the steps spent raising the learning rate from 0")
    """Ten per cent keeps the first, noisiest steps from pulling the pretrained embeddings apart."""
    num_negatives: int = Field(1, ge=0, le=100, description="Hard negatives per question, the first ones of neg_doc; 0 = in-batch negatives only")
    """One mined hard negative gives most of the gain of hard negatives; each extra one adds a
    passage encoding per question per step (convert mines 5 by default, so more are there)."""
    loss: LossName = Field(LossName.MNRL, description="mnrl, or cached-mnrl (GradCache) for large batches on small memory")
    mini_batch_size: int = Field(16, ge=1, description="cached-mnrl only: texts encoded at once; bounds memory, not the batch")
    max_seq_length: int | None = Field(None, ge=8, description="Truncate texts to this many tokens; unset = the base model's own limit (256 for MiniLM)")
    seed: int = Field(42, description="Seed of the batch order, dropout and filler passages (the same default as convert)")
    eval_beir: list[Path] = Field(default_factory=list, description="Extra BEIR folders scored before and after, besides <export_dir>/eval_beir")
    unroll_positives: bool = Field(False, description="One training row per positive passage instead of the first positive only")
    device: Device = Field(Device.AUTO, description="auto (GPU when present), cpu or cuda")
    eval_steps: int | None = Field(None, ge=1, description="Validate and checkpoint every N steps; unset = at the end of each epoch")
    bm25: bool = Field(True, description="Also score BM25 on each BEIR folder, for reference")
    eval_batch_size: int = Field(64, ge=1, description="Texts per encoding batch when scoring")

    def resolved_output_dir(self) -> Path:
        return self.output_dir if self.output_dir is not None else self.export_dir / "model"


class DataCounts(BaseModel):
    """What the training set was built from, and what had to be filled in."""

    train_questions: int
    train_rows: int = Field(description="Rows trained on (more than questions with unroll_positives)")
    val_questions: int
    corpus_passages: int
    negatives_per_row: int = Field(description="Hard-negative columns in each row (at most num_negatives)")
    rows_short_of_negatives: int = Field(0, description="Rows with fewer mined negatives than num_negatives")
    rows_without_negatives: int = Field(0, description="Rows with no mined negative at all; their columns hold random passages")


class Validation(BaseModel):
    """val.json scored by sentence-transformers' InformationRetrievalEvaluator during training."""

    questions: int
    metric: str
    before: float | None = Field(None, description="The base model's score, before the first step")
    best: float | None = None
    best_step: int | None = None


class FolderComparison(BaseModel):
    """One BEIR folder scored with the base model, the tuned model and (optionally) BM25."""

    folder: str
    queries: int
    documents: int
    base: RetrieverScores
    tuned: RetrieverScores
    bm25: RetrieverScores | None = None

    def delta(self, metric: str) -> float:
        return getattr(self.tuned, metric) - getattr(self.base, metric)


class FinetuneResult(BaseModel):
    """What ``finetune`` did; written as ``<export_dir>/finetune.json``."""

    output_dir: str
    base_model: str
    device: str
    settings: dict
    data: DataCounts
    validation: Validation | None = None
    steps: int
    training_loss: float | None = None
    comparisons: list[FolderComparison]
    seconds: dict[str, float]
    versions: dict[str, str]
