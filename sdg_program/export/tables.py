"""The Arrow tables that convert's phases hand to each other: their schemas, and reading a column back.

Three tables live in the working folder: records (one row per record, written by ``load``),
pair rows (one per QA pair, by ``gate``) and chunk rows (one per chunk, by ``corpus``). Their
schemas are fixed here, in one place, so every batched ``map`` returns exactly its output schema
and ``datasets`` writes it without a cast. ``datasets`` is imported only when a schema is built:
importing this module stays cheap.
"""

from __future__ import annotations

from typing import Any


def _pair_fields() -> dict[str, Any]:
    """The fields of one QA pair, shared by the records table (nested) and the pair rows (flat)."""
    from datasets import List, Value

    return {
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
        "judged": Value("bool"),  # False: the run's judge was off, so no score is expected
        "valid": Value("bool"),
        "reasons": List(Value("string")),
    }


def record_features():
    """One row per record: its chunks (with content IDs) and its pairs, without full text or artifacts."""
    from datasets import Features, List, Value

    return Features({
        "source_id": Value("string"),
        "file_names": List(Value("string")),
        "chunk_ids": List(Value("int64")),
        "chunk_texts": List(Value("string")),
        "chunk_corpus_ids": List(Value("string")),
        "chunk_docs": List(Value("string")),
        "pairs": List(_pair_fields()),
    })


def pair_row_features():
    """One row per QA pair: the pair, its record's keys, its positives as passage IDs and its drop reason."""
    from datasets import Features, List, Value

    return Features({
        "source_id": Value("string"),
        "file_names": List(Value("string")),
        **_pair_fields(),
        "positive_ids": List(Value("string")),
        "drop_reason": Value("string"),
    })


def chunk_row_features():
    """One row per chunk: its passage ID and text, and where it came from."""
    from datasets import Features, Value

    return Features({
        "id": Value("string"),
        "text": Value("string"),
        "source_id": Value("string"),
        "chunk_id": Value("int64"),
        "doc_id": Value("string"),
    })


def column(dataset, name: str) -> list:
    """A whole column as a Python list, read in one Arrow slice (iterating a ``Column`` goes row by row)."""
    return dataset[name][:] if len(dataset) else []
