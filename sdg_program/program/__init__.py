"""The DSPy program: ``RetrievalSDG`` with its settings, normalisation, validation and dedup."""

from sdg_program.core.lazy import lazy_exports

_EXPORTS = {
    "RetrievalSDG": "sdg_program.program.retrieval_sdg",
    "GenerationSettings": "sdg_program.program.settings",
    "validate_pair": "sdg_program.program.validation",
    "deduplicate": "sdg_program.program.dedup",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
