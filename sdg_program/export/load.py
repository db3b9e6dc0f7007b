"""Reading records.jsonl into a slim Arrow table: our records and those of the reference tool.

A generated record carries full document texts and artifacts that convert never uses; 20,000 of
them do not fit in memory. So the file is streamed line by line, each record cut down to what
convert needs (``slim_record``: chunks with their content IDs, and per pair the judge score and
the validation verdict), and written to an Arrow file in batches.

Decisions where the input is incomplete (reference-format records):
- no ``qa_validations``: the pairs are validated here with ``validation.validate_pair`` and
  ``ValidationSettings.for_written_pairs`` (every quality check, but not the hop range a generator
  is asked for: a human 4-hop question is not wrong); pairs that do not parse as a QA pair are
  invalid (``malformed_pair``).
  Unvalidated pairs never become training data.
- ``judged: false`` (a run with the judge off): its pairs have no score by design; the gate skips
  the score threshold for them instead of dropping them as unjudged.
- evaluations without ``pair_index``: matched by position only when the counts agree; otherwise
  the record's pairs count as unjudged (its chunks stay in the corpus).
- no ``source_id``: the record is keyed by its file list, as the reference does.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from sdg_program.export.corpus import corpus_id_for
from sdg_program.export.splits import normalise_path
from sdg_program.export.tables import column, record_features

logger = logging.getLogger(__name__)

# Records per Arrow batch while loading.
LOAD_BATCH = 500


@dataclass
class LoadStats:
    """What loading counted and skipped; each field is the ``ConvertReport`` field of the same name."""

    records_in: int = 0
    records_duplicate: int = 0
    lines_malformed: int = 0
    records_without_pairs: int = 0
    records_validated_at_convert: int = 0
    records_judged_by_position: int = 0
    records_judge_unaligned: int = 0
    pairs_in: int = 0
    chunks_in: int = 0


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _as_score(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        score = float(value)
    except ValueError:
        return None
    return score if score == score else None  # NaN counts as unjudged


def _file_names(raw: dict[str, Any]) -> list[str]:
    names = raw.get("file_name")
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list):
        names = raw.get("bundle_members") if isinstance(raw.get("bundle_members"), list) else []
    return [normalise_path(name) for name in names if isinstance(name, str) and name]


def _source_id(raw: dict[str, Any], file_names: list[str], line_number: int) -> str:
    """The record's key; legacy records without one use their file list, as the reference does."""
    source_id = raw.get("source_id")
    if isinstance(source_id, str) and source_id.strip():
        return normalise_path(source_id)
    if len(file_names) == 1:
        return file_names[0]
    if file_names:
        return hashlib.md5("\n".join(sorted(file_names)).encode("utf-8")).hexdigest()[:16]
    return f"line-{line_number}"


def _scores(raw: dict[str, Any], count: int, stats: LoadStats) -> list[float | None]:
    """Judge overall score per pair: by ``pair_index``; by position only when there is none and counts match."""
    evaluations = raw.get("qa_evaluations")
    if isinstance(evaluations, dict):
        evaluations = evaluations.get("evaluations")
    if not isinstance(evaluations, list) or not evaluations or count == 0:
        return [None] * count
    evaluations = [item for item in evaluations if isinstance(item, dict)]
    scores: list[float | None] = [None] * count
    if evaluations and all(_as_int(item.get("pair_index")) is not None for item in evaluations):
        for item in evaluations:
            index = _as_int(item["pair_index"])
            if 0 <= index < count and scores[index] is None:
                scores[index] = _as_score((item.get("overall") or {}).get("score"))
        return scores
    if len(evaluations) == count:
        stats.records_judged_by_position += 1
        return [_as_score((item.get("overall") or {}).get("score")) for item in evaluations]
    stats.records_judge_unaligned += 1
    return scores


def _validations(raw: dict[str, Any], pairs: list[Any], segments: dict[int, str], stats: LoadStats, settings=None) -> list[tuple[bool, list[str]]]:
    """(valid, reasons) per pair: the record's own verdicts, or our deterministic checks when it has none."""
    given = raw.get("qa_validations")
    if isinstance(given, list) and len(given) == len(pairs) and all(isinstance(item, dict) for item in given):
        return [(bool(item.get("valid")), [str(reason) for reason in item.get("reasons") or []]) for item in given]
    if not pairs:
        return []
    from pydantic import ValidationError

    from sdg_program.program.validation import RowSegments, ValidationSettings, validate_pair
    from signatures import QAPair

    stats.records_validated_at_convert += 1
    settings = settings or ValidationSettings.for_written_pairs()
    row = RowSegments(segments)
    verdicts = []
    for pair in pairs:
        try:
            parsed = QAPair.model_validate(pair)
        except ValidationError:
            verdicts.append((False, ["malformed_pair"]))
            continue
        result = validate_pair(parsed, row, settings)
        verdicts.append((result.valid, result.reasons))
    return verdicts


def slim_record(raw: dict[str, Any], line_number: int, stats: LoadStats, settings=None) -> dict[str, Any]:
    """The parts of a generated record that convert needs, in the records schema (no full text, no artifacts)."""
    file_names = _file_names(raw)
    source_id = _source_id(raw, file_names, line_number)
    chunk_ids, chunk_texts, chunk_corpus_ids, chunk_docs = [], [], [], []
    for chunk in raw.get("chunks") or []:
        if not isinstance(chunk, dict):
            continue
        chunk_id, text = _as_int(chunk.get("chunk_id")), chunk.get("text")
        if chunk_id is None or not isinstance(text, str) or not text.strip():
            continue
        chunk_ids.append(chunk_id)
        chunk_texts.append(text)
        chunk_corpus_ids.append(corpus_id_for(text))
        doc = chunk.get("doc_id") or chunk.get("doc_path") or (file_names[0] if len(file_names) == 1 else source_id)
        chunk_docs.append(normalise_path(str(doc)))
    stats.chunks_in += len(chunk_ids)
    raw_pairs = raw.get("deduplicated_qa_pairs")
    raw_pairs = [pair for pair in raw_pairs if isinstance(pair, dict)] if isinstance(raw_pairs, list) else []
    if not raw_pairs:
        stats.records_without_pairs += 1
    stats.pairs_in += len(raw_pairs)
    scores = _scores(raw, len(raw_pairs), stats)
    judged = raw.get("judged") is not False  # records from before the field, and the reference's, were meant to be judged
    verdicts = _validations(raw, raw_pairs, dict(zip(chunk_ids, chunk_texts)), stats, settings)
    pairs = []
    for index, (pair, score, (valid, reasons)) in enumerate(zip(raw_pairs, scores, verdicts)):
        segment_ids = pair.get("segment_ids") if isinstance(pair.get("segment_ids"), list) else []
        hops = pair.get("hop_contexts") if isinstance(pair.get("hop_contexts"), list) else []
        pairs.append({
            "pair_index": index,
            "question": str(pair.get("question") or "").strip(),
            "answer": str(pair.get("answer") or ""),
            "query_type": str(pair.get("query_type") or "unknown"),
            "reasoning_type": str(pair.get("reasoning_type") or "unknown"),
            "hop_count": _as_int(pair.get("hop_count")),
            "question_complexity": _as_int(pair.get("question_complexity")),
            "segment_ids": [-1 if (value := _as_int(segment)) is None else value for segment in segment_ids],
            "hop_contexts": json.dumps(hops, ensure_ascii=False),
            "score": score,
            "judged": judged,
            "valid": valid,
            "reasons": reasons,
        })
    return {
        "source_id": source_id,
        "file_names": file_names or [source_id],
        "chunk_ids": chunk_ids,
        "chunk_texts": chunk_texts,
        "chunk_corpus_ids": chunk_corpus_ids,
        "chunk_docs": chunk_docs,
        "pairs": pairs,
    }


def iter_records(path: Path, stats: LoadStats, settings=None) -> Iterator[dict[str, Any]]:
    """Slim records, one JSON line at a time; malformed lines and repeated source IDs are skipped and counted."""
    seen: set[str] = set()
    with open(path, encoding="utf-8") as stream:
        for line_number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                stats.lines_malformed += 1
                logger.warning("%s line %d is not JSON (a run killed mid-write?); skipped", path, line_number)
                continue
            for raw in value if isinstance(value, list) else [value]:
                if not isinstance(raw, dict):
                    stats.lines_malformed += 1
                    continue
                stats.records_in += 1
                record = slim_record(raw, line_number, stats, settings)
                if record["source_id"] in seen:
                    stats.records_duplicate += 1
                    stats.pairs_in -= len(record["pairs"])
                    stats.chunks_in -= len(record["chunk_ids"])
                    continue
                seen.add(record["source_id"])
                yield record


def load_records(path: Path, workdir: Path, stats: LoadStats, settings=None):
    """Stream the records file into an Arrow file and open it as a memory-mapped ``datasets.Dataset``.

    ``settings`` (a ``ValidationSettings``) validates records that come without verdicts; default:
    ``ValidationSettings.for_written_pairs()``.
    """
    from datasets import Dataset

    schema = record_features().arrow_schema
    target = workdir / "records.arrow"
    with pa.OSFile(str(target), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        batch: list[dict[str, Any]] = []
        for record in iter_records(path, stats, settings):
            batch.append(record)
            if len(batch) >= LOAD_BATCH:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    return Dataset.from_file(str(target))


def sorted_by_source(records):
    """The records in source_id order: every row exploded from them is then in (source_id, index) order."""
    return records.select(sorted(range(len(records)), key=column(records, "source_id").__getitem__))
