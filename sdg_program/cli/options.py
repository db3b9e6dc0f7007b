"""Options more than one command takes, and where every option's default comes from.

A default lives in the pydantic config the option fills (``ChunkingConfig``, ``GenerateConfig``,
...); commands read it with :func:`default_of`, so the CLI, YAML config files and the Python API
cannot drift apart. ``chunk`` and ``generate`` share the seventeen document, chunking and bundle
options: :func:`with_chunking_options` adds them to a command.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from sdg_program.ingest.config import DEFAULT_FILE_EXTENSIONS, BundleBy, ChunkingConfig, SectionStrategy

Result = TypeVar("Result")

DOCUMENTS = "Documents"
CHUNKING = "Chunking"
BUNDLES = "Bundles"

Embedder = Annotated[Optional[str], typer.Option(help="sentence-transformers model name or path. Default: the embedded all-MiniLM-L6-v2.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log every step, not only warnings.")]
Sample = Annotated[bool, typer.Option(
    "--sample", help="Read the sample documents that ship with sdg-program (four pages of the DSPy docs) instead of --input-dir: a first try needs no files.",
    rich_help_panel=DOCUMENTS,
)]

# The options chunk and generate share, by ChunkingConfig field, in --help order.
CHUNKING_OPTIONS: dict[str, Any] = {
    "file_pattern": Annotated[str, typer.Option(help="Case-sensitive glob on file names (not paths), e.g. 'guide*'.", rich_help_panel=DOCUMENTS)],
    "recursive": Annotated[bool, typer.Option("--recursive/--no-recursive", help="Descend into subfolders.", rich_help_panel=DOCUMENTS)],
    "file_extensions": Annotated[
        Optional[list[str]],
        typer.Option(
            "--file-extensions",
            help=f"Allowed suffixes, case-insensitive; repeat the option for several. Default: {' '.join(DEFAULT_FILE_EXTENSIONS)}. Use '*' to allow every file.",
            rich_help_panel=DOCUMENTS,
        ),
    ],
    "min_text_length": Annotated[int, typer.Option(min=0, help="Skip documents with fewer characters of text (after mark-up is removed).", rich_help_panel=DOCUMENTS)],
    "num_files": Annotated[Optional[int], typer.Option(min=1, help="Use only the first N usable documents, in path order. Default: all.", rich_help_panel=DOCUMENTS)],
    "max_file_bytes": Annotated[int, typer.Option(min=1, help="Skip files larger than this many bytes.", rich_help_panel=DOCUMENTS)],
    "follow_symlinks": Annotated[bool, typer.Option("--follow-symlinks/--no-follow-symlinks", help="Follow symbolic links that stay inside the input folder.", rich_help_panel=DOCUMENTS)],
    "allow_external_symlinks": Annotated[bool, typer.Option(help="Also follow links that point outside the input folder.", rich_help_panel=DOCUMENTS)],
    "sentences_per_chunk": Annotated[int, typer.Option(min=1, help="Sentences (or code blocks or tables) per chunk.", rich_help_panel=CHUNKING)],
    "max_chunk_chars": Annotated[int, typer.Option(min=100, help="Character cap per chunk; longer units are split.", rich_help_panel=CHUNKING)],
    "num_sections": Annotated[int, typer.Option(min=1, help="Sections the chunks of a row are grouped into in prompts.", rich_help_panel=CHUNKING)],
    "section_strategy": Annotated[
        SectionStrategy,
        typer.Option("--section-strategy", "--bundle-strategy", help="How chunks of a bundle fill sections: sequential, doc_balanced or interleaved.", rich_help_panel=CHUNKING),
    ],
    "multi_doc": Annotated[bool, typer.Option("--multi-doc/--no-multi-doc", help="Bundle several documents per row for cross-document questions.", rich_help_panel=BUNDLES)],
    "bundle_size": Annotated[int, typer.Option(min=1, help="Documents per automatic bundle.", rich_help_panel=BUNDLES)],
    "max_docs_per_bundle": Annotated[int, typer.Option(min=1, help="Hard cap on documents in any bundle (manifest bundles included).", rich_help_panel=BUNDLES)],
    "multi_doc_manifest": Annotated[
        Optional[Path],
        typer.Option("--multi-doc-manifest", help="JSON/YAML file of explicit bundles: \\[\\[a.md, b.md], ...] or {bundles: \\[{docs: \\[...]}]}.", rich_help_panel=BUNDLES),
    ],
    "bundle_by": Annotated[BundleBy, typer.Option(help="Group remaining documents by path order (sequential) or by embedding similarity (semantic).", rich_help_panel=BUNDLES)],
}

ChunkingOptions = dict[str, Any]
"""The values of :data:`CHUNKING_OPTIONS` as ChunkingConfig fields, handed to a command by :func:`with_chunking_options`."""


def input_dir_or_sample(input_dir: Path | None, sample: bool) -> Path | None:
    """The folder to read: ``--input-dir`` (the user's path, relative to their current folder) or, with
    ``--sample``, the sample documents inside the installed package, wherever the command runs."""
    if not sample:
        return input_dir
    if input_dir is not None:
        raise typer.BadParameter("give --input-dir or --sample, not both", param_hint="--sample")
    from sdg_program.core.resources import sample_docs_dir

    return sample_docs_dir()


def default_of(model: type[BaseModel], field: str) -> Any:
    """The default of ``model``'s ``field`` (its factory called), for an option that fills that field."""
    default = model.model_fields[field].get_default(call_default_factory=True)
    if default is PydanticUndefined:
        raise ValueError(f"{model.__name__}.{field} is required: an option for it has no default to read")
    return default


def with_chunking_options(command: Callable[..., Result]) -> Callable[..., Result]:
    """Give ``command`` the options of :data:`CHUNKING_OPTIONS` in place of its ``chunking`` parameter.

    Typer reads a command's options from its signature, so they are spliced into the signature
    it sees (defaults from ChunkingConfig) and handed to ``command`` as one dict, ``chunking``.
    ``--file-extensions`` defaults to none given, so --help can name the default list; ``*`` allows
    every file (None in the config).
    """
    signature = inspect.signature(command, eval_str=True)
    parameters: list[inspect.Parameter] = []
    for parameter in signature.parameters.values():
        if parameter.name != "chunking":
            parameters.append(parameter)
            continue
        for name, option in CHUNKING_OPTIONS.items():
            default = None if name == "file_extensions" else default_of(ChunkingConfig, name)
            parameters.append(inspect.Parameter(name, parameter.kind, default=default, annotation=option))

    @functools.wraps(command)
    def with_options(**values: Any) -> Result:
        chunking = {name: values.pop(name) for name in CHUNKING_OPTIONS}
        chunking["file_extensions"] = _allowed_extensions(chunking["file_extensions"])
        return command(**values, chunking=chunking)

    with_options.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return with_options


def _allowed_extensions(given: list[str] | None) -> list[str] | None:
    if given is None:
        return default_of(ChunkingConfig, "file_extensions")
    return None if "*" in given else given
