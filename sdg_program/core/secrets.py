"""Keep credentials out of everything we print or write.

Keys and tokens come from the environment only; they are never fields of a config.
Still, a user may paste one into a YAML file or an URL, so every config that is
printed or persisted goes through :func:`redact`, and free text (error messages,
logs) through :func:`scrub`. Endpoints echo request headers back in error bodies, so
exception text can hold a key too: the CLI calls :func:`install_scrubbing` so every
log record and uncaught traceback of the process is scrubbed before it is shown.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import traceback
from types import TracebackType
from typing import Any

REDACTED = "<redacted>"
_SECRET_KEY = re.compile(r"(?:^|_)(?:api_?key|token|password|secret|authorization|credentials?)$", re.IGNORECASE)
_SECRET_VALUE = re.compile(
    r"\b(?:sk-[A-Za-z0-9_\-]{8,}|hf_[A-Za-z0-9]{8,}|nvapi-[A-Za-z0-9_\-]{8,}|gh[pousr]_[A-Za-z0-9]{16,}|AIza[A-Za-z0-9_\-]{20,}"
    r"|Bearer\s+[A-Za-z0-9._\-+/=]{8,})"
)
# user:password@ or token@ right after a scheme: everything up to the @ is a credential.
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s'\"]+@")
# user:password@host without a scheme, as HTTP clients print a host they failed to reach.
_BARE_CREDENTIALS = re.compile(r"(?<![^\s'\"(<\[=,])[^\s/@:'\"]+:[^\s/@'\"]+@(?=\w)")
# ?key=..., &api_key=..., ;token=... in a URL: the value is a credential.
_URL_SECRET_PARAMETER = re.compile(
    r"(?i)([?&;](?:api[_-]?key|apikey|key|access[_-]?token|token|auth|password|passwd|pwd|secret|client[_-]?secret|sig|signature)=)[^&#\s'\"]+"
)
_SECRET_ENV_NAMES = re.compile(r"(?:KEY|TOKEN|SECRET|PASSWORD)", re.IGNORECASE)


def redact(value: Any, key: str | None = None) -> Any:
    """Copy of ``value`` with credential-like keys replaced and secrets in strings scrubbed."""
    if isinstance(value, dict):
        return {name: (REDACTED if _SECRET_KEY.search(str(name)) and item not in (None, "") else redact(item, str(name))) for name, item in value.items()}
    if isinstance(value, list):
        return [redact(item, key) for item in value]
    if isinstance(value, str):
        return scrub(value)
    return value


def _secret_values_from_environment() -> list[str]:
    return [value for name, value in os.environ.items() if _SECRET_ENV_NAMES.search(name) and len(value) >= 8]


def scrub(text: str) -> str:
    """Remove credential-looking substrings and the values of secret environment variables."""
    # Environment values first: a pattern below could otherwise cut one in half and leave the rest.
    for secret in sorted(_secret_values_from_environment(), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _SECRET_VALUE.sub(REDACTED, text)
    text = _URL_CREDENTIALS.sub(REDACTED + "@", text)
    text = _BARE_CREDENTIALS.sub(REDACTED + "@", text)
    text = _URL_SECRET_PARAMETER.sub(lambda match: match.group(1) + REDACTED, text)
    return text


def _scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    """Format the record's message now and scrub it; pre-render and scrub its traceback."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: leave it to the handler to report
        return record
    record.msg = scrub(message)
    record.args = None
    if record.exc_info and record.exc_info[0] is not None:
        # Formatter.format uses exc_text when it is set, so the raw exception text is never rendered.
        record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
    return record


_installed = False


def install_scrubbing() -> None:
    """Scrub every log record this process creates and any uncaught exception it prints.

    A log record factory (not a handler filter) so it holds for every logger and every
    handler, including the ones each command sets up with ``logging.basicConfig(force=True)``.
    Installed once per process; later calls do nothing.
    """
    global _installed
    if _installed:
        return
    _installed = True
    make_record = logging.getLogRecordFactory()

    def scrubbing_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _scrub_record(make_record(*args, **kwargs))

    logging.setLogRecordFactory(scrubbing_factory)

    def scrubbing_excepthook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        sys.stderr.write(scrub("".join(traceback.format_exception(kind, error, trace))))

    sys.excepthook = scrubbing_excepthook
