"""Cost benchmark: prompt tokens and client CPU per pair against an endpoint. Figures printed, never asserted.

    python bench/bench_cost.py                    # 20 docs_dspy files, throughput at 1/16/64 (~3 min)
    python bench/bench_cost.py --docs 10 --concurrency 16 --skip-startup

The endpoint is `tests/openai_stub.py` in its own process, counting every request's prompt tokens
on the server side with tiktoken's cl100k_base: the messages *and* the JSON schema sent in
`response_format` (an OpenAI-compatible provider bills both), and what a provider's prefix cache
could serve (longest common prefix with the previous request of the same signature). The client is
`generate` (the Python API behind the CLI) with `structured_output=json_schema`, as for an OpenAI
model; its pairs then go through `convert` to count the kept ones.

Prints:
1. calls and prompt tokens per stage (messages / schema), per generated pair and per kept pair, and
   the prefix-cacheable share, on the first `--docs` Markdown files of the shared DSPy docs corpus
   (files under 1 KB, the API stub pages, skipped);
2. client CPU per row (the program built once and warmed up; the run itself only);
3. rows/s against the stub answering after `--delay` s, at each `--concurrency`, next to the ideal
   concurrency / (calls per row x delay);
4. start-up: from launching `sdg-program generate` to the stub receiving its first call.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SCRATCH = Path(tempfile.mkdtemp(prefix="bench-cost-"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["DSPY_CACHEDIR"] = str(SCRATCH / "dspy-cache")  # every call must reach the stub
os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-a-real-key")

CORPUS = REPO.parent / "shared" / "corpora" / "docs_dspy"
MODEL = "openai/stub-model"


def quiet_console():
    from rich.console import Console

    return Console(file=io.StringIO(), width=120)


def pick_docs(count: int, target: Path, copies: int = 1) -> list[Path]:
    """The first ``count`` docs_dspy Markdown files of at least 1 KB (sorted paths), copied ``copies`` times."""
    files = [path for path in sorted(CORPUS.rglob("*.md")) if path.stat().st_size >= 1024][:count]
    target.mkdir(parents=True, exist_ok=True)
    for copy in range(copies):
        for path in files:
            name = path.relative_to(CORPUS).as_posix().replace("/", "__")
            if copies == 1:
                shutil.copyfile(path, target / name)
            else:  # a distinct last line, or the chunker skips the copy as a duplicate document
                text = path.read_text(encoding="utf-8") + f"\n\nCopy {copy} of this page.\n"
                (target / f"c{copy}__{name}").write_text(text, encoding="utf-8")
    return files


def make_config(docs: Path, output: Path, base_url: str, concurrency: int, **generation):
    from sdg_program.ingest.config import ChunkingConfig
    from sdg_program.program.settings import GenerationSettings
    from sdg_program.runner.config import GenerateConfig

    return GenerateConfig(
        chunking=ChunkingConfig(input_dir=docs),
        generation=GenerationSettings(**generation),
        output_dir=output,
        lm=MODEL,
        api_base=base_url,
        structured_output="json_schema",
        concurrency=concurrency,
    )


def built_program(config):
    from sdg_program.ingest.chunking import ChunkingReport, iter_seed_rows
    from sdg_program.runner.generation import build_program

    program, _ = build_program(config)
    for lm in {id(lm): lm for lm in program.role_lms.values()}.values():
        lm.cache = False  # every call must reach the stub
    program(row=next(iter(iter_seed_rows(config.chunking, ChunkingReport()))))  # warm-up: pydantic, connections
    program.embed_texts(["a first forward pass", "warms the embedder up"])  # the warm-up row may not have needed it
    return program


def timed_generate(config, program, stub):
    """One ``generate`` run with a fresh stub count: (result, wall seconds, client CPU seconds, the stub's stats)."""
    from sdg_program.runner.generation import generate

    stub.reset()
    started, cpu_started = time.perf_counter(), time.process_time()
    result = generate(config, program=program, overwrite=True, console=quiet_console())
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    return result, seconds, cpu_seconds, stub.stats()


def tokens_and_cpu(args) -> dict:
    from sdg_program.export.pipeline import convert
    from tests.openai_stub import StubProcess

    docs = SCRATCH / "docs"
    pick_docs(args.docs, docs)
    with StubProcess(delay=0.0, count_tokens=True) as stub:
        config = make_config(docs, SCRATCH / "generated", stub.base_url, args.token_concurrency)
        program = built_program(config)
        result, seconds, cpu_seconds, served = timed_generate(config, program, stub)
    stats = result.stats
    converted = convert(input_path=result.output_dir, output_dir=SCRATCH / "converted", console=quiet_console())
    return {
        "docs": args.docs,
        "rows": stats.rows_done,
        "failed": stats.rows_failed,
        "pairs_generated": stats.pairs_generated,
        "pairs_valid": stats.pairs_valid,
        "pairs_row_duplicates": stats.pairs_generated - stats.pairs_after_dedup,
        "pairs_kept": converted.report.pairs_kept,
        "pairs_dropped": converted.report.pairs_dropped,
        "tokens": served["tokens"],
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
    }


def throughput(args) -> list[dict]:
    from tests.openai_stub import StubProcess

    results = []
    with StubProcess(delay=args.delay) as stub:
        program = None
        for concurrency in args.concurrency:
            copies = max(1, -(-args.waves * concurrency // args.docs))
            docs = SCRATCH / f"docs-x{copies}"
            if not docs.exists():
                pick_docs(args.docs, docs, copies=copies)
            config = make_config(docs, SCRATCH / f"throughput-{concurrency}", stub.base_url, concurrency)
            if program is None:
                program = built_program(config)
            result, seconds, cpu_seconds, served = timed_generate(config, program, stub)
            done = result.stats.rows_done
            calls_per_row = served["calls"] / done if done else float("nan")
            results.append({
                "concurrency": concurrency, "rows": done, "failed": result.stats.rows_failed, "seconds": seconds,
                "rows_per_s": done / seconds, "ideal": concurrency / (calls_per_row * args.delay), "calls_per_row": calls_per_row,
                "max_in_flight": served["max_in_flight"], "cpu_ms_per_row": 1000 * cpu_seconds / max(1, done),
            })
    return results


def startup(args) -> dict:
    """Seconds from launching the CLI to the stub's first chat call (median of ``--startup-runs``)."""
    from tests.openai_stub import StubProcess

    docs = SCRATCH / "startup-docs"
    pick_docs(1, docs)
    # `python -m sdg_program` from this checkout (PYTHONPATH), so a worktree of an older commit measures its own code.
    cli = [sys.executable, "-m", "sdg_program"]
    times = []
    with StubProcess(delay=0.0) as stub:
        for run in range(args.startup_runs):
            stub.reset()
            launched = time.time()
            subprocess.run(
                [*cli, "generate", "--input-dir", str(docs), "--output-dir", str(SCRATCH / f"startup-{run}"), "--lm", MODEL,
                 "--api-base", stub.base_url, "--overwrite", "--num-records", "1"],
                check=True, capture_output=True, cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO), "DSPY_CACHEDIR": str(SCRATCH / f"startup-cache-{run}")},
            )
            first = stub.stats()["first_request_at"]
            times.append(first - launched if first else float("nan"))
    times.sort()
    return {"median": times[len(times) // 2], "all": times}


def report(tokens: dict | None, flows: list[dict], start: dict | None) -> None:
    print(f"\nsdg-program cost benchmark ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, model {MODEL} at the stub)")
    if tokens:
        by_stage = tokens["tokens"]
        total_calls = sum(stage["calls"] for stage in by_stage.values())
        total_prompt = sum(stage["message_tokens"] + stage["schema_tokens"] for stage in by_stage.values())
        cacheable = sum(stage["cacheable_prefix_tokens"] for stage in by_stage.values())
        print(f"\n1. Tokens: {tokens['docs']} docs, {tokens['rows']} rows ({tokens['failed']} failed), {total_calls} calls, "
              f"{total_calls / max(1, tokens['rows']):.2f} calls per row")
        print(f"   {'stage':<9} {'calls':>6} {'msg tok/call':>12} {'schema tok/call':>15} {'schema chars':>12} {'prompt tok/call':>15}")
        for name, stage in sorted(by_stage.items()):
            calls = max(1, stage["calls"])
            print(f"   {name:<9} {stage['calls']:6d} {stage['message_tokens'] / calls:12.0f} {stage['schema_tokens'] / calls:15.0f} "
                  f"{stage['schema_chars'] / calls:12.0f} {(stage['message_tokens'] + stage['schema_tokens']) / calls:15.0f}")
        print(f"   prompt tokens: {total_prompt:,} in all; per generated pair {total_prompt / max(1, tokens['pairs_generated']):,.0f} "
              f"({tokens['pairs_generated']}); per valid pair {total_prompt / max(1, tokens['pairs_valid']):,.0f} "
              f"({tokens['pairs_valid']} valid); per kept pair {total_prompt / max(1, tokens['pairs_kept']):,.0f} ({tokens['pairs_kept']} kept by convert; dropped {tokens['pairs_dropped']})")
        print(f"   within-row duplicates dropped by generate: {tokens['pairs_row_duplicates']}")
        print(f"   prefix-cacheable share (common prefix with the previous call of the same stage): {cacheable / max(1, total_prompt):.0%}")
        print(f"\n2. Client CPU: {1000 * tokens['cpu_seconds'] / max(1, tokens['rows']):.0f} ms per row "
              f"({tokens['cpu_seconds']:.2f} s for {tokens['rows']} rows, program built and warmed up beforehand)")
    if flows:
        print("\n3. Throughput against the stub (delay per call as given)")
        print(f"   {'concurrency':>11} {'rows':>5} {'failed':>6} {'seconds':>8} {'rows/s':>7} {'ideal':>7} {'of ideal':>8} {'calls/row':>9} {'in flight':>9} {'CPU ms/row':>10}")
        for r in flows:
            print(f"   {r['concurrency']:11d} {r['rows']:5d} {r['failed']:6d} {r['seconds']:8.2f} {r['rows_per_s']:7.2f} {r['ideal']:7.2f} "
                  f"{r['rows_per_s'] / r['ideal']:8.0%} {r['calls_per_row']:9.2f} {r['max_in_flight']:9d} {r['cpu_ms_per_row']:10.1f}")
        print("   ideal = concurrency / (calls per row x delay); targets: >= 90% at 16, >= 80% at 64")
    if start:
        print(f"\n4. Start-up to the first call: median {start['median']:.2f} s (runs: {', '.join(f'{t:.2f}' for t in start['all'])}; target < 3 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=20)
    parser.add_argument("--token-concurrency", type=int, default=8)
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 16, 64])
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--waves", type=int, default=3, help="rows per throughput run = waves x concurrency (at least --docs)")
    parser.add_argument("--startup-runs", type=int, default=3)
    parser.add_argument("--skip-tokens", action="store_true")
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    try:
        tokens = None if args.skip_tokens else tokens_and_cpu(args)
        flows = throughput(args) if args.concurrency else []
        start = None if args.skip_startup else startup(args)
        report(tokens, flows, start)
        if args.json:
            args.json.write_text(json.dumps({"tokens": tokens, "throughput": flows, "startup": start}, indent=2))
    finally:
        if args.keep:
            print(f"\nscratch kept: {SCRATCH}")
        else:
            shutil.rmtree(SCRATCH, ignore_errors=True)


if __name__ == "__main__":
    main()
