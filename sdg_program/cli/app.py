"""The ``sdg-program`` command line.

Commands only parse options, build a typed config and call the Python API; all the
work lives in plain functions that notebooks can call too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from pydantic import ValidationError
from rich.console import Console

from sdg_program.cli.logs import setup_logging
from sdg_program.cli.summary import print_chunking_summary
from sdg_program.core.errors import ManifestError
from sdg_program.core.files import write_jsonl_atomic
from sdg_program.ingest.chunking import ChunkingReport
from sdg_program.ingest.config import DEFAULT_FILE_EXTENSIONS, BundleBy, ChunkingConfig, SectionStrategy

app = typer.Typer(
    name="sdg-program",
    help="Turn a folder of documents into retriever training and evaluation data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, soft_wrap=True)

# Options shared by every command that reads documents (chunk, generate, compile).
InputDir = Annotated[Path, typer.Option("--input-dir", "-i", help="Folder of documents to read.", rich_help_panel="Documents")]
FilePattern = Annotated[str, typer.Option(help="Case-sensitive glob on file names (not paths), e.g. 'guide*'.", rich_help_panel="Documents")]
Recursive = Annotated[bool, typer.Option("--recursive/--no-recursive", help="Descend into subfolders.", rich_help_panel="Documents")]
FileExtensions = Annotated[
    Optional[list[str]],
    typer.Option(
        "--file-extensions",
        help=f"Allowed suffixes, case-insensitive; repeat the option for several. Default: {' '.join(DEFAULT_FILE_EXTENSIONS)}. Use '*' to allow every file.",
        rich_help_panel="Documents",
    ),
]
MinTextLength = Annotated[int, typer.Option(min=0, help="Skip documents with fewer characters of text (after mark-up is removed).", rich_help_panel="Documents")]
NumFiles = Annotated[Optional[int], typer.Option(min=1, help="Use only the first N usable documents, in path order. Default: all.", rich_help_panel="Documents")]
MaxFileBytes = Annotated[int, typer.Option(min=1, help="Skip files larger than this many bytes.", rich_help_panel="Documents")]
FollowSymlinks = Annotated[bool, typer.Option("--follow-symlinks/--no-follow-symlinks", help="Follow symbolic links that stay inside the input folder.", rich_help_panel="Documents")]
AllowExternalSymlinks = Annotated[bool, typer.Option(help="Also follow links that point outside the input folder.", rich_help_panel="Documents")]
SentencesPerChunk = Annotated[int, typer.Option(min=1, help="Sentences (or code blocks or tables) per chunk.", rich_help_panel="Chunking")]
MaxChunkChars = Annotated[int, typer.Option(min=100, help="Character cap per chunk; longer units are split.", rich_help_panel="Chunking")]
NumSections = Annotated[int, typer.Option(min=1, help="Sections the chunks of a row are grouped into in prompts.", rich_help_panel="Chunking")]
Strategy = Annotated[
    SectionStrategy,
    typer.Option("--section-strategy", "--bundle-strategy", help="How chunks of a bundle fill sections: sequential, doc_balanced or interleaved.", rich_help_panel="Chunking"),
]
MultiDoc = Annotated[bool, typer.Option("--multi-doc/--no-multi-doc", help="Bundle several documents per row for cross-document questions.", rich_help_panel="Bundles")]
BundleSize = Annotated[int, typer.Option(min=1, help="Documents per automatic bundle.", rich_help_panel="Bundles")]
MaxDocsPerBundle = Annotated[int, typer.Option(min=1, help="Hard cap on documents in any bundle (manifest bundles included).", rich_help_panel="Bundles")]
Manifest = Annotated[Optional[Path], typer.Option("--multi-doc-manifest", help="JSON/YAML file of explicit bundles: \\[\\[a.md, b.md], ...] or {bundles: \\[{docs: \\[...]}]}.", rich_help_panel="Bundles")]
BundleByOption = Annotated[BundleBy, typer.Option(help="Group remaining documents by path order (sequential) or by embedding similarity (semantic).", rich_help_panel="Bundles")]
Embedder = Annotated[Optional[str], typer.Option(help="sentence-transformers model name or path. Default: the embedded all-MiniLM-L6-v2.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log every step, not only warnings.")]


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"sdg-program {version('sdg-program')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")] = None,
) -> None:
    """Turn a folder of documents into retriever training and evaluation data.

    Start with `sdg-program chunk` to see how your documents are split, before any
    model is called.
    """
    from sdg_program.core.secrets import install_scrubbing

    # Endpoint errors can echo the Authorization header back: no log line or traceback shows a key.
    install_scrubbing()


CHUNKING_OPTIONS = (
    "input_dir", "file_pattern", "recursive", "file_extensions", "min_text_length", "num_files", "max_file_bytes",
    "follow_symlinks", "allow_external_symlinks", "sentences_per_chunk", "max_chunk_chars", "num_sections",
    "section_strategy", "multi_doc", "bundle_size", "max_docs_per_bundle", "multi_doc_manifest", "bundle_by",
)


def _normalise_extensions(extensions: list[str] | None) -> list[str] | None:
    if extensions is None:
        return list(DEFAULT_FILE_EXTENSIONS)
    return None if "*" in extensions else extensions


def _chunking_config(**values) -> ChunkingConfig:
    values["file_extensions"] = _normalise_extensions(values.get("file_extensions"))
    try:
        return ChunkingConfig(**values)
    except ValidationError as error:
        console.print(f"[red]Invalid options:[/red] {error}")
        raise typer.Exit(2) from error


@app.command()
def chunk(
    input_dir: InputDir,
    output: Annotated[Path, typer.Option("--output", "-o", help="Seed rows are written here as JSON lines.")] = Path("rows.jsonl"),
    file_pattern: FilePattern = "*",
    recursive: Recursive = True,
    file_extensions: FileExtensions = None,
    min_text_length: MinTextLength = 50,
    num_files: NumFiles = None,
    max_file_bytes: MaxFileBytes = 50_000_000,
    follow_symlinks: FollowSymlinks = True,
    allow_external_symlinks: AllowExternalSymlinks = False,
    sentences_per_chunk: SentencesPerChunk = 5,
    max_chunk_chars: MaxChunkChars = 2000,
    num_sections: NumSections = 1,
    section_strategy: Strategy = "sequential",
    multi_doc: MultiDoc = False,
    bundle_size: BundleSize = 2,
    max_docs_per_bundle: MaxDocsPerBundle = 3,
    multi_doc_manifest: Manifest = None,
    bundle_by: BundleByOption = "sequential",
    embedder: Embedder = None,
    verbose: Verbose = False,
) -> None:
    """Chunk documents into seed rows and print what a generate run would see.

    Use it to check discovery and chunking (files used and skipped with reasons,
    chunk sizes, an estimate of prompt tokens) before spending any tokens.
    """
    setup_logging(console, verbose)
    values = locals()
    config = _chunking_config(**{name: values[name] for name in CHUNKING_OPTIONS}, embedder=embedder)
    from sdg_program.ingest.chunking import iter_seed_rows

    report = ChunkingReport()
    try:
        with console.status("Chunking documents…"):
            written = write_jsonl_atomic(output, (row.model_dump(mode="json") for row in iter_seed_rows(config, report)))
    except (FileNotFoundError, ManifestError) as error:
        console.print(f"[red]Error:[/red] {error}")
        raise typer.Exit(2) from error
    print_chunking_summary(report, Console())
    if written == 0:
        console.print(f"[red]No usable documents under {input_dir}[/red] (see the skip reasons above).")
        raise typer.Exit(1)
    Console().print(f"Wrote {written} seed rows to {output}")




GENERATION_OPTIONS = (
    "num_pairs", "min_hops", "max_hops", "min_complexity", "similarity_threshold", "max_artifacts_per_type",
    "min_answer_support", "max_retries", "window_chars", "strategy", "segment_attempts",
)
RUN_OPTIONS = (
    "output_dir", "lm", "judge_lm", "api_base", "judge_api_base", "program", "concurrency", "num_records",
    "max_tokens", "temperature", "seed", "timeout", "num_retries", "retry_base_delay", "max_failure_rate", "structured_output",
)


def _parse_counts(values: list[str] | None, option: str) -> dict[str, int] | None:
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


def _deep_set(target: dict, path: list[str], value) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def _load_config_file(path: Path) -> dict:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        console.print(f"[red]Cannot read --config {path}:[/red] {error}")
        raise typer.Exit(2) from error
    if not isinstance(data, dict):
        console.print(f"[red]--config {path} must hold a mapping (keys: chunking, generation, lm, ...)[/red]")
        raise typer.Exit(2)
    return data


@app.command()
def generate(
    ctx: typer.Context,
    input_dir: Annotated[Optional[Path], typer.Option("--input-dir", "-i", help="Folder of documents to read (or set chunking.input_dir in --config).", rich_help_panel="Documents")] = None,
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o", help="records.jsonl, failures.jsonl and run.json are written here.")] = Path("generated"),
    config_file: Annotated[Optional[Path], typer.Option("--config", help="YAML file with any of: chunking, generation, lm, judge_lm, ... Command-line options win.")] = None,
    print_resolved_config: Annotated[bool, typer.Option(help="Print the resolved config (secrets redacted) and exit.")] = False,
    preview_rows: Annotated[Optional[int], typer.Option("--preview", min=1, help="Run N rows, print them as a table, write nothing; exit 1 if any fails.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --output-dir: skip rows already done, retry failed ones.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Delete an earlier run in --output-dir and start again.")] = False,
    num_records: Annotated[Optional[int], typer.Option(min=1, help="Process only the first N seed rows. Default: all.", rich_help_panel="Generation")] = None,
    num_pairs: Annotated[int, typer.Option(min=1, max=20, help="QA pairs requested per row (per window for long rows).", rich_help_panel="Generation")] = 7,
    query_counts: Annotated[Optional[list[str]], typer.Option(help="Pairs per query type, e.g. multi_hop=3,structural=2,contextual=2. Must sum to --num-pairs. Default: 3:2:2 scaled.", rich_help_panel="Generation")] = None,
    reasoning_counts: Annotated[Optional[list[str]], typer.Option(help="Pairs per reasoning type (factual, relational, inferential, temporal, procedural, causal, visual). Must sum to --num-pairs. Default: spread over the six text types; no visual.", rich_help_panel="Generation")] = None,
    min_hops: Annotated[int, typer.Option(min=1, help="Fewest hops of a multi-hop question (at least 2 are always required).", rich_help_panel="Generation")] = 1,
    max_hops: Annotated[int, typer.Option(min=1, max=5, help="Most hops of a multi-hop question.", rich_help_panel="Generation")] = 3,
    min_complexity: Annotated[int, typer.Option(min=1, max=5, help="Lowest question complexity kept (1-5).", rich_help_panel="Generation")] = 2,
    similarity_threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="Questions with embedding cosine above this are duplicates.", rich_help_panel="Generation")] = 0.9,
    max_artifacts_per_type: Annotated[int, typer.Option(min=1, max=5, help="Artifacts extracted per category.", rich_help_panel="Generation")] = 2,
    min_answer_support: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of an answer's content words that must appear in its cited segments.", rich_help_panel="Generation")] = 0.5,
    max_retries: Annotated[int, typer.Option(min=0, max=10, help="Re-asks per call after malformed output.", rich_help_panel="Generation")] = 2,
    window_chars: Annotated[Optional[int], typer.Option(min=500, help="Segment characters per generation window. Default: fitted to the model's context.", rich_help_panel="Generation")] = None,
    strategy: Annotated[Literal["auto", "window", "segment"], typer.Option(
        help="window: one call per window writes all pairs, single- and multi-hop (needs a capable model). "
        "segment: one short call per segment (up to --num-pairs per window) writes one single-hop pair; made for the embedded 135M model. "
        "auto: segment for the embedded model, window for any other.",
        rich_help_panel="Generation")] = "auto",
    segment_attempts: Annotated[int, typer.Option(min=1, max=10, help="segment strategy: candidates per segment until one passes validation.", rich_help_panel="Generation")] = 4,
    lm: Annotated[str, typer.Option(help="'local' (embedded SmolLM2-135M), 'local:/path/model.gguf', or a LiteLLM model string such as openai/gpt-4o-mini.", rich_help_panel="Models")] = "local",
    judge_lm: Annotated[Optional[str], typer.Option(help="Model for the judge. Default: --lm (the model then grades itself).", rich_help_panel="Models")] = None,
    api_base: Annotated[Optional[str], typer.Option(help="Base URL of an OpenAI-compatible endpoint for --lm. Keys come from the environment.", rich_help_panel="Models")] = None,
    judge_api_base: Annotated[Optional[str], typer.Option(help="Base URL for --judge-lm. Default: --api-base.", rich_help_panel="Models")] = None,
    embedder: Embedder = None,
    program: Annotated[Optional[Path], typer.Option(help="Compiled program JSON from `sdg-program compile`.", rich_help_panel="Models")] = None,
    concurrency: Annotated[Optional[int], typer.Option(min=1, max=512, help="Rows in flight. Default: 8 for endpoints, 1 for the local model.", rich_help_panel="Models")] = None,
    max_tokens: Annotated[int, typer.Option(min=64, help="Most tokens per LLM reply.", rich_help_panel="Models")] = 2048,
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0, help="Sampling temperature.", rich_help_panel="Models")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed for reproducible runs where the backend allows (the local model is deterministic for a seed).", rich_help_panel="Models")] = 0,
    timeout: Annotated[float, typer.Option(min=1.0, help="Seconds before an endpoint request times out.", rich_help_panel="Models")] = 180.0,
    num_retries: Annotated[int, typer.Option(min=0, help="Retries of a call after a timeout, 429 or 5xx, waiting the server's Retry-After or an exponential backoff.", rich_help_panel="Models")] = 5,
    retry_base_delay: Annotated[float, typer.Option(min=0.01, max=60.0, help="First backoff in seconds when the endpoint sends no Retry-After; doubles per retry (capped at 60 s, plus up to 25% jitter).", rich_help_panel="Models")] = 1.0,
    structured_output: Annotated[Literal["auto", "json_schema", "json_object_schema", "json_object"], typer.Option(help="How --lm/--judge-lm endpoints are asked for JSON: auto (what DSPy knows of the model), json_schema (OpenAI, vLLM, NIM, Ollama, llama-server), json_object_schema (llama-cpp-python's server), json_object (JSON mode, no schema).", rich_help_panel="Models")] = "auto",
    max_failure_rate: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Abort (resumably) when more than this share of rows fail, after 10 rows.", rich_help_panel="Models")] = None,
    file_pattern: FilePattern = "*",
    recursive: Recursive = True,
    file_extensions: FileExtensions = None,
    min_text_length: MinTextLength = 50,
    num_files: NumFiles = None,
    max_file_bytes: MaxFileBytes = 50_000_000,
    follow_symlinks: FollowSymlinks = True,
    allow_external_symlinks: AllowExternalSymlinks = False,
    sentences_per_chunk: SentencesPerChunk = 5,
    max_chunk_chars: MaxChunkChars = 2000,
    num_sections: NumSections = 1,
    section_strategy: Strategy = "sequential",
    multi_doc: MultiDoc = False,
    bundle_size: BundleSize = 2,
    max_docs_per_bundle: MaxDocsPerBundle = 3,
    multi_doc_manifest: Manifest = None,
    bundle_by: BundleByOption = "sequential",
    verbose: Verbose = False,
) -> None:
    """Generate QA pairs with evidence segments for every document (or bundle).

    Each finished row is appended to OUTPUT_DIR/records.jsonl; rows that fail go to
    failures.jsonl with the reason. Interrupted runs continue with --resume.
    """
    setup_logging(console, verbose)
    values = locals()
    explicit = _explicit_options(ctx)
    data: dict = _load_config_file(config_file) if config_file else {}

    def put(path: list[str], name: str, value) -> None:
        if name in explicit or not _has_path(data, path):
            _deep_set(data, path, value)

    for name in CHUNKING_OPTIONS:
        if name == "input_dir" and input_dir is None:
            continue
        value = _normalise_extensions(values[name]) if name == "file_extensions" else values[name]
        if name == "file_extensions" and "file_extensions" not in explicit and _has_path(data, ["chunking", name]):
            continue
        put(["chunking", name], name, value)
    for name in GENERATION_OPTIONS:
        put(["generation", name], name, values[name])
    for name, option in (("query_counts", "--query-counts"), ("reasoning_counts", "--reasoning-counts")):
        if values[name]:
            _deep_set(data, ["generation", name], _parse_counts(values[name], option))
    for name in RUN_OPTIONS:
        put([name], name, values[name])
    if embedder is not None or not _has_path(data, ["embedder"]):
        data["embedder"] = embedder
    if "chunking" not in data or "input_dir" not in data["chunking"]:
        console.print("[red]Error:[/red] provide --input-dir or chunking.input_dir in --config")
        raise typer.Exit(2)

    from sdg_program.runner.config import GenerateConfig

    try:
        config = GenerateConfig.model_validate(data)
    except ValidationError as error:
        console.print(f"[red]Invalid options:[/red] {error}")
        raise typer.Exit(2) from error

    if print_resolved_config:
        import yaml

        from sdg_program.core.secrets import redact

        print(yaml.safe_dump(redact(config.model_dump(mode="json")), sort_keys=False), end="")
        return
    if preview_rows is not None:
        _run_preview(config, preview_rows)
        return
    _run_generate(config, resume=resume, overwrite=overwrite)


def _explicit_options(ctx: typer.Context) -> set[str]:
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


def _has_path(data: dict, path: list[str]) -> bool:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return False
        data = data[key]
    return True


def _run_generate(config, *, resume: bool, overwrite: bool) -> None:
    import dspy

    from sdg_program.cli.summary import print_generation_summary
    from sdg_program.core.errors import OutputExists, ResumeMismatch, RunAborted
    from sdg_program.runner.generation import generate as run_generation

    if config.self_judging:
        console.print("[yellow]Note:[/yellow] the judge is the generating model (--judge-lm not set): it grades its own pairs.")
    # DSPy keeps the last 10,000 calls in memory (lm.history, ~33 KB each): a long run would grow by
    # hundreds of MB for a record nobody reads here. Settings, not a context: worker threads see them.
    history_was_disabled = dspy.settings.disable_history
    dspy.settings.configure(disable_history=True)
    try:
        result = run_generation(config, resume=resume, overwrite=overwrite, console=console)
    except (OutputExists, ResumeMismatch, ValueError, FileNotFoundError, ManifestError) as error:
        from sdg_program.core.secrets import scrub

        console.print(f"[red]Error:[/red] {scrub(str(error))}")
        raise typer.Exit(2) from error
    except RunAborted as error:
        if error.stats is not None:
            print_generation_summary(error.stats, Console(), self_judging=config.self_judging)
        console.print(f"[red]Aborted:[/red] {error}")
        raise typer.Exit(3) from error
    finally:
        dspy.settings.configure(disable_history=history_was_disabled)  # the CLI may run in a notebook or a test
    print_generation_summary(result.stats, Console(), self_judging=config.self_judging)
    Console().print(f"Records: {result.records_path}\nFailures: {result.failures_path}")
    if result.stats.rows_done == 0 and result.stats.rows_resumed == 0:
        raise typer.Exit(1)


def _run_preview(config, rows: int) -> None:
    from sdg_program.cli.summary import print_preview
    from sdg_program.core.records import FailedRow
    from sdg_program.core.secrets import redact, scrub
    from sdg_program.runner.generation import preview

    results = preview(config, rows)
    # Failure reasons carry exception text, which can echo a key the endpoint was sent.
    shown = [
        result.model_copy(update={"reason": scrub(result.reason), "errors": redact(result.errors)})
        if isinstance(result, FailedRow) else result.model_copy(update={"errors": redact(result.errors)})
        for result in results
    ]
    print_preview(shown, Console())
    if not results or any(isinstance(result, FailedRow) for result in results):
        raise typer.Exit(1)


def _register_commands() -> None:
    """Commands that live in their own modules (one job each)."""
    from sdg_program.cli.compile import compile_command
    from sdg_program.cli.convert import convert_command
    from sdg_program.cli.hub_eval import eval_command, push_command

    app.command("compile")(compile_command)
    app.command("convert")(convert_command)
    app.command("push")(push_command)
    app.command("eval")(eval_command)


_register_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
