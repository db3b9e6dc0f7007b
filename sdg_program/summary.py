"""Human-readable summaries printed at the end of a command."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from sdg_program.chunking import ChunkingReport


def print_chunking_summary(report: ChunkingReport, console: Console, examples_per_reason: int = 3) -> None:
    """Print files seen/used/skipped (with reasons and examples), chunk statistics and a token estimate."""
    table = Table(title="Chunking summary", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("files seen", str(report.files_seen))
    table.add_row("files used", str(report.files_used))
    for reason, count in report.skipped_by_reason().items():
        examples = [skip.path for skip in report.skipped if skip.reason == reason][:examples_per_reason]
        more = ", …" if count > len(examples) else ""
        table.add_row(f"skipped: {reason}", f"{count}  ({', '.join(examples)}{more})")
    table.add_row("seed rows", str(report.rows))
    table.add_row("chunks", str(report.chunks))
    if report.chunks:
        counts = report.sentences_per_chunk
        mean = sum(size * number for size, number in counts.items()) / report.chunks
        table.add_row("sentences per chunk (min / mean / max)", f"{min(counts)} / {mean:.1f} / {max(counts)}")
        table.add_row("longest chunk (characters)", str(report.chars_per_chunk_max))
    table.add_row("estimated prompt tokens for generate", f"~{report.estimated_prompt_tokens():,}")
    console.print(table)
