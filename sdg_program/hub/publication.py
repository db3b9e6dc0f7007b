"""Who will see a push: private by default, and a public push only after the user said yes.

A converted dataset carries the user's documents verbatim, and most users run sdg-program on
internal documents; one forgotten ``--private`` used to publish them. So a repository is created
private unless the caller asks for a public one, and a public push is described (how many
passages, documents and questions become readable by anyone) and confirmed before the first
request. The library never prompts: it calls the ``confirm`` callback it is given (the CLI asks
on a terminal, or accepts ``--yes``), and without one a public push is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel

from sdg_program.core.errors import UserError


class PublicationPlan(BaseModel):
    """What a public push would make readable by anyone, for the confirmation."""

    repo_id: str
    repo_type: Literal["dataset", "model"] = "dataset"
    passages: int = 0
    documents: int = 0
    questions: int = 0
    files: int = 0

    def describe(self) -> str:
        if self.repo_type == "model":
            return f"{self.files} model files will be public at {self.repo_id} (readable and downloadable by anyone)."
        return (f"{self.passages} passages from {self.documents} source documents, verbatim, and {self.questions} questions "
                f"will be public at {self.repo_id} (readable and downloadable by anyone).")


Confirm = Callable[[PublicationPlan], bool]


class PublicationRefused(UserError):
    """A public push was not confirmed (declined, or no terminal and no --yes)."""


def accept(plan: PublicationPlan) -> bool:
    """A ``confirm`` that says yes: ``yes=True`` / ``--yes``."""
    return True


def confirmed(plan: PublicationPlan, confirm: Confirm | None) -> None:
    """Ask ``confirm`` about ``plan``; refuse when there is nobody to ask or the answer is no."""
    if confirm is None:
        raise PublicationRefused(f"{plan.describe()} A public push must be confirmed: pass yes=True (the CLI: --public --yes), or push private.")
    if not confirm(plan):
        raise PublicationRefused(f"Not published: the public push to {plan.repo_id} was not confirmed. Nothing was uploaded.")


def public_repo_refusal(repo_id: str) -> str:
    return (f"{repo_id} already exists and is public: pushing to it would publish your documents. Pass --public "
            "(private=False) to push to it anyway, make it private in its settings first, or choose another name.")
