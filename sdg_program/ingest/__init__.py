"""Ingest: find and decode documents, turn markup into units, split sentences, chunk, section and bundle.

Reads a folder, writes seed rows (``SeedRow``): the first stage, it imports only ``core`` and the
embedder of ``backends`` (for semantic bundling)."""

from sdg_program.core.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "config": ["ChunkingConfig"],
        "chunking": ["ChunkingReport", "iter_seed_rows"],
        "seed_file": ["chunk"],
    },
)
