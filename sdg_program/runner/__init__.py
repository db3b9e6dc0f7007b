"""Runner: the generate orchestration, concurrency, checkpoints and resume, run.json."""

from sdg_program.core.lazy import lazy_exports

_EXPORTS = {
    "GenerateConfig": "sdg_program.runner.config",
    "generate": "sdg_program.runner.generation",
    "preview": "sdg_program.runner.generation",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
