"""The two generation strategies' small decisions: which one a model gets, and for the segment
strategy which segments are asked about, which of their sentences are the facts asked about, and
how a question about a fact becomes a pair."""

from __future__ import annotations

from typing import Any

from sdg_program.program.quality_checks import is_garbled, sentences
from sdg_program.program.settings import GenerationSettings
from sdg_program.program.validation import content_words, is_repetitive
from signatures import HopContext, QAPair, SegmentQuestion

# Segment strategy: a segment with fewer content words ("**Next:** Your first program") has no fact
# to ask about; every segment the gold set (data/gold) cites has more.
MIN_SEGMENT_CONTENT_WORDS = 8
# A fact (a sentence asked about, and the pair's answer) names at least this many content words:
# "Next." or "See below." answers nothing.
MIN_FACT_CONTENT_WORDS = 4
# Temperature of the second and later candidates for a segment (the first is the LM's own setting).
CANDIDATE_TEMPERATURE = 0.8


def strategy_for(lm: Any, settings: GenerationSettings) -> str:
    """The generation strategy: the setting, or for ``auto`` segment with the embedded default model.

    Only the embedded SmolLM2-135M is known to fail the window task (0 valid pairs on the sample
    docs) and to manage the segment one; any other model, local or remote, gets the window strategy,
    which also writes multi-hop pairs.
    """
    if settings.strategy != "auto":
        return settings.strategy
    return "segment" if getattr(lm, "is_embedded_default", False) is True else "window"


def pick_segments(segment_ids: list[int], texts: dict[int, str], count: int) -> list[int]:
    """Up to ``count`` segments worth a question, spread evenly over the window, in order."""
    usable = [segment for segment in segment_ids if len(content_words(texts.get(segment, ""))) >= MIN_SEGMENT_CONTENT_WORDS]
    if len(usable) <= count:
        return usable
    return [usable[(index * len(usable)) // count] for index in range(count)]


def fact_sentences(text: str) -> list[str]:
    """The segment's sentences worth asking about, the richest first (most content words).

    Lines are split first (a chunk's heading sits on its own line), then sentences. A sentence with markup debris or a loop in it (``is_garbled``, ``is_repetitive``) would become a
    garbled answer, so it is left out; so is one with fewer than MIN_FACT_CONTENT_WORDS content
    words. A segment without such a sentence but with enough words as a whole (a list, a table row)
    offers itself, whole, as its one fact. Ties keep the text's order.
    """
    facts = [
        sentence.strip()
        for line in text.splitlines()  # a heading line ("Setting up DSPy") is not part of the next sentence
        for sentence in sentences(line)
        if len(content_words(sentence)) >= MIN_FACT_CONTENT_WORDS and not is_garbled(sentence) and not is_repetitive(sentence)
    ]
    if not facts and len(content_words(text)) >= MIN_FACT_CONTENT_WORDS and not is_garbled(text):
        facts = [text.strip()]
    return sorted(facts, key=lambda sentence: -len(content_words(sentence)))


def segment_pair(qa: SegmentQuestion, segment_id: int, fact: str) -> QAPair:
    """The single-hop QAPair for a question about ``fact``: the fact is the answer, its segment the one hop."""
    return QAPair(
        query_type=qa.query_type,
        reasoning_type=qa.reasoning_type,
        hop_contexts=[HopContext(hop_number=1, segment_ids=[segment_id], summary=fact)],
        hop_count=1,
        segment_ids=[segment_id],
        question=qa.question,
        answer=fact,
        question_complexity=qa.question_complexity,
    )
