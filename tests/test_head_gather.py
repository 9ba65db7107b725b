"""Head gather: only the requested targets' columns of the final layer are computed.

The gathered predictions are compared with the columns of the full head (the Keras model's
own output), for forward members, reverse-complement members with strand pairs and
MC-dropout members; the traced graphs are checked to hold no (., P, T) tensor.
"""
import numpy as np
import pytest
import tensorflow as tf

from conftest import shared_path
from seqnn_engine import load_model
from seqnn_engine.model import ensemble as ens
from seqnn_engine.model.build import build_network
from seqnn_engine.model.seqmodel import SeqModel
from seqnn_engine.model.spec import parse_params

RTOL = 1e-6


def close(a, b):
    err = np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)
    assert err <= RTOL, err


def _wide(head, T=37, strand_pair=None):
    """A small model with T targets (default random initial weights)."""
    params = {"model": {"seq_length": 512, "activation": "gelu", "norm_type": "batch",
                        "trunk": [{"name": "conv_dna", "filters": 16, "kernel_size": 7, "norm_type": None,
                                   "activation": "linear", "pool_size": 4},
                                  {"name": "conv_tower", "filters_init": 24, "filters_mult": 1.0, "kernel_size": 3,
                                   "pool_size": 2, "repeat": 2, "dropout": 0.2}],
                        "head": head}}
    if strand_pair is not None:
        params["model"]["strand_pair"] = [strand_pair]
    spec = parse_params(params)
    return SeqModel(spec, build_network(spec, 0), 0, digest="test")


@pytest.fixture(scope="module")
def tx():
    d = shared_path("compat", "tx")
    return load_model(d / "params.json", d / "model0.h5"), np.load(d / "reference.npz")["seqs"]


def _full(model, x):
    return model.net.model(x, training=False).numpy()


def test_forward_columns_equal_full_head(tx):
    m, x = tx
    assert m.head_gather is not None
    full = _full(m, x)
    for t in ([0], [3, 1], [2, 2]):
        close(m.predict(x, target_indexes=t).mean, full[..., t])
        close(m.target_predictions(tf.constant(x), t).numpy(), full[..., t])


def test_rc_members_use_strand_paired_columns(tx):
    m, x = tx
    assert list(m.strand_pair) == [1, 0, 2, 3]
    xr = ens.augment(x, ens.Member(True, 0))
    full_rc = _full(m, xr)                                     # raw RC member output
    want = full_rc[:, ::-1][..., [1, 0, 2, 3]]                  # un-augmented: reverse bins, swap pairs back
    for t in ([0], [1, 3]):
        close(m.target_predictions(tf.constant(xr), t, rc=True).numpy(), want[..., t])
        np.testing.assert_array_equal(m.member_columns(t, rc=True), np.array([1, 0, 2, 3])[t])
    p_all = m.predict(x, rc=True, shifts=(-1, 0, 1), return_all=True)
    p_one = m.predict(x, rc=True, shifts=(-1, 0, 1), target_indexes=[0], return_all=True)
    close(p_one.members, p_all.members[:, :, [0]])
    close(p_one.mean, p_all.mean[..., [0]])


def test_mc_dropout_gathered_equals_full(tx):
    m, x = tx
    p_all = m.predict(x, mc_n=3, rc=True, mc_seed=5, return_all=True)
    p_one = m.predict(x, mc_n=3, rc=True, mc_seed=5, target_indexes=[1, 2], return_all=True)
    assert np.abs(p_all.members[..., 0] - p_all.members[..., 1]).max() > 0    # dropout is on
    close(p_one.members, p_all.members[:, :, [1, 2]])
    # inside a tape, on the MC graph: gradients of the gathered columns equal those of the full head
    (xi, si), _, out = m.mc_graph()
    import keras
    full = keras.Model([xi, si], out)
    seed = tf.constant([[5, 1]], tf.int32)
    xt = tf.constant(x[:1])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(xt)
        g = m.target_predictions(xt, [2], mc=True, seed=seed)
        f = full([xt, seed], training=False)[..., 2:3]
        gs, fs = tf.reduce_sum(g), tf.reduce_sum(f)
    close(g.numpy(), f.numpy())
    close(tape.gradient(gs, xt).numpy(), tape.gradient(fs, xt).numpy())


def test_saliency_gathered_equals_full_head_autodiff(tx):
    """The attribution engine's objective (gathered targets, RC member) equals autodiff of the
    full head's column, reversed and strand-paired by hand."""
    m, x = tx
    a = m.attribute(x, "saliency", targets=[0], statistic="sum", rc=True, mean_center=False, diagnostics=False)
    grads = []
    for rc in (False, True):
        xa = tf.constant(ens.augment(x, ens.Member(rc, 0)))
        with tf.GradientTape() as tape:
            tape.watch(xa)
            p = m.net.model(xa, training=False)
            col = p[..., 1] if rc else p[..., 0]                # target 0 is raw column 1 of an RC member
            obj = tf.reduce_sum(col, axis=-1)
        g = tape.gradient(obj, xa).numpy()
        grads.append(ens.unaugment_input(g, ens.Member(rc, 0)))
    close(a.hypothetical, (grads[0] + grads[1]) / 2)


def _rank3_widths(concrete):
    """Last-axis sizes of every rank-3 tensor produced in a traced graph."""
    out = set()
    for op in concrete.graph.get_operations():
        for t in op.outputs:
            if t.shape.rank == 3 and t.shape[-1] is not None:
                out.add(int(t.shape[-1]))
    return out


def test_no_bins_by_all_targets_tensor_in_gathered_graphs():
    T = 37
    m = _wide({"name": "final", "units": T, "activation": "softplus"}, T=T)
    assert m.head_gather is not None
    from seqnn_engine.attribution.engine import input_grad_fn
    L = m.seq_length
    x = tf.TensorSpec((None, L, 4), tf.float32)
    cols = tf.TensorSpec((None,), tf.int32)
    assert T not in _rank3_widths(m._gather_fn.get_concrete_function(x, cols))
    fn = input_grad_fn(m, rc=False, mc=False, statistic="log", untransform=False)
    assert T not in _rank3_widths(fn.get_concrete_function())
    fn_mc = input_grad_fn(m, rc=False, mc=True, statistic="sum", untransform=False)
    assert T not in _rank3_widths(fn_mc.get_concrete_function())
    # the full head does build it (the check can fail)
    assert T in _rank3_widths(m._predict_fn.get_concrete_function())
    xs = np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (2, L))]
    close(m.predict(xs, target_indexes=[5, 30]).mean, _full(m, xs)[..., [5, 30]])


def test_head_without_final_dense_output_falls_back_to_full_head():
    T = 9
    m = _wide([{"name": "final", "units": T, "activation": "softplus"}, {"name": "center_slice", "center": 8}], T=T,
              strand_pair=[1, 0] + list(range(2, T)))
    assert m.head_gather is None and m.target_length == 8
    xs = np.eye(4, dtype=np.float32)[np.random.default_rng(1).integers(0, 4, (2, m.seq_length))]
    full = _full(m, xs)
    close(m.predict(xs, target_indexes=[4]).mean, full[..., [4]])
    xr = ens.augment(xs, ens.Member(True, 0))
    close(m.target_predictions(tf.constant(xr), [0], rc=True).numpy(), _full(m, xr)[:, ::-1][..., [1]])
    a = m.attribute(xs, "saliency", targets=[0, 3], diagnostics=False)
    assert a.scores.shape == xs.shape and np.isfinite(a.scores).all() and np.abs(a.scores).max() > 0


def test_capitalised_dense_head_gathers():
    m = _wide([{"name": "Dense", "units": 11, "activation": "softplus"}], T=11)
    assert m.head_gather is not None
    xs = np.eye(4, dtype=np.float32)[np.random.default_rng(2).integers(0, 4, (1, m.seq_length))]
    close(m.predict(xs, target_indexes=[10, 0]).mean, _full(m, xs)[..., [10, 0]])


@pytest.mark.parametrize("backward", ["batched", "tape"])
def test_layer_gradients_gather_the_head(backward):
    """Layer gradients of 2 of 37 targets (RC member with strand pairs) equal autodiff of the full
    head's columns; the traced layer-gradient graph holds no (., P, 37) tensor."""
    import keras

    from seqnn_engine.attribution import layer_grads
    T = 37
    m = _wide({"name": "final", "units": T, "activation": "softplus"}, T=T, strand_pair=[1, 0] + list(range(2, T)))
    tap = "trunk.1.conv_tower"
    idx = m.tap_indexes([0, tap])
    xs = np.eye(4, dtype=np.float32)[np.random.default_rng(3).integers(0, 4, (2, m.seq_length))]
    g = m.gradients(xs, layers=[0, tap], targets=[0, 9], rc=True, backward=backward, return_var=False)
    sub = keras.Model(m.net.inputs, [m.net.tap_tensors[idx[1]], m.net.model.output])
    want = [0.0, 0.0]
    for rc in (False, True):
        xa = tf.constant(ens.augment(xs, ens.Member(rc, 0)))
        cols = [1, 9] if rc else [0, 9]
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(xa)
            act, full = sub(xa, training=False)
            ys = [tf.reduce_sum(full[..., c]) for c in cols]
        for li, src in enumerate((xa, act)):
            d = np.stack([tape.gradient(y, src).numpy() for y in ys], axis=1)     # (S, 2, P_l, U_l)
            if rc:
                d = d[:, :, ::-1, ::-1] if li == 0 else d[:, :, ::-1]
            want[li] = want[li] + d / 2
    for got, ref in zip(g.grads, want):
        assert np.abs(ref).max() > 0
        assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()
    fn = layer_grads._layer_fn(m, tuple(idx), True, False, 2, backward == "batched")
    widths = {int(t.shape[-1]) for op in fn.get_concrete_function().graph.get_operations() for t in op.outputs
              if t.shape.rank is not None and t.shape.rank >= 3 and t.shape[-1] is not None}
    assert T not in widths and 16 in widths
