"""Build ``data/quality/pairs.jsonl``, the labelled set that ``bench/bench_quality.py`` measures.

    python bench/build_quality_set.py [--corpora ../shared/corpora] [--out data/quality/pairs.jsonl]

Why a separate set: the gold pairs (``data/gold``) were the only yardstick for the deterministic
checks, so a threshold could only ever be "below every gold pair"; nothing said how much junk a
check lets through. Here every pair carries a label (good or bad), a kind and a one-line reason a
person wrote after reading it, and a split: ``tune`` (thresholds may be chosen on it) or
``holdout`` (never looked at while choosing; reported separately).

Good pairs: every gold pair, and the real human questions of the HotpotQA and MuSiQue samples
that the gold set does not use (yes/no comparisons and 4-hop chains included, which the gold set
skipped), each tied to the chunks that hold its supporting facts. Bad pairs: what the embedded
model wrote (read one by one, ``data/quality/model_pairs.jsonl``), real questions tied to a
passage that does not answer them, questions translated into another language than their
document's, generic, garbled, copied and one-passage "multi-hop" pairs (made from real segments
by the rules below, each rule a defect the embedded model shows), and yes/no answers their
segments cannot support.

Deterministic: no clock, no randomness; every choice is a hash of the record ID.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

from optimize.build_gold import (
    Paragraph,
    build_row,
    chunks_overlapping,
    hop_segments,
    make_pair,
    musique_hop_summary,
    pick_distractors,
    slug,
    stable_hash,
    substitute,
)
from optimize.gold import load_gold_records
from sdg_program.core.records import SeedRow
from sdg_program.program.quality_checks import asks_yes_no
from signatures import QAPair

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPORA = REPO.parent / "shared" / "corpora"
DEFAULT_OUT = REPO / "data" / "quality" / "pairs.jsonl"
MODEL_PAIRS = REPO / "data" / "quality" / "model_pairs.jsonl"
HOLDOUT_SHARE = 0.3
MAX_ROW_CHARS = 3200


def split_of(item_id: str) -> str:
    """``holdout`` for about 30% of the items, fixed by the item ID."""
    return "holdout" if stable_hash("quality-split", item_id) % 100 < HOLDOUT_SHARE * 100 else "tune"


def item(item_id: str, label: str, kind: str, why: str, source: str, segments: dict[int, str], pair: QAPair | dict, **extra: object) -> dict:
    """One labelled pair with the segment texts it is checked against."""
    data = pair.model_dump(mode="json") if isinstance(pair, QAPair) else pair
    record = {"id": item_id, "label": label, "kind": kind, "why": why, "source": source, "split": split_of(item_id)}
    record.update(extra)
    record["segments"] = {str(key): text for key, text in segments.items()}
    record["pair"] = data
    return record


def texts_of(row: SeedRow) -> dict[int, str]:
    return {chunk.chunk_id: chunk.text for chunk in row.chunks}


# ---------------------------------------------------------------------------------------------
# Good: gold pairs and real human questions
# ---------------------------------------------------------------------------------------------


def gold_items() -> Iterator[dict]:
    for name in ("train.jsonl", "dev.jsonl"):
        for example in load_gold_records(REPO / "data" / "gold" / name):
            for index, pair in enumerate(example.pairs):
                why = "gold pair: checked against its cited chunks when the gold set was built"
                yield item(f"gold-{example.example_id}-{index}", "good", "gold", why, example.source, texts_of(example.row), pair)


def gold_refs() -> set[str]:
    return {example.source_ref for name in ("train.jsonl", "dev.jsonl") for example in load_gold_records(REPO / "data" / "gold" / name)}


def hotpot_row(record: dict) -> tuple[SeedRow, dict[str, Paragraph], dict[str, list[int]], list[Paragraph]] | None:
    """The supporting paragraphs of a HotpotQA record and one distractor as a chunked row."""
    paragraphs = {title: Paragraph(title, sentences) for title, sentences in record["context"]}
    facts: dict[str, list[int]] = {}
    for title, index in record["supporting_facts"]:
        facts.setdefault(title, []).append(index)
    if len(facts) != 2 or any(title not in paragraphs or max(indices) >= len(paragraphs[title].sentences) for title, indices in facts.items()):
        return None
    used = sum(len(paragraphs[title].document_text()) for title in facts)
    others = [paragraph for title, paragraph in paragraphs.items() if title not in facts]
    distractors = pick_distractors(others, record["_id"], MAX_ROW_CHARS - used, 1, lambda paragraph: len(paragraph.document_text()))
    if not distractors:
        return None
    members = [(slug(title), paragraphs[title].document_text(), title, True) for title in facts]
    members += [(slug(paragraph.title), paragraph.document_text(), paragraph.title, False) for paragraph in distractors]
    if len({member[0] for member in members}) != len(members):
        return None
    row, _ = build_row(members, record["_id"])
    return row, paragraphs, facts, distractors


def hotpot_pair(record: dict, row: SeedRow, paragraphs: dict[str, Paragraph], facts: dict[str, list[int]]) -> QAPair:
    """The human question over the chunks of its supporting sentences, one hop per paragraph (answer's last)."""
    titles = list(facts)
    holding = [title for title in titles if record["answer"].lower() in paragraphs[title].body.lower()]
    if record["type"] == "bridge" and len(holding) == 1:
        titles = [title for title in titles if title != holding[0]] + holding
    hops = []
    for title in titles:
        paragraph = paragraphs[title]
        ids = [segment for index in sorted(facts[title]) for segment in chunks_overlapping(row, slug(title), *paragraph.sentence_span(index))]
        hops.append((ids, " ".join(paragraph.sentences[index].strip() for index in sorted(facts[title]))))
    reasoning = "relational" if record["type"] == "comparison" else "factual"
    return make_pair(record["question"], record["answer"], hops, query_type="multi_hop", reasoning_type=reasoning, complexity=3)


def musique_row(record: dict) -> tuple[SeedRow, list[dict], dict] | None:
    """The supporting paragraphs of a MuSiQue record (hop order) and one distractor as a chunked row."""
    paragraphs = {paragraph["idx"]: paragraph for paragraph in record["paragraphs"]}
    support = [step["paragraph_support_idx"] for step in record["question_decomposition"]]
    if len(set(support)) != len(support) or None in support:
        return None
    text_of = lambda paragraph: f"# {paragraph['title']}\n\n{paragraph['paragraph_text'].strip()}\n"  # noqa: E731
    titles = {slug(paragraphs[index]["title"]) for index in support}
    if len(titles) != len(support):
        return None
    used = sum(len(text_of(paragraphs[index])) for index in support)
    others = [p for p in record["paragraphs"] if p["idx"] not in support and slug(p["title"]) not in titles]
    distractors = pick_distractors(others, record["id"], MAX_ROW_CHARS - used, 1, lambda paragraph: len(text_of(paragraph)))
    if not distractors:
        return None
    members = [(slug(paragraphs[index]["title"]), text_of(paragraphs[index]), paragraphs[index]["title"], True) for index in support]
    members += [(slug(p["title"]), text_of(p), p["title"], False) for p in distractors]
    row, _ = build_row(members, record["id"])
    return row, [paragraphs[index] for index in support], distractors[0]


def musique_pair(record: dict, row: SeedRow, supporting: list[dict]) -> QAPair:
    answers: list[str] = []
    hops = []
    for step, paragraph in zip(record["question_decomposition"], supporting):
        hops.append((hop_segments(row, slug(paragraph["title"]), step["answer"]), musique_hop_summary(step, answers)))
        answers.append(step["answer"])
    steps = len(record["question_decomposition"])
    return make_pair(record["question"], record["answer"], hops, query_type="multi_hop", reasoning_type="factual", complexity=min(5, steps + 1))


# ---------------------------------------------------------------------------------------------
# Bad, made from real segments: each rule is one defect the embedded model shows
# ---------------------------------------------------------------------------------------------


def single(question: str, answer: str, ids: list[int], query_type: str = "contextual", complexity: int = 2) -> QAPair:
    return make_pair(question, answer, [(ids, answer)], query_type=query_type, reasoning_type="factual", complexity=complexity)


def wrong_passage(record_id: str, question: str, answer: str, row: SeedRow, distractor_doc: str) -> QAPair | None:
    """The human question tied to the distractor paragraph (which must not contain the answer)."""
    chunks = [chunk for chunk in row.chunks if chunk.doc_id == distractor_doc]
    if not chunks or any(answer.lower() in chunk.text.lower() for chunk in chunks):
        return None
    chosen = chunks[stable_hash(record_id, "wrong") % len(chunks)]
    return single(question, answer, [chosen.chunk_id])


# Questions of good pairs, translated by hand (de, fr, es, it, nl, pt). The pair keeps its English
# segments and answer: a question in another language than its document's.
TRANSLATIONS: dict[str, str] = json.loads((REPO / "data" / "quality" / "translations.json").read_text(encoding="utf-8"))

# What the embedded model writes when it has nothing specific to ask (seen in its output on
# data/sample_docs: "What is the next section about?", "What about next?"), each tied to a real segment.
GENERIC_QUESTIONS: tuple[str, ...] = (
    "What is the next section about?",
    "What about next?",
    "What is the main idea?",
    "What is discussed next?",
    "What does the passage describe?",
    "What is the purpose of the following?",
    "What is this about?",
    "What is described in the following paragraph?",
    "What are the main points?",
    "What does it mean?",
    "What is the topic of the next part?",
    "Can you explain the main idea?",
    "What is the summary of the content?",
    "What information is mentioned here?",
    "What important thing is said?",
)

# Debris the embedded model leaves in a question or answer when it loses its way inside markup.
DEBRIS: tuple[tuple[str, str], ...] = (
    ("question", "{0} {{&ququre}} {{&qure}} {{ &ququre}}"),
    ("question", "{0} <br>"),
    ("question", "{0}</s>"),
    ("question", "{0} <|im_end|>"),
    ("question", "{0} [[Category"),
    ("question", "({0}"),
    ("question", "{0} ###"),
    ("question", "{0} &amp; more"),
    ("answer", "{0} }}}} ]]"),
    ("answer", "{0} (see"),
    ("question", "{0} ***"),
    ("answer", "<div>{0}</div>"),
    ("question", "{0} ?!?!"),
    ("answer", "{0} \ufffd\ufffd"),
    ("question", "{0} -->"),
    ("question", "{0} [1"),
    ("answer", "{0} %%%"),
    ("question", "{0}, ?"),
    ("question", "{0} with the ?"),
    ("answer", "{0} &#8220;"),
)


def copied_question(text: str) -> str | None:
    """The segment's longest sentence as a question: the copy the embedded model writes."""
    sentences = [part.strip() for part in text.replace("\n", " ").split(". ") if len(part.split()) >= 6]
    if not sentences:
        return None
    return max(sentences, key=len).rstrip(".") + "?"


# ---------------------------------------------------------------------------------------------


def unused_records(path: Path, key: str, used: set[str]) -> Iterator[dict]:
    """The records of a corpus sample that the gold set does not use."""
    for record in json.loads(path.read_text(encoding="utf-8")):
        if record[key] not in used:
            yield record


def human_items(corpora: Path, used: set[str]) -> Iterator[dict]:
    """Good human pairs and, from the same rows, the bad variants made by the rules above."""
    for record in unused_records(corpora / "hotpotqa_train100" / "hotpotqa_train100.json", "_id", used):
        built = hotpot_row(record)
        if built is not None:
            row, paragraphs, facts, distractors = built
            pair = hotpot_pair(record, row, paragraphs, facts)
            kind = "human_yes_no" if record["answer"].lower() in ("yes", "no") else f"human_{record['type']}"
            why = f"HotpotQA {record['type']} question, cites the chunks of its supporting facts"
            yield item(f"hotpot-{record['_id']}", "good", kind, why, "hotpotqa", texts_of(row), pair)
            yield from variants(f"hotpot-{record['_id']}", record["question"], record["answer"], row, texts_of(row), pair, slug(distractors[0].title))
    for record in unused_records(corpora / "musique_train100" / "musique_train100.json", "id", used):
        built = musique_row(record)
        if built is not None:
            row, supporting, distractor = built
            pair = musique_pair(record, row, supporting)
            steps = len(record["question_decomposition"])
            why = f"MuSiQue {steps}-hop question, one hop per supporting paragraph (the chunk that states the hop's answer)"
            yield item(f"musique-{record['id']}", "good", f"human_{steps}hop", why, "musique", texts_of(row), pair)
            yield from variants(f"musique-{record['id']}", record["question"], record["answer"], row, texts_of(row), pair, slug(distractor["title"]))
            yield from one_passage_multi_hop(record, texts_of(row), pair)


def variants(base: str, question: str, answer: str, row: SeedRow, texts: dict[int, str], pair: QAPair, distractor_doc: str) -> Iterator[dict]:
    """The bad variants of one good human pair; which rule applies is a hash of its ID (one or none)."""
    rule = stable_hash(base, "rule") % 6
    source = {"hotpot": "hotpotqa"}.get(base.split("-", 1)[0], base.split("-", 1)[0])
    if rule in (0, 1):
        wrong = wrong_passage(base, question, answer, row, distractor_doc)
        if wrong is not None:
            yield item(f"{base}-wrong", "bad", "wrong_passage", "real question tied to a distractor paragraph that does not answer it", source, texts, wrong)
    elif rule == 2 and base in TRANSLATIONS:
        translated = pair.model_copy(update={"question": TRANSLATIONS[base]})
        yield item(f"{base}-lang", "bad", "wrong_language", "question translated out of its English document's language", source, texts, translated)
    elif rule == 3:
        last = pair.hop_contexts[-1].segment_ids
        generic = GENERIC_QUESTIONS[stable_hash(base, "generic") % len(GENERIC_QUESTIONS)]
        short = texts[last[0]].split(". ")[0][:200]
        yield item(f"{base}-generic", "bad", "generic", "a question about no particular thing, answered by a copied sentence", source, texts, single(generic, short, last[:1]))
    elif rule == 4:
        field, template = DEBRIS[stable_hash(base, "debris") % len(DEBRIS)]
        value = getattr(pair, field)
        garbled = pair.model_copy(update={field: template.format(value.rstrip("?").rstrip() if field == "question" else value)})
        yield item(f"{base}-garbled", "bad", "garbled", f"markup debris or a broken bracket in the {field}", source, texts, garbled)
    elif rule == 5:
        segment = pair.hop_contexts[-1].segment_ids[0]
        copied = copied_question(texts[segment])
        if copied is not None:
            yield item(f"{base}-copied", "bad", "copied", "the question is a sentence of the segment with a question mark", source, texts, single(copied, answer, [segment]))
    if base in TRANSLATIONS and rule != 2:
        translated = pair.model_copy(update={"question": TRANSLATIONS[base]})
        yield item(f"{base}-lang", "bad", "wrong_language", "question translated out of its English document's language", source, texts, translated)
    if stable_hash(base, "yesno") % 8 == 0 and not asks_yes_no(question):
        yes_no = pair.model_copy(update={"answer": "Yes"})
        yield item(f"{base}-yes", "bad", "yes_no_unsupported", "a 'yes' answer to a question that asks for a name, a place or a date", source, texts, yes_no)


def one_passage_multi_hop(record: dict, texts: dict[int, str], pair: QAPair) -> Iterator[dict]:
    """A sub-question that one paragraph answers, labelled multi_hop with a second hop on another paragraph."""
    if stable_hash(record["id"], "onepassage") % 3:
        return
    steps = record["question_decomposition"]
    answers: list[str] = []
    for index, step in enumerate(steps):
        question = substitute(step["question"], answers)
        answers.append(step["answer"])
        if ">>" in question or "#" in question or index == 0:
            continue
        own = pair.hop_contexts[index]
        other = pair.hop_contexts[index - 1]
        hops = [(own.segment_ids, own.summary), (other.segment_ids, other.summary)]
        fake = make_pair(question.rstrip("?").strip() + "?", step["answer"], hops, query_type="multi_hop", reasoning_type="factual", complexity=3)
        why = "one paragraph answers this sub-question alone; the second hop is a neighbour paragraph it does not need"
        yield item(f"musique-{record['id']}-onepassage", "bad", "one_passage_multi_hop", why, "musique", texts, fake)
        return


def model_items() -> Iterator[dict]:
    """Pairs the embedded SmolLM2-135M wrote, each read and labelled (``model_pairs.jsonl``)."""
    for line in MODEL_PAIRS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            record["split"] = split_of(record["id"])
            yield record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    used = gold_refs()
    items = [*gold_items(), *human_items(args.corpora, used), *model_items()]
    ids = [record["id"] for record in items]
    if len(ids) != len(set(ids)):
        raise SystemExit("duplicate item IDs")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in items), encoding="utf-8")
    counts: dict[tuple[str, str], int] = {}
    for record in items:
        counts[(record["label"], record["kind"])] = counts.get((record["label"], record["kind"]), 0) + 1
    for (label, kind), count in sorted(counts.items()):
        print(f"{label:5} {kind:24} {count}")
    print(f"{len(items)} items -> {args.out}")


if __name__ == "__main__":
    main()
