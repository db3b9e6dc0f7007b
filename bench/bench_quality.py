"""How well the deterministic checks separate good pairs from bad ones, on the labelled set.

    python bench/bench_quality.py                      # figures for the tune split, the holdout split and both
    python bench/bench_quality.py --disable question_not_grounded --disable garbled_text
    python bench/bench_quality.py --show missed        # bad pairs that pass, with their label's reason
    python bench/bench_quality.py --show rejected      # good pairs that fail, with their reasons
    python bench/bench_quality.py --roundtrip          # also the round trip of convert (BM25 + embedder, fused)

The set is ``data/quality/pairs.jsonl`` (made by ``bench/build_quality_set.py``; what is in it and
where it comes from: ``data/quality/README.md``). Every pair is validated as convert re-validates
pairs that come without a verdict (``ValidationSettings.for_written_pairs``): the question is
whether the checks keep good pairs and reject bad ones, whoever wrote them.

Printed, never asserted: keep-rate of good pairs and reject-rate of bad ones, overall and per
split; per check, how many good pairs it rejects and how many bad pairs it rejects (and how many
only it rejects); per kind of pair, the rate that matters for that label. With ``--roundtrip``,
the questions are also run against one corpus made of every segment of the set (as convert runs
them against the exported corpus) and the same figures are printed per share of the corpus that
``k`` may be, with and without the lexical ``question_not_grounded`` check. Targets (issue 13):
keep >= 97% of good pairs, reject >= 90% of bad ones. Thresholds were chosen on the ``tune``
split only; ``holdout`` is the figure to trust.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from sdg_program.program.validation import REASON_CODES, RowSegments, ValidationSettings, validate_pair
from signatures import QAPair

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SET = REPO / "data" / "quality" / "pairs.jsonl"
TARGET_KEEP = 0.97
TARGET_REJECT = 0.90


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def verdicts(items: list[dict], settings: ValidationSettings) -> list[list[str]]:
    """The reasons validate_pair gives each item (empty: it passes)."""
    results = []
    for record in items:
        segments = RowSegments({int(key): text for key, text in record["segments"].items()})
        results.append(validate_pair(QAPair.model_validate(record["pair"]), segments, settings).reasons)
    return results


def rate(hits: int, total: int) -> str:
    return f"{hits / total:6.1%} ({hits}/{total})" if total else "   n/a"


def print_overall(items: list[dict], reasons: list[list[str]]) -> None:
    print("split      keep good              reject bad")
    for split in ("tune", "holdout", "all"):
        chosen = [index for index, record in enumerate(items) if split in ("all", record["split"])]
        good = [index for index in chosen if items[index]["label"] == "good"]
        bad = [index for index in chosen if items[index]["label"] == "bad"]
        kept = sum(1 for index in good if not reasons[index])
        rejected = sum(1 for index in bad if reasons[index])
        print(f"{split:9}  {rate(kept, len(good)):21}  {rate(rejected, len(bad))}")
    print(f"targets    keep >= {TARGET_KEEP:.0%}              reject >= {TARGET_REJECT:.0%}")


def print_per_check(items: list[dict], reasons: list[list[str]]) -> None:
    good_total = sum(1 for record in items if record["label"] == "good")
    bad_total = len(items) - good_total
    good_hits: Counter[str] = Counter()
    bad_hits: Counter[str] = Counter()
    only: Counter[str] = Counter()
    for record, found in zip(items, reasons):
        (good_hits if record["label"] == "good" else bad_hits).update(found)
        if record["label"] == "bad" and len(found) == 1:
            only[found[0]] += 1
    print(f"\ncheck                      rejects good ({good_total})  rejects bad ({bad_total})  only check on bad")
    for code in REASON_CODES:
        if good_hits[code] or bad_hits[code]:
            print(f"{code:26} {good_hits[code]:>17}  {bad_hits[code]:>16}  {only[code]:>17}")


def print_per_kind(items: list[dict], reasons: list[list[str]]) -> None:
    print("\nkind                        label  rate (keep good / reject bad)   tune / holdout")
    kinds = sorted({(record["label"], record["kind"]) for record in items})
    for label, kind in kinds:
        parts = []
        for split in ("all", "tune", "holdout"):
            chosen = [found for record, found in zip(items, reasons) if record["kind"] == kind and split in ("all", record["split"])]
            hits = sum(1 for found in chosen if bool(found) == (label == "bad"))
            parts.append(rate(hits, len(chosen)))
        print(f"{kind:27} {label:5}  {parts[0]:30}  {parts[1].strip()} / {parts[2].strip()}")


def show(items: list[dict], reasons: list[list[str]], what: str, split: str) -> None:
    label = "bad" if what == "missed" else "good"
    print(f"\n{what} ({label} pairs that {'pass' if what == 'missed' else 'fail'}), split {split}:")
    for record, found in zip(items, reasons):
        if record["label"] != label or split not in ("all", record["split"]) or bool(found) != (what == "rejected"):
            continue
        pair = record["pair"]
        print(f"- {record['id']} [{record['kind']}] {found}\n    Q: {pair['question']}\n    A: {pair['answer'][:160]}\n    label: {record['why']}")


def roundtrip_ranks(items: list[dict]) -> tuple[list[int | None], int]:
    """Each item's best fused rank of a positive over the corpus of all the set's segments, and the corpus size."""
    from sdg_program.backends.embedder import embed, load_embedder
    from sdg_program.export.roundtrip import roundtrip_ranks as ranks_of

    row_of: dict[str, int] = {}
    positives = []
    for record in items:
        for text in record["segments"].values():
            row_of.setdefault(text, len(row_of))
        positives.append([row_of[record["segments"][str(segment)]] for segment in record["pair"]["segment_ids"] if str(segment) in record["segments"]])
    corpus = list(row_of)
    model = load_embedder(None)
    questions = [record["pair"]["question"] for record in items]
    ranks = ranks_of(questions, positives, corpus, embed(questions, model, batch_size=64), embed(corpus, model, batch_size=64), depth=len(corpus))
    return ranks, len(corpus)


def print_roundtrip(items: list[dict], reasons: list[list[str]], lexical: list[list[str]]) -> None:
    """Keep/reject rates with the round trip at several k, alone and on top of the checks."""
    from sdg_program.export.roundtrip import retrievable

    started = time.perf_counter()
    ranks, size = roundtrip_ranks(items)
    print(f"\nround trip over {size} passages (all segments of the set), ranked in {time.perf_counter() - started:.0f} s")
    print("k (share)        split     round trip alone: keep / reject    + checks: keep / reject    + checks without question_not_grounded")
    for share in (0.005, 0.01, 0.02, 0.05, 0.1):
        k = max(10, round(share * size))
        for split in ("tune", "holdout"):
            chosen = [index for index, record in enumerate(items) if record["split"] == split]
            figures = []
            for verdict in (lambda index: [], lambda index: reasons[index], lambda index: lexical[index]):
                failed = [index for index in chosen if verdict(index) or not retrievable(ranks[index], k)]
                good = [index for index in chosen if items[index]["label"] == "good"]
                bad = [index for index in chosen if items[index]["label"] == "bad"]
                kept = sum(1 for index in good if index not in failed)
                rejected = sum(1 for index in bad if index in failed)
                figures.append(f"{kept / len(good):6.1%} / {rejected / len(bad):6.1%}")
            print(f"{k:5} ({share:5.1%})  {split:8}  {figures[0]:>33}  {figures[1]:>25}  {figures[2]:>25}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Keep-rate of good pairs and reject-rate of bad pairs under the deterministic checks.")
    parser.add_argument("--set", type=Path, default=DEFAULT_SET, help="labelled pairs (JSONL)")
    parser.add_argument("--disable", action="append", default=[], choices=REASON_CODES, metavar="CODE", help="switch a check off (repeatable)")
    parser.add_argument("--language", default=None, help="force the language every question must be in")
    parser.add_argument("--show", choices=("missed", "rejected"), help="list bad pairs that pass, or good pairs that fail")
    parser.add_argument("--split", choices=("tune", "holdout", "all"), default="tune", help="which split --show lists")
    parser.add_argument("--roundtrip", action="store_true", help="also measure convert's round trip (loads the embedder)")
    args = parser.parse_args()
    items = load(args.set)
    settings = ValidationSettings.for_written_pairs(disabled_checks=frozenset(args.disable), language=args.language)
    started = time.perf_counter()
    reasons = verdicts(items, settings)
    elapsed = time.perf_counter() - started
    good = sum(1 for record in items if record["label"] == "good")
    print(f"{len(items)} labelled pairs ({good} good, {len(items) - good} bad) from {args.set.name}; validated in {elapsed:.1f} s")
    if args.disable:
        print(f"disabled: {', '.join(args.disable)}")
    print_overall(items, reasons)
    print_per_check(items, reasons)
    print_per_kind(items, reasons)
    if args.roundtrip:
        without = settings.model_copy(update={"disabled_checks": settings.disabled_checks | {"question_not_grounded"}})
        print_roundtrip(items, reasons, verdicts(items, without))
    if args.show:
        show(items, reasons, args.show, args.split)


if __name__ == "__main__":
    main()
