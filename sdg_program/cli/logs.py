"""Logging for the CLI commands: one set-up, used by every command module.

Each command module keeps its own stderr console (cli.py imports them, so they cannot import
cli.py's), but all log the same way: rich handler on that console, INFO with --verbose, WARNING
otherwise, replacing whatever an imported library configured. Secrets are scrubbed from every
record by `secrets.install_scrubbing`, which works below any handler set up here.
"""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler


def setup_logging(console: Console, verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
        force=True,
    )
