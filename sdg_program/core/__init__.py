"""Contracts and utilities every stage shares: records, errors, atomic files, secret scrubbing."""

from sdg_program.core.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "records": ["Chunk", "SeedRow", "GeneratedRecord", "FailedRow"],
        "errors": ["SdgError", "UserError"],
        "files": ["write_json_atomic", "write_jsonl_atomic"],
        "secrets": ["scrub", "redact"],
    },
)
