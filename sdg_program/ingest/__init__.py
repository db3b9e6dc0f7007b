"""Ingest: find and decode documents, turn markup into units, split sentences, chunk, section and bundle.

Reads a folder, writes seed rows (``SeedRow``): the first stage, it imports only ``core`` and the
embedder of ``backends`` (for semantic bundling)."""

from sdg_program.core.lazy import lazy_exports

_EXPORTS = {
    "ChunkingConfig": "sdg_program.ingest.config",
    "ChunkingReport": "sdg_program.ingest.chunking",
    "iter_seed_rows": "sdg_program.ingest.chunking",
    "chunk": "sdg_program.ingest.seed_file",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
