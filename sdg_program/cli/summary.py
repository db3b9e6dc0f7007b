"""Human-readable summaries printed at the end of a command."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from sdg_program.ingest.chunking import ChunkingReport


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


def print_generation_summary(stats, console: Console, *, self_judging: bool) -> None:
    """Rows done/failed, pairs generated/deduplicated/valid, rejection reasons, usage per role and wall time."""
    counts = stats.as_dict()
    table = Table(title="Generation summary", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("rows done", str(counts["rows_done"]))
    table.add_row("rows failed (see failures.jsonl)", str(counts["rows_failed"]))
    if counts["rows_resumed"]:
        table.add_row("rows already done (resumed)", str(counts["rows_resumed"]))
    for reason, number in counts["failure_reasons"].items():
        table.add_row(f"  failure: {reason}", str(number))
    table.add_row("pairs generated", str(counts["pairs_generated"]))
    table.add_row("pairs removed as duplicates", str(counts["pairs_removed_as_duplicates"]))
    table.add_row("pairs valid (deterministic checks)", f"{counts['pairs_valid']} of {counts['pairs_after_dedup']}")
    for reason, number in counts["rejection_reasons"].items():
        table.add_row(f"  rejected: {reason}", str(number))
    for code, number in counts.get("normalizations", {}).items():
        table.add_row(f"  structure repaired: {code}", str(number))
    mean = counts["judge_overall_mean"]
    table.add_row("pairs judged / mean overall score", f"{counts['pairs_judged']} / {mean if mean is not None else '-'}")
    for role, usage in counts["lm_usage"].items():
        if not usage["calls"]:  # a stage that did not run (extract inline or off, judge off)
            continue
        table.add_row(f"{role}: calls / prompt / completion tokens", f"{usage['calls']} / {usage['prompt_tokens']:,} / {usage['completion_tokens']:,}")
    faults = counts["faults"]
    if faults["by_kind"] or faults["retries"]:
        table.add_row("endpoint faults (retries / seconds waiting)", f"{sum(faults['by_kind'].values())} ({faults['retries']} / {faults['backoff_seconds']:.1f} s)")
        for kind, number in faults["by_kind"].items():
            table.add_row(f"  fault: {kind}", str(number))
    table.add_row("wall time", f"{counts['wall_seconds']:.1f} s")
    console.print(table)
    if self_judging:
        console.print("[yellow]The judge was the generating model: scores are self-grading. Pass --judge-lm for an independent judge.[/yellow]")


def print_preview(results, console: Console) -> None:
    """One table per previewed row: each pair with its evidence, validation and judge score."""
    from sdg_program.core.records import FailedRow

    for result in results:
        if isinstance(result, FailedRow):
            console.print(f"[red]{result.source_id}: failed[/red] {result.reason}")
            continue
        table = Table(title=f"{result.source_id} ({len(result.chunks)} segments, {result.windows} window(s))", title_justify="left", show_lines=True)
        for column in ("#", "question", "answer", "type", "segments / hops", "valid", "judge"):
            table.add_column(column)
        scores = {evaluation["pair_index"]: evaluation["overall"]["score"] for evaluation in result.qa_evaluations["evaluations"]}
        for index, (pair, validation) in enumerate(zip(result.deduplicated_qa_pairs, result.qa_validations)):
            table.add_row(
                str(index),
                pair["question"],
                pair["answer"],
                f"{pair['query_type']}\n{pair['reasoning_type']}\ncomplexity {pair['question_complexity']}",
                f"{pair['segment_ids']}\n{pair['hop_count']} hop(s)",
                "yes" if validation["valid"] else "no: " + ", ".join(validation["reasons"]),
                str(scores.get(index, "-")),
            )
        console.print(table)
        for error in result.errors:
            console.print(f"[yellow]{error['stage']} (window {error['window']}): {error['error']}[/yellow]")
