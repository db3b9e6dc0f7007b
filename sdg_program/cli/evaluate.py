"""``sdg-program eval``: the options become an ``EvaluateConfig``, ``evaluation.evaluate`` scores, the table is printed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from sdg_program.cli.errors import fail, reported_errors, validated
from sdg_program.cli.logs import quiet_dataset_libraries, setup_logging
from sdg_program.cli.options import Verbose, default_of
from sdg_program.evaluation import EvaluateConfig, evaluate, report_table


def eval_command(
    beir_dir: Annotated[Path, typer.Argument(metavar="BEIR_DIR", help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv (e.g. X_train_eval/eval_beir).", show_default=False)],
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="sentence-transformers model name or folder; repeat for several. Default: the embedded all-MiniLM-L6-v2. Names load from the local cache only unless HF_HUB_OFFLINE=0.")] = None,
    dense: Annotated[bool, typer.Option("--dense/--no-dense", help="Score dense models; --no-dense with --bm25 scores BM25 alone.")] = True,
    bm25: Annotated[bool, typer.Option("--bm25/--no-bm25", help="Also score a BM25 baseline (bm25s, English stopwords and stemming).")] = default_of(EvaluateConfig, "bm25"),
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Also write the metrics as JSON to this file.")] = default_of(EvaluateConfig, "output"),
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per encoding batch.")] = default_of(EvaluateConfig, "batch_size"),
    split: Annotated[str, typer.Option(help="Which qrels file to score: qrels/<split>.tsv.")] = default_of(EvaluateConfig, "split"),
    verbose: Verbose = False,
) -> None:
    """Score retrievers on a BEIR folder: nDCG@10, Recall@10, Recall@100, MRR@10.

    Metrics come from beir's EvaluateRetrieval (pytrec_eval), so they match published BEIR
    numbers. Works on our eval_beir/ export and on any public BEIR folder.
    """
    setup_logging(verbose)
    quiet_dataset_libraries(verbose)
    if not dense and not bm25:
        fail("[red]Error:[/red] nothing to score: --no-dense and --no-bm25 together leave no retriever.")
    models = (model or default_of(EvaluateConfig, "models")) if dense else []
    config = validated(EvaluateConfig, {"beir_dir": beir_dir, "models": models, "bm25": bm25, "split": split, "batch_size": batch_size, "output": output})
    with reported_errors():
        report = evaluate(config, show_progress=True)
    Console().print(report_table(report))
    if config.output is not None:
        Console().print(f"Wrote {config.output}")
