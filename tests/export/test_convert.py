"""convert end to end with the real embedded MiniLM and the real loaders (BEIR, datasets, sentence-transformers).

One conversion of a small, deliberately awkward corpus is shared by most tests (module
fixture); tests that need other options run their own small conversions.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest

from sdg_program.core.errors import GroupsError
from sdg_program.core.records import GeneratedRecord
from sdg_program.export import ConvertConfig, convert
from sdg_program.export.corpus import corpus_id_for, question_id_for
from sdg_program.export.nemo import write_training_json
from sdg_program.export.splits import UnionFind, Unit, assign_splits, build_units, load_groups

TOPICS = [
    ("photosynthesis", "Chlorophyll in the leaves of green plants absorbs red and blue light"),
    ("volcanoes", "Magma chambers under a volcano fill with molten rock and gas"),
    ("stock markets", "Traders on the exchange buy and sell shares of listed companies"),
    ("roman aqueducts", "Roman engineers built stone aqueducts that carried water by gravity"),
    ("jazz", "New Orleans musicians improvised over blues chord progressions"),
    ("quantum computing", "Qubits hold superpositions that collapse when they are measured"),
    ("glaciers", "Compacted snow turns into glacial ice that slowly flows downhill"),
    ("vaccines", "A vaccine trains the immune system to recognise a weakened pathogen"),
    ("bread baking", "Yeast ferments the sugars in dough and releases carbon dioxide"),
    ("tides", "The gravitational pull of the moon raises tidal bulges in the oceans"),
]
SHARED_CHUNK = "This shared licence paragraph appears verbatim in two different documents of the corpus."
PARAPHRASE = "what drives the seasonal migration of monarch butterflies across north america"
REWORDED = "what causes monarch butterflies to migrate seasonally across north america"  # MiniLM cosine 0.97


# ---------------------------------------------------------------------------
# record builders (GeneratedRecord-valid, so they follow the contract)
# ---------------------------------------------------------------------------


def make_chunk(chunk_id: int, doc: str, text: str) -> dict:
    return {"chunk_id": chunk_id, "doc_id": doc, "doc_chunk_index": chunk_id, "text": text, "sentence_count": 1,
            "word_count": len(text.split()), "char_start": 0, "char_end": len(text),
            "content_hash": hashlib.sha256(text.encode()).hexdigest(), "heading_path": []}


def make_pair(question: str, answer: str, segment_ids: list[int], *, query_type="contextual", reasoning_type="factual",
              complexity=3, hops: list[list[int]] | None = None) -> dict:
    hops = hops or [sorted(set(segment_ids))]
    return {"query_type": query_type, "reasoning_type": reasoning_type,
            "hop_contexts": [{"hop_number": n, "segment_ids": ids, "summary": f"hop {n}"} for n, ids in enumerate(hops, 1)],
            "hop_count": len(hops), "segment_ids": segment_ids, "question": question, "answer": answer,
            "question_complexity": complexity}


def make_evaluation(index: int, score: float) -> dict:
    part = {"justification": "ok", "score": 8}
    return {"pair_index": index, "relevance": part, "accuracy": part, "context_support": part, "clarity": part,
            "overall": {"assessment": "ok", "score": score}, "improvements": "none"}


def make_record(docs: list[str], texts: list[str], pairs: list[dict], scores: list[float | None],
                valid: list[bool] | None = None, reasons: list[list[str]] | None = None) -> dict:
    """A GeneratedRecord dict; a score of None means the judge returned nothing for that pair."""
    doc_of = [docs[min(i * len(docs) // max(1, len(texts)), len(docs) - 1)] for i in range(len(texts))]
    chunks = [make_chunk(i, doc_of[i - 1], text) for i, text in enumerate(texts, 1)]
    valid = valid if valid is not None else [True] * len(pairs)
    reasons = reasons or [[] if ok else ["answer_not_supported"] for ok in valid]
    source_id = docs[0] if len(docs) == 1 else hashlib.md5("|".join(sorted(docs)).encode()).hexdigest()[:16]
    record = {
        "file_name": docs, "source_id": source_id, "text": "\n".join(texts), "chunks": chunks,
        "sections_structured": ["Section 1"], "bundle_id": "" if len(docs) == 1 else source_id, "bundle_members": docs,
        "is_multi_doc": len(docs) > 1, "document_artifacts": {}, "qa_generation": {"pairs": pairs},
        "deduplicated_qa_pairs": pairs,
        "qa_evaluations": {"evaluations": [make_evaluation(i, s) for i, s in enumerate(scores) if s is not None]},
        "qa_validations": [{"valid": ok, "reasons": why, "answer_support": 1.0} for ok, why in zip(valid, reasons)],
        "generation_validations": [], "dedup": {"kept": list(range(len(pairs))), "duplicate_of": {}}, "windows": 1,
        "lm_usage": {}, "errors": [], "row_key": source_id,
    }
    GeneratedRecord.model_validate(record)
    return record


def topic_record(index: int, *, pairs_per_doc: int = 3) -> dict:
    name, fact = TOPICS[index]
    doc = f"docs/{name.replace(' ', '_')}.md"
    texts = [f"{fact}; observation {k} about {name} describes stage {k} of the process in detail." for k in range(1, 6)]
    pairs = [make_pair(f"what happens during stage {k} of {name} according to observation {k}", f"stage {k} of {name}", [k])
             for k in range(1, pairs_per_doc + 1)]
    return make_record([doc], texts, pairs, [8.0] * len(pairs))


def awkward_corpus() -> list[dict]:
    """Ten topic documents plus every case convert must handle."""
    records = [topic_record(i) for i in range(len(TOPICS))]
    # every drop reason in one record: invalid, below threshold, unjudged, too many positives, unknown segment
    texts = [f"Coral reefs grow from calcium carbonate skeletons; reef fact {k} concerns polyp colony {k}." for k in range(1, 8)]
    pairs = [
        make_pair("which polyp colony builds the outer coral reef wall", "polyp colony 1", [1]),
        make_pair("which coral reef fact concerns the second polyp colony", "colony 2", [2]),
        make_pair("how do coral polyps form calcium carbonate skeletons", "skeletons", [3]),
        make_pair("what links all seven coral reef facts about polyp colonies", "all", [1, 2, 3, 4, 5, 6, 7], query_type="multi_hop",
                  hops=[[1, 2, 3], [4, 5, 6, 7]]),
        make_pair("which reef facts mention polyp colonies one and nine", "one", [1, 9]),
        make_pair("how are the first two polyp colonies of the reef related", "both", [1, 1, 2], query_type="structural",
                  reasoning_type="relational"),
    ]
    records.append(make_record(["docs/coral.md"], texts, pairs, [9.0, 3.0, None, 9.0, 9.0, 9.0],
                               valid=[False, True, True, True, True, True], reasons=[["source_relative_question", "question_too_short"]] + [[]] * 5))
    # a record whose pairs are all rejected: its chunks must stay in the corpus as distractors
    records.append(make_record(["docs/rejected.md"], ["Distractor passage about medieval castle moats and drawbridges.",
                                                     "Another distractor about the portcullis of a medieval gatehouse."],
                               [make_pair("how deep were medieval castle moats usually dug", "deep", [1])], [2.0]))
    # a record without pairs
    records.append(make_record(["docs/empty.md"], ["A lonely passage about lighthouse keepers and their lamps."], [], []))
    # the same chunk text in two documents -> one passage ID
    records.append(make_record(["docs/licence_a.md"], [SHARED_CHUNK, "Licence A grants permission to copy the software freely."],
                               [make_pair("what permission does licence A grant for copying software", "copy", [2])], [8.0]))
    records.append(make_record(["docs/licence_b.md"], [SHARED_CHUNK, "Licence B forbids commercial redistribution of the files."],
                               [make_pair("does licence B allow commercial redistribution of the files", "no", [2])], [8.0]))
    # the same question asked of two documents: paraphrases must share a split
    records.append(make_record(["docs/monarch_a.md"], ["Monarch butterflies migrate south as daylight shortens in autumn."],
                               [make_pair(PARAPHRASE, "daylight", [1])], [8.0]))
    records.append(make_record(["docs/monarch_b.md"], ["Milkweed availability along the route shapes the monarch migration."],
                               [make_pair(REWORDED, "milkweed", [1])], [8.0]))
    # a bundle that shares a document with a single-document record: one unit
    records.append(make_record(["docs/photosynthesis.md", "docs/tides.md"],
                               ["Plants and tides both follow daily cycles driven by the sun and moon.",
                                "Tidal pools host algae that photosynthesise between tides."],
                               [make_pair("how do tidal pool algae photosynthesise between tides", "algae", [2])], [8.0]))
    return records


def write_records(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def source_of_questions(records: list[dict]) -> dict[str, set[str]]:
    """question text -> documents of the records that asked it."""
    found: dict[str, set[str]] = {}
    for record in records:
        for pair in record["deduplicated_qa_pairs"]:
            found.setdefault(pair["question"], set()).update(record["file_name"])
    return found


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("convert")
    records = awkward_corpus()
    write_records(root / "generated" / "records.jsonl", records)
    # The awkward corpus plants the same question in several documents to test paraphrase grouping;
    # corpus-wide dedup (on by default) would drop them first: tests/export/test_quality_gate.py covers it.
    result = convert(ConvertConfig(input_path=root / "generated", dedup_threshold=None))
    return result, records


# ---------------------------------------------------------------------------
# real loaders read what we export
# ---------------------------------------------------------------------------


@pytest.mark.slow  # the shared conversion loads the real embedder and mines
def test_beir_loader_reads_eval_set(converted):
    from beir.datasets.data_loader import GenericDataLoader

    result, _ = converted
    corpus, queries, qrels = GenericDataLoader(data_folder=str(result.output_dir / "eval_beir")).load(split="test")
    assert queries and set(queries) == set(qrels)
    for query_id, relevant in qrels.items():
        assert relevant and all(doc in corpus for doc in relevant)
        assert all(isinstance(score, int) and score == 1 for score in relevant.values())
    lines = (result.output_dir / "eval_beir" / "qrels" / "test.tsv").read_text().splitlines()
    assert lines[0] == "query-id\tcorpus-id\tscore" and len(lines) == len(set(lines))
    assert not set(queries) & set(corpus)


@pytest.mark.slow  # the shared conversion loads the real embedder and mines
def test_datasets_loads_training_json_and_corpus_parquet(converted):
    from datasets import load_dataset

    result, _ = converted
    train = load_dataset("json", data_files=str(result.output_dir / "train.json"), field="data", split="train")
    assert set(train.column_names) == {"question_id", "question", "corpus_id", "pos_doc", "neg_doc"}
    assert len(train) == result.report.splits["train"].examples > 0
    corpus = load_dataset("parquet", data_files=str(result.output_dir / "corpus" / "train.parquet"), split="train")
    assert corpus.column_names == ["id", "text"]
    assert all(passage_id == corpus_id_for(text) for passage_id, text in zip(corpus["id"], corpus["text"]))
    metadata = read_json(result.output_dir / "corpus" / "merlin_metadata.json")
    assert metadata == {"class": "TextQADataset", "corpus_id": "generated"}
    document = read_json(result.output_dir / "train.json")
    assert document["corpus"] == {"path": "./corpus/"} and all(e["corpus_id"] == "generated" for e in document["data"])
    # streamed writer == json.dumps(indent=2)
    assert (result.output_dir / "train.json").read_text() == json.dumps(document, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.slow  # the shared conversion loads the real embedder; then a real training step
def test_one_training_step_on_exported_pairs(converted, tmp_path):
    """A sentence-transformers model trains a step on (query, positive) pairs built from train.json + corpus."""
    from datasets import load_dataset
    from sentence_transformers import InputExample, SentenceTransformer
    from sentence_transformers.sentence_transformer import losses
    from torch.utils.data import DataLoader

    from sdg_program.backends.embedder import default_embedder_path

    result, _ = converted
    corpus = load_dataset("parquet", data_files=str(result.output_dir / "corpus" / "train.parquet"), split="train")
    text_of = dict(zip(corpus["id"], corpus["text"]))
    data = read_json(result.output_dir / "train.json")["data"]
    examples = [InputExample(texts=[example["question"], text_of[example["pos_doc"][0]["id"]]]) for example in data[:4]]
    # a fresh copy: load_embedder's cached model is shared by the other tests and must stay untrained
    model = SentenceTransformer(default_embedder_path(), device="cpu", local_files_only=True)
    before = model[0].auto_model.embeddings.word_embeddings.weight.detach().clone()
    loader = DataLoader(examples, shuffle=False, batch_size=2)
    model.old_fit(train_objectives=[(loader, losses.MultipleNegativesRankingLoss(model))], epochs=1, steps_per_epoch=1,
                  warmup_steps=0, optimizer_params={"lr": 1e-3}, show_progress_bar=False, output_path=str(tmp_path / "model"))
    after = model[0].auto_model.embeddings.word_embeddings.weight.detach()
    assert not (before == after).all()


# ---------------------------------------------------------------------------
# integrity of the exported data
# ---------------------------------------------------------------------------


@pytest.mark.slow  # the shared conversion loads the real embedder and mines
def test_every_id_resolves_and_negatives_are_not_positives(converted):
    import pyarrow.parquet as pq

    result, _ = converted
    corpus_ids = set(pq.read_table(result.output_dir / "corpus" / "train.parquet").column("id").to_pylist())
    for name in ("train", "val"):
        for example in read_json(result.output_dir / f"{name}.json")["data"]:
            positives = [doc["id"] for doc in example["pos_doc"]]
            negatives = [doc["id"] for doc in example["neg_doc"]]
            assert positives and len(positives) == len(set(positives))
            assert set(positives) <= corpus_ids and set(negatives) <= corpus_ids
            assert not set(positives) & set(negatives)
            assert len(negatives) == 5 and len(set(negatives)) == 5
    beir_ids = {row["_id"] for row in read_jsonl(result.output_dir / "eval_beir" / "corpus.jsonl")}
    for line in (result.output_dir / "eval_beir" / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        assert line.split("\t")[1] in beir_ids


@pytest.mark.slow  # the shared conversion loads the real embedder and mines
def test_question_ids_unique_across_splits(converted):
    result, _ = converted
    ids = [e["question_id"] for name in ("train", "val") for e in read_json(result.output_dir / f"{name}.json")["data"]]
    ids += [q["_id"] for q in read_jsonl(result.output_dir / "eval_beir" / "queries.jsonl")]
    assert len(ids) == len(set(ids)) and all(i.startswith("q_") for i in ids)


@pytest.mark.slow  # the shared conversion loads the real embedder and mines
def test_splits_are_document_disjoint_non_empty_and_keep_paraphrases_together(converted):
    result, records = converted
    documents_of = source_of_questions(records)
    split_docs = {}
    split_questions = {}
    for name in ("train", "val"):
        questions = [e["question"] for e in read_json(result.output_dir / f"{name}.json")["data"]]
        split_questions[name] = set(questions)
        split_docs[name] = set().union(*(documents_of[q] for q in questions)) if questions else set()
    test_questions = [q["text"] for q in read_jsonl(result.output_dir / "eval_beir" / "queries.jsonl")]
    split_questions["test"] = set(test_questions)
    split_docs["test"] = set().union(*(documents_of[q] for q in test_questions)) if test_questions else set()
    assert all(split_docs[name] for name in ("train", "val", "test")), split_docs
    assert not split_docs["train"] & split_docs["val"]
    assert not split_docs["train"] & split_docs["test"]
    assert not split_docs["val"] & split_docs["test"]
    # the paraphrase pair (two documents) sits in one split
    holding = [name for name, questions in split_questions.items() if PARAPHRASE in questions or REWORDED in questions]
    assert len(holding) == 1
    assert PARAPHRASE in split_questions[holding[0]] and REWORDED in split_questions[holding[0]]
    # the bundle shares photosynthesis.md with a single-document record: same split
    assert "how do tidal pool algae photosynthesise between tides" in split_questions[
        next(name for name, docs in split_docs.items() if "docs/photosynthesis.md" in docs)]
    assert result.report.merges["paraphrase_merges"] >= 1 and result.report.merges["shared_document_merges"] >= 1


@pytest.mark.slow  # the shared conversion loads the real embedder and mines
def test_drop_reasons_positives_and_distractors(converted):
    result, _ = converted
    report = result.report
    assert report.pairs_dropped == {"invalid": 1, "unjudged": 1, "below_threshold": 2, "unknown_segment": 1, "too_many_positives": 1}
    assert report.validation_reasons == {"question_too_short": 1, "source_relative_question": 1}
    assert report.pairs_in == report.pairs_kept + sum(report.pairs_dropped.values())
    assert report.records_without_pairs == 1
    # duplicate segment IDs [1, 1, 2] become two positives, two qrels lines at most
    examples = {e["question"]: e for name in ("train", "val") for e in read_json(result.output_dir / f"{name}.json")["data"]}
    queries = {q["text"]: q for q in read_jsonl(result.output_dir / "eval_beir" / "queries.jsonl")}
    question = "how are the first two polyp colonies of the reef related"
    if question in examples:
        assert len(examples[question]["pos_doc"]) == 2
    else:
        assert question in queries
    # distractors: chunks of the rejected and the pair-less records stay; the shared chunk is one passage
    beir = {row["text"] for row in read_jsonl(result.output_dir / "eval_beir" / "corpus.jsonl")}
    assert "A lonely passage about lighthouse keepers and their lamps." in beir
    assert "Distractor passage about medieval castle moats and drawbridges." in beir
    assert sum(row["text"] == SHARED_CHUNK for row in read_jsonl(result.output_dir / "eval_beir" / "corpus.jsonl")) == 1
    assert report.corpus_documents == report.chunks_in - 1


@pytest.mark.slow  # the shared conversion loads the real embedder and mines
def test_training_corpus_leaves_out_test_only_passages(converted):
    import pyarrow.parquet as pq

    result, _ = converted
    training = set(pq.read_table(result.output_dir / "corpus" / "train.parquet").column("id").to_pylist())
    beir = {row["_id"] for row in read_jsonl(result.output_dir / "eval_beir" / "corpus.jsonl")}
    test_positives = {line.split("\t")[1] for line in (result.output_dir / "eval_beir" / "qrels" / "test.tsv").read_text().splitlines()[1:]}
    assert training < beir
    assert not test_positives & training
    assert corpus_id_for("A lonely passage about lighthouse keepers and their lamps.") in training


@pytest.mark.slow  # the shared conversion loads the real embedder; then a second whole conversion
def test_rerun_is_byte_identical(converted):
    result, _ = converted
    before = {path: path.read_bytes() for path in result.files}
    again = convert(ConvertConfig(input_path=Path(result.report.input_file).parent, dedup_threshold=None))
    assert again.files == result.files
    assert {path: path.read_bytes() for path in again.files} == before
    assert not list(result.output_dir.rglob("*.tmp"))


# ---------------------------------------------------------------------------
# options and input forms
# ---------------------------------------------------------------------------


def small_corpus(tmp_path: Path, count: int = 4) -> Path:
    return write_records(tmp_path / "gen" / "records.jsonl", [topic_record(i, pairs_per_doc=2) for i in range(count)])


def test_eval_only_writes_beir_only_with_every_kept_pair(tmp_path):
    small_corpus(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "train.json").write_text("stale")
    result = convert(input_path=tmp_path / "gen", output_dir=tmp_path / "out", eval_only=True)
    assert not (tmp_path / "out" / "train.json").exists() and not (tmp_path / "out" / "corpus").exists()
    queries = read_jsonl(tmp_path / "out" / "eval_beir" / "queries.jsonl")
    assert len(queries) == result.report.pairs_kept == 8
    assert result.report.negatives is None and list(result.report.splits) == ["test"]
    assert ConvertConfig(input_path=tmp_path / "gen", eval_only=True).resolved_output_dir() == tmp_path / "gen_eval"


def test_unroll_positives_and_no_negatives(tmp_path):
    records = [topic_record(i, pairs_per_doc=1) for i in range(3)]
    records[0]["deduplicated_qa_pairs"][0] = make_pair("which stages of photosynthesis do observations one and two describe", "1 and 2", [1, 2],
                                                       query_type="multi_hop", hops=[[1], [2]])
    write_records(tmp_path / "gen" / "records.jsonl", records)
    result = convert(input_path=tmp_path / "gen", unroll_positives=True, num_negatives=0, train_ratio=1.0, val_ratio=0.0,
                     paraphrase_threshold=None)
    data = read_json(result.output_dir / "train.json")["data"]
    assert len(data) == 4 and result.report.splits["train"].queries == 3 and result.report.splits["train"].examples == 4
    unrolled = [e for e in data if e["question_id"].endswith(("_p1", "_p2"))]
    assert len(unrolled) == 2 and all(len(e["pos_doc"]) == 1 and e["neg_doc"] == [] for e in data)
    assert result.report.negatives is None


def reference_record(record: dict) -> dict:
    """The reference tool's 12 columns: no qa_validations, evaluations without pair_index, file_name as a string."""
    columns = ["file_name", "source_id", "text", "chunks", "sections_structured", "bundle_id", "bundle_members",
               "is_multi_doc", "document_artifacts", "qa_generation", "deduplicated_qa_pairs", "qa_evaluations"]
    old = {name: copy.deepcopy(record[name]) for name in columns}
    for evaluation in old["qa_evaluations"]["evaluations"]:
        del evaluation["pair_index"]
    for chunk in old["chunks"]:
        for key in ("content_hash", "char_start", "char_end", "heading_path"):
            chunk.pop(key)
    old["file_name"] = old["file_name"][0]
    return old


@pytest.mark.slow  # loads the real embedder and mines
def test_reference_format_jsonl_converts(tmp_path):
    records = [reference_record(topic_record(i, pairs_per_doc=2)) for i in range(4)]
    records[1]["qa_evaluations"]["evaluations"].pop()  # counts differ: no alignment by position
    records[2]["deduplicated_qa_pairs"][0]["question"] = "according to the passage what is stage 1"  # our validation rejects it
    del records[3]["source_id"]  # legacy: keyed by the file name
    path = write_records(tmp_path / "reference_generated.jsonl", records)
    result = convert(input_path=path, num_negatives=2)
    report = result.report
    assert result.output_dir == tmp_path / "reference_generated_train_eval" and report.corpus_id == "reference_generated"
    assert report.records_validated_at_convert == 4 and report.records_judged_by_position == 3 and report.records_judge_unaligned == 1
    assert report.pairs_dropped == {"invalid": 1, "unjudged": 2}
    assert report.validation_reasons == {"source_relative_question": 1}
    assert report.pairs_kept == 5
    from beir.datasets.data_loader import GenericDataLoader

    GenericDataLoader(data_folder=str(result.output_dir / "eval_beir")).load(split="test")


@pytest.mark.slow  # a real generate run, then the real embedder mines
def test_generate_output_converts(tmp_path):
    """Records written by the real runner (scripted LM) go through convert."""
    from sdg_program.runner.generation import generate
    from tests.fake_lm import pair
    from tests.runner.test_runner import DOC, make_config, scripted_program

    config = make_config(tmp_path, docs=4)  # one sentence per chunk: segment 3 is the "Beta systems" sentence
    grounded = pair("how do beta systems index the records for search", "Beta systems index the records for search.", [3])
    generate(config, program=scripted_program(pairs=[grounded]))
    result = convert(input_path=config.output_dir, num_negatives=1, dedup_threshold=None)  # the scripted LM asks every row the same question
    report = result.report
    assert report.records_in == 4 and report.pairs_kept == 4
    # the scripted LM asks the same question of all four documents: paraphrase control makes them one unit
    assert report.units == 1 and report.merges["paraphrase_merges"] == 3
    assert report.splits["train"].queries == 4 and report.warnings
    assert DOC.split(".")[0] in (result.output_dir / "eval_beir" / "corpus.jsonl").read_text()


def test_groups_json_keeps_groups_together(tmp_path):
    small_corpus(tmp_path, count=6)
    groups = tmp_path / "groups.json"
    groups.write_text(json.dumps({"exact": {"groups": {"g1": ["photosynthesis.md", "docs/volcanoes"]}},
                                  "semantic": {"clusters": {"c1": ["docs/stock_markets.md", "docs/roman_aqueducts.md", "docs/jazz.md"]}}}))
    result = convert(input_path=tmp_path / "gen", split_strategy="dedupped", groups_json=[groups], num_negatives=0, paraphrase_threshold=None)
    assert result.report.units == 3 and result.report.merges["group_merges"] == 3
    assert all(split.units == 1 for split in result.report.splits.values())


def test_ambiguous_group_match_is_an_error(tmp_path):
    write_records(tmp_path / "gen" / "records.jsonl", [
        make_record(["a/readme.md"], ["Readme A explains the install steps."], [], []),
        make_record(["b/readme.md"], ["Readme B explains the upgrade steps."], [], []),
    ])
    groups = tmp_path / "groups.json"
    groups.write_text(json.dumps({"fuzzy": {"groups": {"g": ["readme.md", "a/readme.md"]}}}))
    with pytest.raises(GroupsError, match="Ambiguous"):
        convert(input_path=tmp_path / "gen", split_strategy="cluster", groups_json=[groups], num_negatives=0, paraphrase_threshold=None)


def test_bad_options_and_inputs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="at most 1"):
        ConvertConfig(input_path=tmp_path, train_ratio=0.8, val_ratio=0.3)
    with pytest.raises(ValueError, match="groups-json"):
        ConvertConfig(input_path=tmp_path, split_strategy="dedupped")
    (tmp_path / "a.jsonl").write_text("")
    (tmp_path / "b.jsonl").write_text("")
    with pytest.raises(ValueError, match="several"):
        ConvertConfig(input_path=tmp_path).records_file()
    with pytest.raises(FileNotFoundError):
        ConvertConfig(input_path=tmp_path / "missing").records_file()


def test_malformed_and_repeated_lines_are_skipped_and_counted(tmp_path):
    path = small_corpus(tmp_path, count=3)
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(json.dumps(topic_record(0, pairs_per_doc=2)) + "\n")
        stream.write('{"source_id": "half-writ')
    result = convert(input_path=path, num_negatives=0, paraphrase_threshold=None)
    assert result.report.lines_malformed == 1 and result.report.records_duplicate == 1
    assert result.report.pairs_in == 6


def test_failed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "train.json"
    target.write_text("old")

    def examples():
        yield {"question_id": "q_1"}
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_training_json(target, examples())
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


@pytest.mark.slow  # a whole CLI run that loads the real embedder and mines
def test_cli_command(tmp_path):
    import typer
    from typer.testing import CliRunner

    from sdg_program.cli.convert import convert_command

    small_corpus(tmp_path)
    app = typer.Typer()
    app.command("convert")(convert_command)
    app.command("other")(lambda: None)
    result = CliRunner().invoke(app, ["convert", str(tmp_path / "gen"), "--num-negatives", "1", "--no-group-paraphrases", "--corpus-id", "mine"])
    assert result.exit_code == 0, result.output
    assert "pairs kept" in result.output
    assert read_json(tmp_path / "gen_train_eval" / "corpus" / "merlin_metadata.json")["corpus_id"] == "mine"
    bad = CliRunner().invoke(app, ["convert", str(tmp_path / "gen"), "--train-ratio", "0.9", "--val-ratio", "0.2"])
    assert bad.exit_code == 2


def test_question_id_is_stable_and_distinct_from_passage_ids():
    assert question_id_for("a.md", "q") == question_id_for("a.md", "q") != question_id_for("b.md", "q")
    assert corpus_id_for("text") == "d_" + hashlib.sha256(b"text").hexdigest()[:16]


# ---------------------------------------------------------------------------
# splits (unit level)
# ---------------------------------------------------------------------------


def test_union_find_roots_are_smallest_keys():
    finder = UnionFind(["c", "b", "a", "d"])
    finder.union("c", "b")
    finder.union("b", "a")
    assert finder.components() == {"c": "a", "b": "a", "a": "a", "d": "d"}


def test_three_units_fill_three_splits_whatever_the_seed():
    units = [Unit(key=k, weight=w) for k, w in (("a", 10), ("b", 1), ("c", 1))]
    for seed in range(20):
        assignment = assign_splits(units, {"train": 0.8, "val": 0.1, "test": 0.1}, seed, largest_first=False)
        assert sorted(assignment.values()) == ["test", "train", "val"]


def test_assignment_follows_ratios_and_ignores_input_order():
    units = [Unit(key=f"u{i:03d}", weight=1 + i % 5) for i in range(200)]
    targets = {"train": 0.8, "val": 0.1, "test": 0.1}
    first = assign_splits(units, targets, 42, largest_first=False)
    assert assign_splits(list(reversed(units)), targets, 42, largest_first=False) == first
    total = sum(unit.weight for unit in units)
    for name, share in targets.items():
        weight = sum(unit.weight for unit in units if first[unit.key] == name)
        assert abs(weight / total - share) < 0.03
    assert assign_splits(units, targets, 7, largest_first=False) != first


def test_build_units_joins_shared_documents_and_links():
    units, counts = build_units({"a": ["x.md"], "b": ["x.md", "y.md"], "c": ["z.md"], "d": ["w.md"]}, {"a": 1, "b": 2, "c": 3},
                                record_links=[("c", "d")])
    assert [(unit.key, unit.records, unit.weight) for unit in units] == [("a", ["a", "b"], 3), ("c", ["c", "d"], 3)]
    assert counts["shared_document_merges"] == 1 and counts["paraphrase_merges"] == 1


def test_load_groups_rejects_bad_files(tmp_path):
    path = tmp_path / "g.json"
    path.write_text(json.dumps({"other": {}}))
    with pytest.raises(GroupsError):
        load_groups([path])
    path.write_text(json.dumps({"exact": {"groups": {"1": ["a"]}}, "fuzzy": {"clusters": {"2": ["b", "c"]}}}))
    assert load_groups([path]) == [["a"], ["b", "c"]]


def test_pairs_of_a_run_without_judge_are_kept_on_the_checks_alone(tmp_path):
    """generate --judge off (or auto with the embedded model) writes "judged": false: no score is expected,
    so the threshold does not apply; a record that was meant to be judged still loses its unscored pairs."""
    unjudged = [topic_record(i, pairs_per_doc=2) for i in range(3)]
    for record in unjudged:
        record["qa_evaluations"] = {"evaluations": []}
        record["judged"] = False
    meant_to_be_judged = topic_record(3, pairs_per_doc=2)
    meant_to_be_judged["qa_evaluations"] = {"evaluations": []}
    write_records(tmp_path / "gen" / "records.jsonl", [*unjudged, meant_to_be_judged])
    result = convert(input_path=tmp_path / "gen", eval_only=True, quality_threshold=7.0)
    assert result.report.pairs_kept == result.report.pairs_kept_unjudged == 6
    assert result.report.pairs_dropped == {"unjudged": 2}
