"""The one error path: each kind of failure ends a command with its exit code and a printed message."""

from __future__ import annotations

import pytest
import typer
import yaml
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from sdg_program.cli.app import app
from sdg_program.cli.errors import PLAIN_USER_ERRORS, reported_errors, validated
from sdg_program.core.errors import (
    BeirFormatError,
    ExportFolderError,
    HubError,
    ManifestError,
    MissingInputError,
    NoTokenError,
    OutputExists,
    ResumeMismatch,
    RetrieverError,
    RunAborted,
    UserError,
)

runner = CliRunner()


@pytest.mark.parametrize(
    ("error", "code", "prefix"),
    [
        (UserError("change it"), 2, "Error:"),
        (OutputExists("change it"), 2, "Error:"),
        (ResumeMismatch("change it"), 2, "Error:"),
        (ManifestError("change it"), 2, "Error:"),
        (MissingInputError("change it"), 2, "Error:"),
        (BeirFormatError("change it"), 2, "Error:"),
        (ExportFolderError("change it"), 2, "Error:"),
        (RunAborted("change it"), 3, "Aborted:"),
        (HubError("change it"), 1, "Error:"),
        (NoTokenError("change it"), 1, "Error:"),
        (RetrieverError("change it"), 1, "Error:"),
    ],
)
def test_each_error_kind_has_its_exit_code(error, code, prefix, capsys):
    with pytest.raises(typer.Exit) as ended, reported_errors():
        raise error
    assert ended.value.exit_code == code
    assert f"{prefix} change it" in capsys.readouterr().err


def test_plain_errors_are_user_errors_only_where_asked_for(capsys):
    for error in (ValueError("bad spec"), FileNotFoundError("no file")):
        with pytest.raises(typer.Exit) as ended, reported_errors(PLAIN_USER_ERRORS):
            raise error
        assert ended.value.exit_code == 2
    with pytest.raises(ValueError), reported_errors():
        raise ValueError("a bug, not the user's doing")
    with pytest.raises(KeyError), reported_errors(PLAIN_USER_ERRORS):
        raise KeyError("a bug")


def test_messages_are_scrubbed(capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdefghij")
    with pytest.raises(typer.Exit), reported_errors():
        raise HubError("the server said: Bearer sk-test-0123456789abcdefghij")
    assert "sk-test-0123456789abcdefghij" not in capsys.readouterr().err


def test_invalid_option_values_exit_2(capsys):
    class Settings(BaseModel):
        size: int = Field(1, ge=1)

    assert validated(Settings, {"size": 3}).size == 3
    with pytest.raises(typer.Exit) as ended:
        validated(Settings, {"size": 0})
    assert ended.value.exit_code == 2 and "Invalid options:" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# generate: what ends it before any model is loaded
# ---------------------------------------------------------------------------


def generate(*args: str):
    return runner.invoke(app, ["generate", *args], env={"COLUMNS": "200"})


def test_generate_needs_an_input_folder(tmp_path):
    result = generate("--output-dir", str(tmp_path / "out"))
    assert result.exit_code == 2 and "provide --input-dir, --sample or chunking.input_dir in --config" in result.output


def test_generate_config_file_errors(tmp_path):
    result = generate("--config", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2 and "Cannot read --config" in result.output
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    result = generate("--config", str(listed))
    assert result.exit_code == 2 and "must hold a mapping" in result.output


def test_generate_option_errors(corpus, tmp_path):
    corpus("a.md", "Some text that is long enough to be used by the chunker, surely.")
    result = generate("-i", str(corpus.root), "--query-counts", "multi_hop:3")
    assert result.exit_code == 2 and "expected name=count" in result.output
    result = generate("-i", str(corpus.root), "--min-hops", "4", "--max-hops", "3")
    assert result.exit_code == 2 and "Invalid options:" in result.output and "min_hops (4) must be <= max_hops (3)" in result.output


def test_generate_user_errors_exit_2(corpus, tmp_path):
    corpus("a.md", "Some text that is long enough to be used by the chunker, surely.")
    result = generate("-i", str(corpus.root), "-o", str(corpus.root / "out"))
    assert result.exit_code == 2 and "is inside --input-dir" in result.output
    output = tmp_path / "out"
    output.mkdir()
    (output / "records.jsonl").write_text("")
    result = generate("-i", str(corpus.root), "-o", str(output))
    assert result.exit_code == 2 and "already holds a run" in result.output
    result = generate("-i", str(corpus.root), "-o", str(tmp_path / "new"), "--lm", " ")
    assert result.exit_code == 2 and "empty LM spec" in result.output


def test_generate_merges_the_config_file_under_the_options(corpus, tmp_path):
    corpus("a.md", "Some text that is long enough to be used by the chunker, surely.")
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "chunking": {"input_dir": str(corpus.root), "file_extensions": [".rst"], "sentences_per_chunk": 3},
        "generation": {"num_pairs": 3, "query_counts": {"multi_hop": 1, "structural": 1, "contextual": 1}},
        "lm": "openai/from-file",
    }))
    result = runner.invoke(app, ["generate", "--config", str(config), "--sentences-per-chunk", "4", "--print-resolved-config"])
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load(result.stdout)
    assert resolved["chunking"]["input_dir"] == str(corpus.root) and resolved["lm"] == "openai/from-file"  # the file, where no option was given
    assert resolved["chunking"]["file_extensions"] == [".rst"] and resolved["generation"]["query_counts"]["multi_hop"] == 1
    assert resolved["chunking"]["sentences_per_chunk"] == 4  # the option given wins
    assert resolved["max_tokens"] == 2048 and resolved["generation"]["max_hops"] == 3  # defaults where neither says
    result = runner.invoke(app, ["generate", "--config", str(config), "--file-extensions", "*", "--query-counts", "multi_hop=3", "--print-resolved-config"])
    resolved = yaml.safe_load(result.stdout)
    assert resolved["chunking"]["file_extensions"] is None and resolved["generation"]["query_counts"]["multi_hop"] == 3
