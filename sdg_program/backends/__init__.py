"""Backends: the local llama.cpp LM, endpoint LMs, the LM factory, adapters, the embedder, faults and retries."""

from sdg_program.core.lazy import lazy_exports

_EXPORTS = {
    "build_lm": "sdg_program.backends.factory",
    "describe_lm": "sdg_program.backends.factory",
    "LocalLlamaLM": "sdg_program.backends.local_lm",
    "EndpointLM": "sdg_program.backends.endpoint_lm",
    "load_embedder": "sdg_program.backends.embedder",
    "embed": "sdg_program.backends.embedder",
    "RetryPolicy": "sdg_program.backends.faults",
    "FaultTally": "sdg_program.backends.faults",
    "classify": "sdg_program.backends.faults",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
