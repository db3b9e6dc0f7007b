"""The DSPy program: ``RetrievalSDG`` with its settings, normalisation, validation and dedup."""

from sdg_program.core.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "retrieval_sdg": ["RetrievalSDG"],
        "settings": ["GenerationSettings"],
        "validation": ["validate_pair"],
        "dedup": ["deduplicate"],
    },
)
