"""Endpoint faults: what kind a failed LM call was, how long to wait before the next try, and counts.

A run against a paid endpoint meets rate limits, overloaded servers, timeouts and replies that
are not the JSON asked for. Each needs a different answer: transient transport faults are
retried with backoff (the server's Retry-After first), malformed replies are re-asked with a
fresh rollout, and a row whose calls keep failing goes to ``failures.jsonl`` to be retried by
``--resume``. Every fault is counted by kind, per row and for the run, so a summary can say what
the endpoint did and how much time waiting cost.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from dspy.utils.exceptions import AdapterParseError, is_retryable_lm_error

# Stable codes, in the order summaries list them.
FAULT_KINDS: tuple[str, ...] = (
    "rate_limited",  # HTTP 429
    "unavailable",  # HTTP 503
    "server_error",  # other HTTP 5xx
    "timeout",  # no reply within --timeout
    "connection",  # refused, reset, DNS: the request did not get an HTTP answer
    "empty_reply",  # HTTP 200 with no content
    "truncated_json",  # a JSON object cut off (max_tokens, a dropped stream, a broken proxy)
    "invalid_json",  # content that is not JSON at all
    "schema_violation",  # valid JSON of the wrong shape or types
    "context_overflow",  # the prompt does not fit the model: not retried
    "other",
)
TRANSIENT_KINDS = frozenset({"rate_limited", "unavailable", "server_error", "timeout", "connection"})
# A Retry-After longer than this is taken as "the endpoint is down": waiting it out would stall a
# worker for longer than the run is likely worth, so the call fails and the row can be resumed later.
MAX_RETRY_AFTER_SECONDS = 600.0


def classify(error: BaseException) -> str:
    """The fault kind of an exception raised by an LM call (a code from ``FAULT_KINDS``)."""
    name = type(error).__name__
    text = str(error).lower()
    if "ContextWindow" in name or "context window" in text or "context length" in text:
        return "context_overflow"
    if isinstance(error, AdapterParseError):
        return _malformed_kind(getattr(error, "lm_response", None))
    status = getattr(error, "status", None) or getattr(error, "status_code", None)
    if status == 429 or "RateLimit" in name:
        return "rate_limited"
    if status == 503 or "ServiceUnavailable" in name:
        return "unavailable"
    if isinstance(status, int) and 500 <= status < 600:
        return "server_error"
    if "Timeout" in name or "timed out" in text or "timeout" in text:
        return "timeout"
    if is_retryable_lm_error(error) or "Connection" in name or "connection" in text:
        return "connection"
    return "other"


def _malformed_kind(reply: Any) -> str:
    """Why a reply could not be parsed: nothing, a cut-off object, not JSON, or the wrong shape."""
    text = reply if isinstance(reply, str) else ""
    stripped = text.strip()
    if not stripped:
        return "empty_reply"
    body = without_fence(stripped)
    try:
        json.loads(body)
    except json.JSONDecodeError:
        return "truncated_json" if is_cut_off_json(body) else "invalid_json"
    return "schema_violation"


def is_cut_off_json(text: str) -> bool:
    """True if ``text`` starts a JSON object or array and ends inside it (an open string or bracket).

    Replies cut by max_tokens or a dropped connection look like this; prose or a closed but
    broken object does not.
    """
    if text[:1] not in "{[":
        return False
    closing = {"{": "}", "[": "]"}
    stack: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in closing:
            stack.append(closing[char])
        elif char in "}]":
            if not stack or stack.pop() != char:
                return False
            if not stack:
                return False  # the top-level value closed: whatever follows is not a cut-off
    return in_string or bool(stack)


def without_fence(text: str) -> str:
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        if text.rstrip().endswith("```"):
            text = text.rstrip()[:-3]
    return text.strip()


def retry_after_seconds(error: BaseException) -> float | None:
    """The server's Retry-After hint (DSPy parses the header into ``error.retry_after``), if any."""
    value = getattr(error, "retry_after", None)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 and seconds == seconds and seconds != float("inf") else None


@dataclass(frozen=True)
class RetryPolicy:
    """How transient endpoint faults are retried: ``retries`` more tries, exponential backoff with jitter.

    The wait before try ``n + 1`` is the server's Retry-After when it sent one (it knows when it
    will have capacity again), otherwise ``base_delay * 2**n`` capped at ``max_delay``, with up to
    ``jitter`` of it added at random so that many workers hit by the same outage do not come back
    in lockstep.
    """

    retries: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.25

    def delay(self, error: BaseException, attempt: int, rng: random.Random | None = None) -> float | None:
        """Seconds to wait before retrying after ``error`` on try ``attempt`` (0-based); None: give up."""
        if attempt >= self.retries:
            return None
        hint = retry_after_seconds(error)
        if hint is not None:
            return None if hint > MAX_RETRY_AFTER_SECONDS else hint
        backoff = min(self.max_delay, self.base_delay * (2**attempt))
        return backoff * (1.0 + self.jitter * (rng or random).random())


@dataclass
class FaultTally:
    """Faults seen, retries made and seconds spent waiting, for one row or a whole run."""

    counts: Counter = field(default_factory=Counter)
    retries: int = 0
    backoff_seconds: float = 0.0

    def record(self, kind: str) -> None:
        self.counts[kind] += 1

    def waited(self, seconds: float) -> None:
        self.retries += 1
        self.backoff_seconds += seconds

    def add(self, other: "FaultTally | dict[str, Any] | None") -> None:
        if not other:
            return
        if isinstance(other, dict):
            other = FaultTally.from_dict(other)
        self.counts.update(other.counts)
        self.retries += other.retries
        self.backoff_seconds += other.backoff_seconds

    def as_dict(self) -> dict[str, Any]:
        ordered = {kind: self.counts[kind] for kind in FAULT_KINDS if self.counts.get(kind)}
        ordered.update({kind: count for kind, count in self.counts.items() if kind not in ordered and count})
        return {"by_kind": ordered, "retries": self.retries, "backoff_seconds": round(self.backoff_seconds, 3)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FaultTally":
        return cls(Counter(data.get("by_kind") or {}), int(data.get("retries") or 0), float(data.get("backoff_seconds") or 0.0))

    def __bool__(self) -> bool:
        return bool(self.counts) or self.retries > 0


class Waiter:
    """Sleeps between retries, and wakes every sleeper at once when the run is stopped.

    When ``--max-failure-rate`` aborts a run, rows in flight must not sit out their backoff
    (or keep paying for retries): ``stop()`` makes every current and later ``wait`` return False.
    A deep copy (DSPy copies modules) gets a fresh, running waiter.
    """

    def __init__(self) -> None:
        self._stopped = threading.Event()

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds``; False if the run was stopped before or during the wait."""
        if seconds > 0:
            return not self._stopped.wait(seconds)
        return not self._stopped.is_set()

    def stop(self) -> None:
        self._stopped.set()

    def __deepcopy__(self, memo) -> "Waiter":
        return type(self)()
