"""Content checks that catch what the embedded model writes and the older checks let through.

With the default 135M model the judge carries no signal, so deterministic checks are the filter.
The first ones (``validation.py``) ask whether a pair shares enough words with its segments; the
pairs that passed them anyway were junk of a few recognisable kinds, each caught here:

- **garbled text**: markup debris and symbol runs from a model that lost its way inside a code
  block ("... the next section? {&ququre} {&qure}"), brackets that open and never close, a
  sentence cut off before its question mark ("... that will help you, ?");
- **generic questions**: "What is the next section about?" shares "section" with any document,
  yet names nothing a searcher could look for;
- **one-passage "multi-hop"**: a pair labelled multi_hop whose question and answer one hop's
  segments hold entirely, while the other hops add (almost) nothing to them.

And one rule makes a good kind of pair pass: a yes/no answer has no content words to look up, so
it is judged by the question instead (see :func:`yes_no_support`).

Every function here is pure and works on plain strings, so each check can be tested, measured
(``bench/bench_quality.py``) and switched off (``ValidationSettings.disabled_checks``) on its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sdg_program.program.words import PROMPT_WORDS, content_words, words

# --------------------------------------------------------------------------------------------
# Garbled text
# --------------------------------------------------------------------------------------------

# Markup that no query or answer types: HTML/XML tags, entities, template and wiki brackets,
# chat-template tokens, escaped newlines, a bracket followed by a symbol ("{&ququre}"), the
# Unicode replacement character and control characters.
_MARKUP = re.compile(
    r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]{0,60})?/?>"
    r"|&(?:[a-z]{2,8}|#\d{2,5});"
    r"|\{\{|\}\}|\[\[|\]\]"
    r"|<\||\|>"
    r"|[{<]\s*[&\\%|$@^~]"
    r"|\\[nrt]\b"
    r"|\ufffd"
    r"|[\x00-\x08\x0b\x0c\x0e-\x1f]"
)
# Three or more symbols of the kind that is neither punctuation nor a bracket in a row ("#$%", "-->",
# "/*@"), or one mark three times ("***", "???", ",,,"). Code in gold answers keeps to brackets and
# punctuation ('dspy.context(adapter=dspy.JSONAdapter()):'), which the bracket check covers instead.
_SYMBOL_RUN = re.compile(r"[#$%&*+<=>@\\^|~/`-]{3,}|[?!]{3,}|([^\w\s.()\[\]{}])\1{2,}")
_BRACKETS = {")": "(", "]": "[", "}": "{"}
# A sentence cut off before its question mark: a comma, an article or a conjunction right before
# the "?" ("... will help you, ?", "... and ?"). A stranded preposition is English ("Who did she
# marry into?") and is not counted.
# A list number after a comma is cut off too ("... for easy loading by a web browser, 2?").
_CUT_OFF = re.compile(r"(?:[,;:]|[,;:]\s*\d{1,2}|\b(?:a|an|the|and|or|but|nor|while|whose|its|their|your|our|my))\s*\?\s*$", re.IGNORECASE)
# Punctuation marks with only a space between them ("... der Stadt? ,"): a sentence that came apart.
_STRAY_PUNCTUATION = re.compile(r"[?!,;:]\s+[?!,;:](?!\w)")


def brackets_balanced(text: str) -> bool:
    """True if every (, [ and { closes, in order, and nothing closes that did not open."""
    stack: list[str] = []
    for character in text:
        if character in "([{":
            stack.append(character)
        elif character in _BRACKETS:
            if not stack or stack.pop() != _BRACKETS[character]:
                return False
    return not stack


def garbled_parts(text: str) -> list[str]:
    """What makes the text garbled: 'markup', 'symbol_run', 'unbalanced_brackets', 'cut_off' (empty if clean)."""
    found = []
    if _MARKUP.search(text):
        found.append("markup")
    if _SYMBOL_RUN.search(text):
        found.append("symbol_run")
    if not brackets_balanced(text):
        found.append("unbalanced_brackets")
    if _CUT_OFF.search(text) or _STRAY_PUNCTUATION.search(text):
        found.append("cut_off")
    return found


def is_garbled(text: str) -> bool:
    """True if the text holds markup debris, a run of symbols, unbalanced brackets or is cut off before its "?"."""
    return bool(garbled_parts(text))


# --------------------------------------------------------------------------------------------
# Generic questions
# --------------------------------------------------------------------------------------------

# Words that fit a question about any document: its parts, its purpose, what it "says".
# A question made only of these (and stopwords) is about nothing a searcher could name.
GENERIC_WORDS: frozenset[str] = frozenset(
    """
    next previous following preceding section sections chapter chapters paragraph paragraphs page pages
    topic topics main idea ideas purpose point points overview summary summarize summarise
    describe described describes description explain explained explains explanation discuss discussed discusses
    mention mentioned mentions say says said mean means meaning talk talks talked
    text texts passage document documents content contents information thing things something important
    """.split()
)
# A question must name at least this many specific words that its segments contain. Every gold
# question (data/gold) names at least 1 (most name 2 or more); "What is the next section about?" names none.
MIN_SPECIFIC_WORDS = 1


def specific_words(question: str, cited_texts: Sequence[str]) -> set[str]:
    """The question's content words that are neither generic nor the task's own, found in the segments."""
    own = content_words(question) - PROMPT_WORDS - GENERIC_WORDS
    return own & content_words(" ".join(cited_texts))


def is_generic_question(question: str, cited_texts: Sequence[str], min_specific: int = MIN_SPECIFIC_WORDS) -> bool:
    """True if the question names fewer than ``min_specific`` specific words of its segments."""
    return len(specific_words(question, cited_texts)) < min_specific


# --------------------------------------------------------------------------------------------
# Yes/no questions
# --------------------------------------------------------------------------------------------

# A question that opens with one of these asks for yes or no ("Were Scott Derrickson and Ed Wood
# of the same nationality?").
YES_NO_OPENERS: frozenset[str] = frozenset(
    "is are was were am be do does did can could has have had will would should shall may might must isn aren wasn weren don doesn didn".split()
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
# A stop after one of these (or after an initial) does not end a sentence: "Mr. Cool", "Harris W. Fawell".
_ABBREVIATIONS = frozenset("mr mrs ms dr st jr sr mt vs no co inc ltd prof gen col lt sgt rev fr ft".split())


def sentences(text: str) -> list[str]:
    """The text's sentences: split after . ! ? before a capital, but not after an initial or a title."""
    merged: list[str] = []
    for part in _SENTENCE_END.split(text.strip()):
        if merged and merged[-1].endswith(".") and _is_abbreviation(merged[-1].rstrip(".").rsplit(maxsplit=1)[-1]):
            merged[-1] = f"{merged[-1]} {part}"
        elif part.strip():
            merged.append(part)
    return merged


def _is_abbreviation(token: str) -> bool:
    return len(token) == 1 or "." in token or token.lower() in _ABBREVIATIONS


_YES_NO_ANSWER = re.compile(r"^\s*(yes|no)\s*[.!]?\s*$", re.IGNORECASE)
# A name, a number or a quoted title: what a yes/no question asks about.
_ENTITY = re.compile(r"\"[^\"]+\"|“[^”]+”|\b[A-Z][\w'.-]*|\d+(?:[.,]\d+)*")


def is_yes_no_answer(answer: str) -> bool:
    """True if the answer is just "yes" or "no" (any case, an optional full stop)."""
    return _YES_NO_ANSWER.match(answer) is not None


def asks_yes_no(question: str) -> bool:
    """True if the question (its last sentence) opens with an auxiliary verb (Is/Are/Was/Did/Can/Has/...).

    The last sentence, because a question may set the scene first: "The director Armando Iannucci
    has an OBE. Does the director Puneet Sira also have one?"
    """
    parts = sentences(question)
    tokens = words(parts[-1]) if parts else []
    return bool(tokens) and tokens[0] in YES_NO_OPENERS


_INTERROGATIVES = frozenset("how what why when where which who whom whose".split())


def runs_questions_together(question: str) -> bool:
    """True if the question is two questions, the first without its "?".

    "How to compose a custom Module that decomposes a task. How to write a Module?" asks two
    things. A scene set before the question ("Little Caesars and Pizza Hut were founded in the
    1950s. Which was the first to serve pizza?") does not: its first sentence is no question.
    """
    parts = sentences(question)
    first = words(parts[0]) if parts else []
    return len(parts) >= 2 and bool(first) and first[0] in _INTERROGATIVES


def question_entities(question: str) -> set[str]:
    """Content words of the names, numbers and quoted titles the question mentions (not its first word).

    A question without any (all lower case) falls back to all of its content words.
    """
    first = re.match(r"\s*\S+", question)
    rest = question[first.end() :] if first else question
    named = content_words(" ".join(_ENTITY.findall(rest))) - PROMPT_WORDS
    return named or (content_words(question) - PROMPT_WORDS)


def yes_no_support(question: str, answer: str, cited_texts: Sequence[str]) -> float | None:
    """Support of a bare yes/no answer: the share of the question's entities found in the segments.

    None when the answer is not a bare yes/no (the usual answer support applies). A yes/no answer
    to a question that does not ask for one ("What is X?" -> "Yes") is not supported at all (0.0).
    """
    if not is_yes_no_answer(answer):
        return None
    if not asks_yes_no(question):
        return 0.0
    entities = question_entities(question)
    if not entities:
        return 0.0
    available = content_words(" ".join(cited_texts))
    return len(entities & available) / len(entities)


# --------------------------------------------------------------------------------------------
# One segment answers a "multi-hop" question
# --------------------------------------------------------------------------------------------

# Another hop must share more than this many of the pair's words for the pair to stay multi-hop
# when one hop already holds all of them (see sufficing_hop).
MAX_OTHER_HOP_WORDS = 1


def sufficing_hop(question: str, answer: str, hop_texts: Sequence[Sequence[str]], max_other_words: int = MAX_OTHER_HOP_WORDS) -> int | None:
    """The 1-based hop that answers the pair alone, or None.

    ``hop_texts`` holds, per hop, the texts of its segments. A hop answers alone when its segments
    state every content word of the answer, hold every word of the question that the pair's
    segments hold at all, and no other hop shares more than ``max_other_words`` of the pair's
    words: the other hops then neither bridge to the answer nor name one of the things compared.
    Needs at least two hops.
    """
    if len(hop_texts) < 2:
        return None
    answer_words = content_words(answer) - PROMPT_WORDS
    pair_words = (content_words(question) - PROMPT_WORDS) | answer_words
    per_hop = [pair_words & content_words(" ".join(texts)) for texts in hop_texts]
    grounded = set().union(*per_hop)
    for index, hop_words in enumerate(per_hop):
        others = [len(words_of_other) for other, words_of_other in enumerate(per_hop) if other != index]
        if answer_words <= hop_words and hop_words == grounded and max(others) <= max_other_words:
            return index + 1
    return None
