"""`sdg-program push` against a local fake Hub (tests/hub_server.py), with no internet.

Pushes run in a subprocess with HF_ENDPOINT pointing at the fake Hub, so huggingface_hub
and datasets read the endpoint at import exactly as they do against the real Hub; the
only difference is HF_HUB_DISABLE_XET=1 (LFS transfer instead of Xet, which needs a CAS
server). HOME, HF_HOME and TMPDIR are private to each test so every file the push writes
can be searched for the planted token.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from sdg_program.core.errors import ExportFolderError, HubError
from sdg_program.hub.card import CardFacts, build_card
from sdg_program.hub.upload import content_id, push_export, read_export
from tests.conftest import REPO
from tests.hub_server import FakeHub

TOKEN = "hf_PlantedTestToken0123456789abcdefXYZ"
PRIVATE_PATH = "/home/alice/private-contracts"
CLI = (
    "import typer\n"
    "from sdg_program.cli.evaluate import eval_command\n"
    "from sdg_program.cli.push import push_command\n"
    "app = typer.Typer()\n"
    "app.command('push')(push_command)\n"
    "app.command('eval')(eval_command)\n"
    "app()\n"
)

PASSAGES = [
    "Glaciers form where more snow falls in winter than melts in summer.",
    "Compacted snow turns into glacial ice that slowly flows downhill.",
    "Yeast ferments the sugars in dough and releases carbon dioxide.",
    "Bread rises because trapped carbon dioxide expands in the oven.",
    "The moon's gravity raises two tidal bulges in the oceans.",
    "Spring tides happen when the sun and moon line up.",
]
TEST_ONLY_PASSAGE = "Neap tides happen when the sun and moon pull at right angles."


# ---------------------------------------------------------------------------
# fixtures: a convert output folder, the fake Hub, a push subprocess
# ---------------------------------------------------------------------------


def write_export(folder: Path, *, with_run: bool = True) -> dict[str, str]:
    """A small X_train_eval/ folder in exactly the convert format; returns passage text -> ID."""
    import pyarrow as pa

    ids = {text: content_id(text) for text in [*PASSAGES, TEST_ONLY_PASSAGE]}
    (folder / "corpus").mkdir(parents=True)
    pq.write_table(pa.table({"id": [ids[text] for text in PASSAGES], "text": PASSAGES}), folder / "corpus" / "train.parquet")
    (folder / "corpus" / "merlin_metadata.json").write_text(json.dumps({"class": "TextQADataset", "corpus_id": "demo_corpus"}))

    def example(question_id: str, question: str, positives: list[int], negatives: list[int]) -> dict:
        return {"question_id": question_id, "question": question, "corpus_id": "demo_corpus",
                "pos_doc": [{"id": ids[PASSAGES[i]]} for i in positives], "neg_doc": [{"id": ids[PASSAGES[i]]} for i in negatives]}

    train = [example("q_train1", "How does glacial ice form?", [0, 1], [2, 4]), example("q_train2", "Why does bread rise?", [3], [0])]
    val = [example("q_val1", "What makes dough release gas?", [2], [5])]
    for name, rows in (("train.json", train), ("val.json", val)):
        (folder / name).write_text(json.dumps({"corpus": {"path": "./corpus/"}, "data": rows}, indent=2))

    beir = folder / "eval_beir"
    (beir / "qrels").mkdir(parents=True)
    documents = [{"_id": ids[text], "title": "", "text": text, "metadata": {"source_id": "doc.md"}} for text in [*PASSAGES, TEST_ONLY_PASSAGE]]
    (beir / "corpus.jsonl").write_text("".join(json.dumps(document) + "\n" for document in documents))
    queries = [
        {"_id": "q_test1", "text": "When are tides weakest?", "metadata": {"answer": "at right angles", "query_type": "contextual", "hop_count": 1, "quality_score": 8.5}},
        {"_id": "q_test2", "text": "What raises tidal bulges and when are they largest?", "metadata": {"answer": "the moon; when aligned", "query_type": "multi_hop", "hop_count": 2, "quality_score": 9.0}},
    ]
    (beir / "queries.jsonl").write_text("".join(json.dumps(query) + "\n" for query in queries))
    qrels = ["query-id\tcorpus-id\tscore", f"q_test1\t{ids[TEST_ONLY_PASSAGE]}\t1", f"q_test2\t{ids[PASSAGES[4]]}\t1", f"q_test2\t{ids[PASSAGES[5]]}\t1"]
    (beir / "qrels" / "test.tsv").write_text("\n".join(qrels) + "\n")

    report = {"input_file": f"{PRIVATE_PATH}/generated/records.jsonl", "output_dir": f"{PRIVATE_PATH}/out", "corpus_id": "demo_corpus",
              "pairs_in": 9, "pairs_kept": 5, "pairs_dropped": {"low_quality": 3, "invalid": 1}, "corpus_documents": 7,
              "splits": {"train": {"queries": 2}, "val": {"queries": 1}, "test": {"queries": 2}}}
    (folder / "report.json").write_text(json.dumps(report))
    if with_run:
        run = {
            "status": "complete",
            "config": {"chunking": {"input_dir": PRIVATE_PATH, "sentences_per_chunk": 5, "multi_doc": False},
                       "generation": {"num_pairs": 7, "min_hops": 1, "max_hops": 3, "query_counts": {"multi_hop": 3, "structural": 2, "contextual": 2}},
                       "lm": "local", "judge_lm": None, "api_base": "http://user:pw@internal.example:8000/v1", "embedder": None,
                       "temperature": 0.0, "seed": 0, "max_tokens": 2048, "output_dir": f"{PRIVATE_PATH}/generated"},
            "models": {"lm": {"kind": "local", "model": "SmolLM2", "model_file": "SmolLM2-135M-Instruct.Q4_1.gguf"},
                       "judge_lm": {"kind": "local", "model": "SmolLM2", "model_file": "SmolLM2-135M-Instruct.Q4_1.gguf"},
                       "embedder": "all-MiniLM-L6-v2 (embedded)", "self_judging": True},
            "counts": {"rows_done": 3, "pairs_generated": 12, "pairs_valid": 9, "judge_overall_mean": 7.25},
        }
        (folder / "run.json").write_text(json.dumps(run))
    return ids


@pytest.fixture
def hub():
    server = FakeHub(user="tester", token=TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def export(tmp_path) -> Path:
    folder = tmp_path / "demo_train_eval"
    write_export(folder)
    return folder


def run_push(hub: FakeHub, tmp_path: Path, *args: str, token_in_env: bool = True, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`sdg-program push` in a fresh interpreter whose Hub is the fake one and whose HOME is private."""
    home = tmp_path / "home"
    for name in ("hf", "tmp", "cache"):
        (home / name).mkdir(parents=True, exist_ok=True)
    env = {name: value for name, value in os.environ.items() if not name.startswith(("HF_", "HUGGING", "TRANSFORMERS_"))}
    env.update({
        "HF_ENDPOINT": hub.endpoint, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
        "HOME": str(home), "HF_HOME": str(home / "hf"), "TMPDIR": str(home / "tmp"), "XDG_CACHE_HOME": str(home / "cache"),
        "COLUMNS": "200", "PYTHONPATH": str(REPO),
    })
    if token_in_env:
        env["HF_TOKEN"] = TOKEN
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-c", CLI, "push", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)


def front_matter(readme: str) -> dict:
    assert readme.startswith("---\n"), readme[:200]
    return yaml.safe_load(readme.split("---\n")[1])


def rows(parquet: bytes) -> list[dict]:
    return pq.read_table(io.BytesIO(parquet)).to_pylist()


def assert_token_nowhere(hub: FakeHub, tmp_path: Path, *outputs: str, planted: Path | None = None) -> None:
    """The token is in no received file or request body, no file under tmp_path (but the one we planted), no output."""
    for output in outputs:
        assert TOKEN not in output
    for repo_id in hub.repos:
        for path, content in hub.files(repo_id).items():
            assert TOKEN.encode() not in content, path
    for body in hub.received_bodies():
        assert TOKEN.encode() not in body
    scanned = 0
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.is_symlink() and path != planted:
            assert TOKEN.encode() not in path.read_bytes(), path
            scanned += 1
    assert scanned > 5  # the export folder and whatever the push wrote were really searched


# ---------------------------------------------------------------------------
# pushing to the fake Hub
# ---------------------------------------------------------------------------


def test_push_uploads_splits_corpus_and_card_without_leaking_the_token(hub, export, tmp_path):
    result = run_push(hub, tmp_path, str(export), "--repo-id", "tester/demo", "--license", "cc-by-4.0", "--verbose", extra_env={"HF_DEBUG": "1"})
    assert result.returncode == 0, result.stderr
    assert "Uploading the corpus" in result.stderr  # verbose logs (and huggingface_hub's debug output) are searched too
    assert f"{hub.endpoint}/datasets/tester/demo" in result.stdout
    assert hub.unhandled == []

    files = hub.files("tester/demo")
    assert {"README.md", "data/train-00000-of-00001.parquet", "data/validation-00000-of-00001.parquet",
            "data/test-00000-of-00001.parquet", "corpus/corpus-00000-of-00001.parquet"} <= set(files)
    ids = {text: content_id(text) for text in [*PASSAGES, TEST_ONLY_PASSAGE]}

    train = rows(files["data/train-00000-of-00001.parquet"])
    assert [row["question_id"] for row in train] == ["q_train1", "q_train2"]
    assert train[0]["pos_doc_ids"] == [ids[PASSAGES[0]], ids[PASSAGES[1]]]
    assert train[0]["neg_doc_ids"] == [ids[PASSAGES[2]], ids[PASSAGES[4]]]
    assert [row["question_id"] for row in rows(files["data/validation-00000-of-00001.parquet"])] == ["q_val1"]
    test = {row["question_id"]: row for row in rows(files["data/test-00000-of-00001.parquet"])}
    assert test["q_test1"]["pos_doc_ids"] == [ids[TEST_ONLY_PASSAGE]]
    assert test["q_test2"]["pos_doc_ids"] == [ids[PASSAGES[4]], ids[PASSAGES[5]]]
    assert json.loads(test["q_test2"]["metadata"])["hop_count"] == 2
    corpus = {row["id"]: row for row in rows(files["corpus/corpus-00000-of-00001.parquet"])}
    assert len(corpus) == 7 and corpus[ids[PASSAGES[3]]]["text"] == PASSAGES[3]
    assert corpus[ids[TEST_ONLY_PASSAGE]]["in_training_corpus"] is False
    assert sum(row["in_training_corpus"] for row in corpus.values()) == 6

    readme = files["README.md"].decode()
    metadata = front_matter(readme)
    assert metadata["license"] == "cc-by-4.0"
    assert metadata["task_categories"] == ["text-retrieval"]
    configs = {config["config_name"]: config["data_files"] for config in metadata["configs"]}
    assert configs["default"] == [{"split": "train", "path": "data/train-*"}, {"split": "validation", "path": "data/validation-*"}, {"split": "test", "path": "data/test-*"}]
    assert configs["corpus"] == [{"split": "corpus", "path": "corpus/corpus-*"}]
    infos = {info["config_name"]: info for info in metadata["dataset_info"]}  # merged in by datasets' push_to_hub
    assert {split["name"]: split["num_examples"] for split in infos["default"]["splits"]} == {"train": 2, "validation": 1, "test": 2}
    assert "| train | 2 |" in readme and "Corpus: 7 passages (6 in the training corpus)" in readme
    assert "`pairs_kept` | 5" in readme and "`pairs_generated` | 12" in readme  # from report.json and run.json
    assert "SmolLM2-135M-Instruct" in readme and "all-MiniLM-L6-v2" in readme and "[Apache-2.0]" in readme
    assert "self-grading" in readme and "`generation.num_pairs` | 7" in readme
    assert PRIVATE_PATH not in readme and "internal.example" not in readme and "user:pw" not in readme

    # the token travelled only as the Authorization header of Hub API calls, never to the LFS storage URLs
    api_calls = [request for request in hub.requests if request.path.startswith("/api/")]
    assert api_calls and all(request.authorization == f"Bearer {TOKEN}" for request in api_calls)
    assert all(request.authorization is None for request in hub.requests if request.path.startswith("/lfs/objects/"))
    assert_token_nowhere(hub, tmp_path, result.stdout, result.stderr)


def test_pushed_card_configs_load_with_datasets(hub, export, tmp_path):
    """The README's `configs` really describe the uploaded files: datasets loads them from a copy of the repo."""
    from datasets import load_dataset

    result = run_push(hub, tmp_path, str(export), "--repo-id", "tester/loadable")
    assert result.returncode == 0, result.stderr
    copy = tmp_path / "copy"
    for path, content in hub.files("tester/loadable").items():
        (copy / path).parent.mkdir(parents=True, exist_ok=True)
        (copy / path).write_bytes(content)
    questions = load_dataset(str(copy))
    corpus = load_dataset(str(copy), "corpus", split="corpus")
    assert {split: len(questions[split]) for split in questions} == {"train": 2, "validation": 1, "test": 2}
    text_of = dict(zip(corpus["id"], corpus["text"]))
    assert [text_of[doc_id] for doc_id in questions["train"][1]["pos_doc_ids"]] == [PASSAGES[3]]
    readme = (copy / "README.md").read_text()
    assert front_matter(readme)["license"] == "other" and "The licence is not set" in readme
    assert "--license" in result.stderr  # the CLI reminds the user too


def test_push_with_saved_login_creates_private_repo_and_repushes(hub, export, tmp_path):
    login = tmp_path / "home" / "hf" / "token"
    login.parent.mkdir(parents=True)
    login.write_text(TOKEN)  # what `hf auth login` saves
    first = run_push(hub, tmp_path, str(export), "--repo-id", "tester/secret", "--private", token_in_env=False)
    assert first.returncode == 0, first.stderr
    assert hub.repos["tester/secret"].private is True
    commits = len(hub.repos["tester/secret"].commits)
    second = run_push(hub, tmp_path, str(export), "--repo-id", "tester/secret", "--private", token_in_env=False)
    assert second.returncode == 0, second.stderr
    assert len(hub.repos["tester/secret"].commits) > commits
    assert sorted(hub.files("tester/secret")) == [".gitattributes", "README.md", "corpus/corpus-00000-of-00001.parquet",
                                                  "data/test-00000-of-00001.parquet", "data/train-00000-of-00001.parquet",
                                                  "data/validation-00000-of-00001.parquet"]
    assert hub.unhandled == []
    assert_token_nowhere(hub, tmp_path, first.stdout, first.stderr, second.stdout, second.stderr, planted=login)
    assert login.read_text() == TOKEN  # the login file is read, never rewritten


def test_push_refuses_private_flag_on_an_existing_public_repo(hub, export, tmp_path):
    hub.create_repo("tester/open", private=False)
    result = run_push(hub, tmp_path, str(export), "--repo-id", "tester/open", "--private")
    assert result.returncode == 1
    assert "already exists and is public" in result.stderr
    assert list(hub.files("tester/open")) == [".gitattributes"]  # nothing uploaded


def test_push_without_token_explains_how_to_log_in(hub, export, tmp_path):
    result = run_push(hub, tmp_path, str(export), "--repo-id", "tester/demo", token_in_env=False)
    assert result.returncode == 1
    assert "No Hugging Face token" in result.stderr and "hf auth login" in result.stderr and "HF_TOKEN" in result.stderr
    assert hub.requests == []


def test_push_http_errors_are_clear_and_scrubbed(hub, export, tmp_path):
    hub.create_repo("tester/locked", private=True)
    hub.forbidden_repos.add("tester/locked")  # its 403 message echoes the Authorization header back
    result = run_push(hub, tmp_path, str(export), "--repo-id", "tester/locked")
    assert result.returncode == 1
    assert "403" in result.stderr and "write access" in result.stderr
    assert "<redacted>" in result.stderr  # the echoed token was there, and was removed
    assert_token_nowhere(hub, tmp_path, result.stdout, result.stderr)


# ---------------------------------------------------------------------------
# local checks (no network)
# ---------------------------------------------------------------------------


def test_missing_files_are_named_before_any_upload(tmp_path):
    import typer

    from sdg_program.cli.push import push_command

    folder = tmp_path / "partial_train_eval"
    write_export(folder)
    (folder / "val.json").unlink()
    (folder / "eval_beir" / "qrels" / "test.tsv").unlink()
    with pytest.raises(ExportFolderError, match=r"missing: val\.json, eval_beir/qrels/test\.tsv"):
        read_export(folder)
    app = typer.Typer()
    app.command("push")(push_command)
    app.command("other")(lambda: None)
    result = CliRunner().invoke(app, ["push", str(tmp_path / "nowhere"), "--repo-id", "a/b"], env={"HF_TOKEN": TOKEN})
    assert result.exit_code == 2 and "is not a folder" in result.output


def test_dangling_passage_ids_are_rejected(export):
    data = json.loads((export / "train.json").read_text())
    data["data"][0]["neg_doc"].append({"id": "d_0000000000000000"})
    (export / "train.json").write_text(json.dumps(data))
    with pytest.raises(ExportFolderError, match="d_0000000000000000"):
        read_export(export)


def test_offline_mode_is_reported_before_anything_else(export, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubError, match="HF_HUB_OFFLINE"):
        push_export(export, "tester/demo", token=TOKEN)


def test_card_without_run_file_and_with_custom_models(tmp_path):
    facts = CardFacts(repo_id="org/set", pretty_name="Set", split_rows={"train": 3, "validation": 1, "test": 1}, corpus_rows=9)
    card = str(build_card(facts))
    assert front_matter(card)["license"] == "other"
    assert "No run.json was found" in card and "The licence is not set" in card
    run = {"config": {"lm": "local:/srv/models/custom.gguf", "judge_lm": "openai/gpt-4o-mini", "embedder": "/srv/models/bge-small"},
           "models": {"lm": {"kind": "local", "model_file": "custom.gguf"}, "judge_lm": {"kind": "remote", "model": "openai/gpt-4o-mini"}}}
    card = str(build_card(facts.model_copy(update={"run": run})))
    assert "| generator | custom.gguf | see the model's own terms |" in card
    assert "| judge | openai/gpt-4o-mini |" in card and "| embedder | bge-small |" in card
    assert "/srv/models" not in card
