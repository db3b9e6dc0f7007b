import os

import pytest

from sdg_program.ingest.chunking import ChunkingReport, iter_seed_rows
from sdg_program.ingest.config import ChunkingConfig

GOOD = "This is a perfectly normal document. It has two sentences."


def run(root, **options):
    report = ChunkingReport()
    rows = list(iter_seed_rows(ChunkingConfig(input_dir=root, min_text_length=0, **options), report))
    return rows, report


def skip_reasons(report):
    return {skip.path: skip.reason for skip in report.skipped}


def test_every_bad_input_is_a_logged_skip_with_its_reason(corpus, caplog):
    corpus("good.md", GOOD)
    corpus("empty.md", "")
    corpus("spaces.md", "  \n\t\n   ")
    corpus("binary.md", b"\x00\x01\x02binary\x00data" * 50)
    corpus("huge.md", "word " * 5000)
    corpus("latin1.md", "Caf\xe9 cr\xe8me br\xfbl\xe9e is a dessert. It is sweet.".encode("cp1252"))
    corpus("utf16.md", GOOD.encode("utf-16"))
    unreadable = corpus("locked.md", GOOD + " Locked.")
    unreadable.chmod(0)
    with caplog.at_level("WARNING"):
        rows, report = run(corpus.root, max_file_bytes=10_000)
    reasons = skip_reasons(report)
    assert reasons["empty.md"] == "empty"
    assert reasons["spaces.md"] == "empty"
    assert reasons["binary.md"] == "binary"
    assert reasons["huge.md"] == "too_large"
    if os.geteuid() != 0:  # root can read anything
        assert reasons["locked.md"] == "unreadable"
    used = {row.source_id: row for row in rows}
    assert "latin1.md" in used and "Café crème brûlée" in used["latin1.md"].text
    assert "utf16.md" in used and used["utf16.md"].text == GOOD or reasons.get("utf16.md") == "duplicate"
    assert "skipped binary.md: binary" in caplog.text
    assert report.files_seen == 8


def test_exact_duplicate_content_is_used_once(corpus):
    corpus("a.md", GOOD)
    corpus("copy/a.md", GOOD)
    rows, report = run(corpus.root)
    assert [row.source_id for row in rows] == ["a.md"]
    assert skip_reasons(report) == {"copy/a.md": "duplicate"}


def test_symlink_loop_and_outside_links_are_skipped(corpus, tmp_path):
    corpus("a.md", GOOD)
    (corpus.root / "loop").symlink_to(corpus.root, target_is_directory=True)
    outside = tmp_path / "secret.md"
    outside.write_text("A secret document outside the input folder. Never read it.")
    (corpus.root / "outside.md").symlink_to(outside)
    (corpus.root / "alias.md").symlink_to(corpus.root / "a.md")
    (corpus.root / "broken.md").symlink_to(tmp_path / "missing.md")
    rows, report = run(corpus.root)
    assert [row.source_id for row in rows] == ["a.md"]
    reasons = skip_reasons(report)
    assert reasons["loop"] == "symlink_loop"
    assert reasons["outside.md"] == "symlink_outside_input"
    assert reasons["alias.md"] == "duplicate"
    assert reasons["broken.md"] in ("symlink_loop", "unreadable")
    rows, report = run(corpus.root, follow_symlinks=False)
    assert [row.source_id for row in rows] == ["a.md"]
    rows, _ = run(corpus.root, allow_external_symlinks=True)
    assert "outside.md" in [row.source_id for row in rows]


def test_missing_input_dir_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="input folder not found"):
        run(tmp_path / "nope")


def test_undecodable_bytes_without_nul_are_skipped_or_decoded_never_crash(corpus):
    corpus("weird.md", bytes(range(128, 256)) * 20)
    rows, report = run(corpus.root)
    assert len(rows) + len(report.skipped) == 1
