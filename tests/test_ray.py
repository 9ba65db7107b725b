"""``--executor ray`` on a local 2-actor cluster gives the same arrays as a local run.

Skipped when Ray is not installed (it is optional: requirements-ray.txt).
"""
from __future__ import annotations

import h5py
import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is optional (pip install -r requirements-ray.txt)")

from conftest import REPO  # noqa: E402
from seqnn_engine.cli import main  # noqa: E402
from test_cli_batch import GENOME, MIXED, PROMOTERS, build_tiny_model  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                 runtime_env={"env_vars": {"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}})
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny_ray") / "model")


def _read(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f}


def _variants_vcf(tmp_path):
    from seqnn_engine.genomics.genome import Genome

    with Genome(GENOME) as g:
        rows = []
        for i, pos in enumerate((30_001, 30_500, 61_000, 61_100, 90_000)):
            b = g.fetch("chr3", pos - 1, pos).sequence
            rows.append(f"chr3\t{pos}\tv{i}\t{b}\t{'A' if b != 'A' else 'G'}")
    p = tmp_path / "v.vcf"
    p.write_text("#CHROM\tPOS\tID\tREF\tALT\n" + "\n".join(rows) + "\n")
    return p


@pytest.mark.parametrize("command", ["predict", "attribute", "variants"])
def test_ray_run_equals_local_run(cluster, model_dir, tmp_path, command):
    fasta = tmp_path / "all.fa"
    fasta.write_text(PROMOTERS.read_text() + MIXED.read_text())  # 9 rows
    if command == "predict":
        args = ["predict", "--fasta", fasta, "--targets", "0-7", "--rc", "--shifts", "-1,0,1"]
    elif command == "attribute":
        args = ["attribute", "--fasta", fasta, "--targets", "6,7", "--method", "saliency", "--positions", "center"]
    else:
        args = ["variants", "--vcf", _variants_vcf(tmp_path), "--genome", GENOME, "--stats", "SUM,D2", "--rc"]
    common = [*args, "--model", model_dir, "--chunk-size", "2", "--float32", "--quiet"]
    local, distributed = tmp_path / "local.h5", tmp_path / "ray.h5"
    assert main([str(a) for a in [*common, "--out", local]]) == 0
    assert main([str(a) for a in [*common, "--out", distributed, "--executor", "ray", "--num-actors", "2"]]) == 0
    a, b = _read(local), _read(distributed)
    assert sorted(a) == sorted(b) and a["chunk_done"].all()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_missing_ray_message_names_the_requirements_file(monkeypatch):
    import builtins

    from seqnn_engine.errors import InputError
    from seqnn_engine.batch.jobs import ModelSource, make_executor

    real = builtins.__import__

    def no_ray(name, *a, **k):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(InputError, match="requirements-ray.txt"):
        make_executor("ray", ModelSource(model_dir=str(REPO)))
