"""One error path for every command: which failure ends a command with which exit code.

The library raises :class:`~sdg_program.core.errors.SdgError` subclasses on purpose, and their
messages are written to be printed, so a command needs no ``except`` of its own:

- exit 2, ``Invalid options: ...``: an option value its config rejects (pydantic);
- exit 2, ``Error: ...``: a ``UserError`` (a folder, file, option or earlier run to change);
- exit 3, ``Aborted: ...``: ``RunAborted``, generate stopped and can be resumed;
- exit 1, ``Error: ...``: any other ``SdgError`` (``HubError``, ``RetrieverError``);
- exit 1, the command's own message: it ran but produced nothing usable (:func:`fail`).

Click's own usage errors (an unknown option, a value out of range) exit 2 as well. Messages
are scrubbed of credentials before they are printed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from sdg_program.cli.logs import console
from sdg_program.core.errors import RunAborted, SdgError, UserError
from sdg_program.core.secrets import scrub

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ABORTED = 3

# Plain errors that library code still raises for a user's mistake: an LM spec the backends
# reject (ValueError), a --program file that is not there (FileNotFoundError), a folder with
# several .jsonl files for convert (ValueError). generate, convert and compile have always reported
# them as user errors; they pass this to reported_errors until those places raise UserError.
PLAIN_USER_ERRORS: tuple[type[Exception], ...] = (ValueError, FileNotFoundError)

Config = TypeVar("Config", bound=BaseModel)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``message`` (rich markup) on stderr and end the command with ``code``."""
    console.print(message)
    raise typer.Exit(code)


def validated(model: type[Config], values: Mapping[str, Any]) -> Config:
    """``model`` built from option values; values it rejects end the command with pydantic's message (exit 2)."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        fail(f"[red]Invalid options:[/red] {scrub(str(error))}")


@contextmanager
def reported_errors(user_errors: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Turn an ``SdgError`` raised inside the block into its message and exit code (table above).

    ``user_errors`` names further exception classes to report as user errors (exit 2): only
    :data:`PLAIN_USER_ERRORS`, for the commands that have always treated them so.
    """
    try:
        yield
    except RunAborted as error:
        fail(f"[red]Aborted:[/red] {scrub(str(error))}", EXIT_ABORTED)
    except (UserError, *user_errors) as error:
        fail(f"[red]Error:[/red] {scrub(str(error))}", EXIT_USAGE)
    except SdgError as error:
        fail(f"[red]Error:[/red] {scrub(str(error))}", EXIT_FAILED)
