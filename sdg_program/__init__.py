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

_LAZY = {
    # commands
    "chunk": "sdg_program.ingest.seed_file",
    "generate": "sdg_program.runner.generation",
    "preview": "sdg_program.runner.generation",
    "convert": "sdg_program.export.pipeline",
    "evaluate": "sdg_program.evaluation.retrieval",
    "push": "sdg_program.hub.upload",
    "finetune": "sdg_program.evaluation.training",
    # their configs
    "ChunkingConfig": "sdg_program.ingest.config",
    "GenerationSettings": "sdg_program.program.settings",
    "GenerateConfig": "sdg_program.runner.config",
    "ConvertConfig": "sdg_program.export.config",
    "EvaluateConfig": "sdg_program.evaluation.config",
    "PushConfig": "sdg_program.hub.config",
    "FinetuneConfig": "sdg_program.evaluation.finetune_config",
    # building blocks
    "RetrievalSDG": "sdg_program.program.retrieval_sdg",
    "iter_seed_rows": "sdg_program.ingest.chunking",
    "SdgError": "sdg_program.core.errors",
}
__all__ = sorted(_LAZY)

from sdg_program.core.lazy import lazy_exports  # noqa: E402  (after the environment is set)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
