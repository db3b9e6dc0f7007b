"""Which compiled program ``generate`` loads when the user names none.

``data/compiled/local_default.json`` was compiled for the embedded SmolLM2-135M (``--lm local``)
by ``sdg-program compile`` (see ``data/compiled/README.md``), so it is the default only for that
model: its demos were chosen by how much they helped *that* model, and another model may do better
without them. ``--program none`` runs the uncompiled program.
"""

from __future__ import annotations

from pathlib import Path

LOCAL_DEFAULT_PROGRAM = Path(__file__).resolve().parent.parent / "data" / "compiled" / "local_default.json"
NO_PROGRAM = "none"


def resolve_program(program: Path | str | None, lm: str) -> Path | None:
    """The program file to load: the one given, none for ``none``, else the default of ``--lm local``."""
    if program is not None:
        return None if str(program).strip().lower() == NO_PROGRAM else Path(program)
    if lm.strip() == "local" and LOCAL_DEFAULT_PROGRAM.is_file():
        return LOCAL_DEFAULT_PROGRAM
    return None
