"""DeepLIFT/SHAP (method='deep_lift_shap'): completeness, exactness against independent
computations, refusals.

- completeness: sum of contributions = f(x) - mean_k f(r_k) on the demo model (with an RC +
  shift ensemble) and on the shared compat model, f computed from the engine's predictions;
- a linear network: the multipliers are its (constant) gradient, so contributions are
  w . (x - r) exactly (through every linear layer kind the walker passes);
- a 2-layer network (conv -> ReLU -> max pool -> dense + softplus, log objective):
  DeepLIFT written out by hand in numpy (float64) gives the same multipliers;
- a network whose output is a sum of per-position terms (kernel-1 layers only): the DeepSHAP
  position sums equal the exact Shapley values computed by enumerating all coalitions of
  positions from model predictions, averaged over references (for such additive games both
  equal h_p(x_p) - h_p(r_p), which DeepLIFT reproduces position by position);
- attention / layer norm / products of tensors and MC dropout are refused with InputError.
"""
from itertools import combinations
from math import factorial
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import randomise_affine, shared_path
from test_incremental_ism import _GraphModel
from seqnn_engine import InputError, load_model, load_model_dir
from seqnn_engine.model import ensemble as ens
from seqnn_engine.attribution import deeplift as dls
from seqnn_engine.attribution import graph
from seqnn_engine.attribution.objective import Objective
from seqnn_engine.model.layers import Activate, CenterSlice, Scale

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo"


def _onehot(rng, shape):
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, shape)]


def _objective(kmodel, S, tw, statistic="sum", mask=None):
    P = kmodel.outputs[0].shape[1]
    m = np.ones((S, P), np.float32) if mask is None else np.broadcast_to(mask, (S, P)).astype(np.float32)
    return Objective(np.asarray(tw, np.float32), np.ascontiguousarray(m), statistic)


def _sum_objective(preds, targets, mask=None):
    """(N, P, T) ensemble-mean predictions -> (N,) sum over bins of the mean over targets."""
    v = preds[..., targets].mean(-1)
    return (v if mask is None else v * mask).sum(-1)


# ------------------------------------------------------------------------- completeness


@pytest.fixture(scope="module")
def demo():
    return load_model_dir(DEMO)


def test_demo_completeness_with_an_rc_shift_ensemble(demo):
    rng = np.random.default_rng(0)
    x = _onehot(rng, (2, demo.seq_length))
    x[1, 1000:1040] = 0.0                                              # an N run (a fifth shuffle symbol)
    targets, shifts, K, seed = [0, 3], (-1, 0, 1), 3, 4
    a = demo.attribute(x, "deep_lift_shap", targets=targets, rc=True, shifts=shifts, n_refs=K, seed=seed,
                       batch_size=8, diagnostics=False, return_all=True)
    refs = dls.make_references(x, K, seed)                             # the references attribute() used
    assert refs.shape == (2, K, demo.seq_length, 4)
    assert not np.array_equal(refs[:, 0], refs[:, 1])
    f_x = _sum_objective(demo.predict(x, rc=True, shifts=shifts).mean, targets)
    f_r = _sum_objective(demo.predict(refs.reshape(-1, demo.seq_length, 4), rc=True, shifts=shifts).mean,
                         targets).reshape(2, K)
    delta = f_x - f_r.mean(1)
    assert np.abs(delta).min() > 1e-2
    total = a.scores.reshape(2, -1).sum(1)
    assert np.all(np.abs(total - delta) <= 1e-3 * np.abs(delta))
    np.testing.assert_allclose(a.objective, f_x, rtol=1e-5)
    # contributions sit on the sequence's bases (hypothetical x x) except on all-zero N rows
    clear = x.sum(-1) > 0
    np.testing.assert_allclose(a.scores[clear], (a.hypothetical * x)[clear], rtol=1e-6, atol=1e-9)
    # members: one (S, L, 4) hypothetical array per member, their mean is the result
    assert a.members.shape == x.shape + (6,) and a.var.shape == x.shape
    np.testing.assert_allclose(a.members.mean(-1), a.hypothetical, rtol=1e-4, atol=1e-7)
    assert a.position_scores().shape == (2, demo.seq_length)


def test_demo_log_objective_completeness_per_reference(demo):
    """With one reference per row, every (x, r) pair must be explained exactly (log statistic:
    the rescale rule on the log too)."""
    rng = np.random.default_rng(1)
    x = _onehot(rng, (1, demo.seq_length))
    refs = dls.make_references(x, 3, 0)[0][:, None]                  # (3, 1, L, 4)
    xs = np.repeat(x, 3, axis=0)
    obj = Objective(np.eye(demo.num_targets, dtype=np.float32)[2], np.ones((3, demo.target_length), np.float32),
                    "log", 0.5)
    r = dls.deep_lift_shap(demo, xs, obj, ens.members(False), refs, batch_size=3)
    f = np.log(demo.predict(np.concatenate([x, refs[:, 0]])).mean[..., 2].sum(-1) + 0.5 + 1e-6)
    delta = f[0] - f[1:]
    assert np.abs(delta).min() > 1e-2
    np.testing.assert_allclose(r.scores.reshape(3, -1).sum(1), delta, rtol=1e-3)
    assert (r.completeness_error <= 1e-3).all()


def test_compat_small_completeness(shared):
    d = shared("compat", "small")
    m = load_model(d / "params.json", d / "model0.h5")
    x = np.load(d / "reference.npz")["seqs"][:2].astype(np.float32)
    a = m.attribute(x, "deep_lift_shap", targets=[1], positions="center", n_refs=4, seed=2, batch_size=8,
                    diagnostics=False)
    refs = dls.make_references(x, 4, 2)
    mask = np.zeros(m.target_length)
    mask[m.target_length // 2 - 1:m.target_length // 2 + 1] = 1
    f_x = _sum_objective(m.predict(x).mean, [1], mask)
    f_r = _sum_objective(m.predict(refs.reshape(-1, m.seq_length, 4)).mean, [1], mask).reshape(2, 4)
    delta = f_x - f_r.mean(1)
    assert np.abs(delta).min() > 1e-3 * np.abs(f_x).max()
    assert np.all(np.abs(a.scores.reshape(2, -1).sum(1) - delta) <= 1e-3 * np.abs(delta))
    np.testing.assert_allclose(a.diagnostics["dls_delta"], delta, rtol=1e-4)


# ------------------------------------------------------------------------- linear network


def _linear_graph(L=48):
    keras.utils.set_random_seed(11)
    inp = keras.Input((L, 4))
    a = keras.layers.Conv1D(6, 5, padding="same")(inp)
    a = keras.layers.BatchNormalization()(a)
    b = keras.layers.SeparableConv1D(6, 3, padding="same")(inp)
    x = keras.layers.Concatenate()([a, Scale(initializer="ones")(b)])
    x = keras.layers.AveragePooling1D(2)(x)                                   # 24
    y = keras.layers.UpSampling1D(2)(keras.layers.Dense(12)(keras.layers.AveragePooling1D(2)(x)))
    x = keras.layers.Add()([x, y, keras.layers.Dropout(0.5)(x)])
    x = keras.layers.Cropping1D((2, 1))(x)                                    # 21
    x = CenterSlice(20)(x)
    out = keras.layers.Dense(3)(x)
    m = keras.Model(inp, out)
    randomise_affine(m, np.random.default_rng(2))
    return _GraphModel(m, strand_pair=[0, 2, 1])


def test_linear_network_contributions_are_gradient_times_difference():
    model = _linear_graph()
    km = model.net.model
    rng = np.random.default_rng(3)
    S, K, L = 2, 4, model.seq_length
    x = _onehot(rng, (S, L))
    refs = _onehot(rng, (S, K, L))
    tw = np.array([0.5, 0.0, 0.5], np.float32)
    mask = (rng.random((S, 20)) > 0.3).astype(np.float32)
    obj = Objective(tw, mask, "mean")
    for mem in (ens.Member(False, 0), ens.Member(True, 2)):
        r = dls.deep_lift_shap(model, x, obj, [mem], refs, batch_size=3)
        # the gradient of this linear objective, by autodiff of the plain Keras model
        xa = tf.constant(ens.augment(x, mem))
        with tf.GradientTape() as tape:
            tape.watch(xa)
            p = km(xa, training=False)
            if mem.rc:
                p = tf.gather(tf.reverse(p, [1]), [0, 2, 1], axis=-1)
            f = tf.reduce_sum(tf.reduce_sum(p * tw, -1) * mask, -1) / mask.sum(1)
        w = ens.unaugment_input(tape.gradient(f, xa).numpy(), mem).astype(np.float64)     # (S, L, 4)
        hyp = w - (refs * w[:, None]).sum(-1, keepdims=True).mean(1)
        np.testing.assert_allclose(r.hypothetical, hyp, rtol=1e-5, atol=1e-6 * np.abs(w).max())
        contrib = ((x[:, None] - refs) * w[:, None]).mean(1)                # w . (x - r), mean over refs
        np.testing.assert_allclose(r.scores.sum(-1), contrib.sum(-1), rtol=1e-5, atol=1e-6 * np.abs(w).max())
        assert np.abs(r.scores[x == 0]).max() == 0.0                        # all on the sequence's bases
        np.testing.assert_allclose(r.scores.reshape(S, -1).sum(1), r.delta, rtol=1e-4)


# ------------------------------------------------------------------------- DeepLIFT by hand


def _two_layer(L=40, U=5, T=2):
    keras.utils.set_random_seed(21)
    inp = keras.Input((L, 4))
    h = keras.layers.Conv1D(U, 3, padding="same")(inp)
    a = keras.layers.ReLU()(h)
    p = keras.layers.MaxPooling1D(2)(a)
    out = keras.layers.Dense(T, activation="softplus")(p)
    m = keras.Model(inp, out)
    conv, dense = m.layers[1], m.layers[4]
    rng = np.random.default_rng(5)
    conv.kernel.assign(rng.normal(0, 0.7, conv.kernel.shape))
    conv.bias.assign(rng.normal(0, 0.3, conv.bias.shape))
    dense.kernel.assign(rng.normal(0, 0.7, dense.kernel.shape))
    dense.bias.assign(rng.normal(-0.5, 0.3, dense.bias.shape))
    return _GraphModel(m), [v.numpy().astype(np.float64) for v in (conv.kernel, conv.bias, dense.kernel, dense.bias)]


def _secant(g, dg, zx, zr):
    """(g(zx) - g(zr)) / (zx - zr), the derivative dg where zx == zr."""
    d = zx - zr
    return np.where(d != 0, (g(zx) - g(zr)) / np.where(d != 0, d, 1), dg(zx))


def _hand_multipliers(weights, x, r, tw, mask, pc):
    """DeepLIFT-rescale multipliers of log(sum_b mask_b sum_t tw_t softplus(dense(maxpool(relu(conv(x))))))
    w.r.t. the one-hot input, for one input x (L, 4) and reference r (L, 4), in numpy."""
    K1, b1, W2, b2 = weights
    k = K1.shape[0]

    def conv(v):
        vp = np.pad(v, [(1, 1), (0, 0)])
        return np.stack([np.einsum("jc,jcu->u", vp[i:i + k], K1) for i in range(v.shape[0])]) + b1

    relu = lambda z: np.maximum(z, 0)                                        # noqa: E731
    softplus = lambda z: np.logaddexp(0, z)                                  # noqa: E731
    hx, hr = conv(x), conv(r)
    ax, ar = relu(hx), relu(hr)
    wx, wr = ax.reshape(-1, 2, ax.shape[1]), ar.reshape(-1, 2, ar.shape[1])  # pooling windows
    px, pr = wx.max(1), wr.max(1)
    zx, zr = px @ W2 + b2, pr @ W2 + b2
    sx = (softplus(zx) @ tw * mask).sum()
    sr = (softplus(zr) @ tw * mask).sum()
    m_s = (np.log(sx + pc + 1e-6) - np.log(sr + pc + 1e-6)) / (sx - sr)
    m_z = m_s * mask[:, None] * tw[None] * _secant(softplus, lambda z: 1 / (1 + np.exp(-z)), zx, zr)
    m_p = m_z @ W2.T                                                         # (nb, U)
    m_a = np.zeros_like(ax)
    for b in range(wx.shape[0]):
        for u in range(wx.shape[2]):
            w_x, w_r = wx[b, :, u], wr[b, :, u]
            j = int(np.argmax(w_x)) if w_x.max() >= w_r.max() else int(np.argmax(w_r))
            din = w_x[j] - w_r[j]
            m_a[2 * b + j, u] = m_p[b, u] * ((w_x.max() - w_r.max()) / din if din != 0 else 1.0)
    m_h = m_a * _secant(relu, lambda z: (z > 0).astype(float), hx, hr)
    mp = np.pad(m_h, [(1, 1), (0, 0)])
    return np.stack([sum(K1[j] @ mp[i + 2 - j] for j in range(k)) for i in range(x.shape[0])])


def test_two_layer_network_matches_deeplift_by_hand():
    model, weights = _two_layer()
    rng = np.random.default_rng(8)
    S, K, L = 2, 3, model.seq_length
    x = _onehot(rng, (S, L))
    refs = _onehot(rng, (S, K, L))
    refs[0, 0, :6] = x[0, :6]                                                # some windows equal: derivative rule
    tw = np.array([0.25, 0.75])
    mask = np.zeros((S, L // 2))
    mask[:, 3:15] = 1
    obj = Objective(tw.astype(np.float32), mask.astype(np.float32), "log", 0.1)
    r = dls.deep_lift_shap(model, x, obj, ens.members(False), refs, batch_size=4)
    hyp = np.zeros((S, L, 4))
    for s in range(S):
        for k in range(K):
            m = _hand_multipliers(weights, x[s].astype(np.float64), refs[s, k].astype(np.float64), tw, mask[s], 0.1)
            hyp[s] += (m - (refs[s, k] * m).sum(-1, keepdims=True)) / K
    assert np.abs(hyp).max() > 1e-2
    np.testing.assert_allclose(r.hypothetical, hyp, rtol=1e-4, atol=1e-5 * np.abs(hyp).max())
    np.testing.assert_allclose(r.scores, hyp * x, rtol=1e-4, atol=1e-5 * np.abs(hyp).max())


# ------------------------------------------------------------------------- exact Shapley values


def _separable(L=7):
    keras.utils.set_random_seed(31)
    inp = keras.Input((L, 4))
    x = keras.layers.Conv1D(6, 1)(inp)
    x = Activate("gelu")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Conv1D(4, 1)(x)
    x = keras.layers.ReLU()(x)
    out = keras.layers.Dense(2, activation="softplus")(x)
    m = keras.Model(inp, out)
    randomise_affine(m, np.random.default_rng(6))
    rng = np.random.default_rng(7)
    for lyr in m.layers:
        if isinstance(lyr, (keras.layers.Conv1D, keras.layers.Dense)):
            lyr.kernel.assign(rng.normal(0, 1.0, lyr.kernel.shape))
            lyr.bias.assign(rng.normal(0, 0.5, lyr.bias.shape))
    return _GraphModel(m)


def _shapley(predict_f, x, r):
    """Exact Shapley values of the positions of x (L, 4) against reference r, by enumeration."""
    L = x.shape[0]
    coalitions = [c for n in range(L + 1) for c in combinations(range(L), n)]
    hybrids = np.stack([np.where(np.isin(np.arange(L), c)[:, None], x, r) for c in coalitions])
    v = dict(zip(coalitions, predict_f(hybrids)))
    phi = np.zeros(L)
    for p in range(L):
        for c in coalitions:
            if p in c:
                continue
            w = factorial(len(c)) * factorial(L - len(c) - 1) / factorial(L)
            phi[p] += w * (v[tuple(sorted(c + (p,)))] - v[c])
    return phi


def test_additive_network_matches_exact_shapley_values():
    model = _separable()
    km = model.net.model
    rng = np.random.default_rng(9)
    K, L = 4, model.seq_length
    x = _onehot(rng, (1, L))
    refs = _onehot(rng, (1, K, L))
    tw = np.array([0.3, 0.7], np.float32)
    obj = _objective(km, 1, tw, "sum")
    r = dls.deep_lift_shap(model, x, obj, ens.members(False), refs, batch_size=K)

    def f(batch):
        return (km(tf.constant(batch, tf.float32), training=False).numpy().astype(np.float64) @ tw).sum(-1)
    phi = np.mean([_shapley(f, x[0], refs[0, k]) for k in range(K)], axis=0)
    assert np.abs(phi).max() > 1e-2
    np.testing.assert_allclose(r.scores[0].sum(-1), phi, rtol=1e-4, atol=1e-5 * np.abs(phi).max())


# ------------------------------------------------------------------------- refusals


def test_attention_model_is_refused_naming_the_layer(shared):
    d = shared("compat", "tx")
    m = load_model(d / "params.json", d / "model0.h5")
    x = np.load(d / "reference.npz")["seqs"][:1]
    with pytest.raises(InputError, match=r"LayerNormalization \(layer_normalization"):
        m.attribute(x, "deep_lift_shap", targets=[0], n_refs=2)


def test_products_of_tensors_are_refused():
    inp = keras.Input((16, 4))
    a = keras.layers.Conv1D(3, 3, padding="same")(inp)
    b = keras.layers.Conv1D(3, 3, padding="same", name="gate_conv")(inp)
    out = keras.layers.Dense(1)(keras.layers.Multiply(name="gate")([a, b]))
    model = _GraphModel(keras.Model(inp, out))
    assert "Multiply (gate)" in dls.unsupported_reason(model)
    x = np.eye(4, dtype=np.float32)[np.zeros((1, 16), int)]
    with pytest.raises(InputError, match=r"Multiply \(gate\)"):
        dls.deep_lift_shap(model, x, _objective(model.net.model, 1, [1.0]), ens.members(False), x[:, None])


def test_mc_dropout_and_bad_reference_counts_are_refused(demo):
    x = np.eye(4, dtype=np.float32)[np.zeros((1, demo.seq_length), int)]
    with pytest.raises(InputError, match="MC-dropout"):
        demo.attribute(x, "deep_lift_shap", mc_n=2)
    with pytest.raises(InputError, match="n_refs"):
        demo.attribute(x, "deep_lift_shap", n_refs=0)
    with pytest.raises(InputError, match="n_refs"):
        demo.attribute(x, "deep_lift_shap", n_refs="many")


# ------------------------------------------------------------------------- U-net, CLI, dashboard


UNET_PARAMS = {"model": {
    "seq_length": 256, "activation": "gelu", "norm_type": "batch", "bn_momentum": 0.9,
    "trunk": [{"name": "conv_dna", "filters": 8, "kernel_size": 7, "norm_type": None, "activation": "linear",
               "pool_size": 2},
              {"name": "conv_tower", "filters_init": 12, "filters_mult": 1.0, "kernel_size": 5, "pool_size": 2,
               "repeat": 2},
              {"name": "unet_conv", "kernel_size": 3, "upsample_conv": True},
              {"name": "Cropping1D", "cropping": 4}],
    "head": {"name": "final", "units": 3, "activation": "softplus"}}}


def test_unet_model_is_supported_and_complete(tmp_path):
    import json

    from tools.demo.groundtruth import untrained_model

    (tmp_path / "params.json").write_text(json.dumps(UNET_PARAMS))
    m = untrained_model(tmp_path / "params.json", seed=3)
    kinds = {type(n.operation).__name__ for n in graph.nodes(m.net.model)}
    assert {"UpSampling1D", "SeparableConv1D", "MaxPooling1D"} <= kinds
    randomise_affine(m.net.model, np.random.default_rng(4))
    x = _onehot(np.random.default_rng(5), (2, m.seq_length))
    a = m.attribute(x, "deep_lift_shap", targets=[0, 2], statistic="log", pseudocount=0.1, rc=True, n_refs=3,
                    seed=1, diagnostics=False)
    refs = dls.make_references(x, 3, 1).reshape(-1, m.seq_length, 4)
    mem_preds = m.predict(np.concatenate([x, refs]), rc=True, return_all=True).members      # (N, P, T, 2)
    f = np.log(mem_preds[:, :, [0, 2]].mean(2).sum(1) + 0.1 + 1e-6).mean(-1)               # member mean
    delta = f[:2] - f[2:].reshape(2, 3).mean(1)
    assert np.abs(delta).min() > 1e-3
    np.testing.assert_allclose(a.scores.reshape(2, -1).sum(1), delta, rtol=1e-3)


def test_cli_attribute_deep_lift_shap_equals_engine(tmp_path):
    import h5py

    from test_cli_batch import PROMOTERS, build_tiny_model, onehot_windows
    from seqnn_engine.cli import main

    d = build_tiny_model(tmp_path / "model")
    out = tmp_path / "dls.h5"
    assert main(["attribute", "--model", str(d), "--fasta", str(PROMOTERS), "--targets", "6,7", "--method",
                 "deep_lift_shap", "--method-option", "n_refs=2", "--float32", "--quiet", "--out", str(out)]) == 0
    model = load_model_dir(d)
    x, _, _ = onehot_windows(model, PROMOTERS)
    a = model.attribute(x, "deep_lift_shap", targets=[6, 7], n_refs=2)
    with h5py.File(out, "r") as f:
        np.testing.assert_allclose(f["scores"][()], a.scores, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(f["grads"][()], a.hypothetical, rtol=1e-5, atol=1e-8)


def test_method_lists_offer_deep_lift_shap():
    from app.inputs import ATTR_METHODS
    from seqnn_engine.plot import CONTRIBUTION_METHODS
    from seqnn_engine.attribution.input_attr import METHODS
    from seqnn_engine.cli.attribute import METHODS as CLI_METHODS

    assert "deep_lift_shap" in METHODS and set(CLI_METHODS) == set(METHODS)
    assert set(ATTR_METHODS) <= set(METHODS) and "deep_lift_shap" in ATTR_METHODS
    assert "deep_lift_shap" in CONTRIBUTION_METHODS                    # the logo shows the scores as they are
