"""The passage corpus and the IDs that name passages and queries.

A passage's ID is the hash of its text, so identical text in two documents is one passage and
a re-run names every passage the same way. The corpus holds every chunk of every record, also
the chunks of records whose pairs were all rejected: they stay in as distractors. The training
corpus leaves out passages that only test documents hold, so no test passage is trained on,
not even as a hard negative.
"""

from __future__ import annotations

import hashlib
from collections import Counter

import pyarrow as pa

from sdg_program.export.tables import chunk_row_features, column


def corpus_id_for(text: str) -> str:
    """The contract's content-addressed passage ID: identical text in two documents is one passage."""
    return "d_" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def question_id_for(source_id: str, question: str) -> str:
    """A query ID that is stable across runs and splits; never equal to a passage ID (``q_`` vs ``d_``)."""
    return "q_" + hashlib.sha256(f"{source_id}\n{question}".encode("utf-8")).hexdigest()[:16]


def unique_question_ids(source_ids: list[str], questions: list[str]) -> list[str]:
    """``q_<hash>`` per pair; a repeat of the same question in the same source gets ``_2``, ``_3``, ..."""
    seen: Counter[str] = Counter()
    ids = []
    for source_id, question in zip(source_ids, questions):
        base = question_id_for(source_id, question)
        seen[base] += 1
        ids.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
    return ids


def explode_chunks(batch: dict[str, list]) -> pa.Table:
    """One row per chunk, in chunk_id order within a record: passage ID and text, plus where it came from.

    A batched ``datasets`` map over the records table; returns an Arrow table in the chunk-row schema.
    """
    chunk_features = chunk_row_features()
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


def build_corpus(records):
    """All chunks (in source order), and the corpus: each distinct text once, at its first occurrence."""
    chunks = records.map(explode_chunks, batched=True, remove_columns=records.column_names, new_fingerprint="chunks")
    first: dict[str, int] = {}
    for index, passage_id in enumerate(column(chunks, "id")):
        first.setdefault(passage_id, index)
    return chunks, chunks.select(sorted(first.values()))


def build_training_corpus(chunks, corpus, split_of_record: dict[str, str]):
    """The corpus without passages that only test documents hold: no test passage is trained on, even as a negative."""
    train_ids = {passage for passage, source in zip(column(chunks, "id"), column(chunks, "source_id")) if split_of_record.get(source) != "test"}
    return corpus.filter(lambda ids: [i in train_ids for i in ids], input_columns="id", batched=True, new_fingerprint="training_corpus")
