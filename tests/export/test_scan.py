"""The scan for credentials and personal data (export/detectors.py, scan.py, redact.py), without a Hub.

Findings are reported by kind and place, never by value; masking rewrites every exported file
the same way, so the files still agree with each other and a second scan finds nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sdg_program.core.errors import ExportFolderError
from sdg_program.export.detectors import Detector, mask_for
from sdg_program.export.redact import redact_export
from sdg_program.export.scan import scan_export
from sdg_program.hub.upload import read_export

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
GITHUB_TOKEN = "ghp_Q7dX2mN9pL4kR8sT1vW6yZ3bC5fH0jA2eG4i"
PEM_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
PRIVATE_KEY = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\nVUZaHx8yPn4Cq9WtBqWGhJgn2HnTTpTqL0bYQkZd0AvMTRtP2n3b\n-----END RSA PRIVATE KEY-----"
EMAIL = "jane.roe@acme-internal.com"
SECRET_VALUES = (AWS_KEY, GITHUB_TOKEN, PEM_BODY, EMAIL)
SECRET_PASSAGE = f"Deploy with the access key {AWS_KEY} and this key:\n{PRIVATE_KEY}\nThe CI bot token is {GITHUB_TOKEN}."


def test_detector_finds_each_planted_kind_and_masks_it():
    detector = Detector()
    text = f"{SECRET_PASSAGE}\nWrite to {EMAIL} or call +44 20 7946 0958. Database: postgres://app:Sup3rS3cret@db.internal/app"
    kinds = {span.kind for span in detector.spans(text)}
    assert {"aws_access_key", "private_key", "github_token", "email_address", "phone_number", "basic_auth_credentials"} <= kinds
    masked, spans = detector.redact(text)
    assert all(value not in masked for value in (*SECRET_VALUES, "Sup3rS3cret", "7946 0958"))
    assert mask_for("private_key") in masked and "-----END" not in masked  # the whole PEM block goes
    assert "postgres://app:" in masked and "@db.internal/app" in masked  # only the password of the URL
    assert detector.spans(masked) == []  # masks are not findings: a re-scan is clean
    assert detector.redact(masked) == (masked, [])


@pytest.mark.parametrize("text", [
    "lm = dspy.LM('openai/gpt-4o-mini', api_key='YOUR_OPENAI_API_KEY')",
    'os.environ["OPENAI_API_KEY"] = "your_api_key"',
    "export OPENAI_API_KEY=$OPENAI_API_KEY",
    "Mail admin@example.com, or clone git@github.com:org/repo.git.",
    "The tornadoes occurred between 0630-1030 UTC in 1947; call extension 4412.",
    "uuid 123e4567-e89b-12d3-a456-426614174000 and sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
])
def test_documentation_placeholders_and_ordinary_text_are_not_findings(text):
    assert Detector().spans(text) == []


def test_national_phone_numbers_need_a_region():
    text = "Call the help desk on (415) 555-0132."
    assert Detector().spans(text) == []
    assert [span.kind for span in Detector("US").spans(text)] == ["phone_number"]


def write_planted_export(folder: Path) -> dict[str, str]:
    """The small export of tests/hub/test_hub.py plus a passage with three credentials and an e-mail in a test answer."""
    import pyarrow as pa

    from tests.hub.test_hub import write_export

    ids = write_export(folder)
    secret_id = "d_" + "5" * 16
    table = pq.read_table(folder / "corpus" / "train.parquet")
    pq.write_table(pa.concat_tables([table, pa.table({"id": [secret_id], "text": [SECRET_PASSAGE]})]), folder / "corpus" / "train.parquet")
    with (folder / "eval_beir" / "corpus.jsonl").open("a") as handle:
        handle.write(json.dumps({"_id": secret_id, "title": "", "text": SECRET_PASSAGE, "metadata": {"source_id": "ops.md", "doc_id": "ops/deploy.md", "chunk_id": 3}}) + "\n")
    queries = [json.loads(line) for line in (folder / "eval_beir" / "queries.jsonl").read_text().splitlines()]
    queries[0]["metadata"]["answer"] = f"ask {EMAIL}"
    (folder / "eval_beir" / "queries.jsonl").write_text("".join(json.dumps(query) + "\n" for query in queries))
    return {**ids, "secret": secret_id}


def all_bytes(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file())


def test_scan_reports_kind_document_and_id_never_the_value(tmp_path):
    folder = tmp_path / "x_train_eval"
    ids = write_planted_export(folder)
    summary = scan_export(folder)
    assert summary.counts == {"aws_access_key": 1, "email_address": 1, "github_token": 1, "private_key": 1}
    assert summary.passages == 8 and summary.questions == 5 and summary.documents >= 2
    by_kind = {finding.kind: finding for finding in summary.findings}
    assert by_kind["aws_access_key"].passage_id == ids["secret"] and by_kind["aws_access_key"].document == "ops/deploy.md"
    assert by_kind["email_address"].record == "answer" and by_kind["email_address"].query_id == "q_test1"
    assert by_kind["email_address"].field == "metadata.answer" and by_kind["email_address"].category == "personal_data"
    start, end = by_kind["github_token"].start, by_kind["github_token"].end
    assert SECRET_PASSAGE[start:end] == GITHUB_TOKEN  # offsets point at it...
    dumped = summary.model_dump_json()
    assert not any(value in dumped for value in SECRET_VALUES)  # ...but the report never holds it


def test_redact_masks_every_file_consistently_and_records_it(tmp_path):
    folder = tmp_path / "x_train_eval"
    ids = write_planted_export(folder)
    summary = redact_export(folder)
    assert summary.clean and summary.redacted == {"aws_access_key": 1, "email_address": 1, "github_token": 1, "private_key": 1}
    assert set(summary.redacted_files) == {"corpus/train.parquet", "eval_beir/corpus.jsonl", "eval_beir/queries.jsonl"}
    assert not any(value.encode() in all_bytes(folder) for value in SECRET_VALUES)
    parquet = dict(zip(*pq.read_table(folder / "corpus" / "train.parquet").to_pydict().values()))
    beir = {row["_id"]: row["text"] for row in map(json.loads, (folder / "eval_beir" / "corpus.jsonl").read_text().splitlines())}
    assert parquet[ids["secret"]] == beir[ids["secret"]] and "[REDACTED:aws_access_key]" in beir[ids["secret"]]
    report = json.loads((folder / "report.json").read_text())
    assert report["scan"]["redacted"]["private_key"] == 1 and report["scan"]["findings_total"] == 0
    assert report["pairs_kept"] == 5  # the rest of the report is kept
    data = read_export(folder)  # the push still reads it: BEIR passages join the parquet ones by text
    assert sum(passage.in_training_corpus for passage in data.corpus) == 7 and len(data.corpus) == 8
    before = all_bytes(folder)
    assert redact_export(folder).redacted == {} and all_bytes(folder) == before  # nothing left to mask


def test_scan_refuses_a_folder_that_is_not_an_export(tmp_path):
    with pytest.raises(ExportFolderError, match="not a folder"):
        scan_export(tmp_path / "missing")
    with pytest.raises(ExportFolderError, match="not a `sdg-program convert` output"):
        scan_export(tmp_path)


def test_scan_command_lists_findings_and_exits_1_until_redacted(tmp_path):
    from typer.testing import CliRunner

    from sdg_program.cli.app import app

    folder = tmp_path / "x_train_eval"
    write_planted_export(folder)
    found = CliRunner().invoke(app, ["scan", str(folder)], env={"COLUMNS": "250"})
    assert found.exit_code == 1, found.output
    assert "aws_access_key 1" in found.output and "ops/deploy.md" in found.output and "--redact" in found.output
    assert not any(value in found.output for value in SECRET_VALUES)
    redacted = CliRunner().invoke(app, ["scan", str(folder), "--redact"], env={"COLUMNS": "250"})
    assert redacted.exit_code == 0, redacted.output
    assert "Masked" in redacted.output and "No credentials or personal data found" in redacted.output


def test_convert_warns_about_findings_and_masks_them_with_redact(tmp_path):
    from sdg_program.export import convert
    from tests.export.test_convert import topic_record, write_records

    records = [topic_record(i, pairs_per_doc=2) for i in range(4)]
    records[1]["chunks"][4]["text"] = f"Ops note: the deploy key is {AWS_KEY}; questions to {EMAIL}."
    write_records(tmp_path / "gen" / "records.jsonl", records)
    options = {"input_path": tmp_path / "gen", "num_negatives": 0, "paraphrase_threshold": None, "roundtrip": False}
    result = convert(output_dir=tmp_path / "plain", **options)
    assert result.report.scan.counts == {"aws_access_key": 1, "email_address": 1}
    assert any("sdg-program scan" in warning for warning in result.report.warnings)
    assert AWS_KEY.encode() in all_bytes(tmp_path / "plain") and AWS_KEY not in (tmp_path / "plain" / "report.json").read_text()
    masked = convert(output_dir=tmp_path / "masked", redact=True, **options)
    assert masked.report.scan.clean and masked.report.scan.redacted == {"aws_access_key": 1, "email_address": 1}
    assert not any(value.encode() in all_bytes(tmp_path / "masked") for value in (AWS_KEY, EMAIL))
    assert json.loads((tmp_path / "masked" / "report.json").read_text())["scan"]["redacted"] == {"aws_access_key": 1, "email_address": 1}
