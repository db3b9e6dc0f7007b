"""`CompactJSONAdapter`: JSON output from an endpoint, with each piece of the contract said once.

DSPy's JSONAdapter system message lists the fields with their descriptions, then a structure
template, then each output field's full JSON schema (escaped into a string, narrowed per call for
the grammar), then the instructions; `response_format` carries the schema again, descriptions
included, and the user message ends with an output-order reminder. Against the project's stub
(bench/bench_cost.py, tiktoken counts) that contract was 43% of every prompt token.

This adapter sends:

- a system message of the instructions, the input fields (name: description) and an outline of the
  output (``schema_outline.outline``: names, types, allowed values, limits, descriptions), built from
  the signature's *base* output types: identical on every call of a stage, so it is a prefix a
  provider can cache (OpenAI, vLLM and NIM reuse shared prompt starts);
- the user message as DSPy writes it (``[[ ## field ## ]]`` blocks), without the reminder;
- a compact ``response_format`` schema (``schema_outline.compact_schema``: no titles or
  descriptions, repeated sub-schemas shared), narrowed per call as before, for the decoder.

Demos and parsing are ``CachedJSONAdapter``'s. Used for endpoint roles only: the in-process model
keeps the prompts its compiled demos were optimized with.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import dspy
from dspy.adapters.json_adapter import JSONAdapter
from pydantic import TypeAdapter

from sdg_program.backends.adapters import CachedJSONAdapter, _parse_whole_reply, field_extra
from sdg_program.backends.schema_outline import compact_schema, outline

# Set on a signature built for one call with a narrowed output type (see RetrievalSDG._call):
# the signature whose base types the prompt's outline describes.
BASE_SIGNATURE_ATTRIBUTE = "sdg_base_signature"
# A field the instructions already define, as a bullet "- name: ...": the outline leaves its description out.
_DEFINED_IN_INSTRUCTIONS = re.compile(r"(?m)^\s*-\s*(\w+):")


class CompactJSONAdapter(CachedJSONAdapter):
    """JSONAdapter's protocol with the output contract said once: outline in the prompt, compact schema on the wire."""

    def _build_response_format(self, lm: dspy.BaseLM, signature: type[dspy.Signature]) -> Any:
        format_ = super()._build_response_format(lm, signature)
        if isinstance(format_, type):  # DSPy's pydantic model whose model_json_schema returns the precomputed schema
            compact = compact_schema(format_.model_json_schema())
            format_.model_json_schema = lambda *args, **kwargs: compact
        return format_

    def format_system_message(self, signature: type[dspy.Signature]) -> str:
        return super().format_system_message(getattr(signature, BASE_SIGNATURE_ATTRIBUTE, signature))

    def _system_message(self, signature: type[dspy.Signature]) -> str:
        inputs = "\n".join(f"- {name}: {_description(field)}" for name, field in signature.input_fields.items())
        fields = {name: (TypeAdapter(field.annotation).json_schema(), _description(field)) for name, field in signature.output_fields.items()}
        instructions = _dedent(signature.instructions)
        defined = frozenset(_DEFINED_IN_INSTRUCTIONS.findall(instructions))  # "- name: ..." bullets
        return (
            f"{instructions}\n\n"
            f"Inputs, each under a [[ ## name ## ]] header:\n{inputs}\n\n"
            f"Reply with one JSON object with these fields:\n{outline(fields, defined)}"
        )

    def user_message_output_requirements(self, signature: type[dspy.Signature]) -> str | None:
        return None  # the system message states the output once


def _description(field: Any) -> str:
    return " ".join(str(field_extra(field).get("desc") or "").split())


def _dedent(text: str) -> str:
    return textwrap.dedent(text).strip()


CompactJSONAdapter.format = JSONAdapter.format
CompactJSONAdapter.parse = _parse_whole_reply
