"""What the LM tests share: a small typed signature, and a program save/load round trip."""

from pathlib import Path
from typing import Literal

import dspy
import pydantic


class Fact(pydantic.BaseModel):
    count: int
    kind: Literal["fruit", "animal", "tool"]


class Classify(dspy.Signature):
    """Count the items and say what kind of thing they are."""

    items: str = dspy.InputField()
    fact: Fact = dspy.OutputField()


def saved_and_loaded(lm: dspy.BaseLM, path: Path) -> tuple[dict, dspy.BaseLM]:
    """Save a one-predictor program that holds `lm` (as `program.save` writes it), load it back into a
    fresh program the way a trusted file is loaded; return the saved LM state and the loaded LM."""
    import json

    program = dspy.Predict(Classify)
    program.lm = lm
    program.save(str(path))
    saved = json.loads(path.read_text())["lm"]
    restored = dspy.Predict(Classify)
    restored.load(str(path), allow_unsafe_lm_state=True)
    return saved, restored.lm
