"""``sdg-program convert``: options in, ``convert.convert`` called, summary printed.

Registered in cli.py with ``app.command("convert")(convert_command)``. This module does not
import cli.py (cli.py imports it), so it keeps its own console (logging set-up: `cli_logging`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError
from rich.console import Console

from sdg_program.cli.logs import setup_logging
from sdg_program.export.pipeline import ConvertConfig, SplitStrategy

console = Console(stderr=True, soft_wrap=True)

IO = "Input and output"
FILTER = "Filtering"
SPLITS = "Splits"
NEGATIVES = "Hard negatives"


def convert_command(
    input_path: Annotated[Path, typer.Argument(help="A generate output folder, its records.jsonl, or a reference-format generated JSONL file.", show_default=False)],
    output_dir: Annotated[Optional[Path], typer.Option("--output-dir", "-o", help="Where to write. Default: <input>_train_eval beside the input (<input>_eval with --eval-only).", rich_help_panel=IO)] = None,
    corpus_id: Annotated[Optional[str], typer.Option(help="corpus_id written into train/val examples and merlin_metadata.json. Default: the input folder's name.", rich_help_panel=IO)] = None,
    eval_only: Annotated[bool, typer.Option("--eval-only/--no-eval-only", help="Write only the BEIR set (eval_beir/), from all kept pairs; no train/val/corpus files, no mining.", rich_help_panel=IO)] = False,
    quality_threshold: Annotated[float, typer.Option(help="Keep pairs whose judge overall score is at least this (pairs must also pass validation).", rich_help_panel=FILTER)] = 7.0,
    max_pos_docs: Annotated[int, typer.Option(min=1, help="Drop queries with more distinct positive passages than this (counted in the report).", rich_help_panel=FILTER)] = 5,
    train_ratio: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of QA pairs for train.json.", rich_help_panel=SPLITS)] = 0.8,
    val_ratio: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share for val.json; the test (BEIR) split gets the rest.", rich_help_panel=SPLITS)] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the split shuffle.", rich_help_panel=SPLITS)] = 42,
    split_strategy: Annotated[SplitStrategy, typer.Option(help="random: whole documents/bundles at random; dedupped / cluster: also keep the groups of --groups-json together, largest first.", rich_help_panel=SPLITS)] = SplitStrategy.RANDOM,
    groups_json: Annotated[Optional[list[Path]], typer.Option("--groups-json", help="Groups file(s) ({exact|fuzzy|semantic: {groups|clusters: {id: [doc, ...]}}}); repeat for several. Needed by dedupped and cluster.", rich_help_panel=SPLITS)] = None,
    paraphrase_threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="Questions of two documents with embedding cosine above this are paraphrases: their documents go to the same split.", rich_help_panel=SPLITS)] = 0.9,
    group_paraphrases: Annotated[bool, typer.Option("--group-paraphrases/--no-group-paraphrases", help="Embed all kept questions and keep paraphrases in one split.", rich_help_panel=SPLITS)] = True,
    num_negatives: Annotated[int, typer.Option(min=0, max=100, help="Hard negatives mined per train/val query (0 = none).", rich_help_panel=NEGATIVES)] = 5,
    negative_margin: Annotated[float, typer.Option(min=0.01, max=1.0, help="Skip candidates scoring above this times the query's weakest positive (likely false negatives).", rich_help_panel=NEGATIVES)] = 0.95,
    unroll_positives: Annotated[bool, typer.Option("--unroll-positives/--no-unroll-positives", help="Write one training example per positive passage (IDs suffixed _p1, _p2, ...).", rich_help_panel=NEGATIVES)] = False,
    embedder: Annotated[Optional[str], typer.Option(help="sentence-transformers model name or path for mining and paraphrases. Default: the embedded all-MiniLM-L6-v2.", rich_help_panel=NEGATIVES)] = None,
    embed_batch_size: Annotated[int, typer.Option(min=1, help="Texts per encoder batch.", rich_help_panel=NEGATIVES)] = 64,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every phase, not only warnings.")] = False,
) -> None:
    """Turn generated records into training files (train.json, val.json, corpus/) and a BEIR test set.

    Keeps pairs that pass validation and the judge threshold, splits whole documents,
    mines hard negatives with the embedder, and writes report.json and report.html
    next to the data. Re-running with the same input and options writes identical files.
    """
    setup_logging(console, verbose)
    try:
        config = ConvertConfig(
            input_path=input_path,
            output_dir=output_dir,
            corpus_id=corpus_id,
            eval_only=eval_only,
            train_ratio=train_ratio,
            val_ratio=val_ratio,
            seed=seed,
            quality_threshold=quality_threshold,
            max_pos_docs=max_pos_docs,
            split_strategy=split_strategy,
            groups_json=groups_json or [],
            num_negatives=num_negatives,
            negative_margin=negative_margin,
            unroll_positives=unroll_positives,
            paraphrase_threshold=paraphrase_threshold if group_paraphrases else None,
            embedder=embedder,
            embed_batch_size=embed_batch_size,
        )
    except ValidationError as error:
        console.print(f"[red]Invalid options:[/red] {error}")
        raise typer.Exit(2) from error

    from sdg_program.core.errors import GroupsError
    from sdg_program.export.pipeline import convert
    from sdg_program.export.report import print_report

    try:
        result = convert(config, console=console)
    except (FileNotFoundError, GroupsError, ValueError) as error:
        console.print(f"[red]Error:[/red] {error}")
        raise typer.Exit(2) from error
    out = Console()
    print_report(result.report, out)
    out.print(f"Wrote {result.output_dir} (report: {result.output_dir / 'report.html'})")
    if result.report.pairs_kept == 0:
        console.print("[red]No QA pair passed the filters[/red]; see the drop reasons above.")
        raise typer.Exit(1)
