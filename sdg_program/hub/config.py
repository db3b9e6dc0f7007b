"""The typed settings of ``sdg-program push`` (and of :func:`sdg_program.push`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class PushConfig(BaseModel):
    """Which convert folder goes to which Hub repository, who may see it, and what its card says."""

    model_config = ConfigDict(extra="forbid")

    folder: Path = Field(description="Output folder of `sdg-program convert` (X_train_eval/)")
    repo_id: str = Field(description="Dataset repository to create or update: user/name or org/name")
    private: bool = Field(True, description="Create the repository private (the default). False (--public) publishes it after a confirmation; an existing repository keeps its visibility, and an existing public one is refused unless private is False")
    license: str = Field("other", description="Licence of the source documents, declared for the card: a Hub licence ID (cc-by-4.0, apache-2.0, mit, ...), several separated by commas, or free text; 'other' means not declared")
    pretty_name: str | None = Field(None, description="Title of the dataset card; default: the repository name")
    model: bool = Field(False, description="The folder is a model written by `sdg-program finetune`: push it as a model repository (license and pretty_name are not used)")
    allow_findings: bool = Field(False, description="Upload even though the scan found credentials or personal data in the texts (the card says so)")
    yes: bool = Field(False, description="Publish a public repository without asking (scripts); without it a public push asks on a terminal and is refused elsewhere")
