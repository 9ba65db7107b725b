"""seqnn_engine.memory: estimates bound the arrays really built, refusals name the estimate and
SEQNN_MAX_MEMORY_MB, operations run in chunks that fit (with the same results as one chunk),
and the limit defaults to 75% of physical memory."""
from __future__ import annotations


import keras
import numpy as np
import pytest
import tensorflow as tf

from seqnn_engine import InputError, limits, memory
from seqnn_engine.attribution import checkpoint as ck
from seqnn_engine.attribution import graph

PARAMS = {"model": {
    "seq_length": 1024, "activation": "gelu", "norm_type": "batch", "strand_pair": [[1, 0, 2, 3, 4]],
    "trunk": [{"name": "conv_dna", "filters": 12, "kernel_size": 9, "pool_size": 4},
              {"name": "res_tower", "filters_init": 12, "filters_end": 16, "kernel_size": 3, "num_convs": 2,
               "pool_size": 2, "repeat": 2},
              {"name": "transformer_tower", "key_size": 8, "heads": 2, "num_position_features": 8,
               "dropout": 0.1, "repeat": 1},
              {"name": "unet_conv", "kernel_size": 3, "upsample_conv": True},
              {"name": "Cropping1D", "cropping": 4}],
    "head": {"name": "final", "units": 5, "activation": "softplus"}}}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for s in limits.LIMITS.values():
        monkeypatch.delenv(s.env, raising=False)
    monkeypatch.setenv("SEQNN_LIMITS_FILE", str(tmp_path / "absent.toml"))


@pytest.fixture(scope="module")
def model():
    from seqnn_engine.model.build import build_network
    from seqnn_engine.model.seqmodel import SeqModel
    from seqnn_engine.model.spec import parse_params
    keras.utils.set_random_seed(2)
    spec = parse_params(PARAMS)
    return SeqModel(spec, build_network(spec, 0), 0)


def _x(m, n, seed=0):
    return np.eye(4, dtype=np.float32)[np.random.default_rng(seed).integers(0, 4, (n, m.seq_length))]


def _set_limit(monkeypatch, nbytes):
    monkeypatch.setenv("SEQNN_MAX_MEMORY_MB", repr(nbytes / 2**20))


def test_default_limit_is_three_quarters_of_physical_memory():
    with open("/proc/meminfo") as f:
        total = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemTotal:"))
    assert abs(limits.physical_memory_bytes() - total) <= 0.01 * total
    lim = limits.load_limits({})
    assert abs(lim.memory_bytes - 0.75 * total) <= 0.01 * total + (1 << 20)
    assert lim.source["memory_bytes"] == "default"
    assert limits.load_limits({"SEQNN_MAX_MEMORY_MB": "300"}).memory_bytes == 300 << 20


def test_weights_and_forward_estimates_bound_the_tensors(model):
    m = model
    assert memory.weights_bytes(m) == sum(w.nbytes for w in m.net.model.get_weights())
    # every node's output, computed for one sequence
    km = m.net.model
    nodes = graph.nodes(km)
    outs = keras.Model(km.inputs, [n.outputs[0] for n in nodes])(_x(m, 1), training=False)
    sizes = {id(n.outputs[0]): int(o.numpy().nbytes) for n, o in zip(nodes, outs)}
    sizes[id(km.inputs[0])] = m.seq_length * 16
    fwd = ck.forward_bytes(km)
    largest_step = max(sizes[id(n.outputs[0])] + sum(sizes[id(t)] for t in n.input_tensors) for n in nodes)
    assert largest_step <= fwd <= sum(sizes.values()) + max(c.internal for c in ck.node_costs(nodes))
    # the checkpointed forward keeps exactly the planned boundaries; the tape estimate is larger
    plan = ck.plan_for(m)
    vals = ck.runner(m, False).forward(tf.constant(_x(m, 3)))
    assert sum(int(v.numpy().nbytes) for v in vals.values()) == 3 * plan.stored_bytes
    assert plan.tape_bytes >= sum(sizes.values())


def _nbytes(*arrays):
    return sum(a.nbytes for a in arrays if a is not None)


def test_predict_estimate_bounds_its_arrays(model):
    m = model
    x = _x(m, 3)
    p = m.predict(x, rc=True, shifts=(-1, 0, 1), return_var=True, return_all=True, target_indexes=[0, 2])
    est = memory.predict_plan(m, 3, 6, 2, 4, True, True)
    built = _nbytes(p.mean, p.var, p.members) + 2 * p.mean.size * 8        # + float64 mean and m2 while running
    assert built <= est.parts["results"] <= 2 * built
    one_out = m.target_length * m.num_targets * 4
    assert est.parts["work"] >= est.batch_size * (ck.forward_bytes(m.net.model) + one_out)
    assert est.peak_bytes == sum(est.parts.values())


@pytest.mark.parametrize("method", ["saliency", "smoothgrad", "integrated_gradients"])
def test_attribution_estimate_bounds_its_arrays(model, method):
    m = model
    x = _x(m, 2)
    a = m.attribute(x, method, targets=[1], rc=True, return_all=True, n_samples=3, n_steps=4,
                    diagnostics=False)
    est = memory.attribution_plan(m, method, 2, 2, 4, return_all=True, n_samples=3, n_steps=4)
    rows = {"saliency": 2, "smoothgrad": 6, "integrated_gradients": 8}[method]
    # per member the (rows, L, 4) gradients and their float64 mean and second moment, plus the result
    built = _nbytes(a.scores, a.hypothetical, a.var, a.members) + rows * m.seq_length * 4 * (4 + 8 + 8)
    assert built <= est.parts["results"] <= 3 * built


def test_layer_gradient_estimate_bounds_its_arrays(model):
    m = model
    x = _x(m, 2)
    g = m.gradients(x, layers=[0, 2], targets=[0, 1, 3], shifts=(0, 1), return_all=True, backward="tape")
    est = memory.layer_gradients_plan(m, 2, [0, 2], 3, 2, return_all=True)
    built = _nbytes(*g.grads, *g.var, *g.reprs, *g.members, g.preds)
    built += 2 * 8 * sum(a.size for a in g.grads + g.reprs) + 2 * 8 * g.preds.size   # float64 running stats
    assert built <= est.parts["results"] <= 2 * built


def test_refusals_name_the_estimate_and_the_variable(model, monkeypatch):
    m = model
    x = _x(m, 2)
    _set_limit(monkeypatch, memory.weights_bytes(m) + 1000)
    calls = [lambda: m.predict(x), lambda: m.attribute(x, "saliency", diagnostics=False),
             lambda: m.gradients(x, layers=[1], targets=[0]),
             lambda: __import__("seqnn_engine.analysis.variants", fromlist=["score_windows"]).score_windows(
                 m, ["A" * m.seq_length], ["C" * m.seq_length])]
    for call in calls:
        with pytest.raises(InputError) as e:
            call()
        msg = str(e.value)
        assert "needs an estimated" in msg and "max_memory_mb" in msg and "SEQNN_MAX_MEMORY_MB" in msg, msg
        assert "MiB" in msg or "KiB" in msg


def test_predict_runs_in_chunks_that_fit(model, monkeypatch):
    m = model
    x = _x(m, 5, seed=3)
    full = m.predict(x, rc=True, return_var=True)
    one = memory.predict_plan(m, 5, 2, m.num_targets, 1, True)
    _set_limit(monkeypatch, one.peak_bytes)          # room for a batch of one sequence only
    assert memory.predict_plan(m, 5, 2, m.num_targets, 4, True).batch_size == 1
    seen = []
    small = m.predict(x, rc=True, return_var=True, batch_size=4, progress=lambda d, t: seen.append(d))
    assert seen == list(range(1, 11))                # 10 (sequence, member) items, one per chunk
    np.testing.assert_allclose(small.mean, full.mean, rtol=1e-6, atol=1e-7)
    # the variance of float32 members of size ~|mean| is exact to ~eps * mean^2 (cancellation; the
    # batch size changes the summation order of the convolutions)
    var_atol = 4 * np.finfo(np.float32).eps * float(np.max(full.mean ** 2))
    np.testing.assert_allclose(small.var, full.var, rtol=1e-4, atol=var_atol)


def test_attribution_runs_in_chunks_that_fit(model, monkeypatch):
    m = model
    x = _x(m, 4, seed=4)
    full = m.attribute(x, "saliency", targets=[0, 2], diagnostics=False, batch_size=4, checkpoint=False)
    one = memory.attribution_plan(m, "saliency", 4, 1, 1, checkpoint=False)
    _set_limit(monkeypatch, one.peak_bytes)
    assert memory.attribution_plan(m, "saliency", 4, 1, 4, checkpoint=False).batch_size == 1
    seen = []
    small = m.attribute(x, "saliency", targets=[0, 2], diagnostics=False, batch_size=4, checkpoint=False,
                        progress=lambda d, t: seen.append(d))
    assert seen == [1, 2, 3, 4]
    np.testing.assert_allclose(small.scores, full.scores, rtol=1e-5, atol=1e-6 * np.abs(full.scores).max())


def test_variants_scored_in_chunks_that_fit(model, monkeypatch):
    from seqnn_engine.analysis.variants import score_windows
    m = model
    rng = np.random.default_rng(5)
    refs = ["".join(rng.choice(list("ACGT"), m.seq_length)) for _ in range(4)]
    alts = [r[:500] + ("A" if r[500] != "A" else "C") + r[501:] for r in refs]
    opts = {"stats": ["SUM", "D2"], "shifts": [0, 1], "keep_preds": True}
    full = score_windows(m, refs, alts, opts)
    assert memory.variants_plan(m, 4, 2, keep_preds=True, n_stats=2).batch_size == 4
    one = memory.variants_plan(m, 1, 2, keep_preds=True, n_stats=2)
    _set_limit(monkeypatch, one.peak_bytes + 3 * (one.parts["scores"]))
    assert memory.variants_plan(m, 4, 2, keep_preds=True, n_stats=2).batch_size == 1
    chunked = score_windows(m, refs, alts, opts)
    for k in full:
        np.testing.assert_allclose(chunked[k], full[k], rtol=1e-5, atol=1e-6 * np.abs(full[k]).max())


def test_ism_chunk_fits_the_limit(model, monkeypatch):
    m = model
    c = memory.ism_chunk(m, n_members=2, window_bp=10)
    assert c == 30                                   # the whole window fits at the default limit
    big = memory.ism_chunk(m, n_members=2)
    per = m.seq_length * 16 + m.target_length * m.num_targets * 4 * 2
    _set_limit(monkeypatch, (big - 1) * per)         # smaller than the room for `big` mutants
    small = memory.ism_chunk(m, n_members=2)
    assert 1 <= small < big
    fixed = memory.weights_bytes(m) + 4 * ck.forward_bytes(m.net.model)
    assert fixed + small * per <= limits.current().memory_bytes
    _set_limit(monkeypatch, memory.weights_bytes(m) + 100)
    with pytest.raises(InputError, match="SEQNN_MAX_MEMORY_MB"):
        memory.ism_chunk(m)


def test_local_stage_estimate_bounds_one_chunk_and_the_peak(model):
    """The checkpointed estimate covers its local stage (the layers before attention, run in position
    chunks): one chunk's share of the stage's tape bounds the tensors that chunk's region computes, and
    the plan's peak is at least the stage's."""
    m = model
    km = m.net.model
    plan = ck.make_plan(km, (), 1, chunk_bp=256)
    st = plan.local
    assert st is not None and len(st.chunks) == m.seq_length // 256 and st.halo > 0
    a, b, a0, b0 = st.chunks[1]                      # an interior chunk: the slice has halo on both sides
    assert (a0, b0) == (a - st.halo, b + st.halo)
    vals = {id(km.inputs[0]): tf.constant(_x(m, 1)[:, a0:b0])}
    for node in st.nodes:
        vals[id(node.outputs[0])] = graph.call(node.operation, [vals[id(t)] for t in node.input_tensors])
    made = sum(int(v.numpy().nbytes) for v in vals.values())
    frac = (b0 - a0) / m.seq_length
    assert made <= frac * st.bwd_bytes
    assert plan.peak_bytes >= st.peak_bytes >= st.out_bytes + m.seq_length * 16
    assert plan.peak_bytes < ck.make_plan(km, (), 1).peak_bytes     # smaller than without the stage
