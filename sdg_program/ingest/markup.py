"""Turn a document's text into ordered *units*: headings, sentences, code blocks, tables.

Chunking counts and groups units, so this is where Markdown (and a little
reStructuredText) is understood: front matter is dropped, headings become their own
units, fenced code blocks and tables stay whole instead of turning into fake
sentences, and HTML/MDX tags and comments are removed from prose.

Every unit remembers the ``[start, end)`` character span it came from in the source
text, even after inline clean-up (link syntax removed, soft line breaks joined), so a
chunk can point back to the exact place in the file.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Literal

from sdg_program.ingest.sentences import split_sentence_spans

UnitKind = Literal["heading", "sentence", "code", "table"]
Markup = Literal["markdown", "mdx", "rst", "plain"]


@dataclass(frozen=True)
class Unit:
    """One indivisible piece of a document, with its span in the source text."""

    kind: UnitKind
    text: str
    start: int
    end: int
    level: int = 0  # heading level (1 = top); 0 for other kinds


def markup_for_extension(extension: str) -> Markup:
    """Pick the parser for a file extension (lower-case, with the dot)."""
    if extension in (".md", ".markdown"):
        return "markdown"
    if extension == ".mdx":
        return "mdx"
    if extension == ".rst":
        return "rst"
    return "plain"


# ---------------------------------------------------------------------------
# Inline clean-up with an offset map back to the source
# ---------------------------------------------------------------------------

_INLINE_MARKDOWN = re.compile(
    r"(?P<code>`+[^`\n]+?`+)"
    r"|(?P<comment><!--.*?-->)"
    r"|(?P<mdxcomment>\{/\*.*?\*/\})"
    r"|!\[(?P<alt>[^\]\n]*)\]\([^)\n]*\)"
    r"|\[(?P<link>[^\]\n]+)\]\([^)\n]*\)"
    r"|\[(?P<reflink>[^\]\n]+)\]\[[^\]\n]*\]"
    r"|<(?P<autolink>https?://[^>\s]+)>"
    r"|(?P<tag></?[A-Za-z][\w:.-]*(?:\s[^<>]*?)?/?>)"
    r"|(?P<newline>[ \t]*\r?\n[ \t]*(?:>[ \t]?)*)",
    re.DOTALL,
)
_INLINE_PLAIN = re.compile(r"(?P<newline>[ \t]*\r?\n[ \t]*)")


class OffsetMap:
    """Maps positions in cleaned text back to positions in the source text.

    Cleaned text is a sequence of pieces; a verbatim piece is a copy of a source span,
    a replaced piece (a joined line break) stands for a source span of another length.
    """

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.clean_starts: list[int] = []
        self.source_starts: list[int] = []
        self.source_ends: list[int] = []
        self.verbatim: list[bool] = []
        self.length = 0

    def add(self, text: str, source_start: int, source_end: int, verbatim: bool) -> None:
        if not text:
            return
        self.parts.append(text)
        self.clean_starts.append(self.length)
        self.source_starts.append(source_start)
        self.source_ends.append(source_end)
        self.verbatim.append(verbatim)
        self.length += len(text)

    def text(self) -> str:
        return "".join(self.parts)

    def to_source(self, position: int, is_end: bool) -> int:
        """Source offset of a cleaned ``position`` (a span start or a span end)."""
        if is_end:
            index = bisect.bisect_right(self.clean_starts, position - 1) - 1
            if self.verbatim[index]:
                return self.source_starts[index] + (position - self.clean_starts[index])
            return self.source_ends[index]
        index = bisect.bisect_right(self.clean_starts, position) - 1
        if self.verbatim[index]:
            return self.source_starts[index] + (position - self.clean_starts[index])
        return self.source_starts[index]


def clean_inline(source: str, start: int, end: int, markup: Markup) -> OffsetMap:
    """Clean ``source[start:end]`` (one paragraph) and keep the offset map."""
    pattern = _INLINE_PLAIN if markup in ("plain", "rst") else _INLINE_MARKDOWN
    offsets = OffsetMap()
    cursor = start
    for match in pattern.finditer(source, start, end):
        if match.start() > cursor:
            offsets.add(source[cursor : match.start()], cursor, match.start(), True)
        kind = match.lastgroup
        if kind == "code":
            offsets.add(match.group(0), match.start(), match.end(), True)
        elif kind in ("alt", "link", "reflink", "autolink"):
            offsets.add(match.group(kind), match.start(kind), match.end(kind), True)
        elif kind == "newline":
            offsets.add(" ", match.start(), match.end(), False)
        # comments and tags are dropped
        cursor = match.end()
    if cursor < end:
        offsets.add(source[cursor:end], cursor, end, True)
    return offsets


# ---------------------------------------------------------------------------
# Block structure
# ---------------------------------------------------------------------------

_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
_ATX_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^[ \t]{0,3}(=+|-+)[ \t]*$")
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+<>:._])\1{2,}[ \t]*$")
_RULE = re.compile(r"^[ \t]{0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_TABLE_SEPARATOR = re.compile(r"^[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(?:\|[ \t]*:?-{2,}:?[ \t]*)+\|?[ \t]*$")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+")
_ADMONITION = re.compile(r"^[ \t]*(?:!!!|\?\?\?\+?)[ \t]*[\w-]+(?:[ \t]+\"(?P<title>[^\"]*)\")?[ \t]*$")
_MKDOCSTRINGS = re.compile(r"^:::[ \t]+\S")
_MDX_STATEMENT = re.compile(r"^(?:import[ \t].*from[ \t]+['\"]|import[ \t]+['\"]|export[ \t]+(?:default|const|function|\{))")
_RST_DIRECTIVE = re.compile(r"^\.\.[ \t]+(?P<name>[\w:-]+)::")
_RST_COMMENT = re.compile(r"^\.\.(?:[ \t]|$)")
_BLANK = re.compile(r"^[ \t\r\n\f\v]*$")


def _strip_front_matter(lines: list[str]) -> int:
    """Number of leading lines that are YAML (``---``) or TOML (``+++``) front matter."""
    if not lines:
        return 0
    opener = lines[0].strip()
    if opener not in ("---", "+++"):
        return 0
    closers = ("---", "...") if opener == "---" else ("+++",)
    for index in range(1, min(len(lines), 500)):
        if lines[index].strip() in closers:
            return index + 1
    return 0


class _UnitBuilder:
    """Accumulates units while the block scanner walks the lines."""

    def __init__(self, source: str, markup: Markup) -> None:
        self.source = source
        self.markup = markup
        self.units: list[Unit] = []
        self.paragraph_start: int | None = None
        self.paragraph_end = 0

    def extend_paragraph(self, start: int, end: int) -> None:
        if self.paragraph_start is None:
            self.paragraph_start = start
        self.paragraph_end = end

    def flush_paragraph(self) -> None:
        if self.paragraph_start is None:
            return
        offsets = clean_inline(self.source, self.paragraph_start, self.paragraph_end, self.markup)
        self.paragraph_start = None
        if offsets.length == 0:
            return
        cleaned = offsets.text()
        for start, end in split_sentence_spans(cleaned):
            self.units.append(
                Unit(
                    kind="sentence",
                    text=cleaned[start:end],
                    start=offsets.to_source(start, is_end=False),
                    end=offsets.to_source(end, is_end=True),
                )
            )

    def heading(self, text_start: int, text_end: int, level: int) -> None:
        self.flush_paragraph()
        offsets = clean_inline(self.source, text_start, text_end, self.markup)
        cleaned = offsets.text().strip()
        if not cleaned:
            return
        lead = len(offsets.text()) - len(offsets.text().lstrip())
        self.units.append(
            Unit(
                kind="heading",
                text=cleaned,
                start=offsets.to_source(lead, is_end=False),
                end=offsets.to_source(lead + len(cleaned), is_end=True),
                level=level,
            )
        )

    def block(self, kind: UnitKind, start: int, end: int) -> None:
        self.flush_paragraph()
        while start < end:
            line_end = self.source.find("\n", start, end)
            if line_end == -1 or self.source[start:line_end].strip():
                break
            start = line_end + 1
        while end > start and self.source[end - 1] in "\r\n":
            end -= 1
        if self.source[start:end].strip():
            self.units.append(Unit(kind=kind, text=self.source[start:end], start=start, end=end))


def parse_units(source: str, markup: Markup = "markdown") -> list[Unit]:
    """Split a document into units in reading order.

    ``markup`` selects the rules: ``plain`` only knows paragraphs; ``markdown`` and
    ``mdx`` know front matter, ATX/setext headings, fences, tables, lists, admonitions,
    HTML/MDX tags and mkdocstrings ``:::`` stubs; ``rst`` knows underlined headings,
    directives, comments and ``::`` literal blocks.
    """
    lines = source.splitlines(keepends=True)
    starts: list[int] = []
    position = 0
    for line in lines:
        starts.append(position)
        position += len(line)

    builder = _UnitBuilder(source, markup)
    index = _strip_front_matter(lines) if markup in ("markdown", "mdx") else 0
    rich = markup != "plain"
    heading_levels_rst: list[str] = []

    while index < len(lines):
        line = lines[index].rstrip("\r\n")
        line_start = starts[index]
        line_end = line_start + len(line)

        if _BLANK.match(line):
            builder.flush_paragraph()
            index += 1
            continue

        if not rich:
            builder.extend_paragraph(line_start, line_end)
            index += 1
            continue

        if markup in ("markdown", "mdx"):
            fence = _FENCE.match(line)
            if fence:
                marker = fence.group(1)
                close = index + 1
                while close < len(lines):
                    candidate = lines[close].strip()
                    if candidate.startswith(marker[0] * len(marker)) and set(candidate) <= {marker[0]}:
                        break
                    close += 1
                last = min(close, len(lines) - 1)
                builder.block("code", line_start, starts[last] + len(lines[last]))
                index = last + 1
                continue

            if line.lstrip().startswith("<!--") and "-->" not in line:
                builder.flush_paragraph()
                close = index + 1
                while close < len(lines) and "-->" not in lines[close]:
                    close += 1
                index = close + 1
                continue

            if _MKDOCSTRINGS.match(line):
                builder.flush_paragraph()
                index += 1
                while index < len(lines) and (lines[index][:1] in (" ", "\t") or _BLANK.match(lines[index])):
                    index += 1
                continue

            if markup == "mdx" and _MDX_STATEMENT.match(line):
                builder.flush_paragraph()
                index += 1
                continue

            heading = _ATX_HEADING.match(line)
            if heading:
                builder.heading(line_start + heading.start(2), line_start + heading.end(2), len(heading.group(1)))
                index += 1
                continue

            admonition = _ADMONITION.match(line)
            if admonition:
                builder.flush_paragraph()
                if admonition.group("title"):
                    builder.heading(line_start + admonition.start("title"), line_start + admonition.end("title"), 6)
                index += 1
                continue

            if "|" in line and (
                line.lstrip().startswith("|")
                or (index + 1 < len(lines) and _TABLE_SEPARATOR.match(lines[index + 1].rstrip("\r\n")))
            ):
                close = index
                while close + 1 < len(lines) and "|" in lines[close + 1] and not _BLANK.match(lines[close + 1]):
                    close += 1
                builder.block("table", line_start, starts[close] + len(lines[close]))
                index = close + 1
                continue

            underline = _SETEXT_UNDERLINE.match(line)
            if underline and builder.paragraph_start is not None:
                # The paragraph so far is a setext heading ("Title\n=====").
                title_start, title_end = builder.paragraph_start, builder.paragraph_end
                builder.paragraph_start = None
                builder.heading(title_start, title_end, 1 if underline.group(1)[0] == "=" else 2)
                index += 1
                continue

            if _RULE.match(line):
                builder.flush_paragraph()
                index += 1
                continue

            if _LIST_ITEM.match(line):
                builder.flush_paragraph()
                marker = _LIST_ITEM.match(line)
                builder.extend_paragraph(line_start + marker.end(), line_end)
                index += 1
                continue

        if markup == "rst":
            next_line = lines[index + 1].rstrip("\r\n") if index + 1 < len(lines) else ""
            overline = _RST_UNDERLINE.match(line)
            if overline and index + 2 < len(lines) and _RST_UNDERLINE.match(lines[index + 2].rstrip("\r\n")):
                title = lines[index + 1].rstrip("\r\n")
                key = "over" + overline.group(1)
                if key not in heading_levels_rst:
                    heading_levels_rst.append(key)
                title_start = starts[index + 1] + len(title) - len(title.lstrip())
                builder.heading(title_start, starts[index + 1] + len(title), heading_levels_rst.index(key) + 1)
                index += 3
                continue
            underline = _RST_UNDERLINE.match(next_line)
            if underline and builder.paragraph_start is None and len(next_line.strip()) >= len(line.strip()):
                key = underline.group(1)
                if key not in heading_levels_rst:
                    heading_levels_rst.append(key)
                title_start = line_start + len(line) - len(line.lstrip())
                builder.heading(title_start, line_end, heading_levels_rst.index(key) + 1)
                index += 2
                continue
            directive = _RST_DIRECTIVE.match(line)
            if directive or _RST_COMMENT.match(line):
                builder.flush_paragraph()
                is_code = directive is not None and directive.group("name") in ("code-block", "code", "sourcecode")
                body = index + 1
                while body < len(lines) and (lines[body][:1] in (" ", "\t") or _BLANK.match(lines[body])):
                    body += 1
                if is_code and body > index + 1:
                    builder.block("code", starts[index], starts[body - 1] + len(lines[body - 1]))
                index = body
                continue
            if line.rstrip().endswith("::") and index + 1 < len(lines):
                # Paragraph ending in "::" introduces an indented literal block.
                text_end = line_end - 1 if not line.rstrip().endswith(" ::") else line_end - 2
                builder.extend_paragraph(line_start, text_end)
                builder.flush_paragraph()
                body = index + 1
                while body < len(lines) and (lines[body][:1] in (" ", "\t") or _BLANK.match(lines[body])):
                    body += 1
                if body > index + 1:
                    builder.block("code", starts[index + 1], starts[body - 1] + len(lines[body - 1]))
                index = body
                continue
            if _LIST_ITEM.match(line):
                builder.flush_paragraph()
                marker = _LIST_ITEM.match(line)
                builder.extend_paragraph(line_start + marker.end(), line_end)
                index += 1
                continue

        builder.extend_paragraph(line_start, line_end)
        index += 1

    builder.flush_paragraph()
    return builder.units
