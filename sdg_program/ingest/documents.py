"""Find documents under an input folder and read them safely.

Discovery is cheap (names only) and deterministic: the same folder gives the same
sorted list whatever order the file system returns. Reading is where bad input is
met: empty, binary, undecodable, unreadable or oversized files become a
:class:`Skip` with a reason instead of an exception, so one bad file never stops a run.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

logger = logging.getLogger(__name__)

# Reasons a file is skipped; the summary counts them.
SKIP_EMPTY = "empty"
SKIP_TOO_SHORT = "too_short"
SKIP_BINARY = "binary"
SKIP_UNDECODABLE = "undecodable"
SKIP_UNREADABLE = "unreadable"
SKIP_TOO_LARGE = "too_large"
SKIP_SYMLINK_LOOP = "symlink_loop"
SKIP_SYMLINK_OUTSIDE = "symlink_outside_input"
SKIP_SYMLINK_NOT_FOLLOWED = "symlink_not_followed"
SKIP_DUPLICATE = "duplicate"
SKIP_NO_CHUNKS = "no_chunks"

# Line breaks beyond \n and \r: str.splitlines() (and so many JSONL readers) break lines at them,
# yet json.dumps(ensure_ascii=False) writes them raw, so one record would read as several lines.
# They mean a line break, so they are read as one; one character for one keeps every offset valid.
_UNICODE_LINE_BREAKS = str.maketrans({"\u2028": "\n", "\u2029": "\n", "\x85": "\n"})


@dataclass(frozen=True)
class Skip:
    """A file that was not used, and why."""

    path: str
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class SourceFile:
    """A discovered file: its path relative to the input folder and on disk."""

    doc_id: str  # POSIX relative path, the stable document ID
    path: Path
    size: int


@dataclass(frozen=True)
class Document:
    """A file that was read and decoded."""

    doc_id: str
    path: Path
    text: str
    encoding: str


def matches_extension(name: str, extensions: list[str] | None) -> bool:
    """Case-insensitive suffix allow-list; ``""`` allows names without a dot; ``None`` allows all."""
    if extensions is None:
        return True
    lowered = name.lower()
    for extension in extensions:
        extension = extension.lower()
        if extension == "":
            if "." not in lowered.lstrip("."):
                return True
        elif lowered.endswith(extension if extension.startswith(".") else "." + extension):
            return True
    return False


def discover_files(
    input_dir: Path,
    *,
    file_pattern: str = "*",
    recursive: bool = True,
    file_extensions: list[str] | None = None,
    follow_symlinks: bool = True,
    allow_external_symlinks: bool = False,
    exclude_dirs: tuple[Path, ...] = (),
) -> tuple[list[SourceFile], list[Skip]]:
    """List matching files under ``input_dir``, sorted by relative path.

    Symbolic links are followed only while they stay inside the input folder (a link
    to a file outside would leak other data into a dataset) unless
    ``allow_external_symlinks`` is set. Each real file or folder is visited once, so a
    link loop or a second link to the same file is skipped with its reason.
    """
    root = input_dir.resolve()
    found: list[SourceFile] = []
    skipped: list[Skip] = []
    seen_real_files: set[Path] = set()
    seen_real_dirs: set[Path] = {root}
    excluded = {path.resolve() for path in exclude_dirs}

    def relative(path: Path) -> str:
        return path.relative_to(input_dir).as_posix()

    def inside_root(real: Path) -> bool:
        return real == root or root in real.parents

    def walk(folder: Path) -> Iterator[Path]:
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as error:
            skipped.append(Skip(relative(folder) if folder != input_dir else ".", SKIP_UNREADABLE, str(error)))
            return
        for entry in entries:
            path = Path(entry.path)
            is_link = entry.is_symlink()
            if is_link and not follow_symlinks:
                skipped.append(Skip(relative(path), SKIP_SYMLINK_NOT_FOLLOWED, "symlinks are not followed (--no-follow-symlinks)"))
                continue
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError as error:
                skipped.append(Skip(relative(path), SKIP_SYMLINK_LOOP if is_link else SKIP_UNREADABLE, str(error)))
                continue
            if is_link:
                try:
                    real = path.resolve(strict=True)
                except (OSError, RuntimeError) as error:
                    skipped.append(Skip(relative(path), SKIP_SYMLINK_LOOP, str(error)))
                    continue
                if not inside_root(real) and not allow_external_symlinks:
                    skipped.append(Skip(relative(path), SKIP_SYMLINK_OUTSIDE, "points outside the input folder (--allow-external-symlinks)"))
                    continue
            if is_dir:
                if not recursive:
                    continue
                real_dir = path.resolve()
                if real_dir in excluded:
                    continue
                if real_dir in seen_real_dirs:
                    skipped.append(Skip(relative(path), SKIP_SYMLINK_LOOP, "folder already visited"))
                    continue
                seen_real_dirs.add(real_dir)
                yield from walk(path)
            elif entry.is_file(follow_symlinks=True):
                yield path

    for path in walk(input_dir):
        name = path.name
        if not fnmatch.fnmatchcase(name, file_pattern):
            continue
        if not matches_extension(name, file_extensions):
            continue
        real = path.resolve()
        if real in seen_real_files:
            skipped.append(Skip(relative(path), SKIP_DUPLICATE, "same file reached through a symlink"))
            continue
        seen_real_files.add(real)
        try:
            size = path.stat().st_size
        except OSError as error:
            skipped.append(Skip(relative(path), SKIP_UNREADABLE, str(error)))
            continue
        found.append(SourceFile(doc_id=relative(path), path=path, size=size))

    found.sort(key=lambda source: source.doc_id)
    return found, skipped


def _looks_binary(data: bytes) -> bool:
    """NUL bytes or many control characters in the first 8 KiB mean binary."""
    sample = data[:8192]
    if b"\x00" in sample:
        return True
    control = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 12, 13, 27))
    return control > max(8, len(sample) // 20)


def decode_bytes(data: bytes) -> tuple[str, str] | None:
    """Decode ``data`` as UTF-8 (with or without BOM), UTF-16 with a BOM, or a detected charset.

    Returns ``(text, encoding)`` or ``None`` when no decoding is plausible.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            return None
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    if _looks_binary(data):
        return None
    from charset_normalizer import from_bytes

    # Short Western texts are ambiguous between single-byte code pages; Windows-1252
    # is by far the most common of them, so it wins whenever it is a plausible reading.
    matches = list(from_bytes(data))
    if not matches:
        return None
    chosen = next((match for match in matches if match.encoding == "cp1252"), matches[0])
    return str(chosen), chosen.encoding


def read_document(source: SourceFile, *, max_file_bytes: int | None) -> Document | Skip:
    """Read and decode one file, or say why it cannot be used."""
    if max_file_bytes is not None and source.size > max_file_bytes:
        return Skip(source.doc_id, SKIP_TOO_LARGE, f"{source.size} bytes > limit {max_file_bytes} (--max-file-bytes)")
    try:
        data = source.path.read_bytes()
    except OSError as error:
        return Skip(source.doc_id, SKIP_UNREADABLE, error.strerror or str(error))
    if not data.strip():
        return Skip(source.doc_id, SKIP_EMPTY, "no text" if not data else "whitespace only")
    if not data.startswith((b"\xff\xfe", b"\xfe\xff")) and b"\x00" in data[:8192]:
        return Skip(source.doc_id, SKIP_BINARY, "contains NUL bytes")
    decoded = decode_bytes(data)
    if decoded is None:
        return Skip(source.doc_id, SKIP_UNDECODABLE, "not UTF-8 and no fallback encoding fits")
    text, encoding = decoded
    text = text.translate(_UNICODE_LINE_BREAKS)
    if _looks_binary(text[:8192].encode("utf-8", "ignore")):
        return Skip(source.doc_id, SKIP_BINARY, "mostly control characters")
    if not text.strip():
        return Skip(source.doc_id, SKIP_EMPTY, "whitespace only")
    if encoding != "utf-8":
        logger.info("%s: decoded as %s (not UTF-8)", source.doc_id, encoding)
    return Document(doc_id=source.doc_id, path=source.path, text=text, encoding=encoding)
