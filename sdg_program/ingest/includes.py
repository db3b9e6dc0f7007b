"""Snippet include directives: recognise them, and optionally replace them by the file they name.

MkDocs sites pull text in from other files: pymdown snippets (``--8<-- "file.md"``, or a
``--8<--`` block listing files, one a line) and FastAPI-style code includes
(``{* ../../docs_src/app.py hl[18,22] *}``). Neither is CommonMark, so markdown-it sees a
paragraph; :func:`include_targets` tells such a paragraph apart. In chunk text the
directive is noise: by default it is dropped. With ``resolve_includes`` an
:class:`IncludeResolver` reads the named file, but only a file that lies inside the
input folder (a document must not pull other data on the machine into a dataset).

Included text does not exist in the including file, so its units carry the span of the
directive: the one place where a unit's words are not inside its ``[start, end)`` span.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from sdg_program.ingest.documents import decode_bytes
from sdg_program.ingest.units import Unit

SNIPPET_LINE = re.compile(r"""^[ \t]*-+8<-+[ \t]+(["'])(?P<target>[^"'\n]+)\1[ \t]*$""")
SNIPPET_MARK = re.compile(r"^[ \t]*-+8<-+[ \t]*$")
CODE_INCLUDE = re.compile(r"^[ \t]*\{\*[ \t]*(?P<target>[^\s*]\S*)[^\n]*?\*\}[ \t]*$")
_LINE_RANGE = re.compile(r"^(?P<path>.+?):(?P<start>-?\d*)(?::(?P<end>-?\d*))?$")
_MARKDOWN_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".mdx": "mdx"}
MAX_DEPTH = 4


def include_targets(text: str) -> list[str] | None:
    """The files a paragraph of include directives names; None if it is not only directives.

    ``text`` is the paragraph's content (one or more lines). Lines of a ``--8<--`` block
    that start with ``;`` are commented out, as in pymdown.
    """
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return None
    if len(lines) >= 2 and SNIPPET_MARK.match(lines[0]) and SNIPPET_MARK.match(lines[-1]):
        return [line.strip() for line in lines[1:-1] if not line.strip().startswith(";")]
    targets = []
    for line in lines:
        match = SNIPPET_LINE.match(line) or CODE_INCLUDE.match(line)
        if match is None:
            return None
        targets.append(match.group("target"))
    return targets


def looks_like_include(text: str) -> bool:
    """Cheap test before :func:`include_targets`: does the text contain a directive marker?"""
    return "8<-" in text or "{*" in text


@dataclass(frozen=True)
class IncludeResolver:
    """Reads the files a document's include directives name, inside ``root`` only.

    A target is looked for next to the document, then under ``root`` (also with leading
    ``../`` removed, as sites resolve code includes from the docs root). pymdown line
    ranges (``file.md:3:8``) are honoured. Includes nest up to :data:`MAX_DEPTH` deep and
    never include a file already being included.
    """

    root: Path
    document: Path
    max_bytes: int = 5_000_000
    depth: int = 0
    seen: frozenset[Path] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", self.root.resolve())
        object.__setattr__(self, "seen", self.seen | {self.document.resolve()})

    def _inside_root(self, path: Path) -> bool:
        return path == self.root or self.root in path.parents

    def locate(self, target: str) -> Path | None:
        """The file ``target`` names, if it exists inside the root."""
        relative = Path(target)
        if relative.is_absolute():
            return None
        trimmed = Path(*[part for part in relative.parts if part not in ("..", ".")]) if relative.parts else relative
        for candidate in (self.document.parent / relative, self.root / relative, self.root / trimmed):
            try:
                real = candidate.resolve()
            except (OSError, RuntimeError):
                continue
            if self._inside_root(real) and real.is_file():
                return real
        return None

    def read(self, target: str) -> tuple[Path, str] | None:
        """``(path, text)`` of the file ``target`` names, or None when it cannot be used."""
        if self.depth >= MAX_DEPTH:
            return None
        target = target.strip()
        line_range: tuple[int, int] | None = None
        path = self.locate(target)
        if path is None:
            ranged = _LINE_RANGE.match(target)
            if ranged is None:
                return None
            path = self.locate(ranged.group("path"))
            if path is None:
                return None
            start = int(ranged.group("start") or 1)
            end = int(ranged.group("end") or 0)
            line_range = (start, end)
        if path in self.seen:
            return None
        try:
            if path.stat().st_size > self.max_bytes:
                return None
            decoded = decode_bytes(path.read_bytes())
        except OSError:
            return None
        if decoded is None:
            return None
        text = decoded[0]
        if line_range is not None:
            lines = text.splitlines(keepends=True)
            start, end = line_range
            text = "".join(lines[max(start, 1) - 1 : end if end > 0 else None])
        return path, text

    def nested(self, path: Path) -> IncludeResolver:
        """The resolver for directives inside the included file ``path``."""
        return replace(self, document=path, depth=self.depth + 1, seen=self.seen | {path})

    def units(self, targets: list[str], start: int, end: int) -> list[Unit]:
        """Units of the files ``targets`` name, all spanning the directive ``[start, end)``.

        A Markdown file is parsed (its own directives resolved in turn); any other file
        becomes one code unit.
        """
        from sdg_program.ingest.markup import parse_units  # the dispatcher; imported late, it imports us

        units: list[Unit] = []
        for target in targets:
            found = self.read(target)
            if found is None:
                continue
            path, text = found
            markup = _MARKDOWN_SUFFIXES.get(path.suffix.lower())
            if markup is None:
                code = text.strip("\n")
                if code.strip():
                    units.append(Unit(kind="code", text=code, start=start, end=end))
                continue
            for unit in parse_units(text, markup, includes=self.nested(path)):  # type: ignore[arg-type]
                units.append(replace(unit, start=start, end=end))
        return units

    def expand_code(self, code: str) -> str:
        """``code`` with every ``--8<-- "file"`` line replaced by the file's text (kept when unreadable)."""
        if "8<-" not in code:
            return code
        lines = []
        for line in code.split("\n"):
            match = SNIPPET_LINE.match(line)
            found = self.read(match.group("target")) if match else None
            lines.append(found[1].rstrip("\n") if found else line)
        return "\n".join(lines)
