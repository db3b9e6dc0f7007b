"""``run.json``: the redacted config, versions, models, a corpus fingerprint and the counts of a run."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from sdg_program.core.files import write_json_atomic
from sdg_program.core.secrets import redact
from sdg_program.runner.config import RUN_FILE, GenerateConfig
from sdg_program.runner.stats import RunStats


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("sdg-program", "dspy", "llama_cpp_python", "sentence-transformers", "litellm"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            pass
    return versions


def write_run_file(config: GenerateConfig, stats: RunStats, *, status: str, corpus_fingerprint: str | None, lm_descriptions: dict[str, Any]) -> None:
    write_json_atomic(
        config.output_dir / RUN_FILE,
        {
            "status": status,
            "config": redact(config.model_dump(mode="json")),
            "config_fingerprint": config.fingerprint(),
            "corpus_fingerprint": corpus_fingerprint,
            "models": lm_descriptions,
            "versions": package_versions(),
            "counts": stats.as_dict(),
        },
    )
