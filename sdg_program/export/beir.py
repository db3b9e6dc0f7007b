"""The BEIR evaluation set: eval_beir/corpus.jsonl, queries.jsonl and qrels/test.tsv.

The BEIR corpus is the whole corpus (test passages and distractors included), so a retriever is
scored against every passage it could find; the queries are the test split's kept pairs, each
with its metadata (answer, types, judge score, segments) for analysis by slice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sdg_program.core.files import atomic_path, write_jsonl_atomic
from sdg_program.export.tables import column


def write_beir(output_dir: Path, corpus, kept, question_ids: list[str], splits: list[str]) -> tuple[list[Path], int]:
    """Write the three BEIR files from the corpus and the test pairs; returns them and the number of queries."""
    beir = output_dir / "eval_beir"
    test_rows = [index for index, split in enumerate(splits) if split == "test"]
    test = kept.select(test_rows)
    test_ids = [question_ids[row] for row in test_rows]
    write_jsonl_atomic(beir / "corpus.jsonl", (_corpus_row(row) for row in _rows(corpus)))
    queries = write_jsonl_atomic(beir / "queries.jsonl", (_query_row(row, query_id) for row, query_id in zip(_rows(test), test_ids)))
    qrels = (f"{query_id}\t{passage}\t1" for query_id, ids in zip(test_ids, column(test, "positive_ids")) for passage in ids)
    _write_lines(beir / "qrels" / "test.tsv", ["query-id\tcorpus-id\tscore", *qrels])
    return [beir / name for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv")], queries


def _query_row(row: dict[str, Any], query_id: str) -> dict[str, Any]:
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
    return {"_id": query_id, "text": row["question"], "metadata": metadata}


def _corpus_row(row: dict[str, Any]) -> dict[str, Any]:
    metadata = {"source_id": row["source_id"], "doc_id": row["doc_id"], "chunk_id": row["chunk_id"]}
    return {"_id": row["id"], "title": "", "text": row["text"], "metadata": metadata}


def _rows(dataset) -> Iterator[dict[str, Any]]:
    """Rows of a dataset, read in Arrow batches."""
    for batch in dataset.iter(batch_size=2000):
        names = list(batch)
        for values in zip(*(batch[name] for name in names)):
            yield dict(zip(names, values))


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    """Write text lines (each without its newline) atomically."""
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8", newline="\n") as stream:
        for line in lines:
            stream.write(line)
            stream.write("\n")
