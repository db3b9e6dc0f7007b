"""JudgeQAPairs: segments + rendered pairs -> QAEvaluations (matched back by pair_index)."""

import dspy

from signatures.models import QAEvaluations


class JudgeQAPairs(dspy.Signature):
    """Grade question-answer pairs written to train a search engine, using only the segments.

    Write one evaluation per pair and copy its pair_index. Give each criterion a justification,
    then a score from 1 to 10:
    - relevance: 10 = a natural, standalone search query about something that matters in the
      segments; 5 = answerable but vague, trivial or awkward; 1 = off-topic, or it refers to the
      source ("the context", "the document", "the passage", "the text", "the author", "segment N").
    - accuracy: 10 = the answer is fully correct per the segments; 5 = partly correct or incomplete;
      1 = wrong, or states facts the segments do not contain.
    - context_support: 10 = the cited segment_ids contain everything the answer needs and nothing
      irrelevant; 5 = a needed segment is missing or an unneeded one is cited; 1 = the cited
      segments do not support the answer. A multi_hop pair that one segment alone answers gets 3
      or less.
    - clarity: 10 = clear and unambiguous on its own; 5 = understandable but vague; 1 = confusing.
    - overall: 1 to 10, whether this pair should train a search engine; low if any criterion is low.
    - improvements: one concrete fix, or "none".
    """

    segments: str = dspy.InputField(
        desc="The source, one segment per line: `Segment N [Doc: name]: text`. N is the segment ID."
    )
    qa_pairs: str = dspy.InputField(
        desc="The pairs to grade, each headed by its pair_index, with its cited segment_ids and hops."
    )
    evaluations: QAEvaluations = dspy.OutputField(desc="One evaluation per pair, each with its pair_index.")
