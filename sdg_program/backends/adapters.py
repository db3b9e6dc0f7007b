"""`CachedJSONAdapter`: DSPy's `JSONAdapter` without the per-call rebuilding of per-signature text.

For every LM call, `dspy.JSONAdapter` rebuilds two things that depend only on the signature:

- the structured-output response format (`_get_structured_outputs_response_format`: a pydantic
  model created from the output fields, then its JSON schema generated and post-processed), and
- the system message (field descriptions, the field structure with each field's JSON schema, the
  task description).

Both go through pydantic's JSON-schema generation. Profiled against the OpenAI-compatible stub at
concurrency 16 (bench/bench_generate.py), they cost 7.8 ms (response format) and 6.3 ms (system
message) of CPU per row of 3 calls, about a third of the client's CPU per row; all of it holds the
GIL, so at high concurrency it is what the row threads queue for. This adapter computes each once
per signature and returns the stored result; everything else (inputs, demos, parsing, the LM call)
is `JSONAdapter`'s own code, so prompts and schemas are the very same strings and objects DSPy
would build.

What a cache entry is keyed by: the signature class (held weakly, so signatures built per call,
like the program's narrowed ones, are dropped with their class) plus the parts of a signature that
DSPy's API can change in place without making a new class: its instructions (the `instructions`
setter) and each field's `desc` and `prefix` (`Signature.load_state` edits these on its copy).
Everything else about a signature (field names, order, types, defaults) only changes by building
a new class (`with_updated_fields`, `with_instructions`, `append`, `delete`, ...).
"""

from __future__ import annotations

import weakref
from typing import Any

import dspy
from dspy.adapters.json_adapter import JSONAdapter
from dspy.adapters.utils import format_field_value
from dspy.utils.exceptions import AdapterParseError

from sdg_program.backends.faults import is_cut_off_json, without_fence

# A signature whose response format is "no response_format at all" (DSPy leaves lm_kwargs alone).
_NO_FORMAT = object()
# Entries per signature class before the oldest are dropped: only a signature whose instructions or
# field descriptions are edited in place again and again would get more than one or two.
_MAX_VARIANTS_PER_SIGNATURE = 8


def field_extra(field: Any) -> dict[str, Any]:
    """A DSPy field's own metadata (``desc``, ``prefix``, ...): its ``json_schema_extra`` dict, or nothing."""
    return field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}


def signature_key(signature: type[dspy.Signature]) -> tuple:
    """The in-place-editable parts of a signature, as a hashable tuple (see the module docstring).

    Costs a few microseconds (one pass over the fields); the work it saves is milliseconds.
    """
    parts: list[Any] = [signature.instructions]
    for name, field in signature.fields.items():
        extra = field_extra(field)
        parts.append((name, id(field.annotation), extra.get("desc"), extra.get("prefix")))
    return tuple(parts)


class CachedJSONAdapter(JSONAdapter):
    """`dspy.JSONAdapter` that builds each signature's response format and system message once.

    Drop-in: same constructor, same messages, same `response_format` (the very pydantic model
    class, built by DSPy's own function on the first call for a signature). Thread-safe without a
    lock: two threads missing the same entry both build it (identical values) and one store wins.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_caches()

    def _init_caches(self) -> None:
        # signature class -> {(signature_key, lm capability, native function calling): format}
        self._response_formats: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        # signature class -> {signature_key: system message}
        self._system_messages: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    # Caches hold weak references, which neither pickle nor matter to a copy: copies start empty.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_response_formats", None)
        state.pop("_system_messages", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_caches()

    def _prepare_response_format(self, lm: dspy.BaseLM, lm_kwargs: dict[str, Any], signature: type[dspy.Signature]) -> None:
        """`JSONAdapter._prepare_response_format`, computed once per signature and LM capability.

        DSPy's version reads only `lm.supported_params`, `lm.supports_response_schema`, the
        signature's output fields and `use_native_function_calling`; all of them are in the key.
        """
        if "response_format" not in lm.supported_params:
            return
        key = (signature_key(signature), bool(lm.supports_response_schema), self.use_native_function_calling)
        variants = _variants(self._response_formats, signature)
        format_ = variants.get(key)
        if format_ is None:
            format_ = self._build_response_format(lm, signature)
            _store(variants, key, format_)
        if format_ is _NO_FORMAT:
            return
        # A dict format ({"type": "json_object"}) is copied: the caller owns what lands in lm_kwargs.
        lm_kwargs["response_format"] = dict(format_) if isinstance(format_, dict) else format_

    def _build_response_format(self, lm: dspy.BaseLM, signature: type[dspy.Signature]) -> Any:
        """What DSPy's JSONAdapter would put in ``response_format`` (``_NO_FORMAT`` for nothing); built on a cache miss."""
        probe: dict[str, Any] = {}
        JSONAdapter._prepare_response_format(self, lm, probe, signature)
        return probe.get("response_format", _NO_FORMAT)

    def format_system_message(self, signature: type[dspy.Signature]) -> str:
        """`JSONAdapter.format_system_message`, computed once per signature (instructions and descriptions included in the key)."""
        key = signature_key(signature)
        variants = _variants(self._system_messages, signature)
        message = variants.get(key)
        if message is None:
            message = self._system_message(signature)
            _store(variants, key, message)
        return message

    def _system_message(self, signature: type[dspy.Signature]) -> str:
        """The system message for ``signature``; built on a cache miss."""
        return JSONAdapter.format_system_message(self, signature)


# `Adapter.__init_subclass__` wraps `format` and `parse` with DSPy's callback hooks in every subclass.
# JSONAdapter's are already wrapped; wrapping them again here would fire each callback once more
# than with `dspy.JSONAdapter`, so the subclass takes JSONAdapter's own (already wrapped) methods.
CachedJSONAdapter.format = JSONAdapter.format


def _parse_whole_reply(self: JSONAdapter, signature: type[dspy.Signature], completion: str) -> dict[str, Any]:
    """`JSONAdapter.parse`, but a reply cut off inside its JSON is an error, never "repaired".

    DSPy parses with `json_repair`, which closes open strings and brackets: a reply cut by
    max_tokens or a dropped connection would come back as valid output holding a half-written
    answer, a wrong label nobody would notice. Refusing it makes the program re-ask (counted as a
    `truncated_json` fault). Other small repairs (a trailing comma, a code fence) stay allowed.
    """
    if isinstance(completion, str) and is_cut_off_json(without_fence(completion.strip())):
        raise AdapterParseError(
            adapter_name=type(self).__name__,
            signature=signature,
            lm_response=completion,
            message="The reply is cut off inside its JSON (max_tokens reached or the connection dropped).",
        )
    return JSONAdapter.parse(self, signature, completion)


# A plain function: the JSONAdapter.parse it calls is already wrapped with the callbacks.
CachedJSONAdapter.parse = _parse_whole_reply


def _variants(cache: weakref.WeakKeyDictionary, signature: type[dspy.Signature]) -> dict:
    variants = cache.get(signature)
    if variants is None:
        variants = cache.setdefault(signature, {})
    return variants


def _store(variants: dict, key: tuple, value: Any) -> None:
    if len(variants) >= _MAX_VARIANTS_PER_SIGNATURE:
        variants.clear()
    variants[key] = value


class PlainPromptAdapter(CachedJSONAdapter):
    """JSON output for a small model decoding under a grammar, asked in plain words.

    `JSONAdapter`'s prompt explains the protocol: input and output field lists, `[[ ## name ## ]]`
    markers, a JSON template, an output-order reminder. A strong model follows it; SmolLM2-135M,
    shown it for a one-input, one-output signature, filled its question with "The answer to the
    question is: ..." until max_tokens on all 16 segments of the sample docs. The grammar already
    fixes the output's keys and shape, so this adapter leaves the protocol out: the system message is
    the signature's instructions, the user message is each input as ``Prefix: value``. Replies,
    demos (rendered as JSON assistant turns) and parsing are `CachedJSONAdapter`'s.

    Use it only where the output is grammar-constrained: without the schema enforced, nothing tells
    the model which keys to write.
    """

    def format_system_message(self, signature: type[dspy.Signature]) -> str:
        return signature.instructions

    def format_user_message_content(
        self,
        signature: type[dspy.Signature],
        inputs: dict[str, Any],
        prefix: str = "",
        suffix: str = "",
        main_request: bool = False,
    ) -> str:
        parts = [prefix]
        for name, field in signature.input_fields.items():
            if name in inputs:
                extra = field_extra(field)
                label = extra.get("prefix") or f"{name}:"
                parts.append(f"{label} {format_field_value(field_info=field, value=inputs[name])}")
        parts.append(suffix)
        return "\n\n".join(part for part in parts if part).strip()


# As for CachedJSONAdapter: undo the second callback wrapping that subclassing adds.
PlainPromptAdapter.format = JSONAdapter.format
PlainPromptAdapter.parse = _parse_whole_reply
