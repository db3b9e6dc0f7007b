"""``sdg-program convert``: the options become a ``ConvertConfig``, ``export.convert`` writes the files, the report is printed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from rich.console import Console

from sdg_program.cli.errors import EXIT_FAILED, PLAIN_USER_ERRORS, fail, reported_errors, validated
from sdg_program.cli.logs import console, setup_logging
from sdg_program.cli.options import default_of
from sdg_program.export import ConvertConfig, SplitStrategy, convert, print_report

IO = "Input and output"
FILTER = "Filtering"
SPLITS = "Splits"
NEGATIVES = "Hard negatives"
ENGINE = "Engine (where the embedding passes run)"
# Help text is rich markup: "\\[ray]" prints as [ray] (unescaped, rich would drop it as a tag).


def convert_command(
    input_path: Annotated[Path, typer.Argument(help="A generate output folder, its records.jsonl, or a reference-format generated JSONL file.", show_default=False)],
    output_dir: Annotated[Optional[Path], typer.Option("--output-dir", "-o", help="Where to write. Default: <input>_train_eval beside the input (<input>_eval with --eval-only).", rich_help_panel=IO)] = default_of(ConvertConfig, "output_dir"),
    corpus_id: Annotated[Optional[str], typer.Option(help="corpus_id written into train/val examples and merlin_metadata.json. Default: the input folder's name.", rich_help_panel=IO)] = default_of(ConvertConfig, "corpus_id"),
    eval_only: Annotated[bool, typer.Option("--eval-only/--no-eval-only", help="Write only the BEIR set (eval_beir/), from all kept pairs; no train/val/corpus files, no mining.", rich_help_panel=IO)] = default_of(ConvertConfig, "eval_only"),
    quality_threshold: Annotated[float, typer.Option(help="Keep pairs whose judge overall score is at least this (pairs must also pass validation).", rich_help_panel=FILTER)] = default_of(ConvertConfig, "quality_threshold"),
    max_pos_docs: Annotated[int, typer.Option(min=1, help="Drop queries with more distinct positive passages than this (counted in the report).", rich_help_panel=FILTER)] = default_of(ConvertConfig, "max_pos_docs"),
    roundtrip: Annotated[bool, typer.Option("--roundtrip/--no-roundtrip", help="Keep a pair only if BM25 + embedder retrieval (fused by reciprocal rank) over the whole corpus ranks one of its positives within --roundtrip-k. With it on, the lexical question_not_grounded check is waived.", rich_help_panel=FILTER)] = default_of(ConvertConfig, "roundtrip"),
    roundtrip_k: Annotated[Optional[int], typer.Option(min=1, help="Rank within which a positive must come. Default: 2% of the corpus, at least 10 passages.", rich_help_panel=FILTER)] = default_of(ConvertConfig, "roundtrip_k"),
    dedup_threshold: Annotated[Optional[float], typer.Option(min=0.01, max=1.0, help="Drop questions whose embedding cosine with a better pair's question is above this, across all documents (the better pair: higher judge score, then better round-trip rank). Default 0.95: keeps rewordings, drops repeats.", rich_help_panel=FILTER)] = default_of(ConvertConfig, "dedup_threshold"),
    language: Annotated[Optional[str], typer.Option(help="Language (ISO 639-1, e.g. de) every question must be in, for records validated here (no qa_validations). Default: the language of its segments.", rich_help_panel=FILTER)] = default_of(ConvertConfig, "language"),
    disable_check: Annotated[Optional[list[str]], typer.Option("--disable-check", help="A validation reason code not to check for records validated here (repeatable), e.g. language_mismatch.", rich_help_panel=FILTER)] = None,
    train_ratio: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of QA pairs for train.json.", rich_help_panel=SPLITS)] = default_of(ConvertConfig, "train_ratio"),
    val_ratio: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share for val.json; the test (BEIR) split gets the rest.", rich_help_panel=SPLITS)] = default_of(ConvertConfig, "val_ratio"),
    seed: Annotated[int, typer.Option(help="Seed of the split shuffle.", rich_help_panel=SPLITS)] = default_of(ConvertConfig, "seed"),
    split_strategy: Annotated[SplitStrategy, typer.Option(help="random: whole documents/bundles at random; dedupped / cluster: also keep the groups of --groups-json together, largest first.", rich_help_panel=SPLITS)] = default_of(ConvertConfig, "split_strategy"),
    groups_json: Annotated[Optional[list[Path]], typer.Option("--groups-json", help="Groups file(s) ({exact|fuzzy|semantic: {groups|clusters: {id: [doc, ...]}}}); repeat for several. Needed by dedupped and cluster.", rich_help_panel=SPLITS)] = None,
    paraphrase_threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="Questions of two documents with embedding cosine above this are paraphrases: their documents go to the same split.", rich_help_panel=SPLITS)] = default_of(ConvertConfig, "paraphrase_threshold"),
    group_paraphrases: Annotated[bool, typer.Option("--group-paraphrases/--no-group-paraphrases", help="Embed all kept questions and keep paraphrases in one split.", rich_help_panel=SPLITS)] = True,
    num_negatives: Annotated[int, typer.Option(min=0, max=100, help="Hard negatives mined per train/val query (0 = none).", rich_help_panel=NEGATIVES)] = default_of(ConvertConfig, "num_negatives"),
    negative_margin: Annotated[float, typer.Option(min=0.01, max=1.0, help="Skip candidates scoring above this times the query's weakest positive (likely false negatives).", rich_help_panel=NEGATIVES)] = default_of(ConvertConfig, "negative_margin"),
    unroll_positives: Annotated[bool, typer.Option("--unroll-positives/--no-unroll-positives", help="Write one training example per positive passage (IDs suffixed _p1, _p2, ...).", rich_help_panel=NEGATIVES)] = default_of(ConvertConfig, "unroll_positives"),
    embedder: Annotated[Optional[str], typer.Option(help="sentence-transformers model name or path for mining and paraphrases. Default: the embedded all-MiniLM-L6-v2.", rich_help_panel=NEGATIVES)] = default_of(ConvertConfig, "embedder"),
    embed_batch_size: Annotated[int, typer.Option(min=1, help="Texts per encoder batch.", rich_help_panel=NEGATIVES)] = default_of(ConvertConfig, "embed_batch_size"),
    engine: Annotated[Literal["local", "ray"], typer.Option(help="local: embed in this process. ray: embed on a Ray actor pool (the quality gate, paraphrase and hard-negative passes); the files are byte-identical to local on CPU workers. Needs pip install 'sdg-program\\[ray]'.", rich_help_panel=ENGINE)] = default_of(ConvertConfig, "engine"),
    ray_address: Annotated[Optional[str], typer.Option(help="Ray cluster to join, e.g. ray://head:10001 or auto. Default: $RAY_ADDRESS, else a local cluster started for this run and stopped after it.", rich_help_panel=ENGINE)] = default_of(ConvertConfig, "ray_address"),
    num_workers: Annotated[Optional[int], typer.Option(min=1, help="Embedding actors, each loading the embedder once. Default: one per cluster CPU (per GPU share with --worker-gpus); a local cluster gets at least this many CPUs.", rich_help_panel=ENGINE)] = default_of(ConvertConfig, "num_workers"),
    worker_gpus: Annotated[float, typer.Option(min=0.0, help="GPUs per embedding actor (e.g. 0.5 puts two on a GPU). 0: CPU actors, the only ones whose floats, and so files, match --engine local.", rich_help_panel=ENGINE)] = default_of(ConvertConfig, "worker_gpus"),
    redact: Annotated[bool, typer.Option("--redact/--no-redact", help="Mask credentials and personal data that the end-of-run scan finds as [REDACTED:kind] in every written file (recorded in report.json). Without it, findings are a warning and push refuses them.", rich_help_panel=IO)] = default_of(ConvertConfig, "redact"),
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every phase, not only warnings.")] = False,
) -> None:
    """Turn generated records into training files (train.json, val.json, corpus/) and a BEIR test set.

    Keeps pairs that pass validation and the judge threshold, splits whole documents,
    mines hard negatives with the embedder, and writes report.json and report.html
    next to the data. Re-running with the same input and options writes identical files.
    """
    setup_logging(verbose)
    config = validated(ConvertConfig, {
        "input_path": input_path, "output_dir": output_dir, "corpus_id": corpus_id, "eval_only": eval_only,
        "train_ratio": train_ratio, "val_ratio": val_ratio, "seed": seed, "quality_threshold": quality_threshold,
        "max_pos_docs": max_pos_docs, "split_strategy": split_strategy, "groups_json": groups_json or default_of(ConvertConfig, "groups_json"),
        "num_negatives": num_negatives, "negative_margin": negative_margin, "unroll_positives": unroll_positives,
        "paraphrase_threshold": paraphrase_threshold if group_paraphrases else None,
        "embedder": embedder, "embed_batch_size": embed_batch_size, "roundtrip": roundtrip, "roundtrip_k": roundtrip_k,
        "dedup_threshold": dedup_threshold, "language": language, "disabled_checks": disable_check or [], "redact": redact,
        "engine": engine, "ray_address": ray_address, "num_workers": num_workers, "worker_gpus": worker_gpus,
    })
    if config.engine == "ray":
        _require_ray()
    with reported_errors(PLAIN_USER_ERRORS):
        result = convert(config, console=console)
    out = Console()
    print_report(result.report, out)
    out.print(f"Wrote {result.output_dir} (report: {result.output_dir / 'report.html'})")
    if result.report.pairs_kept == 0:
        fail("[red]No QA pair passed the filters[/red]; see the drop reasons above.", EXIT_FAILED)


def _require_ray() -> None:
    """Before anything runs: Ray's install line, escaped (``fail`` prints rich markup, which would eat "[ray]")."""
    from rich.markup import escape

    from sdg_program.core.errors import UserError
    from sdg_program.core.ray_cluster import require_ray_data

    try:
        require_ray_data()
    except UserError as error:
        fail(f"[red]Error:[/red] {escape(str(error))}")
