"""Every option default is read from the config the option fills, and chunk and generate share their chunking options."""

from __future__ import annotations

import pytest
import typer
from pydantic import BaseModel, Field

from optimize.compile import CompileConfig
from sdg_program import ChunkingConfig, ConvertConfig, EvaluateConfig, GenerateConfig, GenerationSettings, PushConfig
from sdg_program.cli.app import app
from sdg_program.cli.generate import GENERATION_OPTIONS, RUN_OPTIONS
from sdg_program.cli.options import CHUNKING_OPTIONS, default_of

COMMANDS = typer.main.get_command(app).commands
# Options whose default means "not given" (the config's own default applies) or that no config field holds.
NOT_A_FIELD_DEFAULT = {
    "chunk": {"input_dir", "sample", "output", "file_extensions", "verbose"},
    "generate": {"input_dir", "sample", "config_file", "print_resolved_config", "preview_rows", "dry_run", "resume", "overwrite", "file_extensions", "query_counts", "reasoning_counts", "verbose"},
    "convert": {"input_path", "groups_json", "group_paraphrases", "disable_check", "verbose"},
    "compile": {"predictor", "report", "no_evaluate", "verbose"},
    "push": {"folder", "repo_id", "verbose"},
    "eval": {"beir_dir", "model", "dense", "verbose"},
}
RENAMED = {("compile", "gold"): "gold_dir"}


def config_of(command: str, option: str) -> type[BaseModel]:
    if command == "generate":
        if option in GENERATION_OPTIONS:
            return GenerationSettings
        return GenerateConfig if option in RUN_OPTIONS else ChunkingConfig
    return {"chunk": ChunkingConfig, "convert": ConvertConfig, "compile": CompileConfig, "push": PushConfig, "eval": EvaluateConfig}[command]


@pytest.mark.parametrize("command", sorted(NOT_A_FIELD_DEFAULT))
def test_option_defaults_are_the_config_defaults(command):
    checked = 0
    for param in COMMANDS[command].params:
        if param.name in NOT_A_FIELD_DEFAULT[command]:
            continue
        field = RENAMED.get((command, param.name), param.name)
        assert param.default == default_of(config_of(command, param.name), field), f"{command} --{param.name}"
        checked += 1
    assert checked >= 3


def test_negated_and_sentinel_defaults():
    params = {param.name: param for param in COMMANDS["compile"].params}
    assert params["no_evaluate"].default is (not default_of(CompileConfig, "evaluate"))
    for command in ("chunk", "generate"):
        assert {param.name: param for param in COMMANDS[command].params}["file_extensions"].default is None  # --help names the default list


def test_chunk_and_generate_share_the_chunking_options():
    for command in ("chunk", "generate"):
        names = [param.name for param in COMMANDS[command].params]
        assert [name for name in names if name in CHUNKING_OPTIONS] == list(CHUNKING_OPTIONS), command
        assert "chunking" not in names


def test_default_of_calls_factories_and_refuses_required_fields():
    class Model(BaseModel):
        required: int
        listed: list[str] = Field(default_factory=lambda: ["a"])
        plain: float = 0.5

    assert default_of(Model, "listed") == ["a"] and default_of(Model, "listed") is not default_of(Model, "listed")
    assert default_of(Model, "plain") == 0.5
    with pytest.raises(ValueError, match="required"):
        default_of(Model, "required")
