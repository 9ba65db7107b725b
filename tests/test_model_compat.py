"""The engine reproduces the reference implementation's outputs (../shared/compat)."""
import numpy as np
import pytest

from conftest import shared_path
from seqnn_engine import load_model

TOL = 1e-4


def close(a, ref):
    assert a.shape == ref.shape
    err = np.abs(a - ref).max() / np.abs(ref).max()
    assert err <= TOL, err


CASES = [("small", 0, "model0.h5"), ("small", 0, "model0.weights.h5"), ("tx", 0, "model0.h5"),
         ("tx", 0, "model0.weights.h5"), ("tx", 1, "model1.h5"), ("tx", 1, "model1.weights.h5")]


@pytest.fixture(scope="module")
def models():
    cache = {}

    def get(name, head, wf):
        key = (name, head, wf)
        if key not in cache:
            d = shared_path("compat", name)
            cache[key] = (load_model(d / "params.json", d / wf, head=head), np.load(d / "reference.npz"))
        return cache[key]
    return get


@pytest.mark.parametrize("name,head,wf", CASES)
def test_plain_predictions(models, name, head, wf):
    m, ref = models(name, head, wf)
    close(m.predict(ref["seqs"]).mean, ref[f"preds_head{head}"])
    assert m.stride == ref["model_strides"][head]
    assert m.target_length == ref["target_lengths"][head]
    assert m.crop == ref["target_crops"][head]


@pytest.mark.parametrize("name", ["small", "tx"])
def test_ensembles_embedding_and_params(models, name):
    m, ref = models(name, 0, "model0.h5")
    x = ref["seqs"]
    close(m.predict(x, rc=True).mean, ref["preds_ens_rc_head0"])
    close(m.predict(x, rc=True, shifts=(-1, 0, 1)).mean, ref["preds_ens_rc_shift1_head0"])
    close(m.predict(x, embed_penultimate=True).mean, ref["embed_trunk"])
    assert m.n_params == int(ref["n_params_head0"])
    # restored predictions: a second, fresh model from the same file gives the same numbers
    d = shared_path("compat", name)
    close(load_model(d / "params.json", d / "model0.h5").predict(x).mean, ref["restored_preds_head0"])


def test_tx_strand_pair_matters(models):
    """Without swapping strand pairs back, the RC ensemble would differ from the reference."""
    m, ref = models("tx", 0, "model0.h5")
    p = m.predict(ref["seqs"], rc=True, return_all=True)
    fwd, rcm = p.members[..., 0], p.members[..., 1]
    naive = (fwd + rcm[..., [1, 0, 2, 3]]) / 2  # undoing the swap = not swapping
    assert np.abs(naive - ref["preds_ens_rc_head0"]).max() > 10 * TOL * np.abs(ref["preds_ens_rc_head0"]).max()


def test_real_baskerville_model_predicts_74_tracks():
    d = shared_path("datasets", "baskerville-tiny-hg38")
    m = load_model(d / "params.json", d / "model.h5", targets_path=d / "targets.txt")
    assert (m.seq_length, m.num_targets, m.target_length, m.stride, m.crop) == (131072, 74, 2048, 32, 1024)
    from seqnn_engine.analysis.datasets import open_dataset
    ts = open_dataset(d, "test")
    x, y = next(ts.batches(1))
    p = m.predict(x).mean
    assert p.shape == (1, 2048, 74) and np.isfinite(p).all() and (p >= 0).all()
    # a trained model: its predictions correlate with the held-out observed coverage
    r = np.corrcoef(np.log1p(p.ravel()), np.log1p(y.ravel()))[0, 1]
    assert r > 0.3, r
