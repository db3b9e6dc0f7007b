"""Turn a ``convert`` output folder into what sentence-transformers trains and validates on.

``train.json`` and ``val.json`` cite passages by ID (NeMo AutoModel's corpus-ID format) and
``corpus/train.parquet`` holds the texts, so the IDs are joined here and every one is checked:
a question citing a passage that is not in the corpus means the files come from different
runs, and training on a half-joined set would silently drop data.

Training rows are (anchor, positive, negative_1..k) columns of a ``datasets.Dataset``, the
shape MultipleNegativesRankingLoss reads. A Dataset needs the same columns in every row, but
mining can find fewer negatives than asked for a question (the margin filter drops likely
positives). Such rows keep their own negatives, repeated to fill the columns; a row with none
gets a seeded random passage that is not one of its positives. Nothing is dropped, and the
counts say how many rows were filled.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sdg_program.core.errors import ExportFolderError, MissingInputError
from sdg_program.evaluation.finetune_config import DataCounts
from sdg_program.export.nemo import TrainingExample, TrainingFile

logger = logging.getLogger(__name__)

CORPUS_FILE = "corpus/train.parquet"
CONVERT_HINT = "run `sdg-program convert` on your generated records first (without --eval-only)"
MAX_NAMED_IDS = 5


@dataclass
class ValidationSet:
    """val.json in the shape InformationRetrievalEvaluator takes; the corpus is the whole training corpus."""

    queries: dict[str, str] = field(default_factory=dict)
    relevant: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class TrainingData:
    rows: dict[str, list[str]]  # column name -> values: anchor, positive, negative_1..k
    corpus: dict[str, str]
    validation: ValidationSet
    counts: DataCounts

    def dataset(self) -> Any:
        from datasets import Dataset

        return Dataset.from_dict(self.rows)


# --- reading ---------------------------------------------------------------------------


def read_training_data(folder: Path, *, num_negatives: int, unroll_positives: bool, seed: int) -> TrainingData:
    """Read, cross-check and join a convert folder; raise a UserError that says how to fix it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingInputError(f"{folder} does not exist or is not a folder; pass the output folder of convert (X_train_eval/), or {CONVERT_HINT}.")
    train = _read_questions(folder / "train.json", required=True)
    if not train:
        raise ExportFolderError(f"{folder / 'train.json'} holds no questions, so there is nothing to train on; {CONVERT_HINT}, with a larger --train-ratio or more records.")
    val = _read_questions(folder / "val.json", required=False)
    corpus = _read_corpus(folder / CORPUS_FILE)
    _check_references(folder, train + val, corpus)
    rows, short, empty, width = _training_rows(train, corpus, num_negatives=num_negatives, unroll_positives=unroll_positives, seed=seed)
    counts = DataCounts(
        train_questions=len(train),
        train_rows=len(rows["anchor"]),
        val_questions=len(val),
        corpus_passages=len(corpus),
        negatives_per_row=width,
        rows_short_of_negatives=short,
        rows_without_negatives=empty,
    )
    return TrainingData(rows=rows, corpus=corpus, validation=_validation_set(val), counts=counts)


def _read_questions(path: Path, *, required: bool) -> list[TrainingExample]:
    if not path.is_file():
        if required:
            raise ExportFolderError(f"{path.parent} has no {path.name}; {CONVERT_HINT}.")
        logger.warning("%s is missing; training without validation.", path)
        return []
    try:
        parsed = TrainingFile.model_validate_json(path.read_bytes())
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ExportFolderError(f"{path} is not a convert training file ({where}: {first['msg']}); {CONVERT_HINT}.") from None
    return [question for question in parsed.data if question.question.strip() and question.pos_doc]


def _read_corpus(path: Path) -> dict[str, str]:
    import pyarrow.parquet as pq

    if not path.is_file():
        raise ExportFolderError(f"{path.parent.parent} has no {CORPUS_FILE}; {CONVERT_HINT}.")
    try:
        table = pq.read_table(path, columns=["id", "text"])
    except Exception as error:  # pyarrow raises several types for bad files and missing columns
        raise ExportFolderError(f"{path}: cannot read columns id, text ({error}); {CONVERT_HINT}.") from error
    return {str(doc_id): text or "" for doc_id, text in zip(table.column("id").to_pylist(), table.column("text").to_pylist())}


def _check_references(folder: Path, questions: list[TrainingExample], corpus: dict[str, str]) -> None:
    missing: list[str] = []
    for question in questions:
        for ref in (*question.pos_doc, *question.neg_doc):
            if ref.id not in corpus and ref.id not in missing:
                missing.append(ref.id)
    if missing:
        named = ", ".join(missing[:MAX_NAMED_IDS]) + (f" (and {len(missing) - MAX_NAMED_IDS} more)" if len(missing) > MAX_NAMED_IDS else "")
        raise ExportFolderError(
            f"{len(missing)} passage ID(s) cited by {folder}/train.json or val.json are not in {CORPUS_FILE}: {named}. "
            "The files come from different runs; re-run `sdg-program convert` into an empty folder."
        )


# --- training rows ---------------------------------------------------------------------


def _training_rows(
    questions: list[TrainingExample], corpus: dict[str, str], *, num_negatives: int, unroll_positives: bool, seed: int
) -> tuple[dict[str, list[str]], int, int, int]:
    """(columns, rows short of negatives, rows without any, negative columns per row)."""
    pairs = [(question, positive) for question in questions for positive in (question.pos_doc if unroll_positives else question.pos_doc[:1])]
    mined = [_negatives_of(question, num_negatives) for question, _ in pairs]
    width = min(num_negatives, max((len(ids) for ids in mined), default=0))
    if num_negatives and width == 0:
        logger.warning("train.json has no hard negatives (was convert run with --num-negatives 0?); training with in-batch negatives only.")
    columns: dict[str, list[str]] = {"anchor": [], "positive": [], **{f"negative_{n}": [] for n in range(1, width + 1)}}
    filler = random.Random(seed)
    passage_ids = sorted(corpus)
    for (question, positive), ids in zip(pairs, mined):
        columns["anchor"].append(question.question)
        columns["positive"].append(corpus[positive.id])
        for n, doc_id in enumerate(_fill(ids, width, question, passage_ids, filler), start=1):
            columns[f"negative_{n}"].append(corpus[doc_id])
    short = sum(1 for ids in mined if len(ids) < num_negatives)
    padded = sum(1 for ids in mined if len(ids) < width)
    empty = sum(1 for ids in mined if not ids) if width else 0
    if short:
        logger.warning("%d of %d training rows have fewer than the %d hard negatives asked for.", short, len(pairs), num_negatives)
    if 0 < width < num_negatives:
        logger.warning("No row has %d hard negatives; training with %d per row.", num_negatives, width)
    if padded:
        logger.warning("%d row(s) fill their %d negative columns by repeating their own negatives%s.", padded, width,
                       f" ({empty} have none and get a random passage)" if empty else "")
    return columns, short, empty, width


def _negatives_of(question: TrainingExample, limit: int) -> list[str]:
    """The first ``limit`` negatives of a question that are not also one of its positives."""
    positives = {ref.id for ref in question.pos_doc}
    unique = list(dict.fromkeys(ref.id for ref in question.neg_doc if ref.id not in positives))
    return unique[:limit]


def _fill(ids: list[str], width: int, question: TrainingExample, passage_ids: list[str], filler: random.Random) -> list[str]:
    """Exactly ``width`` negative IDs: the mined ones, repeated in order, or random non-positive passages if none."""
    if not width:
        return []
    if ids:
        return [ids[n % len(ids)] for n in range(width)]
    positives = {ref.id for ref in question.pos_doc}
    candidates = [doc_id for doc_id in passage_ids if doc_id not in positives]
    if not candidates:
        raise ExportFolderError("the training corpus has no passage besides the positives, so no negative can be formed; use --num-negatives 0.")
    return [filler.choice(candidates) for _ in range(width)]


def _validation_set(questions: list[TrainingExample]) -> ValidationSet:
    return ValidationSet(
        queries={question.question_id: question.question for question in questions},
        relevant={question.question_id: {ref.id for ref in question.pos_doc} for question in questions},
    )

