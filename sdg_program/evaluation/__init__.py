"""Evaluation: retriever metrics on BEIR folders, and fine-tuning a retriever on an export (base vs tuned)."""

from sdg_program.core.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "config": ["EvaluateConfig"],
        "retrieval": ["evaluate", "evaluate_beir", "EvalReport", "report_table", "write_report"],
        "finetune_config": ["FinetuneConfig", "FinetuneResult"],
        "training": ["finetune"],
        "finetune_report": ["comparison_table"],
    },
)
