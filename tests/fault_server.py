"""A fault-injecting OpenAI-compatible server for tests and benchmarks (127.0.0.1 only).

    plan = FaultPlan.spread(0.3, seed=1)               # 30% of requests fail, spread over every kind
    with FaultServer(plan) as server:                   # an OpenAIStub whose reply injects the faults
        ... --lm openai/stub --api-base {server.base_url} --structured-output json_schema ...
    server.injected                                     # Counter of what was injected, by fault kind

Which request gets which fault is drawn from ``random.Random(f"{seed}:{request index}")``, so a
plan is reproducible. The kinds are named as ``sdg_program.backends.faults.FAULT_KINDS`` names them, so a
run's summary can be compared with what the server did:

- ``rate_limited``: 429 with ``Retry-After`` (``plan.retry_after`` seconds);
- ``server_error``: 500; ``unavailable``: 503;
- ``timeout``: a valid reply sent only after ``plan.stall_seconds`` (longer than the client's timeout);
- ``truncated_json``: the valid JSON cut in half, ``finish_reason: length``;
- ``schema_violation``: JSON of the wrong shape for the signature asked;
- ``empty_reply``: 200 with empty content.

Requests that get no fault are answered by ``valid_reply`` (valid output for every signature).
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from dataclasses import dataclass, field

from tests.openai_stub import OpenAIStub, StubRequest, StubResponse, completion, error, valid_output, valid_reply

FAULT_SERVER_KINDS = ("rate_limited", "server_error", "unavailable", "timeout", "truncated_json", "schema_violation", "empty_reply")


@dataclass
class FaultPlan:
    """Probability of each fault kind per request (they add up to the total fault rate)."""

    rates: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    retry_after: float = 1.0
    stall_seconds: float = 2.0

    @classmethod
    def spread(cls, total: float, *, seed: int = 0, kinds: tuple[str, ...] = FAULT_SERVER_KINDS, **options) -> FaultPlan:
        """``total`` fault rate split evenly over ``kinds``."""
        return cls(rates={kind: total / len(kinds) for kind in kinds}, seed=seed, **options)

    @classmethod
    def down(cls, kind: str = "unavailable", **options) -> FaultPlan:
        """Every request fails with ``kind``: the endpoint is down."""
        return cls(rates={kind: 1.0}, **options)

    def draw(self, index: int) -> str | None:
        unknown = set(self.rates) - set(FAULT_SERVER_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}")
        point = random.Random(f"{self.seed}:{index}").random()
        edge = 0.0
        for kind in FAULT_SERVER_KINDS:
            edge += self.rates.get(kind, 0.0)
            if point < edge:
                return kind
        return None


class FaultyReply:
    """A stub reply function that injects ``plan``'s faults and counts them."""

    def __init__(self, plan: FaultPlan):
        self.plan = plan
        self.injected: Counter = Counter()
        self._lock = threading.Lock()

    def __call__(self, request: StubRequest) -> StubResponse | dict:
        kind = self.plan.draw(request.index)
        if kind is None:
            return valid_reply(request)
        with self._lock:
            self.injected[kind] += 1
        return fault_response(kind, request, self.plan)


def fault_response(kind: str, request: StubRequest, plan: FaultPlan) -> StubResponse | dict:
    if kind == "rate_limited":
        return error(429, "Rate limit reached for requests", retry_after=_header_seconds(plan.retry_after), kind="rate_limit_error")
    if kind == "server_error":
        return error(500, "The server had an error while processing your request")
    if kind == "unavailable":
        return error(503, "The engine is currently overloaded, please try again later", kind="service_unavailable")
    if kind == "timeout":
        return StubResponse(body=valid_reply(request), delay=plan.stall_seconds)
    if kind == "truncated_json":
        text = json.dumps(valid_output(request))
        return completion(text[: max(1, len(text) // 2)], request=request, finish_reason="length")
    if kind == "schema_violation":
        name = request.output_field or "result"
        return completion(json.dumps({name: {"unexpected": [1, 2, 3]}}), request=request)
    if kind == "empty_reply":
        return completion("", request=request)
    raise ValueError(f"unknown fault kind {kind!r}")


def _header_seconds(seconds: float) -> float | int:
    """Retry-After as servers send it: whole seconds when whole ("1", not "1.0")."""
    return int(seconds) if float(seconds).is_integer() else seconds


class FaultServer(OpenAIStub):
    """An ``OpenAIStub`` answering with ``FaultyReply(plan)``; ``injected`` counts the faults sent."""

    def __init__(self, plan: FaultPlan, *, delay: float = 0.0, keep_requests: bool = True):
        self.faulty = FaultyReply(plan)
        super().__init__(reply=self.faulty, delay=delay, keep_requests=keep_requests)

    @property
    def injected(self) -> Counter:
        return self.faulty.injected

    def set_plan(self, plan: FaultPlan) -> None:
        """Change what the server does from the next request on (e.g. the endpoint comes back)."""
        self.faulty.plan = plan
