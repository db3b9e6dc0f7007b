"""Re-export a package's public names without importing its heavy modules up front.

Each stage package lists its entry points in ``__all__`` (as ``sentence_transformers/evaluation``
does), but importing, say, ``sdg_program.backends`` must not load DSPy and torch for a caller who
only wanted the fault classifier; ``sdg-program --help`` should not wait for them either. So a
name is imported from its module the first time it is looked up.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, resolving each name of ``exports`` from its module.

    ``exports`` maps a public name to the dotted module that defines it. A public name must not
    also be a submodule of the package: once that submodule is imported, Python binds the module
    to the package attribute and the name would stop meaning the function.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
