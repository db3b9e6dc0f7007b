"""The word model every deterministic check shares: tokens, stopwords, the task's own vocabulary.

Validation (``validation.py``) and the quality checks (``quality_checks.py``) must agree on what a
"content word" is, or one would call a question grounded that the other calls empty. Both take
their words from here.
"""

from __future__ import annotations

import re

# Numbers stay whole ("5.1", "97,524"): split into digits, a parroted "5.1" matched any text with a 5 and a 1.
WORD = re.compile(r"\d+(?:[.,]\d+)*|[A-Za-z0-9_]+|[^\sA-Za-z0-9_\W]")
STOPWORDS: frozenset[str] = frozenset(
    """
    a an and are as at be by can could did do does for from had has have how i if in into is it its
    of on or so such than that the their them then there these they this to was were what when where
    which who whom whose why will with would you your yes no not also about over under more most
    other some any each only own same very just should may might must one two use used using
    """.split()
)

# The task's own vocabulary: the words of the instructions, the schema and the type labels. A weak
# model echoes them ("How do you know the answer to the question is a factual answer?"), and since
# most documents contain "answer" or "question" somewhere, they would count as grounding. They are
# never evidence that a pair is about its segments, so the support measures ignore them.
PROMPT_WORDS: frozenset[str] = frozenset(
    """
    question questions answer answers answered fact facts segment segments hop hops
    multi_hop factual structural contextual relational inferential temporal procedural causal visual
    """.split()
)


def words(text: str) -> list[str]:
    """Lower-cased word tokens in order (numbers whole, single CJK characters as words)."""
    return [match.lower() for match in WORD.findall(text)]


def content_words(text: str) -> set[str]:
    """Lower-cased word tokens without stopwords; single CJK characters count as words."""
    return {token for token in words(text) if token not in STOPWORDS}


def answer_support(answer: str, cited_texts: list[str]) -> float:
    """Share of the text's content words that appear in the cited segments (0.0 for a text without any).

    The task's own words (PROMPT_WORDS) are not counted: they ground nothing.
    """
    found = content_words(answer) - PROMPT_WORDS
    if not found:
        return 0.0
    available = content_words(" ".join(cited_texts))
    return len(found & available) / len(found)
