"""Push a model folder written by ``sdg-program finetune`` to the Hugging Face Hub as a model repository.

The folder is what ``SentenceTransformer.save_pretrained`` wrote plus our section of the model
card, so it is uploaded as is, in one commit, with ``HfApi.create_repo`` and ``upload_folder``.
The rules are those of the dataset push (``sdg_program.hub.upload``): the token comes from
huggingface_hub's own lookup (HF_TOKEN, then ``hf auth login``), is handed to huggingface_hub
only and is scrubbed from every message; HF_HUB_OFFLINE refuses the push; everything local is
checked before the first request, so a wrong folder never creates an empty repository. A model
repository is private by default too (a model trained on internal documents can repeat them),
and a public one is confirmed through the same ``confirm`` callback as a dataset.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import BaseModel

from sdg_program.core.errors import HubError
from sdg_program.hub.publication import Confirm, PublicationPlan, confirmed, public_repo_refusal
from sdg_program.hub.upload import check_repo_id, hub_error, refuse_if_token_in, resolve_token

logger = logging.getLogger(__name__)

MODEL_MARKERS = ("modules.json", "config_sentence_transformers.json")
TEXT_SUFFIXES = (".md", ".json", ".txt")
IGNORED = ["checkpoint-*/**", "*.tmp", ".*"]


class ModelPushResult(BaseModel):
    repo_id: str
    url: str
    commit_url: str | None = None
    files: int


def push_model(folder: Path, repo_id: str, *, private: bool = True, token: str | None = None, confirm: Confirm | None = None) -> ModelPushResult:
    """Upload a saved sentence-transformers model folder to ``repo_id`` (created if needed); returns where it went.

    ``private=False`` asks ``confirm`` first when one is given (``sdg_program.push`` always gives one).
    """
    from huggingface_hub import constants

    folder = Path(folder)
    check_repo_id(repo_id)
    files = check_model_folder(folder)
    if constants.HF_HUB_OFFLINE:
        raise HubError("HF_HUB_OFFLINE is set, so huggingface_hub will not upload; unset it (or set HF_HUB_OFFLINE=0) to push.")
    token = resolve_token(token)
    refuse_if_token_in(token, [path.read_text(encoding="utf-8", errors="replace") for path in files if path.suffix in TEXT_SUFFIXES])
    if not private and confirm is not None:
        confirmed(PublicationPlan(repo_id=repo_id, repo_type="model", files=len(files)), confirm)
    try:
        return _upload(folder, repo_id, token=token, private=private, files=len(files))
    except Exception as error:
        raise hub_error(error, token, repo_id) from None


def check_model_folder(folder: Path) -> list[Path]:
    """The files to upload; a HubError naming what is missing when ``folder`` is not a saved sentence-transformers model."""
    if not folder.is_dir():
        raise HubError(f"{folder} is not a folder; pass the model folder `sdg-program finetune` wrote (default: X_train_eval/model).")
    if not any((folder / name).is_file() for name in MODEL_MARKERS):
        raise HubError(f"{folder} is not a saved sentence-transformers model (no {' or '.join(MODEL_MARKERS)}); pass the folder `sdg-program finetune` wrote.")
    if not (folder / "README.md").is_file():
        logger.warning("%s has no README.md; the repository will have no model card.", folder)
    return sorted(path for path in folder.rglob("*") if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts))


def _upload(folder: Path, repo_id: str, *, token: str, private: bool, files: int) -> ModelPushResult:
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    repo_url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    repo_id = repo_url.repo_id  # "name" without a namespace resolves to the user's own
    if private and not api.repo_info(repo_id, repo_type="model").private:
        raise HubError(public_repo_refusal(repo_id))
    logger.info("Uploading %d files from %s to %s", files, folder, repo_id)
    commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model", ignore_patterns=IGNORED, commit_message="Upload fine-tuned retriever (sdg-program finetune)")
    return ModelPushResult(repo_id=repo_id, url=f"{api.endpoint}/{repo_id}", commit_url=getattr(commit, "commit_url", None), files=files)
