"""Hub: push an export to the Hugging Face Hub with its dataset card."""

from sdg_program.core.lazy import lazy_exports

_EXPORTS = {
    "PushConfig": "sdg_program.hub.config",
    "push": "sdg_program.hub.upload",
    "PushResult": "sdg_program.hub.upload",
    "push_export": "sdg_program.hub.upload",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
