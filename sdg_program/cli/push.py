"""``sdg-program push``: the options become a ``PushConfig``, ``hub.push`` uploads, the result is printed.

Private by default. ``--public`` prints what would become public and asks on a terminal;
``--yes`` answers for scripts, and without a terminal and without ``--yes`` the push is refused
rather than left waiting for an answer nobody can give.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from sdg_program.cli.errors import reported_errors, validated
from sdg_program.cli.logs import console, quiet_dataset_libraries, setup_logging
from sdg_program.cli.options import Verbose, default_of
from sdg_program.hub import PushConfig

if TYPE_CHECKING:
    from sdg_program.hub.publication import PublicationPlan

SAFETY = "Visibility and sensitive data"


def push_command(
    folder: Annotated[Path, typer.Argument(metavar="OUTPUT_TRAIN_EVAL", help="Output folder of `sdg-program convert` (X_train_eval/).", show_default=False)],
    repo_id: Annotated[str, typer.Option("--repo-id", help="Dataset repository to create or update: user/name or org/name.", show_default=False)],
    private: Annotated[bool, typer.Option("--private/--public", help="Private (the default) or public. --public shows how many passages and documents become public and asks first (--yes for scripts). An existing repository keeps its visibility; pushing to an existing public one needs --public.", rich_help_panel=SAFETY)] = default_of(PushConfig, "private"),
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Publish with --public without asking (for scripts; without a terminal a public push needs it).", rich_help_panel=SAFETY)] = default_of(PushConfig, "yes"),
    allow_findings: Annotated[bool, typer.Option("--allow-findings", help="Upload even if the scan finds credentials or personal data in the passages, questions or answers (see `sdg-program scan`; the card says so).", rich_help_panel=SAFETY)] = default_of(PushConfig, "allow_findings"),
    license: Annotated[str, typer.Option("--license", help="Licence of your source documents, for the card: a Hub licence ID (e.g. cc-by-4.0, apache-2.0, mit), several separated by commas, or free text. 'other' means not declared: the data carries your documents' licence, so declare it.")] = default_of(PushConfig, "license"),
    pretty_name: Annotated[Optional[str], typer.Option(help="Title of the dataset card. Default: the repository name.")] = default_of(PushConfig, "pretty_name"),
    model: Annotated[bool, typer.Option("--model", help="FOLDER is a model written by `sdg-program finetune` (X_train_eval/model): push it as a model repository with its model card.")] = default_of(PushConfig, "model"),
    verbose: Verbose = False,
) -> None:
    """Upload a converted dataset (or, with --model, a fine-tuned model) to the Hugging Face Hub.

    Pushes config `default` (splits train, validation, test: questions with positive and
    negative passage IDs) and config `corpus` (the passages), as Parquet, to a private
    repository unless --public is given. Before anything is sent, every passage, question
    and answer is scanned for credentials and personal data (as `sdg-program scan` does);
    findings stop the push. The token comes from HF_TOKEN or `hf auth login`; it is never
    printed or written. HF_ENDPOINT selects another Hub.
    """
    setup_logging(verbose)
    quiet_dataset_libraries(verbose)
    config = validated(PushConfig, {"folder": folder, "repo_id": repo_id, "private": private, "license": license, "pretty_name": pretty_name,
                                    "model": model, "allow_findings": allow_findings, "yes": yes})
    from sdg_program.hub import push  # loads huggingface_hub (about a second): not for every --help

    with reported_errors():
        result = push(config, confirm=lambda plan: confirm_publication(plan, yes=config.yes))
    visibility = "private" if getattr(result, "private", config.private) else "public"
    if config.model:
        Console().print(f"Pushed {result.files} model files to {result.url}")
        return
    splits = ", ".join(f"{split} {count}" for split, count in result.split_rows.items())
    Console().print(f"Pushed {sum(result.split_rows.values())} questions ({splits}) and {result.corpus_rows} passages to {result.url} ({visibility})")
    if result.findings:
        console.print(f"[yellow]Note:[/yellow] uploaded with --allow-findings: {', '.join(f'{kind} {count}' for kind, count in result.findings.items())}.")
    if config.license == "other":
        console.print("[yellow]Note:[/yellow] the card's licence is 'other'; declare your documents' licence with --license (or edit the card).")


def confirm_publication(plan: "PublicationPlan", *, yes: bool) -> bool:
    """Show what a public push publishes; ask on a terminal, accept with --yes, refuse otherwise."""
    from sdg_program.hub.publication import PublicationRefused

    console.print(f"[yellow]Public push:[/yellow] {escape(plan.describe())}", highlight=False)
    if yes:
        return True
    if not sys.stdin.isatty():
        raise PublicationRefused(f"Not published: a public push needs confirmation, and there is no terminal to ask on. Pass --yes to publish {plan.repo_id}, or drop --public to push it private.")
    return typer.confirm("Publish?", default=False, err=True)
