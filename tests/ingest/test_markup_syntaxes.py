"""One fixture per syntax (tests/data/markup): the clean text of its units, and their offsets.

Offsets: every word of a unit lies, in order, inside ``source[start:end]``, and a
heading's or sentence's span starts and ends with the unit's first and last character.
The same holds for every chunk, and chunk IDs are the same on a second run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sdg_program.ingest.chunking import chunk_text
from sdg_program.ingest.includes import IncludeResolver, include_targets
from sdg_program.ingest.markup import Unit, markup_for_extension, parse_units

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "markup"
WORD = re.compile(r"\w+")


def words_in_order(text: str, span: str) -> bool:
    position = 0
    for word in WORD.findall(text):
        found = span.find(word, position)
        if found == -1:
            return False
        position = found + len(word)
    return True


def assert_offsets(source: str, units: list[Unit], exempt: tuple[str, ...] = ()) -> None:
    for unit in units:
        assert 0 <= unit.start < unit.end <= len(source), unit
        span = source[unit.start : unit.end]
        if unit.text in exempt:
            continue
        assert words_in_order(unit.text, span), (unit, span)
        if unit.kind in ("heading", "sentence"):
            assert span[0] == unit.text[0] and span[-1] == unit.text[-1], (unit, span)


def load(name: str) -> tuple[str, list[Unit]]:
    source = (FIXTURES / name).read_text(encoding="utf-8")
    return source, parse_units(source, markup_for_extension(Path(name).suffix))


def texts(units: list[Unit]) -> list[tuple]:
    return [(unit.kind, unit.text, unit.level) if unit.kind == "heading" else (unit.kind, unit.text) for unit in units]


def test_mkdocs_admonitions_keep_titles_and_bodies():
    source, units = load("admonitions.md")
    assert texts(units) == [
        ("heading", "Admonitions", 1),
        ("heading", "Requires numpy", 6),
        ("sentence", "Install numpy first."),
        ("sentence", "Collapsed tip text."),  # `??? tip` has no title of its own: none is made up
        ("heading", "Open by default", 6),
        ("sentence", "This one starts open."),
        ("sentence", "It has two paragraphs."),
        ("heading", "How does it work?", 6),  # `??? "Title"`: a title with no type
        ("sentence", "A details box with a title and no type."),
        ("sentence", "After the boxes."),
    ]
    assert_offsets(source, units)


def test_pymdown_blocks_and_nested_tabs():
    source, units = load("pymdown_blocks.md")
    assert texts(units) == [
        ("heading", "Blocks", 1),
        ("heading", "Some title", 6),
        ("sentence", "Inner text of the note."),  # the indented `type: warning` option is not code
        ("heading", "Test", 6),
        ("sentence", "Tab one text."),
        ("heading", "More", 6),
        ("sentence", "Nested details text."),
        ("heading", "Prod", 6),
        ("sentence", "Tab two text."),
        ("sentence", "A tip without a title."),
        ("sentence", "Done."),
    ]
    assert_offsets(source, units)


def test_pymdown_fence_inside_code_stays_code():
    source = "```rust\n/// A doc comment\nfn main() {}\n///\n```\n\nAfter."
    units = parse_units(source)
    assert texts(units) == [("code", "```rust\n/// A doc comment\nfn main() {}\n///\n```"), ("sentence", "After.")]


def test_content_tabs_keep_their_indented_bodies_as_text_and_code():
    source, units = load("content_tabs.md")
    assert texts(units) == [
        ("heading", "Tabs", 1),
        ("heading", "Python", 6),
        ("sentence", "Python text here."),
        ("code", '```python\nprint("hi")\n```'),  # dedented to the tab body
        ("heading", "Console", 6),
        ("sentence", "Console text here."),
        ("sentence", "Outside the tabs."),
    ]
    assert_offsets(source, units)


def test_attribute_lists_are_dropped():
    source, units = load("attr_lists.md")
    assert texts(units) == [
        ("heading", "Code snippets", 1),
        ("heading", "Second heading", 2),
        ("sentence", "Click the button now."),
        ("sentence", "A paragraph with an id."),
        ("sentence", "Logo"),  # an image keeps its alt text
    ]
    assert_offsets(source, units)
    assert source[units[0].start : units[0].end] == "Code snippets"


def test_snippet_includes_are_dropped_by_default():
    source, units = load("snippets.md")
    assert texts(units) == [("heading", "Snippets", 1), ("sentence", "Before the include."), ("sentence", "After the include.")]
    assert_offsets(source, units)


def test_snippet_includes_resolve_inside_the_input_folder():
    source = (FIXTURES / "snippets.md").read_text(encoding="utf-8")
    resolver = IncludeResolver(FIXTURES, FIXTURES / "snippets.md")
    units = parse_units(source, "markdown", includes=resolver)
    included = ["Included sentence one.", "Included sentence two."]
    assert texts(units) == [
        ("heading", "Snippets", 1),
        ("sentence", "Before the include."),
        *[("sentence", text) for text in included],
        ("code", 'def greet(name):\n    return f"Hello {name}"'),
        *[("sentence", text) for text in included],
        ("sentence", "After the include."),
    ]
    # included text spans its directive
    directive = source.index('--8<-- "snippets/included.md"')
    assert (units[2].start, units[2].end) == (directive, directive + len('--8<-- "snippets/included.md"'))
    assert source[units[4].start : units[4].end] == "{* ./docs_src/example.py hl[2] *}"
    assert_offsets(source, units, exempt=(*included, units[4].text))


def test_includes_outside_the_input_folder_or_cyclic_are_not_read(tmp_path):
    (tmp_path / "secret.md").write_text("Secret text.\n")
    root = tmp_path / "docs"
    root.mkdir()
    page = root / "page.md"
    page.write_text('Before.\n\n--8<-- "../secret.md"\n\n--8<-- "page.md"\n\n{* /etc/hostname *}\n')
    units = parse_units(page.read_text(), "markdown", includes=IncludeResolver(root, page))
    assert texts(units) == [("sentence", "Before.")]


def test_include_targets():
    assert include_targets('--8<-- "a.md"') == ["a.md"]
    assert include_targets("--8<--\na.md\n;b.md\nc.md\n--8<--") == ["a.md", "c.md"]
    assert include_targets("{* ../../docs_src/x.py hl[18,22] *}") == ["../../docs_src/x.py"]
    assert include_targets("Use --8<-- to include.") is None


def test_snippets_inside_code_fences_expand_only_when_resolving(tmp_path):
    (tmp_path / "app.py").write_text("print('hi')\n")
    page = tmp_path / "page.md"
    source = '```python\n--8<-- "app.py"\n```\n'
    assert parse_units(source)[0].text == source.strip()
    assert parse_units(source, "markdown", includes=IncludeResolver(tmp_path, page))[0].text == "```python\nprint('hi')\n```"


def test_mdx_components_keep_children_text():
    source, units = load("mdx_components.mdx")
    assert texts(units) == [
        ("heading", "Components", 1),
        ("sentence", "Remember to save."),
        ("sentence", "Text of the first tab."),
        ("sentence", "Inline tab text."),
        ("sentence", "A callout with bold text."),
    ]
    assert_offsets(source, units)


def test_html_blocks_and_inline_html_reduce_to_text():
    source, units = load("html.md")
    assert texts(units) == [
        ("heading", "HTML", 1),
        ("sentence", "See bold and the site."),
        ("sentence", "Next line."),  # <br> parts the sentences
        ("sentence", "Click to expand"),
        ("sentence", "Hidden details text."),
        ("code", "```console\n$ fastapi dev main.py\nINFO     Started\n```"),  # console colouring dropped
    ]
    assert_offsets(source, units)


def test_links_and_images_keep_their_text():
    source, units = load("links.md")
    assert texts(units) == [
        ("heading", "Links", 1),
        ("sentence", "Thanks to @pr-submit[bot] for the fix."),
        ("sentence", "Read the reference guide and the FAQ."),
        ("sentence", "An image a diagram and an autolink https://example.com/page."),
    ]
    assert_offsets(source, units)
    assert source[units[1].start : units[1].end] == 'Thanks to [@pr-submit[bot]](https://github.com/apps/pr-submit "bot") for the fix.'


def test_unresolved_reference_links_keep_their_text():
    source = "The built-in [`dspy.LM`][dspy.LM] and [][dspy.Tool] work."
    units = parse_units(source)
    assert texts(units) == [("sentence", "The built-in `dspy.LM` and dspy.Tool work.")]
    assert_offsets(source, units)


def test_tables_keep_rows_and_cells_not_markdown():
    source, units = load("tables.md")
    assert texts(units) == [("heading", "Tables", 1), ("table", "Name | Link | Note\n`alpha` | docs | bold\nbeta | img | 3.5")]
    assert_offsets(source, units)
    assert source[units[1].start : units[1].end].startswith("| Name |") and source[units[1].start : units[1].end].endswith("| 3.5 |")


def test_emoji_shortcodes_are_dropped():
    source, units = load("emoji.md")
    assert texts(units) == [
        ("heading", "Emoji", 1),
        ("sentence", "Translations are welcome today."),
        ("sentence", "Icons like and too."),
        ("sentence", "The time 12:30:45 and std::vector stay."),
    ]
    assert_offsets(source, units)


def test_footnotes_stay_in_source_order():
    source, units = load("footnotes.md")
    assert texts(units) == [
        ("heading", "Footnotes", 1),
        ("sentence", "A claim with a note and another."),
        ("sentence", "The first footnote."),
        ("sentence", "A longer footnote."),
        ("sentence", "With a second paragraph."),
        ("sentence", "Last paragraph."),
    ]
    assert_offsets(source, units)


def test_definition_lists():
    source, units = load("deflists.md")
    assert texts(units) == [
        ("heading", "Definitions", 1),
        ("sentence", "Apple"),
        ("sentence", "A pomaceous fruit."),
        ("sentence", "Orange"),
        ("sentence", "A citrus fruit."),
    ]
    assert_offsets(source, units)


def test_math_is_kept_as_text_and_prices_are_not_math():
    source, units = load("math.md")
    assert texts(units) == [
        ("heading", "Math", 1),
        ("sentence", "Energy is E = mc^2 in physics."),
        ("sentence", "\\int_0^1 x \\, dx = \\frac{1}{2}"),
        ("sentence", "It costs $5 and $10 here."),
    ]
    assert_offsets(source, units)


def test_task_lists_lose_their_boxes():
    source, units = load("tasklists.md")
    assert texts(units) == [("heading", "Tasks", 1), ("sentence", "Write the parser"), ("sentence", "Add fixtures")]
    assert_offsets(source, units)


def test_toml_front_matter_is_dropped():
    source, units = load("front_matter_toml.md")
    assert texts(units) == [("heading", "Title", 1), ("sentence", "Body text.")]
    assert_offsets(source, units)


def test_restructuredtext_through_docutils():
    source, units = load("sample.rst")
    assert texts(units) == [
        ("heading", "User Guide", 1),
        ("sentence", "Intro with a dspy.Predict role, a cross reference, strong text and a link."),
        ("sentence", "Keep the note text."),
        ("code", "x = 1\nprint(x)"),
        ("sentence", "Literal block follows:"),
        ("code", "raw literal. text"),
        ("heading", "Installation", 2),
        ("sentence", "First item."),
        ("sentence", "Second item."),
        ("sentence", "Using the project today."),  # a substitution's text comes from its definition
        ("sentence", "Term"),
        ("sentence", "Its definition."),
        ("sentence", "A footnote text."),
    ]
    assert_offsets(source, units, exempt=("Using the project today.",))


@pytest.mark.parametrize("name", sorted(path.name for path in FIXTURES.iterdir() if path.is_file()))
def test_chunks_of_every_fixture_keep_the_offset_contract_and_stable_ids(name):
    source = (FIXTURES / name).read_text(encoding="utf-8")
    markup = markup_for_extension(Path(name).suffix)
    chunks = chunk_text(source, name, markup=markup, sentences_per_chunk=2)
    for chunk in chunks:
        span = source[chunk.char_start : chunk.char_end]
        if "the project" not in chunk.text:  # reST substitution, see above
            assert words_in_order(chunk.text, span), (chunk.text, span)
    again = chunk_text(source, name, markup=markup, sentences_per_chunk=2)
    assert [chunk.model_dump() for chunk in again] == [chunk.model_dump() for chunk in chunks]


def test_crlf_and_lone_cr_line_endings_keep_offsets():
    source = "# Title\r\n\r\nA [link](x) here.\r\nNext *line*.\r\n"
    units = parse_units(source)
    assert texts(units) == [("heading", "Title", 1), ("sentence", "A link here."), ("sentence", "Next line.")]
    assert_offsets(source, units)
    old_mac = source.replace("\r\n", "\r")
    assert texts(parse_units(old_mac)) == texts(units)
    assert_offsets(old_mac, parse_units(old_mac))
