"""Documents in, seed rows out: discovery, chunking, sections and bundles.

This is stage 1 of the pipeline. It streams: files are read one at a time (one
bundle at a time in multi-document mode), so memory stays flat however large the
corpus is. Every file that is not used is reported with its reason, a document is
never used twice, and chunk IDs depend only on file contents and settings, never on
the order the file system lists things.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from sdg_program.core.errors import MissingInputError
from sdg_program.core.records import Chunk, SeedRow
from sdg_program.ingest import documents
from sdg_program.ingest.bundling import check_manifest, group_semantic, load_manifest
from sdg_program.ingest.config import ChunkingConfig
from sdg_program.ingest.documents import Document, Skip, SourceFile
from sdg_program.ingest.includes import IncludeResolver
from sdg_program.ingest.markup import Unit, markup_for_extension, parse_units
from sdg_program.ingest.sections import group_sections, render_sections

logger = logging.getLogger(__name__)

DOCUMENT_BOUNDARY = "\n\n=== Document Boundary ===\n\n"


# ---------------------------------------------------------------------------
# Units -> chunks
# ---------------------------------------------------------------------------


def _split_long_unit(unit: Unit, max_chars: int) -> list[Unit]:
    """Cut a unit longer than ``max_chars`` into pieces: by line for code and tables, by word otherwise."""
    if len(unit.text) <= max_chars:
        return [unit]
    separator = "\n" if unit.kind in ("code", "table") else " "
    pieces: list[Unit] = []
    text = unit.text
    offset = 0
    while offset < len(text):
        end = min(len(text), offset + max_chars)
        if end < len(text):
            cut = text.rfind(separator, offset + 1, end)
            if cut == -1 and separator == "\n":
                cut = text.rfind(" ", offset + 1, end)
            if cut > offset:
                end = cut
        piece = text[offset:end]
        stripped = piece.strip()
        if stripped:
            lead = len(piece) - len(piece.lstrip())
            start = unit.start + offset + lead if unit.end - unit.start == len(text) else unit.start
            stop = start + len(stripped) if unit.end - unit.start == len(text) else unit.end
            pieces.append(Unit(kind=unit.kind, text=stripped, start=start, end=stop, level=unit.level))
        offset = end
        while offset < len(text) and text[offset] in " \n":
            offset += 1
    return pieces


def _join_units(units: list[Unit], source: str) -> str:
    """Join units: a space between sentences of one paragraph, a newline elsewhere."""
    parts: list[str] = []
    previous: Unit | None = None
    for unit in units:
        if previous is not None:
            gap = source[previous.end : unit.start]
            same_paragraph = previous.kind == "sentence" and unit.kind == "sentence" and "\n\n" not in gap.replace("\r", "")
            parts.append(" " if same_paragraph else "\n")
        parts.append(unit.text)
        previous = unit
    return "".join(parts)


def chunk_text(
    text: str,
    doc_id: str,
    *,
    markup: str = "markdown",
    sentences_per_chunk: int = 5,
    max_chunk_chars: int = 2000,
    first_chunk_id: int = 1,
    includes: IncludeResolver | None = None,
) -> list[Chunk]:
    """Chunk one document's text.

    A chunk holds up to ``sentences_per_chunk`` units (sentences, code blocks, tables)
    and at most ``max_chunk_chars`` characters. A heading always starts a new chunk and
    stays attached to the content it titles; a trailing heading with no content joins
    the previous chunk. ``includes`` resolves Markdown snippet includes (dropped without it).
    """
    units: list[Unit] = []
    for unit in parse_units(text, markup, includes=includes):  # type: ignore[arg-type]
        units.extend(_split_long_unit(unit, max_chunk_chars))

    groups: list[tuple[list[Unit], list[str]]] = []
    current: list[Unit] = []
    current_chars = 0
    current_content = 0
    heading_stack: list[tuple[int, str]] = []
    current_path: list[str] = []

    def close() -> None:
        nonlocal current, current_chars, current_content
        if current:
            if current_content == 0 and groups:
                groups[-1][0].extend(current)
            else:
                groups.append((current, current_path))
        current, current_chars, current_content = [], 0, 0

    queue = deque(units)
    while queue:
        unit = queue.popleft()
        if unit.kind == "heading":
            if current_content:
                close()
            while heading_stack and heading_stack[-1][0] >= unit.level:
                heading_stack.pop()
            heading_stack.append((unit.level, unit.text))
            current.append(unit)
            current_chars += len(unit.text) + 1
            continue
        if current_content and (
            current_content >= sentences_per_chunk or current_chars + len(unit.text) + 1 > max_chunk_chars
        ):
            close()
        if current_content == 0:
            current_path = [title for _, title in heading_stack]
            budget = max_chunk_chars - current_chars - 1
            if len(unit.text) > budget:
                # Headings already use part of the cap: cut the unit to fit beside them.
                head, *rest = _split_long_unit(unit, max(budget, 1))
                rest_text_units = [piece for part in rest for piece in _split_long_unit(part, max_chunk_chars)]
                queue.extendleft(reversed(rest_text_units))
                unit = head
        current.append(unit)
        current_chars += len(unit.text) + 1
        current_content += 1
    close()

    chunks: list[Chunk] = []
    for index, (group, path) in enumerate(groups):
        chunk_text_value = _join_units(group, text)
        chunks.append(
            Chunk(
                chunk_id=first_chunk_id + index,
                doc_id=doc_id,
                doc_chunk_index=index + 1,
                text=chunk_text_value,
                sentence_count=sum(1 for unit in group if unit.kind != "heading"),
                word_count=len(chunk_text_value.split()),
                char_start=group[0].start,
                char_end=group[-1].end,
                content_hash=hashlib.sha256(chunk_text_value.encode("utf-8")).hexdigest(),
                heading_path=path,
            )
        )
    return chunks


# ---------------------------------------------------------------------------
# Documents -> seed rows
# ---------------------------------------------------------------------------


@dataclass
class ChunkedDocument:
    """A readable document with its chunks (IDs starting at 1)."""

    doc_id: str
    text: str
    chunks: list[Chunk]


@dataclass
class ChunkingReport:
    """What happened to every discovered file; printed by ``sdg-program chunk``."""

    files_seen: int = 0
    files_used: int = 0
    rows: int = 0
    chunks: int = 0
    characters: int = 0
    skipped: list[Skip] = field(default_factory=list)
    sentences_per_chunk: Counter = field(default_factory=Counter)
    chars_per_chunk_max: int = 0
    row_prompt_chars: int = 0

    def skip(self, skip: Skip) -> None:
        logger.warning("skipped %s: %s%s", skip.path, skip.reason, f" ({skip.detail})" if skip.detail else "")
        self.skipped.append(skip)

    def skipped_by_reason(self) -> dict[str, int]:
        return dict(sorted(Counter(skip.reason for skip in self.skipped).items()))

    def add_row(self, row: SeedRow) -> None:
        self.rows += 1
        self.chunks += len(row.chunks)
        for chunk in row.chunks:
            self.sentences_per_chunk[chunk.sentence_count] += 1
            self.chars_per_chunk_max = max(self.chars_per_chunk_max, len(chunk.text))
        self.row_prompt_chars += sum(len(section) for section in row.sections_structured)

    def estimated_prompt_tokens(self, calls_per_row: int = 3, overhead_tokens_per_call: int = 800) -> int:
        """Rough prompt tokens for ``generate``: each of the 3 LLM calls sees the row's segments.

        Uses 4 characters per token, the usual rule of thumb for English text.
        """
        return calls_per_row * (self.row_prompt_chars // 4 + self.rows * overhead_tokens_per_call)


def _read_and_chunk(source: SourceFile, config: ChunkingConfig, report: ChunkingReport, seen_hashes: set[str]) -> ChunkedDocument | None:
    """Read one file and chunk it; on any problem record a skip and return None."""
    result = documents.read_document(source, max_file_bytes=config.max_file_bytes)
    if isinstance(result, Skip):
        report.skip(result)
        return None
    document: Document = result
    digest = hashlib.sha256(document.text.encode("utf-8")).hexdigest()
    if digest in seen_hashes:
        report.skip(Skip(source.doc_id, documents.SKIP_DUPLICATE, "same content as an earlier file"))
        return None
    markup = markup_for_extension(Path(source.doc_id).suffix.lower())
    try:
        chunks = chunk_text(
            document.text,
            source.doc_id,
            markup=markup,
            sentences_per_chunk=config.sentences_per_chunk,
            max_chunk_chars=config.max_chunk_chars,
            includes=IncludeResolver(config.input_dir, source.path, max_bytes=config.max_file_bytes or 50_000_000) if config.resolve_includes else None,
        )
    except Exception as error:  # a parser bug must not end the run; say which file
        logger.exception("chunking failed for %s", source.doc_id)
        report.skip(Skip(source.doc_id, "chunking_error", repr(error)))
        return None
    content_chars = sum(len(chunk.text) for chunk in chunks)
    if not chunks:
        report.skip(Skip(source.doc_id, documents.SKIP_NO_CHUNKS, "no text left after removing mark-up"))
        return None
    if content_chars < config.min_text_length:
        report.skip(Skip(source.doc_id, documents.SKIP_TOO_SHORT, f"{content_chars} characters of text < --min-text-length {config.min_text_length}"))
        return None
    seen_hashes.add(digest)
    report.files_used += 1
    report.characters += len(document.text)
    return ChunkedDocument(doc_id=source.doc_id, text=document.text, chunks=chunks)


def make_seed_row(members: list[ChunkedDocument], config: ChunkingConfig) -> SeedRow:
    """Build a seed row from one document or a bundle; chunk IDs run across members in order."""
    chunks: list[Chunk] = []
    for member in members:
        offset = len(chunks)
        chunks.extend(chunk.model_copy(update={"chunk_id": offset + chunk.doc_chunk_index}) for chunk in member.chunks)
    names = [member.doc_id for member in members]
    is_multi_doc = len(members) > 1
    sections = group_sections(chunks, config.num_sections, config.section_strategy)
    if is_multi_doc:
        bundle_id = hashlib.md5("||".join(sorted(names)).encode("utf-8")).hexdigest()
        source_id = bundle_id[:16]
        text = DOCUMENT_BOUNDARY.join(member.text for member in members)
    else:
        bundle_id = ""
        source_id = names[0]
        text = members[0].text
    return SeedRow(
        file_name=names,
        source_id=source_id,
        text=text,
        chunks=chunks,
        sections_structured=render_sections(sections, show_doc=is_multi_doc),
        bundle_id=bundle_id,
        bundle_members=names,
        is_multi_doc=is_multi_doc,
    )


def discover_sources(config: ChunkingConfig, report: ChunkingReport, exclude_dirs: tuple[Path, ...] = ()) -> list[SourceFile]:
    """The files a run would read, in path order (nothing is read); what discovery skips goes to ``report``."""
    if not config.input_dir.is_dir():
        raise MissingInputError(f"input folder not found: {config.input_dir}")
    sources, skipped = documents.discover_files(
        config.input_dir,
        file_pattern=config.file_pattern,
        recursive=config.recursive,
        file_extensions=config.file_extensions,
        follow_symlinks=config.follow_symlinks,
        allow_external_symlinks=config.allow_external_symlinks,
        exclude_dirs=exclude_dirs,
    )
    report.files_seen = len(sources) + len(skipped)
    for skip in skipped:
        report.skip(skip)
    return sources


def _usable_documents(sources: list[SourceFile], config: ChunkingConfig, report: ChunkingReport) -> Iterator[ChunkedDocument]:
    """Yield chunked documents in path order, stopping after ``num_files`` usable ones."""
    seen_hashes: set[str] = set()
    used = 0
    for source in sources:
        if config.num_files is not None and used >= config.num_files:
            break
        chunked = _read_and_chunk(source, config, report, seen_hashes)
        if chunked is not None:
            used += 1
            yield chunked


def iter_seed_rows(
    config: ChunkingConfig,
    report: ChunkingReport | None = None,
    *,
    exclude_dirs: tuple[Path, ...] = (),
    embed_texts: Callable[[list[str]], np.ndarray] | None = None,
) -> Iterator[SeedRow]:
    """Stream the seed rows of a corpus.

    ``report`` collects counts and skips as rows are produced. ``embed_texts`` is only
    used for ``bundle_by="semantic"``; it defaults to the configured embedder.
    """
    report = report if report is not None else ChunkingReport()
    sources = discover_sources(config, report, exclude_dirs)

    if not config.multi_doc:
        for document in _usable_documents(sources, config, report):
            row = make_seed_row([document], config)
            report.add_row(row)
            yield row
        return

    known = {source.doc_id for source in sources}
    manifest_bundles: list[list[str]] = []
    if config.multi_doc_manifest is not None:
        manifest_bundles = load_manifest(config.multi_doc_manifest)
        check_manifest(manifest_bundles, known, config.max_docs_per_bundle)

    if config.bundle_by == "semantic":
        yield from _semantic_rows(sources, manifest_bundles, config, report, embed_texts)
        return

    # Manifest bundles first, then the remaining usable documents in consecutive groups.
    by_id = {source.doc_id: source for source in sources}
    seen_hashes: set[str] = set()
    used = 0
    for bundle in manifest_bundles:
        members = []
        for doc_id in bundle:
            if config.num_files is not None and used >= config.num_files:
                break
            chunked = _read_and_chunk(by_id[doc_id], config, report, seen_hashes)
            if chunked is not None:
                used += 1
                members.append(chunked)
        if members:
            row = make_seed_row(members, config)
            report.add_row(row)
            yield row
    in_manifest = {doc_id for bundle in manifest_bundles for doc_id in bundle}
    pending: list[ChunkedDocument] = []
    for source in sources:
        if source.doc_id in in_manifest:
            continue
        if config.num_files is not None and used >= config.num_files:
            break
        chunked = _read_and_chunk(source, config, report, seen_hashes)
        if chunked is None:
            continue
        used += 1
        pending.append(chunked)
        if len(pending) == config.bundle_size:
            row = make_seed_row(pending, config)
            report.add_row(row)
            yield row
            pending = []
    if pending:
        row = make_seed_row(pending, config)
        report.add_row(row)
        yield row


def _semantic_rows(
    sources: list[SourceFile],
    manifest_bundles: list[list[str]],
    config: ChunkingConfig,
    report: ChunkingReport,
    embed_texts: Callable[[list[str]], np.ndarray] | None,
) -> Iterator[SeedRow]:
    """Two passes: embed each usable document's opening text, then group and chunk again.

    Only the embeddings are kept between passes, never the texts.
    """
    if embed_texts is None:
        embed_texts = _default_embed_texts(config.embedder)
    in_manifest = {doc_id for bundle in manifest_bundles for doc_id in bundle}
    free_sources = [source for source in sources if source.doc_id not in in_manifest]
    doc_ids: list[str] = []
    openings: list[str] = []
    for document in _usable_documents(free_sources, config, report):
        doc_ids.append(document.doc_id)
        openings.append(" ".join(chunk.text for chunk in document.chunks[:3])[:2000])
    embeddings = embed_texts(openings) if openings else np.zeros((0, 1), dtype=np.float32)
    del openings
    bundles = manifest_bundles + group_semantic(doc_ids, embeddings, config.bundle_size)
    by_id = {source.doc_id: source for source in sources}
    seen_hashes: set[str] = set()
    reread = ChunkingReport()  # the first pass already counted these documents
    for bundle in bundles:
        members = []
        for doc_id in bundle:
            chunked = _read_and_chunk(by_id[doc_id], config, report if doc_id in in_manifest else reread, seen_hashes)
            if chunked is not None:
                members.append(chunked)
        if members:
            row = make_seed_row(members, config)
            report.add_row(row)
            yield row


def _default_embed_texts(spec: str | None) -> Callable[[list[str]], np.ndarray]:
    def embed_texts(texts: list[str]) -> np.ndarray:
        from sdg_program.backends.embedder import embed, load_embedder

        return embed(texts, load_embedder(spec))

    return embed_texts
