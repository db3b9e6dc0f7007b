"""Pure text renderers for the string inputs of the signatures.

The signatures take plain strings for segments, artifacts and pairs-to-judge instead of nested
objects. DSPy would render an object input as one line of compact JSON (every empty list, every
`importance` string); a short labelled list is fewer tokens and easier for a small model to read.
These functions fix that text format in one place, next to the docstrings that describe it.
"""

from collections.abc import Iterable, Sequence

from signatures.models import ARTIFACT_TYPES, DocumentArtifacts, QAPair

# Human labels for the artifact kinds, in ARTIFACT_TYPES order.
ARTIFACT_LABELS: dict[str, str] = {
    "key_concepts": "Key concepts",
    "relationships": "Relationships",
    "themes": "Themes",
    "entities": "Entities",
    "processes": "Processes",
    "insights": "Insights",
    "technical_terms": "Technical terms",
    "contextual_factors": "Contextual factors",
}

NO_ARTIFACTS = "(none)"


def _one_line(text: str) -> str:
    """Collapse all whitespace, so one record stays on one line of the prompt."""
    return " ".join(text.split())


def render_segment(segment_id: int, text: str, doc_id: str | None = None) -> str:
    """Render one segment as `Segment 3 [Doc: a.md]: text` (or `Segment 3: text` without a doc ID).

    The number is the segment ID the model must cite in `segment_ids`. Newlines inside the text
    are collapsed so that every segment is exactly one line.
    """
    if doc_id:
        return f"Segment {segment_id} [Doc: {doc_id}]: {_one_line(text)}"
    return f"Segment {segment_id}: {_one_line(text)}"


def render_segments(segments: Iterable[tuple[int, str | None, str]]) -> str:
    """Render `(segment_id, doc_id, text)` triples, one segment per line, in the given order."""
    return "\n".join(render_segment(segment_id, text, doc_id) for segment_id, doc_id, text in segments)


def render_artifacts(artifacts: DocumentArtifacts) -> str:
    """Render artifacts as labelled `- text: description` lists, skipping empty kinds.

    `importance` is left out: it helps the extractor think, but costs the generator tokens.
    Returns NO_ARTIFACTS when every kind is empty.
    """
    blocks = []
    for name in ARTIFACT_TYPES:
        items = getattr(artifacts, name)
        if not items:
            continue
        lines = [f"{ARTIFACT_LABELS[name]}:"]
        for item in items:
            text = _one_line(item.text)
            description = _one_line(item.description)
            lines.append(f"- {text}: {description}" if description else f"- {text}")
        blocks.append("\n".join(lines))
    if not blocks:
        return NO_ARTIFACTS
    return "\n".join(blocks)


def _ids(segment_ids: Sequence[int]) -> str:
    return ", ".join(str(segment_id) for segment_id in segment_ids)


def render_pair_for_judge(pair_index: int, pair: QAPair, *, single_hop: bool = True) -> str:
    """Render one pair for the judge, headed by the `pair_index` the judge must copy back.

    ``single_hop=False`` leaves out the hop line of a single-hop pair (see below); the embedded
    model keeps it, since its compiled judge demos were written with it.
    """
    lines = [
        f"pair_index: {pair_index}",
        f"question: {_one_line(pair.question)}",
        f"answer: {_one_line(pair.answer)}",
        f"query_type: {pair.query_type.value}",
        f"reasoning_type: {pair.reasoning_type.value}",
        f"segment_ids: {_ids(pair.segment_ids)}",
    ]
    # A single hop restates segment_ids and the answer: only a multi-hop pair's hops tell the judge
    # something (which fact each segment adds). Endpoints are shown only those (about 6% of a judge
    # call's prompt on the cost bench).
    if single_hop or len(pair.hop_contexts) > 1:
        for hop in pair.hop_contexts:
            lines.append(f"hop {hop.hop_number} (segments {_ids(hop.segment_ids)}): {_one_line(hop.summary)}")
    return "\n".join(lines)


def render_pairs_for_judge(pairs: Sequence[QAPair], *, single_hop: bool = True) -> str:
    """Render pairs for the judge; `pair_index` is the pair's position in `pairs` (0-based).

    Use `signatures.models.match_evaluations(len(pairs), ...)` on the judge's output to map the
    evaluations back onto this same sequence.
    """
    return "\n\n".join(render_pair_for_judge(index, pair, single_hop=single_hop) for index, pair in enumerate(pairs))
