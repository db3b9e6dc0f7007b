"""Inline tokens to clean text, each character mapped back to the source.

markdown-it's block tokens carry line maps, its inline tokens do not: a ``text`` child
knows its words, not where they are. :class:`InlineLocator` walks the children of an
``inline`` token in order with a cursor over the source lines the block covers, finds
each piece of text at or after the cursor, and steps the cursor over the syntax around
it (link destinations, footnote labels, tags), so the cleaned text is an
:class:`~sdg_program.ingest.offsets.OffsetMap` into the source.

What is kept: text, code spans (with their backticks), link and image text, math (no
``$``). What is dropped: emphasis markers, link destinations and titles, HTML/JSX tags,
footnote references, task-list boxes, and, inside text, emoji shortcodes
(``:rocket:``), attribute lists (``{ #id .class }``), MDX comments (``{/* */}``) and JSX
component tags markdown-it did not take for HTML; mkdocs-autorefs references with no
definition in the page (``[text][dspy.LM]``, ``[][dspy.LM]``) keep their text or identifier
(:func:`drop_reference_brackets`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from markdown_it.token import Token

from sdg_program.ingest.offsets import OffsetMap

_ATTRIBUTE = r"""(?:[#.][\w:-]+|[\w:-]+=(?:"[^"\n]*"|'[^'\n]*'|[^\s'"{}]+))"""
# Syntax markdown-it leaves inside text: removed from the text, with its offsets.
_TEXT_NOISE = re.compile(
    r"(?<![\w:]):(?:[a-z](?:[a-z0-9_+-]*[a-z0-9])?|\+1|-1):(?![\w:])"  # emoji / icon shortcode
    r"|[ \t]*\{:?[ \t]*" + _ATTRIBUTE + r"(?:[ \t]+" + _ATTRIBUTE + r")*[ \t]*\}"  # attribute list
    r"|\{/\*.*?\*/\}"  # MDX comment
    r"|</?[A-Z][\w.]*(?:[ \t][^<>\n]*)?/?>"  # JSX component tag with {expressions}
)
_NOISE_HINT = re.compile(r"[:{<]")
# A reference link markdown-it could not resolve (mkdocs-autorefs: the target is an API object).
_UNRESOLVED_REFERENCE = re.compile(r"\[(?P<text>[^\[\]\n]*)\]\[(?P<id>[^\[\]\n]+)\]")
_SPACED_TAGS = re.compile(r"</?(?:br|p|div|li|tr|td|th|hr|h[1-6]|dd|dt|blockquote|section|table)\b", re.IGNORECASE)
_WORD = re.compile(r"\S+")
_LINE_BREAK = re.compile(r"\r\n?|\n")


def _skip_link_tail(source: str, cursor: int, end: int) -> int:
    """Position after the ``](destination "title")``, ``][label]`` or ``]`` that closes a link."""
    close = source.find("]", cursor, end)
    if close == -1:
        return cursor
    position = close + 1
    if position < end and source[position] == "(":
        depth = 0
        quote = ""
        while position < end:
            char = source[position]
            if quote:
                if char == quote:
                    quote = ""
            elif char == "\\":
                position += 1
            elif char in "\"'" and depth == 1 and source[position - 1] in " \t\n":
                quote = char
            elif char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
                if depth == 0:
                    return position + 1
            position += 1
        return close + 1
    if position < end and source[position] == "[":
        label_end = source.find("]", position, end)
        if label_end != -1:
            return label_end + 1
    return position


def drop_reference_brackets(offsets: OffsetMap) -> OffsetMap:
    """Cleaned text without the brackets of unresolved reference links: ``[text][id]`` keeps
    ``text``, ``[][id]`` keeps ``id``. Works on the cleaned text, so link text with code spans
    or emphasis (``[`dspy.LM`][dspy.LM]``) is covered too."""
    if offsets.length < 4:
        return offsets
    text = offsets.text()
    if "][" not in text:
        return offsets
    removals: list[tuple[int, int]] = []
    for match in _UNRESOLVED_REFERENCE.finditer(text):
        if match.group("text"):
            removals += [(match.start(), match.start() + 1), (match.end("text"), match.end())]
        else:
            removals += [(match.start(), match.start("id")), (match.end("id"), match.end())]
    return offsets.without(removals) if removals else offsets


class InlineLocator:
    """Cleans inline tokens into an :class:`OffsetMap`, locating every piece in ``source``.

    ``cursor`` only moves forward, within ``[cursor, end)``: several inline tokens on one
    line (the cells of a table row) share a locator and are found left to right.
    """

    __slots__ = ("source", "cursor", "end")

    def __init__(self, source: str, start: int, end: int) -> None:
        self.source = source
        self.cursor = start
        self.end = end

    def clean(self, children: Sequence[Token], offsets: OffsetMap | None = None) -> OffsetMap:
        """Append the clean text of ``children`` to ``offsets`` (a new map if None).

        Callers finish a whole inline token with :func:`drop_reference_brackets`.
        """
        offsets = OffsetMap() if offsets is None else offsets
        source, end = self.source, self.end
        for child in children:
            kind = child.type
            if kind == "text":
                if child.content:
                    self.text(child.content, offsets)
            elif kind == "softbreak" or kind == "hardbreak":
                brk = _LINE_BREAK.search(source, self.cursor, end)
                stop = brk.end() if brk else self.cursor
                offsets.add(" ", self.cursor, stop, False)
                self.cursor = stop
            elif kind == "code_inline":
                self.code(child, offsets)
            elif kind == "link_open":
                opener = "<" if child.markup == "autolink" else "["
                if child.markup != "linkify":
                    found = source.find(opener, self.cursor, end)
                    if found != -1:
                        self.cursor = found + 1
            elif kind == "link_close":
                if child.markup == "autolink":
                    found = source.find(">", self.cursor, end)
                    if found != -1:
                        self.cursor = found + 1
                elif child.markup != "linkify":
                    self.cursor = _skip_link_tail(source, self.cursor, end)
            elif kind == "image":
                found = source.find("![", self.cursor, end)
                if found != -1:
                    self.cursor = found + 2
                if child.children:
                    self.clean(child.children, offsets)
                self.cursor = _skip_link_tail(source, self.cursor, end)
            elif kind == "html_inline":
                found = source.find(child.content, self.cursor, end)
                if found != -1:
                    if _SPACED_TAGS.match(child.content):
                        offsets.add(" ", found, found + len(child.content), False)
                    self.cursor = found + len(child.content)
            elif kind == "footnote_ref":
                found = source.find("[^", self.cursor, end)
                if found != -1:
                    close = source.find("]", found, end)
                    self.cursor = close + 1 if close != -1 else found + 2
            elif kind in ("math_inline", "math_inline_double"):
                self.verbatim(child.content, offsets)
            elif kind.endswith("_open") or kind.endswith("_close") or kind == "footnote_anchor":
                continue  # emphasis, strikethrough, spans: only their content counts
            elif child.content:
                self.text(child.content, offsets)
        return offsets

    def text(self, content: str, offsets: OffsetMap) -> None:
        """Add a text run, without the noise :data:`_TEXT_NOISE` matches."""
        if _NOISE_HINT.search(content) is None:
            self.verbatim(content, offsets)
            return
        kept = 0
        for noise in _TEXT_NOISE.finditer(content):
            if noise.start() > kept:
                self.verbatim(content[kept : noise.start()], offsets)
            found = self.source.find(noise.group(0), self.cursor, self.end)
            if found != -1:
                self.cursor = found + len(noise.group(0))
            kept = noise.end()
        if kept < len(content):
            self.verbatim(content[kept:], offsets)

    def verbatim(self, content: str, offsets: OffsetMap) -> None:
        """Add ``content``, found at or after the cursor; word by word if escapes or entities changed it."""
        found = self.source.find(content, self.cursor, self.end)
        if found != -1:
            offsets.add(content, found, found + len(content), True)
            self.cursor = found + len(content)
            return
        # Not verbatim in the source (``\\*`` became ``*``, ``&amp;`` became ``&``):
        # place what can be found, and map the rest to the cursor.
        position = 0
        for word in _WORD.finditer(content):
            if word.start() > position:
                offsets.add(" ", self.cursor, self.cursor, False)
            found = self.source.find(word.group(0), self.cursor, self.end)
            if found != -1:
                offsets.add(word.group(0), found, found + len(word.group(0)), True)
                self.cursor = found + len(word.group(0))
            else:
                offsets.add(word.group(0), self.cursor, self._next_word_end(), False)
            position = word.end()
        if position < len(content):
            offsets.add(" ", self.cursor, self.cursor, False)

    def _next_word_end(self) -> int:
        """End of the next whitespace-delimited word at the cursor (the span an unfound word stands for)."""
        source, position = self.source, self.cursor
        while position < self.end and source[position].isspace():
            position += 1
        while position < self.end and not source[position].isspace():
            position += 1
        self.cursor = position
        return position

    def code(self, child: Token, offsets: OffsetMap) -> None:
        """A code span keeps its backticks; a span broken over lines is joined."""
        fence = child.markup or "`"
        source = self.source
        opening = source.find(fence, self.cursor, self.end)
        closing = source.find(fence, opening + len(fence), self.end) if opening != -1 else -1
        if closing == -1:
            offsets.add(f"{fence}{child.content}{fence}", self.cursor, self.cursor, False)
            return
        stop = closing + len(fence)
        span = source[opening:stop]
        if "\n" in span or "\r" in span:
            offsets.add(f"{fence}{child.content}{fence}", opening, stop, False)
        else:
            offsets.add(span, opening, stop, True)
        self.cursor = stop
