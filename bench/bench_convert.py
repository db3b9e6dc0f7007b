"""convert wall time and peak memory on synthetic generate output (20,000 records, ~140,000 pairs by default).

    python bench/bench_convert.py                       # full pipeline with the real MiniLM encoder
    python bench/bench_convert.py --encoder stub        # same, with random vectors instead of the encoder
    python bench/bench_convert.py --records 1000        # smaller run, e.g. to measure encoder throughput

Each record has --chunks chunks of ~--chunk-chars characters, built from words sampled from
docs_dspy (so token counts are those of real English technical text), and --pairs QA pairs
citing 1-3 chunks, with judge scores 4-10 and ~12% failed validations. The records file is
written first; convert then runs in a child process, which reports its own peak RSS
(resource.getrusage). Figures are printed, never asserted.

`--encoder stub` swaps the sentence-transformers model for IDF-weighted hashed bag-of-words
vectors (questions land near their evidence, unrelated texts near 0): it measures everything
convert does except transformer inference (loading, datasets maps, paraphrase search,
hard-negative search, export), at full scale. The encoder's own cost is
passages / (passages per second); a `--records 300` run with the real encoder measures that
rate. On 2 CPU cores all-MiniLM-L6-v2 encodes ~50 passages of 500 characters per second, so
200,000 passages alone take about an hour: the 120 s target holds for convert's own work,
not for CPU inference at this scale.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
WORDS_FROM = REPO.parent / "shared" / "corpora" / "docs_dspy"
QUERY_TYPES = ["multi_hop", "multi_hop", "multi_hop", "structural", "structural", "contextual", "contextual"]
REASONING_TYPES = ["factual", "relational", "inferential", "temporal", "procedural", "causal"]


def word_stream(source: Path) -> np.ndarray:
    """Every word of the source corpus in order: sampling from it follows real word frequencies."""
    words: list[str] = []
    for path in sorted(source.rglob("*.md")):
        words.extend(re.findall(r"[A-Za-z][A-Za-z'-]*", path.read_text(encoding="utf-8", errors="replace")))
    if not words:
        words = "retrieval training data needs realistic questions grounded in the right passages".split()
    return np.array(words, dtype=object)


def synthesize(path: Path, records: int, chunks: int, chunk_chars: int, pairs: int, seed: int = 0) -> tuple[int, int]:
    """Write `records` generate-format records to `path`; returns (records, pairs)."""
    rng = np.random.default_rng(seed)
    words = word_stream(WORDS_FROM)
    words_per_chunk = max(5, chunk_chars // 6)
    total_pairs = 0
    with open(path, "w", encoding="utf-8") as stream:
        for index in range(records):
            doc = f"docs/section{index // 100:03d}/page{index:05d}.md"
            texts = []
            for number in range(1, chunks + 1):
                sample = words[rng.integers(0, len(words), size=words_per_chunk)]
                texts.append(f"Page {index} part {number}: " + " ".join(sample) + ".")
            chunk_rows = [{"chunk_id": n, "doc_id": doc, "doc_chunk_index": n, "text": t, "sentence_count": 5, "word_count": len(t.split()),
                           "char_start": 0, "char_end": len(t), "content_hash": "", "heading_path": []} for n, t in enumerate(texts, 1)]
            qa_pairs, evaluations, validations = [], [], []
            for pair_index in range(pairs):
                query_type = QUERY_TYPES[pair_index % len(QUERY_TYPES)]
                hops = int(rng.integers(2, 4)) if query_type == "multi_hop" else 1
                cited = sorted(rng.choice(chunks, size=hops, replace=False) + 1)
                # a question reuses words of its evidence, as real ones do (so an encoder places it near its positives)
                evidence = " ".join(texts[int(s) - 1] for s in cited).split()
                picked = [evidence[int(i)] for i in rng.integers(0, len(evidence), size=int(rng.integers(6, 12)))]
                question = "how does " + " ".join(picked) + "?"
                qa_pairs.append({
                    "query_type": query_type, "reasoning_type": REASONING_TYPES[pair_index % len(REASONING_TYPES)],
                    "hop_contexts": [{"hop_number": h, "segment_ids": [int(s)], "summary": "fact"} for h, s in enumerate(cited, 1)],
                    "hop_count": hops, "segment_ids": [int(s) for s in cited], "question": question,
                    "answer": " ".join(words[rng.integers(0, len(words), size=20)]), "question_complexity": int(rng.integers(2, 6)),
                })
                score = float(rng.integers(4, 11))
                part = {"justification": "ok", "score": int(score)}
                evaluations.append({"pair_index": pair_index, "relevance": part, "accuracy": part, "context_support": part, "clarity": part,
                                    "overall": {"assessment": "ok", "score": score}, "improvements": "none"})
                valid = bool(rng.random() > 0.12)
                validations.append({"valid": valid, "reasons": [] if valid else ["answer_not_supported"], "answer_support": 0.9})
            total_pairs += pairs
            record = {
                "file_name": [doc], "source_id": doc, "text": "\n".join(texts), "chunks": chunk_rows, "sections_structured": ["Section 1"],
                "bundle_id": "", "bundle_members": [doc], "is_multi_doc": False,
                "document_artifacts": {"key_concepts": [{"text": "x", "description": "y", "importance": "z"}]},
                "qa_generation": {"pairs": qa_pairs}, "deduplicated_qa_pairs": qa_pairs, "qa_evaluations": {"evaluations": evaluations},
                "qa_validations": validations, "generation_validations": validations, "dedup": {"kept": list(range(pairs)), "duplicate_of": {}},
                "windows": 1, "lm_usage": {"generate": {"calls": 1, "prompt_tokens": 1000, "completion_tokens": 500}}, "errors": [],
                "row_key": f"key{index}",
            }
            stream.write(json.dumps(record) + "\n")
    return records, total_pairs


class StubEncoder:
    """IDF-weighted hashed bag-of-words vectors in place of a sentence-transformers model (the interface convert uses).

    Texts sharing rare words get similar vectors and unrelated texts score near 0, as with a
    real encoder (queries near their positives), at a small fraction of the cost of inference.
    """

    def __init__(self, dimension: int = 384, buckets: int = 2**15) -> None:
        from collections import Counter

        self.dimension = dimension
        self.buckets = buckets
        self.projection = np.random.default_rng(0).standard_normal((buckets, dimension)).astype(np.float32)
        counts = Counter(word.lower() for word in word_stream(WORDS_FROM))
        total = sum(counts.values())
        self.idf = {word: float(np.log(total / count)) for word, count in counts.items()}
        self.unseen = float(np.log(total))

    def get_embedding_dimension(self) -> int:
        return self.dimension

    def encode(self, texts, **_) -> np.ndarray:
        import zlib

        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = text.lower().split()
            if words:
                ids = [zlib.crc32(word.encode()) % self.buckets for word in words]
                weights = np.array([self.idf.get(word.strip("?.:,"), self.unseen) for word in words], dtype=np.float32)
                vectors[row] = weights @ self.projection[ids]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def child(records_file: Path, output_dir: Path, encoder: str, num_negatives: int, paraphrases: bool) -> None:
    """Run convert once and print one JSON line of figures."""
    sys.path.insert(0, str(REPO))
    import logging

    from sdg_program.export import ConvertConfig, convert

    logging.disable(logging.WARNING)
    model = StubEncoder() if encoder == "stub" else None
    started = time.perf_counter()
    if model is None:
        from sdg_program.backends.embedder import load_embedder

        model = load_embedder(None)
    config = ConvertConfig(input_path=records_file, output_dir=output_dir, num_negatives=num_negatives,
                           paraphrase_threshold=0.9 if paraphrases else None)
    result = convert(config, model=model)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = result.report
    print(json.dumps({
        "seconds": seconds, "peak_mb": peak_mb, "timings": result.timings, "pairs_in": report.pairs_in, "pairs_kept": report.pairs_kept,
        "passages": report.corpus_documents, "training_passages": report.training_corpus_documents,
        "queries": {name: split.queries for name, split in report.splits.items()},
        "negatives": report.negatives.negatives if report.negatives else 0,
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--chunks", type=int, default=10, help="chunks per record")
    parser.add_argument("--chunk-chars", type=int, default=500)
    parser.add_argument("--pairs", type=int, default=7, help="QA pairs per record")
    parser.add_argument("--num-negatives", type=int, default=5)
    parser.add_argument("--no-paraphrases", action="store_true", help="skip paraphrase control (no question embedding)")
    parser.add_argument("--encoder", choices=("real", "stub"), default="real")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.encoder, args.num_negatives, not args.no_paraphrases)
        return
    with tempfile.TemporaryDirectory(prefix="bench-convert-") as workdir:
        records_file = Path(workdir) / "records.jsonl"
        started = time.perf_counter()
        records, pairs = synthesize(records_file, args.records, args.chunks, args.chunk_chars, args.pairs)
        size_mb = records_file.stat().st_size / 1e6
        print(f"synthesized {records} records, {pairs} pairs, {records * args.chunks} chunks ({size_mb:.0f} MB) in {time.perf_counter() - started:.0f} s")
        command = [sys.executable, __file__, "--child", str(records_file), str(Path(workdir) / "out"), "--encoder", args.encoder,
                   "--num-negatives", str(args.num_negatives)] + (["--no-paraphrases"] if args.no_paraphrases else [])
        completed = subprocess.run(command, capture_output=True, text=True)
        if completed.returncode != 0:
            print(completed.stderr[-3000:], file=sys.stderr)
            raise SystemExit(completed.returncode)
        figures = json.loads(completed.stdout.strip().splitlines()[-1])
    print(f"convert ({args.encoder} encoder, {args.num_negatives} negatives, paraphrase control {'off' if args.no_paraphrases else 'on'}; 2 cores):")
    print(f"  wall time   {figures['seconds']:.1f} s   (target <= 120 s)")
    print(f"  peak RSS    {figures['peak_mb']:.0f} MB   (target <= 3000 MB)")
    print(f"  pairs in / kept   {figures['pairs_in']} / {figures['pairs_kept']}")
    print(f"  passages / in training corpus   {figures['passages']} / {figures['training_passages']}")
    print(f"  queries per split   {figures['queries']}   negatives written {figures['negatives']}")
    print("  phases (s): " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in figures["timings"].items()))
    encoding = sum(seconds for name, seconds in figures["timings"].items() if name.startswith("embed"))
    print(f"  without the encoder's time (embed phases): {figures['seconds'] - encoding:.1f} s")
    embedded = figures["timings"].get("embed corpus", 0.0)
    if args.encoder == "real" and embedded:
        questions = figures["timings"].get("embed questions", 0.0)
        rate = f", {figures['pairs_kept'] / questions:.0f} questions/s" if questions and not args.no_paraphrases else ""
        print(f"  encoder: {figures['training_passages'] / embedded:.0f} passages/s{rate}")


if __name__ == "__main__":
    main()
