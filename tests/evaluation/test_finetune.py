"""`sdg-program finetune`: real (tiny) training runs, the errors a user can meet, the report and the model push.

The training data is a synthetic export, written in convert's exact format: made-up towns, each
with three passages (its founder, its harbour's exports, its council tower), and questions that
name the aspect with a made-up word ("what is the velk of Quenrith?" means its founder). The
base model matches the town name but cannot know what "velk" means, so it ranks the town's three
passages almost at random; a model trained on other towns learns the three words. Test towns
never appear in training, so a gain on them is generalisation, and the test can fail.

Training runs are marked slow and kept to a handful of steps on short texts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sdg_program.core.errors import ExportFolderError, HubError, MissingInputError, ModelUnavailableError, OutputExists, UserError
from sdg_program.evaluation.finetune_config import DataCounts, FinetuneConfig, FinetuneResult, FolderComparison, Validation
from sdg_program.evaluation.finetune_data import read_training_data
from sdg_program.evaluation.finetune_report import SECTION_END, SECTION_START, update_report_html
from sdg_program.evaluation.retrieval import RetrieverScores
from tests.conftest import REPO
from tests.hub_model_server import FakeModelHub

ASPECTS = {
    "velk": "{town} was founded by a sailor named {person} who arrived from the northern islands.",
    "drasp": "The harbour of {town} ships {goods} to distant markets every spring.",
    "quorble": "The council of {town} meets in a tall tower built from {stone}.",
}
PEOPLE = ["Imma Dorrel", "Tavi Orsk", "Belen Mott", "Ysa Korrin", "Odo Fenn", "Mira Sallow", "Cato Brisk", "Lune Harrow"]
GOODS = ["copper ingots", "dried figs", "woven baskets", "salted fish", "blue dye", "amber beads", "iron nails", "olive oil"]
STONES = ["black basalt", "pale limestone", "red sandstone", "grey granite", "green marble", "white chalk", "dark slate", "yellow ochre"]
REPORT_PAGE = "<!DOCTYPE html>\n<html><body><h1>Conversion report</h1>\n</body></html>\n"


# ---------------------------------------------------------------------------
# a synthetic convert export
# ---------------------------------------------------------------------------


def town(index: int) -> str:
    onset = ["qu", "v", "th", "dr", "m", "z", "k", "br", "s", "l", "gr", "n"][index % 12]
    vowel = ["e", "a", "o", "i", "u", "ae"][(index // 3) % 6]
    coda = ["nrith", "ldor", "sk", "mbar", "vell", "rnok", "stin", "phar"][(index // 2) % 8]
    return (onset + vowel + coda).capitalize() + ["", "ia", "on", "ey"][index % 4]


def passages(index: int) -> dict[str, str]:
    facts = {"town": town(index), "person": PEOPLE[index * 3 % 8], "goods": GOODS[index * 5 % 8], "stone": STONES[index * 7 % 8]}
    return {aspect: template.format(**facts) for aspect, template in ASPECTS.items()}


def doc_id(text: str) -> str:
    return "d_" + hashlib.sha256(text.encode()).hexdigest()[:16]


def question(index: int, aspect: str) -> dict:
    """A train/val example: the aspect's passage is positive, the town's other passages are its hard negatives."""
    texts = passages(index)
    return {"question_id": f"q{index}_{aspect}", "question": f"In the registry, what is the {aspect} of {town(index)}?", "corpus_id": "towns",
            "pos_doc": [{"id": doc_id(texts[aspect])}], "neg_doc": [{"id": doc_id(text)} for other, text in texts.items() if other != aspect]}


def write_export(folder: Path, train: range, val: range, test: range, *, report: bool = True) -> Path:
    """An X_train_eval/ folder in convert's format: train/val questions, the training corpus, eval_beir/ with the test towns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    training_texts = [text for index in [*train, *val] for text in passages(index).values()]
    (folder / "corpus").mkdir(parents=True)
    pq.write_table(pa.table({"id": [doc_id(text) for text in training_texts], "text": training_texts}), folder / "corpus" / "train.parquet")
    for name, towns in (("train.json", train), ("val.json", val)):
        write_questions(folder / name, [question(index, aspect) for index in towns for aspect in ASPECTS])
    beir = folder / "eval_beir"
    (beir / "qrels").mkdir(parents=True)
    all_texts = training_texts + [text for index in test for text in passages(index).values()]
    (beir / "corpus.jsonl").write_text("".join(json.dumps({"_id": doc_id(text), "title": "", "text": text}) + "\n" for text in all_texts))
    queries = [question(index, aspect) for index in test for aspect in ASPECTS]
    (beir / "queries.jsonl").write_text("".join(json.dumps({"_id": q["question_id"], "text": q["question"]}) + "\n" for q in queries))
    qrels = ["query-id\tcorpus-id\tscore"] + [f"{q['question_id']}\t{q['pos_doc'][0]['id']}\t1" for q in queries]
    (beir / "qrels" / "test.tsv").write_text("\n".join(qrels) + "\n")
    if report:
        (folder / "report.html").write_text(REPORT_PAGE)
    return folder


def write_questions(path: Path, examples: list[dict]) -> None:
    path.write_text(json.dumps({"corpus": {"path": "./corpus/"}, "data": examples}, indent=1))


def edit_questions(path: Path, change) -> None:
    data = json.loads(path.read_text())
    data["data"] = [change(number, example) for number, example in enumerate(data["data"])]
    path.write_text(json.dumps(data))


def finetune_app() -> typer.Typer:
    from sdg_program.cli.finetune import finetune_command

    app = typer.Typer()
    app.command("finetune")(finetune_command)
    return app


# ---------------------------------------------------------------------------
# a real training run, shared by the tests that read its outputs
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """18 training towns (54 questions), 3 validation towns, 6 test towns; 7 steps of batch 8."""
    from sdg_program.evaluation import finetune

    export = write_export(tmp_path_factory.mktemp("towns") / "towns_train_eval", train=range(0, 18), val=range(18, 21), test=range(21, 27))
    config = FinetuneConfig(export_dir=export, epochs=1, batch_size=8, learning_rate=3e-4, warmup_ratio=0.0, num_negatives=1, seed=42)
    return export, finetune(config)


@pytest.mark.slow
def test_tuned_model_beats_the_base_on_held_out_towns(trained):
    _, result = trained
    [comparison] = result.comparisons
    assert comparison.queries == 18
    assert comparison.tuned.ndcg_at_10 > comparison.base.ndcg_at_10 + 0.1, (comparison.base, comparison.tuned)
    assert comparison.tuned.mrr_at_10 > comparison.base.mrr_at_10
    assert result.validation is not None and result.validation.questions == 9
    assert result.validation.best > result.validation.before  # the kept checkpoint is better than the base on val.json too


@pytest.mark.slow
def test_saved_model_loads_offline_and_differs_from_the_base(trained):
    from sentence_transformers import SentenceTransformer

    from sdg_program.backends.embedder import load_embedder

    export, result = trained
    assert Path(result.output_dir) == export / "model"
    tuned = SentenceTransformer(result.output_dir, device="cpu", local_files_only=True)
    sentence = ["In the registry, what is the velk of Quenrith?"]
    assert abs(tuned.encode(sentence) - load_embedder().encode(sentence)).max() > 1e-3
    modes = {path.name: path.stat().st_mode & 0o777 for path in (export / "model").iterdir() if path.is_file()}
    assert len(set(modes.values())) == 1, modes  # the weights are as readable as the config files
    card = (export / "model" / "README.md").read_text()
    assert "base_model: sentence-transformers/all-MiniLM-L6-v2" in card
    assert "## Fine-tuned with sdg-program" in card and "`towns_train_eval`" in card
    assert "| towns_train_eval/eval_beir | nDCG@10 |" in card


@pytest.mark.slow
def test_finetune_json_report_section_and_no_leftovers(trained):
    export, result = trained
    written = json.loads((export / "finetune.json").read_text())
    assert written["comparisons"][0]["base"]["ndcg_at_10"] == result.comparisons[0].base.ndcg_at_10
    assert written["comparisons"][0]["tuned"]["retriever"] == "tuned"
    assert written["comparisons"][0]["bm25"]["kind"] == "bm25"
    assert written["data"] == {"train_questions": 54, "train_rows": 54, "val_questions": 9, "corpus_passages": 63,
                               "negatives_per_row": 1, "rows_short_of_negatives": 0, "rows_without_negatives": 0}
    assert written["settings"]["batch_size"] == 8 and written["steps"] == 7
    assert written["versions"]["sentence-transformers"] and written["seconds"]["train"] > 0
    page = (export / "report.html").read_text()
    assert page.count(SECTION_START) == 1 and page.index(SECTION_END) < page.index("</body>")
    assert "data:image/png;base64," in page and "Fine-tuning: base vs tuned" in page
    assert not [path.name for path in export.iterdir() if path.name.startswith(".")]  # no working folder, no temporary file


@pytest.mark.slow
def test_an_existing_model_folder_is_refused_without_overwrite(trained):
    from sdg_program.evaluation import finetune

    export, _ = trained
    before = (export / "model" / "model.safetensors").stat().st_mtime_ns
    with pytest.raises(OutputExists, match="--overwrite"):
        finetune(FinetuneConfig(export_dir=export))
    assert (export / "model" / "model.safetensors").stat().st_mtime_ns == before


@pytest.mark.slow
def test_cli_without_validation_with_cached_loss_unrolled_positives_short_negatives_and_overwrite(tmp_path):
    export = write_export(tmp_path / "small_train_eval", train=range(0, 6), val=range(0, 0), test=range(6, 8), report=False)
    second = tmp_path / "second_beir"
    shutil.copytree(export / "eval_beir", second)

    def vary(number: int, example: dict) -> dict:
        if number % 3 == 0:
            example["pos_doc"].append(example["neg_doc"].pop())  # two positives, one negative
        if number % 3 == 1:
            example["neg_doc"] = []  # no mined negative at all
        return example

    edit_questions(export / "train.json", vary)
    (export / "model").mkdir()
    (export / "model" / "old.txt").write_text("an earlier model")
    args = [str(export), "--epochs", "1", "--batch-size", "16", "--loss", "cached-mnrl", "--mini-batch-size", "8", "--num-negatives", "2",
            "--unroll-positives", "--eval-beir", str(second), "--no-bm25", "--overwrite", "--max-seq-length", "32"]
    result = CliRunner().invoke(finetune_app(), args)
    assert result.exit_code == 0, result.output
    assert "without validation" in result.output
    written = json.loads((export / "finetune.json").read_text())
    assert written["validation"] is None
    assert written["data"]["train_rows"] == 24 and written["data"]["train_questions"] == 18  # 6 questions have two positives
    assert written["data"]["negatives_per_row"] == 2
    assert written["data"]["rows_short_of_negatives"] == 18 and written["data"]["rows_without_negatives"] == 6
    assert [Path(item["folder"]).name for item in written["comparisons"]] == ["eval_beir", "second_beir"]
    assert written["comparisons"][0]["bm25"] is None
    assert not (export / "model" / "old.txt").exists() and (export / "model" / "modules.json").is_file()
    assert not (export / "report.html").exists()


# ---------------------------------------------------------------------------
# errors, before any training
# ---------------------------------------------------------------------------


@pytest.fixture
def export(tmp_path) -> Path:
    return write_export(tmp_path / "x_train_eval", train=range(0, 4), val=range(4, 5), test=range(5, 6))


def test_a_missing_folder_says_to_run_convert(tmp_path):
    with pytest.raises(MissingInputError, match="sdg-program convert"):
        read_training_data(tmp_path / "nowhere", num_negatives=1, unroll_positives=False, seed=0)


def test_missing_or_empty_train_json_says_to_run_convert(export):
    write_questions(export / "train.json", [])
    with pytest.raises(ExportFolderError, match="holds no questions.*sdg-program convert"):
        read_training_data(export, num_negatives=1, unroll_positives=False, seed=0)
    (export / "train.json").unlink()
    with pytest.raises(ExportFolderError, match="has no train.json; run `sdg-program convert`"):
        read_training_data(export, num_negatives=1, unroll_positives=False, seed=0)


def test_ids_missing_from_the_corpus_are_named_up_to_five(export):
    edit_questions(export / "train.json", lambda number, example: {**example, "neg_doc": [{"id": f"d_gone{number}"}]})
    with pytest.raises(ExportFolderError) as caught:
        read_training_data(export, num_negatives=1, unroll_positives=False, seed=0)
    message = str(caught.value)
    assert message.startswith("12 passage ID(s)") and "d_gone0, d_gone1, d_gone2, d_gone3, d_gone4 (and 7 more)" in message
    assert "d_gone5" not in message


def test_fewer_negatives_than_asked_are_filled_and_counted(export, caplog):
    edit_questions(export / "train.json", lambda number, example: {**example, "neg_doc": example["neg_doc"][: number % 3]})
    data = read_training_data(export, num_negatives=5, unroll_positives=False, seed=0)
    assert data.counts.negatives_per_row == 2  # the most any question has
    assert (data.counts.rows_short_of_negatives, data.counts.rows_without_negatives) == (12, 4)
    rows = data.rows
    assert list(rows) == ["anchor", "positive", "negative_1", "negative_2"]
    one = 1  # the second question has one negative: it is repeated
    assert rows["negative_1"][one] == rows["negative_2"][one] != rows["positive"][one]
    assert all(negative != positive for column in ("negative_1", "negative_2") for negative, positive in zip(rows[column], rows["positive"]))
    assert "fewer than the 5 hard negatives" in caplog.text and "4 have none" in caplog.text


def test_a_base_model_not_available_offline_says_how_to_get_it(export):
    from sdg_program.evaluation import finetune

    with pytest.raises(ModelUnavailableError, match="HF_HUB_OFFLINE=0") as caught:
        finetune(FinetuneConfig(export_dir=export, base_model="nobody/no-such-model-xyz"))
    assert "local sentence-transformers folder" in str(caught.value)
    assert not (export / "model").exists() and not (export / "finetune.json").exists()


def test_output_folder_checks(export):
    from sdg_program.evaluation import finetune

    (export / "model").mkdir()
    with pytest.raises(OutputExists, match="already exists; pass --overwrite"):
        finetune(FinetuneConfig(export_dir=export))
    with pytest.raises(UserError, match="would replace the export folder"):
        finetune(FinetuneConfig(export_dir=export, output_dir=export, overwrite=True))


def test_cli_errors_exit_2_with_the_fix(tmp_path, export):
    app = finetune_app()
    missing = CliRunner().invoke(app, [str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "sdg-program convert" in missing.output
    (export / "model").mkdir()
    exists = CliRunner().invoke(app, [str(export)])
    assert exists.exit_code == 2 and "--overwrite" in exists.output
    invalid = CliRunner().invoke(app, [str(export), "--learning-rate", "0"])
    assert invalid.exit_code == 2 and "Invalid options" in invalid.output


def test_cli_defaults_come_from_the_config():
    import inspect

    from sdg_program.cli.finetune import finetune_command

    parameters = inspect.signature(finetune_command).parameters
    for name, field in FinetuneConfig.model_fields.items():
        if name in parameters and name not in ("export_dir", "eval_beir"):
            assert parameters[name].default == field.default, name


# ---------------------------------------------------------------------------
# report.html
# ---------------------------------------------------------------------------


def fake_result(ndcg: float) -> FinetuneResult:
    def scores(name: str, value: float, kind: str = "dense") -> RetrieverScores:
        return RetrieverScores(retriever=name, kind=kind, ndcg_at_10=value, recall_at_10=0.9, recall_at_100=1.0, mrr_at_10=value, seconds=1.0)

    comparison = FolderComparison(folder="/x/towns_train_eval/eval_beir", queries=3, documents=9, base=scores("base", 0.5), tuned=scores("tuned", ndcg), bm25=scores("BM25", 0.4, "bm25"))
    counts = DataCounts(train_questions=3, train_rows=3, val_questions=1, corpus_passages=9, negatives_per_row=1)
    return FinetuneResult(output_dir="/x/model", base_model="base", device="cpu", settings={"epochs": 1}, data=counts,
                          validation=Validation(questions=1, metric="val_cosine_ndcg@10", before=0.5, best=0.7, best_step=3),
                          steps=3, comparisons=[comparison], seconds={"train": 1.0}, versions={})


def test_report_section_is_inserted_before_body_and_replaced_on_rerun(tmp_path):
    page = tmp_path / "report.html"
    assert update_report_html(page, fake_result(0.75)) is False  # no page: skipped
    page.write_text(REPORT_PAGE)
    assert update_report_html(page, fake_result(0.75))
    assert update_report_html(page, fake_result(0.8125))
    text = page.read_text()
    assert text.count(SECTION_START) == 1 and text.count(SECTION_END) == 1
    assert "0.8125" in text and "0.7500" not in text and "+0.3125" in text
    assert text.startswith("<!DOCTYPE html>\n<html><body><h1>Conversion report</h1>\n" + SECTION_START)
    assert text.endswith(SECTION_END + "\n</body></html>\n")


# ---------------------------------------------------------------------------
# push_model against the fake Hub
# ---------------------------------------------------------------------------

TOKEN = "hf_PlantedModelToken0123456789abcdefXYZ"
PUSH = (
    "import sys\n"
    "from sdg_program.core.errors import HubError\n"
    "from sdg_program.hub.model_upload import push_model\n"
    "try:\n"
    "    result = push_model(sys.argv[1], sys.argv[2], private=sys.argv[3] == 'private')\n"
    "except HubError as error:\n"
    "    print(error, file=sys.stderr)\n"
    "    sys.exit(1)\n"
    "print(result.url)\n"
)


@pytest.fixture
def hub():
    server = FakeModelHub(user="tester", token=TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def model_folder(tmp_path) -> Path:
    """A small stand-in for a saved model: the files push_model checks for, and a binary weights file."""
    folder = tmp_path / "model"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "modules.json").write_text(json.dumps([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}]))
    (folder / "config_sentence_transformers.json").write_text("{}")
    (folder / "1_Pooling" / "config.json").write_text("{}")
    (folder / "README.md").write_text("---\nlibrary_name: sentence-transformers\n---\n# tuned\n")
    (folder / "model.safetensors").write_bytes(bytes(range(256)) * 64)
    return folder


def run_push_model(hub: FakeModelHub, tmp_path: Path, folder: Path, repo_id: str, visibility: str = "public", **env_changes: str | None) -> subprocess.CompletedProcess:
    """push_model in a fresh interpreter whose Hub is the fake one (huggingface_hub reads HF_ENDPOINT at import)."""
    return run_against_hub(hub, tmp_path, ["-c", PUSH, str(folder), repo_id, visibility], **env_changes)


def run_against_hub(hub: FakeModelHub, tmp_path: Path, arguments: list[str], **env_changes: str | None) -> subprocess.CompletedProcess:
    """``python ARGUMENTS`` with the fake Hub as HF_ENDPOINT, a fresh HF home and the test token."""
    home = tmp_path / "home"
    (home / "hf").mkdir(parents=True, exist_ok=True)
    env = {name: value for name, value in os.environ.items() if not name.startswith(("HF_", "HUGGING", "TRANSFORMERS_"))}
    env.update({"HF_ENDPOINT": hub.endpoint, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                "HOME": str(home), "HF_HOME": str(home / "hf"), "PYTHONPATH": str(REPO), "HF_TOKEN": TOKEN})
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run([sys.executable, *arguments], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_push_model_uploads_the_folder_as_a_model_repo(hub, model_folder, tmp_path):
    result = run_push_model(hub, tmp_path, model_folder, "tester/towns-retriever", "private")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{hub.endpoint}/tester/towns-retriever"
    assert "tester/towns-retriever" in hub.model_repos and hub.repos["tester/towns-retriever"].private
    files = hub.files("tester/towns-retriever")
    assert {"README.md", "modules.json", "config_sentence_transformers.json", "1_Pooling/config.json", "model.safetensors"} <= set(files)
    assert files["model.safetensors"] == (model_folder / "model.safetensors").read_bytes()
    assert hub.unhandled == []
    assert TOKEN not in result.stdout + result.stderr
    assert all(TOKEN.encode() not in body for body in hub.received_bodies())


@pytest.mark.slow
def test_cli_push_with_model_uploads_a_private_model_repo(hub, model_folder, tmp_path):
    """`sdg-program push FOLDER --repo-id ... --model` goes through the same upload as push_model."""
    result = run_against_hub(hub, tmp_path, ["-m", "sdg_program", "push", str(model_folder), "--repo-id", "tester/cli-retriever", "--private", "--model"])
    assert result.returncode == 0, result.stderr
    assert f"to {hub.endpoint}/tester/cli-retriever" in result.stdout
    assert "tester/cli-retriever" in hub.model_repos and hub.repos["tester/cli-retriever"].private
    assert "model.safetensors" in hub.files("tester/cli-retriever")
    assert TOKEN not in result.stdout + result.stderr


def test_push_model_refusals_say_what_to_do(hub, model_folder, tmp_path):
    offline = run_push_model(hub, tmp_path, model_folder, "tester/a", HF_HUB_OFFLINE="1")
    assert offline.returncode == 1 and "HF_HUB_OFFLINE is set" in offline.stderr
    no_token = run_push_model(hub, tmp_path, model_folder, "tester/a", HF_TOKEN=None)
    assert no_token.returncode == 1 and "HF_TOKEN" in no_token.stderr
    not_a_model = run_push_model(hub, tmp_path, tmp_path, "tester/a")
    assert not_a_model.returncode == 1 and "not a saved sentence-transformers model" in not_a_model.stderr
    assert hub.requests == []  # all refused before any request
    hub.create_repo("tester/open", private=False)
    public = run_push_model(hub, tmp_path, model_folder, "tester/open", "private")
    assert public.returncode == 1 and "already exists and is public" in public.stderr
    assert TOKEN not in offline.stderr + no_token.stderr + public.stderr


def test_push_model_rejects_a_bad_repo_id_in_process(model_folder):
    from sdg_program.hub.model_upload import push_model

    with pytest.raises(HubError, match="not a valid repository name"):
        push_model(model_folder, "not a repo id")
