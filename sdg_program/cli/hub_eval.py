"""`sdg-program push` and `sdg-program eval`: option parsing only; the work is in `hub` and `retrieval_eval`.

cli.py registers them: `app.command("push")(push_command)` and `app.command("eval")(eval_command)`.
This module does not import cli.py (cli.py imports it), so it keeps its own console.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from sdg_program.cli.logs import setup_logging

console = Console(stderr=True, soft_wrap=True)

Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log every step, not only warnings.")]


def _setup_logging(verbose: bool) -> None:
    setup_logging(console, verbose)
    logging.getLogger("datasets").propagate = False  # datasets prints its own warnings; do not print them twice
    logging.getLogger("bm25s").setLevel(logging.INFO if verbose else logging.WARNING)  # bm25s sets DEBUG on its logger


def push_command(
    folder: Annotated[Path, typer.Argument(metavar="OUTPUT_TRAIN_EVAL", help="Output folder of `sdg-program convert` (X_train_eval/).", show_default=False)],
    repo_id: Annotated[str, typer.Option("--repo-id", help="Dataset repository to create or update: user/name or org/name.", show_default=False)],
    private: Annotated[bool, typer.Option("--private/--public", help="Create the repository private. An existing repository keeps its visibility; pushing with --private to a public one is refused.")] = False,
    license: Annotated[str, typer.Option("--license", help="Licence ID for the card (e.g. cc-by-4.0, apache-2.0, mit). 'other' means not set: the data carries your documents' licence, so set it.")] = "other",
    pretty_name: Annotated[Optional[str], typer.Option(help="Title of the dataset card. Default: the repository name.")] = None,
    verbose: Verbose = False,
) -> None:
    """Upload a converted dataset to the Hugging Face Hub, with a dataset card.

    Pushes config `default` (splits train, validation, test: questions with positive and
    negative passage IDs) and config `corpus` (the passages), as Parquet. The token comes
    from HF_TOKEN or `hf auth login`; it is never printed or written. HF_ENDPOINT selects
    another Hub.
    """
    from sdg_program.core.errors import ExportFolderError, HubError
    from sdg_program.hub.upload import push_export

    _setup_logging(verbose)
    try:
        result = push_export(folder, repo_id, private=private, license=license, pretty_name=pretty_name)
    except ExportFolderError as error:
        console.print(f"[red]Error:[/red] {error}")
        raise typer.Exit(2) from None
    except HubError as error:
        console.print(f"[red]Error:[/red] {error}")
        raise typer.Exit(1) from None
    splits = ", ".join(f"{split} {count}" for split, count in result.split_rows.items())
    Console().print(f"Pushed {sum(result.split_rows.values())} questions ({splits}) and {result.corpus_rows} passages to {result.url}")
    if license == "other":
        console.print("[yellow]Note:[/yellow] the card's licence is 'other'; set your documents' licence with --license (or edit the card).")


def eval_command(
    beir_dir: Annotated[Path, typer.Argument(metavar="BEIR_DIR", help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv (e.g. X_train_eval/eval_beir).", show_default=False)],
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="sentence-transformers model name or folder; repeat for several. Default: the embedded all-MiniLM-L6-v2. Names load from the local cache only unless HF_HUB_OFFLINE=0.")] = None,
    dense: Annotated[bool, typer.Option("--dense/--no-dense", help="Score dense models; --no-dense with --bm25 scores BM25 alone.")] = True,
    bm25: Annotated[bool, typer.Option("--bm25/--no-bm25", help="Also score a BM25 baseline (bm25s, English stopwords and stemming).")] = True,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Also write the metrics as JSON to this file.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per encoding batch.")] = 64,
    split: Annotated[str, typer.Option(help="Which qrels file to score: qrels/<split>.tsv.")] = "test",
    verbose: Verbose = False,
) -> None:
    """Score retrievers on a BEIR folder: nDCG@10, Recall@10, Recall@100, MRR@10.

    Metrics come from beir's EvaluateRetrieval (pytrec_eval), so they match published BEIR
    numbers. Works on our eval_beir/ export and on any public BEIR folder.
    """
    from sdg_program.core.errors import BeirFormatError, RetrieverError
    from sdg_program.evaluation.retrieval import evaluate_beir, report_table, write_report

    _setup_logging(verbose)
    if not dense and not bm25:
        console.print("[red]Error:[/red] nothing to score: --no-dense and --no-bm25 together leave no retriever.")
        raise typer.Exit(2)
    models: list[str | None] = (list(model) if model else [None]) if dense else []
    try:
        report = evaluate_beir(beir_dir, models, bm25=bm25, split=split, batch_size=batch_size, show_progress=True)
    except BeirFormatError as error:
        console.print(f"[red]Error:[/red] {error}")
        raise typer.Exit(2) from None
    except RetrieverError as error:
        console.print(f"[red]Error:[/red] {error}")
        raise typer.Exit(1) from None
    Console().print(report_table(report))
    if output is not None:
        write_report(report, output)
        Console().print(f"Wrote {output}")
