"""Offline, rule-based sentence splitting.

NLTK's Punkt needs a data download that is impossible here (and the reference tool
fails without it), so we split with explicit rules instead:

* a sentence ends at ``.``, ``!``, ``?``, ``…`` or an ellipsis, optionally followed by
  closing quotes or brackets, when whitespace follows and the next word does not start
  in lower case;
* known abbreviations (``e.g.``, ``Dr.``, ``Fig.``), single-letter initials and
  numbered-list markers never end a sentence;
* CJK full stops (``。！？``) end a sentence with no whitespace needed.

The splitter never rewrites text: every sentence is a span ``text[start:end]`` of its
input, so punctuation and quotes survive exactly.
"""

from __future__ import annotations

import re

# Lower-cased abbreviations (without the final period) that do not end a sentence.
ABBREVIATIONS: frozenset[str] = frozenset(
    """
    e.g i.e etc vs cf al approx dept est fig figs eq eqs ref refs sec no nos vol vols
    pp p ch chap ed eds max min mr mrs ms dr prof sr jr st mt inc ltd co corp jan feb
    mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun u.s u.k a.m p.m
    ph.d resp approx incl excl misc op viz
    """.split()
)

_CLOSERS = "\"'”’)]}»"
_OPENERS = "\"'“‘([{«¿¡*_`"

# A candidate boundary: terminal punctuation run, optional closers, then whitespace.
_BOUNDARY = re.compile(
    r"(?:\.{3}|…|[.!?]+)[" + re.escape(_CLOSERS) + r"]*(?=\s+)"
    r"|[。！？]+[" + re.escape(_CLOSERS) + r"」』]*"
)
_WORD_BEFORE = re.compile(r"([\w.\-]+)$")


def _ends_with_abbreviation(text: str, period_index: int) -> bool:
    """True if the period at ``period_index`` closes an abbreviation or an initial."""
    match = _WORD_BEFORE.search(text, 0, period_index)
    if not match:
        return False
    word = match.group(1).lower().strip(".")
    if not word:
        return False
    if word in ABBREVIATIONS:
        return True
    # Single-letter initials ("J. Smith") and dotted acronyms ("U.S.").
    if len(word) == 1 and word.isalpha():
        return True
    if re.fullmatch(r"(?:[a-z]\.)+[a-z]", word):
        return True
    return False


def _next_word_allows_break(text: str, position: int) -> bool:
    """Whether the text after a candidate boundary can start a new sentence."""
    rest = text[position:].lstrip()
    if not rest:
        return True
    first = rest.lstrip(_OPENERS)[:1] or rest[:1]
    if first.islower():
        return False
    return True


def split_sentence_spans(text: str) -> list[tuple[int, int]]:
    """Return ``(start, end)`` spans of the sentences in ``text``.

    Whitespace between sentences belongs to no span; the spans cover every other
    character, in order.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    length = len(text)
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        token = match.group(0)
        is_cjk = token[0] in "。！？"
        if not is_cjk:
            if token.startswith(".") and not token.startswith("...") and len(token.rstrip(_CLOSERS)) == 1:
                if _ends_with_abbreviation(text, match.start()):
                    continue
                # "1." or "a)" style markers at the start of a sentence are list numbering.
                if re.fullmatch(r"\s*\d{1,3}", text[start:match.start()]):
                    continue
            if not _next_word_allows_break(text, end):
                continue
        _append_span(text, start, end, spans)
        start = end
    if start < length:
        _append_span(text, start, length, spans)
    return spans


def _append_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences, keeping the original characters."""
    return [text[start:end] for start, end in split_sentence_spans(text)]
