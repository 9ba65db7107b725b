"""bfloat16 precision: mixed-precision layers, float32 weights and outputs, agreement with float32.

A bf16 model is built from the same files as the float32 one; its predictions and saliency
maps must agree closely with float32 yet differ from them (so bf16 really ran).
"""
import keras
import numpy as np
import pytest

from conftest import REPO, shared_path
from seqnn_engine import InputError, load_model, load_model_dir
from seqnn_engine.model.layers import NarrowConv1D

DEMO = REPO / "assets" / "demo"


def pearson(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


@pytest.fixture(scope="module")
def small():
    d = shared_path("compat", "small")
    return (load_model(d / "params.json", d / "model0.h5"),
            load_model(d / "params.json", d / "model0.h5", precision="bfloat16"),
            np.load(d / "reference.npz"))


@pytest.fixture(scope="module")
def demo():
    """The demo model in both precisions and two windows of the demo genome."""
    from seqnn_engine.genomics.genome import Genome
    from seqnn_engine.genomics.onehot import encode
    a, b = load_model_dir(DEMO), load_model_dir(DEMO, precision="bfloat16")
    with Genome(DEMO / "genome.fa.gz") as g:
        x = np.stack([encode(g.fetch("chr1", s, s + a.seq_length).sequence) for s in (20_000, 60_000)])
    return a, b, x.astype(np.float32)


def test_layers_compute_in_bf16_and_weights_stay_float32(small):
    m32, m16, _ = small
    assert keras.config.dtype_policy().name == "float32"          # no global policy left behind
    kinds = {}
    for lyr in m16.net.layers:
        kinds.setdefault(type(lyr).__name__, set()).add(lyr.dtype_policy.name)
    assert kinds["Conv1D"] == {"mixed_bfloat16"}
    assert kinds["NarrowConv1D"] == {"float32"}                    # the convolution on the one-hot input
    assert kinds["BatchNormalization"] == {"float32"} and kinds["Activate"] == {"float32"}
    assert m16.net.final_dense.dtype_policy.name == "float32"
    assert all(v.dtype == "float32" for v in m16.net.model.weights)
    # the same files load into both models unchanged
    for a, b in zip(m32.net.model.weights, m16.net.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert m16.precision == "bfloat16" and m32.precision == "float32" and m16.digest != m32.digest
    assert isinstance(m16.net.layers[0], NarrowConv1D)


def test_small_predictions_and_saliency_agree_with_float32(small):
    m32, m16, ref = small
    x = ref["seqs"]
    p32, p16 = m32.predict(x).mean, m16.predict(x).mean
    assert p16.dtype == np.float32
    assert not np.array_equal(p32, p16)                            # bf16 ran
    assert pearson(p32, p16) >= 0.999
    np.testing.assert_allclose(p16, ref["preds_head0"], rtol=0.05, atol=0.05 * np.abs(p32).max())
    ts, ps = ref["grad_target_slice"][0], ref["grad_pos_slice"]
    a32 = m32.attribute(x, "saliency", targets=ts, positions=ps, statistic="log", diagnostics=False)
    a16 = m16.attribute(x, "saliency", targets=ts, positions=ps, statistic="log", diagnostics=False)
    assert a16.scores.dtype == np.float32 and not np.array_equal(a32.scores, a16.scores)
    # This model is untrained and its objective covers 4 bins. bf16 rounding of convolution
    # outputs creates exact ties in max-pooling windows (0.2-0.4% of windows at every level,
    # none in float32 past the first), and a tie routes the pooling gradient to the window's
    # first position: a few local differences. Measured per sequence: 0.998, 0.997, 0.942
    # (float32 at the two pooled convolutions nearest the input: 0.999 for all three).
    r = [pearson(a32.scores[s], a16.scores[s]) for s in range(x.shape[0])]
    assert min(r) >= 0.9 and np.mean(r) >= 0.97, r
    # the float32 model still matches the reference fixture exactly
    assert np.abs(a32.hypothetical - ref["grad_hyp_log"]).max() / np.abs(ref["grad_hyp_log"]).max() <= 1e-4


def test_demo_predictions_and_saliency_agree_with_float32(demo):
    m32, m16, x = demo
    p32, p16 = m32.predict(x, rc=True).mean, m16.predict(x, rc=True).mean
    assert p16.dtype == np.float32 and not np.array_equal(p32, p16)
    assert pearson(p32, p16) >= 0.999
    a32 = m32.attribute(x, "saliency", targets=[0], rc=True, diagnostics=False)
    a16 = m16.attribute(x, "saliency", targets=[0], rc=True, diagnostics=False)
    for s in range(x.shape[0]):
        assert pearson(a32.scores[s], a16.scores[s]) >= 0.99, s
    # layer gradients and ISM run (on their float32-only fast paths' fallbacks) and return float32
    g = m16.gradients(x[:1], layers=[0, m16.taps[2].name], targets=[0, 1], positions="center")
    assert g.grads[1].dtype == np.float32 and g.reprs[1].dtype == np.float32
    g32 = m32.gradients(x[:1], layers=[0, m32.taps[2].name], targets=[0, 1], positions="center")
    assert pearson(g32.grads[0], g.grads[0]) >= 0.99
    c = m32.seq_length // 2
    i32 = m32.attribute(x[:1], "ism", targets=[0], window=(c - 8, c + 8), diagnostics=False)
    i16 = m16.attribute(x[:1], "ism", targets=[0], window=(c - 8, c + 8), diagnostics=False)
    assert i16.scores.dtype == np.float32 and pearson(i32.scores, i16.scores) >= 0.95


def test_mc_dropout_masks_are_those_of_float32():
    d = shared_path("compat", "tx")
    m32 = load_model(d / "params.json", d / "model0.h5")
    m16 = load_model(d / "params.json", d / "model0.h5", precision="bfloat16")
    x = np.load(d / "reference.npz")["seqs"][:2]
    p32 = m32.predict(x, mc_n=2, mc_seed=3, return_all=True).members
    p16 = m16.predict(x, mc_n=2, mc_seed=3, return_all=True).members
    assert np.abs(p32[..., 0] - p32[..., 1]).max() > 0
    for e in range(2):
        assert pearson(p32[..., e], p16[..., e]) >= 0.999


@pytest.mark.parametrize("bad", ["float16", "bf16", "", 32])
def test_unknown_precision_is_an_input_error(bad):
    d = shared_path("compat", "small")
    with pytest.raises(InputError, match="float32, bfloat16"):
        load_model(d / "params.json", d / "model0.h5", precision=bad)


def test_dashboard_precision_choice(tmp_path_factory):
    """The sidebar's precision loads the bf16 model: its digest is in the download and its
    predictions agree with float32's."""
    pytest.importorskip("streamlit.testing.v1")
    from streamlit.testing.v1 import AppTest
    from test_app_support import dashboard_env

    from seqnn_engine.io.export import read_hdf5
    with dashboard_env(tmp_path_factory) as env:
        at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=180)
        at.session_state["model_path"] = str(env["model_dir"])
        at.session_state["input_mode"] = "FASTA"
        at.run()
        assert at.selectbox(key="precision").value == "float32"
        at.text_area(key="fasta_text").set_value(">r\n" + "ACGTTGCAAT" * 300).run()
        got = {}
        for p in ("float32", "bfloat16"):
            at.selectbox(key="precision").set_value(p).run()
            assert not at.exception, [e.value for e in at.exception]
            h5 = read_hdf5(at.session_state["downloads"]["predictions"]["hdf5"].make())
            assert h5.attrs["model_digest"] == load_model_dir(env["model_dir"], precision=p).digest
            got[p] = np.asarray(h5["preds"], np.float32)
        assert not np.array_equal(got["float32"], got["bfloat16"])
        assert pearson(got["float32"], got["bfloat16"]) >= 0.999
