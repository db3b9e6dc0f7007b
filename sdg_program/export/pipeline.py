"""Convert generated records into retriever training data (NeMo AutoModel) and a BEIR evaluation set.

    from sdg_program.export.pipeline import ConvertConfig, convert
    result = convert(ConvertConfig(input_path="generated"))
    print(result.report.pairs_kept, result.output_dir)

Steps, each a Hugging Face ``datasets`` operation over Arrow files in a temporary folder, so the
full texts of 20,000 records are never held in memory at once:

1. **Load**: records.jsonl is streamed line by line into a slim Arrow table (no full document
   text, no artifacts): chunks with their content IDs, and per pair the judge score and the
   validation verdict. Records of the reference tool's format are accepted (see ``slim_record``).
2. **Filter**: a batched ``map`` explodes pairs, maps segment IDs to corpus IDs and gives every
   pair a drop reason (or none); ``filter`` keeps the rest.
3. **Corpus**: a batched ``map`` explodes chunks; sorted by (source_id, chunk_id) and
   de-duplicated on the content ID ``d_ + sha256(text)[:16]``. Chunks of records whose pairs were
   all rejected stay in as distractors.
4. **Splits**: by unit (document/bundle, joined with paraphrase twins and ``--groups-json``
   groups), see ``splits.py``. The training corpus leaves out passages that only test documents
   hold, so no test passage is trained on, even as a negative.
5. **Hard negatives**: mined for train/val queries from the training corpus (``negatives.py``).
6. **Export**: every file is written to a temporary name and renamed into place; output is
   byte-identical for the same input and options. A run killed with SIGKILL leaves only whole
   files, a temporary or two and its working folder; the next run removes those (they are named
   after the dead process) and rewrites every file, so re-running is the way to resume.

Decisions where the input is incomplete (reference-format records):
- no ``qa_validations``: the pairs are validated here with ``validation.validate_pair`` and the
  default thresholds; pairs that do not parse as a QA pair are invalid (``malformed_pair``).
  Unvalidated pairs never become training data.
- evaluations without ``pair_index``: matched by position only when the counts agree; otherwise
  the record's pairs count as unjudged (its chunks stay in the corpus).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sdg_program.core.errors import MissingInputError
from sdg_program.core.files import jsonl_text, make_work_dir, new_temporary, remove_stale_temporaries
from sdg_program.export.report import (
    DISTRIBUTIONS,
    DROP_REASONS,
    ConvertReport,
    NegativesSummary,
    SplitSummary,
    render_html,
    score_histogram,
    sorted_counts,
)
from sdg_program.export.splits import SPLITS, assign_splits, build_units, load_groups, normalise_path, split_targets

logger = logging.getLogger(__name__)

DEFAULT_CORPUS_ID = "sdg_program"
RECORDS_FILE = "records.jsonl"
# Files this command writes, relative to the output folder (stale ones of another mode are removed).
TRAIN_FILES = ("train.json", "val.json", "corpus/train.parquet", "corpus/merlin_metadata.json")
EVAL_FILES = ("eval_beir/corpus.jsonl", "eval_beir/queries.jsonl", "eval_beir/qrels/test.tsv")
REPORT_FILES = ("report.json", "report.html")
# Records per Arrow batch while loading; rows per slice while embedding.
LOAD_BATCH = 500
EMBED_SLICE = 4096
# Working folders are <prefix>.<pid>.<random> in the system temp folder (see output.make_work_dir).
WORK_DIR_PREFIX = "sdg-convert"


class SplitStrategy(StrEnum):
    """How split units are formed and filled."""

    RANDOM = "random"
    DEDUPPED = "dedupped"
    CLUSTER = "cluster"


class ConvertConfig(BaseModel):
    """Options of ``sdg-program convert``; defaults match the reference tool where it has them."""

    model_config = ConfigDict(extra="forbid")

    input_path: Path = Field(description="A generate output folder, its records.jsonl, or a reference-format JSONL file")
    output_dir: Path | None = Field(None, description="Default: <input>_train_eval beside the input (<input>_eval with eval_only)")
    corpus_id: str | None = Field(None, description="Default: the input folder's (or file's) name")
    eval_only: bool = Field(False, description="Write only the BEIR set, from all kept pairs")
    train_ratio: float = Field(0.8, ge=0.0, le=1.0)
    val_ratio: float = Field(0.1, ge=0.0, le=1.0)
    seed: int = 42
    quality_threshold: float = Field(7.0, description="Keep pairs whose judge overall.score is at least this")
    max_pos_docs: int = Field(5, ge=1, description="Drop queries with more positive passages than this")
    split_strategy: SplitStrategy = SplitStrategy.RANDOM
    groups_json: list[Path] = Field(default_factory=list, description="Groups files for dedupped/cluster splits")
    num_negatives: int = Field(5, ge=0, le=100)
    negative_margin: float = Field(0.95, gt=0.0, le=1.0, description="Exclude candidates scoring above margin x the weakest positive")
    unroll_positives: bool = Field(False, description="One training example per positive")
    paraphrase_threshold: float | None = Field(0.9, gt=0.0, le=1.0, description="Cosine above which questions of two units join them; None = off")
    embedder: str | None = Field(None, description="sentence-transformers model; default: bundled all-MiniLM-L6-v2")
    embed_batch_size: int = Field(64, ge=1)

    @model_validator(mode="after")
    def _check(self) -> "ConvertConfig":
        if self.train_ratio + self.val_ratio > 1.0 + 1e-9:
            raise ValueError(f"train_ratio + val_ratio must be at most 1 (got {self.train_ratio} + {self.val_ratio})")
        if self.split_strategy != SplitStrategy.RANDOM and not self.groups_json and not self.eval_only:
            raise ValueError(f"--split-strategy {self.split_strategy.value} needs --groups-json")
        return self

    def records_file(self) -> Path:
        """The JSONL file to read. A folder must hold records.jsonl or exactly one .jsonl file.

        Several .jsonl files are refused rather than merged: the reference merges them and then
        double-counts the records of a re-run.
        """
        path = self.input_path
        if path.is_file():
            return path
        if not path.is_dir():
            raise MissingInputError(f"{path} does not exist")
        if (path / RECORDS_FILE).is_file():
            return path / RECORDS_FILE
        candidates = sorted(path.glob("*.jsonl"))
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise MissingInputError(f"{path} holds no {RECORDS_FILE} and no .jsonl file")
        raise ValueError(f"{path} holds several .jsonl files ({', '.join(c.name for c in candidates)}); pass one file")

    def _base(self) -> tuple[Path, str]:
        """(folder beside which outputs go, base name) of the input."""
        path = self.input_path
        if path.is_file() and path.name == RECORDS_FILE:
            path = path.parent
        if path.is_dir():
            resolved = path.resolve()
            return resolved.parent, resolved.name
        return path.parent, path.stem

    def resolved_output_dir(self) -> Path:
        if self.output_dir is not None:
            return self.output_dir
        parent, name = self._base()
        return parent / f"{name}_{'eval' if self.eval_only else 'train_eval'}"

    def resolved_corpus_id(self) -> str:
        if self.corpus_id:
            return self.corpus_id
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", self._base()[1]).strip("_.")
        return name or DEFAULT_CORPUS_ID


class ConvertResult(BaseModel):
    """What ``convert`` returns: where it wrote, what it counted, and how long each phase took."""

    output_dir: Path
    files: list[Path]
    report: ConvertReport
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per phase (not in report.json, which stays deterministic)")


# ---------------------------------------------------------------------------
# Arrow schemas
# ---------------------------------------------------------------------------


def _features():
    from datasets import Features, List, Value

    pair = {
        "pair_index": Value("int64"),
        "question": Value("string"),
        "answer": Value("string"),
        "query_type": Value("string"),
        "reasoning_type": Value("string"),
        "hop_count": Value("int64"),
        "question_complexity": Value("int64"),
        "segment_ids": List(Value("int64")),
        "hop_contexts": Value("string"),  # JSON text: the reference's shapes vary too much for a fixed struct
        "score": Value("float64"),
        "valid": Value("bool"),
        "reasons": List(Value("string")),
    }
    records = Features({
        "source_id": Value("string"),
        "file_names": List(Value("string")),
        "chunk_ids": List(Value("int64")),
        "chunk_texts": List(Value("string")),
        "chunk_corpus_ids": List(Value("string")),
        "chunk_docs": List(Value("string")),
        "pairs": List(pair),
    })
    pair_rows = Features({
        "source_id": Value("string"),
        "file_names": List(Value("string")),
        **{name: feature for name, feature in pair.items()},
        "positive_ids": List(Value("string")),
        "drop_reason": Value("string"),
    })
    chunk_rows = Features({
        "id": Value("string"),
        "text": Value("string"),
        "source_id": Value("string"),
        "chunk_id": Value("int64"),
        "doc_id": Value("string"),
    })
    return records, pair_rows, chunk_rows


# ---------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------


@dataclass
class LoadStats:
    records_in: int = 0
    records_duplicate: int = 0
    lines_malformed: int = 0
    records_without_pairs: int = 0
    records_validated_at_convert: int = 0
    records_judged_by_position: int = 0
    records_judge_unaligned: int = 0
    pairs_in: int = 0
    chunks_in: int = 0


def corpus_id_for(text: str) -> str:
    """The contract's content-addressed passage ID: identical text in two documents is one passage."""
    return "d_" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def question_id_for(source_id: str, question: str) -> str:
    """A query ID that is stable across runs and splits; never equal to a passage ID (``q_`` vs ``d_``)."""
    return "q_" + hashlib.sha256(f"{source_id}\n{question}".encode("utf-8")).hexdigest()[:16]


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


def _validations(raw: dict[str, Any], pairs: list[Any], segments: dict[int, str], stats: LoadStats) -> list[tuple[bool, list[str]]]:
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
    settings = ValidationSettings()
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


def slim_record(raw: dict[str, Any], line_number: int, stats: LoadStats) -> dict[str, Any]:
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
    verdicts = _validations(raw, raw_pairs, dict(zip(chunk_ids, chunk_texts)), stats)
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


def iter_records(path: Path, stats: LoadStats) -> Iterator[dict[str, Any]]:
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
                record = slim_record(raw, line_number, stats)
                if record["source_id"] in seen:
                    stats.records_duplicate += 1
                    stats.pairs_in -= len(record["pairs"])
                    stats.chunks_in -= len(record["chunk_ids"])
                    continue
                seen.add(record["source_id"])
                yield record


def load_records(path: Path, workdir: Path, stats: LoadStats):
    """Stream the records file into an Arrow file and open it as a memory-mapped ``datasets.Dataset``."""
    from datasets import Dataset

    features, _, _ = _features()
    schema = features.arrow_schema
    target = workdir / "records.arrow"
    with pa.OSFile(str(target), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        batch: list[dict[str, Any]] = []
        for record in iter_records(path, stats):
            batch.append(record)
            if len(batch) >= LOAD_BATCH:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    return Dataset.from_file(str(target))


# ---------------------------------------------------------------------------
# datasets maps (module-level functions: they run batched over Arrow data)
# ---------------------------------------------------------------------------


def drop_reason(pair: dict[str, Any], positives: list[str], unknown: int, threshold: float, max_pos_docs: int) -> str:
    """Why a pair does not become a query ("" = kept). Checked in the order of report.DROP_REASONS."""
    if not pair["question"]:
        return "empty_question"
    if not pair["valid"]:
        return "invalid"
    if pair["score"] is None:
        return "unjudged"
    if pair["score"] < threshold:
        return "below_threshold"
    if not positives:
        return "no_positive"
    if unknown:
        return "unknown_segment"
    if len(positives) > max_pos_docs:
        return "too_many_positives"
    return ""


def explode_pairs(batch: dict[str, list], threshold: float, max_pos_docs: int) -> pa.Table:
    """One row per QA pair, with its positives as corpus IDs (segment order, duplicates removed) and its drop reason.

    Returns an Arrow table in the exact output schema, so ``datasets`` writes it without a cast.
    """
    _, pair_features, _ = _features()
    out: dict[str, list] = {name: [] for name in pair_features}
    for source_id, file_names, chunk_ids, corpus_ids, pairs in zip(
        batch["source_id"], batch["file_names"], batch["chunk_ids"], batch["chunk_corpus_ids"], batch["pairs"]
    ):
        lookup = dict(zip(chunk_ids, corpus_ids))
        for pair in pairs:
            mapped = [lookup.get(segment) for segment in pair["segment_ids"]]
            positives = list(dict.fromkeys(doc for doc in mapped if doc is not None))
            unknown = sum(doc is None for doc in mapped)
            out["source_id"].append(source_id)
            out["file_names"].append(file_names)
            for name, value in pair.items():
                out[name].append(value)
            out["positive_ids"].append(positives)
            out["drop_reason"].append(drop_reason(pair, positives, unknown, threshold, max_pos_docs))
    return pa.Table.from_pydict(out, schema=pair_features.arrow_schema)


def explode_chunks(batch: dict[str, list]) -> pa.Table:
    """One row per chunk, in chunk_id order within a record: passage ID and text, plus where it came from."""
    _, _, chunk_features = _features()
    out: dict[str, list] = {name: [] for name in chunk_features}
    for source_id, chunk_ids, texts, corpus_ids, docs in zip(
        batch["source_id"], batch["chunk_ids"], batch["chunk_texts"], batch["chunk_corpus_ids"], batch["chunk_docs"]
    ):
        for position in sorted(range(len(chunk_ids)), key=chunk_ids.__getitem__):
            out["id"].append(corpus_ids[position])
            out["text"].append(texts[position])
            out["source_id"].append(source_id)
            out["chunk_id"].append(chunk_ids[position])
            out["doc_id"].append(docs[position])
    return pa.Table.from_pydict(out, schema=chunk_features.arrow_schema)


def _column(dataset, name: str) -> list:
    """A whole column as a Python list, read in one Arrow slice (iterating a ``Column`` goes row by row)."""
    return dataset[name][:] if len(dataset) else []


def _keep_rows(values: list[str]) -> list[bool]:
    return [value == "" for value in values]


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed onto it when the block succeeds and removed when it fails.

    Named by ``output.new_temporary`` (``.<name>.<pid>.<random>.tmp``), so a run killed inside
    the block leaves a temporary that the next run recognises as stale and removes.
    """
    handle, temporary = new_temporary(path)
    os.close(handle)
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def remove_stale_outputs(output_dir: Path) -> list[Path]:
    """Remove what a killed convert left in ``output_dir``: temporaries of dead processes, in every folder we write.

    Finished files need no repair: each was renamed into place whole, and this run rewrites them all.
    """
    folders = {output_dir} | {(output_dir / name).parent for name in TRAIN_FILES + EVAL_FILES + REPORT_FILES}
    removed: list[Path] = []
    for folder in sorted(folders):
        removed += remove_stale_temporaries(folder)
    if removed:
        logger.warning("removed %d temporary file(s) left in %s by an interrupted run", len(removed), output_dir)
    return removed


def write_text_lines(path: Path, lines: Iterable[str]) -> int:
    """Write lines (each without its newline) atomically; returns the count."""
    count = 0
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8", newline="\n") as stream:
        for line in lines:
            stream.write(line)
            stream.write("\n")
            count += 1
    return count


def write_training_json(path: Path, examples: Iterable[dict[str, Any]]) -> int:
    """train.json / val.json, streamed: the same bytes as ``json.dumps(document, indent=2)`` plus a newline."""
    count = 0
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8", newline="\n") as stream:
        stream.write('{\n  "corpus": {\n    "path": "./corpus/"\n  },\n  "data": [')
        for example in examples:
            stream.write(("\n    " if count == 0 else ",\n    ") + _example_text(example))
            count += 1
        stream.write("\n  ]\n}\n" if count else "]\n}\n")
    return count


def _example_text(example: dict[str, Any]) -> str:
    """One example exactly as ``json.dumps(indent=2)`` nests it under "data" (4 spaces deep).

    ``json.dumps`` with ``indent`` runs the pure-Python encoder (~20x slower); the example's shape
    is fixed, so only the scalar values go through the C encoder.
    """
    lines = []
    for key, value in example.items():
        if isinstance(value, list):
            if not value:
                lines.append(f'      "{key}": []')
                continue
            items = ",\n".join("        {\n" + ",\n".join(f"          {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in item.items()) + "\n        }" for item in value)
            lines.append(f'      "{key}": [\n{items}\n      ]')
        else:
            lines.append(f"      {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return "{\n" + ",\n".join(lines) + "\n    }"


def write_json(path: Path, data: Any) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------
# embedding
# ---------------------------------------------------------------------------


def _embed_column(dataset, column: str, model, batch_size: int, on_progress: Callable[[int], None]) -> np.ndarray:
    """Embed a text column in slices (bounded memory), into one float32 matrix."""
    from sdg_program.backends.embedder import embed, embedding_dimension

    vectors = np.zeros((len(dataset), embedding_dimension(model)), dtype=np.float32)
    start = 0
    for batch in dataset.select_columns([column]).iter(batch_size=EMBED_SLICE):
        texts = batch[column]
        vectors[start : start + len(texts)] = embed(texts, model, batch_size=batch_size)
        start += len(texts)
        on_progress(len(texts))
    return vectors


class _Progress:
    """Phase timings for the result, and a rich progress bar for the slow (embedding) phases when a console is given."""

    def __init__(self, console) -> None:
        self.console = console
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        logger.info("convert: %s", name)
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - started, 3)

    @contextlib.contextmanager
    def bar(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        if self.console is None:
            yield lambda advance: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=self.console, transient=True) as progress:
            task = progress.add_task(description, total=total)
            yield lambda advance: progress.advance(task, advance)


# ---------------------------------------------------------------------------
# the conversion
# ---------------------------------------------------------------------------


def convert(config: ConvertConfig | None = None, *, model=None, console=None, **options: Any) -> ConvertResult:
    """Convert generated records into train/val/corpus files and a BEIR test set; see the module docstring.

    Pass a ``ConvertConfig`` or its fields as keyword arguments. ``model`` is a loaded
    sentence-transformers model (default: ``load_embedder(config.embedder)``, loaded only when
    needed); ``console`` (rich) shows progress bars for the embedding phases.
    """
    import datasets

    config = config or ConvertConfig(**options)
    records_file = config.records_file()
    output_dir = config.resolved_output_dir()
    corpus_id = config.resolved_corpus_id()
    groups = load_groups(config.groups_json) if config.groups_json and not config.eval_only else []
    progress = _Progress(console)
    # A run killed with SIGKILL leaves temporaries here and a working folder in the temp folder; remove them.
    remove_stale_outputs(output_dir)
    # The Arrow working files, in a folder named after this process, so a later run can tell when it is stale.
    workdir = make_work_dir(WORK_DIR_PREFIX)
    bars_were_off = not datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        report, files = _convert(config, records_file, output_dir, corpus_id, groups, workdir, model, progress)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if not bars_were_off:
            datasets.enable_progress_bars()
    return ConvertResult(output_dir=output_dir, files=files, report=report, timings=progress.timings)


@dataclass
class _Pairs:
    """Exploded pairs and what the filter counted."""

    kept: Any  # datasets.Dataset of kept pairs, in (source_id, pair_index) order
    question_ids: list[str]
    drop_counts: Counter
    invalid_reasons: Counter
    scores: list[float | None]
    vectors: np.ndarray | None = None  # question embeddings, when paraphrase control computed them


@dataclass
class _Splits:
    """Units and the split of every kept pair."""

    units: list
    assignment: dict[str, str]  # unit key -> split
    split_of_record: dict[str, str]
    kept_splits: list[str]
    merges: dict[str, int]
    links: int


def _convert(config, records_file, output_dir, corpus_id, groups, workdir, model, progress):
    """The phases in order; each helper below does one of them."""
    stats = LoadStats()
    embedder = _LazyEmbedder(model, config.embedder)
    with progress.phase("load"):
        records = load_records(records_file, workdir, stats)
        # Sorting the records (not the pairs or chunks) puts every exploded row in (source_id, index) order.
        records = records.select(sorted(range(len(records)), key=_column(records, "source_id").__getitem__))
    with progress.phase("filter"):
        pairs = _filter_pairs(records, config)
    with progress.phase("corpus"):
        chunks, corpus = _build_corpus(records)
    splits = _split(config, records, pairs, groups, embedder, progress)
    training_corpus = None
    if not config.eval_only:
        with progress.phase("training corpus"):
            training_corpus = _training_corpus(chunks, corpus, splits.split_of_record)
    negatives, negatives_summary = _mine(config, pairs, splits, training_corpus, embedder, progress)
    with progress.phase("export"):
        files, examples = _export(config, output_dir, corpus_id, pairs.kept, pairs.question_ids, splits.kept_splits, corpus, training_corpus, negatives)
    report = _build_report(config, records_file, output_dir, corpus_id, stats, pairs, splits, corpus, training_corpus, negatives_summary, examples)
    with progress.phase("report"):
        write_json(output_dir / "report.json", report.model_dump(mode="json"))
        with atomic_path(output_dir / "report.html") as temporary:
            temporary.write_text(render_html(report), encoding="utf-8")
    return report, files + [output_dir / name for name in REPORT_FILES]


class _LazyEmbedder:
    """The embedder, loaded on first use only: conversions without mining or paraphrase control never load it."""

    def __init__(self, model, spec: str | None) -> None:
        self.model = model
        self.spec = spec

    def get(self):
        if self.model is None:
            from sdg_program.backends.embedder import load_embedder

            self.model = load_embedder(self.spec)
        return self.model


def _filter_pairs(records, config: ConvertConfig) -> _Pairs:
    """Explode pairs, give each a drop reason, keep the rest, and name the kept ones."""
    pairs = records.map(
        explode_pairs,
        batched=True,
        batch_size=200,
        remove_columns=records.column_names,
        fn_kwargs={"threshold": config.quality_threshold, "max_pos_docs": config.max_pos_docs},
        new_fingerprint="pairs",
    )
    reasons = _column(pairs, "drop_reason")
    invalid_reasons: Counter[str] = Counter()
    for why, reason in zip(_column(pairs, "reasons"), reasons):
        if reason == "invalid":
            invalid_reasons.update(why)
    kept = pairs.filter(_keep_rows, input_columns="drop_reason", batched=True, new_fingerprint="kept")
    question_ids = _unique_question_ids(_column(kept, "source_id"), _column(kept, "question"))
    return _Pairs(kept, question_ids, Counter(reasons), invalid_reasons, _column(pairs, "score"))


def _build_corpus(records):
    """All chunks (in source order), and the corpus: each distinct text once, at its first occurrence."""
    chunks = records.map(explode_chunks, batched=True, remove_columns=records.column_names, new_fingerprint="chunks")
    first: dict[str, int] = {}
    for index, passage_id in enumerate(_column(chunks, "id")):
        first.setdefault(passage_id, index)
    return chunks, chunks.select(sorted(first.values()))


def _split(config: ConvertConfig, records, pairs: _Pairs, groups, embedder: _LazyEmbedder, progress) -> _Splits:
    """Units (shared documents, groups, paraphrases) and their splits; everything is test with eval_only."""
    record_docs = dict(zip(_column(records, "source_id"), _column(records, "file_names")))
    kept_sources = _column(pairs.kept, "source_id")
    links: list[tuple[str, str]] = []
    if not config.eval_only and config.paraphrase_threshold is not None and len(pairs.kept) > 1:
        with progress.phase("embed questions"), progress.bar("Embedding questions", len(pairs.kept)) as advance:
            pairs.vectors = _embed_column(pairs.kept, "question", embedder.get(), config.embed_batch_size, advance)
        with progress.phase("paraphrases"):
            from sdg_program.export.negatives import near_duplicate_links  # imports torch: only when needed

            order = sorted(record_docs)
            index_of = {source_id: index for index, source_id in enumerate(order)}
            owner_links = near_duplicate_links(pairs.vectors, [index_of[s] for s in kept_sources], config.paraphrase_threshold)
            links = [(order[left], order[right]) for left, right in owner_links]
    with progress.phase("split"):
        units, merges = build_units(record_docs, dict(Counter(kept_sources)), groups=groups, record_links=links)
        if config.eval_only:
            assignment = {unit.key: "test" for unit in units if unit.weight > 0}
        else:
            targets = split_targets(config.train_ratio, config.val_ratio)
            assignment = assign_splits(units, targets, config.seed, largest_first=config.split_strategy != SplitStrategy.RANDOM)
        split_of_record = {record: assignment[unit.key] for unit in units if unit.key in assignment for record in unit.records}
    return _Splits(units, assignment, split_of_record, [split_of_record[s] for s in kept_sources], merges, len(links))


def _training_corpus(chunks, corpus, split_of_record: dict[str, str]):
    """The corpus without passages that only test documents hold: no test passage is trained on, even as a negative."""
    train_ids = {passage for passage, source in zip(_column(chunks, "id"), _column(chunks, "source_id")) if split_of_record.get(source) != "test"}
    return corpus.filter(lambda ids: [i in train_ids for i in ids], input_columns="id", batched=True, new_fingerprint="training_corpus")


def _mine(config: ConvertConfig, pairs: _Pairs, splits: _Splits, training_corpus, embedder: _LazyEmbedder, progress):
    """Hard negatives (passage IDs) for train/val pairs, keyed by kept-pair row."""
    if config.eval_only or config.num_negatives == 0:
        return {}, None
    summary = NegativesSummary(requested_per_query=config.num_negatives, margin=config.negative_margin)
    rows = [index for index, split in enumerate(splits.kept_splits) if split in ("train", "val")]
    if not rows:
        return {}, summary
    with progress.phase("embed corpus"), progress.bar("Embedding passages", len(training_corpus)) as advance:
        corpus_vectors = _embed_column(training_corpus, "text", embedder.get(), config.embed_batch_size, advance)
    with progress.phase("embed questions"):
        subset = pairs.kept.select(rows)
        if pairs.vectors is not None:
            query_vectors = pairs.vectors[rows]
        else:
            with progress.bar("Embedding questions", len(subset)) as advance:
                query_vectors = _embed_column(subset, "question", embedder.get(), config.embed_batch_size, advance)
    with progress.phase("mine negatives"):
        from sdg_program.export.negatives import mine_hard_negatives  # imports torch: only when needed

        corpus_ids = _column(training_corpus, "id")
        row_of = {passage: row for row, passage in enumerate(corpus_ids)}
        positives = [[row_of[passage] for passage in ids] for ids in _column(subset, "positive_ids")]
        mined, stats = mine_hard_negatives(query_vectors, corpus_vectors, positives, config.num_negatives, config.negative_margin)
    negatives = {row: [corpus_ids[index] for index in picked] for row, picked in zip(rows, mined)}
    return negatives, summary.model_copy(update={
        "queries": stats.queries, "negatives": stats.negatives, "queries_short": stats.queries_short,
        "excluded_as_likely_positive": stats.excluded_as_likely_positive,
    })


def _build_report(config, records_file, output_dir, corpus_id, stats: LoadStats, pairs: _Pairs, splits: _Splits, corpus,
                  training_corpus, negatives_summary, examples: dict[str, int]) -> ConvertReport:
    """Counts, split sizes and distributions; warnings for splits left empty."""
    active = [unit for unit in splits.units if unit.weight > 0]
    names = ("test",) if config.eval_only else SPLITS
    split_summaries: dict[str, SplitSummary] = {}
    for name in names:
        members = [unit for unit in active if splits.assignment.get(unit.key) == name]
        split_summaries[name] = SplitSummary(
            units=len(members),
            documents=len(set().union(*(unit.documents for unit in members))) if members else 0,
            queries=splits.kept_splits.count(name),
            examples=examples.get(name, 0),
        )
    warnings: list[str] = []
    if splits.merges.get("group_documents_unmatched"):
        warnings.append(f"{splits.merges['group_documents_unmatched']} document names in --groups-json match no record")
    if not config.eval_only:
        targets = split_targets(config.train_ratio, config.val_ratio)
        for name in SPLITS:
            if targets[name] > 0 and split_summaries[name].units == 0:
                warnings.append(f"the {name} split is empty: {len(active)} unit(s) with kept pairs are too few for three splits")
    drop_counts = Counter(pairs.drop_counts)
    kept_count = drop_counts.pop("", 0)
    return ConvertReport(
        input_file=str(records_file),
        output_dir=str(output_dir),
        corpus_id=corpus_id,
        settings=config.model_dump(mode="json"),
        records_in=stats.records_in,
        records_duplicate=stats.records_duplicate,
        lines_malformed=stats.lines_malformed,
        records_without_pairs=stats.records_without_pairs,
        records_validated_at_convert=stats.records_validated_at_convert,
        records_judged_by_position=stats.records_judged_by_position,
        records_judge_unaligned=stats.records_judge_unaligned,
        pairs_in=stats.pairs_in,
        pairs_kept=kept_count,
        pairs_dropped={reason: drop_counts[reason] for reason in DROP_REASONS if drop_counts.get(reason)},
        validation_reasons=dict(sorted(pairs.invalid_reasons.items(), key=lambda item: (-item[1], item[0]))),
        chunks_in=stats.chunks_in,
        corpus_documents=len(corpus),
        training_corpus_documents=len(training_corpus) if training_corpus is not None else 0,
        units=len(active),
        merges=splits.merges,
        paraphrase_links=splits.links,
        splits=split_summaries,
        distributions={name: sorted_counts(Counter("unknown" if v is None else str(v) for v in _column(pairs.kept, name))) for name in DISTRIBUTIONS},
        judge_scores=score_histogram(pairs.scores),
        negatives=negatives_summary,
        warnings=warnings,
    )


def _unique_question_ids(source_ids: list[str], questions: list[str]) -> list[str]:
    """``q_<hash>`` per pair; a repeat of the same question in the same source gets ``_2``, ``_3``, ..."""
    seen: Counter[str] = Counter()
    ids = []
    for source_id, question in zip(source_ids, questions):
        base = question_id_for(source_id, question)
        seen[base] += 1
        ids.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
    return ids


def _training_examples(rows: dict[str, list], negatives: dict[int, list[str]], corpus_id: str, unroll: bool) -> Iterator[dict[str, Any]]:
    """NeMo AutoModel examples; with ``unroll`` one per positive (IDs suffixed ``_p1``, ``_p2``, ...)."""
    for row, question_id, question, positives in zip(rows["row"], rows["question_id"], rows["question"], rows["positive_ids"]):
        neg_doc = [{"id": passage} for passage in negatives.get(row, [])]
        if unroll and len(positives) > 1:
            for number, passage in enumerate(positives, 1):
                yield {"question_id": f"{question_id}_p{number}", "question": question, "corpus_id": corpus_id, "pos_doc": [{"id": passage}], "neg_doc": neg_doc}
        else:
            yield {"question_id": question_id, "question": question, "corpus_id": corpus_id, "pos_doc": [{"id": passage} for passage in positives], "neg_doc": neg_doc}


def _query_line(row: dict[str, Any], query_id: str) -> str:
    metadata = {
        "answer": row["answer"],
        "query_type": row["query_type"],
        "reasoning_type": row["reasoning_type"],
        "hop_count": row["hop_count"],
        "question_complexity": row["question_complexity"],
        "quality_score": row["score"],
        "segment_ids": row["segment_ids"],
        "hop_contexts": json.loads(row["hop_contexts"]),
        "source_id": row["source_id"],
        "file_name": row["file_names"],
    }
    return jsonl_text({"_id": query_id, "text": row["question"], "metadata": metadata})


def _corpus_line(row: dict[str, Any]) -> str:
    metadata = {"source_id": row["source_id"], "doc_id": row["doc_id"], "chunk_id": row["chunk_id"]}
    return jsonl_text({"_id": row["id"], "title": "", "text": row["text"], "metadata": metadata})


def _rows(dataset) -> Iterator[dict[str, Any]]:
    """Rows of a dataset, read in Arrow batches."""
    for batch in dataset.iter(batch_size=2000):
        names = list(batch)
        for values in zip(*(batch[name] for name in names)):
            yield dict(zip(names, values))


def _export(config, output_dir, corpus_id, kept, question_ids, splits, corpus, training_corpus, negatives) -> tuple[list[Path], dict[str, int]]:
    """Write every output file atomically; remove outputs of the other mode left by an earlier run."""
    files: list[Path] = []
    examples: dict[str, int] = {}
    stale = TRAIN_FILES if config.eval_only else ()
    for name in stale:
        (output_dir / name).unlink(missing_ok=True)
    if not config.eval_only:
        for name in ("train", "val"):
            rows = [index for index, split in enumerate(splits) if split == name]
            subset = kept.select(rows).select_columns(["question", "positive_ids"])
            columns = {"row": rows, "question_id": [question_ids[row] for row in rows], **{column: _column(subset, column) for column in subset.column_names}}
            path = output_dir / f"{name}.json"
            examples[name] = write_training_json(path, _training_examples(columns, negatives, corpus_id, config.unroll_positives))
            files.append(path)
        path = output_dir / "corpus" / "train.parquet"
        with atomic_path(path) as temporary:
            training_corpus.select_columns(["id", "text"]).to_parquet(str(temporary))
        write_json(output_dir / "corpus" / "merlin_metadata.json", {"class": "TextQADataset", "corpus_id": corpus_id})
        files += [path, output_dir / "corpus" / "merlin_metadata.json"]
    beir = output_dir / "eval_beir"
    test_rows = [index for index, split in enumerate(splits) if split == "test"]
    test = kept.select(test_rows)
    test_ids = [question_ids[row] for row in test_rows]
    write_text_lines(beir / "corpus.jsonl", (_corpus_line(row) for row in _rows(corpus)))
    examples["test"] = write_text_lines(beir / "queries.jsonl", (_query_line(row, query_id) for row, query_id in zip(_rows(test), test_ids)))
    qrels = (f"{query_id}\t{passage}\t1" for query_id, ids in zip(test_ids, _column(test, "positive_ids")) for passage in ids)
    write_text_lines(beir / "qrels" / "test.tsv", ["query-id\tcorpus-id\tscore", *qrels])
    files += [beir / name for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv")]
    return files, examples
