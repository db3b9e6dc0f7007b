"""GenerateQAPairs: segments + artifacts + requested mix -> QAPairs."""

import dspy

from signatures.models import QAPairs


class GenerateQAPairs(dspy.Signature):
    """Write question-answer pairs that train a search engine to find the right segments.

    Each question is a search query a real user would type into a search box: standalone, natural
    and specific, naming its actual subject. Never refer to the source: no "the context", "the
    document", "the passage", "the text", "the author" or "segment N".
    Bad: "What does the passage say about the cooling loop?"
    Good: "how does the pump cooling loop prevent overheating at full load"

    For each pair:
    - answer: correct and complete, using only facts stated in the cited segments.
    - segment_ids: exactly the segments needed to answer, no more and no fewer; these are the
      results the search engine must return.
    - query_type: multi_hop (combines facts from min_hops to max_hops different segments; no single
      segment answers it), structural (how ideas relate: comparison, hierarchy, part and whole) or
      contextual (needs background from nearby segments).
    - reasoning_type: factual (synthesis of stated facts), relational (compare or connect),
      inferential (what is implied), temporal (order or change over time), procedural (steps),
      causal (why, what follows) or visual (figures, tables, layout described in the text).
      query_type and reasoning_type are separate lists; never swap their values.
    - hop_contexts: one entry per hop, numbered from 1, each with the segments it reads and the fact
      it adds. A multi_hop question needs every hop and each hop uses different segments. Other
      questions have exactly one hop. hop_count is the number of hops, and segment_ids is the
      union of the hops' segment_ids.
    - question_complexity: 1 (simple lookup) to 5 (deep synthesis), at least min_complexity.
    Write num_pairs distinct pairs, matching query_counts and reasoning_counts.
    """

    segments: str = dspy.InputField(
        desc="The source, one segment per line: `Segment N [Doc: name]: text`. N is the segment ID to cite."
    )
    artifacts: str = dspy.InputField(desc="Key facts already extracted from the segments, grouped by kind.")
    num_pairs: int = dspy.InputField(desc="How many pairs to write.")
    query_counts: dict[str, int] = dspy.InputField(desc="How many pairs of each query_type.")
    reasoning_counts: dict[str, int] = dspy.InputField(desc="How many pairs of each reasoning_type.")
    min_hops: int = dspy.InputField(desc="Fewest hops for a multi_hop question.")
    max_hops: int = dspy.InputField(desc="Most hops for a multi_hop question.")
    min_complexity: int = dspy.InputField(desc="Lowest allowed question_complexity.")
    qa_pairs: QAPairs = dspy.OutputField(desc="The pairs, each citing its evidence segments.")
