"""MC dropout: one fixed mask per (MC sample, dropout layer), whatever the batching.

Truth: a thinned network computed by hand in numpy (activations times the documented
mask, then the head's Dense), the receptive field (a substitution outside it cannot change
the objective), completeness (IG and DeepLIFT/SHAP contributions sum to f(x) - f(baseline)
of the member's model, computed by predict), zero noise (SmoothGrad == saliency), and
the same request at several batch / chunk sizes.
"""
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from conftest import shared_path
from seqnn_engine import InputError, load_model, load_model_dir
from seqnn_engine.attribution.deeplift import make_references
from seqnn_engine.attribution.local_ism import receptive_radius
from seqnn_engine.model import mc_dropout

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo"


@pytest.fixture(scope="module")
def demo():
    """The demo model: local layers only (every ISM engine), 4 dropout layers (rate 0.2) whose
    masks reach the output."""
    m = load_model_dir(DEMO)
    x = np.eye(4, dtype=np.float32)[np.random.default_rng(7).integers(0, 4, (3, m.seq_length))]
    return m, x


def _onehot(rng, shape):
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, shape)]


def test_layer_masks_are_fixed_per_sample_and_layer():
    shape, rate = (64, 16), 0.25
    a = mc_dropout.layer_mask(mc_dropout.member_seed(3, 0), 1, rate, shape).numpy()
    assert a.shape == shape
    assert set(np.unique(a)) == {0.0, np.float32(1 / (1 - rate))}
    assert abs((a == 0).mean() - rate) < 0.05
    np.testing.assert_array_equal(a, mc_dropout.layer_mask(tf.constant([[3, 0]], tf.int32), 1, rate, shape))
    for seed, layer in (((3, 1), 1), ((4, 0), 1), ((3, 0), 2)):      # another sample, mc_seed or layer
        assert (mc_dropout.layer_mask(mc_dropout.member_seed(*seed), layer, rate, shape).numpy() != a).mean() > 0.2
    # rows of a window are the full mask's rows; rows off the tensor are 0
    rows = mc_dropout.mask_rows(mc_dropout.member_seed(3, 0), 1, rate, shape, -3, 10).numpy()
    np.testing.assert_array_equal(rows[3:], a[:7])
    assert not rows[:3].any()
    with pytest.raises(InputError, match="mc_seed"):
        mc_dropout.check_seed(2 ** 40)


def test_predict_members_are_the_thinned_networks_computed_by_hand(tmp_path):
    """conv -> Dropout(0.3) -> Dense + softplus, random weights: member (rc, k) predicts
    softplus((h * mask_k) W + b), h the pre-dropout activation of its (augmented) input."""
    params = {"model": {"seq_length": 128, "activation": "linear", "trunk": [
        {"name": "conv_dna", "filters": 8, "kernel_size": 5, "pool_size": 4, "activation": "relu"},
        {"name": "Dropout", "rate": 0.3}], "head": {"name": "final", "units": 3, "activation": "softplus"}}}
    (tmp_path / "params.json").write_text(json.dumps(params))
    m = load_model(tmp_path / "params.json", None, seed=0)
    (site,) = m.net.dropout_sites
    import keras
    pre = keras.Model(m.net.inputs, site.layer.input)
    dense = m.net.final_dense
    W, b = (v.numpy().astype(np.float64) for v in dense.weights)
    x = _onehot(np.random.default_rng(1), (2, 128))
    p = m.predict(x, rc=True, mc_n=3, mc_seed=11, return_all=True, batch_size=1)
    assert p.member_labels == ["fwd+0/mc0", "fwd+0/mc1", "fwd+0/mc2", "rc+0/mc0", "rc+0/mc1", "rc+0/mc2"]
    for e, label in enumerate(p.member_labels):
        k, rc = int(label[-1]), label.startswith("rc")
        xa = x[:, ::-1, ::-1].copy() if rc else x
        h = pre(xa).numpy().astype(np.float64)                                  # (S, P, U)
        s = tf.random.experimental.stateless_fold_in(tf.constant([11, k], tf.int32), 0)
        keep = tf.random.stateless_uniform(site.shape, seed=s).numpy() >= 0.3    # the documented mask
        z = (h * keep / 0.7) @ W + b
        want = np.log1p(np.exp(z))
        if rc:
            want = want[:, ::-1]
        np.testing.assert_allclose(p.members[..., e], want, rtol=2e-5, atol=1e-6)
    # the same request at other batch sizes gives the same arrays
    for bs in (3, 100):
        np.testing.assert_array_equal(m.predict(x, rc=True, mc_n=3, mc_seed=11, return_all=True,
                                                batch_size=bs).members, p.members)


def test_predict_does_not_depend_on_batch_size(demo):
    m, x = demo
    runs = [m.predict(x, rc=True, shifts=(0, 1), mc_n=2, return_all=True, return_var=True, batch_size=b)
            for b in (1, 3, 1000)]
    assert np.abs(runs[0].members[..., 0] - runs[0].members[..., 1]).max() > 1e-3     # the masks are on
    for r in runs[1:]:
        np.testing.assert_array_equal(r.members, runs[0].members)
        np.testing.assert_array_equal(r.mean, runs[0].mean)


def test_attributions_do_not_depend_on_batch_size(demo):
    m, x = demo
    kw = dict(targets=[0, 3], positions=np.arange(50, 60), statistic="log", rc=True, mc_n=2, mc_seed=4,
              diagnostics=False, return_all=True)
    runs = [m.attribute(x, "saliency", batch_size=b, **kw) for b in (1, 3, 1000)]
    assert np.abs(runs[0].members[..., 0] - runs[0].members[..., 1]).max() > 1e-3 * np.abs(runs[0].members).max()
    for r in runs[1:]:
        np.testing.assert_allclose(r.members, runs[0].members, rtol=1e-6, atol=1e-7 * np.abs(r.members).max())
    lg = [m.gradients(x, layers=[0, "trunk.2.dilated_residual"], targets=[1], mc_n=2, batch_size=b,
                      return_all=True) for b in (1, 3)]
    for a, b in zip(lg[0].members, lg[1].members):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7 * np.abs(a).max())


def test_smoothgrad_without_noise_is_saliency_under_mc(demo):
    """Every noise sample of a member sees its mask: with noise 0 each sample is x itself."""
    m, x = demo
    kw = dict(targets=[2], positions=np.arange(50, 60), mc_n=2, diagnostics=False, batch_size=3)
    sal = m.attribute(x[:1], "saliency", **kw)
    sg = m.attribute(x[:1], "smoothgrad", noise=0.0, n_samples=5, **kw)
    np.testing.assert_allclose(sg.scores, sal.scores, rtol=1e-5, atol=1e-6 * np.abs(sal.scores).max())


def _objective_by_predict(m, x, target, bins, **kw):
    """Objective 'sum' of one target over ``bins``, from predict's ensemble mean: (S,)."""
    p = m.predict(x, target_indexes=[target], batch_size=8, **kw).mean
    return p[:, bins, 0].astype(np.float64).sum(1)


@pytest.fixture(scope="module")
def smooth(tmp_path_factory):
    """Random weights, smooth everywhere (gelu, average pooling, softplus), two dropout layers
    with no norm after them: integrated gradients converge fast on it."""
    params = {"model": {"seq_length": 512, "activation": "gelu", "trunk": [
        {"name": "conv_dna", "filters": 16, "kernel_size": 11, "pool_size": 4, "pool_type": "average",
         "activation": "gelu"},
        {"name": "conv_tower", "filters_init": 16, "filters_mult": 1.0, "repeat": 1, "kernel_size": 5, "pool_size": 2,
         "pool_type": "average", "dropout": 0.2},
        {"name": "dilated_residual", "filters": 8, "repeat": 2, "dropout": 0.3, "norm_type": None}],
        "head": {"name": "final", "units": 2, "activation": "softplus"}}}
    d = tmp_path_factory.mktemp("smooth")
    (d / "params.json").write_text(json.dumps(params))
    m = load_model(d / "params.json", None, seed=0)
    return m, _onehot(np.random.default_rng(3), (1, 512))


def test_integrated_gradients_are_complete_for_each_member(smooth):
    m, x = smooth
    bins = np.arange(20, 40)
    for mc_seed in (0, 9):                                 # one member: its own thinned network
        a = m.attribute(x, "integrated_gradients", targets=[1], positions=bins, mc_n=1, mc_seed=mc_seed,
                        n_steps=32, batch_size=5, diagnostics=False)
        f_x = _objective_by_predict(m, x, 1, bins, mc_n=1, mc_seed=mc_seed)
        f_0 = _objective_by_predict(m, np.zeros_like(x), 1, bins, mc_n=1, mc_seed=mc_seed)
        delta = f_x - f_0
        np.testing.assert_allclose(a.diagnostics["ig_delta"], delta, rtol=1e-5)
        np.testing.assert_allclose(a.scores.sum(), delta[0], rtol=1e-3)
    a = m.attribute(x, "integrated_gradients", targets=[1], positions=bins, mc_n=2, rc=True, n_steps=32,
                    batch_size=7, diagnostics=False)
    assert a.diagnostics["ig_completeness_error"][0] < 1e-3


def test_deep_lift_shap_is_complete_under_mc(demo):
    m, x = demo
    bins = np.arange(50, 60)
    a = m.attribute(x[:1], "deep_lift_shap", targets=[1], positions=bins, mc_n=2, mc_seed=2, n_refs=3, seed=1,
                    batch_size=2, diagnostics=False)
    refs = make_references(x[:1], 3, 1)[0]
    f_x = _objective_by_predict(m, x[:1], 1, bins, mc_n=2, mc_seed=2)
    f_r = _objective_by_predict(m, refs, 1, bins, mc_n=2, mc_seed=2)
    delta = f_x[0] - f_r.mean()
    np.testing.assert_allclose(a.diagnostics["dls_delta"][0], delta, rtol=1e-4)
    np.testing.assert_allclose(a.scores.sum(), delta, rtol=1e-3)


def test_ism_outside_the_receptive_field_is_exactly_zero_under_mc(demo):
    m, x = demo
    bins = np.arange(54, 58)                                # bp 2048 .. 2176 of the input
    r = receptive_radius(m)
    lo_bp = (m.crop + bins[0]) * m.stride - r
    far = (0, 12)
    assert far[1] < lo_bp
    near = (2100, 2104)
    kw = dict(targets=[0, 5], positions=bins, mc_n=2, rc=True, diagnostics=False)
    for engine in ("full", "incremental", "subwindow"):
        a = m.attribute(x[:1], "ism", window=far, ism_engine=engine, batch_size=5, **kw)
        assert a.options["ism_engine"] == engine
        assert np.count_nonzero(a.scores) == 0, engine
        b = m.attribute(x[:1], "ism", window=near, ism_engine=engine, batch_size=5, **kw)
        assert np.count_nonzero(b.scores) == 12, engine            # inside it the masks and mutants matter


def test_ism_engines_agree_and_chunks_do_not_matter_under_mc(demo):
    m, x = demo
    kw = dict(targets=[0, 3], positions=np.arange(50, 70), statistic="log", rc=True, shifts=(0, 1), mc_n=2,
              mc_seed=6, window=(2040, 2046), diagnostics=False)
    ref = m.attribute(x[:1], "ism", ism_engine="full", ism_chunk="all", batch_size=1000, **kw)
    tol = 4e-7 * max(1.0, float(np.abs(ref.objective).max()))
    assert np.abs(ref.scores).max() > 20 * tol
    for engine, chunk, bs in (("full", 5, 3), ("incremental", "all", 4), ("incremental", 7, 4),
                              ("subwindow", 4, 3)):
        a = m.attribute(x[:1], "ism", ism_engine=engine, ism_chunk=chunk, batch_size=bs, **kw)
        np.testing.assert_allclose(a.scores, ref.scores, rtol=0, atol=tol, err_msg=f"{engine} {chunk}")
    # another mc_seed is another pair of thinned networks
    other = m.attribute(x[:1], "ism", ism_engine="incremental", **{**kw, "mc_seed": 7})
    assert np.abs(other.scores - ref.scores).max() > 20 * tol


def test_hybrid_ism_equals_full_under_mc():
    """Attention + U-net model (compat tx): spans before the attention, full length after it."""
    d = shared_path("compat", "tx")
    m = load_model(d / "params.json", d / "model0.h5")
    x = np.load(d / "reference.npz")["seqs"][:1]
    kw = dict(targets=[1], positions="center", mc_n=2, window=(2047, 2050), diagnostics=False, batch_size=4)
    full = m.attribute(x, "ism", ism_engine="full", **kw)
    hy = m.attribute(x, "ism", ism_engine="hybrid", ism_chunk=4, **kw)
    assert m.attribute(x, "ism", **kw).options["ism_engine"] == "hybrid"          # auto picks it under MC
    tol = 4e-7 * max(1.0, float(np.abs(full.objective).max()))
    assert np.abs(full.scores).max() > 20 * tol
    np.testing.assert_allclose(hy.scores, full.scores, rtol=0, atol=tol)


def test_store_keys_name_the_mc_samples_not_the_batching(demo):
    from seqnn_engine.batch.cache_keys import MC_MASKS, attribution_key, prediction_key, prediction_options
    m, _ = demo
    s = "ACGT" * (m.seq_length // 4)
    k = prediction_key(m, s, {"mc_n": 2, "mc_seed": 1})
    assert k != prediction_key(m, s, {"mc_n": 2, "mc_seed": 2}) != prediction_key(m, s, {"mc_n": 3, "mc_seed": 2})
    assert prediction_key(m, s, {"mc_seed": 5}) == prediction_key(m, s)        # no MC samples: no seed
    assert attribution_key(m, s, {"mc_n": 2}) != attribution_key(m, s, {"mc_n": 2, "mc_seed": 1})
    # entries of an engine whose masks followed the batch (keys without the mask scheme) are not served
    assert prediction_options({"mc_n": 2})["mc_masks"] == MC_MASKS and "mc_masks" not in prediction_options({})
