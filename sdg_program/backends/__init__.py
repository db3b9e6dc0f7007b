"""Backends: the local llama.cpp LM, endpoint LMs, the LM factory, adapters, the embedder, faults and retries."""

from sdg_program.core.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "factory": ["build_lm", "describe_lm"],
        "local_lm": ["LocalLlamaLM"],
        "endpoint_lm": ["EndpointLM"],
        "embedder": ["load_embedder", "embed"],
        "faults": ["RetryPolicy", "FaultTally", "classify"],
    },
)
