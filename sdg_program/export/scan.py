"""Scan a convert output folder for credentials and personal data before it leaves the machine.

The exported files carry the user's documents verbatim: every passage (corpus/train.parquet,
eval_beir/corpus.jsonl), every question (train.json, val.json, eval_beir/queries.jsonl) and the
answers and hop contexts of the test questions (queries.jsonl metadata). A key pasted into an
internal wiki page would be published with them. This module reads those texts, runs the
detectors of :mod:`sdg_program.export.detectors` on each, and reports every finding by kind,
source document and passage or question ID, with character offsets: never the value, so the
report itself can be printed, written to report.json and shown on a dataset card.

Used by ``sdg-program scan``, at the end of ``convert`` (a warning in the report) and by
``push`` (which refuses to upload while findings remain); :mod:`sdg_program.export.redact`
masks them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sdg_program.core.errors import ExportFolderError, UserError

CORPUS_PARQUET = "corpus/train.parquet"
BEIR_CORPUS = "eval_beir/corpus.jsonl"
BEIR_QUERIES = "eval_beir/queries.jsonl"
TRAINING_FILES = ("train.json", "val.json")
SCANNED_FILES = (CORPUS_PARQUET, BEIR_CORPUS, BEIR_QUERIES, *TRAINING_FILES)
MAX_LISTED_FINDINGS = 1000  # report.json keeps this many; the counts cover all

Record = Literal["passage", "question", "answer", "query_metadata"]


class ScanConfig(BaseModel):
    """Options of ``sdg-program scan``."""

    model_config = ConfigDict(extra="forbid")

    folder: Path = Field(description="Output folder of `sdg-program convert` (X_train_eval/)")
    redact: bool = Field(False, description="Mask every finding in the exported files as [REDACTED:kind] and record it in report.json")
    phone_region: str | None = Field(None, description="Also find phone numbers in this region's national format (ISO 3166 code, e.g. US, DE); default: only international +CC numbers")


class Finding(BaseModel):
    """One credential or piece of personal data: what kind and where, never the value."""

    kind: str = Field(description="e.g. aws_access_key, private_key, github_token, email_address, phone_number")
    category: Literal["credential", "personal_data"]
    record: Record = Field(description="What holds it: a corpus passage, a question, a test answer, or other test-query metadata")
    passage_id: str | None = None
    query_id: str | None = None
    document: str | None = Field(None, description="Source document (for a question: the document of its first positive passage)")
    field: str = Field(description="The field scanned: text, title, question, metadata.answer, metadata.hop_contexts[0], ...")
    start: int = Field(description="Character offset of the finding in that field")
    end: int

    def where(self) -> str:
        """A one-line location for messages: ``passage d_... (guide.md) text 10-30``."""
        ident = self.passage_id if self.record == "passage" else self.query_id
        document = f" ({self.document})" if self.document else ""
        return f"{self.record} {ident}{document} {self.field} chars {self.start}-{self.end}"


class ScanSummary(BaseModel):
    """What a scan found in an export folder: counts by kind and the findings (capped); written to report.json."""

    detectors: str = Field(description="Detectors and versions used")
    phone_region: str | None = None
    passages: int = 0
    documents: int = 0
    questions: int = 0
    counts: dict[str, int] = Field(default_factory=dict, description="Findings by kind")
    findings_total: int = 0
    findings: list[Finding] = Field(default_factory=list, description=f"Sorted; at most {MAX_LISTED_FINDINGS}")
    redacted: dict[str, int] = Field(default_factory=dict, description="Masks written by `--redact`, by kind (empty: nothing was masked)")
    redacted_files: list[str] = Field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.findings_total == 0

    def counts_text(self) -> str:
        return ", ".join(f"{kind} {count}" for kind, count in self.counts.items()) or "none"


class SensitiveDataFound(UserError):
    """The export still holds credentials or personal data; the message lists where (never what)."""


@dataclass
class ScannedText:
    """One text field of the export, with what it belongs to."""

    record: Record
    ident: str
    document: str | None
    field: str
    text: str


def scan_export(folder: Path, *, phone_region: str | None = None, detector: Any = None) -> ScanSummary:
    """Scan every passage, question and answer of a convert folder; see the module docstring."""
    from sdg_program.export.detectors import Detector, category_of

    folder = Path(folder)
    check_scannable(folder)
    detector = detector or Detector(phone_region)
    texts = ExportTexts(folder)
    findings: dict[tuple, Finding] = {}
    cache: dict[str, list] = {}
    for item in texts:
        spans = cache.get(item.text)
        if spans is None:
            spans = cache[item.text] = detector.spans(item.text)
        for span in spans:
            finding = Finding(
                kind=span.kind, category=category_of(span.kind), record=item.record, document=item.document, field=item.field,
                passage_id=item.ident if item.record == "passage" else None, query_id=None if item.record == "passage" else item.ident,
                start=span.start, end=span.end,
            )
            findings.setdefault((item.record, item.ident, item.field, span.kind, span.start, span.end), finding)
    ordered = sorted(findings.values(), key=lambda f: (f.kind, f.document or "", f.record, f.passage_id or f.query_id or "", f.field, f.start))
    counts = Counter(finding.kind for finding in ordered)
    return ScanSummary(
        detectors=detector_versions(),
        phone_region=detector.phone_region,
        passages=len(texts.passage_ids),
        documents=len(texts.documents),
        questions=len(texts.question_ids),
        counts=dict(sorted(counts.items())),
        findings_total=len(ordered),
        findings=ordered[:MAX_LISTED_FINDINGS],
    )


def check_scannable(folder: Path) -> None:
    if not folder.is_dir():
        raise ExportFolderError(f"{folder} is not a folder; pass the output folder of `sdg-program convert` (X_train_eval/).")
    if not any((folder / name).is_file() for name in SCANNED_FILES):
        raise ExportFolderError(f"{folder} holds none of {', '.join(SCANNED_FILES)}: not a `sdg-program convert` output.")


def detector_versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    def of(package: str) -> str:
        try:
            return f"{package} {version(package)}"
        except PackageNotFoundError:
            return package

    return f"{of('detect-secrets')} (credentials), {of('phonenumbers')} (phone numbers), e-mail pattern"


def describe_findings(summary: ScanSummary, limit: int = 20) -> str:
    """Findings as printable lines: counts by kind, then where each one is (never its value)."""
    lines = [f"{summary.findings_total} finding(s): {summary.counts_text()}"]
    for finding in summary.findings[:limit]:
        lines.append(f"  {finding.kind}: {finding.where()}")
    if summary.findings_total > limit:
        lines.append(f"  ... and {summary.findings_total - limit} more (all of them: `sdg-program scan FOLDER`, or report.json)")
    return "\n".join(lines)


def sensitive_data_error(folder: Path, summary: ScanSummary) -> SensitiveDataFound:
    return SensitiveDataFound(
        f"{folder} holds credentials or personal data that would leave with the corpus.\n{describe_findings(summary)}\n"
        f"Mask them with `sdg-program scan {folder} --redact`, or pass --allow-findings to upload them anyway."
    )


# --- reading the texts of an export ------------------------------------------------------


class ExportTexts:
    """Iterates every text field of a convert folder once; counts passages, documents and questions on the way."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.passage_ids: set[str] = set()
        self.question_ids: set[str] = set()
        self.documents: set[str] = set()
        self.document_of: dict[str, str] = {}

    def __iter__(self) -> Iterator[ScannedText]:
        yield from self._beir_corpus()
        yield from self._parquet_corpus()
        yield from self._beir_queries()
        for name in TRAINING_FILES:
            yield from self._training_file(name)

    def _beir_corpus(self) -> Iterator[ScannedText]:
        for row in read_jsonl(self.folder / BEIR_CORPUS):
            passage_id = str(row.get("_id", ""))
            metadata = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
            document = metadata.get("doc_id") or metadata.get("source_id")
            self._passage(passage_id, document)
            for field in ("title", "text"):
                if isinstance(row.get(field), str) and row[field]:
                    yield ScannedText("passage", passage_id, self.document_of.get(passage_id), field, row[field])

    def _parquet_corpus(self) -> Iterator[ScannedText]:
        path = self.folder / CORPUS_PARQUET
        if not path.is_file():
            return
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path, columns=["id", "text"])
        except Exception as error:  # pyarrow raises several types for bad files and missing columns
            raise ExportFolderError(f"{path}: cannot read columns id, text ({error})") from error
        for passage_id, text in zip(table.column("id").to_pylist(), table.column("text").to_pylist()):
            self._passage(str(passage_id), None)
            if text:
                yield ScannedText("passage", str(passage_id), self.document_of.get(str(passage_id)), "text", text)

    def _beir_queries(self) -> Iterator[ScannedText]:
        for row in read_jsonl(self.folder / BEIR_QUERIES):
            query_id = str(row.get("_id", ""))
            self.question_ids.add(query_id)
            metadata = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
            names = metadata.get("file_name")
            document = (names[0] if isinstance(names, list) and names else names) or metadata.get("source_id")
            document = str(document) if document else None
            if isinstance(row.get("text"), str):
                yield ScannedText("question", query_id, document, "text", row["text"])
            for field, value in string_leaves(metadata, "metadata"):
                yield ScannedText("answer" if field == "metadata.answer" else "query_metadata", query_id, document, field, value)

    def _training_file(self, name: str) -> Iterator[ScannedText]:
        path = self.folder / name
        if not path.is_file():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ExportFolderError(f"{path}: not readable JSON ({error})") from error
        for example in data.get("data", []) if isinstance(data, dict) else []:
            if not isinstance(example, dict):
                continue
            question_id = str(example.get("question_id", ""))
            self.question_ids.add(question_id)
            positives = [doc.get("id") for doc in example.get("pos_doc", []) if isinstance(doc, dict)]
            document = next((self.document_of[str(p)] for p in positives if str(p) in self.document_of), None)
            if isinstance(example.get("question"), str):
                yield ScannedText("question", question_id, document, "question", example["question"])

    def _passage(self, passage_id: str, document: Any) -> None:
        self.passage_ids.add(passage_id)
        if document and passage_id not in self.document_of:
            self.document_of[passage_id] = str(document)
            self.documents.add(str(document))


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ExportFolderError(f"{path}, line {number}: not JSON ({error})") from error
            if isinstance(row, dict):
                yield row


def string_leaves(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(dotted path, text) of every string inside ``value``: ``metadata.hop_contexts[0]``."""
    if isinstance(value, str):
        if value:
            yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from string_leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from string_leaves(item, f"{path}[{index}]")
