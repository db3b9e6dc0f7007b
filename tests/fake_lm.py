"""A scripted LM for unit tests of program logic (never used where the real model can run)."""

from __future__ import annotations

from typing import Any

import dspy
from dspy.utils.dummies import DummyLM

# An input field header only that signature's user message has (DSPy's JSONAdapter and the program's
# CompactJSONAdapter both write inputs as `[[ ## name ## ]]` blocks).
EXTRACT_KEY = "[[ ## max_artifacts_per_type ## ]]"
GENERATE_KEY = "[[ ## num_pairs ## ]]"
JUDGE_KEY = "[[ ## qa_pairs ## ]]"


def artifacts(*names: str) -> dict[str, Any]:
    return {"artifacts": {"key_concepts": [{"text": name, "description": f"about {name}", "importance": "high"} for name in names]}}


def pair(question: str, answer: str, segment_ids: list[int], *, query_type: str = "contextual", hops: list[list[int]] | None = None,
         complexity: int = 3, reasoning_type: str = "factual") -> dict[str, Any]:
    hops = hops or [segment_ids]
    return {
        "query_type": query_type,
        "reasoning_type": reasoning_type,
        "hop_contexts": [{"hop_number": number, "segment_ids": ids, "summary": f"hop {number}"} for number, ids in enumerate(hops, 1)],
        "hop_count": len(hops),
        "segment_ids": segment_ids,
        "question": question,
        "answer": answer,
        "question_complexity": complexity,
    }


def evaluation(index: int, overall: float = 8.0) -> dict[str, Any]:
    score = {"justification": "fine", "score": int(overall)}
    return {"pair_index": index, "relevance": score, "accuracy": score, "context_support": score, "clarity": score,
            "overall": {"assessment": "good", "score": overall}, "improvements": "none"}


def scripted_lm(extract: dict, generate: dict, judge: dict) -> DummyLM:
    """A DummyLM that answers each signature by a key found only in that signature's prompt.

    The generate key is tried first: an inline-extraction call (ExtractAndGenerateQAPairs) has the
    extract key too, and gets the extract reply and the generate reply in one object; a generate
    call that reads artifacts ignores the extra field.
    """
    return DummyLM({GENERATE_KEY: {**extract, **generate}, EXTRACT_KEY: extract, JUDGE_KEY: judge}, adapter=dspy.JSONAdapter())
