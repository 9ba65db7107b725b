"""ISM in chunks on every engine, hybrid ISM on attention / U-net models, and the passes of
the default attribute() call.

Truth: full-length forward passes of every mutant (model.predict / the 'full' engine), and
call counts of the model's real compiled functions.
"""
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_path
from seqnn_engine.model import ensemble as ens
from seqnn_engine import load_model, load_model_dir
from seqnn_engine.attribution import incremental_ism as inc
from seqnn_engine.attribution import ism
from seqnn_engine.attribution.input_attr import _corr_rows, center_acgt, gradient_diagnostics
from seqnn_engine.attribution.objective import make_objective

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo"


@pytest.fixture(scope="module")
def demo():
    m = load_model_dir(DEMO)
    x = np.eye(4, dtype=np.float32)[np.random.default_rng(5).integers(0, 4, (1, m.seq_length))]
    return m, x


@pytest.fixture(scope="module")
def tx():
    d = shared_path("compat", "tx")
    m = load_model(d / "params.json", d / "model0.h5")
    return m, np.load(d / "reference.npz")["seqs"][:1]


def _scores(m, x, engine, chunk, **kw):
    a = m.attribute(x, "ism", ism_engine=engine, ism_chunk=chunk, **kw)
    assert a.options["ism_engine"] == engine
    return a.scores, 4e-7 * max(1.0, float(np.abs(a.objective).max()))   # float32 rounding of the objective


@pytest.mark.parametrize("engine", ["incremental", "subwindow", "full"])
def test_chunk_sizes_give_identical_scores_local_model(demo, engine):
    m, x = demo
    kw = dict(targets=[0, 3], positions=np.arange(40, 70), statistic="log", rc=True, shifts=(0, 1),
              window=(2040, 2046), batch_size=8)
    ref, tol = _scores(m, x, engine, "all", **kw)
    assert np.abs(ref).max() > 1e-4 and np.count_nonzero(ref) == 18
    for chunk in (1, 7):
        np.testing.assert_allclose(_scores(m, x, engine, chunk, **kw)[0], ref, rtol=0, atol=tol)


@pytest.mark.parametrize("engine", ["hybrid", "full"])
def test_chunk_sizes_give_identical_scores_attention_model(tx, engine):
    m, x = tx
    kw = dict(targets=[1], positions="center", rc=True, window=(2047, 2052), batch_size=8)
    ref, tol = _scores(m, x, engine, "all", **kw)
    assert np.abs(ref).max() > 1e-5
    for chunk in (1, 7):
        np.testing.assert_allclose(_scores(m, x, engine, chunk, **kw)[0], ref, rtol=0, atol=tol)


def test_hybrid_predictions_equal_full_passes_on_attention_unet_model(tx):
    """compat/tx (conv tower, transformer, U-net, dilated residuals, cropping): hybrid mutant
    predictions equal whole forward passes of each mutant, for forward and shifted RC members."""
    m, x = tx
    assert inc.unsupported_reason(m) is not None and inc.hybrid_reason(m) is None
    plan = inc._plan(m, hybrid=True)
    assert 0 < sum(not f for f in plan.full) < len(plan.full)              # a span-wise prefix and a full rest
    rng = np.random.default_rng(0)
    pos = np.concatenate([[0, 1], rng.integers(0, m.seq_length, 6), [m.seq_length - 1]])
    base = (x[0, pos].argmax(-1) + 1 + rng.integers(0, 3, pos.size)) % 4
    muts = ism.mutate(x[0], pos, base)
    for mem in (ens.Member(False, 0), ens.Member(True, -2)):
        got = inc.mutant_predictions(m, x[0], pos, base, mem, chunk_bp=8, batch_size=3, hybrid=True)
        full = ens.unaugment_bins(m._predict_fn(ens.augment(muts, mem)).numpy(), mem, m.strand_pair)
        ref = ens.unaugment_bins(m._predict_fn(ens.augment(x, mem)).numpy(), mem, m.strand_pair)[0]
        assert np.abs(full - ref).max() > 1e-4                              # every mutant changes something
        np.testing.assert_allclose(got.ref, ref, rtol=0, atol=1e-6 * np.abs(ref).max())
        np.testing.assert_allclose(got.preds, full, rtol=0, atol=1e-5 * np.abs(full).max())


def test_hybrid_ism_equals_full_ism_and_is_auto_on_attention_models(tx):
    m, x = tx
    assert ism.choose_ism_engine(m, ens.members(rc=True), 10, 20) == "hybrid"
    P = m.target_length
    for win, bins, shifts in [((2000, 2006), np.arange(88, 98), (0, 1)), ((0, 4), np.arange(0, 8), (0,)),
                              ((m.seq_length - 4, m.seq_length), np.arange(P - 8, P), (0,))]:
        kw = dict(targets=[0, 2], positions=bins, statistic="log", rc=True, shifts=shifts, batch_size=8,
                  window=win)
        a = m.attribute(x, "ism", **kw)
        b = m.attribute(x, "ism", ism_engine="full", **kw)
        assert a.options["ism_engine"] == "hybrid"
        tol = 4e-7 * max(1.0, float(np.abs(b.objective).max()))         # float32 rounding of the objective
        assert win[0] != 2000 or np.abs(b.scores).max() > 10 * tol
        np.testing.assert_allclose(a.scores, b.scores, rtol=0, atol=tol)


def test_hybrid_and_mc_refusals(tx):
    from seqnn_engine import InputError
    m, x = tx
    with pytest.raises(InputError, match="hybrid ISM is not possible"):
        m.attribute(x, "ism", window=(10, 12), ism_engine="hybrid", mc_n=2)
    with pytest.raises(InputError, match="ism_chunk"):
        m.attribute(x, "ism", window=(10, 12), ism_chunk=0)
    with pytest.raises(InputError, match="ism_chunk"):
        m.attribute(x, "ism", window=(10, 12), ism_chunk="some")


def test_chunk_size_comes_from_the_budget_not_the_window(demo, tx):
    m, _ = demo
    for model, engine in ((m, "incremental"), (m, "full"), (m, "subwindow"), (tx[0], "hybrid")):
        c = [ism.ism_chunk_size(model, engine, b, 1000, 1000 + w) for b in (64 << 20, 256 << 20) for w in (10, 40)]
        if engine == "subwindow":                                 # its sub-window input grows with the window
            assert c[1] <= c[0] and c[1] * ism.mutant_bytes(model, engine, 1000, 1040) <= 64 << 20
        else:
            assert c[0] == c[1] and c[2] == c[3], (engine, c)    # the window does not change it
        assert 3.5 * c[0] <= c[2] <= 4.5 * c[0] + 1, (engine, c)  # proportional to the budget


class _CallLog:
    """Wraps model._fn so that every compiled function the engine fetches from the model is
    counted and the batch sizes of its inputs recorded (the real functions still run)."""

    def __init__(self, model):
        self.model, self.calls, self.batches = model, Counter(), []
        self._orig = model._fn

        def fn(key, make):
            f = self._orig(key, make)
            if isinstance(f, tuple) or not callable(f):                  # incremental ISM's (plan, reference fn);
                return f                                                 # cached values (memory model's byte counts)
            return self._wrap(key, f, arg=3 if key[0] == "incremental_ism" else 0)   # arg: the mutants' values
        model._fn = fn

    def _wrap(self, key, f, arg):
        def g(*a, **k):
            self.calls[key[0]] += 1
            self.batches.append(int(np.shape(a[arg])[0]))
            return f(*a, **k)
        return g

    def close(self):
        del self.model._fn


@pytest.mark.parametrize("engine", ["incremental", "full"])
def test_ism_memory_does_not_grow_with_the_window(demo, engine):
    """With one chunk size, a 10x wider window makes more calls of the same size, and the
    largest numpy allocation stays the same (traced by tracemalloc)."""
    m, x = demo
    peaks, sizes = [], []
    for w in (24, 240):
        log = _CallLog(m)
        try:
            tracemalloc.start()
            m.attribute(x, "ism", targets=[0], window=(1000, 1000 + w), ism_engine=engine, ism_chunk=12,
                        statistic="log", batch_size=4)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
            log.close()
        mutant_calls = log.batches[1:]                                   # after the reference's pass
        sizes.append(max(mutant_calls))
        assert sum(mutant_calls) == 3 * w and max(mutant_calls) <= 12
    assert sizes[0] == sizes[1]
    scores_bytes = x.nbytes
    assert peaks[1] - scores_bytes < 2 * (peaks[0] - scores_bytes) + (1 << 20), peaks


def test_default_saliency_runs_one_gradient_pass_per_member(tx):
    m, _ = tx
    x = np.load(shared_path("compat", "tx") / "reference.npz")["seqs"][:2]
    log = _CallLog(m)
    try:
        a = m.attribute(x, "saliency", targets=[0], batch_size=2)
        assert dict(log.calls) == {"input_grad": 1} and a.diagnostics == {}
        log.calls.clear()
        b = m.attribute(x, "saliency", targets=[0], rc=True, shifts=(0, 1), batch_size=2)
        assert dict(log.calls) == {"input_grad": 4}                      # 4 members, one pass each
        log.calls.clear()
        # the diagnostic computed from the rc=True members equals one computed by separate passes
        obj = make_objective(m, 2, [0])
        sep = gradient_diagnostics(m, x, obj, batch_size=2)
        assert log.calls["input_grad"] == 2
        np.testing.assert_allclose(b.diagnostics["rc_consistency"], sep["rc_consistency"], atol=1e-6)
        log.calls.clear()
        c = m.attribute(x, "saliency", targets=[0], batch_size=2, diagnostics=True)  # reuses the forward map
        assert dict(log.calls) == {"input_grad": 2}
        np.testing.assert_allclose(c.diagnostics["rc_consistency"], sep["rc_consistency"], atol=1e-6)
        assert _corr_rows(center_acgt(a.scores), center_acgt(c.scores)).min() > 0.999999
    finally:
        log.close()


def test_cli_offers_every_engine():
    from seqnn_engine.cli.attribute import ISM_ENGINES
    assert ISM_ENGINES == ism.ISM_ENGINES
