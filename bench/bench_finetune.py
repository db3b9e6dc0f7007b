"""Fine-tuning: training throughput on CPU, and what training on human questions does to held-out ones.

    python bench/bench_finetune.py                          # both parts, ~5-10 minutes on 2 cores
    python bench/bench_finetune.py --skip-quality --steps 5 # throughput only, more steps
    python bench/bench_finetune.py --epochs 3 --learning-rate 5e-5   # the quality part with other settings
    python bench/bench_finetune.py --skip-throughput --generated --generated-docs 120   # + embedded-model pairs (~20 min more)

1. Throughput: examples per second of `sdg-program finetune`'s training step for each loss
   (mnrl, cached-mnrl) and batch size, over a few steps of real question/passage pairs
   (HotpotQA and MuSiQue questions, a supporting paragraph, a distractor as hard negative).
   The first step includes warm-up, so short runs understate the steady rate a little.
2. Quality: human questions from /work/shared/corpora (HotpotQA, MuSiQue) become generate
   records (one record per question: its supporting paragraphs plus a few distractors, one
   paragraph per document and chunk, the question citing the supporting chunks), `convert`
   splits them (about half train, half test), `finetune` trains on the train half and scores
   the embedded MiniLM and the tuned model on the test half's BEIR set.

3. Generated (``--generated``): the paragraphs of the questions that part 2 put in its training
   split become documents; the embedded SmolLM2-135M writes pairs about them (``generate`` with
   its defaults), ``convert`` exports them, and ``finetune`` trains on those generated pairs and is
   scored on part 2's held-out *human* test questions (``--eval-beir``). An honest figure for what
   the embedded model's data does, with no target.

Human questions, not generated ones, so the figure says whether the loop helps on questions
nobody wrote for it; they are multi-hop, so a single-passage retriever cannot solve them fully.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
CORPORA = REPO.parent / "shared" / "corpora"

from sdg_program.evaluation.finetune_config import DataCounts, FinetuneConfig, LossName  # noqa: E402
from sdg_program.ingest.chunking import ChunkedDocument, chunk_text, make_seed_row  # noqa: E402
from sdg_program.ingest.config import ChunkingConfig  # noqa: E402

PARAGRAPH_CHUNKING = ChunkingConfig(input_dir=Path("."), sentences_per_chunk=50, max_chunk_chars=6000)


# --- the human questions ---------------------------------------------------------------


def human_questions(per_source: int, distractors: int, seed: int) -> list[dict[str, Any]]:
    """[{id, question, answer, supporting: [(title, text)], distractors: [(title, text)]}], per_source from each corpus."""
    rng = random.Random(seed)
    items = _hotpot() + _musique()
    by_source: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_source.setdefault(item["source"], []).append(item)
    chosen = []
    for source in sorted(by_source):
        pool = by_source[source]
        rng.shuffle(pool)
        for item in pool[:per_source]:
            item["distractors"] = item["distractors"][:distractors]
            chosen.append(item)
    return chosen


def _hotpot() -> list[dict[str, Any]]:
    items = []
    for record in json.loads((CORPORA / "hotpotqa_train100" / "hotpotqa_train100.json").read_text()):
        supporting_titles = {title for title, _ in record["supporting_facts"]}
        paragraphs = [(title, "".join(sentences).strip()) for title, sentences in record["context"]]
        items.append({
            "source": "hotpotqa", "id": record["_id"], "question": record["question"], "answer": record["answer"],
            "supporting": [paragraph for paragraph in paragraphs if paragraph[0] in supporting_titles],
            "distractors": [paragraph for paragraph in paragraphs if paragraph[0] not in supporting_titles],
        })
    return items


def _musique() -> list[dict[str, Any]]:
    items = []
    for record in json.loads((CORPORA / "musique_train100" / "musique_train100.json").read_text()):
        paragraphs = [(paragraph["title"], paragraph["paragraph_text"].strip(), paragraph["is_supporting"]) for paragraph in record["paragraphs"]]
        items.append({
            "source": "musique", "id": record["id"], "question": record["question"], "answer": record["answer"],
            "supporting": [(title, text) for title, text, supporting in paragraphs if supporting],
            "distractors": [(title, text) for title, text, supporting in paragraphs if not supporting],
        })
    return items


# --- throughput --------------------------------------------------------------------------


def throughput(items: list[dict[str, Any]], batch_sizes: list[int], steps: int, seed: int) -> list[tuple[str, int, float, float]]:
    """(loss, batch size, examples/s, seconds) for each combination, `steps` steps each."""
    from sdg_program.evaluation.finetune_data import TrainingData, ValidationSet
    from sdg_program.evaluation.training import load_base_model, train

    rows = {"anchor": [], "positive": [], "negative_1": []}
    for item in items:
        if item["supporting"] and item["distractors"]:
            rows["anchor"].append(item["question"])
            rows["positive"].append(_passage(*item["supporting"][0]))
            rows["negative_1"].append(_passage(*item["distractors"][0]))
    figures = []
    for loss in LossName:
        for batch_size in batch_sizes:
            count = min(len(rows["anchor"]), batch_size * steps)
            subset = {column: values[:count] for column, values in rows.items()}
            counts = DataCounts(train_questions=count, train_rows=count, val_questions=0, corpus_passages=0, negatives_per_row=1)
            data = TrainingData(rows=subset, corpus={}, validation=ValidationSet(), counts=counts)
            config = FinetuneConfig(export_dir=Path("."), batch_size=batch_size, loss=loss, seed=seed, warmup_ratio=0.0)
            model, _ = load_base_model(None, "cpu", "bench")
            with tempfile.TemporaryDirectory() as work:
                started = time.perf_counter()
                _, output, _ = train(model, data, config, "cpu", Path(work))
                seconds = time.perf_counter() - started
            figures.append((loss.value, batch_size, count / seconds, seconds))
            print(f"  {loss.value:12s} batch {batch_size:3d}: {count / seconds:6.2f} examples/s ({output.global_step} steps, {seconds:.1f} s)", flush=True)
    return figures


def _passage(title: str, text: str) -> str:
    return f"{title}. {text}"


# --- quality -----------------------------------------------------------------------------


def write_records(items: list[dict[str, Any]], path: Path) -> int:
    """One GeneratedRecord per question: its paragraphs as a bundle of one-chunk documents, the question citing the supporting ones."""
    from sdg_program.core.records import GeneratedRecord

    with path.open("w", encoding="utf-8") as stream:
        for item in items:
            paragraphs = [(title, text, True) for title, text in item["supporting"]] + [(title, text, False) for title, text in item["distractors"]]
            documents = [_document(title, text) for title, text, _ in paragraphs]
            row = make_seed_row(documents, PARAGRAPH_CHUNKING)
            supporting_docs = {document.doc_id for document, (_, _, supporting) in zip(documents, paragraphs) if supporting}
            cited = [chunk.chunk_id for chunk in row.chunks if chunk.doc_id in supporting_docs]
            record = GeneratedRecord(**row.model_dump(), **_generation(item, cited), row_key=item["id"])
            stream.write(record.model_dump_json() + "\n")
    return len(items)


def _document(title: str, text: str) -> ChunkedDocument:
    doc_id = f"{title.replace('/', '_')}-{hashlib.sha256(text.encode()).hexdigest()[:8]}.md"
    body = f"{title}. {text}"
    return ChunkedDocument(doc_id=doc_id, text=body, chunks=chunk_text(body, doc_id, markup="plain", sentences_per_chunk=50, max_chunk_chars=6000))


def _generation(item: dict[str, Any], cited: list[int]) -> dict[str, Any]:
    """The program's part of a record, as if it had produced this (human) question, judged 9/10 and valid."""
    pair = {
        "query_type": "multi_hop", "reasoning_type": "factual", "question": item["question"], "answer": item["answer"], "question_complexity": 3,
        "segment_ids": cited, "hop_count": len(cited), "hop_contexts": [{"hop_number": n, "segment_ids": [chunk], "summary": ""} for n, chunk in enumerate(cited, 1)],
    }
    part = {"justification": "human question", "score": 9}
    evaluation = {"pair_index": 0, "relevance": part, "accuracy": part, "context_support": part, "clarity": part,
                  "overall": {"assessment": "human question", "score": 9.0}, "improvements": ""}
    return {
        "document_artifacts": {}, "qa_generation": {"pairs": [pair]}, "deduplicated_qa_pairs": [pair],
        "qa_evaluations": {"evaluations": [evaluation]}, "qa_validations": [{"valid": True, "reasons": [], "answer_support": 1.0}],
        "generation_validations": [], "dedup": {"kept": [0], "duplicate_of": {}}, "windows": 1, "lm_usage": {}, "errors": [],
    }


def quality(items: list[dict[str, Any]], work: Path, args: argparse.Namespace) -> Any:
    from rich.console import Console

    from sdg_program.evaluation import comparison_table, finetune
    from sdg_program.export import ConvertConfig, convert

    records = work / "human" / "records.jsonl"
    records.parent.mkdir(parents=True)
    write_records(items, records)
    started = time.perf_counter()
    converted = convert(ConvertConfig(input_path=records.parent, output_dir=work / "human_train_eval", train_ratio=0.45, val_ratio=0.05, seed=args.seed))
    splits = {name: split.queries for name, split in converted.report.splits.items()}
    print(f"  convert: {converted.report.pairs_kept} questions kept, splits {splits}, {converted.report.corpus_documents} passages ({time.perf_counter() - started:.0f} s)", flush=True)
    config = FinetuneConfig(export_dir=converted.output_dir, epochs=args.epochs, learning_rate=args.learning_rate, batch_size=args.batch_size, seed=args.seed)
    result = finetune(config, console=Console(stderr=True))
    Console().print(comparison_table(result))
    return result


def generated(items: list[dict[str, Any]], human_export: Path, work: Path, args: argparse.Namespace) -> Any:
    """Pairs the embedded model writes about the training half's paragraphs -> convert -> finetune, scored on the human test questions."""
    from rich.console import Console

    from sdg_program.evaluation import comparison_table, finetune
    from sdg_program.export import ConvertConfig, convert
    from sdg_program.ingest.config import ChunkingConfig
    from sdg_program.runner import GenerateConfig, generate

    held_out = {json.loads(line)["text"] for line in (human_export / "eval_beir" / "queries.jsonl").read_text(encoding="utf-8").splitlines() if line}
    docs = work / "generated_docs"
    docs.mkdir()
    written = 0
    for item in items:
        if item["question"] in held_out:
            continue
        for title, text in item["supporting"] + item["distractors"]:
            if written >= args.generated_docs:
                break
            name = f"{title.replace('/', '_')[:60]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}.md"
            if not (docs / name).exists():
                (docs / name).write_text(f"# {title}\n\n{text}\n", encoding="utf-8")
                written += 1
    print(f"  {written} paragraphs of the {len(items) - len(held_out)} training-side questions become documents", flush=True)
    started = time.perf_counter()
    run = generate(GenerateConfig(chunking=ChunkingConfig(input_dir=docs), output_dir=work / "generated"), overwrite=True, console=Console(stderr=True))
    counts = run.stats.as_dict()
    print(f"  generate (embedded model): {counts['pairs_valid']} valid of {counts['pairs_generated']} pairs in {time.perf_counter() - started:.0f} s", flush=True)
    converted = convert(ConvertConfig(input_path=work / "generated", output_dir=work / "generated_train_eval", train_ratio=0.8, val_ratio=0.1, quality_threshold=0, seed=args.seed))
    splits = {name: split.queries for name, split in converted.report.splits.items()}
    print(f"  convert: {converted.report.pairs_kept} pairs kept, splits {splits}", flush=True)
    config = FinetuneConfig(export_dir=converted.output_dir, epochs=args.epochs, learning_rate=args.learning_rate, batch_size=args.batch_size,
                            seed=args.seed, eval_beir=[human_export / "eval_beir"])
    result = finetune(config, console=Console(stderr=True))
    Console().print(comparison_table(result))
    return result


# --- main --------------------------------------------------------------------------------


def main() -> None:
    defaults = FinetuneConfig(export_dir=Path("."))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-source", type=int, default=50, help="Questions taken from each of HotpotQA and MuSiQue")
    parser.add_argument("--distractors", type=int, default=4, help="Distractor paragraphs kept per question")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--steps", type=int, default=2, help="Training steps per throughput figure")
    parser.add_argument("--epochs", type=float, default=defaults.epochs)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="Batch size of the quality run")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--generated", action="store_true", help="Also train on pairs the embedded model writes (part 3)")
    parser.add_argument("--generated-docs", type=int, default=120, help="Paragraphs given to the embedded model in part 3")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)

    import torch

    print(f"torch threads: {torch.get_num_threads()}, CPUs: {os.cpu_count()}")
    items = human_questions(args.per_source, args.distractors, args.seed)
    started = time.perf_counter()
    if not args.skip_throughput:
        print(f"Throughput ({args.steps} steps each, question + supporting paragraph + 1 distractor per example):", flush=True)
        throughput(items, args.batch_sizes, args.steps, args.seed)
    if not args.skip_quality:
        print(f"Quality: {len(items)} human questions (HotpotQA + MuSiQue), {args.distractors} distractors each", flush=True)
        with tempfile.TemporaryDirectory() as work:
            result = quality(items, Path(work), args)
            _summary("human training questions", result, result.comparisons[0])
            if args.generated:
                print("Generated: the embedded model's pairs about the training-side paragraphs, scored on the same human test questions", flush=True)
                tuned = generated(items, Path(work) / "human_train_eval", Path(work), args)
                _summary("embedded-model pairs", tuned, tuned.comparisons[-1])
    print(f"total {time.perf_counter() - started:.0f} s")


def _summary(label: str, result: Any, comparison: Any) -> None:
    print(f"[{label}] nDCG@10 on the held-out human questions: base {comparison.base.ndcg_at_10:.4f}, tuned {comparison.tuned.ndcg_at_10:.4f} "
          f"({comparison.delta('ndcg_at_10'):+.4f}); BM25 {comparison.bm25.ndcg_at_10 if comparison.bm25 else float('nan'):.4f}")
    print(f"  {result.data.train_rows} training rows, {result.steps} steps, {result.seconds.get('train', 0):.0f} s training, "
          f"validation {result.validation.before if result.validation else None} -> {result.validation.best if result.validation else None}")


if __name__ == "__main__":
    main()
