"""Evaluation: retriever metrics on BEIR folders."""

from sdg_program.core.lazy import lazy_exports

_EXPORTS = {
    "EvaluateConfig": "sdg_program.evaluation.config",
    "evaluate": "sdg_program.evaluation.retrieval",
    "evaluate_beir": "sdg_program.evaluation.retrieval",
    "EvalReport": "sdg_program.evaluation.retrieval",
    "report_table": "sdg_program.evaluation.retrieval",
    "write_report": "sdg_program.evaluation.retrieval",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
