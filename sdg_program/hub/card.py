"""The dataset card (README.md) pushed with a converted dataset.

The card is built only from allow-listed facts: counts we computed, numbers from
report.json, and chosen model names and settings from run.json. Nothing is copied
wholesale, so local paths, endpoint hosts and credentials that a run file may hold
never reach a public README. It also states who can see the repository, what the
pre-upload scan for credentials and personal data found (counts by kind, and what was
masked), and the licence the uploader declared for the source documents.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData
from pydantic import BaseModel, Field

from sdg_program.core.secrets import redact, scrub
from sdg_program.export.scan import ScanSummary
from sdg_program.hub.licences import parse_licence

# Models we ship or default to, and the licence each one is published under.
KNOWN_MODELS: dict[str, tuple[str, str, str]] = {
    "smollm2-135m-instruct": ("SmolLM2-135M-Instruct", "Apache-2.0", "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct"),
    "all-minilm-l6-v2": ("all-MiniLM-L6-v2", "Apache-2.0", "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2"),
}
DEFAULT_EMBEDDER_SPECS = {None, "", "default", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}

# Settings from run.json that describe how pairs were made (never paths or endpoints).
CHUNKING_SETTINGS = ("sentences_per_chunk", "max_chunk_chars", "num_sections", "section_strategy", "multi_doc", "bundle_size", "max_docs_per_bundle", "bundle_by")
RUN_SETTINGS = ("temperature", "seed", "max_tokens")

CONFIG_LAYOUT = [
    {
        "config_name": "default",
        "data_files": [
            {"split": "train", "path": "data/train-*"},
            {"split": "validation", "path": "data/validation-*"},
            {"split": "test", "path": "data/test-*"},
        ],
    },
    {"config_name": "corpus", "data_files": [{"split": "corpus", "path": "corpus/corpus-*"}]},
]


class CardFacts(BaseModel):
    """Everything the card says, gathered by the push step before anything is uploaded."""

    repo_id: str
    pretty_name: str
    license: str = "other"
    split_rows: dict[str, int]
    corpus_rows: int
    training_corpus_rows: int | None = None
    mean_positives: dict[str, float] = Field(default_factory=dict)
    mean_negatives: dict[str, float] = Field(default_factory=dict)
    corpus_id: str | None = None
    report: dict[str, Any] | None = None
    run: dict[str, Any] | None = None
    private: bool | None = Field(None, description="Visibility of the repository (None: not known)")
    scan: ScanSummary | None = Field(None, description="The pre-upload scan of the texts")
    redacted: dict[str, int] = Field(default_factory=dict, description="Findings masked before the push (report.json scan.redacted), by kind")
    findings_allowed: bool = Field(False, description="The uploader pushed despite findings (--allow-findings)")


def build_card(facts: CardFacts) -> DatasetCard:
    """The README: YAML metadata (licence, task, configs) and a body that explains the data."""
    metadata = DatasetCardData(
        **parse_licence(facts.license).metadata(),
        task_categories=["text-retrieval"],
        task_ids=["document-retrieval"],
        tags=["synthetic", "retrieval", "beir", "sdg-program"],
        size_categories=[size_category(sum(facts.split_rows.values()))],
        pretty_name=facts.pretty_name,
        configs=CONFIG_LAYOUT,
    )
    body = "\n".join(
        [
            f"# {facts.pretty_name}",
            "",
            "Synthetic retrieval training and evaluation data made with sdg-program: questions written by a "
            "language model from a folder of documents, each tied to the exact passages that answer it.",
            "",
            *_licence_section(facts.license),
            *_safety_section(facts),
            *_layout_section(facts),
            *_usage_section(facts.repo_id),
            *_generation_section(facts.run),
            *_counts_section(facts),
        ]
    )
    return DatasetCard(f"---\n{metadata.to_yaml()}\n---\n\n{scrub(body)}\n")


def size_category(rows: int) -> str:
    """The Hub's size bucket for a number of rows."""
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return label
    return "1M<n<10M" if rows < 10_000_000 else "n>10M"


def _licence_section(license: str) -> list[str]:
    lines = ["## Licence", ""]
    declared = parse_licence(license)
    if not declared.is_declared:
        lines.append(
            "**The licence is not set.** The questions and passages are derived from the source documents, so the "
            "dataset carries their licence: set it with `sdg-program push --license <id>` (for example `cc-by-4.0`) "
            "or edit the `license` field above."
        )
    else:
        named = ", ".join(f"`{_cell(entry)}`" for entry in declared.declared)
        lines.append(
            f"The uploader declared the source documents' licence as {named}. The passages are taken from those "
            "documents and the questions derived from them, so the dataset is published under the same terms; the "
            "uploader is responsible for that declaration."
        )
        if declared.other:
            lines += ["", "Not a licence ID the Hub knows, so the metadata above says `other`."]
    lines += ["", "Licences of the models that wrote or filtered the data are listed under *How it was generated*.", ""]
    return lines


def _safety_section(facts: CardFacts) -> list[str]:
    """Visibility, and what the scan for credentials and personal data found before the upload."""
    lines = ["## Visibility and sensitive data", ""]
    if facts.private is not None:
        lines += [f"Pushed to a **{'private' if facts.private else 'public'}** repository by `sdg-program push` "
                  f"({'visible only to its owner and members' if facts.private else 'anyone can read and download it'}).", ""]
    if facts.scan is None:
        return lines + ["The texts were not scanned for credentials or personal data.", ""]
    scan = facts.scan
    lines.append(
        f"Before the upload, every passage ({scan.passages}), question and answer ({scan.questions} questions) was scanned "
        f"for credentials and personal data with {scan.detectors}."
    )
    if scan.clean:
        lines.append("Nothing was found.")
    else:
        allowed = " The uploader chose to publish them (`--allow-findings`)." if facts.findings_allowed else ""
        lines.append(f"**{scan.findings_total} possible findings remain in the data**: {scan.counts_text()}.{allowed}")
    if facts.redacted:
        masked = ", ".join(f"{kind} {count}" for kind, count in facts.redacted.items())
        lines.append(f"Earlier findings were masked in the texts as `[REDACTED:<kind>]` (`sdg-program scan --redact`): {masked}.")
    lines.append("")
    if not scan.clean or facts.redacted:
        lines += ["| kind | found now | masked |", "|---|---:|---:|"]
        for kind in sorted(set(scan.counts) | set(facts.redacted)):
            lines.append(f"| {kind} | {scan.counts.get(kind, 0)} | {facts.redacted.get(kind, 0)} |")
        lines.append("")
    return lines


def _layout_section(facts: CardFacts) -> list[str]:
    rows = [
        ("default", split, facts.split_rows.get(split, 0), description)
        for split, description in (
            ("train", "training questions with positive and mined hard-negative passage IDs (train.json)"),
            ("validation", "validation questions, same layout (val.json)"),
            ("test", "held-out evaluation questions with their relevant passages (eval_beir qrels)"),
        )
    ]
    rows.append(("corpus", "corpus", facts.corpus_rows, "every passage, once: `id`, `text`, `title`, `in_training_corpus`"))
    lines = [
        "## Layout",
        "",
        "| config | split | rows | what |",
        "|---|---|---:|---|",
        *[f"| `{config}` | `{split}` | {count} | {what} |" for config, split, count, what in rows],
        "",
        "Question rows hold `question_id`, `question`, `pos_doc_ids`, `neg_doc_ids` and `metadata` (JSON text: for "
        "test questions the answer, query and reasoning type, hops and quality score; `{}` for train and validation). "
        "Passages are stored once, in the `corpus` config, and referenced by ID: hard negatives are shared by many "
        "questions, and the same IDs are used by the NeMo AutoModel and BEIR files that sdg-program exports, so the "
        "data round-trips without loss. Passage IDs are `d_` + the first 16 hex digits of the SHA-256 of the text. "
        "`in_training_corpus` is false for passages that only test documents hold: train on the others only, so no "
        "test passage is seen in training, even as a negative.",
        "",
    ]
    if facts.corpus_id:
        lines += [f"NeMo AutoModel `corpus_id`: `{_cell(facts.corpus_id)}`.", ""]
    return lines


def _usage_section(repo_id: str) -> list[str]:
    return [
        "## Usage",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'questions = load_dataset("{repo_id}")  # train, validation, test',
        f'corpus = load_dataset("{repo_id}", "corpus", split="corpus")',
        'text_of = dict(zip(corpus["id"], corpus["text"]))',
        'row = questions["train"][0]',
        'positives = [text_of[i] for i in row["pos_doc_ids"]]',
        'negatives = [text_of[i] for i in row["neg_doc_ids"]]',
        "```",
        "",
    ]


def _generation_section(run: dict[str, Any] | None) -> list[str]:
    lines = [
        "## How it was generated",
        "",
        "sdg-program chunks each document into sentence passages, asks a language model to extract facts and write "
        "standalone questions that cite the passages they need (multi-hop questions cite one passage per hop), "
        "removes near-duplicate questions by embedding similarity, has a judge model score every pair, checks each "
        "answer against its cited passages, then keeps the pairs that pass, mines hard negatives with the embedder, "
        "and splits by document so no document's questions appear in two splits.",
        "",
    ]
    if not run:
        return lines + ["No run.json was found next to the data, so the models and settings are not recorded here.", ""]
    config = run.get("config") if isinstance(run.get("config"), dict) else {}
    models = run.get("models") if isinstance(run.get("models"), dict) else {}
    lines += ["| role | model | licence |", "|---|---|---|"]
    for role, label in (("lm", "generator"), ("judge_lm", "judge")):
        name = _lm_name(models.get(role), config.get(role) or (config.get("lm") if role == "judge_lm" else None))
        lines.append(f"| {label} | {_cell(name)} | {_licence_of(name)} |")
    embedder = _embedder_name(config.get("embedder"), models.get("embedder"))
    lines.append(f"| embedder | {_cell(embedder)} | {_licence_of(embedder)} |")
    lines.append("")
    if models.get("judge") == "off":
        lines += ["No LLM judge ran (the judge was off): pairs were kept on deterministic checks and the retrieval round trip only.", ""]
    elif models.get("self_judging") is True:
        lines += ["The judge was the generating model (self-grading).", ""]
    settings = _settings(config)
    if settings:
        lines += ["| setting | value |", "|---|---|", *[f"| `{key}` | {_cell(value)} |" for key, value in settings.items()], ""]
    return lines


def _counts_section(facts: CardFacts) -> list[str]:
    lines = ["## Counts", "", "| split | questions | mean positives | mean negatives |", "|---|---:|---:|---:|"]
    for split, count in facts.split_rows.items():
        lines.append(f"| {split} | {count} | {facts.mean_positives.get(split, 0):.2f} | {facts.mean_negatives.get(split, 0):.2f} |")
    training = "" if facts.training_corpus_rows is None else f" ({facts.training_corpus_rows} in the training corpus)"
    lines += ["", f"Corpus: {facts.corpus_rows} passages{training}.", ""]
    report = {key: value for key, value in (facts.report or {}).items() if key != "scan"}  # the scan has its own section
    for title, source in (("Conversion (report.json)", report), ("Generation (run.json)", (facts.run or {}).get("counts"))):
        numbers = flatten_numbers(source) if isinstance(source, dict) else {}
        if numbers:
            lines += [f"### {title}", "", "| count | value |", "|---|---:|", *[f"| `{key}` | {value} |" for key, value in numbers.items()], ""]
    return lines


def flatten_numbers(data: dict[str, Any], prefix: str = "", depth: int = 3) -> dict[str, Any]:
    """Numbers and booleans of a nested dict under dotted keys; strings and lists are left out (they may be paths)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool) or isinstance(value, (int, float)):
            out[name] = round(value, 4) if isinstance(value, float) else value
        elif isinstance(value, dict) and depth > 1:
            out.update(flatten_numbers(value, f"{name}.", depth - 1))
    return out


def _lm_name(description: Any, spec: Any) -> str:
    """A model's public name: the GGUF file name for local models, else the model string, never a path."""
    if isinstance(description, dict):
        if description.get("model_file"):
            return str(description["model_file"])
        if description.get("model"):
            return _strip_path(str(description["model"]))
    if isinstance(spec, str) and spec:
        if spec == "local":
            return "SmolLM2-135M-Instruct (embedded GGUF)"
        return _strip_path(spec)
    return "unknown"


def _embedder_name(spec: Any, description: Any) -> str:
    if spec in DEFAULT_EMBEDDER_SPECS:
        return "all-MiniLM-L6-v2 (embedded)"
    return _strip_path(str(spec if spec else description))


def _strip_path(spec: str) -> str:
    """`local:/home/me/m.gguf` -> `local:m.gguf`; `/models/x` -> `x`; hub names stay as they are."""
    prefix, separator, rest = spec.partition(":")
    if separator and prefix == "local":
        return f"local:{PurePath(rest).name}"
    if spec.startswith(("/", "~", ".")) or "\\" in spec:
        return PurePath(spec).name
    return spec


def _licence_of(name: str) -> str:
    key = name.lower().replace("_", "-")
    for known, (_, licence, url) in KNOWN_MODELS.items():
        if known in key:
            return f"[{licence}]({url})"
    return "see the model's own terms"


def _settings(config: dict[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    generation = config.get("generation")
    if isinstance(generation, dict):
        settings.update({f"generation.{key}": value for key, value in generation.items() if value is not None})
    chunking = config.get("chunking")
    if isinstance(chunking, dict):
        settings.update({f"chunking.{key}": chunking[key] for key in CHUNKING_SETTINGS if chunking.get(key) is not None})
    settings.update({key: config[key] for key in RUN_SETTINGS if config.get(key) is not None})
    if config.get("program"):
        settings["program"] = "compiled (optimised prompts)"
    return redact(settings)


def _cell(value: Any) -> str:
    """A value as one Markdown table cell."""
    if isinstance(value, dict):
        value = ", ".join(f"{key}={item}" for key, item in value.items())
    elif isinstance(value, list):
        value = ", ".join(str(item) for item in value)
    return str(value).replace("|", "\\|").replace("\n", " ")
