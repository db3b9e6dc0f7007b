"""Runner: the generate orchestration, concurrency, checkpoints and resume, run.json."""

from sdg_program.core.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "config": ["GenerateConfig"],
        "generation": ["generate", "preview"],
    },
)
