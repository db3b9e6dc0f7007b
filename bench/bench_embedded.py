"""The embedded default's cost per valid pair: one command, one table. Figures are printed, never asserted.

    python bench/bench_embedded.py                       # before (base commit) + after + each lever off (~15 min on 2 busy cores)
    python bench/bench_embedded.py --skip-before         # only this tree's configurations
    python bench/bench_embedded.py --before-rev f62b657 --docs data/sample_docs

Each configuration runs ``sdg-program generate`` on the same documents (default ``data/sample_docs``)
with the embedded SmolLM2-135M, in a subprocess, one after the other on the same machine, then
reads ``run.json``: wall time of the whole command (model loading included), calls and tokens per
role, pairs written and valid (the deterministic checks of this tree are applied to every
configuration's pairs, so "valid" means the same thing in every row), and valid pairs per minute.

Configurations:
- ``before``: the code of ``--before-rev`` (a ``git worktree``; default: the commit before the
  embedded-default speed work), run with this virtualenv. Its pairs are re-validated here.
- ``after``: this tree with its defaults.
- ``after, judge on`` / ``after, extract on`` / ``after, repeat penalty 1.0``: one lever undone each,
  to show what each lever pays.

Nothing leaves the machine: the GGUF and the embedder come from installed wheels.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# The commit before the embedded-default speed work (issue 16): the "before" row.
DEFAULT_BEFORE_REV = "f62b657"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def run_generate(source: Path, docs: Path, output: Path, extra: list[str]) -> tuple[float, dict, str]:
    """(wall seconds, run.json, stderr tail) of one ``generate`` run with the code under ``source``."""
    env = {**ENV, "PYTHONPATH": str(source)}
    command = [sys.executable, "-m", "sdg_program", "generate", "--input-dir", str(docs), "--output-dir", str(output), "--overwrite", *extra]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=source, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    run_file = output / "run.json"
    if completed.returncode != 0 or not run_file.exists():
        return wall, {}, completed.stderr[-2000:]
    return wall, json.loads(run_file.read_text()), ""


def revalidate(records_path: Path) -> tuple[int, int]:
    """(pairs, valid) of a run's deduplicated pairs under this tree's deterministic checks."""
    from pydantic import ValidationError

    from sdg_program.program.validation import RowSegments, ValidationSettings, validate_pair
    from signatures import QAPair

    settings = ValidationSettings()
    pairs = valid = 0
    for line in records_path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        segments = RowSegments({chunk["chunk_id"]: chunk["text"] for chunk in record["chunks"]})
        for raw in record["deduplicated_qa_pairs"]:
            pairs += 1
            try:
                pair = QAPair.model_validate(raw)
            except ValidationError:
                continue
            valid += validate_pair(pair, segments, settings).valid
    return pairs, valid


def worktree(rev: str, scratch: Path) -> Path:
    path = scratch / f"before-{rev}"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), rev], check=True, capture_output=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=Path, default=REPO / "data" / "sample_docs")
    parser.add_argument("--before-rev", default=DEFAULT_BEFORE_REV)
    parser.add_argument("--skip-before", action="store_true")
    parser.add_argument("--skip-levers", action="store_true", help="only before and after")
    args = parser.parse_args()
    docs = args.docs.resolve()
    scratch = Path(tempfile.mkdtemp(prefix="bench-embedded-"))

    configurations: list[tuple[str, Path | None, list[str]]] = []
    if not args.skip_before:
        configurations.append((f"before ({args.before_rev})", None, []))
    configurations.append(("after (defaults)", REPO, []))
    if not args.skip_levers:
        configurations += [
            ("after, judge on", REPO, ["--judge", "on"]),
            ("after, extract on", REPO, ["--extract", "on"]),
            ("after, repeat penalty 1.0", REPO, ["--repeat-penalty", "1.0"]),
        ]

    rows = []
    before_tree = None
    try:
        for index, (name, source, extra) in enumerate(configurations):
            if source is None:
                before_tree = source = worktree(args.before_rev, scratch)
            output = scratch / f"run{index}"
            print(f"running: {name} ...", file=sys.stderr, flush=True)
            wall, run, error = run_generate(source, docs, output, extra)
            if not run:
                print(f"  failed: {error}", file=sys.stderr)
                continue
            pairs, valid = revalidate(output / "records.jsonl")
            usage = run["counts"]["lm_usage"]
            rows.append((name, wall, usage, pairs, valid))
    finally:
        if before_tree is not None:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(before_tree)], capture_output=True)

    print(f"\nEmbedded default on {docs} ({sum(1 for _ in docs.rglob('*') if _.is_file())} files), one run each, same machine\n")
    header = ["configuration", "wall s", "extract calls/prompt/compl", "generate calls/prompt/compl", "judge calls/prompt/compl", "pairs", "valid", "valid/min"]
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for name, wall, usage, pairs, valid in rows:
        roles = [f"{usage.get(role, {}).get('calls', 0)}/{usage.get(role, {}).get('prompt_tokens', 0):,}/{usage.get(role, {}).get('completion_tokens', 0):,}" for role in ("extract", "generate", "judge")]
        print(" | ".join([name, f"{wall:.0f}", *roles, str(pairs), str(valid), f"{valid / (wall / 60):.2f}"]))


if __name__ == "__main__":
    main()
