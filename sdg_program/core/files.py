"""Writing output files so that a crash never leaves a half-written file behind.

Every file is written to a temporary file beside its target and renamed into place. The
temporary is named ``.<name>.<pid>.<random>.tmp``: a process killed with SIGKILL cannot remove
it, so the next write of the same target (and ``convert`` on start, for its whole output folder)
removes the temporaries whose process no longer runs. Temporaries of a live process, such as a
second run writing into the same folder, are never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

# ".<target name>.<pid>.<mkstemp's random part>.tmp"; the random part has no dots.
_TEMPORARY_FILE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp$")
# "<prefix>.<pid>.<mkdtemp's random part>" for working folders (see make_work_dir).
_WORK_DIR = re.compile(r"^(?P<prefix>.+)\.(?P<pid>\d+)\.[A-Za-z0-9_]+$")


def _file_mode_for_new_files() -> int:
    """What ``open()`` would give a new file (0o666 minus the umask); mkstemp's temporaries are 0o600.

    Read once at import, while nothing else runs: ``os.umask`` can only be read by setting it.
    """
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


_NEW_FILE_MODE = _file_mode_for_new_files()
_LINE_BREAKS_INSIDE_JSON = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\u0085": "\\u0085"})


def jsonl_text(value: Any) -> str:
    """One JSON Lines line: UTF-8 text as is, but U+2028, U+2029 and U+0085 escaped.

    They are legal inside JSON strings, yet Python's ``str.splitlines()`` (and other line readers)
    break a line at them, so one record would read as several.
    """
    return json.dumps(value, ensure_ascii=False).translate(_LINE_BREAKS_INSIDE_JSON)


def process_running(pid: int) -> bool:
    """True unless ``pid`` is certainly gone. Anything uncertain counts as running, so nothing live is removed."""
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return True  # os.kill(pid, 0) is not a probe on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's live process
        return True
    return True


def _entries_of_dead_processes(directory: Path, pattern: re.Pattern, group: str, wanted: str | None) -> Iterator[os.DirEntry]:
    """Entries of ``directory`` named by ``pattern`` (its ``group`` equal to ``wanted``, if given) whose process is gone.

    A missing folder has no entries.
    """
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or (wanted is not None and match.group(group) != wanted):
            continue
        if not process_running(int(match.group("pid"))):
            yield entry


def remove_stale_temporaries(directory: Path, name: str | None = None) -> list[Path]:
    """Remove temporaries of our naming in ``directory`` (of target ``name`` only, if given) left by dead processes; return them."""
    removed: list[Path] = []
    for entry in _entries_of_dead_processes(directory, _TEMPORARY_FILE, "name", name):
        if not entry.is_file(follow_symlinks=False):
            continue
        Path(entry.path).unlink(missing_ok=True)
        removed.append(Path(entry.path))
    return removed


def new_temporary(path: Path) -> tuple[int, Path]:
    """Create an empty ``.<name>.<pid>.<random>.tmp`` beside ``path``; return its open descriptor and path.

    Stale temporaries of the same target, left by killed processes, are removed first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, path.name)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    if hasattr(os, "fchmod"):
        os.fchmod(handle, _NEW_FILE_MODE)  # the renamed file gets the permissions of any other new file
    return handle, Path(temporary)


def make_work_dir(prefix: str, parent: Path | None = None) -> Path:
    """A new working folder ``<prefix>.<pid>.<random>`` in ``parent`` (default: the system temp folder).

    Working folders of the same prefix whose process no longer runs (a run killed with SIGKILL
    cannot clean up) are removed first, so they do not pile up.
    """
    parent = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_work_dirs(prefix, parent)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}.{os.getpid()}.", dir=parent))


def remove_stale_work_dirs(prefix: str, parent: Path) -> list[Path]:
    """Remove ``<prefix>.<pid>.<random>`` folders in ``parent`` whose process no longer runs; return them."""
    removed: list[Path] = []
    for entry in _entries_of_dead_processes(parent, _WORK_DIR, "prefix", prefix):
        if not entry.is_dir(follow_symlinks=False):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)  # another user's folder cannot be removed: left alone
        if not os.path.lexists(entry.path):
            removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for writers that want a path, not a stream (``to_parquet``, ``write_text``).

    When the block succeeds the temporary is fsynced and renamed onto ``path``; when it fails the
    temporary is removed and ``path`` is left as it was.
    """
    handle, temporary = new_temporary(path)
    os.close(handle)
    try:
        yield temporary
        handle = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_jsonl_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write ``rows`` as JSON lines to a temporary file beside ``path``, then rename it into place.

    Returns the number of rows written. If iterating ``rows`` raises, ``path`` is left
    untouched and the temporary file is removed.
    """
    handle, temporary = new_temporary(path)
    count = 0
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            for row in rows:
                stream.write(jsonl_text(row))
                stream.write("\n")
                count += 1
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return count


def write_json_atomic(path: Path, data: Any) -> None:
    """Write one JSON document atomically (temporary file, then rename)."""
    handle, temporary = new_temporary(path)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream, indent=2, ensure_ascii=False)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
