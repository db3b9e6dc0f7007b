"""Dev-split metrics of the uncompiled program vs each optimizer, on the embedded model, with cost.

    python bench/bench_compile.py                                   # generate only, small sizes
    python bench/bench_compile.py --predictor extract --predictor generate --predictor judge --dev-limit 12
    python bench/bench_compile.py --optimizer bootstrap --optimizer gepa --max-metric-calls 12

For each optimizer, `compile_program` runs on the gold train split (no before/after inside), then
each optimized predictor is scored on the same fixed, source-balanced dev subset as the
uncompiled one. Printed per predictor: composite (0-1), relative change, demos, LM calls, tokens
and wall seconds of optimizing and of scoring. Figures are printed, never asserted; `--json`
writes them too.

The embedded model runs in this process, one call at a time. On a shared 2-core machine a call
takes 10-100 s, so the defaults keep the run to roughly an hour; MIPROv2 and GEPA use the 135M
model also to propose or reflect (`--prompt-lm` takes a stronger one), which is their weak point.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from optimize.compile import CompileConfig, build_lms, compile_program, evaluate_program  # noqa: E402
from sdg_program.program.retrieval_sdg import RetrievalSDG  # noqa: E402
from sdg_program.program.settings import GenerationSettings  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--gold", type=Path, default=REPO / "data" / "gold")
    parser.add_argument("--optimizer", action="append", choices=["bootstrap", "mipro", "gepa"], help="repeat; default: all three")
    parser.add_argument("--predictor", action="append", choices=["extract", "generate", "judge"], help="repeat; default: generate")
    parser.add_argument("--lm", default="local")
    parser.add_argument("--prompt-lm", default=None)
    parser.add_argument("--dev-limit", type=int, default=6)
    parser.add_argument("--selection-size", type=int, default=4)
    parser.add_argument("--num-candidates", type=int, default=2)
    parser.add_argument("--max-demos", type=int, default=2)
    parser.add_argument("--max-metric-calls", type=int, default=12, help="GEPA budget")
    parser.add_argument("--num-pairs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    optimizers = args.optimizer or ["bootstrap", "mipro", "gepa"]
    predictors = args.predictor or ["generate"]
    base = dict(
        gold_dir=args.gold, predictors=predictors, lm=args.lm, prompt_lm=args.prompt_lm, dev_limit=args.dev_limit,
        selection_size=args.selection_size, num_candidates=args.num_candidates, max_demos=args.max_demos,
        max_metric_calls=args.max_metric_calls, num_pairs=args.num_pairs, max_tokens=args.max_tokens, seed=args.seed, evaluate=False,
    )
    config = CompileConfig(**base)
    lms = build_lms(config)
    rows: list[dict] = []

    uncompiled = RetrievalSDG(GenerationSettings(num_pairs=args.num_pairs), lm=lms[0], judge_lm=lms[1])
    for name, (score, cost) in evaluate_program(uncompiled, config, lms).items():
        rows.append({"program": "uncompiled", "predictor": name, "composite": score.composite, "parts": score.parts, "demos": 0,
                     "optimize_calls": 0, "optimize_tokens": 0, "optimize_seconds": 0.0, "eval_calls": cost.calls, "eval_seconds": cost.seconds})
        print(f"uncompiled {name}: {score.composite:.4f} {score.parts} ({cost.calls} calls, {cost.seconds:.0f} s)", flush=True)
    baseline = {row["predictor"]: row["composite"] for row in rows}

    with tempfile.TemporaryDirectory() as scratch:
        for optimizer in optimizers:
            started = time.perf_counter()
            config = CompileConfig(**base, optimizer=optimizer, out=Path(scratch) / f"{optimizer}.json")
            try:
                program, report = compile_program(config, lms=lms, log=lambda message: print(message, flush=True))
            except Exception as error:  # a failed optimizer is a result too
                print(f"{optimizer}: failed after {time.perf_counter() - started:.0f} s: {type(error).__name__}: {error}", flush=True)
                rows.append({"program": optimizer, "error": f"{type(error).__name__}: {error}"})
                continue
            scores = evaluate_program(program, config, lms)
            for item in report.predictors:
                score, cost = scores[item.predictor]
                rows.append({"program": optimizer, "predictor": item.predictor, "composite": score.composite, "parts": score.parts, "demos": item.demos,
                             "optimize_calls": item.optimize_cost.calls, "optimize_tokens": item.optimize_cost.prompt_tokens + item.optimize_cost.completion_tokens,
                             "optimize_seconds": item.optimize_cost.seconds, "eval_calls": cost.calls, "eval_seconds": cost.seconds})
                print(f"{optimizer} {item.predictor}: {score.composite:.4f} {score.parts}", flush=True)

    print()
    print(f"{'program':<11} {'predictor':<9} {'composite':>9} {'change':>7} {'demos':>5} {'opt calls':>9} {'opt tokens':>10} {'opt s':>7} {'eval calls':>10} {'eval s':>7}")
    for row in rows:
        if "error" in row:
            print(f"{row['program']:<11} failed: {row['error'][:100]}")
            continue
        base_score = baseline.get(row["predictor"]) or 0.0
        change = f"{row['composite'] / base_score - 1:+.0%}" if base_score and row["program"] != "uncompiled" else "-"
        print(f"{row['program']:<11} {row['predictor']:<9} {row['composite']:>9.4f} {change:>7} {row['demos']:>5} {row['optimize_calls']:>9} "
              f"{row['optimize_tokens']:>10,} {row['optimize_seconds']:>7.0f} {row['eval_calls']:>10} {row['eval_seconds']:>7.0f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
