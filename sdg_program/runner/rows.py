"""Run the program over seed rows with bounded concurrency; one row's failure never ends the run.

Rows are pulled lazily, so memory holds only the rows in flight, and results reach the caller
(the single writer of the output files) in completion order, from the calling thread.
"""

from __future__ import annotations

import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Iterator

from sdg_program.core.errors import RowFailed
from sdg_program.core.records import FailedRow, GeneratedRecord, SeedRow
from sdg_program.core.secrets import scrub
from sdg_program.program.retrieval_sdg import RetrievalSDG

logger = logging.getLogger(__name__)


def _record_from(row: SeedRow, key: str, prediction: Any) -> GeneratedRecord:
    return GeneratedRecord(**row.model_dump(), **{name: prediction[name] for name in (
        "document_artifacts", "qa_generation", "deduplicated_qa_pairs", "qa_evaluations", "qa_validations",
        "generation_validations", "dedup", "windows", "judged", "lm_usage", "faults", "errors")}, row_key=key)


def run_rows(
    program: RetrievalSDG,
    rows: Iterator[tuple[SeedRow, str]],
    *,
    concurrency: int,
    on_record: Callable[[GeneratedRecord], None],
    on_failure: Callable[[FailedRow], None],
    should_abort: Callable[[], str | None] = lambda: None,
) -> None:
    """Run ``program`` over ``(row, key)`` pairs with at most ``concurrency`` rows in flight.

    Rows are pulled lazily, so memory holds only the rows in flight. Results are
    handed to the callbacks in completion order from this thread.
    """

    def work(row: SeedRow, key: str) -> GeneratedRecord | FailedRow:
        try:
            prediction = program(row=row)
            return _record_from(row, key, prediction)
        except RowFailed as error:
            # Endpoint errors can echo request headers; nothing secret reaches failures.jsonl.
            errors = [{name: scrub(value) if isinstance(value, str) else value for name, value in entry.items()} for entry in error.errors]
            return FailedRow(row_key=key, source_id=row.source_id, file_name=row.file_name, reason=scrub(str(error))[:500], errors=errors, faults=error.faults)
        except Exception as error:  # never let one row end the run
            logger.exception("row %s failed", row.source_id)
            return FailedRow(row_key=key, source_id=row.source_id, file_name=row.file_name, reason=scrub(f"{type(error).__name__}: {error}")[:500])

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sdg-row") as pool:
        in_flight: set[Future] = set()
        source = iter(rows)
        exhausted = False
        while True:
            while not exhausted and len(in_flight) < concurrency and should_abort() is None:
                try:
                    row, key = next(source)
                except StopIteration:
                    exhausted = True
                    break
                in_flight.add(pool.submit(work, row, key))
            if not in_flight:
                break
            finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                result = future.result()
                if isinstance(result, GeneratedRecord):
                    on_record(result)
                else:
                    on_failure(result)
            if should_abort() is not None:
                exhausted = True
                # Rows in flight stop waiting out backoff and give up at their next fault.
                waiter = getattr(program, "waiter", None)
                if waiter is not None:
                    waiter.stop()
