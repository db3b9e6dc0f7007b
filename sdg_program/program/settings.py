"""What the program asks for per row (or per window of a long row) and how it checks its pairs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# What the program sends and records beyond its signatures (which the resume fingerprint hashes
# itself). Bump it when prompts or record contents change with the signatures unchanged, so that
# --resume refuses to mix rows of two revisions. 2: endpoints get the compact prompt
# (backends/compact_adapter.py); the judge grades only the pairs convert may keep. 3: extract auto is
# inline for the window strategy (one generate call writes the artifacts, then the pairs).
PROGRAM_REVISION = 3

QUERY_TYPES = ("multi_hop", "structural", "contextual")
REASONING_TYPES = ("factual", "relational", "inferential", "temporal", "procedural", "causal", "visual")
# Text corpora get no `visual` questions unless asked for (the reference always asks for one).
DEFAULT_REASONING_ORDER = ("factual", "relational", "inferential", "procedural", "causal", "temporal")
_DEFAULT_QUERY_WEIGHTS = {"multi_hop": 3, "structural": 2, "contextual": 2}


def split_by_weights(total: int, weights: dict[str, int]) -> dict[str, int]:
    """Largest-remainder split of ``total`` in proportion to ``weights`` (ties by key order)."""
    weight_sum = sum(weights.values())
    exact = {key: total * weight / weight_sum for key, weight in weights.items()}
    counts = {key: int(value) for key, value in exact.items()}
    leftovers = sorted(weights, key=lambda key: (-(exact[key] - counts[key]), list(weights).index(key)))
    for key in leftovers[: total - sum(counts.values())]:
        counts[key] += 1
    return counts


def default_query_counts(num_pairs: int) -> dict[str, int]:
    """3:2:2 multi_hop:structural:contextual, scaled to ``num_pairs`` (7 gives 3, 2, 2)."""
    return split_by_weights(num_pairs, _DEFAULT_QUERY_WEIGHTS)


def default_reasoning_counts(num_pairs: int) -> dict[str, int]:
    """Round-robin over the six text reasoning types; ``visual`` only when asked for."""
    counts = {key: 0 for key in REASONING_TYPES}
    for index in range(num_pairs):
        counts[DEFAULT_REASONING_ORDER[index % len(DEFAULT_REASONING_ORDER)]] += 1
    return counts


ExtractMode = Literal["separate", "inline", "none"]


def extract_mode(mode: str, strategy: str, *, compiled: bool = False, in_process: bool = False) -> ExtractMode:
    """How artifacts are extracted for ``GenerationSettings.extract`` == ``mode``.

    ``separate``: an extract call per window, before the generate call. ``inline``: the window's
    generate call writes the artifacts first, then the pairs (ExtractAndGenerateQAPairs), so the
    document is read once; on the cost bench that was a third of a row's prompt tokens. ``none``.
    ``on`` is separate; ``inline`` is inline for the window strategy and separate for the segment
    strategy (its calls read one fact, not the window). ``auto``: the segment strategy does not read
    artifacts, so none; the window strategy inline, or separate when ``compiled`` (a loaded program
    optimized extract or generate: its demos and instructions are for separate calls, and the
    inline call would send neither) or ``in_process`` (the embedded model decodes under a grammar
    in a small context: two short replies fit it better than one long one).

    The one rule behind ``RetrievalSDG`` (per row) and ``runner.estimate`` (``generate --dry-run``).
    """
    if mode == "off":
        return "none"
    if mode == "on":
        return "separate"
    if strategy != "window":
        return "separate" if mode == "inline" else "none"
    if mode == "inline":
        return "inline"
    return "separate" if compiled or in_process else "inline"


def judge_runs(mode: str, self_judging: bool, embedded_default: bool) -> bool:
    """Whether the judge runs for ``GenerationSettings.judge`` == ``mode``: ``on``/``off`` say so;
    ``auto`` is off only when the embedded default model would grade its own pairs (SmolLM2-135M's
    scores carried no signal, and judging cost more tokens than writing the pairs).

    The one rule behind ``RetrievalSDG.judges`` (asked of the built LMs) and
    ``GenerateConfig.judge_runs`` (asked of the config, before any model is loaded).
    """
    if mode != "auto":
        return mode == "on"
    return not (self_judging and embedded_default)


class GenerationSettings(BaseModel):
    """What the program asks for per row (or per window of a long row) and how it checks it."""

    model_config = ConfigDict(extra="forbid")

    num_pairs: int = Field(7, ge=1, le=20, description="QA pairs requested per window of a row")
    query_counts: dict[str, int] | None = Field(None, description="Pairs per query type; must sum to num_pairs")
    reasoning_counts: dict[str, int] | None = Field(None, description="Pairs per reasoning type; must sum to num_pairs")
    min_hops: int = Field(1, ge=1)
    max_hops: int = Field(3, ge=1, le=5)
    min_complexity: int = Field(2, ge=1, le=5)
    similarity_threshold: float = Field(0.9, ge=0.0, le=1.0)
    max_artifacts_per_type: int = Field(2, ge=1, le=5)
    min_answer_support: float = Field(0.5, ge=0.0, le=1.0)
    max_retries: int = Field(2, ge=0, le=10, description="Re-asks after malformed LLM output, per call")
    window_chars: int | None = Field(None, ge=500, description="Segment characters per generation window; default from the LM's context")
    strategy: Literal["auto", "window", "segment"] = Field(
        "auto",
        description="window: one generate call per window writes every pair (single- and multi-hop); "
        "segment: one short call per chosen segment writes one single-hop pair; auto: segment for the embedded model, window otherwise",
    )
    segment_attempts: int = Field(4, ge=1, le=10, description="segment strategy: candidates per segment until one passes validation")
    extract: Literal["auto", "inline", "on", "off"] = Field(
        "auto",
        description="Artifact extraction: on = a separate extract call per window; inline = the generate call writes the artifacts, then the pairs "
        "(the document is read once); off; auto = inline for the window strategy with an endpoint (separate for the in-process model "
        "or when a compiled program optimized extract or generate), "
        "off for the segment strategy, which does not read them",
    )
    judge: Literal["auto", "on", "off"] = Field(
        "auto",
        description="LLM judge: on, off, or auto = off when the judge would be the embedded default model grading its own pairs "
        "(its scores carried no signal); convert then keeps pairs on the deterministic checks and the retrieval round trip",
    )

    @model_validator(mode="after")
    def _fill_and_check_counts(self) -> "GenerationSettings":
        if self.min_hops > self.max_hops:
            raise ValueError(f"min_hops ({self.min_hops}) must be <= max_hops ({self.max_hops})")
        if self.query_counts is None:
            self.query_counts = default_query_counts(self.num_pairs)
        if self.reasoning_counts is None:
            self.reasoning_counts = default_reasoning_counts(self.num_pairs)
        for name, counts, allowed in (
            ("query_counts", self.query_counts, QUERY_TYPES),
            ("reasoning_counts", self.reasoning_counts, REASONING_TYPES),
        ):
            unknown = sorted(set(counts) - set(allowed))
            if unknown:
                raise ValueError(f"{name}: unknown keys {unknown}; allowed: {', '.join(allowed)}")
            if any(value < 0 for value in counts.values()):
                raise ValueError(f"{name}: counts must be >= 0")
            if sum(counts.values()) != self.num_pairs:
                raise ValueError(f"{name} sum to {sum(counts.values())}, but num_pairs is {self.num_pairs}")
            for key in allowed:
                counts.setdefault(key, 0)
        return self
