"""What a generate run would cost before anything is spent: ``sdg-program generate --dry-run``.

``estimate_run(config)`` chunks the documents (``iter_seed_rows``, as the run does), cuts each row
into the windows the program would cut (``make_windows`` with ``window_chars_for``'s size for the
model, no model loaded) and counts the calls the program's rules make per stage:

- window strategy: per window one extract call (when extraction is a call of its own), one generate
  call (which writes the artifacts too when extraction is inline), and ``ceil(num_pairs / MAX_PAIRS)``
  judge calls (when the judge runs);
- segment strategy (the embedded default): per window one generate call per segment worth a
  question (``pick_segments``), up to ``segment_attempts`` per segment on re-tries.

A call's prompt is the message text the role's adapter builds (``CompactJSONAdapter`` for endpoints,
DSPy's JSONAdapter for in-process models, the plain prompt for grammar-decoded segment calls) with
the window's text in it, placeholders for the artifacts (~60 characters a pair) and the judged pairs
(~250 characters a pair), the loaded program's demos, and the compact ``response_format`` schema when
the endpoint is sent one. Tokens are characters / 4. Re-asks, retries and completion tokens are not
counted. Prices come from LiteLLM's bundled cost map (no network); in-process models cost 0.
"""

from __future__ import annotations

import functools
import json
import math
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel, computed_field

from sdg_program.backends.defaults import DEFAULT_MAX_TOKENS
from sdg_program.ingest.chunking import ChunkingReport, iter_seed_rows
from sdg_program.runner.config import GenerateConfig

CHARS_PER_TOKEN = 4
ARTIFACT_CHARS_PER_PAIR = 60  # rendered artifacts the generate call reads, per requested pair
JUDGE_CHARS_PER_PAIR = 250  # a pair rendered for the judge
EMBEDDED_CONTEXT_TOKENS = 8192  # local_lm.DEFAULT_N_CTX: the in-process model's context (endpoints: windows.DEFAULT_WINDOW_CHARS)
STAGES = ("extract", "generate", "judge")


class StageEstimate(BaseModel):
    """One stage's expected calls and prompt size over the run."""

    stage: str
    model: str
    calls: int = 0
    prompt_chars: int = 0

    @computed_field
    @property
    def prompt_tokens(self) -> int:
        return math.ceil(self.prompt_chars / CHARS_PER_TOKEN)


class ModelCost(BaseModel):
    """A model's share of the run: prompt tokens, and their price when LiteLLM's cost map knows the model."""

    model: str
    prompt_tokens: int
    in_process: bool = False
    input_cost_per_token: float | None = None  # USD; None: price unknown

    @computed_field
    @property
    def input_cost_usd(self) -> float | None:
        if self.in_process:
            return 0.0
        return None if self.input_cost_per_token is None else self.prompt_tokens * self.input_cost_per_token


class RunEstimate(BaseModel):
    """Expected LLM calls, prompt tokens and input cost of a generate run."""

    rows: int
    windows: int
    strategy: str
    stages: list[StageEstimate]
    costs: list[ModelCost]
    segment_attempts: int | None = None  # segment strategy: generate calls may grow to this many per segment
    max_tokens: int = DEFAULT_MAX_TOKENS

    @computed_field
    @property
    def calls(self) -> int:
        return sum(stage.calls for stage in self.stages)

    @computed_field
    @property
    def prompt_tokens(self) -> int:
        return sum(stage.prompt_tokens for stage in self.stages)

    @computed_field
    @property
    def input_cost_usd(self) -> float | None:
        """The run's input cost; None when any model's price is unknown."""
        costs = [cost.input_cost_usd for cost in self.costs]
        return None if any(cost is None for cost in costs) else sum(costs)


def is_in_process(spec: str) -> bool:
    """``local`` or ``local:PATH``: a model run in this process (``backends.factory.is_local_spec``)."""
    from sdg_program.backends.factory import is_local_spec

    return is_local_spec(spec.strip())


def stand_in_lm(config: GenerateConfig) -> Any:
    """What ``window_chars_for``, ``strategy_for`` and ``fit_window_to_demos`` read of the generating LM, without loading it."""
    lm = SimpleNamespace(kwargs={"max_tokens": config.max_tokens}, is_embedded_default=config.lm.strip() == "local")
    if is_in_process(config.lm):
        lm.context_window = EMBEDDED_CONTEXT_TOKENS
    return lm


def sends_schema(spec: str, structured_output: str) -> bool:
    """Whether an endpoint's requests carry a JSON schema in ``response_format`` (prompt tokens too)."""
    if is_in_process(spec):
        return False  # the grammar is built in process, not sent as prompt
    if structured_output in ("json_schema", "json_object_schema"):
        return True
    if structured_output == "json_object":
        return False
    import litellm  # auto: what LiteLLM's bundled tables say of the model (DSPy asks the same question)

    try:
        return bool(litellm.supports_response_schema(model=spec.strip()))
    except Exception:
        return False


def input_cost_per_token(model: str) -> float | None:
    """USD per prompt token from LiteLLM's bundled cost map (the full string, then without the provider prefix)."""
    import litellm  # imported here: only a dry run needs the price list

    for name in (model.strip(), model.strip().partition("/")[2]):
        price = (litellm.model_cost.get(name) or {}).get("input_cost_per_token") if name else None
        if isinstance(price, (int, float)):
            return float(price)
    return None


def _message_chars(adapter: Any, signature: Any, inputs: dict[str, Any], demos: list[Any]) -> int:
    messages = adapter.format(signature, demos, inputs)
    # As a provider bills them, roughly: every message's text, one separator between messages.
    return sum(len(str(message.get("content") or "")) for message in messages) + len(messages) - 1


def _schema_chars(signature: Any) -> int:
    from dspy.adapters.json_adapter import _get_structured_outputs_response_format

    from sdg_program.backends.schema_outline import compact_schema

    return len(json.dumps(compact_schema(_get_structured_outputs_response_format(signature).model_json_schema())))


def estimate_run(config: GenerateConfig) -> RunEstimate:
    """The run's expected calls and prompt tokens per stage, and input cost per model (see the module docstring)."""
    from sdg_program.backends.adapters import CachedJSONAdapter, PlainPromptAdapter
    from sdg_program.backends.compact_adapter import CompactJSONAdapter
    from sdg_program.program.compiled import fit_window_to_demos, resolve_program
    from sdg_program.program.retrieval_sdg import RetrievalSDG
    from sdg_program.program.settings import extract_mode
    from sdg_program.program.strategies import fact_sentences, pick_segments, strategy_for
    from sdg_program.program.windows import make_windows, window_chars_for
    from signatures import MAX_PAIRS, NO_ARTIFACTS, ExtractAndGenerateQAPairs, ExtractArtifacts, GenerateQAPairs, JudgeQAPairs, WriteSegmentQA
    from signatures.narrow import narrow_artifacts, narrow_evaluations, narrow_qa_pairs

    settings = config.generation
    lm = stand_in_lm(config)
    judge_model = config.judge_lm or config.lm
    # The program's prompts as the run loads them: its demos are in every call, and shrink the window.
    program = RetrievalSDG(settings)
    program_path = resolve_program(config.program, config.lm)
    if program_path is not None:
        program.load(str(program_path))
        fit_window_to_demos(program, lm)
    settings = program.settings
    strategy = strategy_for(lm, settings)
    extraction = extract_mode(settings.extract, strategy, compiled=program.extraction_is_compiled(), in_process=is_in_process(config.lm))
    judges = config.judge_runs
    window_chars = window_chars_for(lm, settings)

    def adapter_for(model: str) -> Any:
        return CachedJSONAdapter() if is_in_process(model) else CompactJSONAdapter()

    # Endpoints declared to decode under the schema get it narrowed per call (segment IDs, list sizes), as RetrievalSDG._call does.
    narrows = config.structured_output in ("json_schema", "json_object_schema")

    def wire_signature(signature: Any, narrowed: tuple[tuple[str, Any], ...]) -> Any:
        """The signature whose schema goes on the wire: narrowed as the program narrows it, when the endpoint decodes under it."""
        for name, type_ in narrowed if narrows else ():
            signature = signature.with_updated_fields(name, type_=type_)
        return signature

    def fixed_chars(model: str, predictor: Any, signature: Any, inputs: dict[str, Any], adapter: Any = None, narrowed: tuple[tuple[str, Any], ...] = ()) -> int:
        """A call's prompt characters with its variable inputs empty: system text, field headers, demos, schema."""
        chars = _message_chars(adapter or adapter_for(model), signature, inputs, predictor.demos)
        if not sends_schema(model, config.structured_output):
            return chars
        return chars + _schema_chars(wire_signature(signature, narrowed))

    counts = {"max_artifacts_per_type": settings.max_artifacts_per_type}
    generate_inputs = {"num_pairs": settings.num_pairs, "query_counts": settings.query_counts, "reasoning_counts": settings.reasoning_counts,
                       "min_hops": settings.min_hops, "max_hops": settings.max_hops, "min_complexity": settings.min_complexity}
    artifacts_narrowed = (("artifacts", narrow_artifacts(settings.max_artifacts_per_type)),)
    judge_batches = math.ceil(settings.num_pairs / MAX_PAIRS)
    fixed = {
        "extract": fixed_chars(config.lm, program.extract, ExtractArtifacts, {"document": "", **counts}, narrowed=artifacts_narrowed),
        "judge": fixed_chars(judge_model, program.judge, JudgeQAPairs, {"segments": "", "qa_pairs": ""},
                             narrowed=(("evaluations", narrow_evaluations(min(settings.num_pairs, MAX_PAIRS))),)),
    }
    # The generate call as the program sends it: one segment's fact (segment strategy), or the window with its artifacts
    # read (rendered, ~60 characters a pair when extract ran, the placeholder when not) or written (inline, narrowed per call).
    generate_schema = 0
    if strategy == "segment":
        grammar = is_in_process(config.lm) or narrows
        adapter = PlainPromptAdapter() if grammar else CachedJSONAdapter()
        fixed["generate"] = fixed_chars(config.lm, program.write_segment_qa, WriteSegmentQA, {"fact": ""}, adapter)
    else:
        if extraction == "inline":
            generate_signature, generate_narrowed, artifact_chars = ExtractAndGenerateQAPairs, artifacts_narrowed, 0
            generate_fixed_inputs = {"segments": "", **counts, **generate_inputs}
        else:
            generate_signature, generate_narrowed = GenerateQAPairs, ()
            artifact_chars = settings.num_pairs * ARTIFACT_CHARS_PER_PAIR if extraction == "separate" else len(NO_ARTIFACTS)
            generate_fixed_inputs = {"segments": "", "artifacts": "", **generate_inputs}
        fixed["generate"] = fixed_chars(config.lm, program.generate, generate_signature, generate_fixed_inputs, narrowed=generate_narrowed)
        generate_wire = wire_signature(generate_signature, generate_narrowed)
        generate_schema = _schema_chars(generate_wire) if sends_schema(config.lm, config.structured_output) else 0

    @functools.lru_cache(maxsize=1024)
    def window_schema_extra(segment_ids: tuple[int, ...]) -> int:
        """What the generate call's schema narrowed to the window's segment IDs adds to the base one."""
        if not generate_schema or not narrows:
            return 0
        narrowed = generate_wire.with_updated_fields("qa_pairs", type_=narrow_qa_pairs(list(segment_ids), max_pairs=settings.num_pairs, max_hops=settings.max_hops))
        return _schema_chars(narrowed) - generate_schema

    stages = {stage: StageEstimate(stage=stage, model=judge_model if stage == "judge" else config.lm) for stage in STAGES}

    def add(stage: str, calls: int, variable_chars: int) -> None:
        stages[stage].calls += calls
        stages[stage].prompt_chars += calls * fixed[stage] + variable_chars

    rows = windows = 0
    for index, row in enumerate(iter_seed_rows(config.chunking, ChunkingReport(), exclude_dirs=(config.output_dir,))):
        if config.num_records is not None and index >= config.num_records:
            break
        rows += 1
        texts = {chunk.chunk_id: chunk.text for chunk in row.chunks}
        for window in make_windows(row.sections_structured, window_chars):
            windows += 1
            if strategy == "segment":
                facts = {segment: fact_sentences(texts[segment]) for segment in window.segment_ids if segment in texts}
                askable = {segment: texts[segment] for segment, found in facts.items() if found}
                picked = pick_segments(window.segment_ids, askable, settings.num_pairs)
                add("generate", len(picked), sum(len(facts[segment][0]) for segment in picked))
            else:
                if extraction == "separate":
                    add("extract", 1, len(window.text))
                add("generate", 1, len(window.text) + artifact_chars + window_schema_extra(tuple(window.segment_ids)))
            if judges:
                add("judge", judge_batches, judge_batches * len(window.text) + settings.num_pairs * JUDGE_CHARS_PER_PAIR)

    used = [stage for stage in stages.values() if stage.calls]
    tokens: dict[str, int] = {}
    for stage in used:
        tokens[stage.model] = tokens.get(stage.model, 0) + stage.prompt_tokens
    costs = [
        ModelCost(model=model, prompt_tokens=count, in_process=is_in_process(model), input_cost_per_token=None if is_in_process(model) else input_cost_per_token(model))
        for model, count in tokens.items()
    ]
    return RunEstimate(rows=rows, windows=windows, strategy=strategy, stages=used, costs=costs,
                       segment_attempts=settings.segment_attempts if strategy == "segment" else None, max_tokens=config.max_tokens)


def print_estimate(estimate: RunEstimate, console: Any) -> None:
    """The estimate as a table: per stage calls and prompt tokens, per model the input cost."""
    from rich.table import Table

    table = Table(title=f"Dry run: {estimate.rows} rows, {estimate.windows} windows, {estimate.strategy} strategy")
    for column in ("Stage", "Model", "Calls", "Prompt tokens", "Input cost (USD)"):
        table.add_column(column, justify="right" if column in ("Calls", "Prompt tokens", "Input cost (USD)") else "left")
    for stage in estimate.stages:
        calls = f"{stage.calls:,}"
        if stage.stage == "generate" and estimate.segment_attempts and estimate.segment_attempts > 1:
            calls += f" (up to {stage.calls * estimate.segment_attempts:,} on re-tries)"
        table.add_row(stage.stage, stage.model, calls, f"{stage.prompt_tokens:,}", "")
    for cost in estimate.costs:
        shown = "0 (in-process)" if cost.in_process else "price unknown" if cost.input_cost_usd is None else f"${cost.input_cost_usd:,.4f}"
        table.add_row("model total", cost.model, "", f"{cost.prompt_tokens:,}", shown)
    total = estimate.input_cost_usd
    shown = "0 (in-process)" if all(cost.in_process for cost in estimate.costs) else "price unknown" if total is None else f"${total:,.4f}"
    table.add_row("total", "", f"{estimate.calls:,}", f"{estimate.prompt_tokens:,}", shown, style="bold")
    console.print(table)
    console.print(f"Prompt tokens: estimate, {CHARS_PER_TOKEN} characters per token; re-asks and retries not counted.")
    console.print(f"Completion tokens not estimated (at most --max-tokens per call: {estimate.max_tokens:,}).")
