import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
CORPORA = REPO.parent / "shared" / "corpora"
DOCS_DSPY = CORPORA / "docs_dspy"


def offline_env(**extra: str) -> dict[str, str]:
    """The environment for a CLI subprocess: nothing fetched from a hub, no colour codes, plus ``extra``."""
    env = dict(os.environ)
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # DSPy/LiteLLM model metadata from the bundled snapshot, no fetch
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        NO_COLOR="1",
    )
    env.update(extra)
    return env


@pytest.fixture
def corpus(tmp_path):
    """A small folder of documents; returns a function that writes name -> text (or bytes)."""
    root = tmp_path / "docs"
    root.mkdir()

    def write(name: str, content) -> Path:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    write.root = root
    return write


# The test files whose tests take longest (measured with --durations, 2026-11-30: the real compile
# 207 s, the llama_cpp.server run 102 s, Ray convert 88 s, the retrieval-eval and secrets CLI runs
# 70 s). The README runs the suite on two workers with `--dist loadfile`, which hands out whole
# files in collection order; started last, the compile alone kept one worker busy for three
# minutes after the other had finished. Putting them first lets the short files fill in around them.
LONGEST_FILES_FIRST = (
    "optimize/test_compile.py",
    "integration/test_endpoint_e2e.py",
    "export/test_convert_ray.py",
    "evaluation/test_retrieval_eval.py",
    "integration/test_secrets.py",
    "integration/test_hostile_input.py",
)


def pytest_collection_modifyitems(config, items):
    """Long files first (see LONGEST_FILES_FIRST); the order inside each file is kept."""

    def rank(item) -> int:
        path = item.path.as_posix()
        for index, suffix in enumerate(LONGEST_FILES_FIRST):
            if path.endswith("tests/" + suffix):
                return index
        return len(LONGEST_FILES_FIRST)

    items.sort(key=rank)  # stable: everything else keeps its collection order
