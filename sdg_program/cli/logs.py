"""Where the CLI talks to the user on stderr: one console, and logging set up on it.

Results (tables, "Wrote ...") go to stdout through a fresh ``Console()``, so they can be piped;
progress, notes, log records and errors go to :data:`console`. Every command logs the same way:
rich handler on that console, INFO with --verbose, WARNING otherwise, replacing whatever an
imported library configured. Secrets are scrubbed from every record by
``core.secrets.install_scrubbing`` (the root callback installs it), below any handler set up here.
"""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

console = Console(stderr=True, soft_wrap=True)


def setup_logging(verbose: bool) -> None:
    """Log to :data:`console`: INFO and up with --verbose, else WARNING and up."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
        force=True,
    )


def quiet_dataset_libraries(verbose: bool) -> None:
    """For push and eval: ``datasets`` prints its own warnings (do not print them twice); bm25s logs at DEBUG."""
    logging.getLogger("datasets").propagate = False
    logging.getLogger("bm25s").setLevel(logging.INFO if verbose else logging.WARNING)
