"""Every error sdg-program raises on purpose, in one place.

Two families, as in distilabel's ``errors.py`` / ``exceptions.py`` split:

- :class:`UserError`: something the user gave (a folder, a file, an option, a run already on
  disk) has to change. The message names the thing and says how to fix it; the CLI prints it
  and exits 2, with nothing lost.
- Conditions the pipeline handles itself (:class:`RowFailed`, :class:`EndpointFailed`,
  :class:`RunAborted`, :class:`HubError`, :class:`RetrieverError`): a row goes to
  ``failures.jsonl``, a run stops resumably, a push or a retriever fails with a message that is
  safe to print.

All derive from :class:`SdgError`, so a caller catches one class. Library messages name config
fields (``max_failure_rate``); the CLI speaks in flags. This module imports nothing heavy.
"""

from __future__ import annotations

from typing import Any


class SdgError(Exception):
    """Base of every error sdg-program raises on purpose."""


class UserError(SdgError, ValueError):
    """Input or settings the user must change; the message says what and how."""


class MissingInputError(UserError, FileNotFoundError):
    """A file or folder the command reads does not exist (or lacks what it must hold)."""


class ManifestError(UserError):
    """The multi-document manifest cannot be used; the message says why."""


class GroupsError(UserError):
    """A groups file (``groups_json``) is malformed or names a document ambiguously."""


class OutputExists(UserError):
    """The output folder already holds a run; the caller must choose resume or overwrite."""


class ResumeMismatch(UserError):
    """Resume was asked for, but the earlier run used different settings."""


class ExportFolderError(UserError):
    """The folder is not a complete ``sdg-program convert`` output."""


class BeirFormatError(UserError):
    """The folder is not in BEIR format; the message names the file and what is wrong."""


class RunAborted(SdgError):
    """Too many rows failed (``max_failure_rate``): the run stopped and can be resumed."""

    def __init__(self, message: str, stats: Any = None):
        super().__init__(message)
        self.stats = stats


class RowFailed(SdgError):
    """The row cannot become a record (no QA pair, or the endpoint kept failing); it goes to failures.jsonl."""

    def __init__(self, message: str, errors: list[dict[str, Any]], faults: dict[str, Any] | None = None):
        super().__init__(message)
        self.errors = errors
        self.faults = faults or {}


class EndpointFailed(SdgError):
    """An LM call still failed after every retry the policy allows (endpoint down, or over its limits).

    The row cannot be finished honestly (a missing judge or a skipped window would be silent
    gaps), so it fails as a whole and resume tries it again later.
    """

    def __init__(self, role: str, kind: str, error: BaseException, attempts: int):
        super().__init__(f"endpoint {kind} after {attempts} tries ({role}): {type(error).__name__}: {str(error)[:200]}")
        self.role = role
        self.kind = kind
        self.attempts = attempts


class HubError(SdgError, RuntimeError):
    """Pushing failed; the message is safe to print (no token)."""


class NoTokenError(HubError):
    """No Hugging Face token was found."""


class RetrieverError(SdgError, RuntimeError):
    """A retriever could not be loaded or run."""


class ModelUnavailableError(UserError):
    """A model named by the user cannot be loaded offline (not a folder, not in the local Hugging Face cache)."""
