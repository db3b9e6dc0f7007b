"""``generate``: the Python entry point behind ``sdg-program generate``.

Builds the LMs, the embedder and the program from a :class:`GenerateConfig`, streams
seed rows through the runner with a progress bar, and returns the counts. Notebooks
call :func:`generate` (or :func:`preview`) directly; the CLI only parses options.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import dspy
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from sdg_program.backends.embed_batcher import EmbeddingBatcher
from sdg_program.backends.faults import RetryPolicy
from sdg_program.core.errors import RunAborted, UserError
from sdg_program.core.records import FailedRow, GeneratedRecord, SeedRow
from sdg_program.ingest.chunking import ChunkingReport, discover_sources, iter_seed_rows
from sdg_program.program.retrieval_sdg import RetrievalSDG
from sdg_program.runner.checkpoint import prepare_output
from sdg_program.runner.config import GenerateConfig, row_key
from sdg_program.runner.rows import run_rows
from sdg_program.runner.run_file import write_run_file
from sdg_program.runner.stats import RunStats

logger = logging.getLogger(__name__)


@dataclass
class GenerateResult:
    output_dir: Path
    records_path: Path
    failures_path: Path
    stats: RunStats


def build_program(config: GenerateConfig) -> tuple[RetrievalSDG, dict[str, Any]]:
    """The program with its LMs, embedder and (optionally) compiled prompts; plus model descriptions for run.json."""
    from sdg_program.backends.embedder import default_embedder_path, embed, is_default_embedder, load_embedder
    from sdg_program.backends.engine_base import runs_in_process
    from sdg_program.backends.factory import build_lm, describe_lm

    def make_lm(spec: str, api_base: str | None) -> dspy.BaseLM:
        return build_lm(
            spec,
            api_base=api_base,
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            seed=config.seed,
            timeout=config.timeout,
            # Transient faults are retried by the program (RetryPolicy), where each one is counted.
            num_retries=0,
            structured_output=config.structured_output,
            repeat_penalty=config.repeat_penalty,
        )

    lm = make_lm(config.lm, config.api_base)
    same_judge = config.self_judging
    judge_lm = lm if same_judge else make_lm(config.judge_lm, config.judge_api_base or config.api_base)

    # Torch threads for the dedup forward passes. With an in-process model, one: more spin and fight
    # llama.cpp for the cores (2-core box: 30 ms with 1 thread, 470-800 ms with 2). With endpoints only,
    # the cores this process may use: the row threads mostly wait on HTTP, the batcher is the one busy
    # thread, and on the cost bench (concurrency 16) 2 threads gave 5.7 rows/s against 4.2 with 1.
    # OMP_NUM_THREADS, when set, is the share (Ray sets it to a worker's CPUs, so workers on one node
    # do not oversubscribe it).
    in_process = any(runs_in_process(model) for model in (lm, judge_lm))
    cores = os.environ.get("OMP_NUM_THREADS", "").strip()
    embed_threads = 1 if in_process else max(1, int(cores) if cores.isdigit() else (os.cpu_count() or 1))

    def embed_batch(embedder: Any, texts: list[str]) -> np.ndarray:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(embed_threads)
        try:
            return embed(texts, embedder)
        finally:
            torch.set_num_threads(threads)

    # Rows in flight share forward passes; the model runs on the batcher's own thread. The bundled
    # model also loads there, so the first LLM calls do not wait for torch (its package is checked
    # here); another model loads now, so a bad --embedder fails before any call is paid for.
    if is_default_embedder(config.embedder):
        default_embedder_path()
        embed_texts = EmbeddingBatcher(lambda: load_embedder(config.embedder), embed_batch)
    else:
        embedder = load_embedder(config.embedder)
        embed_texts = EmbeddingBatcher(lambda: embedder, embed_batch)

    retry_policy = RetryPolicy(retries=config.num_retries, base_delay=config.retry_base_delay)
    program = RetrievalSDG(config.generation, lm=lm, judge_lm=judge_lm, embed_texts=embed_texts, retry_policy=retry_policy)
    # --program, or for --lm local the shipped compiled default (sdg_program/program/compiled.py); "none" = uncompiled.
    from sdg_program.program.compiled import fit_window_to_demos, resolve_program

    program_path = resolve_program(config.program, config.lm)
    if program_path is not None:
        program.load(str(program_path))
        fit_window_to_demos(program, lm)  # demos cost prompt tokens in every call
    descriptions = {"lm": describe_lm(lm), "judge_lm": describe_lm(judge_lm), "embedder": config.embedder or "all-MiniLM-L6-v2 (embedded)", "self_judging": same_judge, "judge": "on" if program.judges() else "off",
                    "program": str(program_path) if program_path is not None else None}
    return program, descriptions


def _keyed_rows(config: GenerateConfig, fingerprint: str, done: set[str], stats: RunStats, report: ChunkingReport, corpus_digest: "hashlib._Hash") -> Iterator[tuple[SeedRow, str]]:
    for index, row in enumerate(iter_seed_rows(config.chunking, report, exclude_dirs=(config.output_dir,))):
        if config.num_records is not None and index >= config.num_records:
            break
        key = row_key(row, fingerprint)
        corpus_digest.update(key.encode())
        if key in done:
            stats.rows_resumed += 1
            continue
        yield row, key


def count_rows(config: GenerateConfig) -> int:
    """Seed rows the run will see, for the progress bar: exact after the run (``generate`` corrects it).

    One document per row: the files found (no reading; empty, binary or duplicate files the run
    skips make it an upper bound). Bundles: a chunking pass, since bundling decides the count.
    Quiet: the run itself logs what it skips.
    """
    if not config.chunking.input_dir.is_dir():
        return 0  # the run raises the clear error
    quiet = logging.getLogger("sdg_program.ingest.chunking")
    previous = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        if config.chunking.multi_doc:
            total = sum(1 for _ in iter_seed_rows(config.chunking, ChunkingReport(), exclude_dirs=(config.output_dir,)))
        else:
            total = len(discover_sources(config.chunking, ChunkingReport(), exclude_dirs=(config.output_dir,)))
            if config.chunking.num_files is not None:
                total = min(total, config.chunking.num_files)
    finally:
        quiet.setLevel(previous)
    return min(total, config.num_records) if config.num_records else total


def generate(
    config: GenerateConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    console: Console | None = None,
    program: RetrievalSDG | None = None,
) -> GenerateResult:
    """Generate records for every seed row of ``config.chunking`` into ``config.output_dir``.

    Raises ``OutputExists``, ``ResumeMismatch`` or ``RunAborted`` (after writing
    run.json with status ``aborted``) for the caller to report.
    """
    console = console or Console(stderr=True)
    started = time.perf_counter()
    if config.engine == "ray" and program is not None:
        raise UserError("engine 'ray' builds the program in each worker; a provided program runs only with engine 'local'")
    checkpoint, done = prepare_output(config, resume=resume, overwrite=overwrite)
    fingerprint = config.fingerprint()
    stats = RunStats()
    with ExitStack() as engine:  # the Ray cluster and workers of engine 'ray', ended however the run ends
        if config.engine == "ray":  # each worker builds the program (sdg_program/runner/ray_engine.py); none is loaded here
            from sdg_program.runner.ray_engine import ray_workers

            workers = engine.enter_context(ray_workers(config))
            descriptions = workers.descriptions
            run = workers.run_rows
        else:
            if program is None:
                program, descriptions = build_program(config)
            else:
                descriptions = {"lm": "provided program", "judge_lm": "provided program"}
            run = functools.partial(run_rows, program, concurrency=config.concurrency or _default_concurrency(config))
        stats.rows_total = count_rows(config)
        report = ChunkingReport()
        corpus_digest = hashlib.sha256()
        write_run_file(config, stats, status="running", corpus_fingerprint=None, lm_descriptions=descriptions)

        def should_abort() -> str | None:
            attempted = stats.rows_done + stats.rows_failed
            if config.max_failure_rate is not None and attempted >= 10 and stats.rows_failed / attempted > config.max_failure_rate:
                stats.aborted = f"{stats.rows_failed} of {attempted} rows failed, above --max-failure-rate {config.max_failure_rate}"
            return stats.aborted

        with Progress(
            TextColumn("[bold]generate"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows · {task.fields[pairs]} valid pairs · {task.fields[failed]} failed · {task.fields[tokens]} tokens"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("rows", total=stats.rows_total, pairs=0, failed=0, tokens=0)

            def advance() -> None:
                progress.update(task, completed=stats.rows_done + stats.rows_failed + stats.rows_resumed, pairs=stats.pairs_valid, failed=stats.rows_failed, tokens=f"{stats.tokens():,}")

            def on_record(record: GeneratedRecord) -> None:
                checkpoint.append(checkpoint.records_path, record.model_dump(mode="json"))
                stats.add_record(record)
                advance()

            def on_failure(failure: FailedRow) -> None:
                checkpoint.append(checkpoint.failures_path, failure.model_dump(mode="json"))
                stats.add_failure(failure)
                advance()

            rows = _keyed_rows(config, fingerprint, done, stats, report, corpus_digest)
            try:
                run(rows, on_record=on_record, on_failure=on_failure, should_abort=should_abort)
            finally:
                _settle_embedder(program)
            if not stats.aborted:  # the count up front may include files the chunker skipped
                stats.rows_total = stats.rows_done + stats.rows_failed + stats.rows_resumed
                progress.update(task, total=stats.rows_total)
            advance()

    stats.seconds = time.perf_counter() - started
    status = "aborted" if stats.aborted else "finished"
    write_run_file(config, stats, status=status, corpus_fingerprint=corpus_digest.hexdigest()[:16] if not stats.aborted else None, lm_descriptions=descriptions)
    result = GenerateResult(output_dir=config.output_dir, records_path=checkpoint.records_path, failures_path=checkpoint.failures_path, stats=stats)
    if stats.aborted:
        raise RunAborted(stats.aborted + f"; resume with --resume once the endpoint is healthy ({config.output_dir})", stats)
    return result


def _settle_embedder(program: RetrievalSDG | None) -> None:
    """Wait for the dedup embedder's background load to end (see ``EmbeddingBatcher.settle``)."""
    embed_texts = getattr(program, "embed_texts", None)
    if isinstance(embed_texts, EmbeddingBatcher):
        embed_texts.settle()


def preview(config: GenerateConfig, num_rows: int = 1, *, program: RetrievalSDG | None = None) -> list[GeneratedRecord | FailedRow]:
    """Run the program on the first ``num_rows`` rows and return the results; nothing is written."""
    if program is None:
        program, _ = build_program(config)
    fingerprint = config.fingerprint()
    results: list[GeneratedRecord | FailedRow] = []
    rows = ((row, row_key(row, fingerprint)) for index, row in zip(range(num_rows), iter_seed_rows(config.chunking, ChunkingReport())))
    run_rows(program, rows, concurrency=1, on_record=results.append, on_failure=results.append)
    return results


def _default_concurrency(config: GenerateConfig) -> int:
    """1 when any role runs in-process (llama.cpp serialises calls anyway), else 8."""
    from sdg_program.backends.factory import default_concurrency

    return min(default_concurrency(config.lm), default_concurrency(config.judge_lm or config.lm))
