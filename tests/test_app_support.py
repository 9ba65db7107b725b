"""Support for the dashboard tests: a tiny model directory (built from params in this file, random
weights with a fixed seed) next to a copy of the demo genome and genes, plus a small plain
HDF5 test set, so the app tests need nothing outside the repository."""
from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "assets" / "demo"

TINY_PARAMS = {"model": {
    "seq_length": 4096, "augment_rc": False, "augment_shift": 0,
    "strand_pair": [[0, 1, 2, 3, 4, 5, 7, 6]],
    "activation": "gelu", "norm_type": "batch", "bn_momentum": 0.9,
    "trunk": [
        {"name": "conv_dna", "filters": 16, "kernel_size": 11, "norm_type": None, "activation": "linear",
         "pool_size": 4, "dropout": 0.1},  # a dropout that changes the output (MC-dropout tests)
        {"name": "res_tower", "filters_init": 16, "filters_end": 24, "divisible_by": 8, "kernel_size": 5,
         "num_convs": 1, "pool_size": 2, "repeat": 3},
        {"name": "dilated_residual", "filters": 16, "rate_mult": 2, "repeat": 2, "dropout": 0.1, "kernel_size": 3},
        {"name": "Cropping1D", "cropping": 8},
    ],
    "head": {"name": "final", "units": 8, "activation": "softplus"},
}}
DEFAULT_GENE = "DMG129"


def build_model_root(root: Path) -> Path:
    """Write ``root/tiny`` (model directory) and ``root/tiny_testset.h5``; returns the model dir."""
    import keras

    from seqnn_engine.model.build import build_network
    from seqnn_engine.model.spec import parse_params
    from seqnn_engine.model.weights import save_weights

    d = root / "tiny"
    d.mkdir(parents=True, exist_ok=True)
    (d / "params.json").write_text(json.dumps(TINY_PARAMS))
    keras.utils.set_random_seed(7)
    net = build_network(parse_params(d / "params.json"), 0)
    save_weights(net.layers, d / "model.weights.h5")
    for f in ("targets.txt", "genome.fa.gz", "genome.fa.gz.fai", "genome.fa.gz.gzi", "genes.gtf"):
        shutil.copy(DEMO / f, d / f)
    (d / "manifest.json").write_text(json.dumps({
        "name": "Tiny test model", "genome": "genome.fa.gz", "genes": "genes.gtf", "targets": "targets.txt",
        "test_chroms": ["chr3"], "default_gene": DEFAULT_GENE}))
    _write_testset(root / "tiny_testset.h5")
    return d


def build_replicates(root: Path) -> Path:
    """``root/tiny_reps``: the tiny architecture with two weight files (replicates), no genome."""
    import keras

    from seqnn_engine.model.build import build_network
    from seqnn_engine.model.spec import parse_params
    from seqnn_engine.model.weights import save_weights

    d = root / "tiny_reps"
    d.mkdir(parents=True, exist_ok=True)
    (d / "params.json").write_text(json.dumps(TINY_PARAMS))
    for i in range(2):
        keras.utils.set_random_seed(100 + i)
        save_weights(build_network(parse_params(d / "params.json"), 0).layers, d / f"model{i}.weights.h5")
    shutil.copy(DEMO / "targets.txt", d / "targets.txt")
    return d


def _write_testset(path: Path, n: int = 3) -> None:
    from seqnn_engine.analysis.datasets import write_plain_hdf5
    rng = np.random.default_rng(3)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, 4096))]
    y = rng.gamma(2.0, 0.5, (n, 112, 8)).astype(np.float32)
    ids = ["CTCF", "SPI1", "CEBPB", "REST", "ATAC", "H3K27ac", "CAGE+", "CAGE-"]
    write_plain_hdf5(path, x, y, target_ids=ids, target_labels=ids)


def test_tiny_model_dir_geometry(tmp_path):
    """The fixture model directory is found under its root and has the demo's geometry."""
    from seqnn_engine import load_model_dir
    from seqnn_engine.model.modeldir import find_model_dirs
    d = build_model_root(tmp_path)
    found = find_model_dirs([tmp_path])
    assert [m.path for m in found] == [d.resolve()]
    m = load_model_dir(d)
    assert (m.seq_length, m.target_length, m.stride, m.crop, m.num_targets) == (4096, 112, 32, 8, 8)
    assert m.has_dropout and m.strand_pair.tolist() == [0, 1, 2, 3, 4, 5, 7, 6]


@contextlib.contextmanager
def dashboard_env(tmp_path_factory):
    """A model root holding the tiny model, an empty result store and an empty dashboard config,
    set (for the duration) in the environment the dashboard reads: SEQNN_MODEL_ROOTS,
    SEQNN_STORE_DIR, SEQNN_DASHBOARD_CONFIG. Yields {"root", "model_dir", "store"}."""
    import pytest

    root = tmp_path_factory.mktemp("models")
    model_dir = build_model_root(root).resolve()
    store = tmp_path_factory.mktemp("store")
    cfg = tmp_path_factory.mktemp("cfg") / "config.toml"
    cfg.write_text("")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQNN_MODEL_ROOTS", str(root))
        mp.setenv("SEQNN_STORE_DIR", str(store))
        mp.setenv("SEQNN_DASHBOARD_CONFIG", str(cfg))
        yield {"root": root, "model_dir": model_dir, "store": store}
