"""The gold set: pydantic models of its JSONL lines and the loaders that turn them into ``dspy.Example``s.

Two kinds of lines, told apart by ``kind``:

- ``generation`` (``train.jsonl``, ``dev.jsonl``): a seed row in our schema plus reference QA pairs
  with exact segment IDs and hops, reference artifacts, and the terms a good extraction names.
  They drive the ``extract`` and ``generate`` predictors.
- ``judge`` (``judge.jsonl``): a seed row plus pairs with a known defect (or none) and the verdict a
  good judge gives each. They drive the ``judge`` predictor.

The rows are stored whole (chunks, sections, text), not rebuilt at load time: segment IDs are the
labels, so they must not move when the chunker changes. ``tests/test_gold.py`` re-chunks the
documents and fails if the chunker would now cut them differently.

``optimize/build_gold.py`` writes these files; nothing here reads the shared corpora.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import dspy
from pydantic import BaseModel, ConfigDict, Field

from sdg_program.core.errors import MissingInputError
from sdg_program.core.records import SeedRow
from signatures import DocumentArtifacts, QAPair

Source = Literal["hotpotqa", "musique", "docs_dspy"]
Split = Literal["train", "dev"]
Defect = Literal["none", "wrong_segment_ids", "unsupported_answer", "source_relative", "one_hop_as_multi_hop"]
Criterion = Literal["relevance", "accuracy", "context_support", "clarity"]

GOLD_FILES = {"train": "train.jsonl", "dev": "dev.jsonl", "judge": "judge.jsonl"}
# Chunking used for every gold row (recorded so tests can re-chunk and compare).
GOLD_SENTENCES_PER_CHUNK = 3
GOLD_MAX_CHUNK_CHARS = 2000


class GoldDocument(BaseModel):
    """One member document of a gold row. Its text is its part of ``row.text`` (members are joined
    with ``sdg_program.ingest.chunking.DOCUMENT_BOUNDARY``, in this order)."""

    model_config = ConfigDict(extra="forbid")

    doc_id: str
    origin: str = Field(description="Where the text comes from: corpus title or docs path")
    supporting: bool = Field(description="Whether the document holds evidence for a reference pair")


class GoldExample(BaseModel):
    """A seed row with reference pairs: the unit of the train and dev splits."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["generation"] = "generation"
    example_id: str
    source: Source
    split: Split
    source_ref: str = Field(description="ID of the original record (HotpotQA _id, MuSiQue id) or the docs path")
    documents: list[GoldDocument]
    row: SeedRow
    pairs: list[QAPair] = Field(min_length=1, description="Reference pairs; segment IDs refer to row.chunks")
    supporting_segment_ids: list[int] = Field(description="Union of the reference pairs' segment_ids")
    artifacts: DocumentArtifacts = Field(description="Reference artifacts (demos for extract)")
    artifact_terms: list[str] = Field(description="Names a good extraction mentions; each occurs in the row text")


class JudgedPair(BaseModel):
    """A pair shown to the judge, with its known defect and the verdict a good judge gives."""

    model_config = ConfigDict(extra="forbid")

    pair: QAPair
    defect: Defect
    expected_overall: Literal["high", "low"]
    expected_low_criteria: list[Criterion] = Field(default_factory=list, description="Criteria a good judge scores low")
    expected_validation_reasons: list[str] = Field(description="Exactly what sdg_program.program.validation.validate_pair returns")


class JudgeCase(BaseModel):
    """One judge call: a row and the pairs to grade (a sound one and a defective one, shuffled)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["judge"] = "judge"
    case_id: str
    source: Source
    split: Split
    example_id: str = Field(description="The gold example the row and the sound pair come from")
    row: SeedRow
    pairs: list[JudgedPair] = Field(min_length=1)


def read_jsonl(path: Path) -> list[dict]:
    with Path(path).open(encoding="utf-8") as stream:
        return [json.loads(line) for line in stream if line.strip()]


def load_gold_records(path: Path) -> list[GoldExample | JudgeCase]:
    """Parse a gold JSONL file into its pydantic records (validated)."""
    records: list[GoldExample | JudgeCase] = []
    for line in read_jsonl(path):
        if line.get("kind") == "judge":
            records.append(JudgeCase.model_validate(line))
        else:
            records.append(GoldExample.model_validate(line))
    return records


def example_from_record(record: GoldExample | JudgeCase) -> dspy.Example:
    """A ``dspy.Example`` whose only input is ``row`` (judge cases also take ``qa_pairs``).

    Labels ride along as extra fields, so metrics can read ``example.pairs`` etc.
    """
    if isinstance(record, JudgeCase):
        return dspy.Example(
            kind="judge",
            case_id=record.case_id,
            example_id=record.example_id,
            source=record.source,
            split=record.split,
            row=record.row,
            qa_pairs=[judged.pair for judged in record.pairs],
            judged_pairs=record.pairs,
        ).with_inputs("row", "qa_pairs")
    return dspy.Example(
        kind="generation",
        example_id=record.example_id,
        source=record.source,
        split=record.split,
        row=record.row,
        pairs=record.pairs,
        supporting_segment_ids=record.supporting_segment_ids,
        artifacts=record.artifacts,
        artifact_terms=record.artifact_terms,
    ).with_inputs("row")


def load_gold(path: Path | str) -> list[dspy.Example]:
    """Load a gold JSONL file (or, given a folder, its train.jsonl) as ``dspy.Example``s with input ``row``."""
    path = Path(path)
    if path.is_dir():
        path = path / GOLD_FILES["train"]
    return [example_from_record(record) for record in load_gold_records(path)]


def load_gold_dir(directory: Path | str) -> dict[str, list[dspy.Example]]:
    """All three files of a gold folder: ``{"train": [...], "dev": [...], "judge": [...]}``."""
    directory = Path(directory)
    missing = [name for name in GOLD_FILES.values() if not (directory / name).is_file()]
    if missing:
        raise MissingInputError(f"gold folder {directory} lacks {', '.join(missing)}")
    return {split: load_gold(directory / name) for split, name in GOLD_FILES.items()}
