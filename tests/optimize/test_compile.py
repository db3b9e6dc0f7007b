"""Compiling: the search logic with a scripted LM, then a tiny real run with the embedded model.

The real run compiles the ``generate`` predictor twice on a few tiny gold examples (the same seed
must give the same JSON), loads the result into a ``RetrievalSDG`` and runs it on a small row.
"""

import json
from pathlib import Path

import dspy
import pytest
import typer
from typer.testing import CliRunner

from optimize.compile import CompileConfig, compile_program, evaluate_program
from optimize.gold import GOLD_FILES, load_gold_records
from sdg_program.cli.compile import compile_command
from sdg_program.core.errors import RowFailed
from sdg_program.core.resources import gold_dir
from sdg_program.ingest.chunking import ChunkedDocument, chunk_text, make_seed_row
from sdg_program.ingest.config import ChunkingConfig
from sdg_program.program.compiled import LOCAL_DEFAULT_PROGRAM, resolve_program
from sdg_program.program.retrieval_sdg import RetrievalSDG
from sdg_program.program.settings import GenerationSettings
from tests.fake_lm import EXTRACT_KEY, GENERATE_KEY, JUDGE_KEY, artifacts, evaluation, pair, scripted_lm

GOLD = gold_dir()


def tiny_gold(target: Path, train: int = 6, dev: int = 2, judge: int = 4) -> Path:
    """A small gold folder: the shortest docs examples (short rows keep the real model fast)."""
    target.mkdir(parents=True, exist_ok=True)
    for name, count in (("train", train), ("dev", dev)):
        records = sorted(load_gold_records(GOLD / GOLD_FILES[name]), key=lambda r: (r.source != "docs_dspy", len(r.row.text)))
        (target / GOLD_FILES[name]).write_text("".join(r.model_dump_json() + "\n" for r in records[:count]))
    cases = sorted(load_gold_records(GOLD / GOLD_FILES["judge"]), key=lambda c: (c.split, len(c.row.text)))
    chosen = [c for c in cases if c.split == "train"][:judge] + [c for c in cases if c.split == "dev"][:1]
    (target / GOLD_FILES["judge"]).write_text("".join(c.model_dump_json() + "\n" for c in chosen))
    return target


def fake_lm():
    return scripted_lm(
        artifacts("ReActV2", "dspy.History"),
        {"qa_pairs": {"pairs": [pair("where does ReActV2 store its tool calls", "ReActV2 stores calls and results in structured dspy.History.", [2])]}},
        {"evaluations": {"evaluations": [evaluation(0, 9.0), evaluation(1, 2.0)]}},
    )


def test_stages_narrow_the_schema_for_a_schema_decoding_lm_without_failures():
    """With an LM that decodes under the call's schema (the embedded model) every stage narrows its
    output type; a stage call that fails is only counted, so the count is what shows it."""
    from optimize.stages import ExtractStage, GenerateStage, JudgeStage, Runtime
    from signatures import QAPair

    lm = fake_lm()
    lm.enforces_response_schema = True
    runtime = Runtime(GenerationSettings(num_pairs=1), lm)
    text = "# Guide\n\nThe pump cools the motor with glycol. The relief valve opens at 8 bar.\n"
    row = make_seed_row([ChunkedDocument("guide.md", text, chunk_text(text, "guide.md", sentences_per_chunk=1))],
                        ChunkingConfig(input_dir=".", sentences_per_chunk=1))
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        assert ExtractStage(runtime)(row=row).artifacts.key_concepts
        pairs = GenerateStage(runtime)(row=row).qa_pairs
        assert pairs and all(isinstance(item, QAPair) for item in pairs)
        assert len(JudgeStage(runtime)(row=row, pairs_to_judge=pairs * 2).evaluations) == 2  # the scripted judge grades two pairs
    assert runtime.failures == 0


def test_search_with_a_scripted_lm_saves_a_loadable_program(tmp_path):
    gold = tiny_gold(tmp_path / "gold")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text("# Guide\n\nThe pump cools the motor with glycol. The relief valve opens at 8 bar.\n")
    out = tmp_path / "compiled.json"
    config = CompileConfig(gold_dir=gold, input_dir=docs, out=out, selection_size=2, num_candidates=2, bootstrap_attempts=2, max_demos=2)
    lm = fake_lm()
    program, report = compile_program(config, lms=(lm, lm, lm), log=lambda message: None)
    assert [item.predictor for item in report.predictors] == ["extract", "generate", "judge"]
    for item in report.predictors:
        assert item.before is not None and item.after is not None
        assert [candidate.name for candidate in item.candidates][:3] == ["zero-shot", "labeled-0", "labeled-1"]
        assert item.optimize_cost.calls > 0
    assert report.total_cost.calls == sum(i.optimize_cost.calls + i.evaluate_cost.calls for i in report.predictors)
    # the user's row joined the selection set: each candidate was scored on it too
    saved = json.loads(out.read_text())
    assert set(saved) >= {"extract", "generate", "judge"}
    for name in ("extract", "generate", "judge"):
        signature = getattr(program, name).signature
        allowed = set(signature.input_fields) | set(signature.output_fields) | {"augmented"}
        assert all(set(demo) <= allowed for demo in saved[name]["demos"])  # no rows or labels saved
    loaded = RetrievalSDG(GenerationSettings(num_pairs=1), lm=lm)
    loaded.load(str(out))
    compiled = ("extract", "generate", "judge")
    assert [len(getattr(loaded, name).demos) for name in compiled] == [len(saved[name]["demos"]) for name in compiled]
    assert loaded.write_segment_qa.demos == []  # compile does not tune the segment strategy's predictor
    scores = evaluate_program(loaded, config, (lm, lm, lm))
    assert set(scores) == {"extract", "generate", "judge"}


def test_labeled_demos_win_when_they_help(tmp_path):
    """With a model that answers well only when shown a demo, the search must keep demos."""
    gold = tiny_gold(tmp_path / "gold")

    examples = [record for name in ("train", "dev") for record in load_gold_records(gold / GOLD_FILES[name])]

    class DemoSensitive(dspy.utils.dummies.DummyLM):
        """Shown a demo, it writes the scored row's own reference pair; without one, a source-relative non-question."""

        def __call__(self, prompt=None, messages=None, **kwargs):
            shown_demo = sum(1 for message in messages or [] if message["role"] == "assistant") > 0
            scored = messages[-1]["content"]
            row = next(example for example in examples if example.row.chunks[-1].text[:80] in scored)
            good = {"pairs": [row.pairs[0].model_dump(mode="json")]}
            bad = {"pairs": [pair("what does the passage say", "nothing", [row.row.chunks[0].chunk_id])]}
            return [json.dumps({"qa_pairs": good if shown_demo else bad})]

    lm = DemoSensitive([])
    config = CompileConfig(gold_dir=gold, out=tmp_path / "c.json", predictors=["generate"], selection_size=2, num_candidates=1, bootstrap_attempts=0, evaluate=False)
    program, report = compile_program(config, lms=(lm, lm, lm), log=lambda message: None)
    [item] = report.predictors
    scores = {c.name: c.selection_score for c in item.candidates}
    assert scores["labeled-0"] > scores["zero-shot"]
    assert item.demos > 0 and len(program.generate.demos) == item.demos


class AnyFieldsLM(dspy.utils.dummies.DummyLM):
    """Answers the three signatures with fixed JSON, and any other signature (MIPROv2's proposer,
    GEPA's reflection) with the same sentence in every requested field."""

    def __call__(self, prompt=None, messages=None, **kwargs):
        import re

        text = messages[-1]["content"] if messages else prompt
        for key, value in ((GENERATE_KEY, {"qa_pairs": {"pairs": [pair("where does ReActV2 store its tool calls", "ReActV2 stores calls and results in structured dspy.History.", [2])]}}),
                           (EXTRACT_KEY, artifacts("ReActV2")),
                           (JUDGE_KEY, {"evaluations": {"evaluations": [evaluation(0, 9.0), evaluation(1, 2.0)]}})):
            if key in text:
                return [json.dumps(value)]
        order = re.search(r"order of fields: (.*)", text)
        names = re.findall(r"`(\w+)`", order.group(1)) if order else []
        if names:
            return [json.dumps({name: "Cite exactly the segments that state the answer." for name in names})]
        return ["```\nCite exactly the segments that state the answer.\n```"]


@pytest.mark.parametrize("optimizer", ["mipro", "gepa"])
def test_mipro_and_gepa_run_on_a_stage(tmp_path, optimizer):
    if optimizer == "mipro":
        pytest.importorskip("optuna")
    gold = tiny_gold(tmp_path / "gold")
    lm = AnyFieldsLM([])
    config = CompileConfig(gold_dir=gold, out=tmp_path / "c.json", predictors=["generate"], optimizer=optimizer, selection_size=2, max_metric_calls=6, evaluate=False)
    program, report = compile_program(config, lms=(lm, lm, lm), log=lambda message: None)
    assert report.predictors[0].predictor == "generate"
    loaded = RetrievalSDG(GenerationSettings(), lm=lm)
    loaded.load(str(config.out))
    assert loaded.generate.signature.instructions == program.generate.signature.instructions


def test_loaded_demos_shrink_the_generation_window(tmp_path):
    from sdg_program.program.compiled import fit_window_to_demos
    from sdg_program.program.windows import DEFAULT_WINDOW_CHARS

    gold = tiny_gold(tmp_path / "gold")
    lm = fake_lm()
    config = CompileConfig(gold_dir=gold, out=tmp_path / "c.json", predictors=["generate"], selection_size=2, num_candidates=1, bootstrap_attempts=0, evaluate=False)
    program, _ = compile_program(config, lms=(lm, lm, lm), log=lambda message: None)
    program.generate.demos = program.generate.demos or [dspy.Example(segments="Segment 1: x" * 300, qa_pairs="{}")]
    fit_window_to_demos(program, lm)
    assert program.settings.window_chars < DEFAULT_WINDOW_CHARS
    chosen = RetrievalSDG(GenerationSettings(window_chars=9000), lm=lm)
    chosen.generate.demos = program.generate.demos
    fit_window_to_demos(chosen, lm)
    assert chosen.settings.window_chars == 9000  # the user's --window-chars wins


def test_default_program_is_only_for_the_embedded_model(tmp_path):
    assert resolve_program(None, "openai/gpt-4o-mini") is None
    assert resolve_program("none", "local") is None
    assert resolve_program(tmp_path / "x.json", "local") == tmp_path / "x.json"
    assert resolve_program(None, "local") == (LOCAL_DEFAULT_PROGRAM if LOCAL_DEFAULT_PROGRAM.is_file() else None)


def test_cli_help_and_bad_options():
    app = typer.Typer()
    app.command("compile")(compile_command)
    app.command("noop")(lambda: None)  # a second command keeps "compile" a subcommand
    runner = CliRunner()
    result = runner.invoke(app, ["compile", "--help"])
    assert result.exit_code == 0 and "--optimizer" in result.output
    result = runner.invoke(app, ["compile", "--optimizer", "nope"])
    assert result.exit_code == 2


# ---------------------------------------------------------------------------
# The embedded model
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_lm():
    from sdg_program.backends.factory import build_lm

    return build_lm("local", max_tokens=400, seed=0)


@pytest.mark.slow
def test_real_compile_is_deterministic_and_the_program_runs(tmp_path, local_lm):
    gold = tiny_gold(tmp_path / "gold", train=3, dev=1)
    outputs = []
    for attempt in range(2):
        config = CompileConfig(
            gold_dir=gold, out=tmp_path / f"compiled{attempt}.json", predictors=["generate"], selection_size=1, num_candidates=1,
            bootstrap_attempts=0, max_demos=1, num_pairs=1, max_tokens=400, evaluate=False, seed=0, max_demo_chars=2200,
        )
        _, report = compile_program(config, lms=(local_lm, local_lm, local_lm), log=lambda message: None)
        assert report.predictors[0].optimize_cost.calls >= 2  # zero-shot and one labeled set, scored on the selection example
        outputs.append(json.loads(config.out.read_text()))
    for state in outputs:
        state.pop("metadata", None)
    assert outputs[0] == outputs[1]

    text = "# Pumps\n\nThe P-40 pump cools its motor with a glycol loop. The loop keeps the motor below 70 degrees.\n\nThe relief valve opens at 8 bar."
    chunks = chunk_text(text, "pump.md", sentences_per_chunk=2)
    row = make_seed_row([ChunkedDocument("pump.md", text, chunks)], ChunkingConfig(input_dir=".", sentences_per_chunk=2))
    # The window strategy runs the compiled `generate` (auto would pick the segment strategy for the embedded model).
    program = RetrievalSDG(GenerationSettings(num_pairs=1, max_artifacts_per_type=1, max_retries=0, strategy="window", extract="on"), lm=local_lm)
    program.load(str(tmp_path / "compiled0.json"))
    assert len(program.generate.demos) == len(outputs[0]["generate"]["demos"])
    calls_before = len(local_lm.history)
    try:
        result = program(row=row)
        assert result.lm_usage["generate"]["calls"] == 1
    except RowFailed as failure:  # a 135M model may still write nothing usable; the program ran
        assert failure.errors and failure.errors[0]["stage"] in ("extract", "generate")
    assert len(local_lm.history) - calls_before >= 2  # extract and generate were called
