"""The package layout is a one-way stack of pipeline stages.

Every import in the source tree (module level and function level alike) is checked against
the stack below: a module may import its own stage and any stage beneath it, never one above
or beside it. So ``ingest`` cannot reach into ``runner``, ``export`` cannot call the CLI, and
``optimize`` (which uses the program) is not used by the program.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

# Bottom to top. Stages that share a rank are peers and may not import each other.
STACK: list[tuple[str, ...]] = [
    ("signatures",),
    ("sdg_program.core",),
    ("sdg_program.backends",),
    ("sdg_program.ingest",),
    ("sdg_program.program",),
    ("sdg_program.runner",),
    ("sdg_program.export",),
    ("sdg_program.evaluation", "sdg_program.hub"),
    ("optimize",),
    ("sdg_program.cli",),
]
RANK = {stage: rank for rank, stages in enumerate(STACK) for stage in stages}
SOURCE_DIRS = ("sdg_program", "signatures", "optimize")


def stage_of(module: str) -> str | None:
    """The stage a dotted module name belongs to (``sdg_program.ingest.chunking`` -> ``sdg_program.ingest``)."""
    for stage in sorted(RANK, key=len, reverse=True):
        if module == stage or module.startswith(stage + "."):
            return stage
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str) -> list[tuple[int, str]]:
    """Every absolute module an import statement in ``source`` names, with its line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "sdg_program":
                # `from sdg_program import x`: the root facade, or a submodule imported by name.
                found.extend((node.lineno, f"sdg_program.{alias.name}") for alias in node.names)
            else:
                found.append((node.lineno, node.module))
    return found


def source_files() -> list[Path]:
    return sorted(path for directory in SOURCE_DIRS for path in (REPO / directory).rglob("*.py"))


def violations_of(path: Path, source: str | None = None) -> list[str]:
    importer = module_name(path)
    source = path.read_text(encoding="utf-8") if source is None else source
    importer_stage = stage_of(importer)
    problems = []
    for line, imported in imported_modules(source):
        if imported.split(".")[0] not in {"sdg_program", "signatures", "optimize"}:
            continue
        imported_stage = stage_of(imported)
        if imported_stage is None:
            problems.append(f"{path.relative_to(REPO)}:{line} imports {imported}, which belongs to no stage")
        elif importer_stage is None or imported_stage == importer_stage:
            continue  # the root facade may import any stage; a stage may import itself
        elif RANK[imported_stage] >= RANK[importer_stage]:
            problems.append(f"{path.relative_to(REPO)}:{line} ({importer_stage}) imports {imported} ({imported_stage}), a stage above or beside it")
    return problems


def test_imports_flow_down_the_stack():
    problems = [problem for path in source_files() for problem in violations_of(path)]
    assert not problems, "\n".join(problems)


def test_every_module_of_sdg_program_sits_in_a_stage():
    loose = [path.name for path in (REPO / "sdg_program").glob("*.py") if path.name not in {"__init__.py", "__main__.py"}]
    assert not loose, f"modules outside a stage subpackage: {loose}"
    for path in (REPO / "sdg_program").glob("*/**/*.py"):
        assert stage_of(module_name(path)) is not None, f"{path.relative_to(REPO)}: its subpackage is not in STACK"


@pytest.mark.parametrize(
    ("importer", "source", "allowed"),
    [
        ("sdg_program/ingest/x.py", "from sdg_program.runner.rows import run_rows\n", False),
        ("sdg_program/ingest/x.py", "def f():\n    from sdg_program.cli.app import app\n", False),
        ("sdg_program/hub/x.py", "import sdg_program.evaluation.retrieval\n", False),
        ("sdg_program/program/x.py", "from optimize.metrics import score\n", False),
        ("sdg_program/core/x.py", "from sdg_program import ingest\n", False),
        ("sdg_program/export/x.py", "from sdg_program.program.validation import validate_pair\n", True),
        ("sdg_program/cli/x.py", "from optimize.compile import compile_program\n", True),
        ("optimize/x.py", "from sdg_program.runner.rows import run_rows\n", True),
    ],
)
def test_the_check_catches_upward_imports(importer, source, allowed):
    """The checker itself: an upward or sideways import is reported, a downward one is not."""
    assert (violations_of(REPO / importer, source) == []) is allowed


STAGE_PACKAGES = ["sdg_program", "sdg_program.core", "sdg_program.ingest", "sdg_program.backends", "sdg_program.program",
                  "sdg_program.runner", "sdg_program.export", "sdg_program.evaluation", "sdg_program.hub"]


@pytest.mark.parametrize("package", STAGE_PACKAGES)
def test_every_public_name_resolves_and_is_not_shadowed_by_a_submodule(package):
    """Each stage re-exports its entry points; a submodule of the same name would replace the
    function with the module once it is imported, so none may share a name."""
    import importlib
    import pkgutil
    import types

    module = importlib.import_module(package)
    submodules = {info.name for info in pkgutil.iter_modules(module.__path__)}
    assert module.__all__, package
    for name in module.__all__:
        assert name not in submodules, f"{package}.{name} is both a public name and a submodule"
        value = getattr(module, name)
        assert not isinstance(value, types.ModuleType), f"{package}.{name} resolved to a module"


def test_the_python_api_has_one_function_per_command():
    import inspect

    import sdg_program

    for command in ("chunk", "generate", "preview", "convert", "evaluate", "push", "finetune"):
        function = getattr(sdg_program, command)
        assert inspect.isfunction(function), command
        first = next(iter(inspect.signature(function).parameters.values()))
        assert first.name == "config", f"{command} takes a typed config first"
