"""``sdg-program scan``: list (and with ``--redact`` mask) credentials and personal data in a convert folder.

The same scan runs at the end of ``convert`` (a warning) and before every ``push`` (which refuses
while findings remain); this command shows where they are, by kind, document and passage or
question ID, never the values, and exits 1 while any remain so a script can stop on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from sdg_program.cli.errors import EXIT_FAILED, fail, reported_errors, validated
from sdg_program.cli.logs import setup_logging
from sdg_program.cli.options import Verbose, default_of
from sdg_program.export.scan import ScanConfig, ScanSummary


def scan_command(
    folder: Annotated[Path, typer.Argument(metavar="OUTPUT_TRAIN_EVAL", help="Output folder of `sdg-program convert` (X_train_eval/).", show_default=False)],
    redact: Annotated[bool, typer.Option("--redact", help="Mask every finding in the exported files (parquet, BEIR files, train/val.json) as [REDACTED:kind]; recorded in report.json.")] = default_of(ScanConfig, "redact"),
    phone_region: Annotated[Optional[str], typer.Option("--phone-region", help="Also find phone numbers written in this region's national format (ISO code, e.g. US, DE). Default: only international +CC numbers.")] = default_of(ScanConfig, "phone_region"),
    show: Annotated[int, typer.Option(min=0, help="List at most this many findings.")] = 50,
    verbose: Verbose = False,
) -> None:
    """Scan passages, questions and answers for credentials and personal data.

    Credentials are found with detect-secrets' plugins (AWS, GitHub, Slack, Stripe and other
    keys, private keys, JWTs, passwords in URLs and assignments), phone numbers with
    phonenumbers, e-mail addresses with a pattern. Findings are listed by kind, document and
    ID, never by value. Exit code 1 while findings remain.
    """
    setup_logging(verbose)
    config = validated(ScanConfig, {"folder": folder, "redact": redact, "phone_region": phone_region})
    with reported_errors():
        if config.redact:
            from sdg_program.export.redact import redact_export

            summary = redact_export(config.folder, phone_region=config.phone_region)
        else:
            from sdg_program.export.scan import scan_export

            summary = scan_export(config.folder, phone_region=config.phone_region)
    out = Console()
    print_scan(summary, out, show)
    if summary.redacted:
        masked = ", ".join(f"{kind} {count}" for kind, count in summary.redacted.items())
        out.print(f"Masked {masked} in {', '.join(summary.redacted_files)} (recorded in report.json).")
    if not summary.clean:
        fail(f"[red]{summary.findings_total} finding(s) remain[/red]: mask them with `sdg-program scan {config.folder} --redact`, or push with --allow-findings.", EXIT_FAILED)


def print_scan(summary: ScanSummary, out: Console, show: int) -> None:
    """Counts by kind, then a table of where the findings are."""
    out.print(f"Scanned {summary.passages} passages from {summary.documents} documents and {summary.questions} questions with {summary.detectors}.")
    if summary.clean:
        out.print("No credentials or personal data found.")
        return
    out.print(f"Found {summary.findings_total}: {summary.counts_text()}")
    table = Table(show_header=True, title_justify="left")
    for name in ("kind", "document", "in", "ID", "field", "chars"):
        table.add_column(name)
    for finding in summary.findings[:show]:
        table.add_row(finding.kind, finding.document or "", finding.record, finding.passage_id or finding.query_id or "", finding.field, f"{finding.start}-{finding.end}")
    out.print(table)
    if summary.findings_total > min(show, len(summary.findings)):
        out.print(f"... {summary.findings_total - min(show, len(summary.findings))} more (--show N lists more; report.json keeps up to 1000 after --redact or convert).")
