"""The quality gate of convert: round-trip retrievability and corpus-wide dedup.

Unit tests of the ranking and dedup rules on hand-made vectors, and one conversion (real MiniLM,
real bm25s) of records with planted cross-document duplicates and a planted question that no
retriever leads to its passage.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from sdg_program.export import convert
from sdg_program.export.dedup import choose_duplicates, quality_order
from sdg_program.export.gate import drop_reason
from sdg_program.export.roundtrip import best_positive_rank, default_roundtrip_k, dense_rankings, fused_ranking, roundtrip_ranks
from tests.export.test_convert import TOPICS, make_pair, make_record, topic_record, write_records

# -- round trip ----------------------------------------------------------------------------------


def test_default_k_grows_with_the_corpus():
    assert default_roundtrip_k(5) == 5  # never more than the corpus
    assert default_roundtrip_k(16) == 10
    assert default_roundtrip_k(1_000) == 20
    assert default_roundtrip_k(100_000) == 2_000


def test_reciprocal_rank_fusion_rewards_agreement():
    # row 7 is second for both retrievers, row 1 first for one and absent from the other
    assert fused_ranking([[1, 7, 3], [2, 7, 4]])[0] == 7
    assert best_positive_rank([7, 1, 2], [2, 9]) == 3
    assert best_positive_rank([7, 1, 2], [9]) is None


def test_dense_rankings_are_exact_in_blocks():
    rng = np.random.default_rng(0)
    corpus = rng.normal(size=(50, 8)).astype(np.float32)
    corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
    queries = corpus[[3, 17, 42]] + 0.01
    blocked = dense_rankings(queries, corpus, depth=5, cells=60)  # one question per block
    assert [ranking[0] for ranking in blocked] == [3, 17, 42]
    assert blocked == dense_rankings(queries, corpus, depth=5)


def test_a_question_found_by_either_retriever_ranks_its_positive():
    corpus = ["Chlorophyll absorbs red and blue light in green leaves.", "Magma chambers fill with molten rock.", "Traders buy shares."]
    vectors = np.eye(3, dtype=np.float32)
    ranks = roundtrip_ranks(["which pigment absorbs red light", "zzz"], [[0], [1]], corpus, vectors[[0, 2]], vectors, depth=3)
    assert ranks[0] == 1
    assert ranks[1] is not None and ranks[1] > 1  # only the embedding side ranks it, and not first


def test_the_lexical_grounding_check_is_waived_only_with_the_round_trip():
    pair = {"question": "q", "valid": False, "reasons": ["question_not_grounded"], "score": 9.0}
    assert drop_reason(pair, ["p"], 0, 7.0, 5) == "invalid"
    assert drop_reason(pair, ["p"], 0, 7.0, 5, frozenset({"question_not_grounded"})) == ""
    both = {**pair, "reasons": ["question_not_grounded", "answer_not_supported"]}
    assert drop_reason(both, ["p"], 0, 7.0, 5, frozenset({"question_not_grounded"})) == "invalid"


# -- dedup ---------------------------------------------------------------------------------------------


def test_the_better_pair_of_a_duplicate_group_is_kept():
    # rows 0, 1, 2 are one question; row 1 has the best judge score, row 2 ties row 0 but ranks better
    order = quality_order([8.0, 9.0, 8.0, 7.0], [3, 5, 1, None])
    assert order == [1, 2, 0, 3]
    assert choose_duplicates([(0, 1), (1, 2), (0, 2)], order) == {2: 1, 0: 1}


def test_a_chain_through_a_dropped_pair_does_not_drop_a_distinct_one():
    # 0~1 and 1~2, but 0 and 2 are not duplicates: 1 goes (0 is better), 2 stays
    assert choose_duplicates([(0, 1), (1, 2)], [0, 1, 2]) == {1: 0}


# -- convert end to end --------------------------------------------------------------------------------


PLANTED = "what drives the seasonal migration of monarch butterflies across north america"
LOST = "which vendor sells the cheapest replacement hinge for a garden shed door"


def planted_records() -> list[dict]:
    """Ten topic documents, the same question asked of two butterfly documents, and a question about nothing in the corpus."""
    records = [topic_record(i, pairs_per_doc=2) for i in range(len(TOPICS))]
    for name, score in (("monarchs_a", 8.0), ("monarchs_b", 9.0)):
        texts = [f"Monarch butterflies migrate across north america each autumn; the seasonal migration is driven by day length ({name}).",
                 f"Milkweed feeds monarch caterpillars in the summer breeding grounds ({name})."]
        records.append(make_record([f"docs/{name}.md"], texts, [make_pair(PLANTED, "day length and temperature", [1])], [score]))
    texts = ["Roman engineers built stone aqueducts that carried water by gravity over long distances.",
             "The arches of the Pont du Gard still stand in southern France."]
    records.append(make_record(["docs/lost.md"], texts, [make_pair(LOST, "the hardware store", [2])], [9.0]))
    return records


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gate")
    write_records(folder / "gen" / "records.jsonl", planted_records())
    return convert(input_path=folder / "gen", num_negatives=0, paraphrase_threshold=None, dedup_threshold=0.95)


def test_the_planted_non_retrievable_question_is_dropped(gated):
    report = gated.report
    assert report.pairs_dropped["not_retrievable"] == 1
    gate = report.quality_gate
    assert gate.roundtrip_k == 10 and gate.corpus_size == 56  # 10 topics x 5 chunks, 2 x 2 butterfly chunks, 2 lost-question chunks
    lost = [dropped for dropped in gate.dropped if dropped.reason == "not_retrievable"]
    assert [dropped.source_id for dropped in lost] == ["docs/lost.md"]
    assert lost[0].roundtrip_rank is None or lost[0].roundtrip_rank > gate.roundtrip_k


def test_the_planted_cross_document_duplicate_keeps_the_better_pair(gated):
    report = gated.report
    assert report.pairs_dropped["duplicate"] == 1
    duplicate = next(dropped for dropped in report.quality_gate.dropped if dropped.reason == "duplicate")
    assert duplicate.source_id == "docs/monarchs_a.md"  # judged 8, the other 9
    kept_ids = {json.loads(line)["_id"] for line in (gated.output_dir / "eval_beir" / "queries.jsonl").read_text().splitlines()}
    train = json.loads((gated.output_dir / "train.json").read_text())
    val = json.loads((gated.output_dir / "val.json").read_text())
    kept_ids |= {example["question_id"] for split in (train, val) for example in split["data"]}
    assert duplicate.duplicate_of in kept_ids and duplicate.question_id not in kept_ids


def test_gate_counts_reach_the_report_file(gated):
    written = json.loads((gated.output_dir / "report.json").read_text())
    assert written["pairs_in"] == 23 and written["pairs_kept"] == 21
    assert written["quality_gate"]["ranks"][">10"] == 1  # the lost question; the 22 others within k
    assert sum(written["quality_gate"]["ranks"].values()) == 23
    assert written["settings"]["roundtrip"] is True and written["settings"]["dedup_threshold"] == 0.95


def test_the_gate_can_be_turned_off(tmp_path):
    write_records(tmp_path / "gen" / "records.jsonl", planted_records())
    report = convert(input_path=tmp_path / "gen", num_negatives=0, paraphrase_threshold=None, roundtrip=False, dedup_threshold=None).report
    assert report.pairs_kept == 23 and "not_retrievable" not in report.pairs_dropped and "duplicate" not in report.pairs_dropped


def test_written_four_hop_pairs_are_not_held_to_the_generation_hop_range(tmp_path):
    texts = [f"Fact {k}: the {name} links to the next fact of the chain about river deltas." for k, name in
             enumerate(("harbour", "lighthouse", "ferry", "island"), 1)]
    question = "which island does the chain from the harbour through the lighthouse and the ferry reach in the river delta"
    pair = make_pair(question, "the island", [1, 2, 3, 4], query_type="multi_hop", hops=[[1], [2], [3], [4]])
    record = make_record(["docs/delta.md"], texts, [pair], [9.0])
    del record["qa_validations"]  # like the reference tool's records: convert validates them
    write_records(tmp_path / "gen" / "records.jsonl", [record] + [topic_record(i, pairs_per_doc=1) for i in range(3)])
    report = convert(input_path=tmp_path / "gen", num_negatives=0, paraphrase_threshold=None, eval_only=True).report
    assert report.records_validated_at_convert == 1
    assert "hop_count_out_of_range" not in report.validation_reasons


def test_cli_options_reach_the_config(tmp_path):
    import typer
    from typer.testing import CliRunner

    from sdg_program.cli.convert import convert_command

    write_records(tmp_path / "gen" / "records.jsonl", planted_records())
    app = typer.Typer()
    app.command("convert")(convert_command)
    app.command("other")(lambda: None)
    args = ["convert", str(tmp_path / "gen"), "--num-negatives", "0", "--no-group-paraphrases", "--roundtrip-k", "3", "--dedup-threshold", "0.95",
            "--language", "en", "--disable-check", "garbled_text"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "round trip" in result.output
    settings = json.loads((tmp_path / "gen_train_eval" / "report.json").read_text())["settings"]
    assert settings["roundtrip_k"] == 3 and settings["dedup_threshold"] == 0.95
    assert settings["language"] == "en" and settings["disabled_checks"] == ["garbled_text"]
