"""Re-export a package's public names without importing its heavy modules up front.

Each stage package lists its entry points in ``__all__`` (as ``sentence_transformers/evaluation``
does), but importing, say, ``sdg_program.backends`` must not load DSPy and torch for a caller who
only wanted the fault classifier; ``sdg-program --help`` should not wait for them either. So a
name is imported from its module the first time it is looked up.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, modules: dict[str, list[str]]) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for ``package``, which re-exports ``modules``' names.

    ``modules`` maps a module, relative to ``package`` (``"chunking"``, or ``"ingest.chunking"`` from
    the root), to the public names it defines. A public name must not also be a submodule of the
    package: once that submodule is imported, Python binds the module to the package attribute and
    the name would stop meaning the function (``tests/test_layout.py`` checks this).
    """
    owner = {name: f"{package}.{module}" for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = owner.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return sorted(owner)

    return sorted(owner), __getattr__, __dir__
