"""``sdg-program push``: the options become a ``PushConfig``, ``hub.push`` uploads, the result is printed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from sdg_program.cli.errors import reported_errors, validated
from sdg_program.cli.logs import console, quiet_dataset_libraries, setup_logging
from sdg_program.cli.options import Verbose, default_of
from sdg_program.hub import PushConfig


def push_command(
    folder: Annotated[Path, typer.Argument(metavar="OUTPUT_TRAIN_EVAL", help="Output folder of `sdg-program convert` (X_train_eval/).", show_default=False)],
    repo_id: Annotated[str, typer.Option("--repo-id", help="Dataset repository to create or update: user/name or org/name.", show_default=False)],
    private: Annotated[bool, typer.Option("--private/--public", help="Create the repository private. An existing repository keeps its visibility; pushing with --private to a public one is refused.")] = default_of(PushConfig, "private"),
    license: Annotated[str, typer.Option("--license", help="Licence ID for the card (e.g. cc-by-4.0, apache-2.0, mit). 'other' means not set: the data carries your documents' licence, so set it.")] = default_of(PushConfig, "license"),
    pretty_name: Annotated[Optional[str], typer.Option(help="Title of the dataset card. Default: the repository name.")] = default_of(PushConfig, "pretty_name"),
    model: Annotated[bool, typer.Option("--model", help="FOLDER is a model written by `sdg-program finetune` (X_train_eval/model): push it as a model repository with its model card.")] = default_of(PushConfig, "model"),
    verbose: Verbose = False,
) -> None:
    """Upload a converted dataset (or, with --model, a fine-tuned model) to the Hugging Face Hub.

    Pushes config `default` (splits train, validation, test: questions with positive and
    negative passage IDs) and config `corpus` (the passages), as Parquet. The token comes
    from HF_TOKEN or `hf auth login`; it is never printed or written. HF_ENDPOINT selects
    another Hub.
    """
    setup_logging(verbose)
    quiet_dataset_libraries(verbose)
    config = validated(PushConfig, {"folder": folder, "repo_id": repo_id, "private": private, "license": license, "pretty_name": pretty_name, "model": model})
    from sdg_program.hub import push  # loads huggingface_hub (about a second): not for every --help

    with reported_errors():
        result = push(config)
    if config.model:
        Console().print(f"Pushed {result.files} model files to {result.url}")
        return
    splits = ", ".join(f"{split} {count}" for split, count in result.split_rows.items())
    Console().print(f"Pushed {sum(result.split_rows.values())} questions ({splits}) and {result.corpus_rows} passages to {result.url}")
    if config.license == "other":
        console.print("[yellow]Note:[/yellow] the card's licence is 'other'; set your documents' licence with --license (or edit the card).")
