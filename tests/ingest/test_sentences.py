import pytest

from sdg_program.ingest.sentences import split_sentence_spans, split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two! Three? Four.", ["One.", "Two!", "Three?", "Four."]),
        ("Wait... What now? Fine…  Next one.", ["Wait...", "What now?", "Fine…", "Next one."]),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("It ended (finally.) Good.", ["It ended (finally.)", "Good."]),
        ("Ask Dr. Smith, e.g. about Fig. 3. She knows.", ["Ask Dr. Smith, e.g. about Fig. 3.", "She knows."]),
        ("J. R. R. Tolkien wrote it. The U.S. Army read it.", ["J. R. R. Tolkien wrote it.", "The U.S. Army read it."]),
        ("Version 3.4 shipped. It is fast.", ["Version 3.4 shipped.", "It is fast."]),
        ("Use dspy.Predict here. Then call it.", ["Use dspy.Predict here.", "Then call it."]),
        ("This is wrong... and continues lower.", ["This is wrong... and continues lower."]),
        ("第一句。第二句！第三句？", ["第一句。", "第二句！", "第三句？"]),
        ("「你好。」他说。", ["「你好。」", "他说。"]),
        ("No terminal punctuation", ["No terminal punctuation"]),
        ("", []),
    ],
)
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


def test_spans_point_into_the_input_and_keep_every_character():
    text = "  First one.  Second one?\tThird!  "
    spans = split_sentence_spans(text)
    assert [text[start:end] for start, end in spans] == ["First one.", "Second one?", "Third!"]
    covered = "".join(text[start:end] for start, end in spans)
    assert covered.replace(" ", "") == text.replace(" ", "").replace("\t", "")
