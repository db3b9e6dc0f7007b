"""Hard-negative mining and near-duplicate links on hand-made vectors (exact expectations), plus the real embedder."""

import numpy as np
import pytest

from sdg_program.export.negatives import block_rows, mine_hard_negatives, near_duplicate_links


def unit(*rows):
    matrix = np.asarray(rows, dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def brute_force(queries, corpus, positives, k, margin):
    """The definition, written the slow way."""
    result = []
    for query, pos in zip(queries, positives):
        scores = corpus @ query
        threshold = margin * min(scores[p] for p in pos)
        order = sorted(range(len(corpus)), key=lambda i: -scores[i])
        result.append([i for i in order if i not in pos and scores[i] <= threshold][:k])
    return result


def test_positives_and_likely_false_negatives_are_excluded():
    corpus = unit([1, 0, 0], [0.99, 0.14, 0], [0.8, 0.6, 0], [0.5, 0.5, 0.7], [0, 1, 0], [0, 0, 1])
    query = unit([1, 0.05, 0])
    negatives, stats = mine_hard_negatives(query, corpus, [[0]], num_negatives=3, margin=0.95)
    # corpus[1] scores ~0.99 of the positive's score: a near copy, so a likely false negative
    assert negatives == [[2, 3, 4]]
    assert stats.excluded_as_likely_positive == 1 and stats.negatives == 3 and stats.queries_short == 0


def test_weakest_positive_sets_the_bar():
    corpus = unit([1, 0, 0], [0.6, 0.8, 0], [0.9, 0.43, 0], [0, 0, 1])
    query = unit([1, 0, 0])
    negatives, _ = mine_hard_negatives(query, corpus, [[0, 1]], num_negatives=2, margin=0.95)
    # candidate 2 (0.9) beats the weaker positive (0.6): excluded; only 3 remains
    assert negatives == [[3]]


def test_blocks_give_the_same_answer_as_one_pass_and_brute_force():
    rng = np.random.default_rng(0)
    corpus = unit(*rng.normal(size=(300, 16)))
    queries = unit(*rng.normal(size=(37, 16)))
    positives = [sorted(rng.choice(300, size=int(rng.integers(1, 4)), replace=False).tolist()) for _ in range(37)]
    whole, _ = mine_hard_negatives(queries, corpus, positives, 7, 0.9)
    blocked, _ = mine_hard_negatives(queries, corpus, positives, 7, 0.9, cells=300 * 5)
    assert block_rows(300, cells=300 * 5) == 5
    assert whole == blocked == brute_force(queries, corpus, positives, 7, 0.9)


def test_small_corpus_gives_fewer_negatives_and_reports_it():
    corpus = unit([1, 0], [0, 1])
    negatives, stats = mine_hard_negatives(unit([1, 0.1]), corpus, [[0]], num_negatives=5, margin=0.95)
    assert negatives == [[1]] and stats.queries_short == 1


def test_a_query_without_positive_is_an_error():
    with pytest.raises(ValueError, match="no positive"):
        mine_hard_negatives(unit([1, 0]), unit([1, 0]), [[]], 1, 0.95)


def test_near_duplicate_links_cross_owners_only():
    vectors = unit([1, 0, 0], [1, 0.01, 0], [0, 1, 0], [0, 1, 0.01], [0, 0, 1])
    owners = [0, 1, 2, 2, 3]
    # 0~1 cross owners: a link; 2~3 share an owner: no link; 4 is alone
    assert near_duplicate_links(vectors, owners, 0.95) == [(0, 1)]
    assert near_duplicate_links(vectors, owners, 0.95, cells=5) == [(0, 1)]


def test_near_duplicate_links_stay_linear_for_many_identical_texts():
    vectors = unit(*([[1, 0]] * 200))
    links = near_duplicate_links(vectors, list(range(200)), 0.9, neighbours=3)
    assert len(links) <= 200 * 3
    # still one connected cluster
    parent = list(range(200))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for left, right in links:
        parent[find(right)] = find(left)
    assert len({find(i) for i in range(200)}) == 1


@pytest.mark.slow  # loads the real embedder
def test_real_embedder_mines_related_but_not_identical_passages():
    from sdg_program.backends.embedder import embed, load_embedder

    model = load_embedder()
    corpus = [
        "The Eiffel Tower in Paris was completed in 1889 for the World's Fair.",
        "The Eiffel Tower, finished in 1889 in Paris, was built for the World's Fair.",  # near copy of the positive
        "The Statue of Liberty was dedicated in New York Harbor in 1886.",
        "Gustave Eiffel's company also designed the internal frame of the Statue of Liberty.",
        "Sourdough bread rises because of wild yeast and lactic acid bacteria.",
    ]
    query = embed(["when was the Eiffel Tower completed"], model)
    negatives, stats = mine_hard_negatives(query, embed(corpus, model), [[0]], num_negatives=2, margin=0.95)
    assert 1 not in negatives[0] and 0 not in negatives[0]
    assert 4 not in negatives[0]  # bread is not a hard negative for a question about the Eiffel Tower
    assert stats.excluded_as_likely_positive >= 1


def clustered(rng, count, centres, spread=0.35):
    """Unit vectors around a few random centres, like embeddings of texts on a few topics."""
    points = centres[rng.integers(0, len(centres), size=count)] + spread * rng.normal(size=(count, centres.shape[1]))
    return unit(*points)


def test_ivf_mining_obeys_the_rules_and_finds_most_exact_negatives():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(12, 32))
    corpus = clustered(rng, 3000, centres)
    queries = clustered(rng, 400, centres)
    # as in real data, a query's positives are among its most similar passages
    ranked = np.argsort(-(queries @ corpus.T), axis=1)
    positives = [sorted(ranked[row, : 1 + row % 2].tolist()) for row in range(400)]
    exact, exact_stats = mine_hard_negatives(queries, corpus, positives, 5, 0.95)
    approx, stats = mine_hard_negatives(queries, corpus, positives, 5, 0.95, exact_max_cells=0)
    assert stats.approximate and not exact_stats.approximate
    again, _ = mine_hard_negatives(queries, corpus, positives, 5, 0.95, exact_max_cells=0)
    assert again == approx
    for query, pos, picked in zip(queries, positives, approx):
        scores = corpus @ query
        limit = 0.95 * min(scores[p] for p in pos)
        assert len(picked) == 5 and not set(picked) & set(pos)
        assert all(scores[i] <= limit for i in picked)
        assert list(scores[picked]) == sorted(scores[picked], reverse=True)
    recall = np.mean([len(set(a) & set(e)) / 5 for a, e in zip(approx, exact)])
    assert recall > 0.8, recall


def test_ivf_links_match_exact_links():
    rng = np.random.default_rng(2)
    base = unit(*rng.normal(size=(1500, 32)))
    twins = unit(*(base[:300] + 0.05 * rng.normal(size=(300, 32))))  # paraphrases, cosine ~0.96
    vectors = np.vstack([base, twins])
    owners = list(range(1500)) + list(range(1500, 1800))
    exact = near_duplicate_links(vectors, owners, 0.9)
    approx = near_duplicate_links(vectors, owners, 0.9, exact_max_cells=0)
    assert len(exact) == 300
    assert len(set(approx) & set(exact)) >= 0.95 * len(exact) and set(approx) <= set(exact)
