"""``sdg-program generate``: options and an optional YAML file become a ``GenerateConfig``; the runner does the rest.

Three phases: build the config (the ``--config`` file, then every option given on the command line
over it, then every other option where the file is silent), run ``generate`` or ``preview`` on it,
print the summary. ``--print-resolved-config`` stops after the first phase.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer
from rich.console import Console

from sdg_program.cli.chunk import ResolveIncludes
from sdg_program.cli.errors import EXIT_FAILED, PLAIN_USER_ERRORS, fail, reported_errors, validated
from sdg_program.cli.logs import console, setup_logging
from sdg_program.cli.options import ChunkingOptions, Embedder, Sample, Verbose, default_of, input_dir_or_sample, with_chunking_options
from sdg_program.cli.summary import print_generation_summary, print_preview
from sdg_program.core.errors import RunAborted
from sdg_program.ingest.config import ChunkingConfig
from sdg_program.program import GenerationSettings
from sdg_program.runner.config import GenerateConfig

GENERATION = "Generation"
MODELS = "Models"
ENGINE = "Engine"

# Options that fill GenerationSettings (config key `generation`); the other non-chunking ones are top-level GenerateConfig fields.
GENERATION_OPTIONS = (
    "num_pairs", "query_counts", "reasoning_counts", "min_hops", "max_hops", "min_complexity", "similarity_threshold",
    "max_artifacts_per_type", "min_answer_support", "max_retries", "window_chars", "strategy", "segment_attempts", "extract", "judge",
)
RUN_OPTIONS = (
    "output_dir", "lm", "judge_lm", "api_base", "judge_api_base", "embedder", "program", "concurrency", "num_records",
    "max_tokens", "temperature", "seed", "repeat_penalty", "timeout", "num_retries", "retry_base_delay", "max_failure_rate", "structured_output",
    "engine", "ray_address", "num_workers", "worker_cpus", "worker_gpus",
)
COUNT_OPTIONS = {"query_counts": "--query-counts", "reasoning_counts": "--reasoning-counts"}


@with_chunking_options
def generate_command(
    ctx: typer.Context,
    input_dir: Annotated[Optional[Path], typer.Option("--input-dir", "-i", help="Folder of documents to read (or set chunking.input_dir in --config, or use --sample).", rich_help_panel="Documents")] = None,
    sample: Sample = False,
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o", help="records.jsonl, failures.jsonl and run.json are written here.")] = default_of(GenerateConfig, "output_dir"),
    config_file: Annotated[Optional[Path], typer.Option("--config", help="YAML file with any of: chunking, generation, lm, judge_lm, ... Command-line options win.")] = None,
    print_resolved_config: Annotated[bool, typer.Option(help="Print the resolved config (secrets redacted) and exit.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the expected calls, prompt tokens and input cost per model, then stop: nothing is called or written.")] = False,
    preview_rows: Annotated[Optional[int], typer.Option("--preview", min=1, help="Run N rows, print them as a table, write nothing; exit 1 if any fails.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --output-dir: skip rows already done, retry failed ones.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Delete an earlier run in --output-dir and start again.")] = False,
    num_records: Annotated[Optional[int], typer.Option(min=1, help="Process only the first N seed rows. Default: all.", rich_help_panel=GENERATION)] = default_of(GenerateConfig, "num_records"),
    num_pairs: Annotated[int, typer.Option(min=1, max=20, help="QA pairs requested per row (per window for long rows).", rich_help_panel=GENERATION)] = default_of(GenerationSettings, "num_pairs"),
    query_counts: Annotated[Optional[list[str]], typer.Option(help="Pairs per query type, e.g. multi_hop=3,structural=2,contextual=2. Must sum to --num-pairs. Default: 3:2:2 scaled.", rich_help_panel=GENERATION)] = None,
    reasoning_counts: Annotated[Optional[list[str]], typer.Option(help="Pairs per reasoning type (factual, relational, inferential, temporal, procedural, causal, visual). Must sum to --num-pairs. Default: spread over the six text types; no visual.", rich_help_panel=GENERATION)] = None,
    min_hops: Annotated[int, typer.Option(min=1, help="Fewest hops of a multi-hop question (at least 2 are always required).", rich_help_panel=GENERATION)] = default_of(GenerationSettings, "min_hops"),
    max_hops: Annotated[int, typer.Option(min=1, max=5, help="Most hops of a multi-hop question.", rich_help_panel=GENERATION)] = default_of(GenerationSettings, "max_hops"),
    min_complexity: Annotated[int, typer.Option(min=1, max=5, help="Lowest question complexity kept (1-5).", rich_help_panel=GENERATION)] = default_of(GenerationSettings, "min_complexity"),
    similarity_threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="Questions with embedding cosine above this are duplicates (word-level repeats always are).", rich_help_panel=GENERATION)] = default_of(GenerationSettings, "similarity_threshold"),
    max_artifacts_per_type: Annotated[int, typer.Option(min=1, max=5, help="Artifacts extracted per category.", rich_help_panel=GENERATION)] = default_of(GenerationSettings, "max_artifacts_per_type"),
    min_answer_support: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of an answer's content words that must appear in its cited segments.", rich_help_panel=GENERATION)] = default_of(GenerationSettings, "min_answer_support"),
    max_retries: Annotated[int, typer.Option(min=0, max=10, help="Re-asks per call after malformed output.", rich_help_panel=GENERATION)] = default_of(GenerationSettings, "max_retries"),
    window_chars: Annotated[Optional[int], typer.Option(min=500, help="Segment characters per generation window. Default: fitted to the model's context.", rich_help_panel=GENERATION)] = default_of(GenerationSettings, "window_chars"),
    strategy: Annotated[Literal["auto", "window", "segment"], typer.Option(
        help="window: one call per window writes all pairs, single- and multi-hop (needs a capable model). "
        "segment: one short call per segment (up to --num-pairs per window) writes one single-hop pair; made for the embedded 135M model. "
        "auto: segment for the embedded model, window for any other.",
        rich_help_panel=GENERATION)] = default_of(GenerationSettings, "strategy"),
    segment_attempts: Annotated[int, typer.Option(min=1, max=10, help="segment strategy: candidates per segment until one passes validation.", rich_help_panel=GENERATION)] = default_of(GenerationSettings, "segment_attempts"),
    extract: Annotated[Literal["auto", "inline", "on", "off"], typer.Option(
        help="Artifact extraction (concepts, entities, ... per window). inline: the generate call writes them before its pairs, reading the "
             "document once; on: a separate extract call per window first; auto: inline for the window strategy with an endpoint (on for "
             "the in-process model, or with a --program that optimized extract or generate), off for the segment strategy, which does not read them.",
        rich_help_panel=GENERATION)] = default_of(GenerationSettings, "extract"),
    judge: Annotated[Literal["auto", "on", "off"], typer.Option(
        help="LLM judge of every kept pair. auto: off when the judge would be the embedded model grading itself (its scores carry no signal; "
        "convert then keeps pairs on the deterministic checks and the retrieval round trip), on otherwise. Pass --judge-lm for a real judge.",
        rich_help_panel=GENERATION)] = default_of(GenerationSettings, "judge"),
    lm: Annotated[str, typer.Option(help="'local' (embedded SmolLM2-135M), 'local:/path/model.gguf', or a LiteLLM model string such as openai/gpt-4o-mini.", rich_help_panel=MODELS)] = default_of(GenerateConfig, "lm"),
    judge_lm: Annotated[Optional[str], typer.Option(help="Model for the judge. Default: --lm (the model then grades itself).", rich_help_panel=MODELS)] = default_of(GenerateConfig, "judge_lm"),
    api_base: Annotated[Optional[str], typer.Option(help="Base URL of an OpenAI-compatible endpoint for --lm. Keys come from the environment.", rich_help_panel=MODELS)] = default_of(GenerateConfig, "api_base"),
    judge_api_base: Annotated[Optional[str], typer.Option(help="Base URL for --judge-lm. Default: --api-base.", rich_help_panel=MODELS)] = default_of(GenerateConfig, "judge_api_base"),
    embedder: Embedder = default_of(GenerateConfig, "embedder"),
    program: Annotated[Optional[Path], typer.Option(help="Compiled program JSON from `sdg-program compile`.", rich_help_panel=MODELS)] = default_of(GenerateConfig, "program"),
    concurrency: Annotated[Optional[int], typer.Option(min=1, max=512, help="Rows in flight (with --engine ray: in all, spread evenly over the workers). Default: 8 for endpoints, 1 for the local model (per worker with --engine ray).", rich_help_panel=MODELS)] = default_of(GenerateConfig, "concurrency"),
    max_tokens: Annotated[int, typer.Option(min=64, help="Most tokens per LLM reply.", rich_help_panel=MODELS)] = default_of(GenerateConfig, "max_tokens"),
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0, help="Sampling temperature.", rich_help_panel=MODELS)] = default_of(GenerateConfig, "temperature"),
    seed: Annotated[int, typer.Option(help="Seed for reproducible runs where the backend allows (the local model is deterministic for a seed).", rich_help_panel=MODELS)] = default_of(GenerateConfig, "seed"),
    repeat_penalty: Annotated[float, typer.Option(min=1.0, max=2.0, help="Local models only: llama.cpp's penalty on repeated tokens (1.0 = none); keeps a small model from looping.", rich_help_panel=MODELS)] = default_of(GenerateConfig, "repeat_penalty"),
    timeout: Annotated[float, typer.Option(min=1.0, help="Seconds before an endpoint request times out.", rich_help_panel=MODELS)] = default_of(GenerateConfig, "timeout"),
    num_retries: Annotated[int, typer.Option(min=0, help="Retries of a call after a timeout, 429 or 5xx, waiting the server's Retry-After or an exponential backoff.", rich_help_panel=MODELS)] = default_of(GenerateConfig, "num_retries"),
    retry_base_delay: Annotated[float, typer.Option(min=0.01, max=60.0, help="First backoff in seconds when the endpoint sends no Retry-After; doubles per retry (capped at 60 s, plus up to 25% jitter).", rich_help_panel=MODELS)] = default_of(GenerateConfig, "retry_base_delay"),
    structured_output: Annotated[Literal["auto", "json_schema", "json_object_schema", "json_object"], typer.Option(help="How --lm/--judge-lm endpoints are asked for JSON: auto (what DSPy knows of the model), json_schema (OpenAI, vLLM, NIM, Ollama, llama-server), json_object_schema (llama-cpp-python's server), json_object (JSON mode, no schema).", rich_help_panel=MODELS)] = default_of(GenerateConfig, "structured_output"),
    max_failure_rate: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Abort (resumably) when more than this share of rows fail, after 10 rows.", rich_help_panel=MODELS)] = default_of(GenerateConfig, "max_failure_rate"),
    engine: Annotated[Literal["local", "ray"], typer.Option(
        help="Where rows run. local: threads in this process. ray: worker actors on a Ray cluster, each with its own copy of the models "
        "(pip install 'sdg-program\\[ray]'; see docs/ray.md). Records are the same either way, but with ray they finish (and are written) in a different order; "
        "this process still writes every file, so --resume works across engines.",
        rich_help_panel=ENGINE)] = default_of(GenerateConfig, "engine"),
    ray_address: Annotated[Optional[str], typer.Option(help="--engine ray: the cluster to join (ray://HEAD:10001, HEAD:6379 or auto). Default: the RAY_ADDRESS variable, else a Ray cluster on this machine for the length of the run.", rich_help_panel=ENGINE)] = default_of(GenerateConfig, "ray_address"),
    num_workers: Annotated[Optional[int], typer.Option(min=1, help="--engine ray: worker actors (each loads its own program, embedder and, with --lm local, model: about 0.6 GB of RAM, 0.9 GB with --lm local). Default: the cluster's CPUs / --worker-cpus, at most 64.", rich_help_panel=ENGINE)] = default_of(GenerateConfig, "num_workers"),
    worker_cpus: Annotated[float, typer.Option(min=0.01, help="--engine ray: CPUs Ray reserves per worker.", rich_help_panel=ENGINE)] = default_of(GenerateConfig, "worker_cpus"),
    worker_gpus: Annotated[float, typer.Option(min=0.0, help="--engine ray: GPUs Ray reserves per worker (fractions share a GPU).", rich_help_panel=ENGINE)] = default_of(GenerateConfig, "worker_gpus"),
    resolve_includes: ResolveIncludes = default_of(ChunkingConfig, "resolve_includes"),
    *,
    chunking: ChunkingOptions,
    verbose: Verbose = False,
) -> None:
    """Generate QA pairs with evidence segments for every document (or bundle).

    Each finished row is appended to OUTPUT_DIR/records.jsonl; rows that fail go to
    failures.jsonl with the reason. Interrupted runs continue with --resume.
    """
    setup_logging(verbose)
    input_dir = input_dir_or_sample(input_dir, sample)
    explicit = explicit_options(ctx) | ({"input_dir"} if sample else set())  # --sample wins over the --config file's folder
    config = resolve_config(config_file, options_by_place(locals()), explicit)
    if dry_run:
        run_dry(config)
        return
    if config.engine == "ray" and not print_resolved_config and preview_rows is None:
        require_ray()
    if print_resolved_config:
        print_config(config)
    elif preview_rows is not None:
        run_preview(config, preview_rows)
    else:
        run_generate(config, resume=resume, overwrite=overwrite)


# ---------------------------------------------------------------------------
# phase 1: the config, from the --config file and the options
# ---------------------------------------------------------------------------


def options_by_place(values: dict[str, Any]) -> dict[tuple[str, ...], Any]:
    """Each option's value at its place in GenerateConfig: ``("chunking", "recursive")``, ``("lm",)``, ..."""
    placed: dict[tuple[str, ...], Any] = {("chunking", name): value for name, value in values["chunking"].items()}
    placed["chunking", "resolve_includes"] = values["resolve_includes"]
    if values["input_dir"] is not None:
        placed["chunking", "input_dir"] = values["input_dir"]
    for name in GENERATION_OPTIONS:
        value = values[name]
        placed["generation", name] = parse_counts(value, COUNT_OPTIONS[name]) if name in COUNT_OPTIONS else value
    placed.update({(name,): values[name] for name in RUN_OPTIONS})
    return placed


def resolve_config(config_file: Path | None, options: dict[tuple[str, ...], Any], explicit: set[str]) -> GenerateConfig:
    """The --config file, with each option put in where it was given or where the file is silent."""
    data = load_config_file(config_file) if config_file else {}
    for path, value in options.items():
        if path[-1] in explicit or not has_path(data, path):
            deep_set(data, path, value)
    if not has_path(data, ("chunking", "input_dir")):
        fail("[red]Error:[/red] provide --input-dir, --sample or chunking.input_dir in --config")
    return validated(GenerateConfig, data)


def explicit_options(ctx: typer.Context) -> set[str]:
    """Names of the options given on the command line (or by environment), which win over --config.

    Compared by the source's name: typer ships its own copy of click, so its ParameterSource
    enum is not the one `click.core` exports, and an identity comparison with that one made
    every option look explicit (the config file was then ignored entirely).
    """
    explicit = set()
    for name in ctx.params:
        source = ctx.get_parameter_source(name)
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            explicit.add(name)
    return explicit


def parse_counts(values: list[str] | None, option: str) -> dict[str, int] | None:
    """`k=v` items, repeated or comma-separated: `--query-counts multi_hop=3,structural=2`."""
    if not values:
        return None
    counts: dict[str, int] = {}
    for value in values:
        for item in value.replace(" ", ",").split(","):
            if not item:
                continue
            name, separator, number = item.partition("=")
            if not separator or not number.strip().isdigit():
                raise typer.BadParameter(f"expected name=count, got {item!r}", param_hint=option)
            counts[name.strip()] = int(number)
    return counts


def load_config_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        fail(f"[red]Cannot read --config {path}:[/red] {error}")
    if not isinstance(data, dict):
        fail(f"[red]--config {path} must hold a mapping (keys: chunking, generation, lm, ...)[/red]")
    return data


def has_path(data: Any, path: tuple[str, ...]) -> bool:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return False
        data = data[key]
    return True


def deep_set(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


# ---------------------------------------------------------------------------
# phases 2 and 3: run (or preview) and print
# ---------------------------------------------------------------------------


def print_config(config: GenerateConfig) -> None:
    import yaml

    from sdg_program.core.secrets import redact

    print(yaml.safe_dump(redact(config.model_dump(mode="json")), sort_keys=False), end="")


def require_ray() -> None:
    """Fail before anything is loaded when --engine ray is asked for without Ray installed."""
    from rich.markup import escape

    from sdg_program.core.ray_cluster import INSTALL_HINT, ray_installed

    if not ray_installed():
        fail(f"[red]Error:[/red] --engine ray needs Ray, which is not installed: {escape(INSTALL_HINT)}")  # escaped: rich would eat "[ray]"


def run_generate(config: GenerateConfig, *, resume: bool, overwrite: bool) -> None:
    if not config.judge_runs:
        console.print("[yellow]Note:[/yellow] no LLM judge in this run (--judge "
                      + ("auto: the embedded model would grade its own pairs" if config.generation.judge == "auto" else "off")
                      + "); convert keeps pairs on the deterministic checks and the retrieval round trip. Pass --judge-lm MODEL for a judge.")
    elif config.self_judging:
        console.print("[yellow]Note:[/yellow] the judge is the generating model (--judge-lm not set): it grades its own pairs.")
    with reported_errors(PLAIN_USER_ERRORS), dspy_history_off():
        try:
            from sdg_program.runner.generation import generate  # DSPy, torch and the program load only when a run starts

            result = generate(config, resume=resume, overwrite=overwrite, console=console)
        except RunAborted as error:  # reported by reported_errors, after the rows done so far
            if error.stats is not None:
                print_generation_summary(error.stats, Console(), self_judging=config.self_judging and config.judge_runs)
            raise
    print_generation_summary(result.stats, Console(), self_judging=config.self_judging and config.judge_runs)
    Console().print(f"Records: {result.records_path}\nFailures: {result.failures_path}")
    if result.stats.rows_done == 0 and result.stats.rows_resumed == 0:
        raise typer.Exit(EXIT_FAILED)


def run_dry(config: GenerateConfig) -> None:
    """--dry-run: the run's expected calls, prompt tokens and input cost; no model is loaded, nothing is written."""
    with reported_errors(PLAIN_USER_ERRORS):
        from sdg_program.runner.estimate import estimate_run, print_estimate

        estimate = estimate_run(config)
    print_estimate(estimate, Console())


def run_preview(config: GenerateConfig, rows: int) -> None:
    from sdg_program.core.records import FailedRow
    from sdg_program.core.secrets import redact, scrub

    with reported_errors(PLAIN_USER_ERRORS):
        from sdg_program.runner.generation import preview

        results = preview(config, rows)
    # Failure reasons carry exception text, which can echo a key the endpoint was sent.
    shown = [
        result.model_copy(update={"reason": scrub(result.reason), "errors": redact(result.errors)})
        if isinstance(result, FailedRow) else result.model_copy(update={"errors": redact(result.errors)})
        for result in results
    ]
    print_preview(shown, Console())
    # Which prompts wrote these pairs: --program, the shipped default of --lm local, or none.
    from sdg_program.program.compiled import LOCAL_DEFAULT_PROGRAM, resolve_program

    program = resolve_program(config.program, config.lm)
    shown_program = "none (uncompiled)" if program is None else f"{program} (compiled default)" if program == LOCAL_DEFAULT_PROGRAM else str(program)
    Console().print(f"Program: {shown_program}", soft_wrap=True, markup=False, highlight=False)
    if not results or any(isinstance(result, FailedRow) for result in results):
        raise typer.Exit(EXIT_FAILED)


@contextmanager
def dspy_history_off() -> Iterator[None]:
    """DSPy keeps the last 10,000 calls in memory (lm.history, ~33 KB each): a long run would grow by
    hundreds of MB for a record nobody reads here. Settings, not a context: worker threads see them;
    restored afterwards, as the CLI may run in a notebook or a test."""
    import dspy

    was_disabled = dspy.settings.disable_history
    dspy.settings.configure(disable_history=True)
    try:
        yield
    finally:
        dspy.settings.configure(disable_history=was_disabled)
