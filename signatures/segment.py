"""WriteSegmentQA: one fact of a segment in, a question that the fact answers (with its labels) out.

The task of GenerateQAPairs (a window of segments in, a mix of single- and multi-hop pairs out,
each citing its evidence) is beyond a 135M-parameter model: SmolLM2-135M wrote off-topic questions,
copied examples or looped, and no pair of the quickstart passed validation. So the segment strategy
splits the work. The program chooses the segment and, in it, the sentence that will be the answer
(the *fact*, see ``sdg_program.program.strategies.fact_sentences``); the model only writes the
question that the fact answers, and its labels. Evidence, hop structure and answer are therefore
known rather than written: this signature makes single-hop pairs with extractive answers.

Measured on ``data/sample_docs`` (15 segments, up to 4 candidates each, bench/bench_embedded.py):
asked for a question *and* an answer from the whole segment, the model wrote 3 valid pairs in 53
calls (unsupported answers, loops into the length cap); asked about one fact it wrote 14 in 27
calls, with a quarter of the completion tokens. Shown the whole segment next to the fact it answered
"What is the answer to the question: ..." instead, so the fact is the only input.
"""

from functools import lru_cache
from typing import Literal

import dspy
from pydantic import Field, create_model

from signatures.models import MAX_COMPLEXITY, Complexity, QueryType, ReasoningType, _Contract

# A search query is short; the grammar enforces the cap, so a looping model stops instead of
# running into max_tokens.
MAX_SEGMENT_QUESTION_CHARS = 150


class SegmentQuestion(_Contract):
    """A search query that one fact of a segment answers, and its labels."""

    question: str = Field(max_length=MAX_SEGMENT_QUESTION_CHARS)
    query_type: Literal[QueryType.STRUCTURAL, QueryType.CONTEXTUAL]
    reasoning_type: ReasoningType
    question_complexity: Complexity


# Plain words and nothing about JSON: under a grammar the model cannot write anything but the
# schema's keys, and every extra line of prompt is something a small model may copy. DSPy's own
# field-structure preamble made SmolLM2-135M loop on 16 of 16 segments; this prompt, rendered by
# PlainPromptAdapter, did not. The labels are not explained: a sentence about them came back as the
# question; the grammar asks for them by key, after the question is written.
class WriteSegmentQA(dspy.Signature):
    """Ask a question that this fact answers."""

    fact: str = dspy.InputField()
    qa: SegmentQuestion = dspy.OutputField()


# A question word, then one line without quotes, backslashes or a second "?", then "?". Under the
# grammar SmolLM2-135M otherwise wrote the segment's heading or first sentence as the "question"
# (6 of the 14 rejected pairs of an earlier quickstart were copies, 4 more were a bare name like
# "DSPy"). Keyword queries ("difference between dspy.configure and dspy.context") are real search
# queries, so only grammar-decoded calls get this shape (the program applies narrowed types to
# those calls only); API models keep SegmentQuestion's free-text field.
INTERROGATIVE_QUESTION = r'^(What|How|Which|Why|When|Where|Who) [^"\\\n?]{10,130}\?$'


# Reasoning types a question about one sentence of text can have: not `visual` (no figure is shown;
# SmolLM2-135M chose it for 3 of 14 text questions of the sample docs when it was offered).
TEXT_REASONING_TYPES = tuple(kind for kind in ReasoningType if kind is not ReasoningType.VISUAL)


def narrow_segment_qa(min_complexity: int) -> type[SegmentQuestion]:
    """SegmentQuestion whose complexity is one of min_complexity..5, whose reasoning type is one of
    TEXT_REASONING_TYPES and whose question is shaped like INTERROGATIVE_QUESTION: the type of a
    grammar-decoded call.

    The window prompt asks for "at least min_complexity" and the validation step rejects lower
    values; here the grammar offers only the allowed ones, as it offers only existing segment IDs.
    The label stays the model's choice among them.
    """
    return _narrow_segment_qa(max(1, min(min_complexity, MAX_COMPLEXITY)))


@lru_cache(maxsize=MAX_COMPLEXITY)
def _narrow_segment_qa(min_complexity: int) -> type[SegmentQuestion]:
    allowed = Literal[tuple(range(min_complexity, MAX_COMPLEXITY + 1))]
    return create_model(
        "SegmentQuestion",
        __base__=SegmentQuestion,
        __doc__=SegmentQuestion.__doc__,
        question=(str, Field(max_length=MAX_SEGMENT_QUESTION_CHARS, pattern=INTERROGATIVE_QUESTION)),
        question_complexity=(allowed, Field()),
        reasoning_type=(Literal[TEXT_REASONING_TYPES], Field()),
    )
