"""Build ``data/gold/`` from the shared corpora: ``python -m optimize.build_gold [--corpora DIR] [--out DIR]``.

Deterministic: the same corpora give byte-identical files (no clock, no unseeded randomness;
every choice is a hash of the record ID). The output is committed; re-run this only when the
gold set itself should change, and review the diff.

What it builds (see ``optimize/gold.py`` for the record models):

- HotpotQA and MuSiQue examples: the supporting paragraphs of a human-written multi-hop question
  plus one or two distractor paragraphs from the same record, each paragraph a small Markdown
  document (``# Title`` + text), chunked with our chunker into one seed row (a bundle, so segment
  IDs run across the documents). Reference pairs cite the chunks that hold the supporting
  sentences (HotpotQA ``supporting_facts``) or the hop's answer (MuSiQue ``question_decomposition``),
  one hop per supporting paragraph. MuSiQue sub-questions that are natural questions become
  single-hop reference pairs too.
- DSPy documentation examples: short pages (or a prefix of whole chunks of a page) with QA pairs
  written by hand below (``DOC_SPECS``). Every hand-written pair names ``keys``: words that must
  occur in the cited chunks, and the script stops if one does not.
- Judge cases: for each example, its first sound pair and a copy with one known defect, with the
  verdict a good judge gives and what deterministic validation says.

Every reference pair must pass ``sdg_program.program.validation.validate_pair`` with default settings; an
original record whose pair would not (a yes/no answer, an answer not stated in its paragraph, a
4-hop chain beyond ``max_hops``) is skipped, never patched.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from optimize.gold import (
    GOLD_FILES,
    GOLD_MAX_CHUNK_CHARS,
    GOLD_SENTENCES_PER_CHUNK,
    GoldDocument,
    GoldExample,
    JudgeCase,
    JudgedPair,
)
from sdg_program.core.records import Chunk, SeedRow
from sdg_program.ingest.chunking import ChunkedDocument, chunk_text, make_seed_row
from sdg_program.ingest.config import ChunkingConfig
from sdg_program.program.validation import RowSegments, ValidationSettings, answer_support, content_words, validate_pair
from signatures import ArtifactItem, DocumentArtifacts, HopContext, QAPair

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPORA = REPO.parent / "shared" / "corpora"
DEFAULT_OUT = REPO / "data" / "gold"

SPLIT_SEED = "sdg-gold-v1"
DEV_SHARE = 0.3
HOTPOT_COUNT = 30
MUSIQUE_COUNT = 30
# Rows stay short: the embedded model has an 8k context and reads every segment of a row.
MAX_ROW_CHARS = 2600
MAX_SUMMARY_CHARS = 220
VALIDATION = ValidationSettings()
CHUNKING = ChunkingConfig(input_dir=Path("."), sentences_per_chunk=GOLD_SENTENCES_PER_CHUNK, max_chunk_chars=GOLD_MAX_CHUNK_CHARS)


# ---------------------------------------------------------------------------
# Small deterministic helpers
# ---------------------------------------------------------------------------


def stable_hash(*parts: object) -> int:
    """An integer from sha256 of the parts: the only source of 'randomness' in this script."""
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode("utf-8")).hexdigest()
    return int(digest[:16], 16)


def slug(title: str) -> str:
    value = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return (value or "doc")[:60] + ".md"


def shorten(text: str, limit: int = MAX_SUMMARY_CHARS) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit - 1)
    return text[: cut if cut > 0 else limit - 1].rstrip(",;:") + "…"


def first_sentence(text: str) -> str:
    match = re.search(r"(?<=[.!?])\s", text)
    return shorten(text[: match.start()] if match else text, 160)


def chunk_document(doc_id: str, text: str) -> ChunkedDocument:
    chunks = chunk_text(text, doc_id, sentences_per_chunk=GOLD_SENTENCES_PER_CHUNK, max_chunk_chars=GOLD_MAX_CHUNK_CHARS)
    return ChunkedDocument(doc_id=doc_id, text=text, chunks=chunks)


def row_chunks_of(row: SeedRow, doc_id: str) -> list[Chunk]:
    return [chunk for chunk in row.chunks if chunk.doc_id == doc_id]


def chunks_overlapping(row: SeedRow, doc_id: str, start: int, end: int) -> list[int]:
    """Row segment IDs of the chunks of ``doc_id`` that overlap the character span [start, end)."""
    return [chunk.chunk_id for chunk in row_chunks_of(row, doc_id) if chunk.char_start < end and start < chunk.char_end]


def make_pair(
    question: str,
    answer: str,
    hops: list[tuple[list[int], str]],
    *,
    query_type: str,
    reasoning_type: str,
    complexity: int,
) -> QAPair:
    hop_contexts = [HopContext(hop_number=number, segment_ids=sorted(set(ids)), summary=shorten(summary)) for number, (ids, summary) in enumerate(hops, 1)]
    segment_ids = sorted({segment for hop in hop_contexts for segment in hop.segment_ids})
    return QAPair(
        query_type=query_type,
        reasoning_type=reasoning_type,
        hop_contexts=hop_contexts,
        hop_count=len(hop_contexts),
        segment_ids=segment_ids,
        question=" ".join(question.split()),
        answer=" ".join(answer.split()),
        question_complexity=complexity,
    )


def check_pair(pair: QAPair, row: SeedRow, where: str) -> list[str]:
    """Validation reasons for a pair (empty when valid)."""
    return validate_pair(pair, RowSegments.from_chunks(row.chunks), VALIDATION).reasons


_TEMPORAL = re.compile(r"\b(when|what year|which year|date|first|earlier|older|younger|oldest|youngest|before|after|founded|born|died)\b", re.I)


def multi_hop_reasoning(question: str, comparison: bool) -> str:
    if _TEMPORAL.search(question):
        return "temporal"
    return "relational" if comparison else "factual"


def paragraph_artifacts(titles: list[str], texts: list[str], answer: str, answer_fact: str) -> DocumentArtifacts:
    """Reference artifacts for a multi-document row: its subject, the link, the documents' subjects, the answer fact.

    Several kinds are filled (not only entities) because these are also the demos of the extract
    predictor, and a small model copies the shape of its demos: demos whose first kinds are empty
    teach it to return empty lists.
    """
    entities = [
        ArtifactItem(text=title, description=first_sentence(text), importance="Holds evidence that connects the documents.")
        for title, text in zip(titles[:2], texts[:2])
    ]
    return DocumentArtifacts(
        key_concepts=[ArtifactItem(text=titles[-1], description=first_sentence(texts[-1]), importance="The subject that answers the question.")],
        relationships=[ArtifactItem(text=f"{titles[0]} and {titles[-1]}", description=shorten(answer_fact, 160), importance="The fact that links the documents.")],
        entities=entities,
        insights=[ArtifactItem(text=answer, description=shorten(answer_fact, 160), importance="A conclusion that needs more than one document.")],
    )


# ---------------------------------------------------------------------------
# HotpotQA
# ---------------------------------------------------------------------------


@dataclass
class Paragraph:
    title: str
    sentences: list[str]  # as in the corpus, with their leading spaces

    @property
    def body(self) -> str:
        return "".join(self.sentences).strip()

    def document_text(self) -> str:
        return f"# {self.title}\n\n{self.body}\n"

    def sentence_span(self, index: int) -> tuple[int, int]:
        """Character span of sentence ``index`` inside ``document_text()``."""
        prefix = len(f"# {self.title}\n\n")
        raw = "".join(self.sentences)
        lead = len(raw) - len(raw.lstrip())
        start = sum(len(sentence) for sentence in self.sentences[:index])
        sentence = self.sentences[index]
        inner = len(sentence) - len(sentence.lstrip())
        begin = prefix + start + inner - lead
        return max(prefix, begin), prefix + start + len(sentence) - lead


def pick_distractors(candidates: list, record_id: str, budget: int, count: int, size) -> list:
    """Up to ``count`` candidates that fit ``budget`` characters, in a hash order of the record."""
    ordered = sorted(range(len(candidates)), key=lambda index: stable_hash(record_id, "distractor", index))
    chosen = []
    for index in ordered:
        if len(chosen) == count:
            break
        if size(candidates[index]) <= budget:
            chosen.append(candidates[index])
            budget -= size(candidates[index])
    return chosen


def build_row(members: list[tuple[str, str, str, bool]], record_id: str) -> tuple[SeedRow, list[GoldDocument]]:
    """members: (doc_id, text, origin, supporting). Order is shuffled by hash so evidence is not always first."""
    ordered = sorted(members, key=lambda member: stable_hash(record_id, "order", member[0]))
    documents = [chunk_document(doc_id, text) for doc_id, text, _, _ in ordered]
    row = make_seed_row(documents, CHUNKING)
    gold_documents = [GoldDocument(doc_id=doc_id, origin=origin, supporting=supporting) for doc_id, _, origin, supporting in ordered]
    return row, gold_documents


def hotpot_example(record: dict) -> GoldExample | None:
    if record["answer"].strip().lower() in ("yes", "no"):
        return None  # "yes"/"no" carry no content words: answer support cannot be checked
    paragraphs = {title: Paragraph(title, sentences) for title, sentences in record["context"]}
    facts: dict[str, list[int]] = {}
    for title, index in record["supporting_facts"]:
        facts.setdefault(title, []).append(index)
    if len(facts) != 2 or any(title not in paragraphs for title in facts):
        return None
    if any(index >= len(paragraphs[title].sentences) for title, indices in facts.items() for index in indices):
        return None  # a known HotpotQA data error: the fact points past the paragraph
    supporting = list(facts)
    size = lambda paragraph: len(paragraph.document_text())
    used = sum(size(paragraphs[title]) for title in supporting)
    if used > MAX_ROW_CHARS - 300:
        return None
    distractors = pick_distractors([p for t, p in paragraphs.items() if t not in facts], record["_id"], MAX_ROW_CHARS - used, 2, size)
    if not distractors:
        return None
    members = [(slug(title), paragraphs[title].document_text(), title, True) for title in supporting]
    members += [(slug(p.title), p.document_text(), p.title, False) for p in distractors]
    if len({member[0] for member in members}) != len(members):
        return None
    row, documents = build_row(members, record["_id"])

    comparison = record["type"] == "comparison"
    answer = record["answer"]
    # Bridge questions: the paragraph that states the answer is the last hop.
    if not comparison:
        holding = [title for title in supporting if answer.lower() in paragraphs[title].body.lower()]
        if len(holding) == 1:
            supporting = [title for title in supporting if title != holding[0]] + holding
    hops = []
    for title in supporting:
        paragraph = paragraphs[title]
        ids: list[int] = []
        for index in sorted(facts[title]):
            start, end = paragraph.sentence_span(index)
            ids.extend(chunks_overlapping(row, slug(title), start, end))
        summary = " ".join(paragraph.sentences[index].strip() for index in sorted(facts[title]))
        hops.append((ids, summary))
    pair = make_pair(
        record["question"], answer, hops,
        query_type="multi_hop", reasoning_type=multi_hop_reasoning(record["question"], comparison), complexity=3,
    )
    if check_pair(pair, row, record["_id"]):
        return None
    titles = supporting
    return GoldExample(
        example_id=f"hotpotqa-{record['_id']}",
        source="hotpotqa",
        split="train",
        source_ref=record["_id"],
        documents=documents,
        row=row,
        pairs=[pair],
        supporting_segment_ids=pair.segment_ids,
        artifacts=paragraph_artifacts(titles, [paragraphs[t].body for t in titles], answer, pair.hop_contexts[-1].summary),
        artifact_terms=titles,
    )


# ---------------------------------------------------------------------------
# MuSiQue
# ---------------------------------------------------------------------------


def musique_hop_summary(step: dict, answers: list[str]) -> str:
    """A sub-question as one sentence: '#k' replaced by earlier answers; 'X >> relation' made readable."""
    question = substitute(step["question"], answers)
    if ">>" in question:
        subject, relation = (part.strip() for part in question.split(">>", 1))
        return f"{subject} ({relation}): {step['answer']}."
    return f"{question.rstrip(' ?')}? {step['answer']}."


_PERSONAL = re.compile(r"\b(we|us|our|you|your)\b", re.I)


def substitute(question: str, answers: list[str]) -> str:
    return re.sub(r"#(\d+)", lambda match: answers[int(match.group(1)) - 1] if int(match.group(1)) <= len(answers) else match.group(0), question)


def hop_segments(row: SeedRow, doc_id: str, answer: str) -> list[int]:
    """Chunks of the paragraph that state the hop's answer (all its chunks when none does)."""
    chunks = row_chunks_of(row, doc_id)
    exact = [chunk.chunk_id for chunk in chunks if answer.lower() in chunk.text.lower()]
    if exact:
        return exact[:1]
    supported = [chunk.chunk_id for chunk in chunks if answer_support(answer, [chunk.text]) >= 0.5]
    return supported[:1] or [chunk.chunk_id for chunk in chunks]


def musique_example(record: dict) -> GoldExample | None:
    steps = record["question_decomposition"]
    if not 2 <= len(steps) <= VALIDATION.max_hops:
        return None
    paragraphs = {paragraph["idx"]: paragraph for paragraph in record["paragraphs"]}
    support = [step["paragraph_support_idx"] for step in steps]
    if len(set(support)) != len(support):
        return None  # two hops read the same paragraph: not distinct evidence
    titles = [paragraphs[index]["title"] for index in support]
    if len(set(slug(title) for title in titles)) != len(titles):
        return None
    text_of = lambda paragraph: f"# {paragraph['title']}\n\n{paragraph['paragraph_text'].strip()}\n"
    used = sum(len(text_of(paragraphs[index])) for index in support)
    if used > MAX_ROW_CHARS - 250:
        return None
    others = [p for p in record["paragraphs"] if p["idx"] not in support and slug(p["title"]) not in {slug(t) for t in titles}]
    distractors = pick_distractors(others, record["id"], MAX_ROW_CHARS - used, 1, lambda p: len(text_of(p)))
    if not distractors:
        return None
    members = [(slug(paragraphs[index]["title"]), text_of(paragraphs[index]), paragraphs[index]["title"], True) for index in support]
    members += [(slug(p["title"]), text_of(p), p["title"], False) for p in distractors]
    row, documents = build_row(members, record["id"])

    answers: list[str] = []
    hops = []
    for step, index in zip(steps, support):
        hops.append((hop_segments(row, slug(paragraphs[index]["title"]), step["answer"]), musique_hop_summary(step, answers)))
        answers.append(step["answer"])
    main = make_pair(
        record["question"], record["answer"], hops,
        query_type="multi_hop", reasoning_type=multi_hop_reasoning(record["question"], False), complexity=min(5, len(steps) + 1),
    )
    if check_pair(main, row, record["id"]):
        return None
    pairs = [main]
    answers = []
    for step, (ids, summary) in zip(steps, hops):
        question = substitute(step["question"], answers)
        answers.append(step["answer"])
        if ">>" in question or "#" in question or _PERSONAL.search(question):
            continue  # not a natural question, or not standalone ("how much debt do we have")
        question = question.strip().rstrip("?").strip() + "?"
        question = question[0].upper() + question[1:]
        single = make_pair(question, step["answer"], [(ids, summary)], query_type="contextual", reasoning_type="factual", complexity=2)
        if not check_pair(single, row, record["id"]) and single.question.lower() != main.question.lower():
            pairs.append(single)
    return GoldExample(
        example_id=f"musique-{record['id']}",
        source="musique",
        split="train",
        source_ref=record["id"],
        documents=documents,
        row=row,
        pairs=pairs,
        supporting_segment_ids=sorted({segment for pair in pairs for segment in pair.segment_ids}),
        artifacts=paragraph_artifacts(titles, [paragraphs[index]["paragraph_text"] for index in support], record["answer"], main.hop_contexts[-1].summary),
        artifact_terms=titles,
    )


# ---------------------------------------------------------------------------
# DSPy documentation: hand-written pairs
# ---------------------------------------------------------------------------
# Each page is cut to its first `chunks` chunks (a whole-chunk prefix, so segment IDs do not move).
# A pair: (question, answer, hops, query_type, reasoning_type, complexity, keys). `hops` is a list of
# (segment_ids, summary). `keys` must each occur (case-insensitive) in the text of the cited chunks.

DOC_SPECS: list[dict] = [
    {
        "path": "learn/index.md", "chunks": 4, "terms": ["DSPy Programming", "DSPy Optimization"],
        "pairs": [
            ("what are the three stages of building an AI system with DSPy",
             "DSPy Programming (define the task and an initial pipeline), DSPy Evaluation (collect a development set and define a metric), and DSPy Optimization (tune the prompts or weights with optimizers).",
             [([1, 2, 3], "The three stages are DSPy Programming, DSPy Evaluation and DSPy Optimization.")],
             "structural", "procedural", 2, ["three stages", "Programming", "Evaluation", "Optimization"]),
            ("why run DSPy optimization only after programming and evaluation are in place",
             "Because launching optimization runs with a poorly designed program or a bad metric is unproductive; the stages go programming, then evaluation with a metric, then optimization.",
             [([3], "Evaluation collects a development set and defines a metric before optimization tunes prompts or weights."),
              ([4], "Optimizing a poorly designed program or with a bad metric is unproductive.")],
             "multi_hop", "causal", 3, ["unproductive", "bad metric", "development set"]),
        ],
    },
    {
        "path": "tutorials/rl_ai_program/index.md", "chunks": 3, "terms": ["reinforcement learning", "Multi-Hop Research"],
        "pairs": [
            ("which reinforcement learning tutorials does DSPy have for optimizing programs",
             "RL for Privacy-Conscious Delegation and RL for Multi-Hop Research.",
             [([2], "RL for Privacy-Conscious Delegation balances task performance with privacy constraints."),
              ([3], "RL for Multi-Hop Research optimizes the search strategy of multi-hop reasoning.")],
             "multi_hop", "factual", 3, ["Privacy-Conscious Delegation", "Multi-Hop Research"]),
            ("how can reinforcement learning improve search in multi-hop information retrieval",
             "RL learns to optimize the search strategy, navigating through multiple information sources more effectively.",
             [([3], "RL can optimize the search strategy of multi-hop retrieval.")],
             "contextual", "causal", 2, ["search strategy", "multiple information sources"]),
        ],
    },
    {
        "path": "api/optimizers/SIMBA.md", "chunks": 3, "terms": ["dspy.SIMBA", "mini-batches"],
        "pairs": [
            ("what extra dependency does dspy.SIMBA need and how is it installed",
             "SIMBA requires numpy; install it with pip install dspy[numpy].",
             [([1], "dspy.SIMBA requires numpy, installed with pip install dspy[numpy].")],
             "contextual", "procedural", 2, ["numpy", "pip install"]),
            ("how does the SIMBA optimizer decide between self-reflective rules and new demonstrations",
             "SIMBA samples mini-batches, finds challenging examples with high output variability, then either creates self-reflective rules or adds successful examples as demonstrations.",
             [([3], "SIMBA uses mini-batches and output variability to create rules or add demonstrations.")],
             "contextual", "procedural", 3, ["mini-batches", "variability", "self-reflective rules", "demonstrations"]),
            ("how to compile and save a program optimized with SIMBA",
             "Create optimizer = dspy.SIMBA(metric=your_metric), call optimizer.compile(your_program, trainset=your_trainset), then optimized_program.save(\"optimized.json\").",
             [([2], "The example compiles with dspy.SIMBA and saves the optimized program to optimized.json.")],
             "contextual", "procedural", 2, ["compile", "save", "trainset"]),
        ],
    },
    {
        "path": "getting-started/where-to-go-next.md", "chunks": 6, "terms": ["GEPA", "dspy.inspect_history()"],
        "pairs": [
            ("which DSPy guide explains weighting metric sub-scores and preventing keyword-stuffing",
             "The Metrics: designing and composing guide.",
             [([2], "The Metrics guide covers weighting sub-scores and preventing keyword-stuffing.")],
             "contextual", "factual", 2, ["Metrics", "designing and composing", "keyword-stuffing"]),
            ("where to learn when to use BootstrapFewShot or MIPROv2 instead of GEPA",
             "The Optimizers: choosing one guide, which covers when to reach for BootstrapFewShot, MIPROv2, BootstrapFinetune and the rest.",
             [([4], "If GEPA does not fit, the Optimizers: choosing one guide explains the other optimizers.")],
             "contextual", "factual", 2, ["choosing one", "BootstrapFewShot", "MIPROv2"]),
            ("how to inspect the LM calls of a DSPy program and then serve it asynchronously",
             "Inspect calls and traces with dspy.inspect_history() and callbacks; programs can then be made async, streamed and parallelized.",
             [([5], "Calls and traces are inspectable with dspy.inspect_history() and callbacks."),
              ([6], "Programs can be made async, streamed and parallelized for production.")],
             "multi_hop", "procedural", 3, ["inspect_history", "callbacks", "async", "parallelized"]),
        ],
    },
    {
        "path": "api/modules/ReActV2.md", "chunks": 2, "terms": ["dspy.ReActV2", "dspy.History"],
        "pairs": [
            ("when does dspy.ReActV2 become dspy.ReAct and when is the ReActV2 alias removed",
             "ReActV2 becomes dspy.ReAct in DSPy 3.5; the dspy.ReActV2 name stays as a deprecated alias through the 3.5 release line and is removed in DSPy 3.6.",
             [([1], "ReActV2 becomes dspy.ReAct in 3.5; the alias is removed in 3.6.")],
             "contextual", "temporal", 3, ["3.5", "3.6", "deprecated"]),
            ("where does the experimental replacement for dspy.ReAct keep its tool calls and results",
             "ReActV2, the experimental native-tool-aware replacement for dspy.ReAct, stores calls and results in a structured dspy.History.",
             [([1], "ReActV2 is the experimental, native-tool-aware replacement for dspy.ReAct."),
              ([2], "It stores calls and results in structured dspy.History.")],
             "multi_hop", "relational", 3, ["replacement", "dspy.History"]),
        ],
    },
    {
        "path": "tutorials/optimize_ai_program/index.md", "chunks": 5, "terms": ["Classification Finetuning", "Finetuning Agents"],
        "pairs": [
            ("which DSPy tutorial shows distilling a large language model into a smaller one for classification",
             "The Classification Finetuning tutorial: DSPy's finetuning optimizers distill knowledge from large language models into smaller, more efficient models.",
             [([3], "Classification Finetuning distills large LMs into smaller models.")],
             "contextual", "factual", 2, ["Classification Finetuning", "distill"]),
            ("DSPy tutorials for optimizing programs that use tools and agents",
             "Advanced Tool Use, on optimizers that learn to use tools and APIs more effectively, and Finetuning Agents, on improving agent performance in interactive environments like games.",
             [([4], "Advanced Tool Use optimizes programs that call external tools and APIs."),
              ([5], "Finetuning Agents improves agents in interactive environments like games.")],
             "multi_hop", "relational", 3, ["Advanced Tool Use", "Finetuning Agents", "games"]),
        ],
    },
    {
        "path": "learn/evaluation/overview.md", "chunks": 7, "terms": ["development set", "DSPy metric"],
        "pairs": [
            ("how many examples does a DSPy development set need",
             "Even 20 input examples can be useful, though 200 goes a long way.",
             [([1], "Even 20 examples help; 200 goes a long way.")],
             "contextual", "factual", 2, ["20", "200"]),
            ("does evaluating a DSPy program need labels for its intermediate steps",
             "No: depending on the metric you need only inputs, or inputs and the final outputs of the system; labels for intermediate steps are almost never needed.",
             [([1], "Depending on the metric you need only inputs, or inputs and the final outputs."),
              ([2], "You almost never need labels for the intermediate steps.")],
             "multi_hop", "inferential", 3, ["final", "intermediate steps"]),
            ("how to build a metric for long-form outputs of an LM system",
             "Make the metric a smaller DSPy program that checks multiple properties of the output; start simple and iterate.",
             [([5], "Long-form outputs need a metric that is a smaller DSPy program checking several properties.")],
             "contextual", "procedural", 2, ["long-form", "multiple properties", "iterate"]),
            ("how to improve a metric that is itself a DSPy program",
             "Optimize the metric itself: its output is usually a simple value such as a score out of 5, so the metric's metric is easy to define and optimize from a few collected examples.",
             [([7], "A DSPy-program metric can itself be optimized, since its output is a simple score.")],
             "contextual", "causal", 3, ["optimize your metric", "score out of 5"]),
        ],
    },
    {
        "path": "api/utils/Errors.md", "chunks": 3, "terms": ["dspy.LMError", "dspy.is_retryable_lm_error"],
        "pairs": [
            ("which DSPy exception catches any LM call failure and what metadata does it carry",
             "dspy.LMError, which inherits from dspy.DSPyError and carries model, provider, status, request_id and retry_after when available.",
             [([1], "LM errors inherit from dspy.LMError and carry model, provider, status, request_id, retry_after.")],
             "contextual", "factual", 2, ["dspy.LMError", "DSPyError", "request_id", "retry_after"]),
            ("how to tell whether a failed LM call in DSPy is safe to retry",
             "Call dspy.is_retryable_lm_error(error): rate limits, timeouts, server errors and transport errors count as retryable; retryability is advisory, so respect provider policy and retry_after.",
             [([2], "dspy.is_retryable_lm_error classifies rate limits, timeouts, server and transport errors as retryable."),
              ([3], "Retryability is advisory: respect provider policy and retry_after.")],
             "multi_hop", "procedural", 3, ["is_retryable_lm_error", "rate limits", "advisory"]),
            ("how to handle a prompt that is too long for the model in DSPy",
             "Catch dspy.ContextWindowExceededError, the error for a prompt that was too long for the model (e.model).",
             [([2], "dspy.ContextWindowExceededError is raised when the prompt is too long.")],
             "contextual", "procedural", 2, ["ContextWindowExceededError", "too long"]),
        ],
    },
    {
        "path": "api/tools/PythonInterpreter.md", "chunks": 6, "terms": ["Deno", "Pyodide"],
        "pairs": [
            ("how to install Deno for dspy.PythonInterpreter",
             "Run pip install \"dspy[deno]\": the deno extra installs the official Deno Python distribution in the same environment as DSPy.",
             [([1, 2], "The deno extra of DSPy installs the official Deno Python distribution.")],
             "contextual", "procedural", 2, ["pip install", "dspy[deno]", "official Deno"]),
            ("which deno executable does PythonInterpreter use without the deno extra",
             "It falls back to the deno executable on PATH, which should be a compatible Deno 2.x release; an explicit deno_command takes precedence.",
             [([3], "Without the extra DSPy falls back to deno on PATH; deno_command takes precedence.")],
             "contextual", "inferential", 3, ["PATH", "deno_command", "precedence"]),
            ("can a package.json file redirect the Pyodide dependency of the DSPy Python sandbox",
             "No. DSPy disables deno.json, lockfile, package.json and node_modules discovery for its default runner, so a package.json cannot redirect the pinned Pyodide dependency.",
             [([4], "Ambient package.json discovery is disabled for the default runner.")],
             "contextual", "causal", 3, ["package.json", "Pyodide", "disables"]),
            ("how does RLM learn the constraints of the Pyodide execution environment",
             "From PythonInterpreter.execution_instructions, class metadata that RLM includes in its action prompt, which adapters render in the system prompt.",
             [([5], "RLM includes PythonInterpreter.execution_instructions in its action prompt.")],
             "contextual", "factual", 3, ["execution_instructions", "action prompt", "system prompt"]),
        ],
    },
    {
        "path": "tutorials/gepa_ai_program/index.md", "chunks": 6, "terms": ["GEPA", "GPT-4.1 Nano"],
        "pairs": [
            ("why can the GEPA optimizer find good prompts in very few rollouts",
             "GEPA reflects on the program's trajectory to propose new prompts, and it can use domain-specific text feedback rather than only the scalar metric.",
             [([1], "GEPA reflects on the program's trajectory and proposes new prompts."),
              ([2], "GEPA can use domain-specific text feedback, so it needs very few rollouts.")],
             "multi_hop", "causal", 3, ["reflect", "text feedback", "few rollouts"]),
            ("which GEPA tutorial reports a 10% gain on AIME 2025",
             "GEPA for AIME (Math), which optimizes a single dspy.ChainOfThought program with GPT-4.1 Mini.",
             [([3], "The AIME tutorial reports 10% gains with GPT-4.1 Mini.")],
             "contextual", "factual", 2, ["AIME", "10%", "GPT-4.1 Mini"]),
            ("which GEPA tutorials optimize GPT-4.1 Nano",
             "GEPA for Structured Information Extraction for Enterprise Tasks and GEPA for Code Backdoor Classification (AI control).",
             [([4], "The structured information extraction tutorial uses GPT-4.1 Nano."),
              ([6], "The code backdoor classification tutorial optimizes a GPT-4.1 Nano classifier.")],
             "multi_hop", "relational", 3, ["GPT-4.1 Nano", "Structured Information Extraction", "Backdoor"]),
        ],
    },
    {
        "path": "learn/optimization/overview.md", "chunks": 7, "terms": ["trainset", "valset"],
        "pairs": [
            ("how should data be split between training and validation for DSPy prompt optimizers",
             "Use 20% for training and 80% for validation, because prompt-based optimizers often overfit small training sets; dspy.GEPA instead maximizes the training set.",
             [([2], "For most prompt optimizers: 20% training, 80% validation."),
              ([3], "The reverse split stabilizes validation; GEPA maximizes the training set instead.")],
             "multi_hop", "relational", 4, ["20%", "80%", "overfit", "GEPA"]),
            ("how many training examples does DSPy prompt optimization need",
             "You can often get substantial value out of 30 examples, but aim for at least 300 examples.",
             [([1], "30 examples can give substantial value; aim for 300.")],
             "contextual", "factual", 2, ["30 examples", "300"]),
        ],
    },
    {
        "path": "learn/programming/overview.md", "chunks": 8, "terms": ["dspy.ChainOfThought", "adapter"],
        "pairs": [
            ("what concerns does DSPy separate that a conventional prompt couples together",
             "The signature (inputs and outputs), the adapter (formatting and parsing), the module's strategy such as thinking step by step or tool use, and trial-and-error optimization; DSPy separates them and automates the lower-level ones.",
             [([6], "A conventional prompt mixes signature, adapter, module logic and manual optimization; DSPy separates them.")],
             "structural", "relational", 3, ["signature", "adapter", "module", "separates"]),
            ("can dspy.ChainOfThought be swapped for dspy.ProgramOfThought without changing signatures",
             "Yes: one module, like dspy.ChainOfThought, can be exchanged for another, like dspy.ProgramOfThought, without modifying the signatures.",
             [([7], "Modules can be exchanged without modifying signatures.")],
             "contextual", "factual", 2, ["ChainOfThought", "ProgramOfThought", "without modifying"]),
            ("what module should a first DSPy pipeline start with",
             "Start simple, perhaps with a single dspy.ChainOfThought module, and add complexity incrementally based on observations.",
             [([4], "Start with a single dspy.ChainOfThought module and add complexity incrementally.")],
             "contextual", "procedural", 2, ["single", "ChainOfThought", "incrementally"]),
        ],
    },
    {
        "path": "api/utils/context.md", "chunks": 7, "terms": ["dspy.context", "dspy.JSONAdapter"],
        "pairs": [
            ("how to use a different adapter for one block of DSPy code",
             "Wrap the calls in with dspy.context(adapter=dspy.JSONAdapter()): the override applies inside the block only.",
             [([4], "with dspy.context(adapter=dspy.JSONAdapter()) switches the adapter for one block.")],
             "contextual", "procedural", 2, ["dspy.context", "adapter", "JSONAdapter"]),
            ("is dspy.context safe to call from threads and async tasks",
             "Yes: unlike dspy.configure, dspy.context can be called from any thread or async task, and its settings do not leak to other threads or tasks.",
             [([7], "dspy.context works in any thread or async task without leaking settings.")],
             "contextual", "factual", 2, ["any", "thread", "leak"]),
            ("what does a nested dspy.context block inherit from the enclosing block",
             "Every current setting: an inner block overrides only the keys it passes, so the outer lm stays active when the inner block sets only track_usage, and each block restores its settings on exit.",
             [([2], "A context block inherits every current setting and overrides only the keys passed."),
              ([6], "Inner blocks override outer ones and inherit the rest, e.g. the lm, restoring on exit.")],
             "multi_hop", "inferential", 3, ["inherits", "track_usage", "restores"]),
        ],
    },
    {
        "path": "api/utils/configure.md", "chunks": 9, "terms": ["dspy.configure", "track_usage"],
        "pairs": [
            ("which adapter do DSPy modules use when no adapter is configured",
             "When the adapter setting is None, modules use dspy.ChatAdapter.",
             [([3], "The adapter setting defaults to None, and modules then use dspy.ChatAdapter.")],
             "contextual", "factual", 2, ["adapter", "None", "ChatAdapter"]),
            ("what happens when a second thread calls dspy.configure",
             "It gets a RuntimeError: only the thread that first called dspy.configure may call it again; other threads should use dspy.context for temporary overrides.",
             [([8], "Only the first thread may call dspy.configure; others get a RuntimeError."),
              ([9], "Worker threads use dspy.context for temporary overrides.")],
             "multi_hop", "causal", 3, ["RuntimeError", "first calls", "dspy.context"]),
            ("how to record token counts for every LM call in DSPy",
             "Set track_usage=True in dspy.configure; it is False by default.",
             [([3], "track_usage records token counts for every LM call; default False.")],
             "contextual", "procedural", 2, ["track_usage", "token counts", "False"]),
            ("difference between dspy.configure and dspy.context",
             "dspy.configure sets process-wide defaults that persist until it is called again; dspy.context overrides settings for one block only.",
             [([2], "dspy.configure values persist until it is called again."),
              ([7], "Use dspy.context for different settings in one call or block.")],
             "multi_hop", "relational", 3, ["persist", "dspy.context", "one block"]),
        ],
    },
    {
        "path": "api/modules/CodeAct.md", "chunks": 5, "terms": ["CodeAct", "RLM"],
        "pairs": [
            ("what replaces the deprecated dspy.CodeAct module",
             "RLM is the preferred replacement; CodeAct will be removed in DSPy 3.5.",
             [([1], "CodeAct is deprecated; RLM replaces it and CodeAct is removed in 3.5.")],
             "contextual", "factual", 2, ["RLM", "replacement", "3.5"]),
            ("how does CodeAct solve a task with tools",
             "It generates Python code snippets that use the provided tools, executes the code in a Python sandbox, collects the output, checks whether the task is complete, and answers from the collected information.",
             [([4], "CodeAct takes inputs and tools and generates Python code snippets using the tools."),
              ([5], "It executes the code in a sandbox, collects output and answers.")],
             "multi_hop", "procedural", 3, ["code snippets", "sandbox", "collects the output"]),
        ],
    },
    {
        "path": "api/optimizers/MIPROv2.md", "chunks": 6, "terms": ["MIPROv2", "Bayesian Optimization"],
        "pairs": [
            ("what does the MIPROv2 optimizer tune",
             "MIPROv2 optimizes instructions and few-shot examples jointly, or only instructions for 0-shot optimization.",
             [([1], "MIPROv2 jointly optimizes instructions and few-shot examples.")],
             "contextual", "factual", 2, ["instructions", "few-shot examples", "0-shot"]),
            ("how does MIPROv2 choose its bootstrapped few-shot examples",
             "It runs randomly sampled training examples through the program and keeps an example as a few-shot candidate when the program's output is correct.",
             [([4], "Bootstrapping keeps examples whose program output is correct.")],
             "contextual", "procedural", 3, ["Randomly samples", "correct", "candidate"]),
            ("what information does the MIPROv2 instruction proposer use to write instructions",
             "A summary of the training data, a summary of the program's code and the predictor, the bootstrapped few-shot examples and a randomly sampled tip; a prompt_model writes the candidates.",
             [([5], "The proposer uses a dataset summary, a program summary, bootstrapped examples and a random tip."),
              ([6], "A prompt_model writes the instruction candidates.")],
             "multi_hop", "factual", 4, ["summary", "tip", "prompt_model"]),
        ],
    },
    {
        "path": "deep-dive/data-handling/examples.md", "chunks": 9, "terms": ["Example", "with_inputs()"],
        "pairs": [
            ("what type do DSPy modules return and how does it relate to dspy.Example",
             "Modules return Prediction, a special sub-class of Example.",
             [([2], "DSPy modules return Prediction, a sub-class of Example.")],
             "contextual", "relational", 2, ["Prediction", "sub-class", "Example"]),
            ("how to mark the input fields of a dspy.Example and does that change the original object",
             "Call with_inputs() with the input field names; it returns a new copy and the original object is kept unchanged.",
             [([6], "with_inputs() marks specific fields of an Example as inputs."),
              ([7, 8], "with_inputs() returns a new copy; the original is unchanged.")],
             "multi_hop", "inferential", 3, ["with_inputs", "new copy", "unchanged"]),
            ("how to get only the label fields of a dspy.Example",
             "Use the labels() method, which returns a new Example containing only the non-input keys.",
             [([9], "labels() returns an Example with only non-input keys.")],
             "contextual", "procedural", 2, ["labels()", "non-input keys"]),
        ],
    },
]


def docs_example(spec: dict, docs_root: Path) -> GoldExample:
    path = spec["path"]
    full_text = (docs_root / path).read_text(encoding="utf-8")
    full = chunk_document(path, full_text)
    keep = spec["chunks"]
    if keep > len(full.chunks):
        raise ValueError(f"{path}: asks for {keep} chunks, the page has {len(full.chunks)}")
    text = full_text[: full.chunks[keep - 1].char_end].rstrip() + "\n"
    document = chunk_document(path, text)
    if [chunk.text for chunk in document.chunks] != [chunk.text for chunk in full.chunks[:keep]]:
        raise ValueError(f"{path}: cutting the page after chunk {keep} changes its chunks")
    row = make_seed_row([document], CHUNKING)
    texts = {chunk.chunk_id: chunk.text for chunk in row.chunks}
    pairs = []
    for question, answer, hops, query_type, reasoning_type, complexity, keys in spec["pairs"]:
        pair = make_pair(question, answer, hops, query_type=query_type, reasoning_type=reasoning_type, complexity=complexity)
        cited = " ".join(texts[segment] for segment in pair.segment_ids).lower()
        missing = [key for key in keys if key.lower() not in cited]
        if missing:
            raise ValueError(f"{path}: {question!r} cites {pair.segment_ids}, which lack {missing}")
        reasons = check_pair(pair, row, path)
        if reasons:
            raise ValueError(f"{path}: {question!r} fails validation: {reasons}")
        pairs.append(pair)
    for term in spec["terms"]:
        if term.lower() not in row.text.lower():
            raise ValueError(f"{path}: artifact term {term!r} is not in the row")
    heading = row.chunks[0].heading_path[0] if row.chunks[0].heading_path else path
    body = row.chunks[0].text.split("\n", 1)[-1]
    technical = []
    for term in spec["terms"][:2]:
        sentence = next((s for s in re.split(r"(?<=[.!?])\s+|\n", row.text) if term.lower() in s.lower()), term)
        technical.append(ArtifactItem(text=term, description=shorten(sentence, 160), importance=f"A named part of {heading}."))
    sections = list(dict.fromkeys(chunk.heading_path[1] for chunk in row.chunks if len(chunk.heading_path) > 1))
    themes = [
        ArtifactItem(text=section, description=first_sentence(next(c.text for c in row.chunks if section in c.heading_path[1:2]).split("\n", 1)[-1]), importance=f"A topic of {heading}.")
        for section in sections[:2]
    ]
    first = spec["pairs"][0]
    artifacts = DocumentArtifacts(
        key_concepts=[ArtifactItem(text=heading, description=first_sentence(body), importance="The subject of the page.")],
        themes=themes,
        insights=[ArtifactItem(text=shorten(first[1], 80), description=shorten(first[1], 160), importance="A fact a reader looks for.")],
        technical_terms=technical,
    )
    return GoldExample(
        example_id="docs-" + re.sub(r"[^a-z0-9]+", "-", path.lower().removesuffix(".md")).strip("-"),
        source="docs_dspy",
        split="train",
        source_ref=path,
        documents=[GoldDocument(doc_id=path, origin=f"docs_dspy/{path}", supporting=True)],
        row=row,
        pairs=pairs,
        supporting_segment_ids=sorted({segment for pair in pairs for segment in pair.segment_ids}),
        artifacts=artifacts,
        artifact_terms=spec["terms"],
    )


# ---------------------------------------------------------------------------
# Splits and judge cases
# ---------------------------------------------------------------------------


def assign_splits(examples: list[GoldExample]) -> list[GoldExample]:
    """70/30 train/dev per source, by a hash of the example ID (fixed, independent of list order)."""
    result = []
    for source in ("hotpotqa", "musique", "docs_dspy"):
        members = sorted((e for e in examples if e.source == source), key=lambda e: stable_hash(SPLIT_SEED, e.example_id))
        dev_count = round(DEV_SHARE * len(members))
        for index, example in enumerate(members):
            result.append(example.model_copy(update={"split": "dev" if index < dev_count else "train"}))
    return sorted(result, key=lambda e: (e.split, e.source, e.example_id))


DEFECT_CYCLE = ("wrong_segment_ids", "unsupported_answer", "source_relative", "one_hop_as_multi_hop")
LOW_CRITERIA = {
    "wrong_segment_ids": ["context_support"],
    "unsupported_answer": ["accuracy"],
    "source_relative": ["relevance"],
    "one_hop_as_multi_hop": ["context_support"],
}


def relabel(pair: QAPair, hops: list[tuple[list[int], str]], **update) -> QAPair:
    rebuilt = make_pair(pair.question, pair.answer, hops, query_type=pair.query_type.value, reasoning_type=pair.reasoning_type.value, complexity=pair.question_complexity)
    return rebuilt.model_copy(update=update)


def defective_pair(defect: str, example: GoldExample, others: list[GoldExample]) -> QAPair | None:
    row, pair = example.row, example.pairs[0]
    supporting = set(example.supporting_segment_ids)
    free = [chunk.chunk_id for chunk in row.chunks if chunk.chunk_id not in supporting]
    if defect == "wrong_segment_ids":
        if len(free) < pair.hop_count:
            return None
        order = sorted(free, key=lambda segment: stable_hash(example.example_id, "wrong", segment))
        return relabel(pair, [([order[index]], hop.summary) for index, hop in enumerate(pair.hop_contexts)])
    if defect == "unsupported_answer":
        cited = [chunk.text for chunk in row.chunks if chunk.chunk_id in pair.segment_ids]
        for other in sorted(others, key=lambda e: stable_hash(example.example_id, "answer", e.example_id)):
            answer = other.pairs[0].answer
            if other.example_id != example.example_id and content_words(answer) and answer_support(answer, cited) < 0.5:
                return pair.model_copy(update={"answer": answer})
        return None
    if defect == "source_relative":
        question = pair.question
        return pair.model_copy(update={"question": "According to the passage, " + question[0].lower() + question[1:]})
    if defect == "one_hop_as_multi_hop":
        single = next((p for p in example.pairs if p.hop_count == 1 and len(p.segment_ids) == 1), None)
        if single is None:
            return None
        neighbours = sorted(free or [c.chunk_id for c in row.chunks if c.chunk_id not in single.segment_ids], key=lambda s: (abs(s - single.segment_ids[0]), s))
        if not neighbours:
            return None
        extra = neighbours[0]
        extra_text = next(chunk.text for chunk in row.chunks if chunk.chunk_id == extra)
        return make_pair(
            single.question, single.answer,
            [(single.segment_ids, single.hop_contexts[0].summary), ([extra], first_sentence(extra_text.split("\n", 1)[-1]))],
            query_type="multi_hop", reasoning_type=single.reasoning_type.value, complexity=3,
        )
    raise ValueError(defect)


def judge_cases(examples: list[GoldExample]) -> list[JudgeCase]:
    """One case per example: its first pair (sound) and one defective pair, in a hashed order."""
    cases = []
    by_source: dict[str, list[GoldExample]] = {}
    for example in examples:
        by_source.setdefault(example.source, []).append(example)
    counter = 0
    for example in sorted(examples, key=lambda e: e.example_id):
        defects = [DEFECT_CYCLE[(counter + shift) % len(DEFECT_CYCLE)] for shift in range(len(DEFECT_CYCLE))]
        bad = defect = None
        for defect in defects:
            bad = defective_pair(defect, example, by_source[example.source])
            if bad is not None:
                break
        if bad is None:
            continue
        counter += 1
        segments = RowSegments.from_chunks(example.row.chunks)
        sound = JudgedPair(
            pair=example.pairs[0], defect="none", expected_overall="high",
            expected_validation_reasons=validate_pair(example.pairs[0], segments, VALIDATION).reasons,
        )
        broken = JudgedPair(
            pair=bad, defect=defect, expected_overall="low", expected_low_criteria=LOW_CRITERIA[defect],
            expected_validation_reasons=validate_pair(bad, segments, VALIDATION).reasons,
        )
        pairs = [sound, broken] if stable_hash(example.example_id, "judge-order") % 2 == 0 else [broken, sound]
        cases.append(JudgeCase(case_id=f"judge-{example.example_id}", source=example.source, split=example.split, example_id=example.example_id, row=example.row, pairs=pairs))
    return sorted(cases, key=lambda case: (case.split, case.source, case.case_id))


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def collect(records: list[dict], build, count: int) -> list[GoldExample]:
    examples = []
    for record in records:
        if len(examples) == count:
            break
        example = build(record)
        if example is not None:
            examples.append(example)
    if len(examples) < count:
        raise ValueError(f"only {len(examples)} usable records, wanted {count}")
    return examples


def build(corpora: Path) -> tuple[list[GoldExample], list[JudgeCase]]:
    hotpot = json.loads((corpora / "hotpotqa_train100" / "hotpotqa_train100.json").read_text(encoding="utf-8"))
    musique = json.loads((corpora / "musique_train100" / "musique_train100.json").read_text(encoding="utf-8"))
    examples = collect(hotpot, hotpot_example, HOTPOT_COUNT)
    examples += collect(musique, musique_example, MUSIQUE_COUNT)
    examples += [docs_example(spec, corpora / "docs_dspy") for spec in DOC_SPECS]
    examples = assign_splits(examples)
    return examples, judge_cases(examples)


def write_jsonl(path: Path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as stream:
        for record in records:
            stream.write(json.dumps(record.model_dump(mode="json"), ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    examples, cases = build(args.corpora)
    write_jsonl(args.out / GOLD_FILES["train"], [e for e in examples if e.split == "train"])
    write_jsonl(args.out / GOLD_FILES["dev"], [e for e in examples if e.split == "dev"])
    write_jsonl(args.out / GOLD_FILES["judge"], cases)
    for split in ("train", "dev"):
        members = [e for e in examples if e.split == split]
        by_source = {source: sum(1 for e in members if e.source == source) for source in ("hotpotqa", "musique", "docs_dspy")}
        print(f"{split}: {len(members)} examples {by_source}, {sum(len(e.pairs) for e in members)} pairs")
    defects: dict[str, int] = {}
    for case in cases:
        for judged in case.pairs:
            defects[judged.defect] = defects.get(judged.defect, 0) + 1
    print(f"judge: {len(cases)} cases, pairs by defect {dict(sorted(defects.items()))}")


if __name__ == "__main__":
    main()
