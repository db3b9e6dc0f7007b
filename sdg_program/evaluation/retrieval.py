"""Score retrievers on a BEIR-format folder: nDCG@10, Recall@10, Recall@100 and MRR@10.

Works on our `eval_beir/` export and on any public BEIR folder. Data is loaded with beir's
`GenericDataLoader` and every metric comes from beir's `EvaluateRetrieval` (pytrec_eval for
nDCG and recall, beir's own MRR), so our numbers are comparable with published BEIR
figures; this module only produces the ranked lists.

Retrievers: sentence-transformers models (default: the embedded all-MiniLM-L6-v2, any name
or path otherwise; exact search, the model's own similarity function and query/document
prompts) and a BM25 baseline from `bm25s` (English stopwords, Snowball stemming). Documents
are encoded as "title text", as BEIR's own dense and lexical baselines do.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from sdg_program.core.errors import BeirFormatError, RetrieverError
from sdg_program.evaluation.config import EvaluateConfig

logger = logging.getLogger(__name__)

TOP_K = 100
K_VALUES = [10, 100]
QUERY_BLOCK = 256  # queries scored against the whole corpus at once; bounds memory to QUERY_BLOCK x documents
DEFAULT_MODEL_LABEL = "all-MiniLM-L6-v2 (embedded)"

Run = dict[str, dict[str, float]]


class RetrieverScores(BaseModel):
    retriever: str
    kind: Literal["dense", "bm25"]
    ndcg_at_10: float
    recall_at_10: float
    recall_at_100: float
    mrr_at_10: float
    seconds: float


class EvalReport(BaseModel):
    beir_dir: str
    split: str
    queries: int
    documents: int
    judgments: int
    results: list[RetrieverScores]


@dataclass
class BeirData:
    corpus: dict[str, dict[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


# --- loading ---------------------------------------------------------------------------


def load_beir(folder: Path, split: str = "test") -> BeirData:
    """Load a BEIR folder with beir's GenericDataLoader after checking its layout.

    The loader itself fails with bare KeyErrors or silently drops a first qrels line that
    is not a header, so the layout is checked first and its errors are translated.
    """
    from beir.datasets.data_loader import GenericDataLoader

    folder = Path(folder)
    check_beir_folder(folder, split)
    try:
        corpus, queries, qrels = GenericDataLoader(data_folder=str(folder)).load(split=split)
    except KeyError as error:
        raise BeirFormatError(f"{folder}/qrels/{split}.tsv judges query {error.args[0]!r}, which is not in queries.jsonl") from error
    except (ValueError, IndexError, json.JSONDecodeError) as error:
        raise BeirFormatError(f"{folder} is not in BEIR format: {error}") from error
    if not qrels:
        raise BeirFormatError(f"{folder}/qrels/{split}.tsv has no judgments")
    if not corpus:
        raise BeirFormatError(f"{folder}/corpus.jsonl has no documents")
    unknown = sum(1 for judged in qrels.values() for doc_id in judged if doc_id not in corpus)
    if unknown:
        logger.warning("%d judgments in qrels/%s.tsv cite documents missing from corpus.jsonl; they count as never retrieved.", unknown, split)
    return BeirData(corpus=corpus, queries=queries, qrels=qrels)


def check_beir_folder(folder: Path, split: str = "test") -> None:
    """Raise BeirFormatError naming every missing file or malformed first line."""
    if not folder.is_dir():
        raise BeirFormatError(f"{folder} is not a folder; expected a BEIR folder with corpus.jsonl, queries.jsonl and qrels/{split}.tsv")
    qrels = folder / "qrels" / f"{split}.tsv"
    missing = [str(path.relative_to(folder)) for path in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels) if not path.is_file()]
    if missing:
        available = sorted(path.stem for path in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        hint = f" (qrels splits present: {', '.join(available)}; choose one with --split)" if available and qrels.name in missing[-1] else ""
        raise BeirFormatError(f"{folder} is not a BEIR folder; missing: {', '.join(missing)}{hint}")
    for name in ("corpus.jsonl", "queries.jsonl"):
        _check_first_record(folder / name)
    _check_qrels_header(qrels)


def _check_first_record(path: Path) -> None:
    with path.open(encoding="utf-8") as handle:
        line = next((line for line in handle if line.strip()), None)
    if line is None:
        raise BeirFormatError(f"{path} is empty")
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise BeirFormatError(f"{path}: the first record is not JSON ({error})") from error
    if not isinstance(record, dict) or "_id" not in record or "text" not in record:
        raise BeirFormatError(f"{path}: each line must be a JSON object with \"_id\" and \"text\"")


def _check_qrels_header(path: Path) -> None:
    with path.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle, delimiter="\t"), None)
    if not header or len(header) < 3:
        raise BeirFormatError(f"{path}: expected tab-separated query-id, corpus-id, score columns")
    if header[2].strip().lstrip("-").isdigit():
        raise BeirFormatError(f"{path}: the first line must be the header query-id<TAB>corpus-id<TAB>score (BEIR loaders skip it)")


def document_text(document: dict[str, Any]) -> str:
    """What a retriever sees of a document: "title text", as BEIR's baselines encode it."""
    return f"{document.get('title') or ''} {document.get('text') or ''}".strip()


# --- retrievers ------------------------------------------------------------------------


def dense_search(data: BeirData, model: str | None = None, *, top_k: int = TOP_K, batch_size: int = 64, show_progress: bool = True) -> Run:
    """Exact nearest-neighbour search with a sentence-transformers model (None = embedded MiniLM)."""
    import torch

    from sdg_program.backends.embedder import load_embedder

    try:
        encoder = load_embedder(model)
    except Exception as error:  # sentence-transformers, transformers and huggingface_hub each raise their own types
        detail = " ".join(str(error).split()).rstrip(".")
        raise RetrieverError(f"cannot load model {model!r}: {detail}. Models load offline: pass a local folder, or set HF_HUB_OFFLINE=0 to download.") from error
    doc_ids = list(data.corpus)
    query_ids = list(data.qrels)
    documents = _encode(encoder, [document_text(data.corpus[doc_id]) for doc_id in doc_ids], "document", batch_size, show_progress)
    queries = _encode(encoder, [data.queries[query_id] for query_id in query_ids], "query", batch_size, False)
    k = min(top_k, len(doc_ids))
    run: Run = {}
    with torch.inference_mode():
        for start in range(0, len(query_ids), QUERY_BLOCK):
            similarities = encoder.similarity(queries[start : start + QUERY_BLOCK], documents)
            values, indices = torch.topk(similarities, k=k, dim=1)
            for row, query_id in enumerate(query_ids[start : start + QUERY_BLOCK]):
                run[query_id] = {doc_ids[index]: float(value) for value, index in zip(values[row].tolist(), indices[row].tolist())}
    return run


def _encode(encoder: Any, texts: list[str], role: Literal["query", "document"], batch_size: int, show_progress: bool) -> Any:
    """Encode with the model's query or document prompt when it defines one (e5, bge, ...)."""
    method = getattr(encoder, f"encode_{role}", None) or encoder.encode
    return method(texts, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=show_progress)


def bm25_search(data: BeirData, *, top_k: int = TOP_K, show_progress: bool = True) -> Run:
    """BM25 (bm25s, Lucene scoring) over "title text"; zero-score hits are not matches and are dropped."""
    import bm25s

    doc_ids = list(data.corpus)
    query_ids = list(data.qrels)
    stemmer = _stemmer()
    corpus_tokens = bm25s.tokenize([document_text(data.corpus[doc_id]) for doc_id in doc_ids], stopwords="en", stemmer=stemmer, show_progress=show_progress)
    retriever = bm25s.BM25()
    retriever.index(corpus_tokens, show_progress=show_progress)
    query_tokens = bm25s.tokenize([data.queries[query_id] for query_id in query_ids], stopwords="en", stemmer=stemmer, show_progress=False)
    indices, scores = retriever.retrieve(query_tokens, k=min(top_k, len(doc_ids)), show_progress=show_progress)
    return {
        query_id: {doc_ids[index]: float(score) for index, score in zip(indices[row].tolist(), scores[row].tolist()) if score > 0}
        for row, query_id in enumerate(query_ids)
    }


def _stemmer() -> Any:
    """English Snowball stemmer from nltk (a dependency already; needs no data download), as bm25s expects."""
    from nltk.stem.snowball import SnowballStemmer

    stem = SnowballStemmer("english").stem
    return lambda words: [stem(word) for word in words]


# --- scoring ---------------------------------------------------------------------------


def score_run(qrels: dict[str, dict[str, int]], run: Run) -> dict[str, float]:
    """nDCG@10, Recall@10/100 (pytrec_eval via beir) and MRR@10 (beir), averaged over every judged query.

    A judged query missing from the run is added with no hits: pytrec_eval skips queries it
    is not given, which would silently raise the averages.
    """
    from beir.retrieval.evaluation import EvaluateRetrieval

    complete = {query_id: dict(run.get(query_id, {})) for query_id in qrels}
    ndcg, _, recall, _ = EvaluateRetrieval.evaluate(qrels, complete, K_VALUES)
    mrr = EvaluateRetrieval.evaluate_custom(qrels, complete, [10], metric="mrr")
    return {
        "ndcg_at_10": ndcg["NDCG@10"],
        "recall_at_10": recall["Recall@10"],
        "recall_at_100": recall["Recall@100"],
        "mrr_at_10": mrr["MRR@10"],
    }


def evaluate_beir(
    folder: Path,
    models: list[str | None] | None = None,
    *,
    bm25: bool = True,
    split: str = "test",
    batch_size: int = 64,
    show_progress: bool = True,
) -> EvalReport:
    """Score each model in `models` (None = embedded MiniLM; [] = no dense model) and optionally BM25."""
    data = load_beir(Path(folder), split)
    models = [None] if models is None else models
    results = []
    for model in models:
        started = time.perf_counter()
        run = dense_search(data, model, batch_size=batch_size, show_progress=show_progress)
        results.append(RetrieverScores(retriever=model or DEFAULT_MODEL_LABEL, kind="dense", seconds=round(time.perf_counter() - started, 2), **score_run(data.qrels, run)))
    if bm25:
        started = time.perf_counter()
        run = bm25_search(data, show_progress=show_progress)
        results.append(RetrieverScores(retriever="BM25 (bm25s)", kind="bm25", seconds=round(time.perf_counter() - started, 2), **score_run(data.qrels, run)))
    return EvalReport(
        beir_dir=str(folder),
        split=split,
        queries=len(data.qrels),
        documents=len(data.corpus),
        judgments=sum(len(judged) for judged in data.qrels.values()),
        results=results,
    )


def evaluate(config: EvaluateConfig, *, show_progress: bool = True) -> EvalReport:
    """``sdg-program eval`` as a function: score the retrievers of ``config`` and write the JSON it names."""
    report = evaluate_beir(config.beir_dir, config.models, bm25=config.bm25, split=config.split, batch_size=config.batch_size, show_progress=show_progress)
    if config.output is not None:
        write_report(report, config.output)
    return report


def report_table(report: EvalReport) -> Any:
    """The report as a rich Table, best nDCG@10 first."""
    from rich.table import Table

    table = Table(title=f"{report.beir_dir} ({report.split}): {report.queries} queries, {report.documents} documents, {report.judgments} judgments")
    for column in ("retriever", "nDCG@10", "Recall@10", "Recall@100", "MRR@10", "seconds"):
        table.add_column(column, justify="left" if column == "retriever" else "right")
    for scores in sorted(report.results, key=lambda item: item.ndcg_at_10, reverse=True):
        table.add_row(scores.retriever, *(f"{value:.4f}" for value in (scores.ndcg_at_10, scores.recall_at_10, scores.recall_at_100, scores.mrr_at_10)), f"{scores.seconds:.1f}")
    return table


def write_report(report: EvalReport, path: Path) -> None:
    """The report as JSON, written atomically so a failed run never leaves half a file."""
    from sdg_program.core.files import write_json_atomic

    write_json_atomic(Path(path), report.model_dump(mode="json"))
