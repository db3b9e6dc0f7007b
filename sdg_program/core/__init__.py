"""Contracts and utilities every stage shares: records, errors, atomic files, secret scrubbing."""

from sdg_program.core.lazy import lazy_exports

_EXPORTS = {
    "Chunk": "sdg_program.core.records",
    "SeedRow": "sdg_program.core.records",
    "GeneratedRecord": "sdg_program.core.records",
    "FailedRow": "sdg_program.core.records",
    "SdgError": "sdg_program.core.errors",
    "UserError": "sdg_program.core.errors",
    "write_json_atomic": "sdg_program.core.files",
    "write_jsonl_atomic": "sdg_program.core.files",
    "scrub": "sdg_program.core.secrets",
    "redact": "sdg_program.core.secrets",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
