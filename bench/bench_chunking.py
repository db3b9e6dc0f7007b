"""Chunking throughput (MB/s), peak memory, and markup left in chunk text.

    python bench/bench_chunking.py [--target-mb 20] [--corpus ../shared/corpora/docs_dspy]
                                   [--residual-corpus DIR ...] [--no-throughput] [--no-residual]

Throughput: builds the corpus by copying docs_dspy N times (each copy gets a marker line
so no copy is a duplicate of another), then streams it through `iter_seed_rows` twice: at
half and at full size, to show whether peak memory grows with the corpus. MB/s is given
by wall-clock and by CPU time (the CPU figure is the steadier one on a shared machine).

Residual markup: chunks every Markdown/MDX/reST file of each folder of real docs under
`../shared/corpora` (plus `--residual-corpus` folders) and of the syntax fixtures in
`tests/data/markup`, and counts, per syntax, the chunks whose text outside code (blocks
and inline spans) still matches a signature of that syntax (`RESIDUAL_SIGNATURES`). Figures are printed,
never asserted.
"""

from __future__ import annotations

import argparse
import logging
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "docs_dspy"
SHARED_CORPORA = REPO.parent / "shared" / "corpora"
FIXTURES = REPO / "tests" / "data" / "markup"
DOC_SUFFIXES = (".md", ".markdown", ".mdx", ".rst")

CODE_SPAN = re.compile(r"(`+)[^`]+?\1")  # inline code is code: `__init__` or `a | b` is not residue
# Signatures of mark-up that should not survive into chunk text (code blocks and spans excluded).
RESIDUAL_SIGNATURES: dict[str, re.Pattern[str]] = {
    "pymdown block /// or ////": re.compile(r"(?m)^[ \t]*/{3,}"),
    "snippet {* *}": re.compile(r"\{\*"),
    "snippet --8<--": re.compile(r"--8<--"),
    "attribute list { #id .class }": re.compile(r"\{:?[ \t]*[#.][\w-]"),
    "link syntax ]( or ][": re.compile(r"\]\(|\]\["),
    "HTML/JSX tag <x": re.compile(r"<[A-Za-z/!]"),
    "emoji shortcode :name:": re.compile(r"(?<![\w:]):[a-z][a-z0-9_+-]*:(?![\w:])"),
    "admonition !!!": re.compile(r"!!!"),
    "admonition ???": re.compile(r"\?\?\?"),
    'content tab === "': re.compile(r'===[+!]?[ \t]+"'),
    "MDX comment/import": re.compile(r"(?m)\{/\*|^import[ \t].*from[ \t]"),
    "table row | a | b |": re.compile(r"(?m)^[ \t]*\|.*\|[ \t]*$|\|[ \t]*:?-{3,}"),
    "emphasis ** or __": re.compile(r"\*\*\S|__\w"),
    "heading marker #": re.compile(r"(?m)^#{1,6}[ \t]"),
    "footnote [^x]": re.compile(r"\[\^"),
    "math $$": re.compile(r"\$\$"),
    "mkdocstrings :::": re.compile(r"(?m)^:::"),
    "reST role/directive": re.compile(r"(?m):[a-z]+:`|^\.\. [\w-]+::"),
}


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
    """Child process: chunk the corpus and print bytes, wall and CPU seconds, rows, chunks, peak RSS."""
    sys.path.insert(0, str(REPO))
    from sdg_program.ingest.chunking import ChunkingReport, iter_seed_rows
    from sdg_program.ingest.config import ChunkingConfig

    logging.disable(logging.WARNING)
    report = ChunkingReport()
    started = time.perf_counter()
    started_cpu = time.process_time()
    rows = 0
    for _ in iter_seed_rows(ChunkingConfig(input_dir=corpus), report):
        rows += 1
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - started_cpu
    total_bytes = sum(path.stat().st_size for path in corpus.rglob("*") if path.is_file())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{total_bytes} {seconds} {cpu_seconds} {rows} {report.chunks} {peak_mb}")


def measure(corpus: Path) -> tuple[float, float, float, int, int, float]:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", str(corpus)], capture_output=True, text=True, check=True
    )
    total, seconds, cpu_seconds, rows, chunks, peak = completed.stdout.split()
    return int(total) / 1e6, float(seconds), float(cpu_seconds), int(rows), int(chunks), float(peak)


def residual_counts(folder: Path) -> tuple[int, int, int, dict[str, int]]:
    """Files, chunks, chunks with any residue, and chunks per signature, for one folder.

    Text outside code: the chunk's non-code units without their inline code spans (code is
    verbatim on purpose).
    """
    sys.path.insert(0, str(REPO))
    from sdg_program.ingest.chunking import chunk_text
    from sdg_program.ingest.documents import SourceFile, read_document
    from sdg_program.ingest.markup import markup_for_extension, parse_units

    files = chunks = dirty = 0
    per_signature = dict.fromkeys(RESIDUAL_SIGNATURES, 0)
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in DOC_SUFFIXES or not path.is_file():
            continue
        document = read_document(SourceFile(path.name, path, path.stat().st_size), max_file_bytes=None)
        if not hasattr(document, "text"):
            continue
        files += 1
        markup = markup_for_extension(path.suffix.lower())
        units = [unit for unit in parse_units(document.text, markup) if unit.kind != "code"]  # type: ignore[arg-type]
        for chunk in chunk_text(document.text, path.name, markup=markup):
            chunks += 1
            prose = "\n".join(unit.text for unit in units if chunk.char_start <= unit.start < chunk.char_end)
            prose = CODE_SPAN.sub("", prose)
            hits = [name for name, pattern in RESIDUAL_SIGNATURES.items() if pattern.search(prose)]
            for name in hits:
                per_signature[name] += 1
            dirty += bool(hits)
    return files, chunks, dirty, per_signature


def residual_folders(extra: list[Path]) -> list[Path]:
    """Folders of real docs under the shared corpora (those holding Markdown/MDX/reST), then ``extra``, then the fixtures."""
    folders = []
    if SHARED_CORPORA.is_dir():
        for folder in sorted(path for path in SHARED_CORPORA.iterdir() if path.is_dir()):
            if any(path.suffix.lower() in DOC_SUFFIXES for path in folder.rglob("*")):
                folders.append(folder)
    return folders + extra + [FIXTURES]


def print_residuals(extra: list[Path]) -> None:
    print("residual markup: chunks whose text outside code still matches a syntax signature")
    for folder in residual_folders(extra):
        logging.disable(logging.WARNING)
        files, chunks, dirty, per_signature = residual_counts(folder)
        share = 100 * dirty / chunks if chunks else 0.0
        print(f"\n{folder}: {files} files, {chunks} chunks, {dirty} with residue ({share:.1f}%)")
        for name, count in per_signature.items():
            if count:
                print(f"  {name:<32} {count:>6}")
    print("\ntarget: 0 on the fixtures; < 2% of chunks on real docs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-mb", type=float, default=20.0)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--residual-corpus", type=Path, action="append", default=[], help="another folder of docs to count residual markup in")
    parser.add_argument("--no-throughput", action="store_true", help="skip the throughput run")
    parser.add_argument("--no-residual", action="store_true", help="skip the residual-markup counts")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_once(args.child)
        return
    if not args.no_throughput:
        with tempfile.TemporaryDirectory() as workdir:
            print(f"chunking benchmark: {args.corpus} repeated to {args.target_mb:g} MB (1 process, 1 core)")
            print(f"{'corpus MB':>10} {'seconds':>8} {'MB/s':>6} {'CPU s':>7} {'CPU MB/s':>9} {'rows':>7} {'chunks':>8} {'peak RSS MB':>12}")
            for fraction in (0.5, 1.0):
                corpus = Path(workdir) / f"corpus_{fraction}"
                build_corpus(args.corpus, int(args.target_mb * fraction * 1e6), corpus)
                megabytes, seconds, cpu, rows, chunks, peak = measure(corpus)
                print(
                    f"{megabytes:>10.1f} {seconds:>8.2f} {megabytes / seconds:>6.2f} {cpu:>7.2f} {megabytes / cpu:>9.2f}"
                    f" {rows:>7} {chunks:>8} {peak:>12.0f}"
                )
                shutil.rmtree(corpus)
            print("target: >= 2 MB/s; peak RSS flat as the corpus doubles (files are streamed)\n")
    if not args.no_residual:
        print_residuals(args.residual_corpus)


if __name__ == "__main__":
    main()
