import numpy as np

from sdg_program.program.dedup import deduplicate


def fake_embed(texts):
    # questions about the same topic word point the same way
    topics = ["alpha", "beta", "gamma"]
    vectors = np.array([[1.0 if topic in text else 0.0 for topic in topics] + [0.01 * index] for index, text in enumerate(texts)])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_duplicates_keep_the_better_pair():
    questions = ["what is alpha", "alpha explained", "what is beta"]
    result = deduplicate(questions, [(0,), (1,), (0,)], fake_embed, threshold=0.9)
    assert result.kept == [1, 2]
    assert result.duplicate_of == {0: 1}


def test_ties_keep_the_earlier_pair_and_threshold_is_strict():
    questions = ["alpha one", "alpha two"]
    assert deduplicate(questions, [(0,), (0,)], fake_embed, threshold=0.9).kept == [0]
    assert deduplicate(questions, [(0,), (0,)], fake_embed, threshold=1.0).kept == [0, 1]


def test_empty_input_calls_nothing():
    def boom(texts):
        raise AssertionError("should not embed")

    assert deduplicate([], [], boom).kept == []


def test_single_question_is_kept_without_embedding():
    def boom(texts):
        raise AssertionError("one question has nothing to be a duplicate of: no embedding needed")

    result = deduplicate(["what is alpha"], [(0,)], boom)
    assert result.kept == [0] and result.duplicate_of == {}


def test_a_repeated_question_is_a_duplicate_without_embedding():
    def boom(texts):
        raise AssertionError("a word-level repeat needs no embedding")

    questions = ["what is stated about the beta index (variant 1)", "what is stated about the beta index (variant 2)"]
    result = deduplicate(questions, [(0,), (1,)], boom)
    assert result.kept == [1] and result.duplicate_of == {0: 1}  # the better one stays, whatever the order


def test_questions_with_few_content_words_in_common_are_never_embedded():
    def boom(texts):
        raise AssertionError("these questions share no content words: nothing to compare")

    questions = ["how does the scheduler assign workers", "which licence covers the corpus files", "when was version 3.5 released"]
    assert deduplicate(questions, [(0,)] * 3, boom).kept == [0, 1, 2]


def test_only_the_questions_the_word_screen_cannot_settle_are_embedded():
    seen = []

    def recording_embed(texts):
        seen.append(list(texts))
        return fake_embed(texts)

    questions = ["what is alpha", "which licence covers the corpus files", "alpha explained"]
    result = deduplicate(questions, [(0,), (0,), (1,)], recording_embed)
    assert seen == [["what is alpha", "alpha explained"]]  # one call, the licence question left out
    assert result.kept == [1, 2] and result.duplicate_of == {0: 2}


def test_numbers_keep_questions_apart_from_the_repeat_rule():
    # "3.5" and "3.6" differ: a fifth of the words, so not a repeat; the embedder decides.
    calls = []

    def orthogonal(texts):
        calls.append(texts)
        return np.eye(len(texts))

    result = deduplicate(["what changed in dspy 3.5", "what changed in dspy 3.6"], [(0,), (0,)], orthogonal)
    assert calls and result.kept == [0, 1]
