"""Export: convert records into NeMo AutoModel training files and a BEIR evaluation set."""

from sdg_program.core.lazy import lazy_exports

_EXPORTS = {
    "ConvertConfig": "sdg_program.export.config",
    "convert": "sdg_program.export.pipeline",
    "SplitStrategy": "sdg_program.export.config",
    "ConvertResult": "sdg_program.export.config",
    "print_report": "sdg_program.export.report",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
