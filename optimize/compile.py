"""Optimize the predictors of one ``RetrievalSDG`` on the gold set and save the program.

``compile_program(CompileConfig(...))`` is what ``sdg-program compile`` calls. Per predictor
(``extract``, ``generate``, ``judge``, in that order):

1. Build its stage examples from the gold set (``optimize/demos.py``): the train split is cut into
   a *selection* set (a fixed, source-balanced sample used to choose between candidates) and a
   *demo pool* (short examples that may become labeled demos). With ``--input-dir``, the user's own
   chunked rows join the selection set, scored with the label-free metric parts.
2. Score the current predictor on the dev split (``before``).
3. Run the optimizer on the stage module (``optimize/stages.py``):

   - ``bootstrap``: a random search over few-shot sets, each scored on the selection set: no demos
     (the baseline), ``dspy.LabeledFewShot`` sets drawn from the gold pool (gold pairs are ideal
     demos), and one ``dspy.BootstrapFewShot`` set (demos the model wrote itself with gold demos in
     its prompt, kept when the metric passes ``metric_threshold``; attempts are capped, because a
     135M model fails most of them and every attempt is an LM call; none for ``judge``, whose
     labeled demos are right by construction). The best set wins; ties go to the earlier
     (cheaper) candidate, so demos are only added when they help.
   - ``mipro``: ``dspy.MIPROv2(auto="light")``: bootstrapped demo sets plus instructions proposed
     by ``--prompt-lm`` (default: the task LM), chosen by Bayesian search on the selection set.
   - ``gepa``: ``dspy.GEPA`` with the feedback metrics: ``--prompt-lm`` reflects on failures and
     rewrites the instructions; ``--max-metric-calls`` bounds the budget.

4. Score the optimized predictor on dev (``after``) and put it into the program.

The program is saved with ``program.save(out)`` (demos trimmed to their signature fields), so
``sdg-program generate --program out`` loads it. Everything is deterministic for a fixed seed:
temperature 0, seeded LM, seeded shuffles, no threads.

Costs are counted per phase with DSPy's usage tracker (every LM call, including proposer and
reflection calls) and wall time.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from contextlib import contextmanager

import dspy
from dspy.utils.usage_tracker import track_usage

from optimize import metrics
from optimize.config import PREDICTORS, CandidateResult, CompileConfig, CompileReport, Cost, PredictorReport, StageScore
from optimize.demos import demo_chars, label_free_example, slim_demos, stage_examples
from optimize.gold import load_gold_dir
from optimize.stages import STAGES, Runtime
from sdg_program.ingest.config import ChunkingConfig
from sdg_program.program.retrieval_sdg import RetrievalSDG
from sdg_program.program.settings import GenerationSettings

logger = logging.getLogger(__name__)

METRICS: dict[str, Callable[..., float]] = {
    "extract": metrics.extract_metric,
    "generate": metrics.generate_metric,
    "judge": metrics.judge_metric,
}
FEEDBACK: dict[str, Callable[..., dspy.Prediction]] = {
    "extract": metrics.extract_feedback,
    "generate": metrics.generate_feedback,
    "judge": metrics.judge_feedback,
}


@contextmanager
def measured(cost: Cost):
    """Count every LM call (any LM, any thread of DSPy's executor) and the wall time of a block."""
    started = time.perf_counter()
    with track_usage() as tracker:
        try:
            yield
        finally:
            for entries in tracker.usage_data.values():
                for entry in entries:
                    cost.calls += 1
                    cost.prompt_tokens += int(entry.get("prompt_tokens") or 0)
                    cost.completion_tokens += int(entry.get("completion_tokens") or 0)
            cost.seconds = round(cost.seconds + time.perf_counter() - started, 2)


# ---------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------


PARTS = {
    "extract": ("grounded", "coverage", "distinct", "richness"),
    "generate": ("validity", "evidence_f1", "evidence_precision", "evidence_recall", "retrievability", "standalone", "quality", "diversity", "yield"),
    "judge": ("verdict_accuracy",),
}


def score_one(name: str, example: dspy.Example, prediction: dspy.Prediction) -> tuple[float, dict[str, float]]:
    if name == "extract":
        scores = metrics.extraction_scores_for(example, prediction)
        return scores.composite, scores.model_dump()
    if name == "generate":
        scores = metrics.generation_scores_for(example, prediction)
        return scores.composite, scores.model_dump(by_alias=True)
    scores = metrics.judge_scores_for(example, prediction)
    return scores.agreement, scores.model_dump()


def evaluate_stage(name: str, stage: dspy.Module, examples: list[dspy.Example], runtime: Runtime) -> StageScore:
    """Run the stage on each example, in order, and average the composite and its parts."""
    failures_before = runtime.failures
    composites: list[float] = []
    sums: dict[str, list[float]] = {part: [] for part in PARTS[name]}
    for example in examples:
        prediction = stage(**example.inputs())
        composite, parts = score_one(name, example, prediction)
        logger.info("%s %s: %.4f", name, example.get("example_id"), composite)
        composites.append(composite)
        for part in PARTS[name]:
            if parts.get(part) is not None:
                sums[part].append(float(parts[part]))
    return StageScore(
        examples=len(examples),
        composite=round(sum(composites) / len(composites), 4) if composites else 0.0,
        parts={part: round(sum(values) / len(values), 4) for part, values in sums.items() if values},
        failures=runtime.failures - failures_before,
    )


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def balanced(examples: list[dspy.Example], seed: int) -> list[dspy.Example]:
    """The examples in a seeded order that alternates between sources (hotpotqa, musique, docs...)."""
    by_source: dict[str, list[dspy.Example]] = {}
    for example in sorted(examples, key=lambda e: e.example_id):
        by_source.setdefault(example.get("source", ""), []).append(example)
    rng = random.Random(seed)
    for source in sorted(by_source):
        rng.shuffle(by_source[source])
    ordered: list[dspy.Example] = []
    for position in range(max((len(m) for m in by_source.values()), default=0)):
        for source in sorted(by_source):
            if position < len(by_source[source]):
                ordered.append(by_source[source][position])
    return ordered


def split_train(examples: list[dspy.Example], seed: int, selection_size: int, max_demo_chars: int) -> tuple[list[dspy.Example], list[dspy.Example]]:
    """(demo pool, selection set): a source-balanced selection sample, the short rest as demo pool."""
    ordered = balanced(examples, seed)
    selection = ordered[:selection_size]
    pool = [example for example in ordered[selection_size:] if demo_chars(example) <= max_demo_chars]
    return pool, selection


def dev_subset(examples: list[dspy.Example], limit: int | None) -> list[dspy.Example]:
    """All dev examples, or a fixed source-balanced subset of ``limit`` (independent of --seed)."""
    return balanced(examples, 0)[:limit] if limit else examples


def user_examples(config: CompileConfig) -> list[dspy.Example]:
    """Rows from --input-dir (first documents in path order), as label-free examples."""
    if config.input_dir is None or config.user_rows == 0:
        return []
    from sdg_program.ingest.chunking import ChunkingReport, iter_seed_rows

    chunking = ChunkingConfig(input_dir=config.input_dir, num_files=config.user_rows)
    return [label_free_example(row, f"user-{row.source_id}") for row in iter_seed_rows(chunking, ChunkingReport())]


# ---------------------------------------------------------------------------
# Optimizers
# ---------------------------------------------------------------------------


def _selection_score(name: str, program: dspy.Module, selection: list[dspy.Example], runtime: Runtime) -> float:
    return evaluate_stage(name, program, selection, runtime).composite


def optimize_bootstrap(name: str, stage: dspy.Module, pool: list[dspy.Example], selection: list[dspy.Example], config: CompileConfig, runtime: Runtime, report: PredictorReport) -> dspy.Module:
    """Random search over {no demos, labeled demo sets, one bootstrapped set}, scored on the selection set."""
    metric = METRICS[name]
    candidates: list[tuple[str, dspy.Module]] = [("zero-shot", stage.reset_copy())]
    if config.max_demos > 0 and pool:
        for index in range(config.num_candidates):
            shuffled = list(pool)
            random.Random(config.seed * 1000 + index).shuffle(shuffled)
            candidates.append((f"labeled-{index}", dspy.LabeledFewShot(k=config.max_demos).compile(stage, trainset=shuffled, sample=False)))
        if config.max_bootstrapped_demos > 0 and config.bootstrap_attempts > 0 and name != "judge":
            shuffled = list(pool)
            random.Random(config.seed * 1000 + 999).shuffle(shuffled)
            attempts = shuffled[: max(config.bootstrap_attempts, config.max_demos)]
            optimizer = dspy.BootstrapFewShot(
                metric=metric,
                metric_threshold=config.metric_threshold,
                max_bootstrapped_demos=min(config.max_bootstrapped_demos, config.max_demos),
                max_labeled_demos=config.max_demos,
                max_rounds=1,
            )
            candidates.append(("bootstrapped", optimizer.compile(stage, trainset=attempts)))
    best: tuple[float, str, dspy.Module] | None = None
    for label, candidate in candidates:
        score = _selection_score(name, candidate, selection, runtime)
        demos = len(getattr(candidate, name).demos)
        report.candidates.append(CandidateResult(name=label, demos=demos, selection_score=score))
        logger.info("%s %s (%d demos): selection %.4f", name, label, demos, score)
        if best is None or score > best[0]:
            best = (score, label, candidate)
    assert best is not None
    return best[2]


def optimize_mipro(name: str, stage: dspy.Module, pool: list[dspy.Example], selection: list[dspy.Example], config: CompileConfig, prompt_lm: dspy.BaseLM, task_lm: dspy.BaseLM) -> dspy.Module:
    optimizer = dspy.MIPROv2(
        metric=METRICS[name],
        prompt_model=prompt_lm,
        task_model=task_lm,
        auto="light",
        max_bootstrapped_demos=max(1, min(config.max_bootstrapped_demos, config.max_demos)),  # MIPROv2 needs >= 1
        max_labeled_demos=config.max_demos,
        num_threads=1,
        seed=config.seed,
        metric_threshold=config.metric_threshold,
        verbose=False,
    )
    # The data- and program-aware proposers put ten examples or the program's source into one
    # prompt, which overflows an 8k local model; with a local prompt model only tips and demos are used.
    local = getattr(prompt_lm, "runs_in_process", False) is True
    # Bootstrapping runs the model on training examples until one passes the metric; the pool is
    # cut to bound those calls (each bootstrapped set tries at most this many).
    trainset = pool[: max(2, config.bootstrap_attempts + config.max_demos)]
    return optimizer.compile(stage, trainset=trainset, valset=selection, data_aware_proposer=not local, program_aware_proposer=not local)


def optimize_gepa(name: str, stage: dspy.Module, train: list[dspy.Example], selection: list[dspy.Example], config: CompileConfig, prompt_lm: dspy.BaseLM) -> dspy.Module:
    budget = {"max_metric_calls": config.max_metric_calls} if config.max_metric_calls else {"auto": "light"}
    optimizer = dspy.GEPA(
        metric=FEEDBACK[name],
        reflection_lm=prompt_lm,
        reflection_minibatch_size=2,
        num_threads=1,
        seed=config.seed,
        track_stats=False,
        use_merge=False,
        **budget,
    )
    return optimizer.compile(stage, trainset=train, valset=selection)


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


def dev_examples(name: str, gold: dict[str, list[dspy.Example]], settings: GenerationSettings, limit: int | None) -> list[dspy.Example]:
    cases = [case for case in gold["judge"] if case.split == "dev"] if name == "judge" else gold["dev"]
    return dev_subset(stage_examples(name, cases, settings), limit)


def evaluate_program(program: RetrievalSDG, config: CompileConfig, lms: tuple[dspy.BaseLM, dspy.BaseLM, dspy.BaseLM]) -> dict[str, tuple[StageScore, Cost]]:
    """Score each chosen predictor of a (compiled or not) program on dev, as compile does."""
    task_lm, judge_lm, _ = lms
    settings = GenerationSettings(num_pairs=config.num_pairs, max_retries=config.max_retries)
    runtime = Runtime(settings, task_lm, judge_lm)
    gold = load_gold_dir(config.gold_dir)
    results: dict[str, tuple[StageScore, Cost]] = {}
    with dspy.context(lm=task_lm, adapter=dspy.JSONAdapter()):
        for name in [p for p in PREDICTORS if p in config.predictors]:
            stage = STAGES[name](runtime)
            setattr(stage, name, getattr(program, name))
            cost = Cost()
            with measured(cost):
                score = evaluate_stage(name, stage, dev_examples(name, gold, settings, config.dev_limit), runtime)
            results[name] = (score, cost)
    return results


def build_lms(config: CompileConfig) -> tuple[dspy.BaseLM, dspy.BaseLM, dspy.BaseLM]:
    """(task LM, judge LM, prompt LM); the same object when the specs are the same."""
    from sdg_program.backends.factory import build_lm

    cache: dict[str, dspy.BaseLM] = {}

    def get(spec: str) -> dspy.BaseLM:
        if spec not in cache:
            cache[spec] = build_lm(spec, api_base=config.api_base, max_tokens=config.max_tokens, seed=config.seed, temperature=0.0)
        return cache[spec]

    return get(config.lm), get(config.judge_lm or config.lm), get(config.prompt_lm or config.lm)


def compile_program(
    config: CompileConfig,
    *,
    lms: tuple[dspy.BaseLM, dspy.BaseLM, dspy.BaseLM] | None = None,
    log: Callable[[str], None] = print,
) -> tuple[RetrievalSDG, CompileReport]:
    """Optimize the chosen predictors, save the program to ``config.out``, and return it with a report."""
    task_lm, judge_lm, prompt_lm = lms or build_lms(config)
    settings = GenerationSettings(num_pairs=config.num_pairs, max_retries=config.max_retries)
    runtime = Runtime(settings, task_lm, judge_lm)
    program = RetrievalSDG(settings, lm=task_lm, judge_lm=judge_lm)
    gold = load_gold_dir(config.gold_dir)
    users = user_examples(config)
    if users:
        log(f"{len(users)} user rows from {config.input_dir} join the selection set (label-free metrics)")

    total = Cost()
    reports: list[PredictorReport] = []
    with dspy.context(lm=task_lm, adapter=dspy.JSONAdapter()):
        for name in list(dict.fromkeys(config.predictors)):
            train_gold = [case for case in gold["judge"] if case.split == "train"] if name == "judge" else gold["train"]
            train = stage_examples(name, train_gold, settings)
            dev = dev_examples(name, gold, settings, config.dev_limit)
            pool, selection = split_train(train, config.seed, config.selection_size, config.max_demo_chars)
            if name != "judge":
                selection = selection + users
            report = PredictorReport(predictor=name)
            stage = STAGES[name](runtime)
            log(f"[{name}] demo pool {len(pool)}, selection {len(selection)}, dev {len(dev)}")

            if config.evaluate:
                with measured(report.evaluate_cost):
                    report.before = evaluate_stage(name, stage, dev, runtime)
                log(f"[{name}] before: {report.before.composite:.4f} {report.before.parts}")

            with measured(report.optimize_cost):
                if config.optimizer == "bootstrap":
                    optimized = optimize_bootstrap(name, stage, pool, selection, config, runtime, report)
                elif config.optimizer == "mipro":
                    optimized = optimize_mipro(name, stage, pool, selection, config, prompt_lm, task_lm if name != "judge" else judge_lm)
                else:
                    optimized = optimize_gepa(name, stage, pool + (users if name != "judge" else []), selection, config, prompt_lm)
            predictor = getattr(optimized, name)
            slim_demos(predictor)
            report.demos = len(predictor.demos)
            setattr(program, name, predictor)
            log(f"[{name}] optimized with {config.optimizer}: {report.demos} demos; cost {report.optimize_cost.calls} calls, {report.optimize_cost.seconds:.0f} s")

            if config.evaluate:
                with measured(report.evaluate_cost):
                    report.after = evaluate_stage(name, optimized, dev, runtime)
                if report.before.composite > 0:
                    report.relative_change = round(report.after.composite / report.before.composite - 1.0, 4)
                log(f"[{name}] after: {report.after.composite:.4f} {report.after.parts}")
            total.add(report.optimize_cost)
            total.add(report.evaluate_cost)
            reports.append(report)

    config.out.parent.mkdir(parents=True, exist_ok=True)
    program.save(str(config.out))
    report = CompileReport(config=json.loads(config.model_dump_json()), predictors=reports, total_cost=total, out=str(config.out))
    return program, report

