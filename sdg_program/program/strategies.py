"""The two generation strategies' small decisions: which one a model gets, and for the segment
strategy which segments are asked about and how an answer becomes a pair."""

from __future__ import annotations

from typing import Any

from sdg_program.program.settings import GenerationSettings
from sdg_program.program.validation import content_words
from signatures import HopContext, QAPair, SegmentQA

# Segment strategy: a segment with fewer content words ("**Next:** Your first program") has no fact
# to ask about; every segment the gold set (data/gold) cites has more.
MIN_SEGMENT_CONTENT_WORDS = 8
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


def segment_pair(qa: SegmentQA, segment_id: int) -> QAPair:
    """The single-hop QAPair for a segment strategy answer: its one hop reads the segment and adds the answer."""
    return QAPair(
        query_type=qa.query_type,
        reasoning_type=qa.reasoning_type,
        hop_contexts=[HopContext(hop_number=1, segment_ids=[segment_id], summary=qa.answer)],
        hop_count=1,
        segment_ids=[segment_id],
        question=qa.question,
        answer=qa.answer,
        question_complexity=qa.question_complexity,
    )
