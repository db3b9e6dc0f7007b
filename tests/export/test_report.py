"""report.json, the printed summary and report.html."""

import base64
import json
import re

import pytest
from rich.console import Console

from sdg_program.export.report import ConvertReport, NegativesSummary, SplitSummary, print_report, render_html, score_histogram, sorted_counts


def sample_report() -> ConvertReport:
    return ConvertReport(
        input_file="gen/records.jsonl",
        output_dir="gen_train_eval",
        corpus_id="gen",
        settings={"quality_threshold": 7.0, "seed": 42},
        records_in=10,
        pairs_in=70,
        pairs_kept=40,
        pairs_dropped={"invalid": 12, "below_threshold": 15, "too_many_positives": 3},
        validation_reasons={"answer_not_supported": 9, "source_relative_question": 5},
        chunks_in=100,
        corpus_documents=98,
        training_corpus_documents=90,
        units=10,
        splits={"train": SplitSummary(units=8, documents=8, queries=32, examples=32),
                "val": SplitSummary(units=1, documents=1, queries=4, examples=4),
                "test": SplitSummary(units=1, documents=1, queries=4, examples=4)},
        distributions={"query_type": {"contextual": 20, "multi_hop": 12, "structural": 8}, "reasoning_type": {"factual": 40},
                       "hop_count": {"1": 28, "2": 12}, "question_complexity": {"2": 10, "3": 30}},
        judge_scores=score_histogram([3, 5.5, 7, 7.9, 8, 10, 10.0, None]),
        negatives=NegativesSummary(requested_per_query=5, margin=0.95, queries=36, negatives=180, excluded_as_likely_positive=7),
    )


def test_score_histogram_bins_and_clips():
    histogram = score_histogram([0.5, 1, 6.99, 7, 7.5, 10, 11, None])
    assert list(histogram) == [str(i) for i in range(1, 11)]
    assert histogram["1"] == 2 and histogram["6"] == 1 and histogram["7"] == 2 and histogram["10"] == 2
    assert sum(histogram.values()) == 7


def test_sorted_counts_orders_numbers_numerically():
    assert list(sorted_counts({"10": 1, "2": 1, "unknown": 1, "1": 1})) == ["1", "2", "10", "unknown"]


def test_printed_summary_names_every_drop_reason_and_split():
    console = Console(record=True, width=140)
    print_report(sample_report(), console)
    text = console.export_text()
    for phrase in ("pairs kept", "40 (57%)", "failed validation", "judge score below threshold", "more positives than --max-pos-docs",
                   "answer_not_supported", "train: units", "32 / 32", "hard negatives", "multi_hop: 12"):
        assert phrase in text, phrase


def test_html_embeds_one_png_per_distribution():
    page = render_html(sample_report())
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 8
    assert all(base64.b64decode(image).startswith(b"\x89PNG\r\n\x1a\n") for image in images)
    assert "Hard negatives" in page and "gen_train_eval" in page


@pytest.mark.slow  # renders the eight matplotlib plots twice (5 s)
def test_html_is_deterministic_and_report_round_trips():
    report = sample_report()
    assert render_html(report) == render_html(report)
    again = ConvertReport.model_validate(json.loads(report.model_dump_json()))
    assert again == report


def test_convert_writes_report_files(tmp_path):
    from sdg_program.export.pipeline import convert
    from tests.export.test_convert import topic_record, write_records

    write_records(tmp_path / "gen" / "records.jsonl", [topic_record(i, pairs_per_doc=2) for i in range(3)])
    result = convert(input_path=tmp_path / "gen", num_negatives=0, paraphrase_threshold=None)
    written = json.loads((result.output_dir / "report.json").read_text())
    assert written == result.report.model_dump(mode="json")
    assert written["pairs_in"] == 6 and written["pairs_kept"] == 6
    assert written["distributions"]["query_type"] == {"contextual": 6}
    assert written["judge_scores"]["8"] == 6
    assert "data:image/png;base64," in (result.output_dir / "report.html").read_text()
