from sdg_program.ingest.markup import clean_inline, parse_units


def kinds(units):
    return [(unit.kind, unit.text) for unit in units]


def test_front_matter_is_dropped_and_headings_are_units():
    source = "---\ntitle: x\nsidebar: 2\n---\n\n# Title\n\nFirst sentence. Second one.\n"
    assert kinds(parse_units(source)) == [
        ("heading", "Title"),
        ("sentence", "First sentence."),
        ("sentence", "Second one."),
    ]


def test_fenced_code_is_one_unit_even_with_periods_and_blank_lines():
    source = "Intro text.\n\n```python\nx = 1. \n\n# not a heading. Really.\ny = 2\n```\n\nAfter."
    units = parse_units(source)
    assert [unit.kind for unit in units] == ["sentence", "code", "sentence"]
    assert units[1].text.startswith("```python") and units[1].text.endswith("```")
    assert "# not a heading. Really." in units[1].text


def test_table_is_one_unit():
    source = "Before.\n\n| a | b |\n|---|---|\n| 1. x | 2. y |\n| 3 | 4 |\n\nAfter."
    units = parse_units(source)
    assert [unit.kind for unit in units] == ["sentence", "table", "sentence"]
    assert units[1].text == "a | b\n1. x | 2. y\n3 | 4"  # rows of cells; the delimiter row and outer pipes are syntax
    assert source[units[1].start : units[1].end] == "| a | b |\n|---|---|\n| 1. x | 2. y |\n| 3 | 4 |"


def test_html_mdx_tags_and_comments_are_removed_and_links_keep_their_text():
    source = 'See <b>bold</b> and [the guide](http://x.y/z "t"). <!-- hidden. --> Done <Tab label="a"/>.'
    units = parse_units(source, "mdx")
    assert [unit.text for unit in units] == ["See bold and the guide.", "Done ."]


def test_mdx_imports_and_mkdocstrings_stubs_are_dropped():
    source = "import Tabs from '@theme/Tabs';\n\n# dspy.LM\n\n::: dspy.LM\n    handler: python\n    options:\n        show_source: true\n"
    assert kinds(parse_units(source, "mdx")) == [("heading", "dspy.LM")]


def test_offsets_point_to_the_source_even_after_cleaning():
    source = "# Head\n\nA [link](http://example.com) here.\nWrapped line! End."
    units = parse_units(source)
    for unit in units:
        span = source[unit.start : unit.end]
        assert span.startswith(unit.text[:1]) and span.endswith(unit.text[-1:])
    assert source[units[1].start : units[1].end] == "A [link](http://example.com) here."
    assert source[units[2].start : units[2].end] == "Wrapped line!"


def test_soft_wrapped_lines_join_and_list_items_split():
    source = "This sentence\nwraps over lines.\n\n- item one\n- item two\n1. numbered\n"
    assert [unit.text for unit in parse_units(source)] == [
        "This sentence wraps over lines.",
        "item one",
        "item two",
        "numbered",
    ]


def test_setext_headings_and_rules():
    source = "Big Title\n=========\n\nText here.\n\n---\n\nSub\n---\nMore."
    assert kinds(parse_units(source)) == [
        ("heading", "Big Title"),
        ("sentence", "Text here."),
        ("heading", "Sub"),
        ("sentence", "More."),
    ]


def test_plain_text_ignores_markdown_syntax():
    source = "# not a heading here.\nSecond line."
    assert kinds(parse_units(source, "plain")) == [("sentence", "# not a heading here."), ("sentence", "Second line.")]


def test_rst_headings_directives_and_literal_blocks():
    source = "Title\n=====\n\nIntro text::\n\n    code line. more.\n\n.. note::\n   hidden.\n\nSection\n-------\n\nBody."
    assert kinds(parse_units(source, "rst")) == [
        ("heading", "Title"),
        ("sentence", "Intro text:"),
        ("code", "code line. more."),  # a literal block's indentation is reST syntax, not code
        ("sentence", "hidden."),  # an admonition's content is text of the document
        ("heading", "Section"),
        ("sentence", "Body."),
    ]


def test_windows_line_endings():
    source = "# Title\r\n\r\nOne line.\r\nTwo line.\r\n"
    assert kinds(parse_units(source)) == [("heading", "Title"), ("sentence", "One line."), ("sentence", "Two line.")]


def test_clean_inline_offset_map_is_monotonic():
    source = "a <i>b</i> [c](d) e"
    offsets = clean_inline(source, 0, len(source), "markdown")
    assert offsets.text() == "a b c e"
    positions = [offsets.to_source(index, is_end=False) for index in range(offsets.length)]
    assert positions == sorted(positions)
    assert [source[position] for position in positions if source[position] != " "] == list("abce")
