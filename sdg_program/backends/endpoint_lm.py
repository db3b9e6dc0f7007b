"""Remote OpenAI-compatible chat endpoints whose structured-output support the user states.

For a model DSPy's tables do not know (`openai/<custom-name>` + `api_base`: vLLM, NIM, Ollama,
llama.cpp servers) DSPy sends no response_format at all. `build_lm(..., structured_output=...)`
states what the server takes instead: "json_schema", "json_object_schema" (llama-cpp-python's
server) or "json_object" give an `EndpointLM`, an `EngineLM` (see `engine_base`) whose engine
(`EndpointEngine`) declares the capability and sends the request through DSPy's own native engine
with the server's spelling of response_format. "auto" (the default) is a plain `dspy.LM`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from dspy import lm15

from sdg_program.backends.defaults import DEFAULT_MAX_TOKENS, DEFAULT_NUM_RETRIES, DEFAULT_TEMPERATURE, DEFAULT_TIMEOUT
from sdg_program.backends.engine_base import EngineLM, SyncEngine

# How a remote endpoint is asked for JSON (see `EndpointEngine`). "auto" = what DSPy knows of the model.
StructuredOutput = Literal["auto", "json_schema", "json_object_schema", "json_object"]
STRUCTURED_OUTPUT_MODES: tuple[str, ...] = get_args(StructuredOutput)


class EndpointEngine(SyncEngine):
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

    # ----------------------------------------------------------------- persistence (program.save)

    def dump_state(self) -> dict[str, Any]:
        """No key (only the name of its variable); an api_base carrying credentials is not saved."""
        api_base = self.api_base
        if api_base and (host_of(api_base) is None or "@" in api_base or "?" in api_base):
            api_base = None
        return {
            "model": self.model,
            "structured_output": self.structured_output,
            "api_base": api_base,
            "timeout": self.timeout,
            "api_key_env": self.api_key_env,
        }


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


class EndpointLM(EngineLM):
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
            temperature=temperature,
            max_tokens=max_tokens,
            num_retries=num_retries,
            cache=cache,
            callbacks=callbacks,
            **extra,
        )

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
        return self._saved_state(
            temperature=self.kwargs.get("temperature"),
            max_tokens=self.kwargs.get("max_tokens"),
            seed=self.kwargs.get("seed"),
            num_retries=self.num_retries,
            cache=self.cache,
        )


def host_of(url: str | None) -> str | None:
    """The host (and port) of a URL, or None: all that is ever saved or described of an `api_base`."""
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
