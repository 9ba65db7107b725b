"""The batched backward pass equals autodiff, and NarrowConv1D's gradients equal Conv1D's.

Checked on a Keras graph built here with every supported layer in awkward settings (odd
length; same, valid and causal convolutions with strides, dilations and even kernels;
max pooling with a partial last window and ties after a ReLU; concatenate, add and
fan-out; cropping and a centre slice; batch norm and Scale next to activations; dense
layers with and without an activation), and on the shipped demo model through
``layer_gradients`` with an RC + shift ensemble.
"""
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import randomise_affine
from test_incremental_ism import _GraphModel
from seqnn_engine import InputError, load_model_dir
from seqnn_engine.attribution import batched_vjp
from seqnn_engine.model.layers import Activate, CenterSlice, NarrowConv1D, Scale

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo"


def _graph(L=301):
    """(model, taps): every supported layer kind; taps are inner tensors to differentiate."""
    keras.utils.set_random_seed(5)
    inp = keras.Input((L, 4))
    a = NarrowConv1D(6, 7, padding="same")(inp)
    a = keras.layers.BatchNormalization()(a)
    b = keras.layers.Conv1D(6, 4, padding="causal", dilation_rate=3)(inp)
    b = Activate("gelu")(b)
    cat = keras.layers.Concatenate()([a, b])                                    # 301 x 12
    relu = keras.layers.ReLU()(cat)                                             # zeros: pooling ties
    x = keras.layers.MaxPooling1D(2, padding="same")(relu)                      # 151, partial window
    y = keras.layers.Conv1D(12, 5, strides=2, padding="same")(x)                # 76
    x = keras.layers.MaxPooling1D(2, padding="same")(x)                         # 76
    x = keras.layers.Add()([x, keras.layers.Activation("sigmoid")(y)])
    x = Scale(initializer="ones")(x)
    x = keras.layers.BatchNormalization()(x)
    mid = keras.layers.Conv1D(8, 3, padding="valid", dilation_rate=2)(x)        # 72
    v = NarrowConv1D(5, 4, padding="valid")(inp)                                # 298, even kernel
    r = keras.layers.MaxPooling1D(4, padding="valid")(Activate("gelu")(v))      # 74 (2 positions dropped)
    r = keras.layers.Conv1D(12, 3, padding="same")(r)
    r = keras.layers.Cropping1D((0, 1))(r)                                      # 73
    r = keras.layers.Dense(12)(keras.layers.Dropout(0.3)(keras.layers.Conv1D(12, 1)(r)))
    r = CenterSlice(72)(r)
    x = keras.layers.Add()([mid, keras.layers.Conv1D(8, 1)(r), mid])            # mid used twice
    x = keras.layers.LeakyReLU(negative_slope=0.1)(x)
    out = keras.layers.Dense(3, activation="softplus")(x)
    m = keras.Model(inp, out)
    randomise_affine(m, np.random.default_rng(0))
    return _GraphModel(m), [inp, cat, relu, v, r, mid]


def _autodiff(kmodel, x, seeds, taps):
    """Reference: one tape.gradient per objective, w.r.t. the tap tensors."""
    inner = [t for t in taps if t is not kmodel.inputs[0]]
    sub = keras.Model(kmodel.inputs, inner + [kmodel.output])
    x = tf.constant(x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        outs = sub(x, training=False)
        acts, preds = outs[:-1], outs[-1]
        ys = [tf.reduce_sum(s * preds) for s in seeds]
    it = iter(acts)
    srcs = [x if t is kmodel.inputs[0] else next(it) for t in taps]
    return [np.stack([tape.gradient(y, s).numpy() for y in ys]) for s in srcs], preds.numpy()


@pytest.mark.parametrize("groups", [1, 2, 3])
def test_awkward_graph_gradients_equal_autodiff(groups):
    model, taps = _graph()
    assert batched_vjp.unsupported_reason(model) is None
    rng = np.random.default_rng(1)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (2, model.seq_length))]
    x[1, 100:110] = 0.0                                                         # Ns
    K = 5
    seeds = rng.normal(size=(K, 2, 72, 3)).astype(np.float32)
    want, want_preds = _autodiff(model.net.model, x, seeds, taps)
    preds, acts, grads = tf.function(lambda xx: batched_vjp.tap_gradients(
        model, xx, lambda p: tf.constant(seeds), taps, K, groups))(tf.constant(x))
    np.testing.assert_allclose(preds.numpy(), want_preds, rtol=1e-6, atol=1e-6)
    relu = acts[2].numpy()
    assert (relu == 0).sum() > 1000                                             # ties in the pooling windows
    for g, w in zip(grads, want):
        assert np.abs(w).max() > 0
        np.testing.assert_allclose(g.numpy(), w, rtol=0, atol=2e-6 * np.abs(w).max())


def test_pooling_ties_route_to_the_first_maximum():
    inp = keras.Input((6, 1))
    out = keras.layers.MaxPooling1D(2, padding="same")(inp)
    model = _GraphModel(keras.Model(inp, out))
    x = tf.constant([[[1.0], [1.0], [0.0], [2.0], [3.0], [3.0]]])
    seeds = tf.ones((1, 1, 3, 1))
    _, _, (g,) = batched_vjp.tap_gradients(model, x, lambda p: seeds, [inp], 1)
    np.testing.assert_array_equal(g.numpy().ravel(), [1, 0, 0, 1, 1, 0])      # hand-computed


def test_demo_layer_gradients_batched_equal_tape():
    m = load_model_dir(DEMO)
    assert batched_vjp.supports(m)
    rng = np.random.default_rng(2)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (3, m.seq_length))]
    layers = [0, "trunk.0.conv_dna", "trunk.1.res_tower.rep2", "trunk.2.dilated_residual"]
    kw = dict(layers=layers, targets=[6, 0, 7, 3, 1], positions="center", rc=True, shifts=(-1, 0, 2),
              target_chunk=3, return_all=True)
    a = m.gradients(x, backward="batched", **kw)
    b = m.gradients(x, backward="tape", **kw)
    np.testing.assert_array_equal(a.preds, b.preds)
    for ga, gb, ra, rb, ma, mb in zip(a.grads, b.grads, a.reprs, b.reprs, a.members, b.members):
        assert np.abs(gb).max() > 0
        np.testing.assert_allclose(ga, gb, rtol=0, atol=1e-5 * np.abs(gb).max())
        np.testing.assert_allclose(ma, mb, rtol=0, atol=1e-5 * np.abs(mb).max())
        np.testing.assert_array_equal(ra, rb)


def test_unsupported_models_fall_back_or_refuse():
    m = load_model_dir(DEMO)
    x = np.eye(4, dtype=np.float32)[np.zeros((1, m.seq_length), int)]
    with pytest.raises(InputError, match="backward must be one of"):
        m.gradients(x, layers=[0], targets=[0], backward="fast")
    with pytest.raises(InputError, match="MC-dropout"):
        m.gradients(x, layers=[0], targets=[0], mc_n=2, backward="batched")
    g = m.gradients(x, layers=[0], targets=[0], mc_n=2)                        # auto: autodiff for MC
    assert np.isfinite(g.grads[0]).all() and np.abs(g.grads[0]).max() > 0
    inp = keras.Input((64, 4))
    h = keras.layers.Conv1D(4, 3, padding="same")(inp)
    out = keras.layers.LayerNormalization()(h)
    assert "LayerNormalization" in batched_vjp.unsupported_reason(_GraphModel(keras.Model(inp, out)))


@pytest.mark.parametrize("k,padding,L", [(15, "same", 203), (4, "same", 64), (1, "same", 9), (11, "valid", 100),
                                         (2, "valid", 33)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_narrow_conv_gradients_equal_conv1d(k, padding, L, dtype):
    rng = np.random.default_rng(k)
    plain = keras.layers.Conv1D(7, k, padding=padding, dtype=dtype)
    narrow = NarrowConv1D(7, k, padding=padding, dtype=dtype)
    x = tf.constant(rng.normal(size=(3, L, 4)), dtype)
    plain.build(x.shape)
    narrow.build(x.shape)
    narrow.set_weights([w + 0.1 * rng.normal(size=w.shape) for w in plain.get_weights()])
    plain.set_weights(narrow.get_weights())
    dy = tf.constant(rng.normal(size=(3, L if padding == "same" else L - k + 1, 7)), dtype)
    res = []
    for lyr in (plain, narrow):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = lyr(x)
        res.append([y.numpy()] + [g.numpy() for g in tape.gradient(y, [x] + lyr.trainable_weights,
                                                                     output_gradients=dy)])
    tol = 1e-5 if dtype == "float32" else 1e-12
    for a, b in zip(*res):
        np.testing.assert_allclose(b, a, rtol=0, atol=tol * np.abs(a).max())
