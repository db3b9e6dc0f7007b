"""The committed gold set: it loads, its segment IDs are right, its splits are fixed, and it rebuilds byte for byte."""

from collections import Counter

import dspy
import pytest

from optimize.build_gold import CHUNKING, VALIDATION, assign_splits, build, write_jsonl
from optimize.demos import reference_evaluation, stage_examples
from optimize.gold import GOLD_FILES, JudgeCase, load_gold, load_gold_dir, load_gold_records
from sdg_program.ingest.chunking import DOCUMENT_BOUNDARY, ChunkedDocument, chunk_text, make_seed_row
from sdg_program.program.settings import GenerationSettings
from sdg_program.program.validation import RowSegments, validate_pair
from tests.conftest import CORPORA, REPO

GOLD = REPO / "data" / "gold"


@pytest.fixture(scope="module")
def records():
    return {split: load_gold_records(GOLD / name) for split, name in GOLD_FILES.items()}


def test_files_load_as_examples_with_row_input():
    gold = load_gold_dir(GOLD)
    assert set(gold) == {"train", "dev", "judge"}
    example = gold["train"][0]
    assert isinstance(example, dspy.Example) and set(example.inputs().keys()) == {"row"}
    assert example.pairs and example.row.chunks
    case = gold["judge"][0]
    assert set(case.inputs().keys()) == {"row", "qa_pairs"}
    assert load_gold(GOLD)[0].example_id == example.example_id  # a folder means its train split


def test_sizes_and_sources(records):
    examples = records["train"] + records["dev"]
    by_source = Counter(example.source for example in examples)
    assert by_source["hotpotqa"] + by_source["musique"] >= 60
    assert by_source["docs_dspy"] >= 15
    assert len({example.example_id for example in examples}) == len(examples)


def test_splits_are_fixed_and_stratified(records):
    train, dev = records["train"], records["dev"]
    assert all(e.split == "train" for e in train) and all(e.split == "dev" for e in dev)
    assert not {e.example_id for e in train} & {e.example_id for e in dev}
    for source in ("hotpotqa", "musique", "docs_dspy"):
        total = sum(1 for e in train + dev if e.source == source)
        assert sum(1 for e in dev if e.source == source) == round(0.3 * total)
    # the split is a function of the example IDs only: re-assigning reproduces it
    reassigned = {e.example_id: e.split for e in assign_splits([e.model_copy(update={"split": "train"}) for e in train + dev])}
    assert reassigned == {e.example_id: e.split for e in train + dev}
    judge_split = {case.example_id: case.split for case in records["judge"]}
    assert all(judge_split[e.example_id] == e.split for e in train + dev if e.example_id in judge_split)


def test_segment_ids_are_valid_and_pairs_pass_validation(records):
    for example in records["train"] + records["dev"]:
        ids = {chunk.chunk_id for chunk in example.row.chunks}
        assert [chunk.chunk_id for chunk in example.row.chunks] == list(range(1, len(ids) + 1))
        segments = RowSegments.from_chunks(example.row.chunks)
        for pair in example.pairs:
            assert set(pair.segment_ids) <= ids
            assert set(pair.segment_ids) == {s for hop in pair.hop_contexts for s in hop.segment_ids}
            assert validate_pair(pair, segments, VALIDATION).valid, (example.example_id, pair.question)
        assert example.supporting_segment_ids == sorted({s for pair in example.pairs for s in pair.segment_ids})
        assert all(term.lower() in example.row.text.lower() for term in example.artifact_terms)


def test_multi_hop_pairs_read_several_documents(records):
    for example in records["train"] + records["dev"]:
        if example.source == "docs_dspy":
            continue
        main = example.pairs[0]
        assert main.query_type.value == "multi_hop" and main.hop_count >= 2
        docs = {chunk.doc_id for chunk in example.row.chunks if chunk.chunk_id in main.segment_ids}
        assert len(docs) == main.hop_count  # one supporting paragraph per hop
        assert any(not document.supporting for document in example.documents)  # at least one distractor


def test_rows_match_what_the_chunker_makes_today(records):
    """Segment IDs are labels: if the chunker now cut these documents differently, the gold set is stale."""
    for example in records["train"] + records["dev"]:
        texts = example.row.text.split(DOCUMENT_BOUNDARY) if example.row.is_multi_doc else [example.row.text]
        members = [
            ChunkedDocument(document.doc_id, text, chunk_text(text, document.doc_id, sentences_per_chunk=CHUNKING.sentences_per_chunk, max_chunk_chars=CHUNKING.max_chunk_chars))
            for document, text in zip(example.documents, texts)
        ]
        assert make_seed_row(members, CHUNKING) == example.row, example.example_id


def test_judge_cases_carry_their_verdicts(records):
    cases: list[JudgeCase] = records["judge"]
    defects = Counter(judged.defect for case in cases for judged in case.pairs)
    assert set(defects) == {"none", "wrong_segment_ids", "unsupported_answer", "source_relative", "one_hop_as_multi_hop"}
    for case in cases:
        assert sorted(judged.expected_overall for judged in case.pairs) == ["high", "low"]
        segments = RowSegments.from_chunks(case.row.chunks)
        for judged in case.pairs:
            assert validate_pair(judged.pair, segments, VALIDATION).reasons == judged.expected_validation_reasons
            if judged.defect == "source_relative":
                assert "source_relative_question" in judged.expected_validation_reasons
            if judged.defect == "unsupported_answer":
                assert "answer_not_supported" in judged.expected_validation_reasons
            if judged.defect == "none":
                assert judged.expected_validation_reasons == []
            evaluation = reference_evaluation(0, judged)
            assert (evaluation.overall.score >= 7) == (judged.expected_overall == "high")


def test_stage_examples_are_complete_demos():
    gold = load_gold_dir(GOLD)
    settings = GenerationSettings()
    generate = stage_examples("generate", gold["train"], settings)[0]
    assert generate.qa_pairs.pairs == list(generate.pairs)
    assert generate.num_pairs == len(generate.pairs) and sum(generate.query_counts.values()) == generate.num_pairs
    judge = stage_examples("judge", gold["judge"], settings)[0]
    assert len(judge.evaluations.evaluations) == len(judge.pairs_to_judge)


@pytest.mark.skipif(not (CORPORA / "hotpotqa_train100").exists(), reason="shared corpora not present")
def test_build_is_deterministic_and_matches_the_committed_files(tmp_path):
    examples, cases = build(CORPORA)
    write_jsonl(tmp_path / "train.jsonl", [e for e in examples if e.split == "train"])
    write_jsonl(tmp_path / "dev.jsonl", [e for e in examples if e.split == "dev"])
    write_jsonl(tmp_path / "judge.jsonl", cases)
    for name in GOLD_FILES.values():
        assert (tmp_path / name).read_bytes() == (GOLD / name).read_bytes(), f"{name} differs: re-run python -m optimize.build_gold"
