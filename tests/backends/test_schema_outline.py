"""The output contract said once: the compact wire schema accepts exactly what the full one does,
and the prompt outline names every field, type and allowed value."""

import json

import jsonschema
import pytest
from dspy.adapters.json_adapter import _get_structured_outputs_response_format
from pydantic import TypeAdapter

from sdg_program.backends.schema_outline import compact_schema, outline
from signatures import DocumentArtifacts, GenerateQAPairs, JudgeQAPairs, QAPairs, narrow_qa_pairs


def _wire(signature):
    return _get_structured_outputs_response_format(signature).model_json_schema()


def _narrowed_generate():
    return GenerateQAPairs.with_updated_fields("qa_pairs", type_=narrow_qa_pairs(list(range(1, 13)), max_pairs=7, max_hops=3))


def _pair(question, segment_ids, hops, query_type="multi_hop"):
    return {"question": question, "answer": "An answer.", "segment_ids": segment_ids, "query_type": query_type, "reasoning_type": "factual",
            "hop_contexts": [{"hop_number": number, "segment_ids": [segment], "summary": "A fact."} for number, segment in enumerate(hops, 1)],
            "hop_count": len(hops), "question_complexity": 3}


DOCUMENTS = [
    {"qa_pairs": {"pairs": [_pair("q1", [1, 2], [1, 2]), _pair("q2", [4], [4], "contextual")]}},  # valid
    {"qa_pairs": {"pairs": [_pair("q1", [13], [13], "contextual")]}},  # segment 13 is not in the window
    {"qa_pairs": {"pairs": [_pair("q1", [1, 2], [1, 2], "contextual")]}},  # a contextual pair with two hops
    {"qa_pairs": {"pairs": []}},  # no pair
    {"qa_pairs": {"pairs": [{**_pair("q1", [3], [3], "structural"), "extra": 1}]}},  # a field the schema does not have
    {"qa_pairs": {"pairs": [{**_pair("q1", [3], [3], "structural"), "hop_count": 2}]}},  # hop_count disagrees with the shape
]


@pytest.mark.parametrize("signature", [_narrowed_generate(), GenerateQAPairs, JudgeQAPairs], ids=["narrowed generate", "generate", "judge"])
def test_the_compact_schema_accepts_exactly_what_the_full_schema_accepts(signature):
    full = _wire(signature)
    compact = compact_schema(full)
    documents = DOCUMENTS if "qa_pairs" in signature.output_fields else [
        {"evaluations": {"evaluations": []}}, {"evaluations": {"evaluations": [{"pair_index": 0}]}}]
    verdicts = []
    for document in documents:
        full_ok = jsonschema.Draft202012Validator(full).is_valid(document)
        assert jsonschema.Draft202012Validator(compact).is_valid(document) == full_ok, document
        verdicts.append(full_ok)
    if signature is not JudgeQAPairs:
        assert True in verdicts and False in verdicts  # the documents exercise both answers


def test_the_compact_schema_has_no_descriptions_and_states_repeated_parts_once():
    full = _wire(_narrowed_generate())
    compact = compact_schema(full)
    text = json.dumps(compact, separators=(",", ":"))
    assert '"description"' not in text and '"title"' not in text
    # the window's segment-ID enum appears once, however many hops and pair shapes cite segments
    assert text.count("[1,2,3,4,5,6,7,8,9,10,11,12]") == 1
    assert len(text) < 0.9 * len(json.dumps(full, separators=(",", ":")))
    # the base schema carries every description; the compact one none of them
    base = json.dumps(compact_schema(_wire(GenerateQAPairs)))
    assert '"description"' in json.dumps(_wire(GenerateQAPairs)) and '"description"' not in base


def test_a_property_named_description_survives():
    schema = TypeAdapter(DocumentArtifacts).json_schema()
    compact = compact_schema(schema)
    assert "description" in compact["$defs"]["ArtifactItem"]["properties"]


def test_the_outline_names_every_field_type_and_allowed_value():
    text = outline({"qa_pairs": (TypeAdapter(QAPairs).json_schema(), "The pairs.")})
    for name in ("qa_pairs (object): The pairs.", "pairs (list of QAPair", "question (string)", "hop_contexts (list of HopContext",
                 '"multi_hop" | "structural" | "contextual"', "question_complexity (1 | 2 | 3 | 4 | 5)", "HopContext (object)"):
        assert name in text, name
    assert text.count("HopContext (object)") == 1  # a named type is described once


def test_fields_the_instructions_define_get_no_second_description():
    schema = TypeAdapter(QAPairs).json_schema()
    with_all = outline({"qa_pairs": (schema, None)})
    without = outline({"qa_pairs": (schema, None)}, defined=frozenset({"answer"}))
    answer_line = next(line for line in with_all.splitlines() if line.strip().startswith("answer ("))
    assert ": " in answer_line
    assert "  answer (string)" in without.splitlines()
