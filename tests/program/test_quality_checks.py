"""Each quality check on hand-made cases that must fail and cases that must pass."""

import pytest

from sdg_program.program.quality_checks import (
    asks_yes_no,
    brackets_balanced,
    garbled_parts,
    is_generic_question,
    runs_questions_together,
    sufficing_hop,
    yes_no_support,
)
from sdg_program.program.validation import REASON_CODES, RowSegments, ValidationSettings, validate_pair
from signatures import QAPair
from tests.fake_lm import pair

SEGMENTS = RowSegments({
    1: "Scott Derrickson is an American director, screenwriter and producer. He directed Doctor Strange.",
    2: "Edward Davis Wood Jr., known as Ed Wood, was an American filmmaker, actor and writer.",
    3: "The Aristocats is a 1970 animated film based on a story by Tom McGowan and Tom Rowe. Its voices include Roddy Maude-Roxby.",
    4: "Roddy Maude-Roxby is an English actor who appeared in The Aristocats as Edgar Balthazar.",
    5: "Lübeck wurde im Jahr 1143 gegründet. Die Stadt liegt an der Trave, nicht weit von der Ostsee entfernt.",
})
SETTINGS = ValidationSettings()


def verdict(question, answer, segment_ids, settings=SETTINGS, **options):
    return validate_pair(QAPair.model_validate(pair(question, answer, segment_ids, **options)), SEGMENTS, settings)


# -- garbled text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("What is the next section about? {&ququre} {&qure} { &ququre}", "markup"),
        ("Which film did Scott Derrickson direct <br>", "markup"),
        ("Who directed Doctor Strange</s>", "markup"),
        ("Who wrote The Aristocats &amp; more", "markup"),
        ("Which actor voiced Edgar Balthazar ###", "symbol_run"),
        ("Who directed Doctor Strange ?!?!", "symbol_run"),
        ("Who directed Doctor Strange (and when", "unbalanced_brackets"),
        ("Which studio made The Aristocats]", "unbalanced_brackets"),
        ("In this tutorial we build a haiku program that will help you, ?", "cut_off"),
        ("How to install DSPy with pip and ?", "cut_off"),
    ],
)
def test_garbled_text_is_found(text, part):
    assert part in garbled_parts(text)


@pytest.mark.parametrize(
    "text",
    [
        "Wrap the calls in with dspy.context(adapter=dspy.JSONAdapter()): the override applies inside the block only.",
        'Create optimizer = dspy.SIMBA(metric=your_metric), then optimized_program.save("optimized.json").',
        "Run pip install \"dspy[deno]\" to get the official Deno distribution.",
        "Who did Ed Wood work with?",
        "Which band was formed first The Exies or Circus Diablo ?",
        "Boeing B - 29 Superfortress bomber",
        "Wait... is it 5.1% or 97,524 people?",
    ],
)
def test_clean_text_is_not_garbled(text):
    assert garbled_parts(text) == []


def test_brackets_must_close_in_order():
    assert brackets_balanced("f(a[1], {b: 2})")
    assert not brackets_balanced("f(a[1)]")
    assert not brackets_balanced(")(")


def test_garbled_text_is_a_reason_and_can_be_switched_off():
    garbled = ("Which film did Scott Derrickson direct {&ququre}", "Doctor Strange", [1])
    assert "garbled_text" in verdict(*garbled).reasons
    assert "garbled_text" not in verdict(*garbled, settings=ValidationSettings(disabled_checks={"garbled_text"})).reasons


# -- generic questions ------------------------------------------------------------------------


def test_a_question_that_names_nothing_is_generic():
    texts = ["The next section explains how to save a program."]
    assert is_generic_question("What is the next section about?", texts)
    assert not is_generic_question("How do I save a program?", texts)
    # a specific word the segments do not hold does not make the question specific
    assert is_generic_question("What is the main idea of Kubernetes?", texts)


def test_generic_question_is_only_reported_for_otherwise_grounded_pairs():
    segments = RowSegments({1: "The next section is about saving programs; the main idea is described there."})
    generic = QAPair.model_validate(pair("What is the next section about?", "The next section is about saving programs.", [1]))
    assert validate_pair(generic, segments, SETTINGS).reasons == ["question_too_generic"]


# -- yes/no questions ---------------------------------------------------------------------------


def test_yes_no_answer_is_supported_by_the_entities_the_question_names():
    question = "Were Scott Derrickson and Ed Wood of the same nationality?"
    assert yes_no_support(question, "yes", [SEGMENTS.texts[1], SEGMENTS.texts[2]]) == 1.0
    assert yes_no_support(question, "Yes.", [SEGMENTS.texts[3]]) == 0.0
    assert yes_no_support(question, "They were both American.", [SEGMENTS.texts[1]]) is None  # ordinary answer support applies


def test_a_yes_no_answer_to_a_wh_question_is_not_supported():
    assert yes_no_support("Who directed Doctor Strange?", "Yes", [SEGMENTS.texts[1]]) == 0.0
    assert "answer_not_supported" in verdict("Who directed Doctor Strange?", "Yes", [1]).reasons


def test_yes_no_pairs_pass_or_fail_validation_by_their_segments():
    comparison = "Were Scott Derrickson and Ed Wood of the same nationality?"
    assert verdict(comparison, "yes", [1, 2], query_type="multi_hop", hops=[[1], [2]]).valid
    assert "answer_not_supported" in verdict(comparison, "yes", [3, 4], query_type="multi_hop", hops=[[3], [4]]).reasons


def test_the_question_sentence_decides_whether_yes_no_is_asked():
    assert asks_yes_no("The director Armando Iannucci has an OBE. Does the director Puneet Sira also have one?")
    assert asks_yes_no("are both films animated?")
    assert not asks_yes_no("Which was formed first, The Exies or Circus Diablo?")


# -- several questions in one --------------------------------------------------------------------


def test_two_questions_run_together_are_several_questions():
    assert runs_questions_together("How to compose a custom Module that decomposes a task. How to write a Module?")
    assert not runs_questions_together("Little Caesars and Pizza Hut were founded in the 1950s. Which was the first to serve pizza?")
    assert not runs_questions_together("What is the Edsa Shangri-La an instance of in the birthplace of the maker of Mr. Cool?")
    assert not runs_questions_together("Where was Harris W. Fawell born?")


# -- one segment answers a multi-hop question ------------------------------------------------------


def test_a_multi_hop_pair_one_hop_answers_alone_is_flagged():
    # Segment 1 names the director and the film; segment 2 (Ed Wood) adds nothing to the pair.
    one_passage = verdict("Which film did Scott Derrickson direct?", "Doctor Strange", [1, 2], query_type="multi_hop", hops=[[1], [2]])
    assert "single_segment_suffices" in one_passage.reasons
    single = verdict("Which film did Scott Derrickson direct?", "Doctor Strange", [1])
    assert single.valid, single.reasons


def test_a_bridge_that_names_part_of_the_question_stays_multi_hop():
    # Both hops name the actor: the second hop is where the question starts (who is he?), the first holds the answer.
    hops = [[SEGMENTS.texts[3]], [SEGMENTS.texts[4]]]
    assert sufficing_hop("In which 1970 film did the English actor Roddy Maude-Roxby voice Edgar Balthazar?", "The Aristocats", hops) is None


def test_sufficing_hop_needs_the_whole_answer_in_one_hop():
    hops = [["Doctor Strange was directed by Scott Derrickson."], ["It was released in 2016."]]
    assert sufficing_hop("Who directed Doctor Strange?", "Scott Derrickson", hops) == 1
    assert sufficing_hop("Who directed Doctor Strange and when?", "Scott Derrickson in 2016", hops) is None
    assert sufficing_hop("Who directed Doctor Strange?", "Scott Derrickson", hops[:1]) is None


# -- language -------------------------------------------------------------------------------------------


def test_a_question_in_another_language_than_its_segments_is_rejected():
    german = verdict("Wer hat den Film Doctor Strange gedreht und produziert?", "Scott Derrickson", [1])
    assert "language_mismatch" in german.reasons
    english_on_german = verdict("When was the city of Lübeck on the Trave founded?", "1143", [5])
    assert "language_mismatch" in english_on_german.reasons
    assert "language_mismatch" not in verdict("Wann wurde die Stadt Lübeck an der Trave gegründet?", "1143", [5]).reasons


def test_the_language_can_be_forced_or_the_check_switched_off():
    question = ("Wann wurde die Stadt Lübeck an der Trave gegründet?", "1143", [5])
    assert "language_mismatch" in verdict(*question, settings=ValidationSettings(language="en")).reasons
    assert "language_mismatch" not in verdict(*question, settings=ValidationSettings(language="de")).reasons
    english = ("When was the city of Lübeck on the Trave founded?", "1143", [5])
    assert "language_mismatch" not in verdict(*english, settings=ValidationSettings(disabled_checks={"language_mismatch"})).reasons


def test_short_questions_of_names_get_no_language_verdict():
    assert "language_mismatch" not in verdict("dspy.Predict vs Roddy Maude-Roxby", "The Aristocats", [3, 4]).reasons


# -- settings -------------------------------------------------------------------------------------------


def test_unknown_checks_cannot_be_disabled():
    with pytest.raises(ValueError, match="unknown check"):
        ValidationSettings(disabled_checks={"no_such_check"})
    assert set(ValidationSettings(disabled_checks=set(REASON_CODES)).disabled_checks) == set(REASON_CODES)


def test_every_disabled_check_is_silent():
    bad = ("Wer hat Doctor Strange gedreht {&ququre}", "Yes", [2, 3], {"query_type": "multi_hop", "hops": [[2], [3]], "complexity": 1})
    question, answer, ids, options = bad
    assert not verdict(question, answer, ids, **options).valid
    quiet = verdict(question, answer, ids, settings=ValidationSettings(disabled_checks=set(REASON_CODES)), **options)
    assert quiet.valid and quiet.reasons == []


def test_written_pairs_are_not_held_to_the_generation_hop_range():
    four_hops = pair("Who founded the company that owns the label of the band of the singer of Decade?", "Scott Derrickson and Ed Wood",
                     [1, 2, 3, 4], query_type="multi_hop", hops=[[1], [2], [3], [4]])
    parsed = QAPair.model_validate(four_hops)
    assert "hop_count_out_of_range" in validate_pair(parsed, SEGMENTS, ValidationSettings()).reasons
    assert "hop_count_out_of_range" not in validate_pair(parsed, SEGMENTS, ValidationSettings.for_written_pairs()).reasons
    one_hop = QAPair.model_validate(pair("Which film did Scott Derrickson direct?", "Doctor Strange", [1], query_type="multi_hop"))
    assert "hop_count_out_of_range" in validate_pair(one_hop, SEGMENTS, ValidationSettings.for_written_pairs()).reasons
