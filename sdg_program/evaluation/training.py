"""``sdg-program finetune``: train a retriever on a convert export and show base vs tuned.

The point of generating retriever data is a better retriever, so this closes the loop: the
export's ``train.json`` trains a sentence-transformers model with MultipleNegativesRankingLoss
(in-batch negatives plus the mined hard negatives), ``val.json`` picks the best checkpoint, and
the held-out BEIR set (plus any other BEIR folders) is scored with the same code as
``sdg-program eval`` before and after, so the gain is measured, not assumed.

Training is sentence-transformers' own trainer with ``BatchSamplers.NO_DUPLICATES``: questions
share passages (a hard negative of one question is often the positive of another), and the
sampler keeps such rows out of one batch so no positive is ever treated as a negative.

Nothing half-done is left behind: the model is trained and saved in a working folder beside
the target, checkpoints included, and renamed into place only when it is complete and scored;
an existing model folder is replaced only with ``overwrite``. Models load offline, like every
model of this package.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import shutil
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from sdg_program.core.errors import ModelUnavailableError, OutputExists, UserError
from sdg_program.core.files import make_work_dir, write_json_atomic
from sdg_program.evaluation.finetune_config import Device, FinetuneConfig, FinetuneResult, FolderComparison, LossName, Validation
from sdg_program.evaluation.finetune_data import TrainingData, read_training_data
from sdg_program.evaluation.finetune_report import add_card_section, card_section, update_report_html
from sdg_program.evaluation.retrieval import EvalReport, check_beir_folder, evaluate_beir

logger = logging.getLogger(__name__)

RESULT_FILE = "finetune.json"
VALIDATION_NAME = "val"
VERSIONED_PACKAGES = ("sdg-program", "sentence-transformers", "transformers", "torch", "accelerate", "datasets", "beir")


def finetune(config: FinetuneConfig, *, console: Any = None) -> FinetuneResult:
    """Train on ``config.export_dir``, score base and tuned, write the model, finetune.json and the report section.

    ``console`` (rich) receives one line per phase; the trainer shows its own progress bar.
    """
    started = time.perf_counter()
    output_dir = config.resolved_output_dir()
    _check_output_dir(output_dir, config)
    data = read_training_data(config.export_dir, num_negatives=config.num_negatives, unroll_positives=config.unroll_positives, seed=config.seed)
    folders = beir_folders(config)
    device = resolve_device(config.device)
    dataset_name = Path(config.export_dir).resolve().name
    model, base_label = load_base_model(config.base_model, device, dataset_name)
    if config.max_seq_length:
        model.max_seq_length = config.max_seq_length
    if not data.validation.queries:
        _say(console, "[yellow]val.json has no questions:[/yellow] training without validation; the model after the last step is kept.", warning=True)

    seconds: dict[str, float] = {}
    _say(console, f"Scoring the base model ({base_label}) on {len(folders)} BEIR folder(s)")
    base_reports = _score(folders, config.base_model, config, bm25=config.bm25, seconds=seconds, key="evaluate_base")
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    work = make_work_dir(f".{output_dir.name}.partial", output_dir.parent)
    try:
        _say(console, f"Training on {data.counts.train_rows} rows ({data.counts.negatives_per_row} hard negative(s) each) on {device}")
        clock = time.perf_counter()
        trainer, output, validation = train(model, data, config, device, work / "checkpoints")
        seconds["train"] = round(time.perf_counter() - clock, 2)
        model_path = work / "model"
        trainer.model.save_pretrained(str(model_path))
        _same_mode_as_config_files(model_path)
        _say(console, "Scoring the tuned model")
        tuned_reports = _score(folders, str(model_path), config, bm25=False, seconds=seconds, key="evaluate_tuned")
        seconds["total"] = round(time.perf_counter() - started, 2)
        result = FinetuneResult(
            output_dir=str(output_dir),
            base_model=base_label,
            device=device,
            settings=config.model_dump(mode="json"),
            data=data.counts,
            validation=validation,
            steps=int(output.global_step),
            training_loss=float(output.training_loss) if output.training_loss is not None else None,
            comparisons=[_compare(base_reports[folder], tuned_reports[folder], folder) for folder in folders],
            seconds=seconds,
            versions=package_versions(),
        )
        add_card_section(model_path, card_section(result, dataset_name), base_model=base_label)
        _move_into_place(model_path, output_dir, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_json_atomic(Path(config.export_dir) / RESULT_FILE, result.model_dump(mode="json"))
    if update_report_html(Path(config.export_dir) / "report.html", result):
        _say(console, f"Added the base-vs-tuned section to {Path(config.export_dir) / 'report.html'}")
    return result


def _say(console: Any, message: str, *, warning: bool = False) -> None:
    """A phase line on ``console``; without one, warnings still reach the log."""
    if console is not None:
        console.print(message)
    elif warning:
        logger.warning(re.sub(r"\[/?[a-z ]+\]", "", message))


# --- checks before any work ------------------------------------------------------------


def _check_output_dir(output_dir: Path, config: FinetuneConfig) -> None:
    """Refuse an existing model folder without ``overwrite``, and never a folder holding the export itself."""
    export = Path(config.export_dir).resolve()
    target = output_dir.resolve()
    if target == export or target in export.parents:
        raise UserError(f"--output-dir {output_dir} would replace the export folder {config.export_dir}; choose a folder inside or beside it (default: {Path(config.export_dir) / 'model'}).")
    if os.path.lexists(output_dir) and not config.overwrite:
        raise OutputExists(f"{output_dir} already exists; pass --overwrite to replace it, or choose another --output-dir.")


def beir_folders(config: FinetuneConfig) -> list[Path]:
    """The export's eval_beir/ and every extra folder, each checked now so a bad one fails before training."""
    folders = [Path(config.export_dir) / "eval_beir", *(Path(folder) for folder in config.eval_beir)]
    for folder in folders:
        check_beir_folder(folder)
    return list(dict.fromkeys(folders))


def resolve_device(device: Device) -> str:
    import torch

    has_cuda = torch.cuda.is_available()
    if device is Device.CUDA and not has_cuda:
        raise UserError("--device cuda was asked for, but torch sees no CUDA GPU; use --device auto or --device cpu.")
    return "cuda" if device is not Device.CPU and has_cuda else "cpu"


def _downloads_allowed() -> bool:
    """The package-wide rule (see backends.embedder): models load offline unless HF_HUB_OFFLINE is explicitly false."""
    return os.environ.get("HF_HUB_OFFLINE", "1").strip().lower() in ("0", "false", "no", "off")


def load_base_model(spec: str | None, device: str, dataset_name: str) -> tuple[Any, str]:
    """A fresh, trainable copy of the base model and its label (the process-wide embedder cache is not touched).

    The model card is told to stay offline (``local_files_only``); the base model is named on
    it when it has a Hub name (the embedded MiniLM is a copy of sentence-transformers/all-MiniLM-L6-v2).
    """
    from sentence_transformers import SentenceTransformer, SentenceTransformerModelCardData

    from sdg_program.backends.embedder import DEFAULT_ALIASES, DEFAULT_EMBEDDER_NAME, default_embedder_path

    name = (spec or "").strip()
    hub_id: str | None = name
    if name in DEFAULT_ALIASES:
        source, hub_id, local_only = default_embedder_path(), f"sentence-transformers/{DEFAULT_EMBEDDER_NAME}", True
        label = f"{hub_id} (embedded)"
    elif Path(name).expanduser().exists():
        source, hub_id, local_only = str(Path(name).expanduser()), None, True
        label = f"{Path(name).name} (local folder)"
    else:
        source, label, local_only = name, name, not _downloads_allowed()
    card = SentenceTransformerModelCardData(local_files_only=True, model_name=f"{label} fine-tuned on {dataset_name}", train_datasets=[{"name": dataset_name}])
    try:
        model = SentenceTransformer(source, device=device, local_files_only=local_only, model_card_data=card)
    except Exception as error:  # sentence-transformers, transformers and huggingface_hub each raise their own types
        detail = " ".join(str(error).split())[:300]
        raise ModelUnavailableError(
            f"cannot load base model {name!r} offline ({detail}). Pass a local sentence-transformers folder with --base-model, "
            "or run once with HF_HUB_OFFLINE=0 to download it into the Hugging Face cache."
        ) from None
    if hub_id:
        model.model_card_data.base_model = hub_id
    return model, label


# --- training --------------------------------------------------------------------------


def train(model: Any, data: TrainingData, config: FinetuneConfig, device: str, checkpoints: Path) -> tuple[Any, Any, Validation | None]:
    """Run sentence-transformers' trainer; returns (trainer, its TrainOutput, validation summary or None)."""
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    evaluator = _evaluator(data, config) if data.validation.queries else None
    metric = f"eval_{VALIDATION_NAME}_{model.similarity_fn_name}_ndcg@10"
    arguments = SentenceTransformerTrainingArguments(**training_arguments(config, device, checkpoints, metric if evaluator else None))
    trainer = SentenceTransformerTrainer(model=model, args=arguments, train_dataset=data.dataset(), loss=_loss(model, config), evaluator=evaluator)
    output = trainer.train()
    validation = _validation_summary(trainer, metric, len(data.validation.queries)) if evaluator else None
    if validation and validation.before is not None and validation.best is not None and validation.best <= validation.before:
        logger.warning("Validation nDCG@10 did not improve (%.4f before, %.4f best); the tuned model may be no better than the base.", validation.before, validation.best)
    return trainer, output, validation


def training_arguments(config: FinetuneConfig, device: str, checkpoints: Path, metric: str | None) -> dict[str, Any]:
    """Keyword arguments of SentenceTransformerTrainingArguments; validation and checkpoints only when there is a val set."""
    BatchSamplers = _sentence_transformer_module("training_args").BatchSamplers

    schedule = ("steps" if config.eval_steps else "epoch") if metric else "no"
    arguments: dict[str, Any] = dict(
        output_dir=str(checkpoints),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        eval_strategy=schedule,
        save_strategy=schedule,
        save_only_model=True,
        save_total_limit=2,
        load_best_model_at_end=metric is not None,
        metric_for_best_model=metric,
        greater_is_better=True,
        eval_on_start=metric is not None,
        logging_steps=10,
        report_to="none",
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=device == "cpu",
        dataloader_num_workers=0,
        **_warmup(config.warmup_ratio),
    )
    if config.eval_steps and metric:
        arguments.update(eval_steps=config.eval_steps, save_steps=config.eval_steps)
    return arguments


def _warmup(ratio: float) -> dict[str, float]:
    """transformers 5 takes the warm-up ratio as a float ``warmup_steps`` (``warmup_ratio`` is deprecated); 4 takes ``warmup_ratio``."""
    import transformers

    return {"warmup_steps": ratio} if int(transformers.__version__.split(".")[0]) >= 5 else {"warmup_ratio": ratio}


def _sentence_transformer_module(name: str) -> Any:
    """``sentence_transformers.sentence_transformer.<name>`` (v6 layout), else the older top-level ``sentence_transformers.<name>``."""
    try:
        return importlib.import_module(f"sentence_transformers.sentence_transformer.{name}")
    except ImportError:
        return importlib.import_module(f"sentence_transformers.{name}")


def _loss(model: Any, config: FinetuneConfig) -> Any:
    losses = _sentence_transformer_module("losses")
    if config.loss is LossName.CACHED_MNRL:
        return losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=config.mini_batch_size)
    return losses.MultipleNegativesRankingLoss(model)


def _evaluator(data: TrainingData, config: FinetuneConfig) -> Any:
    return _sentence_transformer_module("evaluation").InformationRetrievalEvaluator(
        queries=data.validation.queries,
        corpus=data.corpus,
        relevant_docs=data.validation.relevant,
        name=VALIDATION_NAME,
        batch_size=config.eval_batch_size,
        show_progress_bar=False,
    )


def _validation_summary(trainer: Any, metric: str, questions: int) -> Validation:
    """The base model's score (the evaluation before step 1) and the kept checkpoint's, from the trainer's state."""
    scores = [(entry.get("step", 0), entry[metric]) for entry in trainer.state.log_history if metric in entry]
    before = next((score for step, score in scores if step == 0), None)
    best = trainer.state.best_metric if trainer.state.best_metric is not None else (scores[-1][1] if scores else None)
    best_step = getattr(trainer.state, "best_global_step", None) or next((step for step, score in scores if score == best and step), None)
    return Validation(questions=questions, metric=metric.removeprefix("eval_"), before=before, best=best, best_step=best_step)


# --- scoring and the result ------------------------------------------------------------


def _score(folders: list[Path], model: str | None, config: FinetuneConfig, *, bm25: bool, seconds: dict[str, float], key: str) -> dict[Path, EvalReport]:
    clock = time.perf_counter()
    reports = {folder: evaluate_beir(folder, [model], bm25=bm25, batch_size=config.eval_batch_size, show_progress=False) for folder in folders}
    seconds[key] = round(time.perf_counter() - clock, 2)
    return reports


def _compare(base: EvalReport, tuned: EvalReport, folder: Path) -> FolderComparison:
    dense = next(scores for scores in base.results if scores.kind == "dense")
    bm25 = next((scores for scores in base.results if scores.kind == "bm25"), None)
    tuned_scores = tuned.results[0].model_copy(update={"retriever": "tuned"})
    return FolderComparison(folder=str(folder), queries=base.queries, documents=base.documents, base=dense, tuned=tuned_scores, bm25=bm25)


def _same_mode_as_config_files(folder: Path) -> None:
    """The weights are written through a private temporary (mode 0600); give them the mode of the other files, so a shared model folder is readable."""
    reference = folder / "modules.json"
    if not reference.is_file():
        return
    mode = reference.stat().st_mode & 0o777
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(mode)


def _move_into_place(model_path: Path, output_dir: Path, work: Path) -> None:
    """Rename the finished model onto ``output_dir``; an old one (``overwrite``) is moved aside first, then removed."""
    if os.path.lexists(output_dir):
        os.replace(output_dir, work / "replaced")
    os.replace(model_path, output_dir)


def package_versions() -> dict[str, str]:
    versions = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions
