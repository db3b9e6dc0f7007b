"""packaging/install.py: what it hands to pip, checked without installing anything.

The install itself runs for real on every CI run (the README's test command starts with it), so
these tests pin the parts a broken edit would get wrong quietly: which requirements the
foreground pip installs while llama-cpp-python compiles, the order of the CMake arguments, and
that the final command installs the project with the wheel that was built.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shlex
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO

SCRIPT = REPO / "packaging" / "install.py"


@pytest.fixture(scope="module")
def install():
    # Loaded from its path: packaging/ is not a Python package (its name would shadow PyPI's `packaging`).
    spec = importlib.util.spec_from_file_location("sdg_install_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_the_foreground_installs_every_dependency_but_the_compiled_one(install):
    pyproject = REPO / "pyproject.toml"
    plain = install.requirements_without_compiled(pyproject, [])
    left_out = ("llama-cpp-python", *install.NEEDS_COMPILED)
    assert set(plain) == {requirement for requirement in project()["dependencies"] if not requirement.startswith(left_out)}

    with_test = install.requirements_without_compiled(pyproject, ["test"])
    assert set(plain) < set(with_test)
    assert "pytest-xdist>=3.5" in with_test
    assert not any(install.normalized_name(requirement) == "llama-cpp-python" for requirement in with_test)  # also not its [server] extra
    assert len(with_test) == len(set(with_test))


def requires_compiled(requirement: str, seen: set[str]) -> bool:
    """Whether an installed requirement needs llama-cpp-python, directly or through its own
    requirements (with the extras it asks for), as this environment's metadata says."""
    parsed = Requirement(requirement)
    name = canonicalize_name(parsed.name)
    if name == "llama-cpp-python":
        return True
    if name in seen:
        return False
    seen.add(name)
    for extra in ("", *parsed.extras):
        for child in importlib.metadata.requires(parsed.name) or []:
            child_requirement = Requirement(child)
            if child_requirement.marker is None or child_requirement.marker.evaluate({"extra": extra}):
                if requires_compiled(child, seen):
                    return True
    return False


def test_nothing_the_foreground_installs_needs_llama_cpp_python(install):
    """Else the foreground pip compiles llama.cpp a second time, at the same time as the background
    one: NEEDS_COMPILED must list every dependency that pulls llama-cpp-python in."""
    foreground = install.requirements_without_compiled(REPO / "pyproject.toml", ["test"])
    assert [requirement for requirement in foreground if requires_compiled(requirement, set())] == []
    for name in install.NEEDS_COMPILED:  # and each one listed still does, or it belongs in the foreground
        assert requires_compiled(name, set()), name


def test_names_are_compared_as_pep_503_normalises_them(install):
    assert install.normalized_name("Llama_CPP.python[server]>=0.3.7") == "llama-cpp-python"
    assert install.normalized_name("ray[data]>=2.40") == "ray"
    with pytest.raises(ValueError):
        install.normalized_name(">=1.0")
    every_requirement = [*project()["dependencies"], *(r for extra in project()["optional-dependencies"].values() for r in extra)]
    for requirement in every_requirement:  # the same names as `packaging`, which the script cannot import on a bare python3
        assert install.normalized_name(requirement) == canonicalize_name(Requirement(requirement).name), requirement


def test_the_users_cmake_args_come_after_ours_so_they_win(install):
    ours = install.cmake_args(None)
    assert ours.startswith("-DLLAVA_BUILD=OFF ")
    assert f"-DCMAKE_PROJECT_llama.cpp_INCLUDE={REPO / 'packaging' / 'llama-cpp-minimal.cmake'}" in ours
    combined = install.cmake_args("-DGGML_CUDA=on -DLLAVA_BUILD=ON")
    assert combined.startswith(ours)
    assert combined.endswith("-DGGML_CUDA=on -DLLAVA_BUILD=ON")


def test_dry_run_prints_a_new_pip_the_background_compile_then_the_two_installs():
    completed = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--extras", "test", "--venv", "/tmp/some-venv"],
                               capture_output=True, text=True, check=True)
    lines = completed.stdout.strip().splitlines()
    assert len(lines) == 5
    assert lines[0].endswith("-m venv /tmp/some-venv")
    assert shlex.split(lines[1]) == ["/tmp/some-venv/bin/python", "-m", "pip", "install", "--quiet", "--upgrade", "pip>=26"]
    compile_line, rest_line, project_line = lines[2:]
    assert compile_line.startswith("CMAKE_ARGS=") and compile_line.endswith(" &")
    compile_args = shlex.split(compile_line.removesuffix(" &"))
    assert compile_args[1:5] == ["/tmp/some-venv/bin/python", "-m", "pip", "wheel"]
    assert compile_args[-1] == "llama-cpp-python" and "--no-deps" in compile_args
    wheel_dir = compile_args[compile_args.index("--wheel-dir") + 1]

    rest_args = shlex.split(rest_line)
    assert rest_args[:4] == ["/tmp/some-venv/bin/python", "-m", "pip", "install"]
    assert "torch==2.13.0" in rest_args and "ray[data]>=2.40" in rest_args
    assert not any(arg.startswith("llama-cpp-python") for arg in rest_args)

    project_args = shlex.split(project_line)
    assert project_args[project_args.index("--find-links") + 1] == wheel_dir
    assert project_args[-2:] == ["-e", f"{REPO}[test]"]
    for args in (compile_args, rest_args, project_args):
        assert args[args.index("-c") + 1] == str(REPO / "constraints.txt")


def test_an_unknown_extra_is_refused_before_anything_runs():
    completed = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--extras", "tests"], capture_output=True, text=True)
    assert completed.returncode != 0
    assert "unknown extra(s) tests" in completed.stderr and "test" in completed.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="process groups are POSIX")
def test_stopping_the_background_build_also_stops_what_it_started(install, tmp_path):
    """A failed foreground install (or Ctrl-C) must not leave cmake and the compilers running."""
    marker = tmp_path / "grandchild.pid"
    job = subprocess.Popen(["sh", "-c", f"sleep 60 & echo $! > {marker}; wait"], start_new_session=True)
    for _ in range(100):
        if marker.exists() and marker.read_text().strip():
            break
        time.sleep(0.05)
    grandchild = int(marker.read_text())
    install.stop(job)
    assert job.returncode is not None
    for _ in range(100):  # the grandchild is not ours to reap: wait until it is gone or a zombie
        try:
            state = Path(f"/proc/{grandchild}/stat").read_text().split(")")[1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"process {grandchild} started by the background job is still running")
    install.stop(job)  # a second call on an ended job does nothing
