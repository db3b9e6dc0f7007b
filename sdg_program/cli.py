"""The ``sdg-program`` command line.

Commands only parse options, build a typed config and call the Python API; all the
work lives in plain functions that notebooks can call too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler

from sdg_program.bundling import ManifestError
from sdg_program.chunking import ChunkingReport
from sdg_program.config import DEFAULT_FILE_EXTENSIONS, BundleBy, ChunkingConfig, SectionStrategy
from sdg_program.output import write_jsonl_atomic
from sdg_program.summary import print_chunking_summary

app = typer.Typer(
    name="sdg-program",
    help="Turn a folder of documents into retriever training and evaluation data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

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


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
        force=True,
    )


def _chunking_config(**values) -> ChunkingConfig:
    extensions = values.get("file_extensions")
    if extensions is None:
        values["file_extensions"] = list(DEFAULT_FILE_EXTENSIONS)
    elif "*" in extensions:
        values["file_extensions"] = None
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
    _setup_logging(verbose)
    config = _chunking_config(
        input_dir=input_dir,
        file_pattern=file_pattern,
        recursive=recursive,
        file_extensions=file_extensions,
        min_text_length=min_text_length,
        num_files=num_files,
        max_file_bytes=max_file_bytes,
        follow_symlinks=follow_symlinks,
        allow_external_symlinks=allow_external_symlinks,
        sentences_per_chunk=sentences_per_chunk,
        max_chunk_chars=max_chunk_chars,
        num_sections=num_sections,
        section_strategy=section_strategy,
        multi_doc=multi_doc,
        bundle_size=bundle_size,
        max_docs_per_bundle=max_docs_per_bundle,
        multi_doc_manifest=multi_doc_manifest,
        bundle_by=bundle_by,
        embedder=embedder,
    )
    from sdg_program.chunking import iter_seed_rows

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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
