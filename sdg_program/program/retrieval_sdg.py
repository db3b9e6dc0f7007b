"""`RetrievalSDG`: the one DSPy module that turns a seed row into a generated record.

extract -> generate -> validate -> dedup -> judge, per *window* of a row's sections
(``program/windows.py``). Extraction is a call of its own or the first part of the generate call
(``settings.extract_mode``).

Because extract, generate and judge are predictors of one module, DSPy optimizers can
tune all their prompts together and ``save`` them to one JSON file. Dedup and
validation are plain deterministic steps.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import dspy
import numpy as np
from dspy.utils.usage_tracker import track_usage

from sdg_program.backends.adapters import CachedJSONAdapter, PlainPromptAdapter
from sdg_program.backends.compact_adapter import BASE_SIGNATURE_ATTRIBUTE, CompactJSONAdapter
from sdg_program.backends.defaults import DEFAULT_MAX_TOKENS
from sdg_program.backends.engine_base import runs_in_process
from sdg_program.backends.faults import TRANSIENT_KINDS, RetryPolicy, Waiter, classify
from sdg_program.core.errors import EndpointFailed, RowFailed
from sdg_program.core.records import SeedRow
from sdg_program.core.secrets import scrub
from sdg_program.program.dedup import deduplicate
from sdg_program.program.settings import ExtractMode, GenerationSettings, extract_mode, judge_runs
from sdg_program.program.strategies import CANDIDATE_TEMPERATURE, fact_sentences, pick_segments, segment_pair, strategy_for
from sdg_program.program.usage import RowUsage
from sdg_program.program.validation import PairValidation, RowSegments, ValidationSettings, normalize_and_validate
from sdg_program.program.windows import Window, cited_text, make_windows, window_chars_for
from signatures import (
    ARTIFACT_TYPES,
    MAX_PAIRS,
    DocumentArtifacts,
    ExtractAndGenerateQAPairs,
    ExtractArtifacts,
    GenerateQAPairs,
    JudgeQAPairs,
    QAEvaluation,
    QAPair,
    WriteSegmentQA,
    match_evaluations,
    narrow_segment_qa,
    render_artifacts,
    render_pairs_for_judge,
)
from signatures.narrow import narrow_artifacts, narrow_evaluations, narrow_qa_pairs

logger = logging.getLogger(__name__)

# Output tokens one artifact item takes at most in a reply (text, description, importance as JSON);
# the inline call's budget grows by this per item it may list (see RetrievalSDG._inline_max_tokens).
ARTIFACT_ITEM_TOKENS = 60

def _quality_key(pair: QAPair, validation: PairValidation) -> tuple:
    """Which of two duplicate questions to keep: valid first, then grounded, then richer."""
    return (validation.valid, -len(validation.reasons), validation.answer_support, pair.hop_count, pair.question_complexity)


@dataclass
class _RowState:
    """What ``forward``'s phases build up for one row."""

    windows: list[Window]
    strategy: str
    chunks_by_id: dict[int, Any]
    validation_settings: ValidationSettings
    extract_mode: ExtractMode  # separate extract calls, inline in the generate call, or none (settings.extract_mode)
    judges: bool  # whether the judge runs (settings.judge; auto = not when the embedded model would grade itself)
    usage: RowUsage = field(default_factory=RowUsage)
    errors: list[dict[str, Any]] = field(default_factory=list)
    artifacts: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {name: [] for name in ARTIFACT_TYPES})
    pairs: list[QAPair] = field(default_factory=list)
    pair_windows: list[int] = field(default_factory=list)  # the window each pair came from
    validations: list[PairValidation] = field(default_factory=list)


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
        # Endpoints: the output contract said once (outline in the prompt, compact schema on the wire),
        # about 40% fewer prompt tokens; the in-process model keeps the prompts its compiled demos were tuned with.
        self.compact_adapter = CompactJSONAdapter()
        # The segment strategy's short prompt for grammar-decoded LMs (see PlainPromptAdapter).
        self.plain_adapter = PlainPromptAdapter()

    # -- calls --------------------------------------------------------------

    def _lm(self, role: str) -> dspy.BaseLM:
        """The role's LM, or DSPy's configured one when the program was built without."""
        return self.role_lms[role] or dspy.settings.lm

    def _uses_grammar(self, role: str) -> bool:
        """Whether the role's LM decodes under a JSON-schema grammar (the embedded llama.cpp model).

        Only then are per-call narrowed schemas used (allowed segment IDs, exact list
        sizes): the grammar makes the model obey them, whereas an API model that breaks
        one would lose the whole call instead of one pair.
        """
        lm = self._lm(role)
        # The in-process model always does; an endpoint told to (structured_output json_schema|json_object_schema) says so too.
        return getattr(lm, "enforces_response_schema", False) is True

    def _call(
        self,
        role: str,
        predictor: dspy.Predict,
        usage: RowUsage,
        narrowed: tuple[tuple[str, type], ...] = (),
        config: dict[str, Any] | None = None,
        adapter: dspy.Adapter | None = None,
        signature: type[dspy.Signature] | None = None,
        **inputs: Any,
    ) -> dspy.Prediction:
        """Call a predictor with its role's LM, retrying transient faults and re-asking on malformed output.

        Two budgets, because the faults differ. A transient endpoint fault (429, 5xx, timeout)
        sends the same request again after ``retry_policy``'s wait (Retry-After first); when those
        retries run out the endpoint is failing, and ``EndpointFailed`` ends the row. A malformed
        reply (empty, cut off, not JSON, wrong shape) is re-asked up to ``settings.max_retries``
        times with a fresh rollout at a higher temperature, since repeating the same deterministic
        request would repeat the same mistake; the last parse error is raised. Every fault is
        counted in ``usage.faults``. ``narrowed`` replaces output field types (``(name, type)``
        pairs) for this call only, keeping the (possibly optimized) instructions and demos of
        the predictor. ``signature`` replaces the predictor's for this call (inline extraction
        sends ExtractAndGenerateQAPairs through the generate predictor). ``config``
        is the first request's LM config (a candidate's rollout_id and temperature); re-asks
        derive their own rollout from it.
        """
        lm = self._lm(role)
        base = signature or predictor.signature
        if narrowed and self._uses_grammar(role):
            inputs["signature"] = _with_field_types(base, narrowed)
        elif signature is not None:
            inputs["signature"] = signature
        reasks = self.settings.max_retries
        reask = 0
        transient = 0
        while True:
            request = dict(config or {})
            if reask:
                request.update(rollout_id=1000 * int(request.get("rollout_id") or 0) + reask, temperature=0.7)
            with track_usage() as tracker:
                try:
                    with dspy.context(lm=lm, adapter=adapter or self._adapter_for(lm)):
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

    def _runs_in_process(self, role: str) -> bool:
        """Whether the role's LM is the in-process model, whose compiled demos fix its prompts' wording."""
        return runs_in_process(self._lm(role))

    def _adapter_for(self, lm: dspy.BaseLM) -> dspy.Adapter:
        """DSPy's JSON protocol for the in-process model, the compact one for endpoints."""
        return self.adapter if runs_in_process(lm) else self.compact_adapter

    def extraction_is_compiled(self) -> bool:
        """Whether a loaded program changed ``extract`` or ``generate`` (demos, or instructions other
        than the shipped signatures'): inline extraction would send neither, so ``auto`` keeps them apart."""
        stock = {"extract": ExtractArtifacts, "generate": GenerateQAPairs}
        return any(
            predictor.demos or predictor.signature.instructions != stock[name].instructions
            for name, predictor in (("extract", self.extract), ("generate", self.generate))
        )

    def judges(self) -> bool:
        """Whether the judge runs (``settings.judge``; see ``program.settings.judge_runs``)."""
        judge_lm = self._lm("judge")
        generate_lm = self._lm("generate")
        return judge_runs(self.settings.judge, judge_lm is generate_lm, getattr(judge_lm, "is_embedded_default", False) is True)

    # -- the program ----------------------------------------------------------

    def forward(self, row: SeedRow) -> dspy.Prediction:
        """Extract and write pairs window by window, then dedup the row's pairs, judge them, assemble the record."""
        state = self._start(row)
        try:
            for window_index, window in enumerate(state.windows):
                artifacts = self._extract(state, window_index, window) if state.extract_mode == "separate" else DocumentArtifacts()
                self._write_pairs(state, window_index, window, artifacts)
            if not state.pairs:
                raise RowFailed("no QA pairs were generated: " + "; ".join(f"{e['stage']}: {e['error']}" for e in state.errors), state.errors, state.usage.faults.as_dict())
            kept, duplicate_of = self._dedup(state)
            evaluations = self._judge(state, self._judged_pairs(state, kept)) if state.judges else {}
        except EndpointFailed as error:
            raise _endpoint_row_failure(error, state.errors, state.usage) from error
        return self._assemble(state, kept, duplicate_of, evaluations)

    # -- the phases of forward ------------------------------------------------

    def _start(self, row: SeedRow) -> "_RowState":
        settings = self.settings
        generate_lm = self._lm("generate")
        strategy = strategy_for(generate_lm, settings)
        return _RowState(
            windows=make_windows(row.sections_structured, window_chars_for(generate_lm, settings)),
            strategy=strategy,
            extract_mode=extract_mode(settings.extract, strategy, compiled=self.extraction_is_compiled(), in_process=self._runs_in_process("generate")),
            judges=self.judges(),
            chunks_by_id={chunk.chunk_id: chunk for chunk in row.chunks},
            validation_settings=ValidationSettings(
                min_hops=settings.min_hops,
                max_hops=settings.max_hops,
                min_complexity=settings.min_complexity,
                min_answer_support=settings.min_answer_support,
            ),
        )

    def _extract(self, state: "_RowState", window_index: int, window: Window) -> DocumentArtifacts:
        """The window's artifacts, merged into the row's; on a malformed reply, none (generation can work from the segments alone)."""
        settings = self.settings
        try:
            extracted = self._call(
                "extract",
                self.extract,
                state.usage,
                narrowed=(("artifacts", narrow_artifacts(settings.max_artifacts_per_type)),),
                document=window.text,
                max_artifacts_per_type=settings.max_artifacts_per_type,
            )
        except EndpointFailed:
            raise
        except Exception as error:
            state.errors.append({"stage": "extract", "window": window_index, "error": _short(error)})
            return DocumentArtifacts()
        self._add_artifacts(state, extracted.artifacts)
        return extracted.artifacts

    def _add_artifacts(self, state: "_RowState", artifacts: DocumentArtifacts) -> None:
        """Merge a window's artifacts into the row's (at most ``max_artifacts_per_type`` per kind and window)."""
        for name in ARTIFACT_TYPES:
            state.artifacts[name].extend(item.model_dump() for item in getattr(artifacts, name)[: self.settings.max_artifacts_per_type])

    def _write_pairs(self, state: "_RowState", window_index: int, window: Window, artifacts: DocumentArtifacts) -> None:
        """The window's pairs by the row's strategy, each normalised and validated, added to the row's."""
        segments = RowSegments({segment_id: state.chunks_by_id[segment_id].text for segment_id in window.segment_ids if segment_id in state.chunks_by_id})
        if state.strategy == "segment":
            window_pairs = self._segment_pairs(window_index, window, segments, state.validation_settings, state.usage, state.errors)
        else:
            window_pairs = self._window_pairs(state, window_index, window, artifacts, segments)
        for pair, validation in window_pairs:
            state.pairs.append(pair)
            state.pair_windows.append(window_index)
            state.validations.append(validation)

    def _dedup(self, state: "_RowState") -> tuple[list[int], dict[int, int]]:
        """Indices of the pairs kept, and for each dropped one the index of the pair it duplicates.

        Only the pairs convert may keep are compared (``PairValidation.may_be_kept``): the others are
        dropped there whatever they duplicate, and embedding their questions was a third of a row's
        client CPU on the cost bench. They stay in the record, never named as duplicates.
        """
        candidates = [index for index, validation in enumerate(state.validations) if validation.may_be_kept]
        if self.embed_texts is None or len(candidates) < 2:
            return list(range(len(state.pairs))), {}
        dedup = deduplicate(
            [state.pairs[index].question for index in candidates],
            [_quality_key(state.pairs[index], state.validations[index]) for index in candidates],
            self.embed_texts,
            self.settings.similarity_threshold,
        )
        dropped = {candidates[local]: candidates[kept] for local, kept in dedup.duplicate_of.items()}
        return [index for index in range(len(state.pairs)) if index not in dropped], dropped

    @staticmethod
    def _judged_pairs(state: "_RowState", kept: list[int]) -> list[int]:
        """The kept pairs the judge sees: those convert may keep. A pair that failed a check convert
        never waives is dropped whatever its score, so grading it would only cost tokens."""
        return [index for index in kept if state.validations[index].may_be_kept]

    def _judge(self, state: "_RowState", kept: list[int]) -> dict[int, QAEvaluation]:
        """Evaluations of the kept pairs by pair index: one judge call per window and batch of MAX_PAIRS,
        showing the judge only the segments that batch cites."""
        evaluations: dict[int, QAEvaluation] = {}
        for window_index, window in enumerate(state.windows):
            members_in_window = [index for index in kept if state.pair_windows[index] == window_index]
            for start in range(0, len(members_in_window), MAX_PAIRS):
                members = members_in_window[start : start + MAX_PAIRS]
                cited = {segment_id for index in members for segment_id in state.pairs[index].segment_ids}
                try:
                    judged = self._call(
                        "judge",
                        self.judge,
                        state.usage,
                        narrowed=(("evaluations", narrow_evaluations(len(members))),),
                        segments=cited_text(window, cited),
                        qa_pairs=render_pairs_for_judge([state.pairs[index] for index in members], single_hop=self._runs_in_process("judge")),
                    )
                except EndpointFailed:
                    raise
                except Exception as error:
                    state.errors.append({"stage": "judge", "window": window_index, "error": _short(error)})
                    continue
                for local_index, evaluation in match_evaluations(len(members), judged.evaluations.evaluations).items():
                    evaluations[members[local_index]] = evaluation
        return evaluations

    def _assemble(self, state: "_RowState", kept: list[int], duplicate_of: dict[int, int], evaluations: dict[int, QAEvaluation]) -> dspy.Prediction:
        """The record's fields; a kept pair the judge left out is named in ``errors``."""
        judged_list = []
        for position, index in enumerate(kept):
            if index in evaluations:
                judged_list.append(evaluations[index].model_copy(update={"pair_index": position}).model_dump(mode="json"))
            elif state.judges and state.validations[index].may_be_kept:
                state.errors.append({"stage": "judge", "window": state.pair_windows[index], "error": f"no evaluation for pair {position}"})
        return dspy.Prediction(
            document_artifacts=state.artifacts,
            qa_generation={"pairs": [pair.model_dump(mode="json") for pair in state.pairs]},
            deduplicated_qa_pairs=[state.pairs[index].model_dump(mode="json") for index in kept],
            qa_evaluations={"evaluations": judged_list},
            qa_validations=[state.validations[index].model_dump() for index in kept],
            generation_validations=[validation.model_dump() for validation in state.validations],
            dedup={"kept": kept, "duplicate_of": {str(key): value for key, value in duplicate_of.items()}},
            windows=len(state.windows),
            judged=state.judges,
            lm_usage=state.usage.as_dict(),
            faults=state.usage.faults.as_dict(),
            errors=state.errors,
        )

    # -- generation strategies ---------------------------------------------------

    def _window_pairs(
        self,
        state: "_RowState",
        window_index: int,
        window: Window,
        artifacts: DocumentArtifacts,
        segments: RowSegments,
    ) -> list[tuple[QAPair, PairValidation]]:
        """One generate call writes every pair of the window; each is repaired, then validated.

        With inline extraction the same call first writes the window's artifacts (merged into the
        row's); otherwise it reads those a separate extract call wrote (or none).
        """
        settings = self.settings
        inline = state.extract_mode == "inline"
        narrowed = [("qa_pairs", narrow_qa_pairs(window.segment_ids, max_pairs=settings.num_pairs, max_hops=settings.max_hops))]
        inputs: dict[str, Any] = {}
        config: dict[str, Any] | None = None
        if inline:
            narrowed.insert(0, ("artifacts", narrow_artifacts(settings.max_artifacts_per_type)))
            inputs["max_artifacts_per_type"] = settings.max_artifacts_per_type
            config = {"max_tokens": self._inline_max_tokens()}
        else:
            inputs["artifacts"] = render_artifacts(artifacts)
        try:
            generated = self._call(
                "generate",
                self.generate,
                state.usage,
                narrowed=tuple(narrowed),
                signature=ExtractAndGenerateQAPairs if inline else None,
                config=config,
                segments=window.text,
                num_pairs=settings.num_pairs,
                query_counts=settings.query_counts,
                reasoning_counts=settings.reasoning_counts,
                min_hops=settings.min_hops,
                max_hops=settings.max_hops,
                min_complexity=settings.min_complexity,
                **inputs,
            )
        except EndpointFailed:
            raise
        except Exception as error:
            state.errors.append({"stage": "generate", "window": window_index, "error": _short(error)})
            return []
        if inline:
            self._add_artifacts(state, generated.artifacts)
        # Structural slips (hop numbering, hop_count, ...) are repaired and recorded first.
        return [normalize_and_validate(pair, segments, state.validation_settings) for pair in generated.qa_pairs.pairs]

    def _inline_max_tokens(self) -> int:
        """The inline call's output budget: the LM's (``--max-tokens``, sized for the pairs) plus room
        for the artifacts the separate extract call used to write in its own reply."""
        lm = self._lm("generate")
        budget = int(getattr(lm, "kwargs", {}).get("max_tokens") or DEFAULT_MAX_TOKENS)
        return budget + ARTIFACT_ITEM_TOKENS * len(ARTIFACT_TYPES) * self.settings.max_artifacts_per_type

    def _segment_pairs(
        self,
        window_index: int,
        window: Window,
        segments: RowSegments,
        validation_settings: ValidationSettings,
        usage: RowUsage,
        errors: list[dict[str, Any]],
    ) -> list[tuple[QAPair, PairValidation]]:
        """One pair per chosen segment: a question about one of its facts, candidates until one passes validation.

        The program picks the segment and the fact (a sentence of it, ``fact_sentences``) that is the
        answer; the model writes the question. Candidate k asks about the k-th richest fact (cycling
        when the segment has fewer), so a fact the model cannot turn into a question does not use up
        every try. The first candidate is the LM's own (greedy for the embedded model), later ones
        are samples with their own rollout. Keeping the first valid candidate is the deterministic
        validator doing its job early: the same checks would reject the others after generation.
        When none passes, the best candidate is kept with its reasons, so the record shows what went
        wrong. ``attempts`` in its validation says how many candidates were written for the segment.
        """
        settings = self.settings
        output_type = narrow_segment_qa(settings.min_complexity)  # applied by _call to grammar-decoded calls only
        adapter = self.plain_adapter if self._uses_grammar("generate") else self.adapter
        facts = {segment_id: fact_sentences(text) for segment_id, text in segments.texts.items()}
        askable = {segment_id: text for segment_id, text in segments.texts.items() if facts[segment_id]}
        results: list[tuple[QAPair, PairValidation]] = []
        for segment_id in pick_segments(window.segment_ids, askable, settings.num_pairs):
            best: tuple[QAPair, PairValidation] | None = None
            written_count = 0
            for attempt in range(settings.segment_attempts):
                fact = facts[segment_id][attempt % len(facts[segment_id])]
                config = {} if attempt == 0 else {"rollout_id": attempt, "temperature": CANDIDATE_TEMPERATURE}
                try:
                    written = self._call(
                        "generate",
                        self.write_segment_qa,
                        usage,
                        narrowed=(("qa", output_type),),
                        config=config,
                        adapter=adapter,
                        fact=fact,
                    )
                except EndpointFailed:
                    raise
                except Exception as error:
                    errors.append({"stage": "generate", "window": window_index, "segment": segment_id, "error": _short(error)})
                    continue
                written_count += 1
                pair, validation = normalize_and_validate(segment_pair(written.qa, segment_id, fact), segments, validation_settings)
                if best is None or _quality_key(pair, validation) > _quality_key(*best):
                    best = (pair, validation)
                if validation.valid:
                    break
            if best is not None:
                pair, validation = best
                results.append((pair, validation.model_copy(update={"attempts": written_count})))
        return results


@functools.lru_cache(maxsize=256)
def _with_field_types(signature: type[dspy.Signature], fields: tuple[tuple[str, type], ...]) -> type[dspy.Signature]:
    """``signature`` with each ``(name, type)`` of ``fields`` updated, built once per (signature, fields).

    Building a signature deep-copies its fields (~1 ms of CPU under the GIL); per call that was a
    visible share of a row's CPU at high concurrency. The narrow_* types are cached, so rows with the
    same segment IDs and sizes reuse one signature class.
    """
    narrowed = signature
    for name, type_ in fields:
        narrowed = narrowed.with_updated_fields(name, type_=type_)
    # The prompt describes the base types (the same text on every call); only the wire schema is narrowed.
    setattr(narrowed, BASE_SIGNATURE_ATTRIBUTE, signature)
    return narrowed


def _endpoint_row_failure(error: EndpointFailed, errors: list[dict[str, Any]], usage: RowUsage) -> RowFailed:
    """The row's failure when a call exhausted its endpoint retries: partial output is not kept."""
    errors = [*errors, {"stage": error.role, "window": None, "error": scrub(str(error))[:300]}]
    return RowFailed(scrub(str(error)), errors, usage.faults.as_dict())


def _short(error: Exception, limit: int = 300) -> str:
    """The error as one line of a record or log; scrubbed before it is cut, so no part of a key survives."""
    text = scrub(f"{type(error).__name__}: {error}")
    return text if len(text) <= limit else text[: limit - 1] + "…"
