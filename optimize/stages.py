"""One small DSPy module per predictor, so each predictor is optimized and measured on its own.

Why stages and not the whole ``RetrievalSDG``: a forward of the whole program costs three or more
LM calls, and its metric would mix three predictors. Optimizing ``generate`` on gold artifacts and
``judge`` on gold judge cases isolates each predictor, costs one LM call per example, and lets
labeled demos come straight from the gold set (``optimize/demos.py``). The stages call their
predictor exactly as the program does - through ``RetrievalSDG._call``, so the narrowed per-call
schema, the JSON adapter and the re-asks are the program's own - and the optimized predictors are
then put back into one ``RetrievalSDG`` and saved together (``optimize/compile.py``).

Each stage takes ``row`` (a seed row) as input. Rows longer than one generation window are cut to
their first window: the gold rows always fit in one, and for user rows (``--input-dir``) one window
per row keeps a compile run's cost bounded.
"""

from __future__ import annotations

from typing import Any

import dspy

from sdg_program.core.records import SeedRow
from sdg_program.program.retrieval_sdg import RetrievalSDG
from sdg_program.program.settings import GenerationSettings
from sdg_program.program.usage import RowUsage
from sdg_program.program.windows import Window, make_windows, window_chars_for
from signatures import (
    NO_ARTIFACTS,
    ExtractArtifacts,
    GenerateQAPairs,
    JudgeQAPairs,
    QAPair,
    match_evaluations,
    narrow_artifacts,
    narrow_evaluations,
    narrow_qa_pairs,
    render_pairs_for_judge,
)


class Runtime:
    """The LMs, settings and usage counters the stages share.

    DSPy optimizers deep-copy the modules they optimize; the runtime must stay one shared object
    (a copied llama.cpp model would be reloaded, and usage would be counted in a copy), so
    ``__deepcopy__`` returns itself.
    """

    def __init__(self, settings: GenerationSettings, lm: dspy.BaseLM | None, judge_lm: dspy.BaseLM | None = None):
        self.settings = settings
        self.lm = lm
        self.judge_lm = judge_lm or lm
        # A program used only for its `_call` (no predictors of its own are called).
        self.caller = RetrievalSDG(settings, lm=lm, judge_lm=self.judge_lm)
        self.usage = RowUsage()
        self.failures = 0

    def __deepcopy__(self, memo: dict) -> "Runtime":
        return self

    def first_window(self, row: SeedRow) -> Window:
        lm = self.lm or dspy.settings.lm
        return make_windows(row.sections_structured, window_chars_for(lm, self.settings))[0]

    def call(self, role: str, predictor: dspy.Predict, narrowed: tuple[tuple[str, type], ...], **inputs: Any) -> dspy.Prediction | None:
        """The program's call (narrowed schema, JSON adapter, re-asks); None when every attempt failed."""
        try:
            return self.caller._call(role, predictor, self.usage, narrowed=narrowed, **inputs)
        except Exception:
            self.failures += 1
            return None


def generation_inputs(settings: GenerationSettings) -> dict[str, Any]:
    """The generate inputs that come from settings (the counts a user run asks for)."""
    return {
        "num_pairs": settings.num_pairs,
        "query_counts": dict(settings.query_counts or {}),
        "reasoning_counts": dict(settings.reasoning_counts or {}),
        "min_hops": settings.min_hops,
        "max_hops": settings.max_hops,
        "min_complexity": settings.min_complexity,
    }


class ExtractStage(dspy.Module):
    """``row`` -> ``artifacts`` with the ``extract`` predictor (first window of the row)."""

    def __init__(self, runtime: Runtime):
        super().__init__()
        self.runtime = runtime
        self.extract = dspy.Predict(ExtractArtifacts)

    def forward(self, row: SeedRow, **_: Any) -> dspy.Prediction:
        settings = self.runtime.settings
        window = self.runtime.first_window(row)
        result = self.runtime.call(
            "extract", self.extract, (("artifacts", narrow_artifacts(settings.max_artifacts_per_type)),),
            document=window.text, max_artifacts_per_type=settings.max_artifacts_per_type,
        )
        return dspy.Prediction(artifacts=result.artifacts if result is not None else None)


class GenerateStage(dspy.Module):
    """``row`` (+ rendered ``artifacts``) -> ``qa_pairs`` with the ``generate`` predictor.

    ``artifacts`` is the rendered text generate reads; the gold set passes its reference
    artifacts, so generate is measured apart from extract. Without it, generate sees "(none)".
    """

    def __init__(self, runtime: Runtime):
        super().__init__()
        self.runtime = runtime
        self.generate = dspy.Predict(GenerateQAPairs)

    def forward(self, row: SeedRow, artifacts: str | None = None, **_: Any) -> dspy.Prediction:
        settings = self.runtime.settings
        window = self.runtime.first_window(row)
        result = self.runtime.call(
            "generate", self.generate,
            (("qa_pairs", narrow_qa_pairs(window.segment_ids, max_pairs=settings.num_pairs, max_hops=settings.max_hops)),),
            segments=window.text, artifacts=artifacts or NO_ARTIFACTS, **generation_inputs(settings),
        )
        pairs: list[QAPair] = list(result.qa_pairs.pairs) if result is not None else []
        return dspy.Prediction(qa_pairs=pairs, requested=settings.num_pairs)


class JudgeStage(dspy.Module):
    """``row`` + ``pairs_to_judge`` -> ``evaluations`` (by pair index) with the ``judge`` predictor.

    The input is not called ``qa_pairs`` because that is the judge signature's (rendered) input:
    a labeled demo carries both, under those names.
    """

    def __init__(self, runtime: Runtime):
        super().__init__()
        self.runtime = runtime
        self.judge = dspy.Predict(JudgeQAPairs)

    def forward(self, row: SeedRow, pairs_to_judge: list[QAPair], **_: Any) -> dspy.Prediction:
        window = self.runtime.first_window(row)
        pairs = list(pairs_to_judge)
        result = self.runtime.call(
            "judge", self.judge, (("evaluations", narrow_evaluations(len(pairs))),),
            segments=window.text, qa_pairs=render_pairs_for_judge(pairs),
        )
        evaluations = match_evaluations(len(pairs), result.evaluations.evaluations) if result is not None else {}
        return dspy.Prediction(evaluations=[evaluations[index] for index in sorted(evaluations)])


STAGES: dict[str, type[dspy.Module]] = {"extract": ExtractStage, "generate": GenerateStage, "judge": JudgeStage}
