"""What a conversion did: ``report.json``, a printed summary and ``report.html`` with plots.

The reference tool prints a few counts and keeps nothing; a user deciding whether the data is
good enough needs to see where pairs went (every drop has a reason) and what the kept questions
look like (types, hops, complexity, judge scores). The report is deterministic (no timings, no
dates), so a re-run writes the same bytes.
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from rich.console import Console
from rich.table import Table

from sdg_program.export.scan import ScanSummary
from sdg_program.export.splits import SPLITS, split_targets
from sdg_program.export.tables import column

if TYPE_CHECKING:  # these modules import this one: types only
    from sdg_program.export.assign import Splits
    from sdg_program.export.config import ConvertConfig
    from sdg_program.export.gate import FilteredPairs
    from sdg_program.export.load import LoadStats

# Order in which drop reasons are checked, and the words the summary uses for them.
DROP_REASONS: dict[str, str] = {
    "empty_question": "empty question",
    "invalid": "failed validation",
    "unjudged": "no judge score",
    "below_threshold": "judge score below threshold",
    "no_positive": "no positive passage",
    "unknown_segment": "cites an unknown segment",
    "too_many_positives": "more positives than --max-pos-docs",
    "not_retrievable": "no positive within --roundtrip-k (round trip)",
    "duplicate": "near-duplicate of a better pair (corpus-wide dedup)",
}
DISTRIBUTIONS = ("query_type", "reasoning_type", "hop_count", "question_complexity")


class SplitSummary(BaseModel):
    """Size of one split."""

    units: int = 0
    documents: int = 0
    queries: int = 0
    examples: int = Field(0, description="Training examples written (differs from queries with --unroll-positives)")


class NegativesSummary(BaseModel):
    """Hard-negative mining results."""

    requested_per_query: int
    margin: float
    queries: int = 0
    negatives: int = 0
    queries_short: int = Field(0, description="Queries that got fewer negatives than requested")
    excluded_as_likely_positive: int = Field(0, description="Candidates above margin x weakest positive score")


class DroppedPair(BaseModel):
    """A pair the quality gate (``quality_gate.py``) dropped: where it came from, why, and the evidence."""

    source_id: str
    pair_index: int
    question_id: str
    reason: str
    roundtrip_rank: int | None = Field(None, description="Best fused rank of a positive (None: round trip off, or not within the ranked depth)")
    duplicate_of: str | None = Field(None, description="Question ID of the kept pair this one duplicates")


class GateSummary(BaseModel):
    """What the quality gate did: the round trip's k and rank histogram, the dedup threshold, every dropped pair."""

    roundtrip_k: int | None = Field(None, description="A positive must rank within this (None: round trip off)")
    corpus_size: int = 0
    ranks: dict[str, int] = Field(default_factory=dict, description="Best positive rank over the pairs that reached the gate")
    dedup_threshold: float | None = None
    dropped: list[DroppedPair] = Field(default_factory=list)


class ConvertReport(BaseModel):
    """Everything ``convert`` counted; written as report.json."""

    input_file: str
    output_dir: str
    corpus_id: str
    settings: dict[str, Any]
    records_in: int = 0
    records_duplicate: int = Field(0, description="Lines repeating an earlier source_id (skipped)")
    lines_malformed: int = Field(0, description="Lines that are not a JSON record (skipped)")
    records_without_pairs: int = 0
    records_validated_at_convert: int = Field(0, description="Records without qa_validations, validated here")
    records_judged_by_position: int = Field(0, description="Evaluations without pair_index, matched by position")
    records_judge_unaligned: int = Field(0, description="Evaluations that could not be matched to pairs (pairs count as unjudged)")
    pairs_in: int = 0
    pairs_kept: int = 0
    pairs_kept_unjudged: int = Field(0, description="Kept pairs from runs whose judge was off (generate --judge off, or auto with the embedded model): kept on the deterministic checks alone")
    pairs_dropped: dict[str, int] = Field(default_factory=dict)
    validation_reasons: dict[str, int] = Field(default_factory=dict, description="Reasons of the pairs dropped as invalid")
    chunks_in: int = 0
    corpus_documents: int = Field(0, description="Unique passages (BEIR corpus)")
    training_corpus_documents: int = Field(0, description="Passages in corpus/train.parquet (test-only passages excluded)")
    units: int = Field(0, description="Split units with kept pairs (documents/bundles joined by shared documents, groups, paraphrases)")
    merges: dict[str, int] = Field(default_factory=dict)
    paraphrase_links: int = 0
    splits: dict[str, SplitSummary] = Field(default_factory=dict)
    distributions: dict[str, dict[str, int]] = Field(default_factory=dict, description="Over kept pairs")
    judge_scores: dict[str, int] = Field(default_factory=dict, description="overall.score histogram over all judged pairs")
    negatives: NegativesSummary | None = None
    quality_gate: GateSummary | None = None
    scan: ScanSummary | None = Field(None, description="Credentials and personal data found in the written files (export/scan.py), and what --redact masked")
    warnings: list[str] = Field(default_factory=list)


def score_histogram(scores: list[float | None]) -> dict[str, int]:
    """Counts per integer score bin 1..10 (a score s falls in bin floor(s), clipped to 1..10)."""
    bins = {str(score): 0 for score in range(1, 11)}
    for score in scores:
        if score is None:
            continue
        bins[str(min(10, max(1, int(score))))] += 1
    return bins


def sorted_counts(counts: dict[Any, int]) -> dict[str, int]:
    """Counts with string keys in a stable order: numeric keys numerically, others alphabetically."""
    def key(item):
        name = str(item[0])
        return (0, int(name), "") if name.lstrip("-").isdigit() else (1, 0, name)

    return {str(name): count for name, count in sorted(counts.items(), key=key)}


# ---------------------------------------------------------------------------
# building the report from the phases' results
# ---------------------------------------------------------------------------


def build_report(config: ConvertConfig, records_file: Path, output_dir: Path, corpus_id: str, stats: LoadStats, pairs: FilteredPairs,
                 splits: Splits, corpus, training_corpus, negatives_summary: NegativesSummary | None, examples: dict[str, int],
                 gate_summary: GateSummary | None = None, scan: ScanSummary | None = None) -> ConvertReport:
    """Counts, split sizes and distributions; warnings for splits left empty."""
    active = [unit for unit in splits.units if unit.weight > 0]
    names = ("test",) if config.eval_only else SPLITS
    split_summaries: dict[str, SplitSummary] = {}
    for name in names:
        members = [unit for unit in active if splits.assignment.get(unit.key) == name]
        split_summaries[name] = SplitSummary(
            units=len(members),
            documents=len(set().union(*(unit.documents for unit in members))) if members else 0,
            queries=splits.kept_splits.count(name),
            examples=examples.get(name, 0),
        )
    warnings: list[str] = []
    if splits.merges.get("group_documents_unmatched"):
        warnings.append(f"{splits.merges['group_documents_unmatched']} document names in --groups-json match no record")
    if not config.eval_only:
        targets = split_targets(config.train_ratio, config.val_ratio)
        for name in SPLITS:
            if targets[name] > 0 and split_summaries[name].units == 0:
                warnings.append(f"the {name} split is empty: {len(active)} unit(s) with kept pairs are too few for three splits")
    if scan is not None and not scan.clean:
        warnings.append(f"the exported texts hold {scan.findings_total} possible credential(s) or personal data ({scan.counts_text()}); "
                        f"`sdg-program scan {output_dir}` lists them, `--redact` masks them; push refuses to upload them")
    drop_counts = Counter(pairs.drop_counts)
    kept_count = drop_counts.pop("", 0)
    return ConvertReport(
        input_file=str(records_file),
        output_dir=str(output_dir),
        corpus_id=corpus_id,
        settings=config.model_dump(mode="json"),
        **asdict(stats),  # records_in ... chunks_in: the load counters carry the report's names
        pairs_kept=kept_count,
        pairs_kept_unjudged=sum(judged is False for judged in column(pairs.kept, "judged")),
        pairs_dropped={reason: drop_counts[reason] for reason in DROP_REASONS if drop_counts.get(reason)},
        validation_reasons=dict(sorted(pairs.invalid_reasons.items(), key=lambda item: (-item[1], item[0]))),
        corpus_documents=len(corpus),
        training_corpus_documents=len(training_corpus) if training_corpus is not None else 0,
        units=len(active),
        merges=splits.merges,
        paraphrase_links=splits.links,
        splits=split_summaries,
        distributions={name: sorted_counts(Counter("unknown" if v is None else str(v) for v in column(pairs.kept, name))) for name in DISTRIBUTIONS},
        judge_scores=score_histogram(pairs.scores),
        negatives=negatives_summary,
        quality_gate=gate_summary,
        scan=scan,
        warnings=warnings,
    )


# ---------------------------------------------------------------------------
# printed summary
# ---------------------------------------------------------------------------


def print_report(report: ConvertReport, console: Console) -> None:
    """A rich summary: pairs in/kept/dropped by reason, corpus, splits, negatives, distributions."""
    table = Table(title="Conversion summary", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("records in", str(report.records_in))
    for label, value in (
        ("  duplicate source_id (skipped)", report.records_duplicate),
        ("  malformed lines (skipped)", report.lines_malformed),
        ("  without QA pairs (chunks kept as distractors)", report.records_without_pairs),
        ("  validated at convert (no qa_validations)", report.records_validated_at_convert),
        ("  judged by position (no pair_index)", report.records_judged_by_position),
        ("  judge output not alignable", report.records_judge_unaligned),
    ):
        if value:
            table.add_row(label, str(value))
    table.add_row("pairs in", str(report.pairs_in))
    retention = f" ({report.pairs_kept / report.pairs_in:.0%})" if report.pairs_in else ""
    table.add_row("pairs kept", f"{report.pairs_kept}{retention}")
    if report.pairs_kept_unjudged:
        table.add_row("  of them without a judge", f"{report.pairs_kept_unjudged} (the run's judge was off: deterministic checks only)")
    for reason, count in report.pairs_dropped.items():
        table.add_row(f"  dropped: {DROP_REASONS.get(reason, reason)}", str(count))
    for reason, count in report.validation_reasons.items():
        table.add_row(f"    validation: {reason}", str(count))
    gate = report.quality_gate
    if gate is not None and gate.roundtrip_k is not None:
        table.add_row("  round trip: a positive within k of", f"{gate.roundtrip_k} / {gate.corpus_size} passages")
    table.add_row("passages (unique chunks) / chunks in", f"{report.corpus_documents} / {report.chunks_in}")
    if report.training_corpus_documents:
        table.add_row("passages in the training corpus", str(report.training_corpus_documents))
    table.add_row("split units", str(report.units))
    for name, count in report.merges.items():
        if count:
            table.add_row(f"  {name.replace('_', ' ')}", str(count))
    for name, split in report.splits.items():
        table.add_row(f"{name}: units / documents / queries / examples", f"{split.units} / {split.documents} / {split.queries} / {split.examples}")
    if report.negatives is not None:
        mined = report.negatives
        table.add_row("hard negatives: queries / negatives", f"{mined.queries} / {mined.negatives}")
        table.add_row("  excluded as likely positives", str(mined.excluded_as_likely_positive))
        if mined.queries_short:
            table.add_row("  queries with fewer than requested", str(mined.queries_short))
    console.print(table)
    if report.pairs_kept:
        dist = Table(title="Kept pairs", title_justify="left")
        dist.add_column("field")
        dist.add_column("counts")
        for name in DISTRIBUTIONS:
            values = report.distributions.get(name, {})
            dist.add_row(name, ", ".join(f"{key}: {count}" for key, count in values.items()))
        if any(report.judge_scores.values()):
            dist.add_row("judge overall score (all judged)", ", ".join(f"{key}: {count}" for key, count in report.judge_scores.items() if count))
        console.print(dist)
    for warning in report.warnings:
        console.print(f"[yellow]Warning:[/yellow] {warning}")


# ---------------------------------------------------------------------------
# HTML with embedded plots
# ---------------------------------------------------------------------------


def _bar_png(title: str, counts: dict[str, int], *, xlabel: str = "", threshold: float | None = None) -> str:
    """A bar chart as a base64 PNG (Agg backend, no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 3.2), dpi=100)
    axes = figure.add_subplot()
    labels = list(counts) or ["(none)"]
    values = list(counts.values()) or [0]
    axes.bar(range(len(labels)), values, color="#4c72b0")
    axes.set_xticks(range(len(labels)), labels, rotation=30 if max(len(label) for label in labels) > 6 else 0, ha="right" if max(len(label) for label in labels) > 6 else "center")
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("count")
    if threshold is not None and labels and labels[0] == "1":
        axes.axvline(threshold - 1.5, color="#c44e52", linestyle="--", label=f"threshold {threshold:g}")
        axes.legend(loc="upper left")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(str(name))}</th><td>{html.escape(str(value))}</td></tr>" for name, value in rows)
    return f"<table>{body}</table>"


def render_html(report: ConvertReport) -> str:
    """A self-contained HTML page: counts as tables, distributions as embedded PNG plots."""
    threshold = report.settings.get("quality_threshold")
    plots = [
        ("Pairs dropped by reason", report.pairs_dropped, ""),
        ("Validation reasons (dropped pairs)", report.validation_reasons, ""),
        ("Judge overall score (all judged pairs)", report.judge_scores, "score bin"),
        ("Query type (kept)", report.distributions.get("query_type", {}), ""),
        ("Reasoning type (kept)", report.distributions.get("reasoning_type", {}), ""),
        ("Hop count (kept)", report.distributions.get("hop_count", {}), "hops"),
        ("Question complexity (kept)", report.distributions.get("question_complexity", {}), "complexity"),
        ("Queries per split", {name: split.queries for name, split in report.splits.items()}, ""),
    ]
    images = []
    for title, counts, xlabel in plots:
        if not counts:
            continue
        png = _bar_png(title, counts, xlabel=xlabel, threshold=threshold if counts is report.judge_scores else None)
        images.append(f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{png}"><figcaption>{html.escape(title)}</figcaption></figure>')
    summary = _table([
        ("input", report.input_file),
        ("output", report.output_dir),
        ("corpus_id", report.corpus_id),
        ("records in", report.records_in),
        ("pairs in", report.pairs_in),
        ("pairs kept", report.pairs_kept),
        ("passages / chunks in", f"{report.corpus_documents} / {report.chunks_in}"),
        ("passages in the training corpus", report.training_corpus_documents),
        ("split units", report.units),
        ("paraphrase links", report.paraphrase_links),
        *([("credentials / personal data found", report.scan.counts_text()), ("masked (--redact)", ", ".join(f"{k} {v}" for k, v in report.scan.redacted.items()) or "nothing")] if report.scan else []),
    ])
    splits = _table([(name, f"{s.units} units, {s.documents} documents, {s.queries} queries, {s.examples} examples") for name, s in report.splits.items()])
    negatives = ""
    if report.negatives is not None:
        negatives = "<h2>Hard negatives</h2>" + _table(list(report.negatives.model_dump().items()))
    warnings = "".join(f"<li>{html.escape(warning)}</li>" for warning in report.warnings)
    settings = _table(sorted(report.settings.items()))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>sdg-program convert report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse;margin-bottom:1em}}
th,td{{border:1px solid #ccc;padding:3px 8px;text-align:left}}figure{{display:inline-block;margin:0.5em}}</style></head>
<body><h1>Conversion report</h1>
{summary}<h2>Splits</h2>{splits}{negatives}
<h2>Plots</h2>{''.join(images)}
{'<h2>Warnings</h2><ul>' + warnings + '</ul>' if warnings else ''}
<h2>Settings</h2>{settings}
</body></html>
"""
