"""Mask the findings of a scan in the exported files themselves: ``[REDACTED:aws_access_key]``.

Every text field the scan reads is rewritten with its findings replaced by the mask of their
kind (corpus/train.parquet, eval_beir/corpus.jsonl, eval_beir/queries.jsonl and its metadata,
train.json, val.json), so a passage reads the same in the NeMo and BEIR files after masking as
it did before, and push (which joins them by text) still finds one passage. Passage IDs stay as
they were: they are hashes of the original text, which reveal nothing of it, and every file
refers to them. Masking is a function of the text, so a re-run changes nothing more. Each file
is rewritten to a temporary name and renamed into place; files without findings are left alone.
What was masked is recorded under ``scan`` in report.json.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from sdg_program.core.files import atomic_path, write_json_atomic, write_jsonl_atomic
from sdg_program.export.nemo import write_training_json
from sdg_program.export.scan import BEIR_CORPUS, BEIR_QUERIES, CORPUS_PARQUET, TRAINING_FILES, ScanSummary, read_jsonl, scan_export

REPORT_FILE = "report.json"


class Redactor:
    """Masks texts with a detector and counts the masked spans by kind, once per distinct text."""

    def __init__(self, detector: Any) -> None:
        self.detector = detector
        self.counts: Counter[str] = Counter()
        self._cache: dict[str, tuple[str, list]] = {}

    def text(self, text: str) -> str:
        if not isinstance(text, str) or not text:
            return text
        if text not in self._cache:  # counted once per distinct text: a passage is in two files
            self._cache[text] = masked, spans = self.detector.redact(text)
            self.counts.update(span.kind for span in spans)
        return self._cache[text][0]

    def value(self, value: Any) -> Any:
        """Every string inside ``value`` masked (the metadata of a test query)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        return value


def redact_export(folder: Path, *, phone_region: str | None = None, record: bool = True) -> ScanSummary:
    """Mask every finding in ``folder``'s files and return a fresh scan of the result, with what was masked.

    With ``record`` (the default) the result goes under ``scan`` in report.json; convert, which
    writes report.json afterwards, passes False.
    """
    from sdg_program.export.detectors import Detector

    folder = Path(folder)
    detector = Detector(phone_region)
    redactor = Redactor(detector)
    changed = [name for name, rewrite in _REWRITERS.items() if (folder / name).is_file() and rewrite(folder / name, redactor)]
    summary = scan_export(folder, phone_region=phone_region, detector=detector)
    summary = summary.model_copy(update={"redacted": dict(sorted(redactor.counts.items())), "redacted_files": changed})
    if changed and record:
        record_scan(folder, summary)
    return summary


def record_scan(folder: Path, summary: ScanSummary) -> None:
    """Put ``summary`` under ``scan`` in report.json, keeping what an earlier redaction masked."""
    path = folder / REPORT_FILE
    if not path.is_file():
        return
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return
    if not isinstance(report, dict):
        return
    earlier = report.get("scan") if isinstance(report.get("scan"), dict) else {}
    masked = Counter(earlier.get("redacted") or {})
    masked.update(summary.redacted)
    files = sorted(set(earlier.get("redacted_files") or []) | set(summary.redacted_files))
    report["scan"] = summary.model_copy(update={"redacted": dict(sorted(masked.items())), "redacted_files": files}).model_dump(mode="json")
    write_json_atomic(path, report)


# --- one rewriter per file; each returns whether it changed the file ---------------------


def _rewrite_parquet(path: Path, redactor: Redactor) -> bool:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    texts = table.column("text").to_pylist()
    masked = [redactor.text(text) for text in texts]
    if masked == texts:
        return False
    index = table.schema.get_field_index("text")
    table = table.set_column(index, table.schema.field(index), pa.array(masked, type=table.schema.field(index).type))
    with atomic_path(path) as temporary:
        pq.write_table(table, str(temporary))
    return True


def _rewrite_beir_corpus(path: Path, redactor: Redactor) -> bool:
    return _rewrite_jsonl(path, lambda row: {**row, **{field: redactor.text(row[field]) for field in ("title", "text") if isinstance(row.get(field), str)}})


def _rewrite_beir_queries(path: Path, redactor: Redactor) -> bool:
    def mask(row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        if isinstance(row.get("text"), str):
            out["text"] = redactor.text(row["text"])
        if "metadata" in row:
            out["metadata"] = redactor.value(row["metadata"])
        return out

    return _rewrite_jsonl(path, mask)


def _rewrite_jsonl(path: Path, mask) -> bool:
    rows = list(read_jsonl(path))
    masked = [mask(row) for row in rows]
    if masked == rows:
        return False
    write_jsonl_atomic(path, masked)
    return True


def _rewrite_training_file(path: Path, redactor: Redactor) -> bool:
    data = json.loads(path.read_text(encoding="utf-8"))
    examples = data.get("data", []) if isinstance(data, dict) else []
    masked = [{**example, "question": redactor.text(example["question"])} if isinstance(example.get("question"), str) else example for example in examples]
    if masked == examples:
        return False
    write_training_json(path, masked)
    return True


_REWRITERS = {
    CORPUS_PARQUET: _rewrite_parquet,
    BEIR_CORPUS: _rewrite_beir_corpus,
    BEIR_QUERIES: _rewrite_beir_queries,
    **{name: _rewrite_training_file for name in TRAINING_FILES},
}
