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
