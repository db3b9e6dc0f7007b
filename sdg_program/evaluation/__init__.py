"""Evaluation: retriever metrics on BEIR folders, and fine-tuning a retriever on an export (base vs tuned)."""

from sdg_program.core.lazy import lazy_exports

_EXPORTS = {
    "EvaluateConfig": "sdg_program.evaluation.config",
    "evaluate": "sdg_program.evaluation.retrieval",
    "evaluate_beir": "sdg_program.evaluation.retrieval",
    "EvalReport": "sdg_program.evaluation.retrieval",
    "report_table": "sdg_program.evaluation.retrieval",
    "write_report": "sdg_program.evaluation.retrieval",
    "FinetuneConfig": "sdg_program.evaluation.finetune_config",
    "FinetuneResult": "sdg_program.evaluation.finetune_config",
    "finetune": "sdg_program.evaluation.training",
    "comparison_table": "sdg_program.evaluation.finetune_report",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
