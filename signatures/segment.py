"""WriteSegmentQA: one segment in, one question with its answer and labels out.

The task of GenerateQAPairs (a window of segments in, a mix of single- and multi-hop pairs out,
each citing its evidence) is beyond a 135M-parameter model: SmolLM2-135M wrote off-topic questions,
copied examples or looped, and no pair of the quickstart passed validation. Asked about one
segment at a time, in a short prompt, it writes a usable pair for about half of the segments
within four tries (README.md, "Two commands for a fresh machine"). The program chooses the segment, so the evidence
and the hop structure are known rather than written by the model: this signature makes single-hop
pairs only.
"""

from functools import lru_cache
from typing import Literal

import dspy
from pydantic import Field, create_model

from signatures.models import MAX_COMPLEXITY, Complexity, QueryType, ReasoningType, _Contract

# Short caps: a search query, and an answer of a sentence or two. The grammar enforces them, so a
# looping model stops instead of running into max_tokens.
MAX_SEGMENT_QUESTION_CHARS = 150
MAX_SEGMENT_ANSWER_CHARS = 300


class SegmentQA(_Contract):
    """A search query about one segment, its answer from that segment, and its labels."""

    question: str = Field(max_length=MAX_SEGMENT_QUESTION_CHARS)
    answer: str = Field(max_length=MAX_SEGMENT_ANSWER_CHARS)
    query_type: Literal[QueryType.STRUCTURAL, QueryType.CONTEXTUAL]
    reasoning_type: ReasoningType
    question_complexity: Complexity


# Plain words, the task last in the system message and nothing about JSON: under a grammar the
# model cannot write anything but the schema's keys, and every extra line of prompt is something a
# small model may copy. DSPy's own field-structure preamble made SmolLM2-135M loop ("The answer to
# the question is: ...") on 16 of 16 segments; this prompt, rendered by PlainPromptAdapter, did not.
# The labels are not explained: a sentence about them ("1 simple lookup to 5 deep synthesis") came
# back as the question; the grammar asks for them by key, after the question and answer are written.
class WriteSegmentQA(dspy.Signature):
    """Write a question that a reader of this text can answer, and its answer from the text. Use the words of the text. Do not copy a sentence."""

    text: str = dspy.InputField()
    qa: SegmentQA = dspy.OutputField()


# A question word, then one line without quotes, backslashes or a second "?", then "?". Under the
# grammar SmolLM2-135M otherwise wrote the segment's heading or first sentence as the "question"
# (6 of the 14 rejected pairs of the quickstart were copies, 4 more were a bare name like "DSPy").
# Keyword queries ("difference between dspy.configure and dspy.context") are real search queries,
# so only grammar-decoded calls get this shape (the program applies narrowed types to those calls
# only); API models keep SegmentQA's free-text field.
INTERROGATIVE_QUESTION = r'^(What|How|Which|Why|When|Where|Who) [^"\\\n?]{10,130}\?$'


def narrow_segment_qa(min_complexity: int) -> type[SegmentQA]:
    """SegmentQA whose complexity is one of min_complexity..5 and whose question is shaped like
    INTERROGATIVE_QUESTION: the type of a grammar-decoded call.

    The window prompt asks for "at least min_complexity" and the validation step rejects lower
    values; here the grammar offers only the allowed ones, as it offers only existing segment IDs.
    The label stays the model's choice among them.
    """
    return _narrow_segment_qa(max(1, min(min_complexity, MAX_COMPLEXITY)))


@lru_cache(maxsize=MAX_COMPLEXITY)
def _narrow_segment_qa(min_complexity: int) -> type[SegmentQA]:
    allowed = Literal[tuple(range(min_complexity, MAX_COMPLEXITY + 1))]
    return create_model(
        "SegmentQA",
        __base__=SegmentQA,
        __doc__=SegmentQA.__doc__,
        question=(str, Field(max_length=MAX_SEGMENT_QUESTION_CHARS, pattern=INTERROGATIVE_QUESTION)),
        question_complexity=(allowed, Field()),
    )
