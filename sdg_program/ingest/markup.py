"""Turn a document's text into ordered *units*: headings, sentences, code blocks, tables.

Chunking counts and groups units, so this is where mark-up is understood. This module
only dispatches on the file's markup and keeps the small plain-text reader:

* Markdown and MDX: markdown-it-py with mdit-py-plugins (:mod:`markdown_units`);
* reStructuredText: docutils (:mod:`rst_units`);
* plain text: paragraphs at blank lines, sentences inside them.

Every unit remembers the ``[start, end)`` character span it came from in the source
text, even after clean-up (syntax removed, soft line breaks joined), so a chunk can
point back to the exact place in the file.
"""

from __future__ import annotations

import re

from sdg_program.ingest.includes import IncludeResolver
from sdg_program.ingest.markdown_inline import InlineLocator
from sdg_program.ingest.markdown_syntax import markdown_parser
from sdg_program.ingest.markdown_units import markdown_units
from sdg_program.ingest.offsets import OffsetMap
from sdg_program.ingest.sentences import split_sentence_spans
from sdg_program.ingest.units import Markup, Unit, UnitKind

__all__ = ["Markup", "OffsetMap", "Unit", "UnitKind", "clean_inline", "markup_for_extension", "parse_units"]


def markup_for_extension(extension: str) -> Markup:
    """Pick the parser for a file extension (lower-case, with the dot)."""
    if extension in (".md", ".markdown"):
        return "markdown"
    if extension == ".mdx":
        return "mdx"
    if extension == ".rst":
        return "rst"
    return "plain"


_SOFT_BREAK = re.compile(r"[ \t]*(?:\r\n?|\n)[ \t]*")
_PARAGRAPH_BREAK = re.compile(r"(?:\r\n?|\n)[ \t\f\v]*(?:\r\n?|\n)(?:[ \t\f\v]*(?:\r\n?|\n))*")


def _join_lines(source: str, start: int, end: int) -> OffsetMap:
    """``source[start:end]`` with every line break (and the spaces around it) read as one space."""
    offsets = OffsetMap()
    cursor = start
    for match in _SOFT_BREAK.finditer(source, start, end):
        if match.start() > cursor:
            offsets.add(source[cursor : match.start()], cursor, match.start(), True)
        offsets.add(" ", match.start(), match.end(), False)
        cursor = match.end()
    if cursor < end:
        offsets.add(source[cursor:end], cursor, end, True)
    return offsets


def clean_inline(source: str, start: int, end: int, markup: Markup) -> OffsetMap:
    """Clean ``source[start:end]`` (one paragraph) and keep the offset map.

    Markdown and MDX go through markdown-it's inline parser (links keep their text,
    tags and emphasis markers go); other markups only join lines.
    """
    if markup not in ("markdown", "mdx"):
        return _join_lines(source, start, end)
    tokens = markdown_parser().parseInline(source[start:end])
    children = tokens[0].children if tokens else None
    return InlineLocator(source, start, end).clean(children or [])


def _plain_units(source: str) -> list[Unit]:
    """Paragraphs at blank lines; sentences inside them; nothing else is syntax."""
    units: list[Unit] = []
    cursor = 0
    boundaries = [(match.start(), match.end()) for match in _PARAGRAPH_BREAK.finditer(source)]
    boundaries.append((len(source), len(source)))
    for stop, resume in boundaries:
        if stop > cursor and source[cursor:stop].strip():
            offsets = _join_lines(source, cursor, stop)
            cleaned = offsets.text()
            for start, end in split_sentence_spans(cleaned):
                units.append(Unit(kind="sentence", text=cleaned[start:end], start=offsets.to_source(start, False), end=offsets.to_source(end, True)))
        cursor = resume
    return units


def parse_units(source: str, markup: Markup = "markdown", *, includes: IncludeResolver | None = None) -> list[Unit]:
    """Split a document into units in reading order.

    ``markup`` selects the parser: ``markdown`` and ``mdx`` (markdown-it-py), ``rst``
    (docutils) or ``plain``. ``includes`` resolves snippet include directives in
    Markdown; without it they are dropped.
    """
    if markup in ("markdown", "mdx"):
        return markdown_units(source, markup, includes)
    if markup == "rst":
        from sdg_program.ingest.rst_units import rst_units  # docutils is imported only for .rst files

        return rst_units(source)
    return _plain_units(source)
