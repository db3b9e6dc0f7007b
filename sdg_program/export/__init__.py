"""Export: convert records into NeMo AutoModel training files and a BEIR evaluation set."""

from sdg_program.core.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "config": ["ConvertConfig", "SplitStrategy", "ConvertResult"],
        "pipeline": ["convert"],
        "report": ["print_report"],
    },
)
