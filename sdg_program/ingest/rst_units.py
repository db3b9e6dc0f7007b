"""reStructuredText to units, parsed by docutils.

reST's syntax depends on indentation, directives and roles that regular expressions
guess at badly; docutils is its reference parser, so the document tree it builds is
walked instead:

* section titles are headings (level = section depth); titles of admonitions and
  topics, and rubrics, are block titles;
* paragraphs, list items, definitions, field bodies, footnotes and the contents of
  admonitions (``.. note::``) become sentences; roles keep their text
  (``:func:`dspy.Predict``` gives ``dspy.Predict``; ``:ref:`Guide <label>``` gives ``Guide``);
  inline literals keep one pair of backticks, like Markdown code spans;
* literal blocks (``::``, ``.. code-block::``) and doctest blocks are code units,
  tables are table units (rows of cells joined by `` | ``);
* comments, targets, substitution definitions, document info, ``toctree``, autodoc and
  other directives with no prose, and parser messages are dropped.

docutils knows no Sphinx directives, so the common ones are registered here: those
holding prose parse their content, the rest drop it. Nodes carry no character offsets,
so each block is found in the source from its ``rawsource`` with a forward-only cursor
and its text is located inside that span.
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any

from docutils import nodes
from docutils.core import publish_doctree
from docutils.parsers.rst import Directive, directives
from docutils.parsers.rst.languages import en as english

from sdg_program.ingest.markdown_inline import InlineLocator
from sdg_program.ingest.offsets import OffsetMap
from sdg_program.ingest.sentences import split_sentence_spans
from sdg_program.ingest.units import BLOCK_TITLE_LEVEL, Unit

logger = logging.getLogger(__name__)

_SETTINGS: dict[str, Any] = {
    "report_level": 5,  # no messages on stderr
    "halt_level": 5,  # never raise on a bad document
    "warning_stream": io.StringIO(),
    "file_insertion_enabled": False,  # ``.. include::`` must not read other files
    "raw_enabled": False,
    "syntax_highlight": "none",
    "doctitle_xform": False,  # keep the top title a section title, level 1
    "sectsubtitle_xform": False,
    "docinfo_xform": True,
    "_disable_config": True,  # no docutils.conf from the working directory
}

# Sphinx directives whose content is prose (parsed) and those with none worth keeping.
_PROSE_DIRECTIVES = (
    "versionadded", "versionchanged", "deprecated", "versionremoved", "seealso", "only", "tab", "tabs",
    "group-tab", "tab-set", "tab-item", "card", "grid", "grid-item", "grid-item-card", "dropdown", "centered",
    "hlist", "glossary", "todo", "ifconfig", "cssclass",
)
_EMPTY_DIRECTIVES = (
    "toctree", "autosummary", "automodule", "autoclass", "autofunction", "automethod", "autoattribute",
    "autodata", "autoexception", "currentmodule", "module", "py:module", "py:currentmodule", "index",
    "literalinclude", "highlight", "tabularcolumns", "sectionauthor", "moduleauthor", "codeauthor",
    "graphviz", "mermaid", "plot", "jupyter-execute", "ipython", "testsetup", "testcleanup", "doctest",
    "testcode", "testoutput", "program", "option", "envvar", "describe", "object", "function", "class",
    "method", "attribute", "data", "exception", "decorator", "py:function", "py:class", "py:method",
    "py:attribute", "py:data", "py:exception", "py:decorator",
)
_ROLE_TEXT = re.compile(r"^(?::[\w:.+-]+:)?`(?P<text>.*?)`(?::[\w:.+-]+:)?_{0,2}$", re.DOTALL)
_ROLE_TITLE = re.compile(r"^(?P<title>.*?)\s*<[^<>]*>$", re.DOTALL)
_SKIPPED_NODES = (
    nodes.comment, nodes.target, nodes.substitution_definition, nodes.system_message, nodes.docinfo,
    nodes.pending, nodes.raw, nodes.footnote_reference, nodes.citation_reference, nodes.label,
    nodes.image, nodes.transition,
)


class _AnyOptions(dict):
    """An option spec that accepts every option (Sphinx directives have many)."""

    def __missing__(self, key: str) -> Any:
        return directives.unchanged


class _ProseDirective(Directive):
    has_content = True
    optional_arguments = 1
    final_argument_whitespace = True
    option_spec = _AnyOptions()

    def run(self) -> list[nodes.Node]:
        node = nodes.container()
        self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


class _EmptyDirective(_ProseDirective):
    def run(self) -> list[nodes.Node]:
        return []


_registered = False


def _register_sphinx_directives() -> None:
    """Teach docutils the common Sphinx directives (only names it does not know already)."""
    global _registered
    if _registered:
        return
    for names, directive in ((_PROSE_DIRECTIVES, _ProseDirective), (_EMPTY_DIRECTIVES, _EmptyDirective)):
        for name in names:
            if name not in english.directives:  # never replace one docutils knows
                directives.register_directive(name, directive)
    _registered = True


class RstUnits:
    """Builds the units of one reST document from its docutils tree."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.cursor = 0
        self.units: list[Unit] = []

    # -- finding blocks --------------------------------------------------------------

    def locate_block(self, raw: str, fallback: str) -> tuple[int, int]:
        """Span of a block whose source lines are ``raw`` (dedented), found after the cursor."""
        lines = [line.strip() for line in (raw or fallback).split("\n") if line.strip()]
        source = self.source
        if not lines:
            return self.cursor, self.cursor
        start = source.find(lines[0], self.cursor)
        if start == -1:
            return self.cursor, min(len(source), self.cursor + 4 * len(fallback) + 200)
        end = start + len(lines[0])
        for line in lines[1:]:
            found = source.find(line, end)
            if found == -1:
                break
            end = found + len(line)
        return start, end

    # -- unit makers -----------------------------------------------------------------

    def clean(self, node: nodes.Element, start: int, end: int) -> OffsetMap:
        locator = InlineLocator(self.source, start, end)
        offsets = OffsetMap()
        self._clean_into(node, locator, offsets)
        return offsets

    def _clean_into(self, node: nodes.Node, locator: InlineLocator, offsets: OffsetMap) -> None:
        for child in node.children:
            if isinstance(child, nodes.Text):
                lines = str(child).split("\n")
                for number, line in enumerate(lines):
                    if number:
                        offsets.add(" ", locator.cursor, locator.cursor, False)
                    if line:
                        locator.verbatim(line, offsets)
            elif isinstance(child, _SKIPPED_NODES):
                continue
            elif isinstance(child, nodes.problematic):
                locator.verbatim(_role_text(child.rawsource or child.astext()), offsets)
            elif isinstance(child, nodes.literal):
                # inline code keeps one pair of backticks, as Markdown code spans do
                offsets.add("`", locator.cursor, locator.cursor, False)
                self._clean_into(child, locator, offsets)
                offsets.add("`", locator.cursor, locator.cursor, False)
            else:
                self._clean_into(child, locator, offsets)

    def text_block(self, node: nodes.Element, heading_level: int = 0) -> None:
        text = node.astext()
        if not text.strip():
            return
        start, end = self.locate_block(node.rawsource, text)
        offsets = self.clean(node, start, end)
        self.cursor = max(self.cursor, end)
        cleaned = offsets.text()
        if not cleaned.strip():
            return
        if heading_level:
            stripped = cleaned.strip()
            lead = len(cleaned) - len(cleaned.lstrip())
            self.units.append(
                Unit(
                    kind="heading",
                    text=stripped,
                    start=offsets.to_source(lead, False),
                    end=offsets.to_source(lead + len(stripped), True),
                    level=heading_level,
                )
            )
            return
        for first, last in split_sentence_spans(cleaned):
            self.units.append(
                Unit(kind="sentence", text=cleaned[first:last], start=offsets.to_source(first, False), end=offsets.to_source(last, True))
            )

    def code(self, node: nodes.Element) -> None:
        text = node.astext().strip("\n")
        if not text.strip():
            return
        start, end = self.locate_block(text, text)
        self.cursor = max(self.cursor, end)
        self.units.append(Unit(kind="code", text=text, start=start, end=max(end, start + 1)))

    def table(self, node: nodes.Element) -> None:
        rows = []
        first_start: int | None = None
        last_end = self.cursor
        for row in node.findall(nodes.row):
            cells = []
            for entry in row.findall(nodes.entry):
                entry_text = " ".join(entry.astext().split())
                cells.append(entry_text)
                if entry_text:
                    start, end = self.locate_block(entry_text.split(" ")[0], entry_text)
                    if first_start is None:
                        first_start = start
                    last_end = max(last_end, end)
                    self.cursor = max(self.cursor, start)
            if any(cells):
                rows.append(" | ".join(cells))
        if rows and first_start is not None:
            self.cursor = max(self.cursor, last_end)
            self.units.append(Unit(kind="table", text="\n".join(rows), start=first_start, end=max(last_end, first_start + 1)))

    # -- the walk --------------------------------------------------------------------

    def walk(self, node: nodes.Element, depth: int) -> None:
        for child in node.children:
            if isinstance(child, _SKIPPED_NODES) or isinstance(child, nodes.Text):
                continue
            if isinstance(child, nodes.topic) and "contents" in child.get("classes", []):
                continue  # a generated table of contents repeats the titles
            if isinstance(child, nodes.section):
                self.walk(child, depth + 1)
            elif isinstance(child, nodes.title):
                self.text_block(child, heading_level=depth if isinstance(node, nodes.section) else BLOCK_TITLE_LEVEL)
            elif isinstance(child, nodes.rubric):
                self.text_block(child, heading_level=BLOCK_TITLE_LEVEL)
            elif isinstance(child, (nodes.literal_block, nodes.doctest_block)):
                self.code(child)
            elif isinstance(child, nodes.math_block):
                self.text_block(child)
            elif isinstance(child, nodes.table):
                self.table(child)
            elif isinstance(child, nodes.TextElement):
                self.text_block(child)
            else:
                self.walk(child, depth)

    def parse(self) -> list[Unit]:
        _register_sphinx_directives()
        document = publish_doctree(self.source, settings_overrides=dict(_SETTINGS, warning_stream=io.StringIO()))
        self.walk(document, 0)
        self.units.sort(key=lambda unit: unit.start)
        return self.units


def _role_text(raw: str) -> str:
    """The text of an interpreted-text role docutils does not know: ``:ref:`Guide <x>``` gives ``Guide``."""
    match = _ROLE_TEXT.match(raw.strip())
    if match is None:
        return raw
    text = match.group("text")
    titled = _ROLE_TITLE.match(text)
    if titled and titled.group("title"):
        return titled.group("title")
    return text.lstrip("~!")


def rst_units(source: str) -> list[Unit]:
    """Units of a reStructuredText document, in source order.

    A document docutils cannot parse at all is read as plain paragraphs (with a warning)
    rather than lost.
    """
    try:
        return RstUnits(source).parse()
    except Exception as error:  # docutils raises on a few pathological inputs
        logger.warning("reStructuredText parser failed (%r); reading the document as plain text", error)
        from sdg_program.ingest.markup import parse_units  # the dispatcher imports this module

        return parse_units(source, "plain")
