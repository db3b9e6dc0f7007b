"""The typed settings of ``sdg-program push`` (and of :func:`sdg_program.push`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class PushConfig(BaseModel):
    """Which convert folder goes to which Hub repository, and what its card says."""

    model_config = ConfigDict(extra="forbid")

    folder: Path = Field(description="Output folder of `sdg-program convert` (X_train_eval/)")
    repo_id: str = Field(description="Dataset repository to create or update: user/name or org/name")
    private: bool = Field(False, description="Create the repository private; an existing repository keeps its visibility")
    license: str = Field("other", description="Licence ID for the card (cc-by-4.0, apache-2.0, mit, ...); 'other' means not set")
    pretty_name: str | None = Field(None, description="Title of the dataset card; default: the repository name")
    model: bool = Field(False, description="The folder is a model written by `sdg-program finetune`: push it as a model repository (license and pretty_name are not used)")
