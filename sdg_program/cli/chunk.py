"""``sdg-program chunk``: the options become a ``ChunkingConfig``, ``ingest.chunk`` writes the rows, the summary is printed.

The cheap first step: it shows which files are used or skipped, and how they are chunked,
before any model is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sdg_program.cli.errors import EXIT_FAILED, fail, reported_errors, validated
from sdg_program.cli.logs import console, setup_logging
from sdg_program.cli.options import ChunkingOptions, Embedder, Verbose, default_of, with_chunking_options
from sdg_program.cli.summary import print_chunking_summary
from sdg_program.ingest import ChunkingConfig, chunk

InputDir = Annotated[Path, typer.Option("--input-dir", "-i", help="Folder of documents to read.", rich_help_panel="Documents")]
Output = Annotated[Path, typer.Option("--output", "-o", help="Seed rows are written here as JSON lines.")]


@with_chunking_options
def chunk_command(
    input_dir: InputDir,
    output: Output = Path("rows.jsonl"),
    *,
    chunking: ChunkingOptions,
    embedder: Embedder = default_of(ChunkingConfig, "embedder"),
    verbose: Verbose = False,
) -> None:
    """Chunk documents into seed rows and print what a generate run would see.

    Use it to check discovery and chunking (files used and skipped with reasons,
    chunk sizes, an estimate of prompt tokens) before spending any tokens.
    """
    setup_logging(verbose)
    config = validated(ChunkingConfig, {"input_dir": input_dir, **chunking, "embedder": embedder})
    with reported_errors(), console.status("Chunking documents…"):
        report = chunk(config, output)
    print_chunking_summary(report, Console())
    if report.rows == 0:
        fail(f"[red]No usable documents under {input_dir}[/red] (see the skip reasons above).", EXIT_FAILED)
    Console().print(f"Wrote {report.rows} seed rows to {output}")
