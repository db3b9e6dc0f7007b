"""Windows: slices of a row's rendered sections that fit one prompt.

Long rows are cut into windows that fit the model's context, and each window gets its own
question budget, so a long document gets proportionally more questions instead of being
silently truncated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sdg_program.backends.defaults import DEFAULT_MAX_TOKENS
from sdg_program.program.settings import GenerationSettings

# Characters of segments per window when the LM does not say how large its context is.
DEFAULT_WINDOW_CHARS = 24_000
# Prompt tokens reserved for instructions, artifacts and field headers around the segments.
PROMPT_OVERHEAD_TOKENS = 1_500
_SEGMENT_LINE = re.compile(r"^Segment (\d+)\b")


@dataclass
class Window:
    """A slice of a row's sections that fits one prompt."""

    text: str
    segment_ids: list[int]


def make_windows(sections: list[str], window_chars: int) -> list[Window]:
    """Pack rendered sections into windows of at most ``window_chars`` characters.

    Sections stay whole when they fit; a larger section is cut between segment lines
    (its header repeated). A single segment line longer than the window gets a window
    of its own: chunking caps chunk size, so this only happens with tiny windows.
    """
    windows: list[Window] = []
    lines: list[str] = []
    ids: list[int] = []
    size = 0

    def flush() -> None:
        nonlocal lines, ids, size
        if ids:
            windows.append(Window(text="\n".join(lines), segment_ids=ids))
        lines, ids, size = [], [], 0

    for section in sections:
        header, *segment_lines = section.split("\n")
        if size and size + len(section) + 1 > window_chars:
            flush()
        lines.append(header)
        size += len(header) + 1
        for line in segment_lines:
            match = _SEGMENT_LINE.match(line)
            if match is None:
                continue
            if ids and size + len(line) + 1 > window_chars:
                flush()
                lines.append(header)
                size = len(header) + 1
            lines.append(line)
            ids.append(int(match.group(1)))
            size += len(line) + 1
    flush()
    return windows


def cited_text(window: Window, segment_ids: set[int]) -> str:
    """The window's text reduced to the given segments, each under its section header.

    What a judge needs to grade a batch of pairs is the evidence they cite, not the whole window:
    on the sample docs the judge read the whole row to score 14 pairs (16,710 prompt tokens).
    Sections without a cited segment are left out with their headers.
    """
    kept: list[str] = []
    header: str | None = None
    for line in window.text.split("\n"):
        match = _SEGMENT_LINE.match(line)
        if match is None:
            header = line
            continue
        if int(match.group(1)) in segment_ids:
            if header is not None:
                kept.append(header)
                header = None
            kept.append(line)
    return "\n".join(kept)


def window_chars_for(lm: Any, settings: GenerationSettings) -> int:
    """Segment characters per window: the setting, or what fits the LM's context window."""
    if settings.window_chars:
        return settings.window_chars
    context = getattr(lm, "context_window", None)
    if isinstance(context, int) and context > 0:
        max_tokens = int(getattr(lm, "kwargs", {}).get("max_tokens") or DEFAULT_MAX_TOKENS)
        budget_tokens = max(256, context - max_tokens - PROMPT_OVERHEAD_TOKENS)
        return max(500, budget_tokens * 3)  # ~3 characters per token for mixed prose and code
    return DEFAULT_WINDOW_CHARS
