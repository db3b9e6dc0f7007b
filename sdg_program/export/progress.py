"""Phase timings and progress bars for convert.

Every phase is timed for ``ConvertResult.timings`` (kept out of report.json, which must stay
deterministic). Only the embedding phases can take minutes, so only they get a rich progress
bar, and only when the caller passes a console.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator

logger = logging.getLogger(__name__)


class ConvertProgress:
    """Phase timings for the result, and a rich progress bar for the slow (embedding) phases when a console is given."""

    def __init__(self, console) -> None:
        self.console = console
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        logger.info("convert: %s", name)
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - started, 3)

    @contextlib.contextmanager
    def bar(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        if self.console is None:
            yield lambda advance: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=self.console, transient=True) as progress:
            task = progress.add_task(description, total=total)
            yield lambda advance: progress.advance(task, advance)
