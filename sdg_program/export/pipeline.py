"""Convert generated records into retriever training data (NeMo AutoModel) and a BEIR evaluation set.

    from sdg_program.export import ConvertConfig, convert
    result = convert(ConvertConfig(input_path="generated"))
    print(result.report.pairs_kept, result.output_dir)

This module only runs the phases in order; each lives in its own module. Every phase is a Hugging
Face ``datasets`` operation over Arrow files in a temporary folder, so the full texts of 20,000
records are never held in memory at once:

1. **Load** (``load.py``): records.jsonl is streamed into a slim Arrow table, sorted by source.
2. **Filter** (``gate.py``): pairs are exploded and each gets a drop reason (or none).
3. **Corpus** (``corpus.py``): chunks are exploded and de-duplicated on their content ID.
   **Quality gate** (``quality_gate.py``, ``roundtrip.py``, ``dedup.py``): kept pairs whose positives
   retrieval over the whole corpus does not find, and near-duplicates of better pairs, are dropped.
4. **Splits** (``assign.py``, ``splits.py``): by unit, never by pair, so no test passage is trained
   on; the training corpus leaves out passages that only test documents hold.
5. **Hard negatives** (``mine.py``, ``negatives.py``): for train/val queries, from the training corpus.
6. **Export** (``nemo.py``, ``beir.py``, ``report.py``): every file is written to a temporary name
   and renamed into place; output is byte-identical for the same input and options. A run killed
   with SIGKILL leaves only whole files, a temporary or two and its working folder; the next run
   removes those (they are named after the dead process) and rewrites every file, so re-running
   is the way to resume.
7. **Scan** (``scan.py``, ``redact.py``): the written texts are searched for credentials and personal
   data; findings are a warning in the report, and with ``redact`` they are masked in the files.

With ``engine="ray"`` the embedding passes of phases 3 to 5 run on a Ray actor pool
(``ray_embedding.py``); everything else, and every file, is the same.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from sdg_program.core.files import atomic_path, make_work_dir, remove_stale_temporaries, write_json_atomic
from sdg_program.export.assign import split_pairs
from sdg_program.export.beir import write_beir
from sdg_program.export.config import EVAL_FILES, REPORT_FILES, TRAIN_FILES, WORK_DIR_PREFIX, ConvertConfig, ConvertResult
from sdg_program.export.corpus import build_corpus, build_training_corpus
from sdg_program.export.embedding import LazyEmbedder
from sdg_program.export.gate import filter_pairs
from sdg_program.export.load import LoadStats, load_records, sorted_by_source
from sdg_program.export.mine import mine_negatives
from sdg_program.export.nemo import remove_nemo_files, write_nemo
from sdg_program.export.progress import ConvertProgress
from sdg_program.export.quality_gate import apply_quality_gate
from sdg_program.export.report import ConvertReport, build_report, render_html
from sdg_program.export.scan import ScanSummary, scan_export
from sdg_program.export.splits import load_groups

logger = logging.getLogger(__name__)


def convert(config: ConvertConfig | None = None, *, model=None, console=None, **options: Any) -> ConvertResult:
    """Convert generated records into train/val/corpus files and a BEIR test set; see the module docstring.

    Pass a ``ConvertConfig`` or its fields as keyword arguments. ``model`` is a loaded
    sentence-transformers model (default: ``load_embedder(config.embedder)``, loaded only when
    needed; not with ``engine="ray"``, whose workers load ``config.embedder`` themselves);
    ``console`` (rich) shows progress bars for the embedding phases.
    """
    import datasets

    config = config or ConvertConfig(**options)
    engine = embedding_engine(config, model)
    records_file = config.records_file()
    output_dir = config.resolved_output_dir()
    corpus_id = config.resolved_corpus_id()
    groups = load_groups(config.groups_json) if config.groups_json and not config.eval_only else []
    progress = ConvertProgress(console)
    # A run killed with SIGKILL leaves temporaries here and a working folder in the temp folder; remove them.
    remove_stale_outputs(output_dir)
    # The Arrow working files, in a folder named after this process, so a later run can tell when it is stale.
    workdir = make_work_dir(WORK_DIR_PREFIX)
    bars_were_off = not datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        report, files = _convert(config, records_file, output_dir, corpus_id, groups, workdir, LazyEmbedder(model, config.embedder, engine), progress)
    finally:
        if engine is not None:
            engine.close()
        shutil.rmtree(workdir, ignore_errors=True)
        if not bars_were_off:
            datasets.enable_progress_bars()
    return ConvertResult(output_dir=output_dir, files=files, report=report, timings=progress.timings)


def embedding_engine(config: ConvertConfig, model):
    """None for the local engine; for ``engine="ray"``, a ``RayEmbedding`` (which starts or joins Ray only when a pass runs)."""
    if config.engine != "ray":
        return None
    if model is not None:
        raise ValueError("convert(model=...) embeds in this process; with engine 'ray' the workers load config.embedder instead: pass its spec")
    from sdg_program.core.ray_cluster import require_ray_data
    from sdg_program.export.ray_embedding import RayEmbedding

    require_ray_data()  # before any phase runs, with the install line
    return RayEmbedding(config.embedder, address=config.ray_address, num_workers=config.num_workers, worker_gpus=config.worker_gpus)


def remove_stale_outputs(output_dir: Path) -> list[Path]:
    """Remove what a killed convert left in ``output_dir``: temporaries of dead processes, in every folder we write.

    Finished files need no repair: each was renamed into place whole, and this run rewrites them all.
    """
    folders = {output_dir} | {(output_dir / name).parent for name in TRAIN_FILES + EVAL_FILES + REPORT_FILES}
    removed: list[Path] = []
    for folder in sorted(folders):
        removed += remove_stale_temporaries(folder)
    if removed:
        logger.warning("removed %d temporary file(s) left in %s by an interrupted run", len(removed), output_dir)
    return removed


def scan_output(output_dir: Path, redact: bool) -> ScanSummary:
    """Scan the written files for credentials and personal data (a warning in the report); with ``redact``, mask them first."""
    if redact:
        from sdg_program.export.redact import redact_export

        return redact_export(output_dir, record=False)
    return scan_export(output_dir)


def _convert(config: ConvertConfig, records_file: Path, output_dir: Path, corpus_id: str, groups: list[list[str]], workdir: Path,
             embedder: LazyEmbedder, progress: ConvertProgress) -> tuple[ConvertReport, list[Path]]:
    """The phases in order; each is one call into the module that does it."""
    stats = LoadStats()
    with progress.phase("load"):
        records = sorted_by_source(load_records(records_file, workdir, stats, config.validation_settings()))
    with progress.phase("filter"):
        pairs = filter_pairs(records, config)
    with progress.phase("corpus"):
        chunks, corpus = build_corpus(records)
    pairs, gate_summary = apply_quality_gate(pairs, corpus, config, embedder, progress)
    splits = split_pairs(config, records, pairs, groups, embedder, progress)
    train_corpus = None
    if not config.eval_only:
        with progress.phase("training corpus"):
            train_corpus = build_training_corpus(chunks, corpus, splits.split_of_record)
    negatives, negatives_summary = mine_negatives(config, pairs, splits, train_corpus, embedder, progress)
    with progress.phase("export"):
        if config.eval_only:
            remove_nemo_files(output_dir)
            files, examples = [], {}
        else:
            files, examples = write_nemo(output_dir, corpus_id, pairs.kept, pairs.question_ids, splits.kept_splits, train_corpus, negatives, config.unroll_positives)
        beir_files, examples["test"] = write_beir(output_dir, corpus, pairs.kept, pairs.question_ids, splits.kept_splits)
    with progress.phase("scan"):
        scan = scan_output(output_dir, config.redact)
    report = build_report(config, records_file, output_dir, corpus_id, stats, pairs, splits, corpus, train_corpus, negatives_summary, examples, gate_summary, scan)
    with progress.phase("report"):
        write_json_atomic(output_dir / "report.json", report.model_dump(mode="json"))
        with atomic_path(output_dir / "report.html") as temporary:
            temporary.write_text(render_html(report), encoding="utf-8")
    return report, files + beir_files + [output_dir / name for name in REPORT_FILES]
