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
