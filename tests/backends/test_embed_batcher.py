"""The embedding batcher: concurrent rows share forward passes and each gets exactly its own vectors."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from sdg_program.backends.embed_batcher import EmbeddingBatcher


def fake_embed(model, texts):
    time.sleep(0.02)  # a forward pass takes a while: callers arriving meanwhile share the next one
    return np.array([[float(len(text)), float(model)] for text in texts], dtype=np.float32).reshape(len(texts), 2)


def test_concurrent_callers_get_their_own_vectors_from_shared_batches():
    batcher = EmbeddingBatcher(lambda: 7, fake_embed)
    requests = [[f"{'x' * row}-{index}" for index in range(row % 5 + 1)] for row in range(40)]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(batcher, requests))
    for texts, vectors in zip(requests, results):
        assert vectors.shape == (len(texts), 2)
        assert vectors[:, 0].tolist() == [float(len(text)) for text in texts]
        assert set(vectors[:, 1].tolist()) == {7.0}
    assert batcher.calls == 40
    assert batcher.batches < 40  # callers were batched


def test_an_empty_request_returns_no_vectors():
    batcher = EmbeddingBatcher(lambda: 1, fake_embed)
    assert batcher([]).shape == (0, 2)


def test_a_load_error_reaches_every_caller():
    def broken_load():
        raise RuntimeError("model folder missing")

    batcher = EmbeddingBatcher(broken_load, fake_embed)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="model folder missing"):
            batcher(["a question"])


def test_an_embed_error_reaches_that_batch_only_and_the_batcher_lives_on():
    def flaky(model, texts):
        if "boom" in texts:
            raise ValueError("bad batch")
        return fake_embed(model, texts)

    batcher = EmbeddingBatcher(lambda: 0, flaky)
    with pytest.raises(ValueError, match="bad batch"):
        batcher(["boom"])
    assert batcher(["fine"]).shape == (1, 2)


def test_the_model_loads_on_the_batcher_thread_while_the_caller_goes_on():
    release = threading.Event()
    load_thread = []

    def gated_load():
        load_thread.append(threading.current_thread().name)
        release.wait()  # the load cannot finish before the test lets it
        return 1

    batcher = EmbeddingBatcher(gated_load, fake_embed)  # returns although the load is still blocked
    release.set()
    assert batcher(["q"]).shape == (1, 2)
    assert load_thread == ["sdg-embed-batcher"]


def test_settle_waits_for_the_load_to_end_and_raises_nothing():
    release = threading.Event()
    ended = []

    def gated_load():
        release.wait()
        ended.append(True)
        raise RuntimeError("no model")

    batcher = EmbeddingBatcher(gated_load, fake_embed)
    waiter = threading.Thread(target=batcher.settle)
    waiter.start()
    waiter.join(timeout=0.2)
    assert waiter.is_alive()  # the load has not ended: settle is still waiting
    release.set()
    waiter.join(timeout=5)
    assert not waiter.is_alive() and ended == [True]
    batcher.settle()  # once ended, returns at once, and the load's error is kept for callers
    with pytest.raises(RuntimeError, match="no model"):
        batcher(["q"])
