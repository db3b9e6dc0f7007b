"""The NeMo AutoModel training files: train.json, val.json, corpus/train.parquet and corpus/merlin_metadata.json.

train.json and val.json name passages by ID only; the texts are in corpus/train.parquet, which
holds the training corpus (no test-only passage). Every file is written to a temporary name and
renamed into place, and the same input and options give the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sdg_program.core.files import atomic_path, write_json_atomic
from sdg_program.export.config import TRAIN_FILES
from sdg_program.export.tables import column

# --- the file format, as readers (push, finetune) validate it --------------------------


class DocRef(BaseModel):
    model_config = ConfigDict(coerce_numbers_to_str=True)
    id: str


class TrainingExample(BaseModel):
    model_config = ConfigDict(coerce_numbers_to_str=True)
    question_id: str
    question: str
    corpus_id: str | None = None
    pos_doc: list[DocRef]
    neg_doc: list[DocRef] = Field(default_factory=list)


class TrainingFile(BaseModel):
    """train.json / val.json in NeMo AutoModel's corpus-ID format."""

    corpus: dict[str, Any]
    data: list[TrainingExample]


# --- writing ----------------------------------------------------------------------------


def write_nemo(output_dir: Path, corpus_id: str, kept, question_ids: list[str], splits: list[str], training_corpus,
               negatives: dict[int, list[str]], unroll: bool) -> tuple[list[Path], dict[str, int]]:
    """Write the four training files; returns them and the number of examples per split (train, val)."""
    files: list[Path] = []
    examples: dict[str, int] = {}
    for name in ("train", "val"):
        rows = [index for index, split in enumerate(splits) if split == name]
        subset = kept.select(rows).select_columns(["question", "positive_ids"])
        columns = {"row": rows, "question_id": [question_ids[row] for row in rows], **{field: column(subset, field) for field in subset.column_names}}
        path = output_dir / f"{name}.json"
        examples[name] = write_training_json(path, _training_examples(columns, negatives, corpus_id, unroll))
        files.append(path)
    path = output_dir / "corpus" / "train.parquet"
    with atomic_path(path) as temporary:
        training_corpus.select_columns(["id", "text"]).to_parquet(str(temporary))
    write_json_atomic(output_dir / "corpus" / "merlin_metadata.json", {"class": "TextQADataset", "corpus_id": corpus_id})
    files += [path, output_dir / "corpus" / "merlin_metadata.json"]
    return files, examples


def remove_nemo_files(output_dir: Path) -> None:
    """Remove training files an earlier run left in ``output_dir``: an eval-only run must not leave them beside its BEIR set."""
    for name in TRAIN_FILES:
        (output_dir / name).unlink(missing_ok=True)


def _training_examples(rows: dict[str, list], negatives: dict[int, list[str]], corpus_id: str, unroll: bool) -> Iterator[dict[str, Any]]:
    """NeMo AutoModel examples; with ``unroll`` one per positive (IDs suffixed ``_p1``, ``_p2``, ...)."""
    for row, question_id, question, positives in zip(rows["row"], rows["question_id"], rows["question"], rows["positive_ids"]):
        neg_doc = [{"id": passage} for passage in negatives.get(row, [])]
        if unroll and len(positives) > 1:
            for number, passage in enumerate(positives, 1):
                yield {"question_id": f"{question_id}_p{number}", "question": question, "corpus_id": corpus_id, "pos_doc": [{"id": passage}], "neg_doc": neg_doc}
        else:
            yield {"question_id": question_id, "question": question, "corpus_id": corpus_id, "pos_doc": [{"id": passage} for passage in positives], "neg_doc": neg_doc}


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
