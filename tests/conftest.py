"""Shared test fixtures: locate ../shared (skip clearly when absent)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """Path under ../shared, or skip the test with a clear reason when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared reference material not found at {p} (only present beside the project checkout)")
    return p


@pytest.fixture
def shared():
    return shared_path


def demo_replicate_dir(d: Path, seeds, name: str) -> Path:
    """The bundled demo model copied into ``d`` with one extra weights file per seed
    (``rep{k}.weights.h5``, seeded random weights): a model directory of replicates."""
    import json
    import shutil

    from seqnn_engine.model import load_model
    from seqnn_engine.model.weights import save_weights

    demo = REPO / "assets" / "demo"
    for f in ("params.json", "targets.txt", "model.weights.h5", "genome.fa.gz", "genome.fa.gz.fai",
              "genome.fa.gz.gzi", "genes.gtf"):
        shutil.copy(demo / f, d / f)
    weights = ["model.weights.h5"]
    for k, seed in enumerate(seeds, start=1):
        m = load_model(d / "params.json", None, seed=seed)
        save_weights(m.net.layers, d / f"rep{k}.weights.h5")
        weights.append(f"rep{k}.weights.h5")
    (d / "manifest.json").write_text(json.dumps({"name": name, "params": "params.json", "targets": "targets.txt",
                                                 "genome": "genome.fa.gz", "genes": "genes.gtf",
                                                 "weights": weights}))
    return d


def write_legacy_layers(group, layers, tag: str = "w") -> None:
    """Write ``layers``' weights into an h5py group in the legacy Keras 2 layout, by hand:
    one subgroup per weighted layer (``layer_{i}``) holding datasets ``layer_{i}/{tag}{j}:0``, with
    the ``weight_names`` and ``layer_names`` attributes that legacy readers follow."""
    from seqnn_engine.model.weights import legacy_variables, weighted_layers

    names = []
    for i, lyr in enumerate(weighted_layers(layers)):
        g = group.create_group(f"layer_{i}")
        wn = []
        for j, v in enumerate(legacy_variables(lyr)):
            g.create_dataset(f"layer_{i}/{tag}{j}:0", data=v.numpy())
            wn.append(f"layer_{i}/{tag}{j}:0".encode())
        g.attrs["weight_names"] = wn
        names.append(f"layer_{i}".encode())
    group.attrs["layer_names"] = names


def randomise_affine(kmodel, rng) -> None:
    """Give a Keras model's batch norms (moving statistics, gamma) and Scale layers random
    values, so tests of exactness see more than the identity they are initialised to."""
    import keras

    from seqnn_engine.model.layers import Scale
    for lyr in kmodel.layers:
        if isinstance(lyr, keras.layers.BatchNormalization):
            lyr.moving_mean.assign(rng.normal(0, 0.3, lyr.moving_mean.shape))
            lyr.moving_variance.assign(rng.uniform(0.5, 2.0, lyr.moving_variance.shape))
            if lyr.scale:
                lyr.gamma.assign(rng.normal(1, 0.3, lyr.gamma.shape))
        if isinstance(lyr, Scale):
            lyr.scale.assign(rng.normal(1, 0.3, lyr.scale.shape))
