"""A run's counts: rows, pairs, rejection reasons, judge scores, tokens and faults."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sdg_program.backends.faults import FaultTally
from sdg_program.core.records import FailedRow, GeneratedRecord
from sdg_program.program.usage import ROLES


@dataclass
class RunStats:
    """Counts for the progress bar, the summary and run.json."""

    rows_total: int = 0
    rows_done: int = 0
    rows_failed: int = 0
    rows_resumed: int = 0
    pairs_generated: int = 0
    pairs_after_dedup: int = 0
    pairs_valid: int = 0
    pairs_judged: int = 0
    judge_scores: list[float] = field(default_factory=list)
    rejection_reasons: Counter = field(default_factory=Counter)
    normalizations: Counter = field(default_factory=Counter)
    failure_reasons: Counter = field(default_factory=Counter)
    usage: dict[str, dict[str, int]] = field(default_factory=lambda: {role: {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0} for role in ROLES})
    faults: FaultTally = field(default_factory=FaultTally)
    seconds: float = 0.0
    aborted: str | None = None

    def add_record(self, record: GeneratedRecord) -> None:
        self.rows_done += 1
        self.pairs_generated += len(record.qa_generation["pairs"])
        self.pairs_after_dedup += len(record.deduplicated_qa_pairs)
        for validation in record.qa_validations:
            if validation["valid"]:
                self.pairs_valid += 1
            self.rejection_reasons.update(validation["reasons"])
            self.normalizations.update(validation.get("normalizations") or [])
        for evaluation in record.qa_evaluations["evaluations"]:
            self.pairs_judged += 1
            self.judge_scores.append(float(evaluation["overall"]["score"]))
        self.add_usage(record.lm_usage)
        self.faults.add(record.faults)

    def add_failure(self, failure: FailedRow) -> None:
        self.rows_failed += 1
        self.failure_reasons[failure_reason_code(failure.reason)] += 1
        self.faults.add(failure.faults)

    def add_usage(self, usage: dict[str, dict[str, int]]) -> None:
        for role, counts in usage.items():
            for key, value in counts.items():
                self.usage.setdefault(role, {}).setdefault(key, 0)
                self.usage[role][key] += value

    def tokens(self) -> int:
        return sum(counts.get("prompt_tokens", 0) + counts.get("completion_tokens", 0) for counts in self.usage.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_total": self.rows_total,
            "rows_done": self.rows_done,
            "rows_failed": self.rows_failed,
            "rows_resumed": self.rows_resumed,
            "pairs_generated": self.pairs_generated,
            "pairs_after_dedup": self.pairs_after_dedup,
            "pairs_removed_as_duplicates": self.pairs_generated - self.pairs_after_dedup,
            "pairs_valid": self.pairs_valid,
            "pairs_judged": self.pairs_judged,
            "judge_overall_mean": round(sum(self.judge_scores) / len(self.judge_scores), 3) if self.judge_scores else None,
            "rejection_reasons": dict(self.rejection_reasons.most_common()),
            "normalizations": dict(self.normalizations.most_common()),
            "failure_reasons": dict(self.failure_reasons.most_common()),
            "lm_usage": self.usage,
            "faults": self.faults.as_dict(),
            "wall_seconds": round(self.seconds, 2),
            "aborted": self.aborted,
        }


def failure_reason_code(reason: str) -> str:
    """The counted part of a failure reason: its text up to the first colon (e.g. "endpoint timeout after 6 tries (judge)")."""
    return reason.split(":")[0][:80]
