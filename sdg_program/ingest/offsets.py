"""Cleaned text that remembers where each of its characters came from in the source.

Parsers drop syntax (link brackets, tags, emphasis markers) and join soft line breaks,
so the text of a unit is not a slice of the source. :class:`OffsetMap` records the
cleaned text as pieces, each tied to a source span, and maps any cleaned position back
to a source offset: that is what keeps ``char_start``/``char_end`` of a chunk pointing
into the decoded file, whatever the parser removed.
"""

from __future__ import annotations

import bisect
import re


class OffsetMap:
    """Maps positions in cleaned text back to positions in the source text.

    Cleaned text is a sequence of pieces; a verbatim piece is a copy of a source span,
    a replaced piece (a joined line break, an unescaped character) stands for a source
    span of another length.
    """

    __slots__ = ("parts", "clean_starts", "source_starts", "source_ends", "verbatim", "length")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.clean_starts: list[int] = []
        self.source_starts: list[int] = []
        self.source_ends: list[int] = []
        self.verbatim: list[bool] = []
        self.length = 0

    def add(self, text: str, source_start: int, source_end: int, verbatim: bool) -> None:
        """Append ``text``, which stands for ``source[source_start:source_end]``.

        A run of spaces never follows another: a piece starting with a space after text
        ending with one loses its leading spaces (dropped syntax often leaves two).
        """
        if not text:
            return
        if self.length and text[0] == " " and self.parts[-1][-1] in " \n":
            stripped = text.lstrip(" ")
            if verbatim:
                source_start += len(text) - len(stripped)
            text = stripped
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

    def without(self, removals: list[tuple[int, int]]) -> OffsetMap:
        """A map of the cleaned text with the sorted, disjoint ``[start, end)`` ranges removed."""
        result = OffsetMap()
        cut = 0
        for index, part in enumerate(self.parts):
            piece_start = self.clean_starts[index]
            piece_end = piece_start + len(part)
            position = piece_start
            while cut < len(removals) and removals[cut][1] <= position:
                cut += 1
            probe = cut
            while position < piece_end:
                if probe < len(removals) and removals[probe][0] <= position:
                    position = max(position, removals[probe][1])
                    probe += 1
                    continue
                stop = min(piece_end, removals[probe][0]) if probe < len(removals) else piece_end
                text = part[position - piece_start : stop - piece_start]
                if self.verbatim[index]:
                    offset = self.source_starts[index] + (position - piece_start)
                    result.add(text, offset, offset + len(text), True)
                else:
                    result.add(text, self.source_starts[index], self.source_ends[index], False)
                position = stop
        return result

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


_LINE_BREAK = re.compile(r"\r\n?|\n")


def line_starts(source: str) -> list[int]:
    """Offset of the first character of every line, plus ``len(source)`` as a sentinel.

    Lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r``, as markdown-it counts them, so
    line ``i`` of a token map is ``source[starts[i]:starts[i + 1]]``.
    """
    if "\r" in source:
        starts = [0] + [match.end() for match in _LINE_BREAK.finditer(source)]
    else:
        starts = [0]
        find = source.find
        position = find("\n")
        while position != -1:
            starts.append(position + 1)
            position = find("\n", position + 1)
    if starts[-1] != len(source):
        starts.append(len(source))
    return starts
