"""No planted credential reaches any file, log or console output of the real CLI.

An API key (OPENAI_API_KEY) and a Hugging Face token (HF_TOKEN) are planted in the
environment of every command; a config YAML puts two more secrets into the endpoint URL
(`user:password@host` and `?key=`), the way users paste them. Then the whole pipeline runs
as subprocesses against the stub server and the fake Hub: a `generate` that succeeds, a
`generate` whose endpoint answers 401/500 with the Authorization header and URL echoed back
in the error body (so the exception text holds the secrets), a `generate` whose URL with a
password cannot be reached, `convert`, and `push`, all with --verbose logging. Every file
under the test's tmp dir (outputs, run.json, failures.jsonl, report.json/html, HOME, caches,
TMPDIR) and every captured stdout/stderr is searched for each secret.
`--print-resolved-config` runs in-process (CliRunner): it exits before any work.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from sdg_program.core.secrets import REDACTED, install_scrubbing, redact, scrub
from tests.hub.test_hub import TOKEN as HF_TOKEN
from tests.hub.test_hub import assert_token_nowhere
from tests.hub_server import FakeHub
from tests.openai_stub import OpenAIStub, StubRequest, StubResponse, valid_reply

# A concern suite: real subprocesses, servers or the embedded model (see pyproject's markers).
pytestmark = pytest.mark.slow

SDG = str(Path(sys.executable).parent / "sdg-program")
# No known prefix (sk-, hf_, ...): only the scrubbing of secret environment values can catch it.
API_KEY = "plantedApiKey7Xq2Lm9Vb4Rt0"
URL_USER = "alice"
URL_PASSWORD = "UrlPass3cretZk81"
URL_QUERY_KEY = "QueryKey5ecretWp47"
SECRETS = {
    "api key": API_KEY,
    "hf token": HF_TOKEN,
    "url password": URL_PASSWORD,
    "url query key": URL_QUERY_KEY,
}

DOCS = {
    "pumps.md": "The cooling pump moves water through the engine block at forty litres per minute. "
    "Operators inspect the pump seals every three months.",
    "library.md": "The city library opened its north wing in 1998. "
    "The north wing holds the map collection and a reading room for students.",
    "glaciers.md": "Glaciers form where more snow falls in winter than melts in summer. "
    "Compacted snow slowly turns into glacial ice that flows downhill.",
}


def secret_forms(secret: str) -> list[bytes]:
    """The byte strings under which ``secret`` could appear: raw, and inside a base64 Basic auth header."""
    forms = [secret.encode()]
    if secret == URL_PASSWORD:
        forms.append(base64.b64encode(f"{URL_USER}:{URL_PASSWORD}".encode()))
    return forms


def find_secrets_in_files(root: Path, secrets: dict[str, str]) -> list[tuple[str, str]]:
    """(relative path, secret name) for every file under ``root`` that holds a secret. Symlinks are not followed."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        for name, secret in secrets.items():
            if any(form in data for form in secret_forms(secret)):
                found.append((path.relative_to(root).as_posix(), name))
    return found


def find_secrets_in_text(label: str, text: str, secrets: dict[str, str]) -> list[tuple[str, str]]:
    encoded = text.encode("utf-8", "replace")
    return [(label, name) for name, secret in secrets.items() if any(form in encoded for form in secret_forms(secret))]


def count_files(root: Path) -> int:
    return sum(1 for path in root.rglob("*") if path.is_file() and not path.is_symlink())


# ---------------------------------------------------------------------------
# the helpers can fail, and scrub() removes what the CLI relies on it removing
# ---------------------------------------------------------------------------


def test_the_search_finds_each_planted_secret(tmp_path):
    """Without this, a search that silently matched nothing would pass every leak test below."""
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "log.bin").write_bytes(b"\x00\x01prefix" + API_KEY.encode() + b"suffix\xff")
    (tmp_path / "card.md").write_text(f"token: {HF_TOKEN}\nurl: http://h/v1?key={URL_QUERY_KEY}\n")
    basic = base64.b64encode(f"{URL_USER}:{URL_PASSWORD}".encode()).decode()
    (tmp_path / "headers.txt").write_text(f"Authorization: Basic {basic}\n")
    (tmp_path / "clean.txt").write_text("nothing here")
    assert find_secrets_in_files(tmp_path, SECRETS) == [
        ("card.md", "hf token"), ("card.md", "url query key"), ("deep/er/log.bin", "api key"), ("headers.txt", "url password"),
    ]
    assert find_secrets_in_text("stderr", f"... {API_KEY} ...", SECRETS) == [("stderr", "api key")]
    assert find_secrets_in_text("stdout", "clean", SECRETS) == []


def test_scrub_removes_url_credentials_environment_values_and_auth_headers(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    text = (
        f"POST http://{URL_USER}:{URL_PASSWORD}@10.0.0.1:8000/v1?key={URL_QUERY_KEY}&model=m failed: "
        f"Invalid credentials: Bearer {API_KEY}; "
        f"https://{URL_PASSWORD}@host/x?api_key={URL_QUERY_KEY}#frag; hf token {HF_TOKEN}"
    )
    cleaned = scrub(text)
    assert find_secrets_in_text("scrubbed", cleaned, SECRETS) == []
    assert "model=m" in cleaned and "10.0.0.1:8000/v1" in cleaned and "#frag" in cleaned  # only the secrets go
    assert cleaned.count(REDACTED) >= 5
    config = {"api_base": f"http://{URL_USER}:{URL_PASSWORD}@h/v1?key={URL_QUERY_KEY}", "api_key": "x", "nested": [{"token": "t"}]}
    assert find_secrets_in_text("redacted", json.dumps(redact(config)), SECRETS) == []
    assert redact(config)["nested"] == [{"token": REDACTED}]


def test_log_records_tracebacks_and_uncaught_errors_are_scrubbed(monkeypatch):
    """What the CLI installs (install_scrubbing): every log line and traceback of the process goes through scrub()."""
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    install_scrubbing()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.integration.test_secrets")
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"401 Invalid credentials: Bearer {API_KEY}")
        except RuntimeError:
            logger.error("call to %s failed", f"http://{URL_USER}:{URL_PASSWORD}@h/v1?key={URL_QUERY_KEY}", exc_info=True)
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "call to http://" in output and "RuntimeError: 401 Invalid credentials: Bearer" in output
    assert find_secrets_in_text("log", output, SECRETS) == []
    # An uncaught exception's traceback, in a fresh interpreter (sys.excepthook).
    code = f"from sdg_program.core.secrets import install_scrubbing; install_scrubbing(); raise SystemError('Bearer ' + {API_KEY!r})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, OPENAI_API_KEY=API_KEY), timeout=60)
    assert result.returncode == 1 and "SystemError: Bearer" in result.stderr
    assert find_secrets_in_text("traceback", result.stderr, SECRETS) == []


def test_print_resolved_config_reads_the_file_and_redacts_its_secrets(tmp_path):
    """`generate --config run.yaml --print-resolved-config`: the YAML is where URL secrets come in, so it must
    really be read (an enum mismatch once made --config a no-op), options given on the command line win,
    and what is printed holds no secret (nor does anything get written)."""
    from typer.testing import CliRunner

    from sdg_program.cli.app import app

    config = tmp_path / "run.yaml"
    config.write_text(
        f"lm: openai/from-yaml\napi_base: 'http://{URL_USER}:{URL_PASSWORD}@h:1/v1?key={URL_QUERY_KEY}'\n"
        f"judge_api_base: 'https://{HF_TOKEN}@judge.example/v1'\ngeneration:\n  num_pairs: 3\n  max_hops: 2\n",
        encoding="utf-8",
    )
    before = sorted(tmp_path.rglob("*"))
    args = ["generate", "--input-dir", str(tmp_path), "--output-dir", str(tmp_path / "out"), "--config", str(config), "--num-pairs", "5",
            "--print-resolved-config", "--verbose"]
    result = CliRunner().invoke(app, args, env={"OPENAI_API_KEY": API_KEY, "HF_TOKEN": HF_TOKEN})
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load(result.stdout)
    assert resolved["lm"] == "openai/from-yaml" and resolved["generation"]["max_hops"] == 2  # from the file
    assert resolved["generation"]["num_pairs"] == 5  # the command line wins
    assert resolved["api_base"] == f"http://{REDACTED}@h:1/v1?key={REDACTED}"
    assert resolved["judge_api_base"] == f"https://{REDACTED}@judge.example/v1"
    assert find_secrets_in_text("output", result.output, SECRETS) == []
    assert sorted(tmp_path.rglob("*")) == before


# ---------------------------------------------------------------------------
# the pipeline through the real CLI, run once for the tests below
# ---------------------------------------------------------------------------


@dataclass
class Pipeline:
    root: Path
    outputs: dict[str, subprocess.CompletedProcess] = field(default_factory=dict)
    stub_requests: list[StubRequest] = field(default_factory=list)
    hub: FakeHub | None = None


def echo_credentials(request: StubRequest) -> StubResponse:
    """An error body that echoes what the client sent (some gateways do): its Authorization header and URL."""
    detail = f"Invalid credentials: {request.headers.get('authorization')} for {request.path}"
    return StubResponse(status=401, body={"error": {"message": detail, "type": "invalid_request_error", "code": 401}})


def failing_reply(request: StubRequest) -> StubResponse | dict:
    """pumps.md fails outright (401 on extract, 500 on generate); the other rows lose only their extract call (401)."""
    if request.signature == "extract":
        return echo_credentials(request)
    if "pump" in request.input_text and request.signature == "generate":
        response = echo_credentials(request)
        response.status = 500
        return response
    return valid_reply(request)


def base_env(root: Path) -> dict[str, str]:
    """The environment of every command: secrets planted, HOME, caches and TMPDIR inside the searched tree."""
    home = root / "home"
    for name in ("hf", "tmp", "cache"):
        (home / name).mkdir(parents=True, exist_ok=True)
    env = {name: value for name, value in os.environ.items() if not name.startswith(("HF_", "HUGGING", "TRANSFORMERS_", "OPENAI_"))}
    env.update({
        "OPENAI_API_KEY": API_KEY, "HF_TOKEN": HF_TOKEN,
        "HOME": str(home), "HF_HOME": str(home / "hf"), "TMPDIR": str(home / "tmp"), "XDG_CACHE_HOME": str(home / "cache"),
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "COLUMNS": "200", "NO_COLOR": "1",
    })
    return env


def run(pipeline: Pipeline, label: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([SDG, *args], cwd=pipeline.root, env=env or base_env(pipeline.root), capture_output=True, text=True, timeout=300)
    pipeline.outputs[label] = result
    return result


def with_query_key(base_url: str) -> str:
    """The stub's URL with `?key=` appended; the stub still answers (the path ends in /chat/completions)."""
    return f"{base_url}?key={URL_QUERY_KEY}"


def with_password(base_url: str) -> str:
    """The stub's URL with `user:password@`; the HTTP client cannot connect to it, and says so naming the host."""
    return base_url.replace("http://", f"http://{URL_USER}:{URL_PASSWORD}@")


def write_config(path: Path, api_base: str, *, max_retries: int = 0) -> None:
    """A run YAML with an endpoint URL that carries secrets, as a user might paste it."""
    lines = ["lm: openai/stub", f"api_base: '{api_base}'", "structured_output: json_schema", "num_retries: 1", "retry_base_delay: 0.01"]
    lines += ["generation:", "  num_pairs: 1", f"  max_retries: {max_retries}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Pipeline:
    root = tmp_path_factory.mktemp("secrets")
    pipeline = Pipeline(root=root)
    docs = root / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text + "\n", encoding="utf-8")
    config = root / "run.yaml"

    with OpenAIStub() as stub:
        write_config(config, with_query_key(stub.base_url))
        run(pipeline, "generate", "generate", "--input-dir", str(docs), "--output-dir", str(root / "generated"), "--config", str(config), "--verbose")
        pipeline.stub_requests += stub.requests
    with OpenAIStub(failing_reply) as stub:
        # The endpoint echoes the secrets back in its error bodies; a re-ask logs the error text (--verbose).
        write_config(config, with_query_key(stub.base_url), max_retries=1)
        # --extract on: a separate extract call, so a row can lose that call alone and still be written.
        run(pipeline, "generate-failing", "generate", "--input-dir", str(docs), "--output-dir", str(root / "failing"), "--config", str(config), "--verbose",
            "--extract", "on")
        pipeline.stub_requests += stub.requests
        # The client cannot connect to a URL with a password in it, and its error names the host it tried.
        write_config(config, with_password(stub.base_url))
        run(pipeline, "generate-unreachable", "generate", "--input-dir", str(docs), "--output-dir", str(root / "unreachable"), "--config", str(config),
            "--num-records", "1", "--num-retries", "0", "--verbose")
    config.unlink()  # the one file we wrote the secrets into; everything left under root was written by the CLI
    run(pipeline, "convert", "convert", str(root / "generated"), "--verbose")

    hub = FakeHub(user="tester", token=HF_TOKEN).start()
    try:
        env = base_env(root)
        env.update({"HF_ENDPOINT": hub.endpoint, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1", "HF_DEBUG": "1"})
        run(pipeline, "push", "push", str(root / "generated_train_eval"), "--repo-id", "tester/secrets", "--verbose", env=env)
    finally:
        hub.stop()
    pipeline.hub = hub
    return pipeline


def test_every_command_ran(pipeline):
    for label, result in pipeline.outputs.items():
        expected = 1 if label == "generate-unreachable" else 0  # 1: no row produced a record
        assert result.returncode == expected, f"{label} exited {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    root = pipeline.root
    assert len((root / "generated" / "records.jsonl").read_text().splitlines()) == len(DOCS)
    assert (root / "generated_train_eval" / "report.html").is_file()
    assert "README.md" in pipeline.hub.files("tester/secrets")


def test_the_secrets_really_travelled(pipeline):
    """The planted key reached the endpoint and the YAML's URL was used: there was something to leak."""
    headers = [request.headers.get("authorization") for request in pipeline.stub_requests]
    assert headers and all(header == f"Bearer {API_KEY}" for header in headers)
    assert all(f"key={URL_QUERY_KEY}" in request.path for request in pipeline.stub_requests)  # the --config file was read


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


def test_failed_calls_are_recorded_with_the_echoed_secrets_redacted(pipeline):
    failing = pipeline.root / "failing"
    failures = read_jsonl(failing / "failures.jsonl")
    assert [failure["source_id"] for failure in failures] == ["pumps.md"]
    # The error text is kept (a user needs it) with the echoed header and URL in it, minus the secrets.
    text = json.dumps(failures)
    assert "Invalid credentials: Bearer " + REDACTED in text and f"key={REDACTED}" in text
    # The other rows were written, with their failed extract call among the record's errors.
    records = read_jsonl(failing / "records.jsonl")
    assert sorted(record["source_id"] for record in records) == ["glaciers.md", "library.md"]
    extract_errors = [error["error"] for record in records for error in record["errors"] if error["stage"] == "extract"]
    assert len(extract_errors) == 2 and all("Invalid credentials: Bearer " + REDACTED in error for error in extract_errors), extract_errors
    assert json.loads((failing / "run.json").read_text())["counts"]["rows_failed"] == 1
    # The verbose log of each re-ask showed the error text, the echoed header with it, minus the secrets.
    log = pipeline.outputs["generate-failing"].stderr
    assert "re-ask 1/1" in log and "Invalid credentials" in log and REDACTED in log, log[-3000:]
    # The unreachable run's failure names the host it could not reach, without the password in its URL.
    unreachable = read_jsonl(pipeline.root / "unreachable" / "failures.jsonl")
    assert len(unreachable) == 1 and f"{REDACTED}@127.0.0.1" in unreachable[0]["reason"], unreachable


def test_no_secret_in_any_file_or_output(pipeline):
    leaks = find_secrets_in_files(pipeline.root, SECRETS)
    for label, result in pipeline.outputs.items():
        leaks += find_secrets_in_text(f"{label} stdout", result.stdout, SECRETS)
        leaks += find_secrets_in_text(f"{label} stderr", result.stderr, SECRETS)
    assert leaks == []
    searched = {path.relative_to(pipeline.root).parts[0] for path in pipeline.root.rglob("*") if path.is_file()}
    assert {"generated", "failing", "unreachable", "generated_train_eval", "home"} <= searched
    assert count_files(pipeline.root / "generated_train_eval") >= 8  # report.json/html, train/val, corpus, eval_beir
    # The Hub side: no uploaded file (the card among them) and no request body holds the token.
    assert_token_nowhere(pipeline.hub, pipeline.root, pipeline.outputs["push"].stdout, pipeline.outputs["push"].stderr)
    card = pipeline.hub.files("tester/secrets")["README.md"].decode()
    assert find_secrets_in_text("card", card, SECRETS) == [] and "127.0.0.1" not in card
