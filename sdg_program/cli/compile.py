"""``sdg-program compile``: the options become a ``CompileConfig``, ``optimize.compile`` searches, before/after is printed.

The saved program is what ``generate --program`` loads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from rich.console import Console
from rich.table import Table

from optimize.config import CompileConfig, CompileReport
from sdg_program.cli.errors import PLAIN_USER_ERRORS, reported_errors, validated
from sdg_program.cli.logs import console, setup_logging
from sdg_program.cli.options import default_of
from sdg_program.core.errors import MissingInputError

DATA = "Data"
SEARCH = "Search"
MODELS = "Models"


def compile_command(
    gold: Annotated[Path, typer.Option("--gold", help="Gold folder with train.jsonl, dev.jsonl and judge.jsonl. Default: the gold set shipped with sdg-program.", rich_help_panel=DATA)] = default_of(CompileConfig, "gold_dir"),
    input_dir: Annotated[Optional[Path], typer.Option("--input-dir", "-i", help="Your own documents: their rows join the selection set and are scored with the label-free metric parts.", rich_help_panel=DATA)] = default_of(CompileConfig, "input_dir"),
    user_rows: Annotated[int, typer.Option(min=0, help="At most this many rows from --input-dir.", rich_help_panel=DATA)] = default_of(CompileConfig, "user_rows"),
    optimizer: Annotated[Literal["bootstrap", "mipro", "gepa"], typer.Option(help="bootstrap (few-shot random search: labeled gold demos and bootstrapped ones), mipro (MIPROv2 auto=light) or gepa (GEPA, reflective instruction search).", rich_help_panel=SEARCH)] = default_of(CompileConfig, "optimizer"),
    predictor: Annotated[Optional[list[str]], typer.Option("--predictor", help="Optimize only these predictors (extract, generate, judge); repeat the option. Default: all three.", rich_help_panel=SEARCH)] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to save the compiled program (JSON); use it with `generate --program`.")] = default_of(CompileConfig, "out"),
    report: Annotated[Optional[Path], typer.Option(help="Also write the before/after figures and costs as JSON here.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the LM and of every shuffle; the same seed gives the same program.", rich_help_panel=SEARCH)] = default_of(CompileConfig, "seed"),
    max_demos: Annotated[int, typer.Option(min=0, max=8, help="Demos per predictor. Each costs prompt tokens on every call; the embedded model has 8k.", rich_help_panel=SEARCH)] = default_of(CompileConfig, "max_demos"),
    max_bootstrapped_demos: Annotated[int, typer.Option(min=0, max=8, help="Of those, at most this many written by the model itself.", rich_help_panel=SEARCH)] = default_of(CompileConfig, "max_bootstrapped_demos"),
    bootstrap_attempts: Annotated[int, typer.Option(min=0, help="Examples tried when bootstrapping demos (each is an LM call).", rich_help_panel=SEARCH)] = default_of(CompileConfig, "bootstrap_attempts"),
    num_candidates: Annotated[int, typer.Option(min=1, help="Labeled demo sets tried by the bootstrap search.", rich_help_panel=SEARCH)] = default_of(CompileConfig, "num_candidates"),
    selection_size: Annotated[int, typer.Option(min=1, help="Gold train examples per predictor used to choose between candidates.", rich_help_panel=SEARCH)] = default_of(CompileConfig, "selection_size"),
    dev_limit: Annotated[Optional[int], typer.Option(min=1, help="Score on only the first N dev examples per predictor. Default: all.", rich_help_panel=SEARCH)] = default_of(CompileConfig, "dev_limit"),
    no_evaluate: Annotated[bool, typer.Option("--no-evaluate", help="Skip the before/after scoring on dev.", rich_help_panel=SEARCH)] = not default_of(CompileConfig, "evaluate"),
    max_metric_calls: Annotated[Optional[int], typer.Option(min=1, help="GEPA budget in metric calls. Default: auto=light.", rich_help_panel=SEARCH)] = default_of(CompileConfig, "max_metric_calls"),
    num_pairs: Annotated[int, typer.Option(min=1, max=20, help="Pairs asked for per row while scoring (fewer is cheaper).", rich_help_panel=SEARCH)] = default_of(CompileConfig, "num_pairs"),
    lm: Annotated[str, typer.Option(help="'local' (embedded SmolLM2-135M), 'local:/path/model.gguf', or a LiteLLM model string.", rich_help_panel=MODELS)] = default_of(CompileConfig, "lm"),
    judge_lm: Annotated[Optional[str], typer.Option(help="Model for the judge predictor. Default: --lm.", rich_help_panel=MODELS)] = default_of(CompileConfig, "judge_lm"),
    prompt_lm: Annotated[Optional[str], typer.Option(help="Model that proposes instructions (mipro) or reflects (gepa). Default: --lm; a stronger model helps a lot.", rich_help_panel=MODELS)] = default_of(CompileConfig, "prompt_lm"),
    api_base: Annotated[Optional[str], typer.Option(help="Base URL of an OpenAI-compatible endpoint. Keys come from the environment.", rich_help_panel=MODELS)] = default_of(CompileConfig, "api_base"),
    max_tokens: Annotated[int, typer.Option(min=64, help="Most tokens per LLM reply while compiling.", rich_help_panel=MODELS)] = default_of(CompileConfig, "max_tokens"),
    max_retries: Annotated[int, typer.Option(min=0, max=10, help="Re-asks after malformed output while compiling (0: it scores 0).", rich_help_panel=MODELS)] = default_of(CompileConfig, "max_retries"),
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every candidate, not only warnings.")] = False,
) -> None:
    """Optimize the program's prompts (extract, generate, judge) on the gold set and save them.

    Prints each predictor's metric on the dev split before and after, and the cost
    (LM calls, tokens, time). The saved JSON loads with `generate --program`.
    """
    setup_logging(verbose)
    config = validated(CompileConfig, {
        "gold_dir": gold, "input_dir": input_dir, "user_rows": user_rows, "optimizer": optimizer,
        "predictors": predictor or default_of(CompileConfig, "predictors"), "lm": lm, "judge_lm": judge_lm, "prompt_lm": prompt_lm,
        "api_base": api_base, "out": out, "seed": seed, "max_demos": max_demos, "max_bootstrapped_demos": max_bootstrapped_demos,
        "bootstrap_attempts": bootstrap_attempts, "num_candidates": num_candidates, "selection_size": selection_size,
        "dev_limit": dev_limit, "num_pairs": num_pairs, "max_tokens": max_tokens, "max_retries": max_retries,
        "max_metric_calls": max_metric_calls, "evaluate": not no_evaluate,
    })
    with reported_errors(PLAIN_USER_ERRORS):
        if input_dir is not None and not input_dir.is_dir():
            raise MissingInputError(f"input folder not found: {input_dir}")
        from optimize.compile import compile_program  # DSPy and the program load only when compile runs

        _, result = compile_program(config, log=lambda message: console.print(message, markup=False, highlight=False))
    print_report(result, Console())
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    Console().print(f"Saved {result.out}")


def print_report(result: CompileReport, out: Console) -> None:
    """Each predictor's dev metric before and after, with what the search and the scoring cost."""
    table = Table(title="Dev-split metric per predictor (composite, 0-1)")
    for column in ("predictor", "before", "after", "change", "demos", "optimize calls", "optimize tokens", "optimize s", "eval calls", "eval s"):
        table.add_column(column, justify="left" if column == "predictor" else "right")
    for item in result.predictors:
        before = f"{item.before.composite:.3f}" if item.before else "-"
        after = f"{item.after.composite:.3f}" if item.after else "-"
        change = f"{item.relative_change:+.0%}" if item.relative_change is not None else "-"
        cost = item.optimize_cost
        table.add_row(
            item.predictor, before, after, change, str(item.demos),
            str(cost.calls), f"{cost.prompt_tokens + cost.completion_tokens:,}", f"{cost.seconds:.0f}",
            str(item.evaluate_cost.calls), f"{item.evaluate_cost.seconds:.0f}",
        )
    out.print(table)
    total = result.total_cost
    out.print(f"Total: {total.calls} LM calls, {total.prompt_tokens:,} prompt + {total.completion_tokens:,} completion tokens, {total.seconds:.0f} s")
