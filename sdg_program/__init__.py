"""sdg-program: retriever training and evaluation data from your own documents.

The Python API is one function per command, each with a typed config:

- ``chunk(ChunkingConfig, output)``: documents -> seed rows (``sdg-program chunk``)
- ``generate(GenerateConfig)``: seed rows -> records.jsonl (``sdg-program generate``)
- ``preview(GenerateConfig, num_rows)``: the first rows' records, nothing written
- ``convert(ConvertConfig)``: records -> NeMo training files + BEIR set (``convert``)
- ``evaluate(EvaluateConfig)``: retriever metrics on a BEIR folder (``eval``)
- ``push(PushConfig)``: a convert folder (or a tuned model) -> Hugging Face Hub (``push``)
- ``finetune(FinetuneConfig)``: train a retriever on a convert folder, base vs tuned (``finetune``)

The stages behind them are subpackages, in the order data flows: ``ingest``, ``backends``,
``program``, ``runner``, ``export``, ``evaluation``, ``hub``, and ``cli`` on top. Names are
imported on first use, so ``import sdg_program`` stays fast.
"""

from __future__ import annotations

import os

# LiteLLM (under DSPy) otherwise fetches its model price list from GitHub on first use;
# nothing may need the network at run time, and the bundled copy is enough.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from sdg_program.core.lazy import lazy_exports  # noqa: E402  (after the environment is set)

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ingest.seed_file": ["chunk"],
        "runner.generation": ["generate", "preview"],
        "export.pipeline": ["convert"],
        "evaluation.retrieval": ["evaluate"],
        "hub.upload": ["push"],
        "evaluation.training": ["finetune"],
        "ingest.config": ["ChunkingConfig"],
        "program.settings": ["GenerationSettings"],
        "runner.config": ["GenerateConfig"],
        "export.config": ["ConvertConfig"],
        "evaluation.config": ["EvaluateConfig"],
        "hub.config": ["PushConfig"],
        "evaluation.finetune_config": ["FinetuneConfig"],
        "program.retrieval_sdg": ["RetrievalSDG"],
        "ingest.chunking": ["iter_seed_rows"],
        "core.errors": ["SdgError"],
    },
)
_export = __getattr__


def __getattr__(name: str):
    """``__version__`` from the installed metadata (pyproject.toml's ``[project] version``), else the lazy exports."""
    if name == "__version__":
        from sdg_program.core.versions import package_version

        return package_version()
    return _export(name)
