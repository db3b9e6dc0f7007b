"""GenerateQAPairs: segments + artifacts + requested mix -> QAPairs; ExtractAndGenerateQAPairs: segments + mix -> artifacts, then QAPairs."""

import dspy

from signatures.models import DocumentArtifacts, QAPairs


# No example question in the instructions: SmolLM2-135M copied the old one ("how does the pump
# cooling loop prevent overheating at full load") into its pairs. Same for copyable field descriptions.
class GenerateQAPairs(dspy.Signature):
    """Write question-answer pairs that teach a search engine which segments answer which queries.

    Each question is a query a user would type into a search box: standalone, asking for one
    thing, naming its subject with words the segments use. Never refer to the source: no "the
    context", "the document", "the passage", "the text", "the author" or "segment N".

    For each pair:
    - segment_ids: exactly the segments needed to answer, no more and no fewer; these are the
      results the search engine must return.
    - answer: copied or closely paraphrased from the cited segments; only facts stated there.
    - query_type: multi_hop (needs facts from min_hops to max_hops different segments, one per hop;
      no single segment answers it), structural (how ideas relate: comparison, hierarchy, part and
      whole) or contextual (needs background from nearby segments).
    - reasoning_type: factual, relational, inferential, temporal, procedural, causal or visual.
    - hop_contexts: one entry per hop, numbered from 1, with the segments it reads and a summary of
      the fact found there. Only multi_hop questions have several hops, each on different segments;
      other questions have exactly one hop. hop_count is the number of hops, and segment_ids is the
      union of the hops' segment_ids.
    - question_complexity: 1 (simple lookup) to 5 (deep synthesis), at least min_complexity.
    Each pair asks about a different fact. Write num_pairs pairs, matching query_counts and
    reasoning_counts.
    """

    # The segments come last, right before the answer: a small model writes about what it read last
    # (SmolLM2-135M wrote about the counts and hop limits when they followed the segments).
    artifacts: str = dspy.InputField(desc="Key facts already extracted from the segments, grouped by kind.")
    num_pairs: int = dspy.InputField(desc="How many pairs to write.")
    query_counts: dict[str, int] = dspy.InputField(desc="How many pairs of each query_type.")
    reasoning_counts: dict[str, int] = dspy.InputField(desc="How many pairs of each reasoning_type.")
    min_hops: int = dspy.InputField(desc="Fewest hops for a multi_hop question.")
    max_hops: int = dspy.InputField(desc="Most hops for a multi_hop question.")
    min_complexity: int = dspy.InputField(desc="Lowest allowed question_complexity.")
    segments: str = dspy.InputField(
        desc="The source, one segment per line: `Segment N [Doc: name]: text`. N is the segment ID to cite."
    )
    qa_pairs: QAPairs = dspy.OutputField(desc="The pairs, each citing its evidence segments.")


# What ExtractArtifacts asks for, said as the first step of the generate call (`--extract inline`).
_EXTRACT_STEP = """First, in `artifacts`, list the facts a question writer needs: for each kind up to
max_artifacts_per_type of the most important items, each with its text (named as in the
segments), a description (what the segments say about it) and its importance. Use only what the
segments state; leave a kind empty rather than invent items; when segments come from several
documents ([Doc: ...]), include relationships that connect them. Then write the pairs from them.

"""


# GenerateQAPairs without the artifacts input, which this call writes itself as its first output:
# the document is read once instead of twice (ExtractArtifacts, then GenerateQAPairs).
_INLINE_FIELDS = (
    GenerateQAPairs.delete("artifacts")
    .prepend("max_artifacts_per_type", dspy.InputField(desc="Most artifact items to list for each kind."), int)
    .insert(0, "artifacts", dspy.OutputField(desc="The extracted items, grouped by kind; empty lists for kinds the segments lack."), DocumentArtifacts)
)


class ExtractAndGenerateQAPairs(_INLINE_FIELDS):
    __doc__ = _EXTRACT_STEP + GenerateQAPairs.instructions  # GenerateQAPairs' instructions, the extract step first
