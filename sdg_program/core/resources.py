"""Files that ship with sdg-program and are read at run time, found with ``importlib.resources``.

They are the package ``sdg_program.data``: in the repository the top-level ``data/`` folder, which
pyproject.toml maps to that package; in a wheel ``sdg_program/data/`` next to the code. Found
through the package, they never depend on the current folder (a user's relative paths do) nor on
a source checkout, so every command works from any folder and an installed copy reads its own files.

- ``sample_docs/``: four pages of the DSPy docs, for a first try (``chunk --sample``, ``generate --sample``)
- ``gold/``: the gold set ``compile`` optimises on by default
- ``compiled/``: compiled programs; ``local_default.json`` is the default of ``generate --lm local``
- ``quality/``: the labelled pair-quality set (``bench/bench_quality.py``)
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

DATA_PACKAGE = "sdg_program.data"


def shipped_path(*parts: str) -> Path:
    """The shipped file or folder ``parts`` (``"gold"``, ``"compiled", "local_default.json"``) as a path on disk.

    Every installer sdg-program supports (pip, pipx, uv, editable) unpacks the package to files;
    a zip import would give no path, and the commands need one (they hand folders to the chunker).
    """
    resource = files(DATA_PACKAGE).joinpath(*parts)
    if not isinstance(resource, Path):
        raise RuntimeError(f"sdg-program's data is not on the file system ({resource!r}): install sdg-program with pip, not as a zip")
    return resource


def sample_docs_dir() -> Path:
    """The sample corpus: four pages of the DSPy documentation."""
    return shipped_path("sample_docs")


def gold_dir() -> Path:
    """The gold set (train.jsonl, dev.jsonl, judge.jsonl) that ``compile`` uses unless ``--gold`` names another."""
    return shipped_path("gold")


def quality_dir() -> Path:
    """The labelled pair-quality set (pairs.jsonl) the quality benchmark measures."""
    return shipped_path("quality")


def compiled_program(name: str) -> Path:
    """The shipped compiled program ``name`` (``local_default``)."""
    return shipped_path("compiled", f"{name}.json")
