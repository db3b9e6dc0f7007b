"""``sdg-program finetune``: the options become a ``FinetuneConfig``, ``evaluation.finetune`` trains, the base-vs-tuned table is printed.

app.py registers it with ``app.command("finetune")(finetune_command)``. Every default comes
from :class:`FinetuneConfig` (``default_of``), so the library and the command cannot drift
apart; errors end the command through ``cli.errors`` like every other command's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from sdg_program.cli.errors import reported_errors, validated
from sdg_program.cli.logs import console, quiet_dataset_libraries, setup_logging
from sdg_program.cli.options import Verbose, default_of
from sdg_program.evaluation.finetune_config import Device, FinetuneConfig, LossName

TRAINING = "Training"
DATA = "Data"
SCORING = "Scoring"


def _default(name: str) -> Any:
    return default_of(FinetuneConfig, name)


def _help(name: str) -> str:
    return FinetuneConfig.model_fields[name].description or ""


def finetune_command(
    export_dir: Annotated[Path, typer.Argument(metavar="OUTPUT_TRAIN_EVAL", help="Output folder of `sdg-program convert` (X_train_eval/).", show_default=False)],
    base_model: Annotated[Optional[str], typer.Option(help="sentence-transformers model name or folder to start from. Default: the embedded all-MiniLM-L6-v2. Names load from the local cache only unless HF_HUB_OFFLINE=0.", rich_help_panel=TRAINING)] = _default("base_model"),
    output_dir: Annotated[Optional[Path], typer.Option("--output-dir", "-o", help="Where to write the tuned model. Default: OUTPUT_TRAIN_EVAL/model.")] = _default("output_dir"),
    overwrite: Annotated[bool, typer.Option("--overwrite/--no-overwrite", help="Replace an existing model folder (otherwise it is refused).")] = _default("overwrite"),
    epochs: Annotated[float, typer.Option(min=0.01, help=_help("epochs"), rich_help_panel=TRAINING)] = _default("epochs"),
    batch_size: Annotated[int, typer.Option(min=2, help=_help("batch_size"), rich_help_panel=TRAINING)] = _default("batch_size"),
    learning_rate: Annotated[float, typer.Option(min=0.0, help=_help("learning_rate"), rich_help_panel=TRAINING)] = _default("learning_rate"),
    warmup_ratio: Annotated[float, typer.Option(min=0.0, max=0.99, help=_help("warmup_ratio"), rich_help_panel=TRAINING)] = _default("warmup_ratio"),
    loss: Annotated[LossName, typer.Option(help=_help("loss"), rich_help_panel=TRAINING)] = _default("loss"),
    mini_batch_size: Annotated[int, typer.Option(min=1, help=_help("mini_batch_size"), rich_help_panel=TRAINING)] = _default("mini_batch_size"),
    max_seq_length: Annotated[Optional[int], typer.Option(min=8, help=_help("max_seq_length"), rich_help_panel=TRAINING)] = _default("max_seq_length"),
    seed: Annotated[int, typer.Option(help=_help("seed"), rich_help_panel=TRAINING)] = _default("seed"),
    device: Annotated[Device, typer.Option(help=_help("device"), rich_help_panel=TRAINING)] = _default("device"),
    eval_steps: Annotated[Optional[int], typer.Option(min=1, help=_help("eval_steps"), rich_help_panel=TRAINING)] = _default("eval_steps"),
    num_negatives: Annotated[int, typer.Option(min=0, max=100, help=_help("num_negatives"), rich_help_panel=DATA)] = _default("num_negatives"),
    unroll_positives: Annotated[bool, typer.Option("--unroll-positives/--no-unroll-positives", help=_help("unroll_positives"), rich_help_panel=DATA)] = _default("unroll_positives"),
    eval_beir: Annotated[Optional[list[Path]], typer.Option("--eval-beir", help="Another BEIR folder to score before and after (repeatable), besides OUTPUT_TRAIN_EVAL/eval_beir.", rich_help_panel=SCORING)] = None,
    bm25: Annotated[bool, typer.Option("--bm25/--no-bm25", help=_help("bm25"), rich_help_panel=SCORING)] = _default("bm25"),
    eval_batch_size: Annotated[int, typer.Option(min=1, help=_help("eval_batch_size"), rich_help_panel=SCORING)] = _default("eval_batch_size"),
    verbose: Verbose = False,
) -> None:
    """Fine-tune a retriever on a converted export and show base vs tuned.

    Trains a sentence-transformers model on train.json (MultipleNegativesRankingLoss with
    in-batch and mined hard negatives), keeps the checkpoint that scores best on val.json,
    then scores base and tuned on eval_beir/ (and every --eval-beir folder) with nDCG@10,
    Recall@10/100 and MRR@10. Writes the model folder (with a model card), finetune.json and
    a section of report.html. Everything runs offline.
    """
    setup_logging(verbose)
    quiet_dataset_libraries(verbose)
    values = dict(
        export_dir=export_dir, base_model=base_model, output_dir=output_dir, overwrite=overwrite, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, warmup_ratio=warmup_ratio, num_negatives=num_negatives, loss=loss, mini_batch_size=mini_batch_size,
        max_seq_length=max_seq_length, seed=seed, eval_beir=eval_beir or [], unroll_positives=unroll_positives, device=device,
        eval_steps=eval_steps, bm25=bm25, eval_batch_size=eval_batch_size,
    )
    config = validated(FinetuneConfig, values)

    from sdg_program.evaluation.finetune_report import comparison_table
    from sdg_program.evaluation.training import RESULT_FILE, finetune

    with reported_errors():
        result = finetune(config, console=console)
    out = Console()
    out.print(comparison_table(result))
    out.print(f"Wrote {result.output_dir} and {Path(config.export_dir) / RESULT_FILE}")
