"""Hub: push an export (with its dataset card) or a fine-tuned model (with its model card) to the Hugging Face Hub."""

from sdg_program.core.lazy import lazy_exports

_EXPORTS = {
    "PushConfig": "sdg_program.hub.config",
    "push": "sdg_program.hub.upload",
    "PushResult": "sdg_program.hub.upload",
    "push_export": "sdg_program.hub.upload",
    "push_model": "sdg_program.hub.model_upload",
    "ModelPushResult": "sdg_program.hub.model_upload",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
