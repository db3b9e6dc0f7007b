"""ExtractArtifacts: document segments -> DocumentArtifacts."""

import dspy

from signatures.models import DocumentArtifacts


class ExtractArtifacts(dspy.Signature):
    """Extract the facts a question writer needs from document segments.

    For each kind (key concepts, relationships, themes, entities, processes, insights, technical terms,
    contextual factors) list up to `max_artifacts_per_type` of the most important items. Each item has:
    - text: the item itself, named as in the segments;
    - description: what the segments say about it;
    - importance: why it matters.
    Use only what the segments state. Leave a kind empty rather than invent items.
    When segments come from several documents ([Doc: ...]), include relationships that connect the documents.
    """

    document: str = dspy.InputField(
        desc="The document's segments, one per line: `Segment N [Doc: name]: text`."
    )
    max_artifacts_per_type: int = dspy.InputField(desc="Most items to list for each kind.")
    artifacts: DocumentArtifacts = dspy.OutputField(
        desc="The extracted items, grouped by kind; empty lists for kinds the segments lack."
    )
