"""`EmbeddingBatcher`: one thread embeds the questions of every row in flight, in shared batches.

Each row deduplicates its own few questions (program/dedup.py). With one MiniLM call per row behind
a lock (sentence-transformers models are not safe to call from several threads), the rows queued
for that lock: against the stub endpoint at concurrency 8, 55% of the client's CPU samples were
rows waiting for it or in a forward pass over 7 short questions (bench/bench_cost.py, py-spy).
Here rows hand their texts to a queue and wait; one worker thread takes whatever is queued, embeds
it in one call, and hands each row its slice. An idle batcher adds no wait: a lone row is embedded
at once, and rows that arrive during a forward pass share the next one.

The model is loaded by the same thread, started with the batcher: a run's first LLM calls go out
while torch and the model load (seconds of start-up, off the path to the first call), and a row
that needs vectors before the load is done waits for it. A run that never needed vectors still
waits for the load to end (``settle``) before it returns: a thread left half-way through importing
torch and transformers breaks the next import of them in the same process (``convert`` after
``generate`` in one Python session failed in ``datasets`` that way) and can fail at interpreter exit.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np

# Texts per forward pass at most; more queued rows wait for the next pass.
MAX_BATCH_TEXTS = 512


class EmbeddingBatcher:
    """Thread-safe ``texts -> vectors`` that batches concurrent callers into one ``embed`` call.

    ``load()`` runs once, first, on the batcher's daemon worker thread (started here); then
    ``embed(model, texts)`` runs only on that thread, so the model needs no lock of its own. An
    error of ``load`` reaches every caller; an error of ``embed`` reaches the callers of that batch.
    """

    def __init__(self, load: Callable[[], Any], embed: Callable[[Any, list[str]], np.ndarray], *, max_batch_texts: int = MAX_BATCH_TEXTS) -> None:
        self._load = load
        self._embed = embed
        self._max_batch_texts = max_batch_texts
        self._queue: queue.SimpleQueue[tuple[list[str], Future]] = queue.SimpleQueue()
        self._model: Any = None
        self._load_error: BaseException | None = None
        self._load_ended = threading.Event()
        self.batches = 0  # forward passes so far (for benchmarks)
        self.calls = 0  # callers served so far
        self._worker = threading.Thread(target=self._run, name="sdg-embed-batcher", daemon=True)
        self._worker.start()

    def __call__(self, texts: list[str]) -> np.ndarray:
        future: Future = Future()
        self._queue.put((list(texts), future))
        return future.result()

    def wait_loaded(self) -> None:
        """Block until the model is loaded; raise the load's error if it failed."""
        self.__call__([])

    def settle(self) -> None:
        """Block until the load has ended, successfully or not; raise nothing (a caller that needs
        the model gets the load's error from ``__call__``)."""
        self._load_ended.wait()

    # A program holding the batcher may be deep-copied (DSPy optimizers copy modules): the copy shares it.
    def __deepcopy__(self, memo: dict) -> EmbeddingBatcher:
        return self

    def _run(self) -> None:
        try:
            self._model = self._load()
        except BaseException as error:  # every caller gets it; nothing else to do on this thread
            self._load_error = error
        finally:
            self._load_ended.set()
        while True:
            batch = [self._queue.get()]
            size = len(batch[0][0])
            while size < self._max_batch_texts:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                batch.append(item)
                size += len(item[0])
            self._embed_batch(batch)

    def _embed_batch(self, batch: list[tuple[list[str], Future]]) -> None:
        if self._load_error is not None:
            for _, future in batch:
                future.set_exception(self._load_error)
            return
        texts = [text for texts, _ in batch for text in texts]
        try:
            vectors = self._embed(self._model, texts)
        except BaseException as error:  # the callers get the error; the worker lives on
            for _, future in batch:
                future.set_exception(error)
            return
        self.batches += 1
        self.calls += len(batch)
        start = 0
        for item_texts, future in batch:
            future.set_result(vectors[start : start + len(item_texts)])
            start += len(item_texts)
