"""Retriever evaluation on BEIR folders: metric arithmetic on hand-made runs, real retrievers on a tiny
folder with an obvious answer, and the embedded MiniLM and BM25 on the shared HotpotQA BEIR set."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sdg_program.cli.evaluate import eval_command
from sdg_program.cli.push import push_command
from sdg_program.core.errors import BeirFormatError
from sdg_program.evaluation.retrieval import bm25_search, dense_search, evaluate_beir, load_beir, score_run
from tests.conftest import CORPORA

HOTPOT = CORPORA / "hotpotqa_train100" / "beir"

DOCUMENTS = {
    "d1": ("Eiffel Tower", "The Eiffel Tower is a wrought-iron lattice tower in Paris, France."),
    "d2": ("Mount Everest", "Mount Everest is the highest mountain on Earth above sea level."),
    "d3": ("Photosynthesis", "Photosynthesis lets green plants turn sunlight into chemical energy."),
    "d4": ("Great Wall", "The Great Wall of China stretches for thousands of kilometres."),
    "d5": ("Honey bees", "Honey bees tell each other where flowers are by dancing."),
}
QUERIES = {
    "q1": "Where is the Eiffel Tower?",
    "q2": "What is the highest mountain on Earth?",
    "q3": "How do green plants turn sunlight into energy?",
}
QRELS = {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 1}}


def write_beir(folder: Path, *, header: bool = True, qrels: dict[str, dict[str, int]] = QRELS) -> Path:
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": doc_id, "title": title, "text": text, "metadata": {}}) + "\n" for doc_id, (title, text) in DOCUMENTS.items()))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": query_id, "text": text, "metadata": {}}) + "\n" for query_id, text in QUERIES.items()))
    lines = (["query-id\tcorpus-id\tscore"] if header else []) + [f"{query_id}\t{doc_id}\t{score}" for query_id, judged in qrels.items() for doc_id, score in judged.items()]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return folder


def eval_app() -> typer.Typer:
    app = typer.Typer()
    app.command("eval")(eval_command)
    app.command("push")(push_command)
    return app


# ---------------------------------------------------------------------------
# metric arithmetic: runs whose scores are known by hand
# ---------------------------------------------------------------------------


def ranking(*doc_ids: str) -> dict[str, float]:
    return {doc_id: float(len(doc_ids) - rank) for rank, doc_id in enumerate(doc_ids)}


def test_perfect_run_scores_one_everywhere():
    run = {query_id: ranking(*judged, *(doc for doc in DOCUMENTS if doc not in judged)) for query_id, judged in QRELS.items()}
    assert score_run(QRELS, run) == {"ndcg_at_10": 1.0, "recall_at_10": 1.0, "recall_at_100": 1.0, "mrr_at_10": 1.0}


def test_second_and_last_place_scores_match_the_formulas():
    second = {"q1": ranking("d5", "d1"), "q2": ranking("d5", "d2"), "q3": ranking("d5", "d3")}
    scores = score_run(QRELS, second)
    assert scores["mrr_at_10"] == 0.5
    assert scores["ndcg_at_10"] == pytest.approx(1 / math.log2(3), abs=1e-5)
    assert scores["recall_at_10"] == 1.0
    last = {query_id: ranking(*(doc for doc in DOCUMENTS if doc not in judged), *judged) for query_id, judged in QRELS.items()}
    scores = score_run(QRELS, last)
    assert scores["mrr_at_10"] == 0.2
    assert scores["ndcg_at_10"] == pytest.approx(1 / math.log2(6), abs=1e-5)


def test_a_query_the_retriever_skipped_counts_as_zero():
    run = {"q1": ranking("d1"), "q2": ranking("d2")}  # nothing for q3: pytrec_eval alone would average over 2 queries
    scores = score_run(QRELS, run)
    assert scores["ndcg_at_10"] == pytest.approx(2 / 3, abs=1e-4)
    assert scores["recall_at_100"] == pytest.approx(2 / 3, abs=1e-4)
    assert scores["mrr_at_10"] == pytest.approx(2 / 3, abs=1e-4)


# ---------------------------------------------------------------------------
# real retrievers on a folder whose right answer is obvious
# ---------------------------------------------------------------------------


def test_dense_and_bm25_find_the_obvious_answers(tmp_path):
    data = load_beir(write_beir(tmp_path / "tiny"))
    for run in (dense_search(data, show_progress=False), bm25_search(data, show_progress=False)):
        assert {query_id: max(hits, key=hits.get) for query_id, hits in run.items()} == {"q1": "d1", "q2": "d2", "q3": "d3"}
        assert score_run(data.qrels, run)["ndcg_at_10"] == 1.0


def test_not_a_beir_folder_is_explained(tmp_path):
    with pytest.raises(BeirFormatError, match="is not a folder"):
        load_beir(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BeirFormatError, match=r"missing: corpus\.jsonl, queries\.jsonl, qrels/test\.tsv"):
        load_beir(empty)
    with pytest.raises(BeirFormatError, match="header"):
        load_beir(write_beir(tmp_path / "no_header", header=False))
    with pytest.raises(BeirFormatError, match="'q9'.*not in queries.jsonl"):
        load_beir(write_beir(tmp_path / "unknown_query", qrels={**QRELS, "q9": {"d1": 1}}))
    with pytest.raises(BeirFormatError, match=r"qrels splits present: test; choose one with --split"):
        load_beir(write_beir(tmp_path / "split"), split="dev")
    broken = write_beir(tmp_path / "broken")
    (broken / "corpus.jsonl").write_text("id,text\nd1,hello\n")
    with pytest.raises(BeirFormatError, match="not JSON"):
        load_beir(broken)


def test_eval_cli_errors_are_clear(tmp_path):
    result = CliRunner().invoke(eval_app(), ["eval", str(tmp_path)])
    assert result.exit_code == 2 and "missing: corpus.jsonl" in result.output
    folder = write_beir(tmp_path / "b")
    result = CliRunner().invoke(eval_app(), ["eval", str(folder), "--no-dense", "--no-bm25"])
    assert result.exit_code == 2 and "nothing to score" in result.output
    result = CliRunner().invoke(eval_app(), ["eval", str(folder), "--model", str(tmp_path / "no-such-model"), "--no-bm25"], env={"COLUMNS": "300"})
    assert result.exit_code == 1 and "cannot load model" in result.output


# ---------------------------------------------------------------------------
# the shared HotpotQA BEIR view (994 passages, 100 questions), through the CLI
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hotpot_eval(tmp_path_factory):
    if not HOTPOT.is_dir():
        pytest.skip("shared corpora not present")
    output = tmp_path_factory.mktemp("eval") / "results.json"
    result = CliRunner().invoke(eval_app(), ["eval", str(HOTPOT), "--output", str(output)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output, json.loads(output.read_text())


def test_eval_cli_prints_a_table_and_writes_json(hotpot_eval):
    output, report = hotpot_eval
    assert "nDCG@10" in output and "MRR@10" in output and "BM25 (bm25s)" in output and "all-MiniLM-L6-v2" in output
    assert (report["queries"], report["documents"], report["judgments"], report["split"]) == (100, 994, 200, "test")
    assert [(result["retriever"], result["kind"]) for result in report["results"]] == [("all-MiniLM-L6-v2 (embedded)", "dense"), ("BM25 (bm25s)", "bm25")]
    assert set(report["results"][0]) == {"retriever", "kind", "ndcg_at_10", "recall_at_10", "recall_at_100", "mrr_at_10", "seconds"}


def test_minilm_and_bm25_score_sanely_on_hotpotqa(hotpot_eval):
    _, report = hotpot_eval
    for result in report["results"]:
        # measured: MiniLM 0.785 / BM25 0.782 nDCG@10; a broken ranking would score near 0.01
        assert 0.6 < result["ndcg_at_10"] <= 1.0, result
        assert 0.6 < result["mrr_at_10"] <= 1.0, result
        assert 0.6 < result["recall_at_10"] <= result["recall_at_100"] <= 1.0, result
        assert result["recall_at_100"] > 0.9, result


def test_api_and_cli_agree_on_the_tiny_folder(tmp_path):
    folder = write_beir(tmp_path / "tiny")
    report = evaluate_beir(folder, [], bm25=True, show_progress=False)
    output = tmp_path / "out" / "bm25.json"
    result = CliRunner().invoke(eval_app(), ["eval", str(folder), "--no-dense", "-o", str(output)])
    assert result.exit_code == 0, result.output
    written = json.loads(output.read_text())
    assert [item["retriever"] for item in written["results"]] == ["BM25 (bm25s)"]
    assert written["results"][0]["ndcg_at_10"] == report.results[0].ndcg_at_10 == 1.0
