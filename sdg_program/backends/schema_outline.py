"""Output schemas said once: a short outline for the prompt, a compact schema for the wire.

DSPy's JSONAdapter writes each output field's JSON schema into the system message (escaped, so
every quote costs a token) and sends the same schema again in ``response_format``; the field
descriptions appear in both, and again in most signatures' instructions. For the QA-pair output,
narrowed per call to the window's segment IDs, that was about 1,500 tokens of system message plus
1,070 of ``response_format`` on every generate call (bench/bench_cost.py).

Here the two jobs are split:

- ``outline(schema)``: what the model reads. Field names, types, allowed values, limits and the
  descriptions, one line per field, built from the signature's *base* output type (not the narrowed
  one), so it is the same text on every call and a provider's prefix cache can serve it.
- ``compact_schema(schema)``: what the decoder enforces. No titles or descriptions (the outline
  carries them), and any sub-schema repeated in it (the segment-ID enum of every hop, a hop shape
  shared by pair shapes) stored once under ``$defs`` and referenced. Semantics are unchanged: the
  same documents validate before and after.
"""

from __future__ import annotations

import copy
import json
from typing import Any

# Keys whose value is one sub-schema, or a list / name-map of sub-schemas (JSON Schema 2020-12).
_ONE_SCHEMA = ("items", "additionalProperties", "not", "contains")
_SCHEMA_LIST = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_MAP = ("properties", "$defs", "definitions")
# A repeated sub-schema is moved to $defs only when its JSON is at least this long: a $ref costs ~8 tokens.
_MIN_SHARED_CHARS = 40


# ----------------------------------------------------------------------------- the wire schema


def compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` without titles and descriptions, with repeated sub-schemas stored once under ``$defs``."""
    result = _without_annotations(copy.deepcopy(schema))
    defs: dict[str, Any] = dict(result.pop("$defs", {}) or {})
    shared: dict[str, str] = {}  # canonical JSON of a sub-schema -> its $defs name
    while True:
        counts: dict[str, int] = {}
        examples: dict[str, Any] = {}
        for sub in _subschemas(result, defs):
            if "$ref" in sub and len(sub) == 1:
                continue
            key = json.dumps(sub, sort_keys=True, separators=(",", ":"))
            if len(key) < _MIN_SHARED_CHARS:
                continue
            counts[key] = counts.get(key, 0) + 1
            examples.setdefault(key, sub)
        repeated = [key for key, count in counts.items() if count > 1 and key not in shared]
        if not repeated:
            break
        key = max(repeated, key=len)  # the largest first: its own repeated parts are found on the next pass
        name = f"S{len(shared) + 1}"
        while name in defs:
            name += "_"
        shared[key] = name
        defs[name] = copy.deepcopy(examples[key])
        reference = {"$ref": f"#/$defs/{name}"}
        result = _replace(result, key, reference, skip_root=True)
        defs = {def_name: (value if def_name == name else _replace(value, key, reference, skip_root=True)) for def_name, value in defs.items()}
    if defs:
        result["$defs"] = defs
    return result


def _without_annotations(node: Any) -> Any:
    """Drop ``title`` and ``description`` from every schema (never a property *named* title or description)."""
    if isinstance(node, list):
        return [_without_annotations(item) for item in node]
    if not isinstance(node, dict):
        return node
    cleaned: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "description") and not isinstance(value, dict):
            continue
        if key in _SCHEMA_MAP and isinstance(value, dict):
            cleaned[key] = {name: _without_annotations(sub) for name, sub in value.items()}
        else:
            cleaned[key] = _without_annotations(value)
    return cleaned


def _children(schema: dict[str, Any]):
    for key in _ONE_SCHEMA:
        if isinstance(schema.get(key), dict):
            yield schema[key]
    for key in _SCHEMA_LIST:
        for sub in schema.get(key) or []:
            if isinstance(sub, dict):
                yield sub
    for key in ("properties",):
        for sub in (schema.get(key) or {}).values():
            if isinstance(sub, dict):
                yield sub


def _subschemas(root: dict[str, Any], defs: dict[str, Any]):
    """Every sub-schema below the root and below each $defs entry (not the entries themselves)."""
    stack = list(_children(root))
    for value in defs.values():
        if isinstance(value, dict):
            stack.extend(_children(value))
    while stack:
        node = stack.pop()
        yield node
        stack.extend(_children(node))


def _replace(schema: dict[str, Any], key: str, reference: dict[str, str], *, skip_root: bool) -> dict[str, Any]:
    if not skip_root and json.dumps(schema, sort_keys=True, separators=(",", ":")) == key:
        return dict(reference)
    result = dict(schema)
    for name in _ONE_SCHEMA:
        if isinstance(result.get(name), dict):
            result[name] = _replace(result[name], key, reference, skip_root=False)
    for name in _SCHEMA_LIST:
        if isinstance(result.get(name), list):
            result[name] = [_replace(sub, key, reference, skip_root=False) if isinstance(sub, dict) else sub for sub in result[name]]
    if isinstance(result.get("properties"), dict):
        result["properties"] = {prop: _replace(sub, key, reference, skip_root=False) if isinstance(sub, dict) else sub for prop, sub in result["properties"].items()}
    return result


# ----------------------------------------------------------------------------- the prompt outline


def outline(fields: dict[str, tuple[dict[str, Any], str | None]], defined: frozenset[str] = frozenset()) -> str:
    """One line per field: ``name (type): description``, nested fields indented, named types after.

    ``fields`` maps each output field to (its JSON schema, its description). Named types (``$defs``)
    are listed once each, after the fields that use them. Fields named in ``defined`` (those the
    instructions already explain) get no description here: each is said once.
    """
    lines: list[str] = []
    defs: dict[str, Any] = {}
    for schema, _ in fields.values():
        defs.update(schema.get("$defs") or {})
    pending: list[str] = []
    for name, (schema, description) in fields.items():
        _field_lines(lines, name, schema, description, 0, defs, pending, defined)
    done: set[str] = set()
    while pending:
        name = pending.pop(0)
        if name in done or name not in defs:
            continue
        done.add(name)
        _field_lines(lines, name, defs[name], None, 0, defs, pending, defined, is_type=True)
    return "\n".join(lines)


def _field_lines(lines: list[str], name: str, schema: dict[str, Any], description: str | None, depth: int, defs: dict[str, Any], pending: list[str],
                 defined: frozenset[str], *, is_type: bool = False) -> None:
    description = None if name in defined and not is_type else description or schema.get("description")
    label = "object" if is_type and schema.get("properties") is not None else _type_name(schema, defs, pending)
    line = f"{'  ' * depth}{name} ({label})"
    if description:
        line += f": {_one_line(description)}"
    lines.append(line)
    target = schema
    if "$ref" in schema and not is_type:
        return  # its fields are listed under the type's own name
    for prop, sub in (target.get("properties") or {}).items():
        _field_lines(lines, prop, sub, None, depth + 1, defs, pending, defined)


def _type_name(schema: dict[str, Any], defs: dict[str, Any], pending: list[str]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        pending.append(name)
        return name
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [_type_name(sub, defs, pending) for sub in schema[key] if sub.get("type") != "null"]
            optional = any(sub.get("type") == "null" for sub in schema[key])
            return " or ".join(options) + (", optional" if optional else "")
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items") or {}
        text = f"list of {_type_name(items, defs, pending)}" if items else "list"
        low, high = schema.get("minItems"), schema.get("maxItems")
        if low is not None and high is not None:
            text += f", {low}-{high} items" if low != high else f", exactly {low}"
        elif high is not None:
            text += f", at most {high}"
        elif low:
            text += f", at least {low}"
        return text
    if kind in ("integer", "number"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            return f"{kind} {low}-{high}"
        return kind
    if kind == "string":
        return "string" + (f", at most {schema['maxLength']} characters" if "maxLength" in schema else "")
    if kind == "object":
        return "object"
    return str(kind or "any")


def _one_line(text: str) -> str:
    return " ".join(text.split())
