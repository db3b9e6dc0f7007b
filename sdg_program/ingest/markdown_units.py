"""Markdown and MDX to units: a walk over markdown-it's token stream.

The grammar is in :mod:`markdown_syntax`; this module decides what each block becomes:

* headings, and the titles of admonitions, pymdown blocks and content tabs, become
  heading units (block titles at :data:`~sdg_program.ingest.units.BLOCK_TITLE_LEVEL`);
* paragraphs, list items, definition terms and details, footnotes, HTML blocks and
  math blocks become sentences (HTML and JSX tags dropped, their text kept);
* fenced and indented code blocks stay whole, verbatim (console blocks lose their
  ``<font>``/``<span>`` colouring);
* a table becomes one unit of its rows, one line each, non-empty cells cleaned and
  joined by `` | `` (the delimiter row and the pipes' Markdown are gone);
* front matter, comments, ``<script>``/``<style>``, link reference definitions, MDX
  ``import``/``export`` lines, mkdocstrings ``:::`` stubs and pymdown block options are
  dropped; include directives are dropped or resolved (:mod:`includes`).

Block tokens give line maps; :class:`~sdg_program.ingest.markdown_inline.InlineLocator`
turns each inline token into text with character offsets inside those lines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from markdown_it.token import Token

from sdg_program.ingest.includes import IncludeResolver, include_targets, looks_like_include
from sdg_program.ingest.markdown_inline import InlineLocator, drop_reference_brackets
from sdg_program.ingest.markdown_syntax import PYMDOWN_BLOCK, markdown_parser
from sdg_program.ingest.offsets import OffsetMap, line_starts
from sdg_program.ingest.sentences import split_sentence_spans
from sdg_program.ingest.units import BLOCK_TITLE_LEVEL, Markup, Unit

_MKDOCSTRINGS = re.compile(r":::[ \t]+\S")
_MDX_STATEMENT = re.compile(r"(?:import[ \t].*from[ \t]+['\"]|import[ \t]+['\"]|export[ \t]+(?:default|const|let|function|\{))")
_ADMONITION_TITLE = re.compile(r'[ \t]*(?:[\w-]+(?:[ \t]+[\w-]+)*)?[ \t]*"(?P<title>[^"\n]*)"[ \t]*$')
_STRAY_FENCE = re.compile(r"/{3,}[ \t]*")
_TOML_FRONT_MATTER = re.compile(r"\+\+\+[ \t]*\r?\n(?:.*\r?\n)*?\+\+\+[ \t]*(?:\r?\n|$)")
_OPTION_LINE = re.compile(r"[ \t]*[\w-]+[ \t]*:")
_DROPPED_HTML = re.compile(r"[ \t]*<(?:!--|\?|!\[CDATA\[|![A-Za-z]|script\b|style\b|textarea\b)", re.IGNORECASE)
_PRE_HTML = re.compile(r"[ \t]*<pre\b", re.IGNORECASE)
_ANY_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_CONSOLE_COLOURING = re.compile(r"</?(?:font|span)\b[^<>\n]*>", re.IGNORECASE)
_CONSOLE_LANGUAGES = frozenset({"console", "shell-session", "shellsession", "bash", "sh", "shell", "zsh", "termynal", "pycon"})
_TAB_TITLE = "content_tab_open"
_CONTAINER_OPEN = f"container_{PYMDOWN_BLOCK}_open"


def _blank_toml_front_matter(source: str) -> str:
    """``+++`` (TOML) front matter as blank lines: markdown-it knows only ``---`` front matter.

    Line count and so line maps are unchanged; text is always read from the real source.
    """
    match = _TOML_FRONT_MATTER.match(source)
    if match is None:
        return source
    head = match.group(0)
    return re.sub(r"[^\r\n]", "", head) + source[match.end() :]


class MarkdownUnits:
    """Builds the units of one Markdown or MDX document."""

    def __init__(self, source: str, markup: Markup, includes: IncludeResolver | None) -> None:
        self.source = source
        self.markup = markup
        self.includes = includes
        self.starts = line_starts(source)
        self.md = markdown_parser()
        self.units: list[Unit] = []
        self.skip_option_block = False

    # -- positions -------------------------------------------------------------------

    def line_start(self, line: int) -> int:
        starts = self.starts
        return starts[line] if line < len(starts) else starts[-1]

    def region(self, line_map: Sequence[int] | None) -> tuple[int, int]:
        """Source span ``[start, end)`` of the lines a token map covers."""
        if not line_map:
            return 0, len(self.source)
        first, last = line_map[0], line_map[1]
        return self.line_start(first), self.line_start(max(last, first + 1))

    def block_span(self, line_map: Sequence[int]) -> tuple[int, int]:
        """Span of a block's lines without the indentation before it and line breaks after."""
        start, end = self.region(line_map)
        source = self.source
        while start < end and source[start] in " \t":
            start += 1
        while end > start and source[end - 1] in "\r\n \t":
            end -= 1
        return start, end

    # -- unit makers -----------------------------------------------------------------

    def sentences(self, offsets: OffsetMap) -> None:
        if not offsets.length:
            return
        cleaned = offsets.text()
        for start, end in split_sentence_spans(cleaned):
            self.units.append(
                Unit(kind="sentence", text=cleaned[start:end], start=offsets.to_source(start, False), end=offsets.to_source(end, True))
            )

    def heading(self, offsets: OffsetMap, level: int) -> None:
        cleaned = offsets.text()
        text = cleaned.strip()
        if not text:
            return
        lead = len(cleaned) - len(cleaned.lstrip())
        self.units.append(
            Unit(kind="heading", text=text, start=offsets.to_source(lead, False), end=offsets.to_source(lead + len(text), True), level=level)
        )

    def clean(self, inline: Token) -> OffsetMap:
        start, end = self.region(inline.map)
        return drop_reference_brackets(InlineLocator(self.source, start, end).clean(inline.children or []))

    def paragraph(self, inline: Token) -> None:
        content = inline.content
        first = content[:1]
        if first == ":" and _MKDOCSTRINGS.match(content):
            self.skip_option_block = True  # its options, when a blank line parts them from the stub
            return
        if first == "/" and _STRAY_FENCE.fullmatch(content):
            return
        if first in "ie" and self.markup == "mdx" and _MDX_STATEMENT.match(content):
            return
        if first == "{" and content.startswith("{/*") and content.rstrip().endswith("*/}"):
            return
        if looks_like_include(content):
            targets = include_targets(content)
            if targets is not None:
                if self.includes is not None:
                    start, end = self.block_span(inline.map or (0, 0))
                    self.units.extend(self.includes.units(targets, start, end))
                return
        self.sentences(self.clean(inline))

    def code(self, token: Token) -> None:
        if token.map is None:
            return
        start, end = self.block_span(token.map)
        if start >= end:
            return
        text = self.source[start:end]
        indent = self.source[self.line_start(token.map[0]) : start]
        if indent and "\n" in text:
            text = self._dedent(text, len(indent))
        if token.type == "fence":
            language = token.info.split(maxsplit=1)[0].lower() if token.info.strip() else ""
            if language in _CONSOLE_LANGUAGES and "<" in text:
                text = _CONSOLE_COLOURING.sub("", text)
            if self.includes is not None:
                text = self.includes.expand_code(text)
        if text.strip():
            self.units.append(Unit(kind="code", text=text, start=start, end=end))

    @staticmethod
    def _dedent(text: str, width: int) -> str:
        """Remove up to ``width`` leading spaces or tabs from the lines after the first."""
        lines = text.split("\n")
        for index in range(1, len(lines)):
            line = lines[index]
            strip = 0
            while strip < width and strip < len(line) and line[strip] in " \t":
                strip += 1
            lines[index] = line[strip:]
        return "\n".join(lines)

    def html(self, token: Token) -> None:
        content = token.content
        if _DROPPED_HTML.match(content):
            return
        if _PRE_HTML.match(content):
            start, end = self.block_span(token.map or (0, 0))
            text = _ANY_TAG.sub("", self.source[start:end]).strip("\n")
            if text.strip():
                self.units.append(Unit(kind="code", text=text, start=start, end=end))
            return
        children = self.md.parseInline(content)[0].children or []
        start, end = self.region(token.map)
        self.sentences(drop_reference_brackets(InlineLocator(self.source, start, end).clean(children)))

    def table(self, tokens: list[Token], index: int) -> int:
        """Add the table opening at ``tokens[index]``; return the index after its end."""
        opening = tokens[index]
        rows: list[str] = []
        cells: list[str] = []
        locator: InlineLocator | None = None
        index += 1
        while index < len(tokens) and tokens[index].type != "table_close":
            token = tokens[index]
            if token.type == "tr_open":
                cells = []
                locator = None
            elif token.type == "inline":
                if locator is None:
                    locator = InlineLocator(self.source, *self.region(token.map))
                cell = drop_reference_brackets(locator.clean(token.children or [])).text().strip()
                if cell:
                    cells.append(cell)
            elif token.type == "tr_close" and cells:
                rows.append(" | ".join(cells))
            index += 1
        if rows and opening.map is not None:
            start, end = self.block_span(opening.map)
            self.units.append(Unit(kind="table", text="\n".join(rows), start=start, end=end))
        return index + 1

    def block_title(self, title: str, line_map: Sequence[int] | None) -> None:
        """Title of an admonition or a pymdown block, written in its opening line."""
        title = title.strip()
        if not title:
            return
        children = self.md.parseInline(title)[0].children or []
        start, end = self.region(line_map)
        self.heading(InlineLocator(self.source, start, end).clean(children), BLOCK_TITLE_LEVEL)

    def math(self, token: Token) -> None:
        text = " ".join(token.content.split())
        if not text or token.map is None:
            return
        start, end = self.block_span(token.map)
        lines = [line.strip() for line in token.content.split("\n") if line.strip()]
        first = self.source.find(lines[0], start, end)
        last = self.source.find(lines[-1], max(first, start), end)
        self.units.append(
            Unit(kind="sentence", text=text, start=first if first != -1 else start, end=last + len(lines[-1]) if last != -1 else end)
        )

    # -- the walk --------------------------------------------------------------------

    def parse(self) -> list[Unit]:
        source = self.source
        tokens = self.md.parse(_blank_toml_front_matter(source) if source.startswith("+++") else source)
        index = 0
        count = len(tokens)
        while index < count:
            token = tokens[index]
            kind = token.type
            if kind in ("code_block", "fence"):
                if not self._is_option_block(tokens, index):
                    self.code(token)
                index += 1
                continue
            self.skip_option_block = False
            if kind == "paragraph_open" or kind == "dt_open":
                self.paragraph(tokens[index + 1])
                index += 3
            elif kind == "heading_open":
                self.heading(self.clean(tokens[index + 1]), int(token.tag[1]))
                index += 3
            elif kind == "html_block":
                self.html(token)
                index += 1
            elif kind == "table_open":
                index = self.table(tokens, index)
            elif kind == "admonition_open":
                # The plugin makes up a title from the type (`!!! note` gives "Note") and misreads
                # `??? "Title"` with no type; the title is read from the header line instead.
                quoted = _ADMONITION_TITLE.match(token.info)
                if quoted:
                    self.block_title(quoted.group("title"), token.map)
                has_title = index + 1 < count and tokens[index + 1].type == "admonition_title_open"
                index += 4 if has_title else 1
            elif kind == _CONTAINER_OPEN:
                name, _, title = token.info.partition("|")
                if name.strip().lower() != "html":
                    self.block_title(title, token.map)
                self.skip_option_block = True
                index += 1
            elif kind == _TAB_TITLE:
                self.heading(self.clean(tokens[index + 1]), BLOCK_TITLE_LEVEL)
                index += 2
            elif kind in ("math_block", "math_block_label"):
                self.math(token)
                index += 1
            else:
                index += 1
        self.units.sort(key=lambda unit: unit.start)  # footnotes come last in the stream, not in the file
        return self.units

    def _is_option_block(self, tokens: list[Token], index: int) -> bool:
        """An indented block right after a pymdown block header or a mkdocstrings stub: options, not code."""
        if not self.skip_option_block:
            return False
        self.skip_option_block = False
        token = tokens[index]
        if token.type != "code_block":
            return False
        lines = [line for line in token.content.split("\n") if line.strip()]
        if not lines or _OPTION_LINE.match(lines[0]) is None:
            return False
        # YAML keys, or values nested under them
        return all(_OPTION_LINE.match(line) or line[:1] in " \t" for line in lines)


def markdown_units(source: str, markup: Markup = "markdown", includes: IncludeResolver | None = None) -> list[Unit]:
    """Units of a Markdown (``markup="markdown"``) or MDX (``"mdx"``) document, in source order."""
    return MarkdownUnits(source, markup, includes).parse()
