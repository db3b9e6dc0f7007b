"""convert --engine ray: the embedding passes on a Ray actor pool write the same bytes as --engine local.

The Ray tests share one local cluster (127.0.0.1, 2 CPUs, no dashboard), started by a module
fixture unless Ray is already initialised in this process (another module's fixture): then that
session is used and left running. The fast tests need no Ray at all.
"""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from sdg_program.cli.app import app
from sdg_program.core.errors import UserError
from sdg_program.export import ConvertConfig, convert, embedding
from tests.export.test_convert import awkward_corpus, write_records

INSTALL_LINE = "pip install 'sdg-program[ray]'"


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                 logging_level=logging.WARNING, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.mark.slow  # a local Ray cluster, two conversions with the real embedder
def test_ray_engine_writes_the_same_bytes_as_local(ray_cluster, tmp_path, monkeypatch):
    """Round trip, corpus-wide dedup, paraphrase grouping and mining all on; every file compared byte for byte.

    Slices of 16 rows (both engines) give each pass several slices; every Ray pass is also
    checked float for float against the local loop. One actor per pass: each actor loads the
    model, which on two shared cores costs more than the passes themselves (the out-of-order
    assembly of slices is tested without Ray below; bench/bench_ray_convert.py runs two actors).
    """
    from sdg_program.backends.embedder import load_embedder
    from sdg_program.export.ray_embedding import RayEmbedding

    monkeypatch.setattr(embedding, "EMBED_SLICE", 16)
    write_records(tmp_path / "generated" / "records.jsonl", awkward_corpus())
    # dedup at 0.99 keeps the 0.97 rewording, so paraphrase grouping has a link to make
    options = {"input_path": tmp_path / "generated", "output_dir": tmp_path / "out", "dedup_threshold": 0.99, "roundtrip": True}
    local = convert(ConvertConfig(**options))
    local_bytes = {path: path.read_bytes() for path in local.files}

    passes: list[tuple[str, int, int, bool]] = []
    ray_embed = RayEmbedding.embed_column

    def checked(self, dataset, column, batch_size, on_progress):
        advanced: list[int] = []
        vectors = ray_embed(self, dataset, column, batch_size, lambda rows: (advanced.append(rows), on_progress(rows)))
        expected = embedding.embed_column(dataset, column, load_embedder(None), batch_size, lambda rows: None)
        passes.append((column, len(dataset), sum(advanced), vectors.dtype == np.float32 and vectors.tobytes() == expected.tobytes()))
        return vectors

    monkeypatch.setattr(RayEmbedding, "embed_column", checked)
    on_ray = convert(ConvertConfig(**options, engine="ray", num_workers=1))

    assert [column for column, *_ in passes] == ["question", "text", "text"]  # gate questions, gate corpus, mining corpus
    assert all(rows > 16 and advanced == rows and identical for _, rows, advanced, identical in passes), passes
    assert on_ray.files == local.files
    assert {path: path.read_bytes() for path in on_ray.files} == local_bytes
    report = local.report
    assert report.paraphrase_links >= 1 and report.negatives.negatives > 0 and report.quality_gate.roundtrip_k
    assert ray_cluster.is_initialized()  # a session it found running is left running


def test_slices_finishing_out_of_order_land_at_their_offsets(monkeypatch):
    """The driver side of the Ray engine, without Ray: results arrive in any order and fill the matrix by slice number."""
    import datasets

    from sdg_program.export.ray_embedding import RayEmbedding

    monkeypatch.setattr(embedding, "EMBED_SLICE", 4)
    column = datasets.Dataset.from_dict({"text": [f"text {row}" for row in range(10)]})
    expected = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    finished = [(2, 2, expected[8:10].tobytes()), (0, 4, expected[0:4].tobytes()), (1, 4, expected[4:8].tobytes())]
    monkeypatch.setattr(RayEmbedding, "_connect", lambda self: None)
    monkeypatch.setattr(RayEmbedding, "_put_slices", staticmethod(lambda dataset, name, size: [f"slice {n}" for n in range(3)]))
    monkeypatch.setattr(RayEmbedding, "_results", lambda self, blocks, batch_size: iter(finished))
    advanced: list[int] = []
    vectors = embedding.embed_column(column, "text", RayEmbedding(None), 64, advanced.append)
    assert vectors.dtype == np.float32 and np.array_equal(vectors, expected) and advanced == [2, 4, 4]


def test_the_engine_uses_the_shared_cluster_logic_and_leaves_it_as_found(monkeypatch):
    """core.ray_cluster, as generate's engine uses it: one ray.init per conversion, shutdown only of a cluster it started."""
    from sdg_program.core import ray_cluster
    from sdg_program.export.ray_embedding import RayEmbedding
    from tests.runner.test_ray_engine import InitRecorder

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    for held in (False, True):
        fake = InitRecorder(initialized=held)
        monkeypatch.setattr(ray_cluster, "import_ray", lambda: fake)
        engine = RayEmbedding(None, num_workers=512)
        engine._connect()
        engine._connect()  # every pass after the first reuses the connection
        engine.close()
        engine.close()
        if held:
            assert fake.inits == [] and fake.shutdowns == 0  # a session it found running is left running
        else:
            [options] = fake.inits
            assert options["address"] == "local" and options["num_cpus"] == 512 and options["log_to_driver"] is False
            assert fake.shutdowns == 1
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("DSPY_CACHEDIR", "/tmp/dspy-cache-x")
    assert ray_cluster.worker_env(llm=False) == {"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "1"}  # embedding actors: the offline switches only


def test_missing_ray_names_the_install_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    monkeypatch.delitem(sys.modules, "ray.data", raising=False)
    write_records(tmp_path / "generated" / "records.jsonl", awkward_corpus()[:2])
    with pytest.raises(UserError, match=r"pip install 'sdg-program\[ray\]'"):
        convert(input_path=tmp_path / "generated", engine="ray")
    result = CliRunner().invoke(app, ["convert", str(tmp_path / "generated"), "--engine", "ray"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 2
    assert INSTALL_LINE in " ".join(result.output.split())
    assert not (tmp_path / "generated_train_eval").exists()


def test_engine_options_are_checked(tmp_path):
    base = {"input_path": tmp_path}
    for bad in ({"engine": "spark"}, {"engine": "ray", "num_workers": 0}, {"engine": "ray", "worker_gpus": -1},
                {"num_workers": 2}, {"ray_address": "auto"}, {"worker_gpus": 1}):
        with pytest.raises(ValueError):
            ConvertConfig(**base, **bad)
    config = ConvertConfig(**base, engine="ray", ray_address="auto", num_workers=3, worker_gpus=0.5)
    # report.json records the settings; where the embedding ran changes no byte of output, so it is not among them
    assert ConvertConfig(**base).model_dump() == config.model_dump()
    with pytest.raises(ValueError, match="config.embedder"):
        convert(config, model=object())


def test_cli_passes_the_engine_options(tmp_path, monkeypatch):
    seen: list[ConvertConfig] = []

    def fake_convert(config, **_):
        seen.append(config)
        raise UserError("stop here")

    monkeypatch.setattr("sdg_program.cli.convert.convert", fake_convert)
    monkeypatch.setattr("sdg_program.cli.convert._require_ray", lambda: None)
    args = ["convert", str(tmp_path), "--engine", "ray", "--ray-address", "auto", "--num-workers", "3", "--worker-gpus", "0.5"]
    assert CliRunner().invoke(app, args).exit_code == 2
    assert (seen[0].engine, seen[0].ray_address, seen[0].num_workers, seen[0].worker_gpus) == ("ray", "auto", 3, 0.5)
    result = CliRunner().invoke(app, ["convert", str(tmp_path), "--num-workers", "2"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 2 and "engine 'ray' only" in " ".join(result.output.split())
