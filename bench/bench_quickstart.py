"""The README's fresh-machine command, timed step by step from a clean clone. Figures are printed, never asserted.

    python bench/bench_quickstart.py                    # the README's run-command, empty pip cache (~6 min on 2 cores)
    python bench/bench_quickstart.py --warm-cache       # a second time with the same pip cache (wheels already built)
    python bench/bench_quickstart.py --command 'python3 -m venv .venv && ...'   # time another command instead

What a newcomer waits for: the run-command between the ``<!-- run-command -->`` markers of README.md
is split on `` && `` and each step runs in its own shell, in a ``git clone`` of this repository's
HEAD (commit first: uncommitted edits are not in the clone), with ``PIP_CACHE_DIR`` pointing at a
new empty folder unless ``--warm-cache`` reuses the previous one. The table gives each step's wall
time, the CPU time of its child processes and the total. The pip step includes compiling
llama-cpp-python from its source distribution; the other two are the embedded model's generate
run and convert.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(tempfile.gettempdir()) / "sdg-bench-quickstart-pip-cache"


def readme_run_command() -> str:
    """The command between the README's run-command markers (the fenced block's one line)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- run-command -->", 1)[1].split("<!-- /run-command -->", 1)[0]
    lines = [line for line in block.splitlines() if line.strip() and not line.startswith("```")]
    return " ".join(lines)


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--command", help="time this command instead of the README's run-command")
    parser.add_argument("--warm-cache", action="store_true", help="reuse the pip cache of the previous run instead of an empty one")
    args = parser.parse_args()

    command = args.command or readme_run_command()
    steps = [step.strip() for step in command.split(" && ")]
    if not args.warm_cache:
        shutil.rmtree(CACHE, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="sdg-quickstart-") as scratch:
        clone = Path(scratch) / "sdg-program"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True, check=True).stdout.strip()
        env = {**os.environ, "PIP_CACHE_DIR": str(CACHE)}
        print(f"clone of {head}, pip cache {'reused' if args.warm_cache else 'empty'}, {os.cpu_count()} cores")
        rows = []
        failed = False
        for step in steps:
            cpu_before = children_cpu_seconds()
            started = time.perf_counter()
            completed = subprocess.run(["bash", "-c", step], cwd=clone, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - started
            rows.append((step, wall, children_cpu_seconds() - cpu_before))
            if completed.returncode != 0:
                print(f"step failed ({completed.returncode}): {step}\n{completed.stderr[-3000:]}")
                failed = True
                break

    width = 90
    print(f"\n{'step':<{width}} {'wall s':>8} {'cpu s':>8}")
    for step, wall, cpu in rows:
        label = step if len(step) <= width else step[: width - 3] + "..."
        print(f"{label:<{width}} {wall:>8.1f} {cpu:>8.1f}")
    print(f"{'total':<{width}} {sum(row[1] for row in rows):>8.1f} {sum(row[2] for row in rows):>8.1f}")
    if failed:
        sys.exit(1)  # the figures of a command that did not finish are not the quickstart's


if __name__ == "__main__":
    main()
