"""Chunking throughput (MB/s) and peak memory over docs_dspy repeated to a target size.

    python bench/bench_chunking.py [--target-mb 20] [--corpus ../shared/corpora/docs_dspy]

Builds the corpus by copying docs_dspy N times (each copy gets a marker line so no
copy is a duplicate of another), then streams it through `iter_seed_rows` twice: at
half and at full size, to show whether peak memory grows with the corpus. Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import logging
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "docs_dspy"


def build_corpus(source: Path, target_bytes: int, destination: Path) -> int:
    files = [path for path in sorted(source.rglob("*.md"))]
    size = sum(path.stat().st_size for path in files)
    copies = max(1, -(-target_bytes // size))
    total = 0
    for copy in range(copies):
        for path in files:
            out = destination / f"copy{copy:03d}" / path.relative_to(source)
            out.parent.mkdir(parents=True, exist_ok=True)
            text = path.read_text(encoding="utf-8")
            out.write_text(f"{text}\n\nCopy {copy} of this page.\n", encoding="utf-8")
            total += out.stat().st_size
    return total


def run_once(corpus: Path) -> None:
    """Child process: chunk the corpus and print bytes, seconds, rows, chunks, peak RSS."""
    sys.path.insert(0, str(REPO))
    from sdg_program.ingest.chunking import ChunkingReport, iter_seed_rows
    from sdg_program.ingest.config import ChunkingConfig

    logging.disable(logging.WARNING)
    report = ChunkingReport()
    started = time.perf_counter()
    rows = 0
    for _ in iter_seed_rows(ChunkingConfig(input_dir=corpus), report):
        rows += 1
    seconds = time.perf_counter() - started
    total_bytes = sum(path.stat().st_size for path in corpus.rglob("*") if path.is_file())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{total_bytes} {seconds} {rows} {report.chunks} {peak_mb}")


def measure(corpus: Path) -> tuple[float, float, int, int, float]:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", str(corpus)], capture_output=True, text=True, check=True
    )
    total, seconds, rows, chunks, peak = completed.stdout.split()
    return int(total) / 1e6, float(seconds), int(rows), int(chunks), float(peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-mb", type=float, default=20.0)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_once(args.child)
        return
    with tempfile.TemporaryDirectory() as workdir:
        print(f"chunking benchmark: {args.corpus} repeated to {args.target_mb:g} MB (1 process, 1 core)")
        print(f"{'corpus MB':>10} {'seconds':>8} {'MB/s':>6} {'rows':>7} {'chunks':>8} {'peak RSS MB':>12}")
        for fraction in (0.5, 1.0):
            corpus = Path(workdir) / f"corpus_{fraction}"
            build_corpus(args.corpus, int(args.target_mb * fraction * 1e6), corpus)
            megabytes, seconds, rows, chunks, peak = measure(corpus)
            print(f"{megabytes:>10.1f} {seconds:>8.2f} {megabytes / seconds:>6.2f} {rows:>7} {chunks:>8} {peak:>12.0f}")
            shutil.rmtree(corpus)
        print("target: >= 2 MB/s; peak RSS flat as the corpus doubles (files are streamed)")


if __name__ == "__main__":
    main()
