"""`RetrievalSDG`: the one DSPy module that turns a seed row into a generated record.

extract -> generate -> validate -> dedup -> judge, per *window* of a row's sections.

Because extract, generate and judge are predictors of one module, DSPy optimizers can
tune all their prompts together and ``save`` them to one JSON file. Dedup and
validation are plain deterministic steps. Long rows are cut into windows that fit the
model's context, and each window gets its own question budget, so a long document
gets proportionally more questions instead of being silently truncated.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import dspy
import numpy as np
from dspy.utils.usage_tracker import track_usage

from sdg_program.adapter import CachedJSONAdapter, PlainPromptAdapter
from sdg_program.config import GenerationSettings
from sdg_program.dedup import deduplicate
from sdg_program.faults import TRANSIENT_KINDS, EndpointFailed, FaultTally, RetryPolicy, Waiter, classify
from sdg_program.records import SeedRow
from sdg_program.secrets import scrub
from sdg_program.validation import PairValidation, RowSegments, ValidationSettings, content_words, normalize_and_validate
from signatures import (
    ARTIFACT_TYPES,
    MAX_PAIRS,
    DocumentArtifacts,
    ExtractArtifacts,
    GenerateQAPairs,
    HopContext,
    JudgeQAPairs,
    QAEvaluation,
    QAPair,
    SegmentQA,
    WriteSegmentQA,
    match_evaluations,
    narrow_segment_qa,
    render_artifacts,
    render_pairs_for_judge,
)
from signatures.narrow import narrow_artifacts, narrow_evaluations, narrow_qa_pairs

logger = logging.getLogger(__name__)

ROLES = ("extract", "generate", "judge")
# Characters of segments per window when the LM does not say how large its context is.
DEFAULT_WINDOW_CHARS = 24_000
# Prompt tokens reserved for instructions, artifacts and field headers around the segments.
PROMPT_OVERHEAD_TOKENS = 1_500
_SEGMENT_LINE = re.compile(r"^Segment (\d+)\b")
# Segment strategy: a segment with fewer content words ("**Next:** Your first program") has no fact
# to ask about; every segment the gold set (data/gold) cites has more.
MIN_SEGMENT_CONTENT_WORDS = 8
# Temperature of the second and later candidates for a segment (the first is the LM's own setting).
CANDIDATE_TEMPERATURE = 0.8


class RowFailed(Exception):
    """The row cannot become a record (no QA pair, or the endpoint kept failing); it goes to failures.jsonl."""

    def __init__(self, message: str, errors: list[dict[str, Any]], faults: dict[str, Any] | None = None):
        super().__init__(message)
        self.errors = errors
        self.faults = faults or {}


@dataclass
class Window:
    """A slice of a row's sections that fits one prompt."""

    text: str
    segment_ids: list[int]


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


def make_windows(sections: list[str], window_chars: int) -> list[Window]:
    """Pack rendered sections into windows of at most ``window_chars`` characters.

    Sections stay whole when they fit; a larger section is cut between segment lines
    (its header repeated). A single segment line longer than the window gets a window
    of its own: chunking caps chunk size, so this only happens with tiny windows.
    """
    windows: list[Window] = []
    lines: list[str] = []
    ids: list[int] = []
    size = 0

    def flush() -> None:
        nonlocal lines, ids, size
        if ids:
            windows.append(Window(text="\n".join(lines), segment_ids=ids))
        lines, ids, size = [], [], 0

    for section in sections:
        header, *segment_lines = section.split("\n")
        if size and size + len(section) + 1 > window_chars:
            flush()
        lines.append(header)
        size += len(header) + 1
        for line in segment_lines:
            match = _SEGMENT_LINE.match(line)
            if match is None:
                continue
            if ids and size + len(line) + 1 > window_chars:
                flush()
                lines.append(header)
                size = len(header) + 1
            lines.append(line)
            ids.append(int(match.group(1)))
            size += len(line) + 1
    flush()
    return windows


def window_chars_for(lm: Any, settings: GenerationSettings) -> int:
    """Segment characters per window: the setting, or what fits the LM's context window."""
    if settings.window_chars:
        return settings.window_chars
    context = getattr(lm, "context_window", None)
    if isinstance(context, int) and context > 0:
        max_tokens = int(getattr(lm, "kwargs", {}).get("max_tokens") or 1024)
        budget_tokens = max(256, context - max_tokens - PROMPT_OVERHEAD_TOKENS)
        return max(500, budget_tokens * 3)  # ~3 characters per token for mixed prose and code
    return DEFAULT_WINDOW_CHARS


def strategy_for(lm: Any, settings: GenerationSettings) -> str:
    """The generation strategy: the setting, or for ``auto`` segment with the embedded default model.

    Only the embedded SmolLM2-135M is known to fail the window task (0 valid pairs on the sample
    docs) and to manage the segment one; any other model, local or remote, gets the window strategy,
    which also writes multi-hop pairs.
    """
    if settings.strategy != "auto":
        return settings.strategy
    engine = getattr(lm, "engine", None)
    return "segment" if type(lm).__name__ == "LocalLlamaLM" and getattr(engine, "is_default_model", False) else "window"


def pick_segments(segment_ids: list[int], texts: dict[int, str], count: int) -> list[int]:
    """Up to ``count`` segments worth a question, spread evenly over the window, in order."""
    usable = [segment for segment in segment_ids if len(content_words(texts.get(segment, ""))) >= MIN_SEGMENT_CONTENT_WORDS]
    if len(usable) <= count:
        return usable
    return [usable[(index * len(usable)) // count] for index in range(count)]


def segment_pair(qa: SegmentQA, segment_id: int) -> QAPair:
    """The single-hop QAPair for a segment strategy answer: its one hop reads the segment and adds the answer."""
    return QAPair(
        query_type=qa.query_type,
        reasoning_type=qa.reasoning_type,
        hop_contexts=[HopContext(hop_number=1, segment_ids=[segment_id], summary=qa.answer)],
        hop_count=1,
        segment_ids=[segment_id],
        question=qa.question,
        answer=qa.answer,
        question_complexity=qa.question_complexity,
    )


def _quality_key(pair: QAPair, validation: PairValidation) -> tuple:
    """Which of two duplicate questions to keep: valid first, then grounded, then richer."""
    return (validation.valid, -len(validation.reasons), validation.answer_support, pair.hop_count, pair.question_complexity)


class RetrievalSDG(dspy.Module):
    """Seed row in, generated record out (a ``dspy.Prediction`` with the record's fields).

    ``lm`` runs extract and generate, ``judge_lm`` runs judge (default: ``lm``).
    ``embed_texts`` maps questions to L2-normalised vectors for dedup.
    ``retry_policy`` retries transient endpoint faults (429, 5xx, timeouts) here, where each one
    is counted; give it to LMs built with ``num_retries=0`` (as ``generate`` does), otherwise the
    LM's own retries run first and only what survives them is seen. The default retries nothing.
    """

    def __init__(
        self,
        settings: GenerationSettings | None = None,
        *,
        lm: dspy.BaseLM | None = None,
        judge_lm: dspy.BaseLM | None = None,
        embed_texts: Callable[[list[str]], np.ndarray] | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings or GenerationSettings()
        self.retry_policy = retry_policy or RetryPolicy(retries=0)
        self.waiter = Waiter()
        self.extract = dspy.Predict(ExtractArtifacts)
        self.generate = dspy.Predict(GenerateQAPairs)
        self.judge = dspy.Predict(JudgeQAPairs)
        # The segment strategy's generator (see signatures/segment.py); the window strategy uses `generate`.
        self.write_segment_qa = dspy.Predict(WriteSegmentQA)
        self.role_lms = {"extract": lm, "generate": lm, "judge": judge_lm or lm}
        self.embed_texts = embed_texts
        # JSON output: with the embedded model DSPy's JSONAdapter sends the schema, which
        # llama.cpp turns into a grammar; endpoints get JSON mode or a schema when they support it.
        self.adapter = CachedJSONAdapter()  # JSONAdapter, schema + system message built once per signature
        # The segment strategy's short prompt for grammar-decoded LMs (see PlainPromptAdapter).
        self.plain_adapter = PlainPromptAdapter()

    # -- calls --------------------------------------------------------------

    def _uses_grammar(self, role: str) -> bool:
        """Whether the role's LM decodes under a JSON-schema grammar (the embedded llama.cpp model).

        Only then are per-call narrowed schemas used (allowed segment IDs, exact list
        sizes): the grammar makes the model obey them, whereas an API model that breaks
        one would lose the whole call instead of one pair.
        """
        lm = self.role_lms[role] or dspy.settings.lm
        # An endpoint told to decode under the schema (--structured-output json_schema|json_object_schema) says so too.
        return type(lm).__name__ == "LocalLlamaLM" or getattr(lm, "enforces_response_schema", False) is True

    def _call(
        self,
        role: str,
        predictor: dspy.Predict,
        usage: RowUsage,
        narrowed: tuple[str, type] | None = None,
        config: dict[str, Any] | None = None,
        adapter: dspy.Adapter | None = None,
        **inputs: Any,
    ) -> dspy.Prediction:
        """Call a predictor with its role's LM, retrying transient faults and re-asking on malformed output.

        Two budgets, because the faults differ. A transient endpoint fault (429, 5xx, timeout)
        sends the same request again after ``retry_policy``'s wait (Retry-After first); when those
        retries run out the endpoint is failing, and ``EndpointFailed`` ends the row. A malformed
        reply (empty, cut off, not JSON, wrong shape) is re-asked up to ``settings.max_retries``
        times with a fresh rollout at a higher temperature, since repeating the same deterministic
        request would repeat the same mistake; the last parse error is raised. Every fault is
        counted in ``usage.faults``. ``narrowed`` replaces one output field's type for this call
        only, keeping the (possibly optimized) instructions and demos of the predictor. ``config``
        is the first request's LM config (a candidate's rollout_id and temperature); re-asks
        derive their own rollout from it.
        """
        lm = self.role_lms[role] or dspy.settings.lm
        if narrowed is not None and self._uses_grammar(role):
            inputs["signature"] = _with_field_type(predictor.signature, narrowed[0], narrowed[1])
        reasks = self.settings.max_retries
        reask = 0
        transient = 0
        while True:
            request = dict(config or {})
            if reask:
                request.update(rollout_id=1000 * int(request.get("rollout_id") or 0) + reask, temperature=0.7)
            with track_usage() as tracker:
                try:
                    with dspy.context(lm=lm, adapter=adapter or self.adapter):
                        return predictor(**inputs, config=request)
                except Exception as error:
                    kind = classify(error)
                    usage.faults.record(kind)
                    if kind == "context_overflow":
                        raise
                    if kind in TRANSIENT_KINDS:
                        wait = self.retry_policy.delay(error, transient)
                        if wait is None or not self.waiter.wait(wait):
                            raise EndpointFailed(role, kind, error, transient + 1) from error
                        usage.faults.waited(wait)
                        transient += 1
                        logger.info("%s: %s, retry %d after %.1f s", role, kind, transient, wait)
                        continue
                    if reask >= reasks:
                        raise
                    reask += 1
                    logger.info("%s: %s, re-ask %d/%d: %s", role, kind, reask, reasks, _short(error))
                finally:
                    usage.roles[role].add([entry for entries in tracker.usage_data.values() for entry in entries])

    # -- the program ----------------------------------------------------------

    def forward(self, row: SeedRow) -> dspy.Prediction:
        settings = self.settings
        usage = RowUsage()
        errors: list[dict[str, Any]] = []
        generate_lm = self.role_lms["generate"] or dspy.settings.lm
        window_size = window_chars_for(generate_lm, settings)
        strategy = strategy_for(generate_lm, settings)
        windows = make_windows(row.sections_structured, window_size)
        chunks_by_id = {chunk.chunk_id: chunk for chunk in row.chunks}
        validation_settings = ValidationSettings(
            min_hops=settings.min_hops,
            max_hops=settings.max_hops,
            min_complexity=settings.min_complexity,
            min_answer_support=settings.min_answer_support,
        )

        merged_artifacts: dict[str, list[dict[str, Any]]] = {name: [] for name in ARTIFACT_TYPES}
        pairs: list[QAPair] = []
        pair_windows: list[int] = []
        validations: list[PairValidation] = []
        for window_index, window in enumerate(windows):
            artifacts = DocumentArtifacts()
            try:
                extracted = self._call(
                    "extract",
                    self.extract,
                    usage,
                    narrowed=("artifacts", narrow_artifacts(settings.max_artifacts_per_type)),
                    document=window.text,
                    max_artifacts_per_type=settings.max_artifacts_per_type,
                )
                artifacts = extracted.artifacts
                for name in ARTIFACT_TYPES:
                    merged_artifacts[name].extend(item.model_dump() for item in getattr(artifacts, name)[: settings.max_artifacts_per_type])
            except EndpointFailed as error:
                raise _endpoint_row_failure(error, errors, usage) from error
            except Exception as error:
                # Generation can still work from the segments alone; record and go on.
                errors.append({"stage": "extract", "window": window_index, "error": _short(error)})
            segments = RowSegments({segment_id: chunks_by_id[segment_id].text for segment_id in window.segment_ids if segment_id in chunks_by_id})
            try:
                if strategy == "segment":
                    window_pairs = self._segment_pairs(window_index, window, segments, validation_settings, usage, errors)
                else:
                    window_pairs = self._window_pairs(window_index, window, artifacts, segments, validation_settings, usage, errors)
            except EndpointFailed as error:
                raise _endpoint_row_failure(error, errors, usage) from error
            for pair, validation in window_pairs:
                pairs.append(pair)
                pair_windows.append(window_index)
                validations.append(validation)

        if not pairs:
            raise RowFailed("no QA pairs were generated: " + "; ".join(f"{e['stage']}: {e['error']}" for e in errors), errors, usage.faults.as_dict())

        if self.embed_texts is not None and len(pairs) > 1:
            dedup = deduplicate(
                [pair.question for pair in pairs],
                [_quality_key(pair, validation) for pair, validation in zip(pairs, validations)],
                self.embed_texts,
                settings.similarity_threshold,
            )
            kept, duplicate_of = dedup.kept, dedup.duplicate_of
        else:
            kept, duplicate_of = list(range(len(pairs))), {}

        evaluations: dict[int, QAEvaluation] = {}
        for window_index, window in enumerate(windows):
            members_in_window = [index for index in kept if pair_windows[index] == window_index]
            for start in range(0, len(members_in_window), MAX_PAIRS):
                members = members_in_window[start : start + MAX_PAIRS]
                try:
                    judged = self._call(
                        "judge",
                        self.judge,
                        usage,
                        narrowed=("evaluations", narrow_evaluations(len(members))),
                        segments=window.text,
                        qa_pairs=render_pairs_for_judge([pairs[index] for index in members]),
                    )
                except EndpointFailed as error:
                    raise _endpoint_row_failure(error, errors, usage) from error
                except Exception as error:
                    errors.append({"stage": "judge", "window": window_index, "error": _short(error)})
                    continue
                for local_index, evaluation in match_evaluations(len(members), judged.evaluations.evaluations).items():
                    evaluations[members[local_index]] = evaluation

        deduplicated = [pairs[index] for index in kept]
        judged_list = []
        for position, index in enumerate(kept):
            if index in evaluations:
                judged_list.append(evaluations[index].model_copy(update={"pair_index": position}).model_dump(mode="json"))
            else:
                errors.append({"stage": "judge", "window": pair_windows[index], "error": f"no evaluation for pair {position}"})
        return dspy.Prediction(
            document_artifacts=merged_artifacts,
            qa_generation={"pairs": [pair.model_dump(mode="json") for pair in pairs]},
            deduplicated_qa_pairs=[pair.model_dump(mode="json") for pair in deduplicated],
            qa_evaluations={"evaluations": judged_list},
            qa_validations=[validations[index].model_dump() for index in kept],
            generation_validations=[validation.model_dump() for validation in validations],
            dedup={"kept": kept, "duplicate_of": {str(key): value for key, value in duplicate_of.items()}},
            windows=len(windows),
            lm_usage=usage.as_dict(),
            faults=usage.faults.as_dict(),
            errors=errors,
        )

    # -- generation strategies ---------------------------------------------------

    def _window_pairs(
        self,
        window_index: int,
        window: Window,
        artifacts: DocumentArtifacts,
        segments: RowSegments,
        validation_settings: ValidationSettings,
        usage: RowUsage,
        errors: list[dict[str, Any]],
    ) -> list[tuple[QAPair, PairValidation]]:
        """One generate call writes every pair of the window; each is repaired, then validated."""
        settings = self.settings
        try:
            generated = self._call(
                "generate",
                self.generate,
                usage,
                narrowed=("qa_pairs", narrow_qa_pairs(window.segment_ids, max_pairs=settings.num_pairs, max_hops=settings.max_hops)),
                segments=window.text,
                artifacts=render_artifacts(artifacts),
                num_pairs=settings.num_pairs,
                query_counts=settings.query_counts,
                reasoning_counts=settings.reasoning_counts,
                min_hops=settings.min_hops,
                max_hops=settings.max_hops,
                min_complexity=settings.min_complexity,
            )
        except EndpointFailed:
            raise
        except Exception as error:
            errors.append({"stage": "generate", "window": window_index, "error": _short(error)})
            return []
        # Structural slips (hop numbering, hop_count, ...) are repaired and recorded first.
        return [normalize_and_validate(pair, segments, validation_settings) for pair in generated.qa_pairs.pairs]

    def _segment_pairs(
        self,
        window_index: int,
        window: Window,
        segments: RowSegments,
        validation_settings: ValidationSettings,
        usage: RowUsage,
        errors: list[dict[str, Any]],
    ) -> list[tuple[QAPair, PairValidation]]:
        """One pair per chosen segment: candidates until one passes validation, else the best one.

        The first candidate is the LM's own (greedy for the embedded model), later ones are samples
        with their own rollout. Keeping the first valid candidate is the deterministic validator
        doing its job early: the same checks would reject the others after generation. When none
        passes, the best candidate is kept with its reasons, so the record shows what went wrong.
        ``attempts`` in its validation says how many candidates were written for the segment.
        """
        settings = self.settings
        output_type = narrow_segment_qa(settings.min_complexity)  # applied by _call to grammar-decoded calls only
        adapter = self.plain_adapter if self._uses_grammar("generate") else self.adapter
        results: list[tuple[QAPair, PairValidation]] = []
        for segment_id in pick_segments(window.segment_ids, segments.texts, settings.num_pairs):
            best: tuple[QAPair, PairValidation] | None = None
            written_count = 0
            for attempt in range(settings.segment_attempts):
                config = {} if attempt == 0 else {"rollout_id": attempt, "temperature": CANDIDATE_TEMPERATURE}
                try:
                    written = self._call(
                        "generate",
                        self.write_segment_qa,
                        usage,
                        narrowed=("qa", output_type),
                        config=config,
                        adapter=adapter,
                        text=segments.texts[segment_id],
                    )
                except EndpointFailed:
                    raise
                except Exception as error:
                    errors.append({"stage": "generate", "window": window_index, "segment": segment_id, "error": _short(error)})
                    continue
                written_count += 1
                pair, validation = normalize_and_validate(segment_pair(written.qa, segment_id), segments, validation_settings)
                if best is None or _quality_key(pair, validation) > _quality_key(*best):
                    best = (pair, validation)
                if validation.valid:
                    break
            if best is not None:
                pair, validation = best
                results.append((pair, validation.model_copy(update={"attempts": written_count})))
        return results


@functools.lru_cache(maxsize=256)
def _with_field_type(signature: type[dspy.Signature], name: str, type_: type) -> type[dspy.Signature]:
    """`signature.with_updated_fields(name, type_=type_)`, built once per (signature, field, type).

    Building a signature deep-copies its fields (~1 ms of CPU under the GIL); per call that was a
    visible share of a row's CPU at high concurrency. The narrow_* types are cached, so rows with the
    same segment IDs and sizes reuse one signature class.
    """
    return signature.with_updated_fields(name, type_=type_)


def _endpoint_row_failure(error: EndpointFailed, errors: list[dict[str, Any]], usage: RowUsage) -> RowFailed:
    """The row's failure when a call exhausted its endpoint retries: partial output is not kept."""
    errors = [*errors, {"stage": error.role, "window": None, "error": scrub(str(error))[:300]}]
    return RowFailed(scrub(str(error)), errors, usage.faults.as_dict())


def _short(error: Exception, limit: int = 300) -> str:
    """The error as one line of a record or log; scrubbed before it is cut, so no part of a key survives."""
    text = scrub(f"{type(error).__name__}: {error}")
    return text if len(text) <= limit else text[: limit - 1] + "…"
