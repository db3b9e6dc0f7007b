"""`sdg-program generate --dry-run` (sdg_program/runner/estimate.py): calls, prompt tokens and input cost before a run."""

import json
import math
from collections import Counter

import pytest
from typer.testing import CliRunner

from sdg_program.cli.app import app
from sdg_program.ingest.config import ChunkingConfig
from sdg_program.program.settings import GenerationSettings
from sdg_program.runner.config import GenerateConfig
from sdg_program.runner.estimate import estimate_run
from signatures import MAX_PAIRS
from tests.openai_stub import OpenAIStub

SENTENCES = [
    "The pump cools the engine at full load and keeps the oil below ninety degrees.",
    "The valve opens at noon every day so that the reservoir drains into the lower basin.",
    "Operators log the pressure each hour and report any reading above six bar to the shift lead.",
    "The library opened its north wing in 1998 to hold the growing map collection of the city.",
    "Visitors may borrow six books at a time and renew them twice through the front desk.",
]


def write_docs(root, repeat=1):
    root.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(("pump.md", "library.md", "valve.md")):
        body = "\n\n".join(f"## Part {part}\n\n" + " ".join(SENTENCES[(index + part + k) % len(SENTENCES)] for k in range(3)) for part in range(repeat))
        (root / name).write_text(f"# {name[:-3].title()}\n\n{body}\n", encoding="utf-8")
    return root


def config_for(docs, lm="openai/gpt-4o-mini", **kwargs):
    generation = kwargs.pop("generation", {})
    return GenerateConfig(chunking=ChunkingConfig(input_dir=docs, sentences_per_chunk=1, min_text_length=0),
                          generation=GenerationSettings(**generation), lm=lm, **kwargs)


def test_window_strategy_counts_extract_generate_and_judge_per_window(tmp_path):
    docs = write_docs(tmp_path / "docs", repeat=3)
    separate = estimate_run(config_for(docs, generation={"judge": "on", "extract": "on", "num_pairs": 7, "window_chars": 500}))
    calls = {stage.stage: stage.calls for stage in separate.stages}
    assert separate.strategy == "window" and separate.rows == 3 and separate.windows > 3  # small windows: rows are cut
    assert calls == {"extract": separate.windows, "generate": separate.windows, "judge": separate.windows * math.ceil(7 / MAX_PAIRS)}
    assert all(stage.model == "openai/gpt-4o-mini" and stage.prompt_tokens > 0 for stage in separate.stages)
    # auto: extraction inline, in the generate call, which reads the window once instead of extract and generate each reading it
    inline = estimate_run(config_for(docs, generation={"judge": "on", "num_pairs": 7, "window_chars": 500}))
    tokens = {stage.stage: stage.prompt_tokens for stage in inline.stages}
    assert {stage.stage: stage.calls for stage in inline.stages} == {"generate": separate.windows, "judge": calls["judge"]}
    separate_tokens = {stage.stage: stage.prompt_tokens for stage in separate.stages}
    assert separate_tokens["generate"] < tokens["generate"] < separate_tokens["generate"] + separate_tokens["extract"]
    off = estimate_run(config_for(docs, generation={"judge": "off", "extract": "off", "window_chars": 500}))
    assert [stage.stage for stage in off.stages] == ["generate"] and off.windows == separate.windows


def test_segment_strategy_for_the_embedded_model_is_free(tmp_path):
    docs = write_docs(tmp_path / "docs")
    estimate = estimate_run(config_for(docs, lm="local", generation={"num_pairs": 2}))
    assert estimate.strategy == "segment" and estimate.segment_attempts == 4
    assert [stage.stage for stage in estimate.stages] == ["generate"]  # no extract, no judge of its own pairs
    assert 0 < estimate.stages[0].calls <= 2 * estimate.windows
    assert estimate.costs[0].in_process and estimate.input_cost_usd == 0.0


def test_tokens_grow_with_document_size(tmp_path):
    small = estimate_run(config_for(write_docs(tmp_path / "small", repeat=1)))
    large = estimate_run(config_for(write_docs(tmp_path / "large", repeat=6)))
    for before, after in zip(small.stages, large.stages):
        assert after.prompt_tokens > before.prompt_tokens, before.stage
    assert large.input_cost_usd > small.input_cost_usd > 0


def test_known_models_are_priced_unknown_ones_are_not(tmp_path):
    docs = write_docs(tmp_path / "docs")
    estimate = estimate_run(config_for(docs, judge_lm="openai/unknown-model-xyz"))
    costs = {cost.model: cost for cost in estimate.costs}
    assert costs["openai/gpt-4o-mini"].input_cost_usd > 0
    assert costs["openai/unknown-model-xyz"].input_cost_usd is None and estimate.input_cost_usd is None
    assert {stage.stage: stage.model for stage in estimate.stages}["judge"] == "openai/unknown-model-xyz"


def test_cli_dry_run_prints_the_table_and_writes_nothing(tmp_path):
    docs = write_docs(tmp_path / "docs")
    output = tmp_path / "out"
    result = CliRunner().invoke(app, ["generate", "--input-dir", str(docs), "--lm", "openai/gpt-4o-mini", "--judge-lm", "openai/unknown-model-xyz",
                                      "--output-dir", str(output), "--dry-run"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    for text in ("Dry run: 3 rows", "generate", "judge", "price unknown", "4 characters per token", "Completion tokens not estimated"):
        assert text in result.output, text
    assert not output.exists()


@pytest.fixture
def offline_key(monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-planted-estimate-test")


def test_estimate_matches_a_real_run_against_the_stub(tmp_path, offline_key):
    """Calls per stage exactly, prompt characters (messages plus the wire schema) within 35%."""
    from sdg_program.backends.factory import build_lm
    from sdg_program.ingest.chunking import ChunkingReport, iter_seed_rows
    from sdg_program.program.retrieval_sdg import RetrievalSDG

    docs = write_docs(tmp_path / "docs", repeat=3)
    config = config_for(docs, lm="openai/my-custom-model", structured_output="json_schema", generation={"num_pairs": 2, "window_chars": 500})
    estimate = estimate_run(config)
    rows = list(iter_seed_rows(config.chunking, ChunkingReport()))
    with OpenAIStub(count_tokens=False) as server:
        lm = build_lm(config.lm, api_base=server.base_url, structured_output="json_schema", max_tokens=200)
        lm.cache = False
        program = RetrievalSDG(config.generation, lm=lm)
        results = [program(row=row) for row in rows]
        requests = list(server.requests)
    assert all(result.qa_generation["pairs"] for result in results)
    real_calls = Counter(request.signature for request in requests)
    real_chars = Counter()
    for request in requests:
        real_chars[request.signature] += len(request.text()) + len(json.dumps(request.schema))
    assert estimate.windows > estimate.rows == len(rows)
    for stage in estimate.stages:
        assert stage.calls == real_calls[stage.stage], stage.stage
        assert abs(stage.prompt_chars - real_chars[stage.stage]) <= 0.35 * real_chars[stage.stage], (stage.stage, stage.prompt_chars, real_chars[stage.stage])
    assert set(real_calls) == {stage.stage for stage in estimate.stages}
