"""Push a converted `X_train_eval/` folder to the Hugging Face Hub as one dataset repository.

What lands on the Hub:

- config `default`, splits `train` and `validation` (from train.json / val.json) and `test`
  (from eval_beir): one row per question with `question_id`, `question`, `pos_doc_ids`,
  `neg_doc_ids` and `metadata` (JSON text; the BEIR query metadata for test, `{}` otherwise);
- config `corpus`, split `corpus`: one row per passage, `id`, `text`, `title` and
  `in_training_corpus` (False for passages only the test documents hold: convert keeps
  them out of corpus/train.parquet so no test passage is trained on, even as a negative);
- README.md: the dataset card (see `sdg_program.hub.card`).

Questions keep passage IDs instead of copies of the texts: hard negatives are shared by
many questions, the IDs are the same ones the NeMo and BEIR exports use (so the data
round-trips), and the join is one line. Test qrels point at BEIR corpus IDs; convert uses
the same content IDs there, but to be safe they are mapped to the training corpus's IDs
by exact text (BEIR-only passages keep the content ID `d_` + sha256(text)[:16]), so the
Hub dataset has one ID space.

Before anything leaves the machine, every passage, question and answer is scanned for
credentials and personal data (``sdg_program.export.scan``): findings refuse the push unless
``allow_findings``; they are listed by kind, document and ID, never by value. The repository
is private unless the caller asks for a public one, and a public push must be confirmed
(``sdg_program.hub.publication``); an existing public repository is refused to a private push.

The upload is the ordinary path of both libraries: `HfApi` creates the repo and commits
the card, `DatasetDict.push_to_hub` writes the Parquet shards and merges its `configs` and
`dataset_info` into that card. The endpoint is whatever huggingface_hub and datasets read
from HF_ENDPOINT (default https://huggingface.co). The token comes from huggingface_hub's
own lookup (HF_TOKEN, then the `hf auth login` file); it is handed to those libraries only,
and scrubbed from every error message we raise.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sdg_program.core.errors import ExportFolderError, HubError, NoTokenError
from sdg_program.core.secrets import REDACTED, scrub
from sdg_program.export.nemo import TrainingExample, TrainingFile
from sdg_program.export.scan import ScanSummary, scan_export, sensitive_data_error
from sdg_program.hub.card import CardFacts, build_card
from sdg_program.hub.config import PushConfig
from sdg_program.hub.publication import Confirm, PublicationPlan, PublicationRefused, accept, confirmed, public_repo_refusal

if TYPE_CHECKING:
    from sdg_program.hub.model_upload import ModelPushResult

logger = logging.getLogger(__name__)

SPLIT_FILES = {"train": "train.json", "validation": "val.json"}
CORPUS_PARQUET = "corpus/train.parquet"
MERLIN_METADATA = "corpus/merlin_metadata.json"
BEIR_FILES = ("eval_beir/corpus.jsonl", "eval_beir/queries.jsonl", "eval_beir/qrels/test.tsv")
REQUIRED_FILES = (*SPLIT_FILES.values(), CORPUS_PARQUET, *BEIR_FILES)
LOGIN_HINT = "Set HF_TOKEN to a token with write access, or run `hf auth login` (https://huggingface.co/settings/tokens)."


# --- what convert wrote (inputs) -------------------------------------------------------


class BeirDocument(BaseModel):
    model_config = ConfigDict(coerce_numbers_to_str=True, populate_by_name=True)
    id: str = Field(alias="_id")
    title: str | None = ""
    text: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class BeirQuery(BaseModel):
    model_config = ConfigDict(coerce_numbers_to_str=True, populate_by_name=True)
    id: str = Field(alias="_id")
    text: str
    metadata: dict[str, Any] = Field(default_factory=dict)


# --- what we upload (outputs) ----------------------------------------------------------


class QuestionRow(BaseModel):
    question_id: str
    question: str
    pos_doc_ids: list[str]
    neg_doc_ids: list[str]
    metadata: str = "{}"


class PassageRow(BaseModel):
    id: str
    text: str
    title: str = ""
    in_training_corpus: bool = True


class ExportData(BaseModel):
    """A convert folder read into memory, in the shape it is uploaded."""

    splits: dict[str, list[QuestionRow]]
    corpus: list[PassageRow]
    corpus_id: str | None = None
    report: dict[str, Any] | None = None
    run: dict[str, Any] | None = None


class PushResult(BaseModel):
    repo_id: str
    url: str
    commit_url: str | None = None
    private: bool = True
    split_rows: dict[str, int]
    corpus_rows: int
    findings: dict[str, int] = Field(default_factory=dict, description="Scan findings uploaded with --allow-findings, by kind")


# --- reading ---------------------------------------------------------------------------


def check_export_folder(folder: Path) -> None:
    """Fail early, naming every missing file, before any network call."""
    if not folder.is_dir():
        raise ExportFolderError(f"{folder} is not a folder; pass the output folder of `sdg-program convert` (X_train_eval/).")
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise ExportFolderError(f"{folder} is not a complete `sdg-program convert` output; missing: {', '.join(missing)}")


def read_export(folder: Path) -> ExportData:
    """Read and cross-check a convert folder: every cited passage ID must exist in the corpus."""
    folder = Path(folder)
    check_export_folder(folder)
    corpus = _read_corpus_parquet(folder / CORPUS_PARQUET)
    splits: dict[str, list[QuestionRow]] = {}
    corpus_id = None
    for split, name in SPLIT_FILES.items():
        training = _read_model(folder / name, TrainingFile)
        splits[split] = [_training_row(example) for example in training.data]
        corpus_id = corpus_id or next((example.corpus_id for example in training.data if example.corpus_id), None)
    corpus, test_rows = _beir_test_split(folder / "eval_beir", corpus)
    splits["test"] = test_rows
    known = {passage.id for passage in corpus}
    for split, rows in splits.items():
        _check_references(split, rows, known)
    metadata = _read_optional_json(folder / MERLIN_METADATA)
    if metadata and metadata.get("corpus_id"):
        corpus_id = str(metadata["corpus_id"])
    return ExportData(
        splits=splits,
        corpus=corpus,
        corpus_id=corpus_id,
        report=_read_optional_json(folder / "report.json"),
        run=_read_optional_json(folder / "run.json"),
    )


def _read_corpus_parquet(path: Path) -> list[PassageRow]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=["id", "text"])
    except Exception as error:  # pyarrow raises several types for bad files and missing columns
        raise ExportFolderError(f"{path}: cannot read columns id, text ({error})") from error
    return [PassageRow(id=str(doc_id), text=text or "") for doc_id, text in zip(table.column("id").to_pylist(), table.column("text").to_pylist())]


def _read_model(path: Path, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate_json(path.read_bytes())
    except ValidationError as error:
        raise ExportFolderError(f"{path} does not match the training-file contract: {_first_error(error)}") from error


def _read_jsonl(path: Path, model: type[BaseModel]) -> list[Any]:
    items = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                items.append(model.model_validate_json(line))
            except ValidationError as error:
                raise ExportFolderError(f"{path}, line {number}: {_first_error(error)}") from error
    return items


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader, None)
        if header is None or [column.strip() for column in header[:3]] != ["query-id", "corpus-id", "score"]:
            raise ExportFolderError(f"{path}: the first line must be the header query-id<TAB>corpus-id<TAB>score")
        for number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
                raise ExportFolderError(f"{path}, line {number}: expected query-id<TAB>corpus-id<TAB>integer score")
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels


def _read_optional_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        logger.warning("Ignoring %s: %s", path.name, error)
        return None
    return data if isinstance(data, dict) else None


def _training_row(example: TrainingExample) -> QuestionRow:
    return QuestionRow(
        question_id=example.question_id,
        question=example.question,
        pos_doc_ids=[doc.id for doc in example.pos_doc],
        neg_doc_ids=[doc.id for doc in example.neg_doc],
    )


def content_id(text: str) -> str:
    """The corpus doc ID contract: "d_" + sha256(text)[:16]."""
    return "d_" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _beir_test_split(beir_dir: Path, corpus: list[PassageRow]) -> tuple[list[PassageRow], list[QuestionRow]]:
    """Test questions from the BEIR files, with their passages mapped into the training corpus's IDs."""
    documents = _read_jsonl(beir_dir / "corpus.jsonl", BeirDocument)
    queries = _read_jsonl(beir_dir / "queries.jsonl", BeirQuery)
    qrels = _read_qrels(beir_dir / "qrels" / "test.tsv")
    corpus = list(corpus)
    id_by_text = {passage.text: passage.id for passage in corpus}
    index_by_id = {passage.id: index for index, passage in enumerate(corpus)}
    beir_to_corpus: dict[str, str] = {}
    for document in documents:
        doc_id = id_by_text.get(document.text)
        if doc_id is None:
            doc_id = content_id(document.text)
            id_by_text[document.text] = doc_id
            index_by_id[doc_id] = len(corpus)
            corpus.append(PassageRow(id=doc_id, text=document.text, title=document.title or "", in_training_corpus=False))
        elif document.title and not corpus[index_by_id[doc_id]].title:
            corpus[index_by_id[doc_id]] = corpus[index_by_id[doc_id]].model_copy(update={"title": document.title})
        beir_to_corpus[document.id] = doc_id
    rows = []
    for query in queries:
        judged = qrels.get(query.id, {})
        missing = [doc_id for doc_id in judged if doc_id not in beir_to_corpus]
        if missing:
            raise ExportFolderError(f"{beir_dir}/qrels/test.tsv cites {missing[0]!r} (query {query.id!r}), which is not in corpus.jsonl")
        positives = [beir_to_corpus[doc_id] for doc_id, score in judged.items() if score > 0]
        if not positives:
            continue  # a query without a positive cannot be evaluated; the BEIR contract forbids them anyway
        rows.append(QuestionRow(question_id=query.id, question=query.text, pos_doc_ids=positives, neg_doc_ids=[], metadata=json.dumps(query.metadata, ensure_ascii=False, sort_keys=True)))
    return corpus, rows


def _check_references(split: str, rows: list[QuestionRow], known: set[str]) -> None:
    for row in rows:
        for doc_id in (*row.pos_doc_ids, *row.neg_doc_ids):
            if doc_id not in known:
                raise ExportFolderError(f"{split} question {row.question_id!r} cites passage {doc_id!r}, which is not in {CORPUS_PARQUET}")


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    return f"{location}: {first['msg']}" if location else first["msg"]


# --- building the datasets -------------------------------------------------------------


def build_datasets(data: ExportData) -> tuple[Any, Any]:
    """(questions DatasetDict with train/validation/test, corpus DatasetDict with one `corpus` split).

    Features are explicit so an empty split still has the same schema as the others.
    """
    from datasets import Dataset, DatasetDict, Features, List, Value

    question_features = Features(
        {
            "question_id": Value("string"),
            "question": Value("string"),
            "pos_doc_ids": List(Value("string")),
            "neg_doc_ids": List(Value("string")),
            "metadata": Value("string"),
        }
    )
    passage_features = Features({"id": Value("string"), "text": Value("string"), "title": Value("string"), "in_training_corpus": Value("bool")})

    def columns(rows: list[BaseModel], features: Features) -> dict[str, list]:
        return {name: [getattr(row, name) for row in rows] for name in features}

    questions = DatasetDict({split: Dataset.from_dict(columns(rows, question_features), features=question_features) for split, rows in data.splits.items()})
    corpus = DatasetDict({"corpus": Dataset.from_dict(columns(data.corpus, passage_features), features=passage_features)})
    return questions, corpus


def card_facts(data: ExportData, repo_id: str, *, license: str, pretty_name: str | None, private: bool | None = None,
               scan: ScanSummary | None = None, findings_allowed: bool = False) -> CardFacts:
    def mean(values: list[int]) -> float:
        return sum(values) / len(values) if values else 0.0

    return CardFacts(
        repo_id=repo_id,
        pretty_name=pretty_name or repo_id.split("/")[-1],
        license=license,
        split_rows={split: len(rows) for split, rows in data.splits.items()},
        corpus_rows=len(data.corpus),
        training_corpus_rows=sum(1 for passage in data.corpus if passage.in_training_corpus),
        mean_positives={split: mean([len(row.pos_doc_ids) for row in rows]) for split, rows in data.splits.items()},
        mean_negatives={split: mean([len(row.neg_doc_ids) for row in rows]) for split, rows in data.splits.items()},
        corpus_id=data.corpus_id,
        report=data.report,
        run=data.run,
        private=private,
        scan=scan,
        redacted=_redacted_before(data.report),
        findings_allowed=findings_allowed and scan is not None and not scan.clean,
    )


def _redacted_before(report: dict[str, Any] | None) -> dict[str, int]:
    """What `scan --redact` (or `convert` with redact) masked, from report.json."""
    scan = (report or {}).get("scan")
    masked = scan.get("redacted") if isinstance(scan, dict) else None
    return {str(kind): int(count) for kind, count in masked.items() if isinstance(count, int)} if isinstance(masked, dict) else {}


# --- pushing ---------------------------------------------------------------------------


def resolve_token(token: str | None = None) -> str:
    """An explicit token, else huggingface_hub's own lookup (HF_TOKEN, then the saved login)."""
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise NoTokenError(f"No Hugging Face token found. {LOGIN_HINT}")
    return token


def push(config: PushConfig, *, token: str | None = None, confirm: Confirm | None = None) -> "PushResult | ModelPushResult":
    """``sdg-program push`` as a function: upload the convert folder of ``config`` with its card,
    or with ``config.model`` the model folder ``sdg-program finetune`` wrote.

    A public push (``private=False``) is confirmed by ``confirm`` (called with what would become
    public, before the first request) or by ``config.yes``; with neither it is refused.
    """
    if not config.private and confirm is None:
        if not config.yes:
            raise PublicationRefused(f"A public push to {config.repo_id} must be confirmed: pass yes=True (the CLI: --public --yes) or a confirm callback, or push private.")
        confirm = accept
    if config.model:
        from sdg_program.hub.model_upload import push_model

        return push_model(config.folder, config.repo_id, private=config.private, token=token, confirm=confirm)
    return push_export(config.folder, config.repo_id, private=config.private, license=config.license, pretty_name=config.pretty_name,
                       token=token, allow_findings=config.allow_findings, confirm=confirm)


def push_export(
    folder: Path,
    repo_id: str,
    *,
    private: bool = True,
    license: str = "other",
    pretty_name: str | None = None,
    token: str | None = None,
    allow_findings: bool = False,
    confirm: Confirm | None = None,
) -> PushResult:
    """Upload a convert folder as a dataset repository with a card; returns where it went.

    Everything local (reading, cross-checks, the scan for credentials and personal data, the
    card, the confirmation of a public push) happens before the first request, so a bad folder
    never leaves a half-made repository behind and a refused push sends nothing.
    """
    from huggingface_hub import constants

    check_repo_id(repo_id)
    folder = Path(folder)
    data = read_export(folder)
    scan = scan_export(folder)
    if not scan.clean and not allow_findings:
        raise sensitive_data_error(folder, scan)
    if constants.HF_HUB_OFFLINE:
        raise HubError("HF_HUB_OFFLINE is set, so huggingface_hub will not upload; unset it (or set HF_HUB_OFFLINE=0) to push.")
    token = resolve_token(token)
    questions, corpus = build_datasets(data)
    refuse_if_token_in(token, [*(row.text for row in data.corpus), *(row.question for rows in data.splits.values() for row in rows)])
    if not private:
        plan = PublicationPlan(repo_id=repo_id, passages=len(data.corpus), documents=scan.documents, questions=sum(len(rows) for rows in data.splits.values()))
        confirmed(plan, confirm)
    def card_for(repo: str, is_private: bool) -> Any:
        return build_card(card_facts(data, repo, license=license, pretty_name=pretty_name, private=is_private, scan=scan, findings_allowed=allow_findings))

    try:
        result = _upload(repo_id, token=token, private=private, questions=questions, corpus=corpus, card_for=card_for)
    except Exception as error:
        raise hub_error(error, token, repo_id) from None
    return result.model_copy(update={"findings": dict(scan.counts)})


def _upload(repo_id: str, *, token: str, private: bool, questions: Any, corpus: Any, card_for: Any) -> PushResult:
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    repo_url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    repo_id = repo_url.repo_id  # "name" without a namespace resolves to the user's own
    is_private = bool(api.repo_info(repo_id, repo_type="dataset").private)
    if private and not is_private:
        raise HubError(public_repo_refusal(repo_id))
    if not private and is_private:
        logger.warning("%s already exists and is private; it stays private (change its visibility in its settings).", repo_id)
    card = card_for(repo_id, is_private)
    refuse_if_token_in(token, [str(card)])
    logger.info("Uploading the dataset card to %s", repo_id)
    api.upload_file(path_or_fileobj=str(card).encode("utf-8"), path_in_repo="README.md", repo_id=repo_id, repo_type="dataset", commit_message="Add dataset card (sdg-program)")
    logger.info("Uploading questions (%s)", ", ".join(questions))
    questions.push_to_hub(repo_id, token=token, commit_message="Upload questions: train, validation, test (sdg-program)")
    logger.info("Uploading the corpus")
    commit = corpus.push_to_hub(repo_id, config_name="corpus", token=token, commit_message="Upload corpus (sdg-program)")
    return PushResult(
        repo_id=repo_id,
        url=f"{api.endpoint}/datasets/{repo_id}",
        commit_url=getattr(commit, "commit_url", None),
        private=is_private,
        split_rows={split: len(dataset) for split, dataset in questions.items()},
        corpus_rows=len(corpus["corpus"]),
    )


def check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise HubError(f"--repo-id {repo_id!r} is not a valid repository name (expected user/name): {error}") from None


def refuse_if_token_in(token: str, texts: list[str]) -> None:
    """Never publish the credential itself, even if a document happens to contain it."""
    if any(token in text for text in texts):
        raise HubError("The Hugging Face token appears in the data or the card; refusing to upload it.")


def hub_error(error: Exception, token: str, repo_id: str) -> HubError:
    """A printable error: what failed, a hint for the usual causes, no token anywhere."""
    if isinstance(error, HubError):
        message = str(error)
    else:
        status = getattr(getattr(error, "response", None), "status_code", None)
        hints = {
            401: f"The Hub rejected the token. {LOGIN_HINT}",
            403: f"The token cannot write to {repo_id}: it needs write access to that user or organisation.",
            404: f"{repo_id} was not found or is not visible to this token.",
        }
        detail = " ".join(str(error).split())
        message = f"Pushing to {repo_id} failed ({type(error).__name__}): {detail}"
        if status in hints:
            message += f"\n{hints[status]}"
    return HubError(scrub(message.replace(token, REDACTED)))
