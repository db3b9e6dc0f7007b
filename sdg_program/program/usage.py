"""Calls and tokens per role, and faults, for one row: what a record's ``lm_usage`` and ``faults`` hold."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sdg_program.backends.faults import FaultTally

ROLES = ("extract", "generate", "judge")


@dataclass
class RoleUsage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            self.calls += 1
            self.prompt_tokens += int(entry.get("prompt_tokens") or 0)
            self.completion_tokens += int(entry.get("completion_tokens") or 0)


@dataclass
class RowUsage:
    roles: dict[str, RoleUsage] = field(default_factory=lambda: {role: RoleUsage() for role in ROLES})
    faults: FaultTally = field(default_factory=FaultTally)

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {role: vars(usage).copy() for role, usage in self.roles.items()}
