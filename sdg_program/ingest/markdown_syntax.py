"""The Markdown grammar: markdown-it-py, its plugins, and two block rules for MkDocs syntax.

Documentation sites write Markdown for a renderer, not for CommonMark alone, so the
parser is CommonMark plus what those renderers add. mdit-py-plugins gives front matter,
MkDocs admonitions (``!!!``, ``???``, ``???+``), attribute lists, definition lists,
footnotes, task lists, ``$`` math and generic containers; GFM tables and strikethrough
are built in. Two syntaxes have no plugin and get a block rule here:

* pymdown blocks (``/// note | Title`` ... ``///``, nested with more slashes): the
  container plugin with ``/`` as its marker, tokens ``container_pymdown_open/close``
  whose ``info`` is ``name | title``;
* MkDocs content tabs (``=== "Tab"`` with an indented body): ``content_tab_open/close``
  with the title as an ``inline`` token, parsed like an admonition's.

A block rule (not a pre-pass over lines) keeps fenced code authoritative: ``///`` or
``===`` inside a code block stays code. Every block token keeps its source line map.
"""

from __future__ import annotations

import re
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from mdit_py_plugins.admon import admon_plugin
from mdit_py_plugins.attrs import attrs_block_plugin, attrs_plugin
from mdit_py_plugins.container import container_plugin
from mdit_py_plugins.deflist import deflist_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.front_matter import front_matter_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

PYMDOWN_BLOCK = "pymdown"  # container name: tokens are container_pymdown_open/close

# Characters an active inline rule can start at (escapes, code, emphasis, strikethrough, links,
# images, autolinks and HTML, entities, math, footnotes, attributes). Text without any is plain.
_INLINE_SYNTAX = re.compile(r"[\\`*_~\[\]!<>&$^{}]")
_TAB_HEADER = re.compile(r'===[+!]?[ \t]+"(?P<title>[^"\n]*)"[ \t]*$')
_PYMDOWN_NAME = re.compile(r"[ \t]*[A-Za-z][\w-]*")


def _content_tab(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """``=== "Title"`` followed by a body indented four spaces (MkDocs Material tabs)."""
    if state.sCount[start_line] - state.blkIndent >= 4:
        return False
    start = state.bMarks[start_line] + state.tShift[start_line]
    maximum = state.eMarks[start_line]
    if not state.src.startswith("===", start):
        return False
    header = _TAB_HEADER.match(state.src, start, maximum)
    if header is None:
        return False
    if silent:
        return True

    old_parent, old_line_max, old_indent = state.parentType, state.lineMax, state.blkIndent
    state.parentType = "content_tab"  # type: ignore[assignment]
    state.blkIndent += 4

    # The body is every following line indented past the marker; two blank lines end it.
    next_line = start_line
    was_empty = False
    while True:
        next_line += 1
        if next_line >= end_line:
            break
        is_empty = state.sCount[next_line] < state.blkIndent
        if is_empty and was_empty:
            break
        was_empty = is_empty
        line_start = state.bMarks[next_line] + state.tShift[next_line]
        if line_start < state.eMarks[next_line] and state.sCount[next_line] < state.blkIndent:
            break
    state.lineMax = next_line

    token = state.push("content_tab_open", "div", 1)
    token.block = True
    token.markup = "==="
    token.info = header.group("title")
    token.map = [start_line, next_line]
    token = state.push("inline", "", 0)
    token.content = header.group("title")
    token.map = [start_line, start_line + 1]
    token.children = []
    state.md.block.tokenize(state, start_line + 1, next_line)
    token = state.push("content_tab_close", "div", -1)
    token.block = True

    state.parentType, state.lineMax, state.blkIndent = old_parent, old_line_max, old_indent
    state.line = next_line
    return True


def _plain_inline(content: str, children: list[Token]) -> None:
    """The tokens markdown-it's inline parser gives text with no inline syntax: text and line breaks.

    As its ``newline`` rule does: two trailing spaces make a hard break, one is dropped,
    and the next line's leading spaces and tabs are skipped.
    """
    lines = content.split("\n")
    last = len(lines) - 1
    for number, line in enumerate(lines):
        if number:
            line = line.lstrip(" \t")
        kind = ""
        if number < last:
            kind = "softbreak"
            if line.endswith("  "):
                kind, line = "hardbreak", line.rstrip(" ")
            elif line.endswith(" "):
                line = line[:-1]
        if line:
            children.append(Token("text", "", 0, content=line))
        if kind:
            children.append(Token(kind, "br", 0))


def _inline(state: StateCore) -> None:
    """markdown-it's core ``inline`` rule, with plain text tokenised directly.

    Most headings and many paragraphs hold no inline syntax at all; running the inline
    rule chain over them costs about as much as parsing the blocks, for the same tokens.
    """
    md, env = state.md, state.env
    for token in state.tokens:
        if token.type != "inline":
            continue
        if token.children is None:
            token.children = []
        if _INLINE_SYNTAX.search(token.content) is None:
            _plain_inline(token.content, token.children)
        else:
            md.inline.parse(token.content, md, env, token.children)


def _is_pymdown_header(params: str, _markup: str) -> bool:
    """A pymdown block opens with a name (``/// note``, ``//// tab | Python``); a bare ``///`` closes one."""
    return _PYMDOWN_NAME.match(params) is not None


@lru_cache(maxsize=1)
def markdown_parser() -> MarkdownIt:
    """The one configured parser (building it is slow; parsing with it is thread-safe)."""
    md = (
        MarkdownIt("commonmark", {"html": True})
        .enable(["table", "strikethrough"])
        .use(front_matter_plugin)
        .use(admon_plugin)
        .use(container_plugin, name=PYMDOWN_BLOCK, marker="/", validate=_is_pymdown_header)
        .use(attrs_plugin)
        .use(attrs_block_plugin)
        .use(deflist_plugin)
        .use(footnote_plugin)
        .use(tasklists_plugin)
        .use(dollarmath_plugin, allow_space=False, allow_digits=False, double_inline=True)
    )
    md.block.ruler.before("fence", "content_tab", _content_tab, {"alt": ["paragraph", "reference", "blockquote", "list"]})
    md.core.ruler.at("inline", _inline)
    # Link destinations are never rendered: skip URL normalisation (percent-encoding, punycode)
    # and accept every scheme, so a `javascript:` link still counts as a link and keeps its text.
    md.normalizeLink = lambda url: url  # type: ignore[method-assign]
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    return md
