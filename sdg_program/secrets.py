"""Keep credentials out of everything we print or write.

Keys and tokens come from the environment only; they are never fields of a config.
Still, a user may paste one into a YAML file or an URL, so every config that is
printed or persisted goes through :func:`redact`, and free text (error messages,
logs) through :func:`scrub`.
"""

from __future__ import annotations

import os
import re
from typing import Any

REDACTED = "<redacted>"
_SECRET_KEY = re.compile(r"(?:^|_)(?:api_?key|token|password|secret|authorization|credentials?)$", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"\b(?:sk-[A-Za-z0-9_\-]{8,}|hf_[A-Za-z0-9]{8,}|nvapi-[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9._\-]{8,})")
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s:]+:[^/@\s]+@")
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
    text = _SECRET_VALUE.sub(REDACTED, text)
    text = _URL_CREDENTIALS.sub(REDACTED + "@", text)
    for secret in _secret_values_from_environment():
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
