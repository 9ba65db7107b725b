"""The local stage of the checkpointed backward pass (seqnn_engine.attribution.checkpoint):
the layers before the first attention layer are local along the sequence, so they run in
position chunks, each with a halo of context, and never hold full-length activations.

Checked against independent truth: the receptive field of the mini Borzoi tower computed by
hand and probed by perturbing single positions; chunked forward values and chunked gradients
(K = 2 cotangents, chunks shorter than the halo, a short last chunk, a tapped layer inside the
region) against one plain tape over the whole Keras graph. The saliency and finite-difference
tests of test_checkpoint.py run their checkpointed calls through the local stage too (the
'auto' plan of the mini and tx models has one; asserted here).
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from test_checkpoint import _close, models  # noqa: F401  (the models fixture)
from seqnn_engine.attribution import checkpoint as ck
from seqnn_engine.model.layers import MultiheadAttention


def _x(m, n=2, seed=0):
    return np.eye(4, dtype=np.float32)[np.random.default_rng(seed).integers(0, 4, (n, m.seq_length))]


def test_region_is_the_tower_before_attention_with_its_receptive_field(models):
    m, _, x = models("mini")
    km = m.net.model
    g = ck._Graph(km)
    st = ck.local_stage(g, set(), 1, 4, 1024)
    first_mha = next(i for i, n in enumerate(g.nodes) if isinstance(n.operation, MultiheadAttention))
    region = {id(n) for n in st.nodes}
    assert all(id(n) in region for n in g.nodes[:first_mha - 1])     # conv_dna, the tower, the first norm
    assert not any(isinstance(n.operation, (MultiheadAttention, keras.layers.Cropping1D)) for n in st.nodes)
    # 7 poolings of 2; reach: conv_dna k15 (7 bp), then a k5 conv (2 positions) at strides 2 .. 64
    assert st.align == 128
    reach = 7 + sum(2 * 2 ** i for i in range(1, 7))
    assert st.halo == -(-reach // 128) * 128 == 384
    assert all(int(t.shape[1]) * s == m.seq_length for t, s in zip(st.outputs, st.strides))
    # probing: a change at one base moves only output positions whose window (+ reach) holds it
    region = keras.Model(km.inputs, list(st.outputs))
    sub = tf.function(lambda a: region(a, training=False))
    base = [o.numpy() for o in sub(tf.constant(x[:1]))]
    for p in (0, 3000, m.seq_length - 1):
        xp = x[:1].copy()
        xp[0, p] = np.roll(xp[0, p], 1)
        for o0, o1, s in zip(base, [o.numpy() for o in sub(tf.constant(xp))], st.strides):
            moved = np.flatnonzero(np.abs(o1 - o0).max(-1)[0] > 0)
            assert moved.size > 0
            assert (moved * s - reach <= p).all() and (p < (moved + 1) * s + reach).all(), (p, s, moved)


def test_auto_plans_of_the_fixtures_use_the_local_stage(models):
    for name in ("mini", "tx"):
        m = models(name)[0]
        for head in (True, False):
            plan = ck.plan_for(m, head=head)
            assert plan.local is not None and len(plan.local.chunks) >= 2, name
            assert plan.peak_bytes < ck.plan_for(m, head=head, chunk_bp=None).peak_bytes
        mc = ck.plan_for(m, mc=True)          # MC dropout: the masks' layers stay outside the region
        assert mc.local is not None
        assert not any("dropout" in type(n.operation).__name__.lower() for n in mc.local.nodes)


@pytest.mark.parametrize("name,chunk", [("mini", 256), ("tx", 1500)])
def test_chunked_stage_equals_the_tape(models, name, chunk):
    """mini: chunk 256 < halo 384, every slice spans several chunks; tx: 1500 -> 1504 bp, a short last chunk."""
    m, _, x = models(name)
    km = m.net.model
    plan = ck.make_plan(km, (), 2, chunk_bp=chunk)
    st = plan.local
    assert st is not None and st.chunk == -(-chunk // st.align) * st.align
    assert sum(b - a for a, b, _, _ in st.chunks) == m.seq_length
    run = ck.Runner(km, plan, 2)
    xt = tf.constant(x)
    vals = run.forward(xt)
    sub = keras.Model(km.inputs, list(st.outputs) + [km.outputs[0]])
    ref = sub(xt, training=False)
    for t, r in zip(list(st.outputs) + [km.outputs[0]], ref):
        np.testing.assert_allclose(vals[id(t)].numpy(), r.numpy(), rtol=1e-5, atol=1e-6 * np.abs(r).max())
    cot = np.random.default_rng(1).normal(size=(2, x.shape[0], m.target_length, m.num_targets))
    g = run.backward(vals, tf.constant(cot.astype(np.float32))).numpy()
    for j in range(2):
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = km(xt, training=False)
        _close(g[j], tape.gradient(y, xt, output_gradients=tf.constant(cot[j], tf.float32)).numpy())


def test_tap_inside_the_region_gets_its_whole_cotangent(models):
    m, _, x = models("mini")
    km = m.net.model
    tap = m.net.tap_tensors[m.tap_indexes(["trunk.1.res_tower.rep2"])[0]]
    plan = ck.make_plan(km, [tap], 2, chunk_bp=1024)
    assert plan.local is not None and any(t is tap for t in plan.local.outputs)
    assert not any(t is tap for n in plan.local.nodes for t in n.input_tensors)   # its consumers: outside
    run = ck.Runner(km, plan, 2)
    xt = tf.constant(x)
    cot = tf.constant(np.random.default_rng(2).normal(size=(2, x.shape[0], m.target_length, m.num_targets)),
                      tf.float32)
    got = {}
    gx = run.backward(run.forward(xt), cot, tap_ids={id(tap), id(km.inputs[0])},
                      on_tap=lambda i, c: got.__setitem__(i, c.numpy()))
    sub = keras.Model(km.inputs, [tap, km.outputs[0]])
    for j in range(2):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(xt)
            t, y = sub(xt, training=False)
        _close(got[id(tap)][j], tape.gradient(y, t, output_gradients=cot[j]).numpy())
        _close(gx[j].numpy(), tape.gradient(y, xt, output_gradients=cot[j]).numpy())
        _close(got[id(km.inputs[0])][j], gx[j].numpy(), rtol=0)


def test_bfloat16_chunked_saliency_agrees_with_its_tape():
    """bfloat16 (matmul layers round to bf16): the checkpointed map with its chunked local stage agrees
    with one tape over the same bf16 graph to bf16 rounding."""
    from conftest import randomise_affine
    from seqnn_engine.model.build import build_network
    from seqnn_engine.model.seqmodel import SeqModel
    from seqnn_engine.model.spec import parse_params
    from test_checkpoint import MINI_BORZOI
    spec = parse_params(MINI_BORZOI)
    keras.utils.set_random_seed(3)
    net = build_network(spec, 0, precision="bfloat16")
    randomise_affine(net.model, np.random.default_rng(4))
    m = SeqModel(spec, net, 0)
    assert ck.plan_for(m, head=False).local is not None
    x = _x(m, 1)
    kw = dict(targets=[0, 1], positions="center", statistic="log", diagnostics=False)
    a = m.attribute(x, "saliency", checkpoint=True, **kw).hypothetical
    b = m.attribute(x, "saliency", checkpoint=False, **kw).hypothetical
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] >= 0.999
    assert np.linalg.norm(a - b) <= 0.03 * np.linalg.norm(b)
