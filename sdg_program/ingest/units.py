"""The unit model every markup parser produces and chunking consumes.

A *unit* is the smallest piece chunking counts and never splits on its own: a heading,
a sentence, a code block or a table. Each keeps the ``[start, end)`` character span it
came from in the decoded source file, so a chunk built from units can point back to the
exact place in the file. It lives in its own module so the per-format parsers
(``markdown_units``, ``rst_units``) and the dispatcher (``markup``) share it without
importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

UnitKind = Literal["heading", "sentence", "code", "table"]
Markup = Literal["markdown", "mdx", "rst", "plain"]

# Level given to the titles of admonitions, pymdown blocks and content tabs: they title
# what follows them, like a heading, but rank below every real heading.
BLOCK_TITLE_LEVEL = 6


@dataclass(frozen=True)
class Unit:
    """One indivisible piece of a document, with its span in the source text."""

    kind: UnitKind
    text: str
    start: int
    end: int
    level: int = 0  # heading level (1 = top); 0 for other kinds
