"""Attribution engine: reference gradients, finite differences, invariants."""
import keras
import numpy as np
import pytest

from conftest import shared_path
from seqnn_engine import InputError, load_model
from seqnn_engine.model import ensemble as ens
from seqnn_engine.attribution import batched_vjp
from seqnn_engine.attribution.input_attr import ism_mutants
from seqnn_engine.attribution.shuffle import dinuc_shuffle
from seqnn_engine.genomics.onehot import reverse_complement

TOL = 1e-4


def rel(a, ref):
    return np.abs(a - ref).max() / np.abs(ref).max()


@pytest.fixture(scope="module")
def compat():
    cache = {}

    def get(name):
        if name not in cache:
            d = shared_path("compat", name)
            cache[name] = (load_model(d / "params.json", d / "model0.h5"), np.load(d / "reference.npz"))
        return cache[name]
    return get


@pytest.mark.parametrize("name", ["small", "tx"])
def test_reference_gradients(compat, name):
    m, ref = compat(name)
    x, ts, ps = ref["seqs"], ref["grad_target_slice"][0], ref["grad_pos_slice"]
    a = m.attribute(x, "saliency", targets=ts, positions=ps, statistic="log", diagnostics=False)
    assert rel(a.hypothetical, ref["grad_hyp_log"]) <= TOL
    a = m.attribute(x, "saliency", targets=ts, positions=ps, statistic="sum", diagnostics=False)
    assert rel(a.scores, ref["grad_hyp_raw"]) <= TOL
    a = m.attribute(x, "grad_x_input", targets=[0], statistic="sum", diagnostics=False)
    assert rel(a.scores, ref["grad_gated_raw_alltarget0"]) <= TOL
    a = m.attribute(x, "saliency", targets=ts, positions=ps, statistic="sum", rc=True, diagnostics=False)
    assert rel(a.scores, ref["grad_hyp_raw_ens_rc"]) <= TOL


@pytest.fixture(scope="module")
def twin64():
    """twin64(name): a float64 twin of a compat model (same files), for accurate finite differences."""
    from seqnn_engine.model.build import build_network
    from seqnn_engine.model.spec import parse_params
    from seqnn_engine.model.weights import load_weights
    cache = {}

    def get(name):
        if name in cache:
            return cache[name]
        d = shared_path("compat", name)
        old, old_policy = keras.config.floatx(), keras.config.dtype_policy()
        keras.config.set_floatx("float64")
        keras.config.set_dtype_policy("float64")
        try:
            net = build_network(parse_params(d / "params.json"), 0)
            load_weights(net.layers, d / "model0.h5")
        finally:
            keras.config.set_floatx(old)
            keras.config.set_dtype_policy(old_policy)
        cache[name] = net
        return net
    return get


# tx (attention, layer norm) runs one autodiff pass per target; small (conv tower) the
# batched backward pass (seqnn_engine.attribution.batched_vjp): both must match finite differences
BACKWARD = {"tx": False, "small": True}
HIDDEN = {"tx": "trunk.4.dilated_residual.rep0", "small": "trunk.1.res_tower.rep2"}


def _ens_objective(net, sp, x, t, mask, mems):
    """Ensemble objective computed independently: mean over members of sum over bins of target t."""
    tot = 0.0
    for mem in mems:
        p = net.model(ens.augment(x, mem), training=False).numpy()
        p = ens.unaugment_bins(p, mem, sp)
        tot = tot + (p[..., t] * mask).sum(-1)
    return tot / len(mems)


@pytest.mark.parametrize("name", ["tx", "small"])
@pytest.mark.parametrize("rc,shifts", [(False, (0,)), (True, (-1, 0, 1))])
def test_input_layer_gradients_equal_finite_differences(compat, twin64, name, rc, shifts):
    m, ref = compat(name)
    assert batched_vjp.supports(m) == BACKWARD[name]
    tx64 = twin64(name)
    x = ref["seqs"][:1].astype(np.float64)
    bins = np.arange(m.target_length // 2 - 5, m.target_length // 2 + 5)
    mask = np.zeros(m.target_length)
    mask[bins] = 1
    g = m.gradients(x, layers=[0], targets=[0, 1], positions=bins, rc=rc, shifts=shifts)
    mems = ens.members(rc, shifts)
    rng = np.random.default_rng(0)
    G = g.grads[0][0]                                                    # (T, L, 4)
    pos = np.argsort(-np.abs(G[0]).max(-1))[:6]
    eps = 1e-6  # float64 twin: small steps stay clear of relu/max-pool kinks
    for t in (0, 1):
        for p in pos:
            c = rng.integers(4)
            xp, xm = x.copy(), x.copy()
            xp[0, p, c] += eps
            xm[0, p, c] -= eps
            fd = (_ens_objective(tx64, m.strand_pair, xp, t, mask, mems)
                  - _ens_objective(tx64, m.strand_pair, xm, t, mask, mems))[0] / (2 * eps)
            assert abs(fd - G[t, p, c]) <= 1e-3 * np.abs(G[t]).max() + 1e-3 * abs(fd), (t, p, c, fd, G[t, p, c])


@pytest.mark.parametrize("model_name", ["tx", "small"])
@pytest.mark.parametrize("rc,shifts", [(False, (0,)), (True, (-16, 0, 16))])
def test_hidden_layer_gradients_equal_finite_differences(compat, twin64, model_name, rc, shifts):
    """Perturb each member's activation of a hidden layer and push it through the rest of the network."""
    m, ref = compat(model_name)
    assert batched_vjp.supports(m) == BACKWARD[model_name]
    tx64 = twin64(model_name)
    x = ref["seqs"][1:2]
    name = HIDDEN[model_name]
    li = [t.name for t in m.taps].index(name)
    tap = m.taps[li]
    tail = keras.Model(tx64.tap_tensors[li], tx64.model.output)
    head = keras.Model(tx64.inputs, tx64.tap_tensors[li])
    bins = np.arange(m.target_length // 2 - 15, m.target_length // 2 + 15)
    mask = np.zeros(m.target_length)
    mask[bins] = 1
    g = m.gradients(x, layers=[name], targets=[1], positions=bins, rc=rc, shifts=shifts)
    G = g.grads[0][0, 0]                                                 # (P_l, U_l)
    mems = ens.members(rc, shifts)
    acts = [head(ens.augment(x.astype(np.float64), mem)).numpy() for mem in mems]
    eps = 1e-6  # float64 twin: small steps stay clear of relu/max-pool kinks
    rng = np.random.default_rng(1)
    pos = rng.integers(40, tap.length - 40, 5)
    for i in pos:
        u = rng.integers(tap.width)
        fd = 0.0
        for mem, a in zip(mems, acts):
            j = i + mem.shift // tap.stride                              # member position of forward position i
            j = tap.length - 1 - j if mem.rc else j
            ap, am = a.copy(), a.copy()
            ap[0, j, u] += eps
            am[0, j, u] -= eps
            yp = ens.unaugment_bins(tail(ap).numpy(), mem, m.strand_pair)[0, :, 1] @ mask
            ym = ens.unaugment_bins(tail(am).numpy(), mem, m.strand_pair)[0, :, 1] @ mask
            fd += (yp - ym) / (2 * eps) / len(mems)
        assert abs(fd - G[i, u]) <= 1e-3 * np.abs(G).max() + 1e-3 * abs(fd), (i, u, fd, G[i, u])


@pytest.mark.parametrize("name,hidden", [("tx", "trunk.3.unet_conv"), ("small", "trunk.2.conv_tower")])
def test_batched_targets_equal_per_target_loop(compat, name, hidden):
    m, ref = compat(name)
    x = ref["seqs"][:2]
    layers = [0, hidden]
    g = m.gradients(x, layers=layers, targets=[0, 1, 2, 3], positions="center", target_chunk=3)
    for t in range(4):
        one = m.gradients(x, layers=layers, targets=[t], positions="center")
        for a, b in zip(g.grads, one.grads):
            np.testing.assert_allclose(a[:, t], b[:, 0], rtol=1e-4, atol=1e-6 * np.abs(b).max())
    np.testing.assert_allclose(g.reprs[1], m.hidden(x, [hidden])[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g.preds, m.predict(x).mean, rtol=1e-5, atol=1e-6)


def test_memory_budget_refuses_and_float16(compat):
    m, ref = compat("tx")
    with pytest.raises(InputError, match="GiB"):
        m.gradients(ref["seqs"], layers=[0, 1, 2], memory_budget=1000)
    g = m.gradients(ref["seqs"][:1], layers=[1], targets=[0], dtype="float16")
    assert g.grads[0].dtype == np.float16


def test_centred_scores_sum_to_zero(compat):
    m, ref = compat("tx")
    for method in ("saliency", "smoothgrad"):
        a = m.attribute(ref["seqs"][:1], method, targets=[0], n_samples=2, diagnostics=False)
        assert np.abs(a.hypothetical.sum(-1)).max() <= 1e-6 * np.abs(a.hypothetical).max() + 1e-9


@pytest.fixture(scope="module")
def smooth_model():
    """A small random model with only smooth operations (no max-pool or relu kinks).

    IG is a path integral; on a smooth model the Gauss-Legendre rule converges fast, so
    completeness checks the implementation rather than the integrand's kinks.
    """
    from seqnn_engine.model.build import build_network
    from seqnn_engine.model.seqmodel import SeqModel
    from seqnn_engine.model.spec import parse_params
    keras.utils.set_random_seed(0)
    spec = parse_params({"model": {"seq_length": 512, "activation": "gelu", "trunk": [
        {"name": "conv_dna", "filters": 16, "kernel_size": 11, "activation": "gelu"},
        {"name": "AveragePooling1D", "pool_size": 16},
        {"name": "dilated_residual", "filters": 8, "repeat": 2, "kernel_size": 3},
        {"name": "Cropping1D", "cropping": 4}], "head": {"name": "final", "units": 2, "activation": "softplus"}}})
    return SeqModel(spec, build_network(spec, 0), 0)


@pytest.mark.parametrize("baseline", ["zeros", "uniform", "shuffle"])
def test_integrated_gradients_completeness(smooth_model, baseline):
    rng = np.random.default_rng(0)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (2, 512))]
    a = smooth_model.attribute(x, "integrated_gradients", targets=[0, 1], baseline=baseline, n_steps=16,
                               n_baselines=2, diagnostics=False)
    err = a.diagnostics["ig_completeness_error"]
    assert (np.abs(a.diagnostics["ig_delta"]) > 1e-3).all()
    assert (err < 0.01).all(), err


def test_ism_values_are_direct_differences(compat):
    m, ref = compat("small")
    x = ref["seqs"][:1]
    a = m.attribute(x, "ism", targets=[0], positions="center", window=(2000, 2010), batch_size=16,
                    diagnostics=True)
    assert (a.scores[0, :2000] == 0).all() and (a.scores[0, 2010:] == 0).all()
    f0 = m.predict(x).mean[0, 47:49, 0].sum()
    rng = np.random.default_rng(0)
    for p in rng.integers(2000, 2010, 4):
        b = (x[0, p].argmax() + 1 + rng.integers(3)) % 4
        xm = x.copy()
        xm[0, p] = 0
        xm[0, p, b] = 1
        f1 = m.predict(xm).mean[0, 47:49, 0].sum()
        assert abs(a.scores[0, p, b] - (f1 - f0)) <= 1e-5 * max(1.0, abs(f0))
        assert a.scores[0, p, x[0, p].argmax()] == 0
    assert "grad_vs_ism" in a.diagnostics and np.isfinite(a.diagnostics["grad_vs_ism"]).all()
    muts, pos, base = ism_mutants(x[0], 2000, 2010)
    assert muts.shape[0] == 30 and len(set(zip(pos, base))) == 30


def test_rc_ensembled_map_is_rc_symmetric(compat):
    m, ref = compat("tx")
    x = ref["seqs"][:1]
    a = m.attribute(x, "saliency", targets=None, rc=True, diagnostics=False).scores
    b = m.attribute(reverse_complement(x), "saliency", targets=None, rc=True, diagnostics=False).scores
    np.testing.assert_allclose(reverse_complement(b), a, rtol=1e-4, atol=1e-6 * np.abs(a).max())


def test_dinucleotide_shuffle_preserves_counts():
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 4, 500)
    x = np.eye(4, dtype=np.float32)[idx]
    x[100:110] = 0  # N run
    y = dinuc_shuffle(x, rng)
    def dinucs(a):
        s = np.where(a.sum(-1) > 0, a.argmax(-1), 4)
        return np.bincount(s[:-1] * 5 + s[1:], minlength=25), s[0], s[-1]
    cx, fx, lx = dinucs(x)
    cy, fy, ly = dinucs(y)
    assert (cx == cy).all() and fx == fy and lx == ly and not np.array_equal(x, y)


def test_tss_gradients_rows(compat):
    m, ref = compat("tx")
    from seqnn_engine.attribution import tss_gradients
    x = ref["seqs"][:2]
    r = tss_gradients(m, x, [[50, 120], [96]], radius=1, layers=[0], targets=[0, 1], rc=True)
    assert r.grads[0].shape == (3, 2, 4096, 4) and list(r.seq_index) == [0, 0, 1]
    one = m.gradients(x[1:], layers=[0], targets=[0, 1], positions=np.arange(95, 98), rc=True)
    np.testing.assert_allclose(r.grads[0][2], one.grads[0][0], rtol=1e-5, atol=1e-7)


def test_bad_attribution_inputs(compat):
    m, ref = compat("small")
    x = ref["seqs"][:1]
    with pytest.raises(InputError, match="unknown attribution method"):
        m.attribute(x, "magic")
    with pytest.raises(InputError, match="statistic"):
        m.attribute(x, statistic="median")
    with pytest.raises(InputError, match="out of range"):
        m.attribute(x, positions=[500])
    with pytest.raises(InputError, match="window"):
        m.attribute(x, "ism", window=(10, 5))
    with pytest.raises(InputError, match="targets.txt"):
        m.attribute(x, untransform=True)
    with pytest.raises(InputError, match="unknown layer"):
        m.gradients(x, layers=["nope"])


def test_untransformed_objective_matches_numpy(compat, tmp_path):
    """statistic over untransformed predictions equals targets.untransform applied in numpy."""
    from seqnn_engine.model.targets import read_targets, untransform
    d = shared_path("compat", "small")
    rows = ["\tidentifier\tfile\tclip\tclip_soft\tscale\tsum_stat\tstrand_pair\tdescription"]
    for i, (cs, sc, st) in enumerate([(0.05, 2.0, "sum_sqrt"), (1e9, 0.5, "sum"), (0.02, 1.0, "mean_exp75"),
                                      (1e9, 1.0, "sum")]):
        rows.append(f"{i}\tt{i}\tf\t1e9\t{cs}\t{sc}\t{st}\t{i}\td")
    (tmp_path / "targets.txt").write_text("\n".join(rows) + "\n")
    m = load_model(d / "params.json", d / "model0.h5", targets_path=tmp_path / "targets.txt")
    ref = np.load(d / "reference.npz")
    x = ref["seqs"][:2]
    a = m.attribute(x, "saliency", targets=[0, 1, 2], positions="center", untransform=True, diagnostics=False)
    p = m.predict(x).mean
    u = untransform(p, read_targets(tmp_path / "targets.txt"), unscale=True)
    c = m.target_length // 2
    expect = u[:, c - 1:c + 1, :3].mean(-1).sum(-1)
    assert (p[..., 0] > 0.05).any()            # the soft clip is exercised
    np.testing.assert_allclose(a.objective, expect, rtol=1e-5)


@pytest.fixture(scope="module")
def demo():
    from pathlib import Path
    from seqnn_engine import load_model_dir
    from seqnn_engine.genomics.genome import Genome
    d = Path(__file__).resolve().parents[1] / "assets" / "demo"
    m = load_model_dir(d)
    g = Genome(d / "genome.fa.gz")
    from seqnn_engine.genomics.onehot import encode
    x = np.stack([encode(g.fetch("chr3", s, s + m.seq_length).sequence) for s in (40000, 123456)])
    return m, x


@pytest.mark.parametrize("engine", ["subwindow", "incremental"])
@pytest.mark.parametrize("rc,shifts", [(False, (0,)), (True, (-1, 0, 2))])
def test_fast_ism_engines_equal_full_length_ism(demo, rc, shifts, engine):
    """Sub-window and incremental ISM equal full-length ISM (every mutant predicted whole) on the demo model."""
    from seqnn_engine.attribution import local_ism
    from seqnn_engine.attribution.input_attr import choose_ism_engine
    m, x = demo
    assert local_ism.plan(m, 1000, 1020) is not None           # the demo model is fully convolutional
    assert choose_ism_engine(m, ens.members(rc, shifts), 1900, 1930) == "incremental"
    kw = dict(targets=[0, 4], positions=np.arange(20, 60), statistic="log", rc=rc, shifts=shifts,
              window=(1900, 1930), diagnostics=False, batch_size=32)
    a = m.attribute(x, "ism", ism_engine=engine, **kw)
    b = m.attribute(x, "ism", ism_engine="full", **kw)
    assert np.abs(b.scores).max() > 1e-3
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-3, atol=1e-3 * np.abs(b.scores).max())
    # at the sequence edges the changed span is clipped to the input
    for win in [(0, 12), (m.seq_length - 9, m.seq_length)]:
        kw.update(window=win, positions=np.arange(0, 8) if win[0] == 0 else np.arange(100, 112),
                  statistic="sum")
        e1 = m.attribute(x, "ism", ism_engine=engine, **kw).scores
        e2 = m.attribute(x, "ism", ism_engine="full", **kw).scores
        assert np.abs(e2).max() > 1e-6
        np.testing.assert_allclose(e1, e2, rtol=1e-3, atol=1e-3 * np.abs(e2).max())


def test_local_ism_not_used_for_attention_models(compat):
    from seqnn_engine.attribution import incremental_ism, local_ism
    from seqnn_engine.attribution.input_attr import choose_ism_engine
    m, _ = compat("tx")
    assert local_ism.receptive_radius(m) is None and local_ism.plan(m, 100, 120) is None
    assert "MultiheadAttention" in incremental_ism.unsupported_reason(m)
    assert choose_ism_engine(m, ens.members(), 100, 120) == "hybrid"
    assert choose_ism_engine(m, ens.members(mc_n=2), 100, 120) == "full"
    x = np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (1, m.seq_length))]
    with pytest.raises(InputError, match="incremental ISM is not possible"):
        m.attribute(x, "ism", window=(10, 12), ism_engine="incremental", diagnostics=False)
    with pytest.raises(InputError, match="unknown ISM engine"):
        m.attribute(x, "ism", window=(10, 12), ism_engine="fast", diagnostics=False)


