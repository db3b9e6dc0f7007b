"""The runner with a scripted LM: checkpoints, failures, resume, run.json, refusal cases."""

import json

import numpy as np
import pytest

from sdg_program.core.errors import OutputExists, ResumeMismatch, RunAborted
from sdg_program.ingest.config import ChunkingConfig
from sdg_program.program.retrieval_sdg import RetrievalSDG
from sdg_program.program.settings import GenerationSettings
from sdg_program.runner.checkpoint import repair_jsonl
from sdg_program.runner.config import GenerateConfig
from sdg_program.runner.generation import generate, preview
from tests.fake_lm import artifacts, evaluation, pair, scripted_lm

DOC = "Alpha systems store records. Beta systems index the records for search. Gamma systems rank results by score."


def embed(texts):
    vectors = np.eye(len(texts), max(len(texts), 1))
    return vectors


def scripted_program(pairs=None, fail_sources=()):
    pairs = pairs or [pair("how do beta systems index records for search", "Beta systems index the records for search.", [2])]
    lm = scripted_lm(artifacts("Beta"), {"qa_pairs": {"pairs": pairs}}, {"evaluations": {"evaluations": [evaluation(0)]}})
    program = RetrievalSDG(GenerationSettings(num_pairs=1), lm=lm, embed_texts=embed)
    if fail_sources:
        original = program.forward

        def forward(row):
            if row.source_id in fail_sources:
                raise RuntimeError(f"endpoint exploded for {row.source_id}")
            return original(row)

        program.forward = forward
    return program


def make_config(tmp_path, docs=4, **overrides):
    root = tmp_path / "docs"
    root.mkdir(exist_ok=True)
    for index in range(docs):
        (root / f"doc{index}.md").write_text(f"Document {index}. {DOC}")
    return GenerateConfig(chunking=ChunkingConfig(input_dir=root, sentences_per_chunk=1, min_text_length=0),
                          generation=GenerationSettings(num_pairs=1), output_dir=tmp_path / "out", **overrides)


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_records_failures_and_run_file(tmp_path):
    config = make_config(tmp_path)
    result = generate(config, program=scripted_program(fail_sources={"doc2.md"}))
    records = read(result.records_path)
    failures = read(result.failures_path)
    assert sorted(r["source_id"] for r in records) == ["doc0.md", "doc1.md", "doc3.md"]
    assert [f["source_id"] for f in failures] == ["doc2.md"] and "endpoint exploded" in failures[0]["reason"]
    assert result.stats.rows_done == 3 and result.stats.rows_failed == 1
    run = json.loads((config.output_dir / "run.json").read_text())
    assert run["status"] == "finished" and run["counts"]["rows_done"] == 3
    assert run["config_fingerprint"] == config.fingerprint() and run["corpus_fingerprint"]
    first = records[0]
    for column in ["file_name", "source_id", "text", "chunks", "sections_structured", "bundle_id", "bundle_members", "is_multi_doc",
                   "document_artifacts", "qa_generation", "deduplicated_qa_pairs", "qa_evaluations", "qa_validations", "row_key"]:
        assert column in first


def test_existing_output_needs_resume_or_overwrite(tmp_path):
    config = make_config(tmp_path, docs=1)
    generate(config, program=scripted_program())
    with pytest.raises(OutputExists):
        generate(config, program=scripted_program())
    generate(config, program=scripted_program(), overwrite=True)
    assert len(read(config.output_dir / "records.jsonl")) == 1


def test_resume_skips_done_rows_retries_failures_and_never_duplicates(tmp_path):
    config = make_config(tmp_path, docs=5)
    generate(config, program=scripted_program(fail_sources={"doc1.md", "doc3.md"}))
    records_path = config.output_dir / "records.jsonl"
    # simulate a kill in the middle of writing a line
    with open(records_path, "ab") as stream:
        stream.write(b'{"row_key": "half-writ')
    result = generate(config, program=scripted_program(), resume=True)
    records = read(records_path)
    assert sorted(r["source_id"] for r in records) == [f"doc{i}.md" for i in range(5)]
    assert len({r["row_key"] for r in records}) == 5
    assert read(config.output_dir / "failures.jsonl") == []
    assert result.stats.rows_resumed == 3 and result.stats.rows_done == 2


def test_resume_with_other_settings_is_refused(tmp_path):
    config = make_config(tmp_path, docs=1)
    generate(config, program=scripted_program())
    changed = config.model_copy(update={"generation": GenerationSettings(num_pairs=2)})
    with pytest.raises(ResumeMismatch):
        generate(changed, program=scripted_program(), resume=True)


def test_output_inside_input_is_refused(tmp_path):
    config = make_config(tmp_path, docs=1)
    inside = config.model_copy(update={"output_dir": config.chunking.input_dir / "out"})
    with pytest.raises(ValueError, match="inside --input-dir"):
        generate(inside, program=scripted_program())


def test_max_failure_rate_aborts_resumably(tmp_path):
    config = make_config(tmp_path, docs=12, max_failure_rate=0.5)
    with pytest.raises(RunAborted, match="max-failure-rate"):
        generate(config, program=scripted_program(fail_sources={f"doc{i}.md" for i in range(12)}))
    run = json.loads((config.output_dir / "run.json").read_text())
    assert run["status"] == "aborted"
    result = generate(config, program=scripted_program(), resume=True)
    assert len(read(result.records_path)) == 12


def test_preview_writes_nothing(tmp_path):
    config = make_config(tmp_path, docs=3)
    results = preview(config, 2, program=scripted_program())
    assert len(results) == 2
    assert not config.output_dir.exists()


def test_repair_jsonl_drops_only_a_partial_last_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n{"c": ')
    assert repair_jsonl(path) == [{"a": 1}, {"b": 2}]
    assert path.read_bytes() == b'{"a": 1}\n{"b": 2}\n'


def test_structural_repairs_are_counted_in_the_run(tmp_path):
    """A single-hop pair whose one hop is numbered 2 is repaired (hops_renumbered) and the run counts it."""
    config = make_config(tmp_path, docs=2)
    slipped = pair("how do beta systems index records for search", "Beta systems index the records for search.", [2])
    slipped["hop_contexts"][0]["hop_number"] = 2
    result = generate(config, program=scripted_program(pairs=[slipped]))
    counts = json.loads((config.output_dir / "run.json").read_text())["counts"]
    assert counts["normalizations"] == {"hops_renumbered": 2}
    record = read(result.records_path)[0]
    assert record["qa_validations"][0]["normalizations"] == ["hops_renumbered"]


def test_generate_returns_only_after_the_embedders_background_load_has_ended(tmp_path):
    # One pair per row: no row ever asks for vectors. generate must still wait for the load, or a
    # thread half-way through importing torch/transformers outlives it (convert then failed in datasets).
    import threading
    import time

    from sdg_program.backends.embed_batcher import EmbeddingBatcher

    load_ended = threading.Event()

    def slow_load():
        time.sleep(0.5)
        load_ended.set()
        return None

    program = scripted_program()
    program.embed_texts = EmbeddingBatcher(slow_load, lambda model, texts: embed(texts))
    generate(make_config(tmp_path, docs=1), program=program)
    assert load_ended.is_set()
