"""How a fine-tuning run is shown: a rich table, a section of ``report.html`` and the model card.

All three answer the same question (did training help, on which held-out set, by how much),
so they are built from the same :class:`FinetuneResult`. The HTML section sits between two
comment markers before ``</body>``: a later run replaces it instead of stacking sections, and
``convert`` rewriting the page simply drops it. The plot is a PNG embedded as base64, like the
convert report's, so the page stays one self-contained file.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import re
from pathlib import Path
from typing import Any

from sdg_program.core.files import atomic_path
from sdg_program.evaluation.finetune_config import METRIC_LABELS, METRICS, FinetuneResult, FolderComparison

logger = logging.getLogger(__name__)

SECTION_START = "<!-- sdg-program finetune: start -->"
SECTION_END = "<!-- sdg-program finetune: end -->"
_SECTION = re.compile(re.escape(SECTION_START) + r".*?" + re.escape(SECTION_END) + r"\n?", re.DOTALL)
CARD_HEADING = "## Fine-tuned with sdg-program"


# --- console ---------------------------------------------------------------------------


def comparison_table(result: FinetuneResult) -> Any:
    """One rich table: per BEIR folder and metric, base, tuned, their difference and BM25."""
    from rich.table import Table

    table = Table(title=f"Base ({result.base_model}) vs tuned ({result.output_dir})", title_justify="left")
    for column in ("BEIR folder", "metric", "base", "tuned", "delta", "BM25"):
        table.add_column(column, justify="left" if column in ("BEIR folder", "metric") else "right")
    for number, comparison in enumerate(result.comparisons):
        if number:
            table.add_section()
        label = f"{_folder_label(comparison)} ({comparison.queries} q)"
        for metric in METRICS:
            delta = comparison.delta(metric)
            colour = "green" if delta > 0 else "red" if delta < 0 else ""
            bm25 = f"{getattr(comparison.bm25, metric):.4f}" if comparison.bm25 else "-"
            table.add_row(label if metric == METRICS[0] else "", METRIC_LABELS[metric], f"{getattr(comparison.base, metric):.4f}",
                          f"{getattr(comparison.tuned, metric):.4f}", f"[{colour}]{delta:+.4f}[/{colour}]" if colour else f"{delta:+.4f}", bm25)
    return table


def _folder_label(comparison: FolderComparison) -> str:
    path = Path(comparison.folder)
    return f"{path.parent.name}/{path.name}" if path.name == "eval_beir" else path.name


# --- report.html -----------------------------------------------------------------------


def update_report_html(path: Path, result: FinetuneResult) -> bool:
    """Put the base-vs-tuned section into ``path`` (replacing an earlier one); False if the page is missing."""
    if not path.is_file():
        logger.info("No %s (written by convert); skipping its fine-tuning section.", path)
        return False
    page = _SECTION.sub("", path.read_text(encoding="utf-8"))
    section = render_section(result)
    closing = page.lower().rfind("</body>")
    page = page[:closing] + section + page[closing:] if closing >= 0 else page + section
    write_text_atomic(path, page)
    return True


def render_section(result: FinetuneResult) -> str:
    """The HTML section, between its markers: settings, a table per folder and one plot per folder."""
    rows = [
        ("base model", result.base_model),
        ("tuned model", result.output_dir),
        ("training rows / questions", f"{result.data.train_rows} / {result.data.train_questions}"),
        ("hard negatives per row", result.data.negatives_per_row),
        ("epochs, batch size, learning rate", f"{result.settings.get('epochs')}, {result.settings.get('batch_size')}, {result.settings.get('learning_rate')}"),
        ("loss", result.settings.get("loss")),
        ("steps, seconds training", f"{result.steps}, {result.seconds.get('train', 0):.0f}"),
    ]
    if result.validation is not None:
        rows.append(("validation nDCG@10 before / best", f"{_number(result.validation.before)} / {_number(result.validation.best)}"))
    settings = "".join(f"<tr><th>{html.escape(str(name))}</th><td>{html.escape(str(value))}</td></tr>" for name, value in rows)
    parts = [SECTION_START, "<h2>Fine-tuning: base vs tuned</h2>", f"<table>{settings}</table>"]
    for comparison in result.comparisons:
        title = f"{_folder_label(comparison)}: {comparison.queries} queries, {comparison.documents} documents"
        parts.append(f"<h3>{html.escape(title)}</h3>{_metrics_table(comparison)}")
        png = comparison_png(comparison, title)
        parts.append(f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{png}"><figcaption>{html.escape(title)}</figcaption></figure>')
    parts.append(SECTION_END)
    return "\n".join(parts) + "\n"


def _metrics_table(comparison: FolderComparison) -> str:
    header = "<tr><th>metric</th><th>base</th><th>tuned</th><th>delta</th><th>BM25</th></tr>"
    body = "".join(
        f"<tr><th>{METRIC_LABELS[metric]}</th><td>{getattr(comparison.base, metric):.4f}</td><td>{getattr(comparison.tuned, metric):.4f}</td>"
        f"<td>{comparison.delta(metric):+.4f}</td><td>{_number(getattr(comparison.bm25, metric) if comparison.bm25 else None)}</td></tr>"
        for metric in METRICS
    )
    return f"<table>{header}{body}</table>"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def comparison_png(comparison: FolderComparison, title: str) -> str:
    """Grouped bars (base, tuned, BM25) per metric, as a base64 PNG (Agg backend, no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    series = [("base", comparison.base, "#8c8c8c"), ("tuned", comparison.tuned, "#4c72b0")]
    if comparison.bm25 is not None:
        series.append(("BM25", comparison.bm25, "#dd8452"))
    figure = Figure(figsize=(6.5, 3.2), dpi=100)
    axes = figure.add_subplot()
    width = 0.8 / len(series)
    for number, (label, scores, colour) in enumerate(series):
        positions = [index + (number - (len(series) - 1) / 2) * width for index in range(len(METRICS))]
        axes.bar(positions, [getattr(scores, metric) for metric in METRICS], width=width, label=label, color=colour)
    axes.set_xticks(range(len(METRICS)), [METRIC_LABELS[metric] for metric in METRICS])
    axes.set_ylim(0, 1)
    axes.set_title(title, fontsize=9)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` beside ``path`` and rename it into place, so a crash never leaves half a page."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


# --- model card ------------------------------------------------------------------------


def card_section(result: FinetuneResult, dataset_name: str) -> str:
    """Markdown for the model card: the dataset folder, the base model, how it was trained, and the metrics."""
    settings = result.settings
    lines = [
        CARD_HEADING,
        "",
        f"- Base model: `{result.base_model}`",
        f"- Training data: `{dataset_name}` (an `sdg-program convert` folder): {result.data.train_questions} generated questions, "
        f"{result.data.train_rows} training rows, {result.data.corpus_passages} passages",
        f"- Loss: {settings.get('loss')} with {result.data.negatives_per_row} hard negative(s) per question and in-batch negatives; "
        f"{settings.get('epochs')} epoch(s), batch size {settings.get('batch_size')}, learning rate {settings.get('learning_rate')}, seed {settings.get('seed')}",
    ]
    if result.validation is not None:
        lines.append(f"- Validation ({result.validation.questions} questions, {result.validation.metric}): {_number(result.validation.before)} before, "
                     f"{_number(result.validation.best)} for the kept checkpoint")
    lines += ["", "Retrieval on held-out questions (BEIR format, scored with beir/pytrec_eval):", "",
              "| BEIR folder | metric | base | tuned | delta | BM25 |", "|:--|:--|--:|--:|--:|--:|"]
    for comparison in result.comparisons:
        for metric in METRICS:
            bm25 = _number(getattr(comparison.bm25, metric) if comparison.bm25 else None)
            lines.append(f"| {_folder_label(comparison)} | {METRIC_LABELS[metric]} | {getattr(comparison.base, metric):.4f} | "
                         f"{getattr(comparison.tuned, metric):.4f} | {comparison.delta(metric):+.4f} | {bm25} |")
    return "\n".join(lines) + "\n"


def add_card_section(model_dir: Path, section: str, *, base_model: str) -> None:
    """Insert ``section`` into the README.md sentence-transformers wrote (before its first ``##``), or write a card."""
    readme = model_dir / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8")
        at = text.find("\n## ")
        text = text[: at + 1] + section + "\n" + text[at + 1 :] if at >= 0 else text.rstrip("\n") + "\n\n" + section
    else:
        text = f"---\nlibrary_name: sentence-transformers\ntags:\n- sentence-transformers\n- sentence-similarity\n---\n\n# Retriever fine-tuned from {base_model}\n\n{section}"
    write_text_atomic(readme, text)
