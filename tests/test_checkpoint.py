"""The checkpointed backward pass (seqnn_engine.attribution.checkpoint) equals the plain tape
and finite differences, on the compat fixtures and on a short, narrow model with every block
type of the published Borzoi params (batch-sync norm, res_tower, transformer_tower, two
unet_conv with upsample_conv, Cropping1D, conv_nac with dropout, a strand-paired head).

The plain tape (checkpoint=False) is autodiff over the whole Keras graph; the checkpointed
pass recomputes segments from stored boundaries, so agreement is checked to float32
rounding, and both are checked against central differences of a float64 twin.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import randomise_affine, shared_path
from seqnn_engine.model import ensemble as ens
from seqnn_engine import load_model
from seqnn_engine.attribution import checkpoint as ck
from seqnn_engine.model.build import build_network
from seqnn_engine.model.seqmodel import SeqModel
from seqnn_engine.model.spec import parse_params

# the published Borzoi trunk (calico/borzoi examples/params_pred.json) at 8 kb, filters / 32
MINI_BORZOI = {"model": {
    "seq_length": 8192, "augment_rc": True, "augment_shift": 3, "activation": "gelu",
    "norm_type": "batch-sync", "bn_momentum": 0.9, "kernel_initializer": "lecun_normal",
    "strand_pair": [[1, 0, 3, 2, 4, 5]],
    "trunk": [
        {"name": "conv_dna", "filters": 16, "kernel_size": 15, "norm_type": None, "activation": "linear",
         "pool_size": 2},
        {"name": "res_tower", "filters_init": 19, "filters_end": 48, "divisible_by": 1, "kernel_size": 5,
         "num_convs": 1, "pool_size": 2, "repeat": 6},
        {"name": "transformer_tower", "key_size": 8, "heads": 4, "num_position_features": 32, "dropout": 0.2,
         "kernel_initializer": "he_normal", "repeat": 2},
        {"name": "unet_conv", "kernel_size": 3, "upsample_conv": True},
        {"name": "unet_conv", "kernel_size": 3, "upsample_conv": True},
        {"name": "Cropping1D", "cropping": 16},
        {"name": "conv_nac", "filters": 60, "dropout": 0.1}],
    "head_human": {"name": "final", "units": 6, "activation": "softplus"}}}


def _mini(dtype="float32"):
    old, old_policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        keras.utils.set_random_seed(3)
        spec = parse_params(MINI_BORZOI)
        net = build_network(spec, 0)
    finally:
        keras.config.set_floatx(old)
        keras.config.set_dtype_policy(old_policy)
    return spec, net


@pytest.fixture(scope="module")
def models():
    cache = {}

    def get(name):
        if name in cache:
            return cache[name]
        if name == "mini":
            spec, net = _mini()
            randomise_affine(net.model, np.random.default_rng(4))
            m = SeqModel(spec, net, 0)
            _, net64 = _mini("float64")
            net64.model.set_weights([w.astype(np.float64) for w in net.model.get_weights()])
            x = np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (2, m.seq_length))]
        else:
            d = shared_path("compat", name)
            m = load_model(d / "params.json", d / "model0.h5")
            old, old_policy = keras.config.floatx(), keras.config.dtype_policy()
            keras.config.set_floatx("float64")
            keras.config.set_dtype_policy("float64")
            try:
                from seqnn_engine.model.weights import load_weights
                net64 = build_network(parse_params(d / "params.json"), 0)
                load_weights(net64.layers, d / "model0.h5")
            finally:
                keras.config.set_floatx(old)
                keras.config.set_dtype_policy(old_policy)
            x = np.load(d / "reference.npz")["seqs"][:2]
        cache[name] = (m, net64, x)
        return cache[name]
    return get


def _close(a, b, rtol=1e-5):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())


@pytest.mark.parametrize("name", ["small", "tx", "mini"])
def test_plan_covers_the_graph_in_order(models, name):
    m = models(name)[0]
    km = m.net.model
    for plan in (ck.plan_for(m), ck.make_plan(km, every_candidate=True)):
        assert len(plan.segments) > 1
        local = list(plan.local.nodes) if plan.local is not None else []      # the local stage runs first
        nodes = local + [n for s in plan.segments for n in s.nodes]
        order = [id(n) for n in ck._Graph(km).nodes]
        assert sorted(map(id, nodes)) == sorted(order)                      # each node once
        assert [id(n) for n in nodes if id(n) not in set(map(id, local))] == [i for i in order if i not in
                                                                            set(map(id, local))]  # in order
        made = {id(km.inputs[0])} | {id(t) for t in (plan.local.outputs if plan.local is not None else ())}
        for s in plan.segments:
            assert all(id(t) in made for t in s.inputs)            # inputs come from earlier segments
            made |= {id(t) for t in s.outputs}
        assert plan.segments[-1].outputs[-1] is km.outputs[0]
        assert 0 < plan.stored_bytes and plan.peak_bytes < plan.tape_bytes
    if name in ("tx", "mini"):     # the U-net skip crosses cuts: some segment reads two stored tensors
        fine = ck.make_plan(km, every_candidate=True)
        assert max(len(s.inputs) for s in fine.segments) >= 2


def test_forward_keeps_exactly_the_planned_boundaries(models):
    m, _, x = models("mini")
    km = m.net.model
    plan = ck.make_plan(km, every_candidate=True)
    run = ck.Runner(km, plan, 1)
    vals = run.forward(tf.constant(x))
    assert sum(int(v.numpy().nbytes) for v in vals.values()) == x.shape[0] * plan.stored_bytes
    np.testing.assert_allclose(vals[id(km.outputs[0])].numpy(), km(x, training=False).numpy(), rtol=1e-6,
                               atol=1e-7)


@pytest.mark.parametrize("name", ["mini"])
def test_every_cut_sweep_equals_the_tape(models, name):
    """Many short segments, the skip connection stored across several cuts, K = 2 cotangents."""
    m, _, x = models(name)
    km = m.net.model
    run = ck.Runner(km, ck.make_plan(km, every_candidate=True), 2)
    rng = np.random.default_rng(1)
    cot = rng.normal(size=(2,) + (x.shape[0], m.target_length, m.num_targets)).astype(np.float32)
    vals = run.forward(tf.constant(x))
    g = run.backward(vals, tf.constant(cot)).numpy()
    xt = tf.constant(x)
    for j in range(2):
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = km(xt, training=False)
        ref = tape.gradient(y, xt, output_gradients=tf.constant(cot[j])).numpy()
        _close(g[j], ref)


ENSEMBLES = [dict(), dict(rc=True, shifts=(-1, 0, 1)), dict(mc_n=2)]
ENSEMBLE_IDS = ["single", "rc_shifts", "mc"]
CASES = [(n, e) for n in ("tx", "mini") for e in ENSEMBLES] + [("small", ENSEMBLES[1])]
CASE_IDS = [f"{n}-{i}" for n in ("tx", "mini") for i in ENSEMBLE_IDS] + ["small-rc_shifts"]


@pytest.mark.parametrize("name,ensemble", CASES, ids=CASE_IDS)
def test_checkpointed_saliency_equals_tape(models, name, ensemble):
    m, _, x = models(name)
    kw = dict(targets=[0, 1], positions="center", statistic="log", diagnostics=False, return_all=True,
              seed=5, **ensemble)
    a = m.attribute(x, "saliency", checkpoint=True, **kw)
    b = m.attribute(x, "saliency", checkpoint=False, **kw)
    assert a.options == b.options
    _close(a.scores, b.scores)
    _close(a.members, b.members)           # every member (MC masks included) matches, not only the mean
    np.testing.assert_allclose(a.objective, b.objective, rtol=1e-6)
    if ensemble.get("mc_n") and name != "small":   # the MC members differ: masks are really on (small's
        # dropout follows a batch norm with gamma 0, so its masks do not reach the gradient)
        assert np.abs(a.members[..., 0] - a.members[..., 1]).max() > 1e-3 * np.abs(a.members).max()


@pytest.mark.parametrize("name,ensemble", [("tx", ENSEMBLES[0]), ("mini", ENSEMBLES[1])],
                         ids=["tx-single", "mini-rc_shifts"])
def test_checkpointed_saliency_equals_finite_differences(models, name, ensemble):
    m, net64, x = models(name)
    x = x[:1]
    P = m.target_length
    bins = np.arange(P // 2 - 5, P // 2 + 5)
    mask = np.zeros(P)
    mask[bins] = 1
    a = m.attribute(x, "saliency", targets=[0, 1], positions=bins, statistic="sum", mean_center=False,
                    diagnostics=False, checkpoint=True, **ensemble)
    G = a.hypothetical[0]
    mems = ens.members(ensemble.get("rc", False), ensemble.get("shifts", (0,)))

    def f(xx):
        tot = 0.0
        for mem in mems:
            p = ens.unaugment_bins(net64.model(ens.augment(xx, mem), training=False).numpy(), mem, m.strand_pair)
            tot = tot + (p[..., :2].mean(-1) * mask).sum(-1)
        return tot[0] / len(mems)
    rng = np.random.default_rng(2)
    eps = 1e-6
    for p in np.argsort(-np.abs(G).max(-1))[:5]:
        c = rng.integers(4)
        xp, xm = x.astype(np.float64), x.astype(np.float64)
        xp[0, p, c] += eps
        xm[0, p, c] -= eps
        fd = (f(xp) - f(xm)) / (2 * eps)
        assert abs(fd - G[p, c]) <= 1e-3 * np.abs(G).max() + 1e-3 * abs(fd), (p, c, fd, G[p, c])


LAYERS = {"tx": [0, "trunk.3.unet_conv", "trunk.1.res_tower.rep1"],
          "mini": ["trunk.3.unet_conv", "trunk.2.transformer_tower.rep0", "trunk.1.res_tower.rep2"]}


@pytest.mark.parametrize("name,ensemble", [("tx", e) for e in ENSEMBLES] + [("mini", ENSEMBLES[0])],
                         ids=[f"tx-{i}" for i in ENSEMBLE_IDS] + ["mini-single"])
def test_checkpointed_layer_gradients_equal_tape(models, name, ensemble):
    layers = LAYERS[name]
    m, _, x = models(name)
    kw = dict(layers=layers, targets=[0, 1, 2], positions="center", backward="tape", target_chunk=2, **ensemble)
    a = m.gradients(x, checkpoint=True, **kw)
    b = m.gradients(x, checkpoint=False, **kw)
    for ga, gb, ra, rb in zip(a.grads, b.grads, a.reprs, b.reprs):
        assert np.abs(gb).max() > 0
        _close(ga, gb)
        _close(ra, rb)
    _close(a.preds, b.preds)


def test_auto_checkpoints_when_the_tape_does_not_fit(models, monkeypatch):
    from seqnn_engine import memory
    m, _, x = models("mini")
    plain = memory.attribution_plan(m, "saliency", 2, 1, 2, checkpoint=False)
    ckpt = memory.attribution_plan(m, "saliency", 2, 1, 2, checkpoint=True)
    assert ckpt.parts["work"] < plain.parts["work"]
    assert not memory.attribution_plan(m, "saliency", 2, 1, 2).checkpoint      # small: the plain tape
    # a limit the plain tape's batch exceeds but the checkpointed batch fits
    limit = (plain.peak_bytes + ckpt.peak_bytes) // 2
    monkeypatch.setenv("SEQNN_MAX_MEMORY_MB", str(limit / 2**20))
    auto = memory.attribution_plan(m, "saliency", 2, 1, 2)
    assert auto.checkpoint and auto.batch_size == 2
    a = m.attribute(x, "saliency", targets=[3], diagnostics=False)
    monkeypatch.delenv("SEQNN_MAX_MEMORY_MB")
    b = m.attribute(x, "saliency", targets=[3], diagnostics=False, checkpoint=False)
    _close(a.scores, b.scores)
