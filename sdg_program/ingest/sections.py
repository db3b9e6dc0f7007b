"""Group a row's chunks into sections and render them for prompts.

Sections label and order the segments a generator sees. The three strategies decide
how chunks of several documents are mixed; with one document they all reduce to
``sequential``. Unlike the reference tool, sections are balanced (sizes differ by at
most one) and never empty, and the rendering carries no fake timestamps.
"""

from __future__ import annotations

from sdg_program.core.records import Chunk
from sdg_program.ingest.config import SectionStrategy


def split_evenly(items: list[Chunk], parts: int) -> list[list[Chunk]]:
    """Cut ``items`` into at most ``parts`` consecutive, non-empty groups of near-equal size."""
    parts = max(1, min(parts, len(items)))
    size, extra = divmod(len(items), parts)
    groups = []
    start = 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        if end > start:
            groups.append(items[start:end])
        start = end
    return groups


def _by_document(chunks: list[Chunk]) -> list[list[Chunk]]:
    order: list[str] = []
    groups: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        if chunk.doc_id not in groups:
            order.append(chunk.doc_id)
            groups[chunk.doc_id] = []
        groups[chunk.doc_id].append(chunk)
    return [groups[doc_id] for doc_id in order]


def group_sections(chunks: list[Chunk], num_sections: int, strategy: SectionStrategy) -> list[list[Chunk]]:
    """Assign chunks to sections.

    * ``sequential``: chunks in order, cut into ``num_sections`` even parts.
    * ``doc_balanced``: each document is cut into ``num_sections`` even parts and
      section *k* holds part *k* of every document, so each section mixes all documents.
    * ``interleaved``: chunks taken round-robin across documents, then cut evenly.
    """
    if not chunks:
        return []
    documents = _by_document(chunks)
    if strategy == "sequential" or len(documents) <= 1:
        return split_evenly(chunks, num_sections)
    if strategy == "interleaved":
        mixed: list[Chunk] = []
        for position in range(max(len(document) for document in documents)):
            for document in documents:
                if position < len(document):
                    mixed.append(document[position])
        return split_evenly(mixed, num_sections)
    if strategy == "doc_balanced":
        parts = max(1, min(num_sections, max(len(document) for document in documents)))
        sections: list[list[Chunk]] = [[] for _ in range(parts)]
        for document in documents:
            size, extra = divmod(len(document), parts)
            start = 0
            for index in range(parts):
                end = start + size + (1 if index < extra else 0)
                sections[index].extend(document[start:end])
                start = end
        return [section for section in sections if section]
    raise ValueError(f"unknown section strategy: {strategy!r}")


def render_segment(chunk: Chunk, show_doc: bool) -> str:
    """One prompt line per segment: ``Segment 3 [Doc: guide.md]: text`` (newlines collapsed)."""
    # Imported here: `signatures` loads DSPy, which chunking alone (and `--help`) does not need.
    from signatures.render import render_segment

    return render_segment(chunk.chunk_id, chunk.text, chunk.doc_id if show_doc else None)


def render_sections(sections: list[list[Chunk]], show_doc: bool) -> list[str]:
    """Render each section as a header line followed by one line per segment."""
    rendered = []
    for number, section in enumerate(sections, start=1):
        lines = [f"=== Section {number} ==="]
        lines.extend(render_segment(chunk, show_doc) for chunk in section)
        rendered.append("\n".join(lines))
    return rendered
