"""Which compiled program ``generate`` loads when the user names none.

``local_default.json`` was compiled for the embedded SmolLM2-135M (``--lm local``) by
``sdg-program compile`` (see ``data/compiled/README.md``), so it is the default only for that
model: its demos were chosen by how much they helped *that* model, and another model may do better
without them. ``--program none`` runs the uncompiled program. It ships inside the package
(``sdg_program.data``, the repository's ``data/compiled/``) and is found with importlib.resources
(``core/resources.py``), so an installed copy loads its own file from any folder.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sdg_program.core.resources import compiled_program

logger = logging.getLogger(__name__)

LOCAL_DEFAULT_PROGRAM = compiled_program("local_default")
NO_PROGRAM = "none"


def resolve_program(program: Path | str | None, lm: str) -> Path | None:
    """The program file to load: the one given, none for ``none``, else the default of ``--lm local``.

    A given path is the user's, relative to their current folder; the default is the shipped file.
    A missing default means a broken install: said in a warning, not silently run uncompiled.
    """
    if program is not None:
        return None if str(program).strip().lower() == NO_PROGRAM else Path(program)
    if lm.strip() != "local":
        return None
    if not LOCAL_DEFAULT_PROGRAM.is_file():
        logger.warning("The compiled default program %s is missing (reinstall sdg-program); running the uncompiled program.", LOCAL_DEFAULT_PROGRAM)
        return None
    return LOCAL_DEFAULT_PROGRAM


def demo_prompt_tokens(program, lm) -> int:
    """Prompt tokens the demos add to the costliest role's calls (0 without demos).

    Counted with the LM's own tokenizer when it has one (the embedded model), else estimated
    at 3 characters per token, the same rule ``window_chars_for`` uses.
    """
    import dspy

    adapter = dspy.JSONAdapter()
    counter = getattr(lm, "count_messages_tokens", None)
    most = 0
    for _, predictor in program.named_predictors():
        if not predictor.demos:
            continue
        messages = adapter.format_demos(predictor.signature, predictor.demos)
        if counter is not None:
            tokens = counter(messages)
        else:
            tokens = sum(len(str(message.get("content", ""))) for message in messages) // 3
        most = max(most, tokens)
    return most


def fit_window_to_demos(program, lm) -> None:
    """Shrink the generation window by what the loaded demos cost, unless --window-chars was set.

    ``window_chars_for`` sizes a window from the context length minus a fixed overhead for the
    instructions; demos come on top of that in every call, so without this a compiled program
    would overflow the context on rows that fill a window (the embedded model has 8k tokens).
    """
    from sdg_program.program.windows import window_chars_for

    if program.settings.window_chars is not None:
        return
    extra = demo_prompt_tokens(program, lm)
    if extra <= 0:
        return
    window = window_chars_for(lm, program.settings)
    program.settings = program.settings.model_copy(update={"window_chars": max(500, window - 3 * extra)})
