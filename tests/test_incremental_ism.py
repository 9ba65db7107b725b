"""Incremental ISM equals full forward passes of every mutant.

Checked on the shipped demo model (Basenji conv tower) and on a small Keras graph built
here with the awkward cases: odd lengths, strided and causal/valid convolutions,
dilations, SAME max and average pooling with partial edge windows, layer norm,
concatenate/multiply merges, asymmetric cropping and a centre slice.
"""
import threading
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import randomise_affine
from seqnn_engine.model import ensemble as ens
from seqnn_engine import load_model_dir
from seqnn_engine.attribution import incremental_ism as inc
from seqnn_engine.attribution.input_attr import ism_mutants
from seqnn_engine.model.layers import Activate, CenterSlice, Scale

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo"


class _GraphModel:
    """The attributes incremental ISM reads from a SeqModel, around a plain Keras model."""

    def __init__(self, kmodel, strand_pair=None):
        self.net = type("Net", (), {"model": kmodel})()
        self.seq_length = kmodel.inputs[0].shape[1]
        self.strand_pair = strand_pair
        self._lock = threading.Lock()
        self._fns = {}
        self._predict_fn = tf.function(lambda a: kmodel(a, training=False))

    def _fn(self, key, make):
        if key not in self._fns:
            self._fns[key] = make()
        return self._fns[key]


def _awkward_model(L=301):
    keras.utils.set_random_seed(3)
    inp = keras.Input((L, 4))
    a = keras.layers.Conv1D(6, 7, padding="same", activation="relu")(inp)
    a = keras.layers.BatchNormalization()(a)
    b = keras.layers.Conv1D(6, 4, padding="causal", dilation_rate=3)(inp)
    b = Activate("gelu")(b)
    x = keras.layers.Concatenate()([a, b])                                    # 12 channels
    x = keras.layers.AveragePooling1D(3, strides=2, padding="same")(x)        # 151
    y = keras.layers.Conv1D(12, 5, strides=2, padding="same")(x)              # 76
    x = keras.layers.MaxPooling1D(3, strides=2, padding="same")(x)            # 76
    x = keras.layers.Multiply()([x, keras.layers.Activation("sigmoid")(y)])
    x = keras.layers.LayerNormalization()(x)
    x = Scale(initializer="ones")(x)
    x = keras.layers.Conv1D(8, 3, padding="valid", dilation_rate=2)(x)       # 72
    r = keras.layers.AveragePooling1D(3, strides=2, padding="same")(keras.layers.Concatenate()([a, b]))
    r = keras.layers.MaxPooling1D(3, strides=2, padding="same")(r)            # 76
    r = keras.layers.Conv1D(12, 3, padding="same")(r)
    r = keras.layers.Cropping1D((1, 2))(r)                                    # 73
    r = keras.layers.Dense(12)(keras.layers.Dropout(0.3)(keras.layers.Conv1D(12, 1)(r)))
    r = CenterSlice(72)(r)                                                    # 72, from position 0
    x = keras.layers.Add()([x, keras.layers.Conv1D(8, 1)(r)])
    out = keras.layers.Dense(3, activation="softplus")(x)
    m = keras.Model(inp, out)
    randomise_affine(m, np.random.default_rng(0))
    return _GraphModel(m, strand_pair=[0, 2, 1])


def _full(model, x1, pos, base, mem):
    muts = np.repeat(x1[None], pos.size, axis=0)
    muts[np.arange(pos.size), pos] = 0.0
    muts[np.arange(pos.size), pos, base] = 1.0
    p = model._predict_fn(tf.constant(ens.augment(muts, mem))).numpy()
    ref = model._predict_fn(tf.constant(ens.augment(x1[None], mem))).numpy()
    return ens.unaugment_bins(ref, mem, model.strand_pair)[0], ens.unaugment_bins(p, mem, model.strand_pair)


def test_awkward_graph_every_mutant_equals_full_pass():
    model = _awkward_model()
    assert inc.unsupported_reason(model) is None
    rng = np.random.default_rng(1)
    x1 = np.eye(4, dtype=np.float32)[rng.integers(0, 4, model.seq_length)]
    x1[150] = 0.0                                                             # an N: all four bases tried
    _, pos, base = ism_mutants(x1, 0, model.seq_length)
    for mem, chunk in [(ens.Member(False, 0), 1), (ens.Member(False, 0), 13), (ens.Member(True, 2), 40),
                       (ens.Member(False, -3), 301)]:
        got = inc.mutant_predictions(model, x1, pos, base, mem, chunk_bp=chunk, batch_size=97)
        ref, full = _full(model, x1, pos, base, mem)
        assert np.abs(full - ref[None]).max() > 1e-2                          # mutations change predictions
        for edge in ((0, model.seq_length - 1) if mem.shift == 0 else ()):  # ... at both edges too
            assert np.abs(full[pos == edge] - ref[None]).max() > 1e-3
        np.testing.assert_allclose(got.ref, ref, rtol=0, atol=1e-5)
        np.testing.assert_allclose(got.preds, full, rtol=0, atol=2e-5 * np.abs(full).max())


def test_demo_model_mutants_equal_full_pass():
    m = load_model_dir(DEMO)
    assert inc.supports(m)
    rng = np.random.default_rng(2)
    x1 = np.eye(4, dtype=np.float32)[rng.integers(0, 4, m.seq_length)]
    for (s, e), mem in [((0, 20), ens.Member(False, 0)), ((2040, 2070), ens.Member(True, 1)),
                        ((m.seq_length - 20, m.seq_length), ens.Member(True, -2))]:
        _, pos, base = ism_mutants(x1, s, e)
        got = inc.mutant_predictions(m, x1, pos, base, mem, chunk_bp=16)
        ref, full = _full(m, x1, pos, base, mem)
        assert np.abs(full - ref[None]).max() > 1e-5
        np.testing.assert_allclose(got.preds, full, rtol=0, atol=1e-5 * np.abs(full).max())
        # bins far from the substitution are the reference's exactly (spliced, not recomputed)
        far = np.abs(np.arange(m.target_length) * m.stride + m.crop * m.stride - s) > 3000
        assert np.array_equal(got.preds[:, far], np.repeat(got.ref[None], pos.size, 0)[:, far])


def test_mc_members_and_global_layers_are_refused():
    m = load_model_dir(DEMO)
    x1 = np.eye(4, dtype=np.float32)[np.zeros(m.seq_length, int)]
    with pytest.raises(ValueError, match="MC-dropout"):
        inc.mutant_predictions(m, x1, np.array([5]), np.array([1]), ens.Member(False, 0, 0))
    inp = keras.Input((64, 4))
    h = keras.layers.Conv1D(4, 3, padding="same")(inp)
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(h))
    model = _GraphModel(keras.Model(inp, out))
    assert "GlobalAveragePooling1D" in inc.unsupported_reason(model)
    with pytest.raises(ValueError, match="does not support this model"):
        inc.mutant_predictions(model, x1[:64], np.array([5]), np.array([1]))


def test_progress_reaches_the_total_and_can_cancel():
    m = load_model_dir(DEMO)
    x = np.eye(4, dtype=np.float32)[np.random.default_rng(4).integers(0, 4, (1, m.seq_length))]
    seen = []
    m.attribute(x, "ism", targets=[0], window=(100, 300), rc=True, diagnostics=False,
                progress=lambda d, t: seen.append((d, t)))
    assert len(seen) >= 4 and seen[-1] == (600, 600)                         # 200 bp x 3 substitutions
    assert all(b[0] >= a[0] for a, b in zip(seen, seen[1:]))                 # monotone

    class Stop(Exception):
        pass

    def stop(d, t):
        if d > 0:
            raise Stop
    with pytest.raises(Stop):
        m.attribute(x, "ism", targets=[0], window=(100, 300), diagnostics=False, progress=stop)
