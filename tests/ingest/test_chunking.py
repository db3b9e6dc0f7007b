import random
import re
from pathlib import Path

import numpy as np
import pytest

from sdg_program.core.records import SeedRow
from sdg_program.ingest.chunking import ChunkingReport, chunk_text, iter_seed_rows
from sdg_program.ingest.config import ChunkingConfig
from tests.conftest import DOCS_DSPY

PROSE = "Alpha is first. Beta follows alpha. Gamma is third! Delta asks why? Epsilon ends it. Zeta is extra. Eta closes."


def rows_for(root: Path, **options) -> tuple[list[SeedRow], ChunkingReport]:
    report = ChunkingReport()
    config = ChunkingConfig(input_dir=root, min_text_length=options.pop("min_text_length", 0), **options)
    return list(iter_seed_rows(config, report)), report


def test_chunks_group_sentences_and_keep_punctuation():
    chunks = chunk_text(PROSE, "a.md", sentences_per_chunk=5)
    assert [chunk.sentence_count for chunk in chunks] == [5, 2]
    assert chunks[0].text == "Alpha is first. Beta follows alpha. Gamma is third! Delta asks why? Epsilon ends it."
    assert [chunk.chunk_id for chunk in chunks] == [1, 2]
    assert [chunk.doc_chunk_index for chunk in chunks] == [1, 2]
    assert chunks[1].word_count == 5
    assert PROSE[chunks[1].char_start : chunks[1].char_end] == "Zeta is extra. Eta closes."


def test_heading_starts_a_chunk_and_titles_it():
    text = "# Intro\n\nOne. Two.\n\n## Details\n\nThree. Four.\n\n## Empty trailing heading\n"
    chunks = chunk_text(text, "a.md", sentences_per_chunk=5)
    assert [chunk.text for chunk in chunks] == ["Intro\nOne. Two.", "Details\nThree. Four.\nEmpty trailing heading"]
    assert chunks[1].heading_path == ["Intro", "Details"]
    assert chunks[0].sentence_count == 2


def test_character_cap_splits_giant_code_blocks_and_tables():
    code = "```\n" + "\n".join(f"line_{index} = {index}" for index in range(500)) + "\n```"
    table = "| a | b |\n|---|---|\n" + "\n".join(f"| {index} | value {index} |" for index in range(400))
    long_sentence = " ".join(["word"] * 2000) + "."
    text = f"Intro.\n\n{code}\n\n{table}\n\n{long_sentence}"
    chunks = chunk_text(text, "big.md", max_chunk_chars=1000)
    assert max(len(chunk.text) for chunk in chunks) <= 1000
    assert any("line_499 = 499" in chunk.text for chunk in chunks)
    assert any("399 | value 399" in chunk.text for chunk in chunks)  # a table keeps its cells, not its pipes
    joined = "\n".join(chunk.text for chunk in chunks)
    assert joined.count("line_") == 500


def test_content_hash_is_sha256_of_text():
    import hashlib

    chunk = chunk_text(PROSE, "a.md")[0]
    assert chunk.content_hash == hashlib.sha256(chunk.text.encode()).hexdigest()


def test_ids_are_identical_across_runs_and_independent_of_file_system_order(tmp_path):
    names = [f"dir{index % 3}/doc{index}.md" for index in range(12)]
    dumps = []
    for attempt in range(2):
        root = tmp_path / f"run{attempt}"
        order = names[:]
        random.Random(attempt).shuffle(order)  # create files in a different order each time
        for name in order:
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"# {name}\n\n{PROSE}\n")
        rows, _ = rows_for(root)
        dumps.append([row.model_dump() for row in rows])
    assert dumps[0] == dumps[1]
    assert [row["source_id"] for row in dumps[0]] == sorted(names)


def test_seed_row_schema_single_doc(corpus):
    corpus("a.md", PROSE)
    rows, report = rows_for(corpus.root)
    row = rows[0].model_dump()
    assert list(row)[:8] == ["file_name", "source_id", "text", "chunks", "sections_structured", "bundle_id", "bundle_members", "is_multi_doc"]
    assert row["file_name"] == ["a.md"] and row["source_id"] == "a.md" and row["bundle_members"] == ["a.md"]
    assert row["bundle_id"] == "" and row["is_multi_doc"] is False and row["text"] == PROSE
    assert row["sections_structured"][0].splitlines()[1] == "Segment 1: " + row["chunks"][0]["text"]
    assert report.rows == 1 and report.files_used == 1


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("sequential", [["a.md"] * 3, ["a.md", "b.md", "b.md"], ["b.md"] * 2]),
        ("doc_balanced", [["a.md", "a.md", "b.md", "b.md"], ["a.md", "b.md"], ["a.md", "b.md"]]),
        ("interleaved", [["a.md", "b.md", "a.md"], ["b.md", "a.md", "b.md"], ["a.md", "b.md"]]),
    ],
)
def test_section_strategies(corpus, strategy, expected):
    corpus("a.md", " ".join(f"Sentence a{index}." for index in range(4)))  # 4 chunks of 1
    corpus("b.md", " ".join(f"Sentence b{index}." for index in range(4)))
    rows, _ = rows_for(corpus.root, multi_doc=True, bundle_size=2, num_sections=3, section_strategy=strategy, sentences_per_chunk=1)
    assert len(rows) == 1
    sections = rows[0].sections_structured
    docs = [[line.split("[Doc: ")[1].split("]")[0] for line in section.splitlines()[1:]] for section in sections]
    assert docs == expected
    # chunk IDs run across the bundle in member order
    assert [chunk.chunk_id for chunk in rows[0].chunks] == list(range(1, 9))
    assert [chunk.doc_id for chunk in rows[0].chunks] == ["a.md"] * 4 + ["b.md"] * 4


def test_sections_are_balanced_and_never_empty(corpus):
    corpus("a.md", " ".join(f"Sentence {index}." for index in range(5)))
    rows, _ = rows_for(corpus.root, num_sections=4, sentences_per_chunk=1)
    sizes = [len(section.splitlines()) - 1 for section in rows[0].sections_structured]
    assert sizes == [2, 1, 1, 1]
    rows, _ = rows_for(corpus.root, num_sections=9, sentences_per_chunk=1)
    assert len(rows[0].sections_structured) == 5


def test_multi_doc_bundles_sequential(corpus):
    for name in ["a.md", "b.md", "c.md", "d.md", "e.md"]:
        corpus(name, f"{name} text. " + PROSE)
    rows, report = rows_for(corpus.root, multi_doc=True, bundle_size=2)
    assert [row.bundle_members for row in rows] == [["a.md", "b.md"], ["c.md", "d.md"], ["e.md"]]
    first = rows[0]
    assert first.is_multi_doc and len(first.bundle_id) == 32 and first.source_id == first.bundle_id[:16]
    assert "=== Document Boundary ===" in first.text
    assert "[Doc: b.md]" in first.sections_structured[0]
    assert rows[2].is_multi_doc is False and rows[2].source_id == "e.md"
    assert report.files_used == 5 and report.rows == 3


def test_bundles_group_usable_documents_only(corpus):
    corpus("a.md", PROSE)
    corpus("b.md", "")  # skipped, must not leave a hole in a bundle
    corpus("c.md", PROSE + " Different.")
    rows, report = rows_for(corpus.root, multi_doc=True, bundle_size=2)
    assert [row.bundle_members for row in rows] == [["a.md", "c.md"]]
    assert report.skipped_by_reason() == {"empty": 1}


def test_manifest_bundles_come_first(corpus, tmp_path):
    for name in ["a.md", "b.md", "c.md", "d.md"]:
        corpus(name, f"{name}. " + PROSE)
    manifest = tmp_path / "bundles.yaml"
    manifest.write_text("bundles:\n  - docs: [d.md, a.md]\n")
    rows, _ = rows_for(corpus.root, multi_doc=True, bundle_size=2, multi_doc_manifest=manifest)
    assert [row.bundle_members for row in rows] == [["d.md", "a.md"], ["b.md", "c.md"]]


def test_bundle_size_over_cap_is_a_config_error(tmp_path):
    with pytest.raises(ValueError, match="bundle_size"):
        ChunkingConfig(input_dir=tmp_path, multi_doc=True, bundle_size=4, max_docs_per_bundle=3)


def test_semantic_bundling_groups_similar_documents(corpus):
    corpus("1_cats.md", "Cats purr and chase mice. Kittens love milk.")
    corpus("2_tax.md", "Income tax returns are due in April. Deductions reduce taxable income.")
    corpus("3_dogs.md", "Dogs bark and chase cats. Puppies love to play.")
    corpus("4_vat.md", "Value added tax is charged on sales. Invoices must show the tax rate.")
    vectors = {"cat": [1, 0.1], "tax": [0, 1], "dog": [0.9, 0.2], "vat": [0.1, 0.95]}

    def fake_embed(texts):
        keys = ["cat" if "Cats" in t else "dog" if "Dogs" in t else "tax" if "Income" in t else "vat" for t in texts]
        array = np.array([vectors[key] for key in keys], dtype=np.float32)
        return array / np.linalg.norm(array, axis=1, keepdims=True)

    config = ChunkingConfig(input_dir=corpus.root, min_text_length=0, multi_doc=True, bundle_size=2, bundle_by="semantic")
    rows = list(iter_seed_rows(config, embed_texts=fake_embed))
    assert [row.bundle_members for row in rows] == [["1_cats.md", "3_dogs.md"], ["2_tax.md", "4_vat.md"]]


def test_discovery_options(corpus):
    corpus("guide.md", PROSE)
    corpus("notes.TXT", PROSE + " Notes.")
    corpus("page.mdx", PROSE + " Mdx.")
    corpus("api.rst", PROSE + " Rst.")
    corpus("image.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    corpus("README", PROSE + " Readme.")
    corpus("sub/deep.md", PROSE + " Deep.")
    names = lambda rows: [row.source_id for row in rows]
    assert names(rows_for(corpus.root)[0]) == ["api.rst", "guide.md", "notes.TXT", "page.mdx", "sub/deep.md"]
    assert names(rows_for(corpus.root, recursive=False)[0]) == ["api.rst", "guide.md", "notes.TXT", "page.mdx"]
    assert names(rows_for(corpus.root, file_pattern="g*")[0]) == ["guide.md"]
    assert names(rows_for(corpus.root, file_extensions=["md", ""])[0]) == ["README", "guide.md", "sub/deep.md"]
    assert names(rows_for(corpus.root, num_files=2)[0]) == ["api.rst", "guide.md"]
    rows, report = rows_for(corpus.root, min_text_length=len(PROSE))  # guide.md has len(PROSE) - 1 text characters
    assert names(rows) == ["api.rst", "notes.TXT", "page.mdx", "sub/deep.md"]
    assert report.skipped_by_reason() == {"too_short": 1}


def test_num_files_counts_usable_documents(corpus):
    corpus("a.md", "")
    corpus("b.md", PROSE)
    corpus("c.md", PROSE + " C.")
    rows, _ = rows_for(corpus.root, num_files=2)
    assert [row.source_id for row in rows] == ["b.md", "c.md"]


@pytest.mark.skipif(not DOCS_DSPY.is_dir(), reason="shared corpora not present")
def test_whole_docs_dspy_corpus_chunks_and_stub_pages_are_skipped_sensibly():
    config = ChunkingConfig(input_dir=DOCS_DSPY)
    report = ChunkingReport()
    rows = list(iter_seed_rows(config, report))
    assert report.files_seen == 162
    assert report.files_used + len(report.skipped) == 162
    reasons = report.skipped_by_reason()
    stubs = [path.relative_to(DOCS_DSPY).as_posix() for path in DOCS_DSPY.rglob("*.md") if "::: dspy" in path.read_text()]
    assert len(stubs) >= 70
    skipped = {skip.path: skip.reason for skip in report.skipped}
    by_id = {row.source_id: row for row in rows}
    for stub in stubs:  # a stub page is either skipped as too short or kept for the real prose it has
        if stub in skipped:
            assert skipped[stub] in ("too_short", "no_chunks")
        else:
            assert sum(len(chunk.text) for chunk in by_id[stub].chunks) >= config.min_text_length
            assert all("handler: python" not in chunk.text for chunk in by_id[stub].chunks)
    assert reasons.get("too_short", 0) >= 50
    used = {row.source_id for row in rows}
    assert len(used) == len(rows) == report.files_used
    for row in rows:
        assert [chunk.chunk_id for chunk in row.chunks] == list(range(1, len(row.chunks) + 1))
        assert all(0 < len(chunk.text) <= config.max_chunk_chars for chunk in row.chunks)
        assert "::: dspy" not in row.sections_structured[0]
        source = (DOCS_DSPY / row.source_id).read_text()
        for chunk in row.chunks:
            assert 0 <= chunk.char_start < chunk.char_end <= len(source)
    # code fences are neither lost nor duplicated by chunking
    for row in rows:
        source = re.sub(r"<!--.*?-->", "", (DOCS_DSPY / row.source_id).read_text(), flags=re.DOTALL)
        assert sum(chunk.text.count("```") for chunk in row.chunks) == source.count("```"), row.source_id
