"""Hub: push an export (with its dataset card) or a fine-tuned model (with its model card) to the Hugging Face Hub."""

from sdg_program.core.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "config": ["PushConfig"],
        "upload": ["push", "PushResult", "push_export"],
        "model_upload": ["push_model", "ModelPushResult"],
        "publication": ["PublicationPlan", "PublicationRefused"],
    },
)
