"""`sdg-program push` is private by default and lets no credential or personal data leave unasked.

Against the local fake Hub of tests/hub_server.py, in a subprocess, as tests/hub/test_hub.py does:
a default push creates a private repository; a public one needs --public and a confirmation
(a terminal answer or --yes), and nothing is sent before it; a planted AWS key, PEM private key,
GitHub token and e-mail address block the push and are reported without their values; after
`sdg-program scan --redact` the push goes through with the masks in every uploaded file.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

from sdg_program.hub.publication import PublicationPlan
from tests.conftest import REPO
from tests.export.test_scan import SECRET_VALUES, write_planted_export
from tests.hub.test_hub import TOKEN, assert_token_nowhere, front_matter, rows, run_push
from tests.hub.test_hub import export as export  # noqa: F401 (fixtures)
from tests.hub.test_hub import hub as hub  # noqa: F401


@pytest.fixture
def planted(tmp_path):
    folder = tmp_path / "ops_train_eval"
    write_planted_export(folder)
    return folder


def uploaded(hub, repo_id: str) -> bytes:
    return b"".join(hub.files(repo_id).values()) + b"".join(hub.received_bodies())


def test_default_push_creates_a_private_repo_and_says_so(hub, export, tmp_path):
    result = run_push(hub, tmp_path, str(export), "--repo-id", "tester/quiet", "--license", "CC-BY-SA-4.0, internal use only")
    assert result.returncode == 0, result.stderr
    assert hub.repos["tester/quiet"].private is True
    assert "(private)" in result.stdout and "Public push" not in result.stderr
    readme = hub.files("tester/quiet")["README.md"].decode()
    metadata = front_matter(readme)
    assert metadata["license"] == ["cc-by-sa-4.0", "other"] and metadata["license_name"] == "internal-use-only"
    assert "**private** repository" in readme and "Nothing was found." in readme
    assert "`CC-BY-SA-4.0`, `internal use only`" in readme and "detect-secrets" in readme


def test_public_push_without_terminal_or_yes_is_refused_before_any_request(hub, export, tmp_path):
    result = run_push(hub, tmp_path, str(export), "--repo-id", "tester/open", "--public")
    assert result.returncode == 2
    assert "7 passages from 1 source documents" in result.stderr and "--yes" in result.stderr
    assert hub.requests == [] and hub.repos == {}


def test_public_push_with_yes_publishes_and_the_card_says_public(hub, export, tmp_path):
    result = run_push(hub, tmp_path, str(export), "--repo-id", "tester/open", "--public", "--yes")
    assert result.returncode == 0, result.stderr
    assert "Public push" in result.stderr and "will be public at tester/open" in result.stderr
    assert hub.repos["tester/open"].private is False and "(public)" in result.stdout
    assert "**public** repository" in hub.files("tester/open")["README.md"].decode()
    assert_token_nowhere(hub, tmp_path, result.stdout, result.stderr)


def test_existing_public_repo_needs_the_public_flag(hub, export, tmp_path):
    hub.create_repo("tester/shared", private=False)
    result = run_push(hub, tmp_path, str(export), "--repo-id", "tester/shared")
    assert result.returncode == 1
    assert "already exists and is public" in result.stderr and "--public" in result.stderr
    assert list(hub.files("tester/shared")) == [".gitattributes"]


def test_declining_on_a_terminal_sends_nothing(hub, export, tmp_path):
    """A real pseudo-terminal: the prompt is shown, 'n' is typed, nothing reaches the Hub."""
    from tests.hub.test_hub import CLI

    env = {name: value for name, value in os.environ.items() if not name.startswith(("HF_", "HUGGING"))}
    env.update({"HF_ENDPOINT": hub.endpoint, "HF_HUB_OFFLINE": "0", "HF_TOKEN": TOKEN, "HOME": str(tmp_path), "PYTHONPATH": str(REPO), "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-c", CLI, "push", str(export), "--repo-id", "tester/open", "--public"],
                               stdin=follower, stdout=subprocess.PIPE, stderr=follower, env=env, cwd=tmp_path)
    os.close(follower)
    shown = b""
    while b"Publish?" not in shown:
        chunk = os.read(leader, 4096)
        assert chunk, shown
        shown += chunk
    os.write(leader, b"n\n")
    assert process.wait(timeout=120) == 2
    output = shown
    try:
        while chunk := os.read(leader, 4096):
            output += chunk
    except OSError:  # the terminal closes with the process
        pass
    os.close(leader)
    assert b"7 passages from 1 source documents" in output and b"not confirmed" in output
    assert hub.requests == [] and hub.repos == {}


def test_planted_secrets_block_the_push_and_are_named_without_their_values(hub, planted, tmp_path):
    result = run_push(hub, tmp_path, str(planted), "--repo-id", "tester/ops")
    assert result.returncode == 2
    for kind in ("aws_access_key", "private_key", "github_token", "email_address"):
        assert kind in result.stderr
    assert "d_5555555555555555" in result.stderr and "ops/deploy.md" in result.stderr and "q_test1" in result.stderr
    assert "--redact" in result.stderr and "--allow-findings" in result.stderr
    assert not any(value in result.stdout + result.stderr for value in SECRET_VALUES)
    assert hub.requests == []  # refused before the first request


def test_redacted_export_pushes_with_masks_in_every_file(hub, planted, tmp_path):
    scan = subprocess.run([sys.executable, "-m", "sdg_program", "scan", str(planted), "--redact"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})
    assert scan.returncode == 0, scan.stderr
    result = run_push(hub, tmp_path, str(planted), "--repo-id", "tester/ops")
    assert result.returncode == 0, result.stderr
    assert not any(value.encode() in uploaded(hub, "tester/ops") for value in SECRET_VALUES)
    files = hub.files("tester/ops")
    corpus = {row["id"]: row["text"] for row in rows(files["corpus/corpus-00000-of-00001.parquet"])}
    assert "[REDACTED:aws_access_key]" in corpus["d_5555555555555555"] and "[REDACTED:private_key]" in corpus["d_5555555555555555"]
    test = {row["question_id"]: row for row in rows(files["data/test-00000-of-00001.parquet"])}
    assert "[REDACTED:email_address]" in test["q_test1"]["metadata"]
    readme = files["README.md"].decode()
    assert "Nothing was found." in readme and "masked" in readme and "| private_key | 0 | 1 |" in readme
    assert hub.repos["tester/ops"].private is True


def test_allow_findings_uploads_and_the_card_says_so(hub, planted, tmp_path):
    result = run_push(hub, tmp_path, str(planted), "--repo-id", "tester/ops", "--allow-findings")
    assert result.returncode == 0, result.stderr
    assert "--allow-findings" in result.stderr and "aws_access_key 1" in result.stderr
    readme = hub.files("tester/ops")["README.md"].decode()
    assert "4 possible findings remain" in readme and "`--allow-findings`" in readme
    assert not any(value in readme for value in SECRET_VALUES)


def test_python_api_public_push_needs_yes_or_a_confirm_callback(export, monkeypatch):
    from huggingface_hub import constants

    from sdg_program.hub import PublicationRefused, PushConfig, push

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # no request is made: the confirmation comes first

    with pytest.raises(PublicationRefused, match="must be confirmed"):
        push(PushConfig(folder=export, repo_id="tester/x", private=False), token=TOKEN)
    asked: list[PublicationPlan] = []
    with pytest.raises(PublicationRefused, match="not confirmed"):
        push(PushConfig(folder=export, repo_id="tester/x", private=False), token=TOKEN, confirm=lambda plan: asked.append(plan) or False)
    assert asked[0].passages == 7 and asked[0].documents == 1 and asked[0].questions == 5


def test_cli_confirmation_asks_on_a_terminal_and_refuses_without_one(monkeypatch):
    import typer

    from sdg_program.cli import push as push_cli
    from sdg_program.hub import PublicationRefused

    plan = PublicationPlan(repo_id="tester/x", passages=3, documents=2, questions=4)
    assert push_cli.confirm_publication(plan, yes=True) is True
    monkeypatch.setattr(push_cli.sys.stdin, "isatty", lambda: False, raising=False)
    with pytest.raises(PublicationRefused, match="no terminal"):
        push_cli.confirm_publication(plan, yes=False)
    monkeypatch.setattr(push_cli.sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(typer, "confirm", lambda *args, **kwargs: True)
    assert push_cli.confirm_publication(plan, yes=False) is True
