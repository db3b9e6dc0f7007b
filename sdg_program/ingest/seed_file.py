"""``sdg-program chunk`` as a function: chunk a folder and write its seed rows to one JSONL file."""

from __future__ import annotations

from pathlib import Path

from sdg_program.core.files import write_jsonl_atomic
from sdg_program.ingest.chunking import ChunkingReport, iter_seed_rows
from sdg_program.ingest.config import ChunkingConfig


def chunk(config: ChunkingConfig, output: Path) -> ChunkingReport:
    """Write the seed rows of ``config``'s documents to ``output`` (atomically) and return the report.

    The report says which files were used and skipped (with reasons), chunk sizes, and
    ``report.rows``, the rows written. Streams: no more than one document is held at a time.
    """
    report = ChunkingReport()
    write_jsonl_atomic(Path(output), (row.model_dump(mode="json") for row in iter_seed_rows(config, report)))
    return report
