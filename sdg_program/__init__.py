"""sdg-program: retriever training and evaluation data from your own documents.

The Python API mirrors the CLI: ``iter_seed_rows`` (chunk), ``RetrievalSDG`` (the
DSPy program), ``generate`` / ``preview`` (run it over a corpus). Heavy modules are
imported on first use so that ``import sdg_program`` stays fast.
"""

from __future__ import annotations

import os
from typing import Any

# LiteLLM (under DSPy) otherwise fetches its model price list from GitHub on first use;
# nothing may need the network at run time, and the bundled copy is enough.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__all__ = ["ChunkingConfig", "GenerateConfig", "GenerationSettings", "RetrievalSDG", "generate", "iter_seed_rows", "preview"]

_LAZY = {
    "ChunkingConfig": "sdg_program.config",
    "GenerationSettings": "sdg_program.config",
    "GenerateConfig": "sdg_program.runner",
    "RetrievalSDG": "sdg_program.program",
    "generate": "sdg_program.generation",
    "preview": "sdg_program.generation",
    "iter_seed_rows": "sdg_program.chunking",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sdg_program' has no attribute {name!r}")
