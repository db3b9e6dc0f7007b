"""``sdg-program chunk``: the options become a ``ChunkingConfig``, ``ingest.chunk`` writes the rows, the summary is printed.

The cheap first step: it shows which files are used or skipped, and how they are chunked,
before any model is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from sdg_program.cli.errors import EXIT_FAILED, fail, reported_errors, validated
from sdg_program.cli.logs import console, setup_logging
from sdg_program.cli.options import ChunkingOptions, Embedder, Sample, Verbose, default_of, input_dir_or_sample, with_chunking_options
from sdg_program.cli.summary import print_chunking_summary
from sdg_program.ingest import ChunkingConfig, chunk

InputDir = Annotated[Optional[Path], typer.Option("--input-dir", "-i", help="Folder of documents to read (or --sample).", rich_help_panel="Documents")]
Output = Annotated[Path, typer.Option("--output", "-o", help="Seed rows are written here as JSON lines.")]
ResolveIncludes = Annotated[
    bool,
    typer.Option(
        "--resolve-includes/--no-resolve-includes",
        help="Replace Markdown snippet includes (--8<-- \"file\", {* file *}) by the named file's text when it lies inside --input-dir; otherwise they are dropped.",
        rich_help_panel="Chunking",
    ),
]


@with_chunking_options
def chunk_command(
    input_dir: InputDir = None,
    output: Output = Path("rows.jsonl"),
    sample: Sample = False,
    *,
    chunking: ChunkingOptions,
    resolve_includes: ResolveIncludes = default_of(ChunkingConfig, "resolve_includes"),
    embedder: Embedder = default_of(ChunkingConfig, "embedder"),
    verbose: Verbose = False,
) -> None:
    """Chunk documents into seed rows and print what a generate run would see.

    Use it to check discovery and chunking (files used and skipped with reasons,
    chunk sizes, an estimate of prompt tokens) before spending any tokens.
    """
    setup_logging(verbose)
    input_dir = input_dir_or_sample(input_dir, sample)
    if input_dir is None:
        fail("[red]Error:[/red] provide --input-dir (or --sample for the shipped sample documents)")
    config = validated(ChunkingConfig, {"input_dir": input_dir, **chunking, "resolve_includes": resolve_includes, "embedder": embedder})
    with reported_errors(), console.status("Chunking documents…"):
        report = chunk(config, output)
    print_chunking_summary(report, Console())
    if report.rows == 0:
        fail(f"[red]No usable documents under {input_dir}[/red] (see the skip reasons above).", EXIT_FAILED)
    Console().print(f"Wrote {report.rows} seed rows to {output}")
