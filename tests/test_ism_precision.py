"""ISM of a whole-window objective keeps one-base effects (objectives reduced in float64).

A sum over every output bin and target is large (~1e3 on the real 131 kb model, ~1e4 at Borzoi
scale), and its float32 ulp (1.2e-4 here) is a sizeable part of many single-base effects:
objective(mutant) - objective(reference) subtracted in float32 rounds them to multiples of that
ulp (the browser test at Borzoi scale saw only +-2^-11). Truth: the mutants' and the reference's
per-bin predictions from one ``model.predict`` call (float32, an independent path), differenced
and summed in float64 by numpy.
"""
import numpy as np
import pytest

from conftest import shared_path
from seqnn_engine import load_model
from seqnn_engine.attribution import ism


@pytest.fixture(scope="module")
def real():
    d = shared_path("datasets", "baskerville-tiny-hg38")
    m = load_model(d / "params.json", d / "model.h5")
    x = np.eye(4, dtype=np.float32)[np.random.default_rng(11).integers(0, 4, (1, m.seq_length))]
    return m, x


def test_whole_window_ism_keeps_one_base_effects(real):
    m, x = real
    start, end = 3000, 3004
    pos, base = ism.ism_substitutions(x[0], start, end)
    muts = ism.mutate(x[0], pos, base)
    p = np.asarray(m.predict(np.concatenate([x, muts]), batch_size=4).mean, np.float64)   # (1 + M, P, T)
    truth = (p[1:] - p[0][None]).mean(axis=-1).sum(axis=-1)      # objective: mean over targets, sum over bins
    ulp = float(np.spacing(np.float32(p[0].mean(axis=-1).sum())))
    assert ulp > 5e-5 and np.abs(truth).min() < 300 * ulp       # effects within a few hundred ulps
    a = m.attribute(x, "ism", targets=None, positions=None, window=(start, end), ism_engine="hybrid",
                    diagnostics=False)
    got = a.scores[0, pos, base].astype(np.float64)
    # only the per-bin float32 rounding of the predictions is left: far below the objective's ulp
    # (a float32 subtraction of the objectives is off by up to ~1 ulp)
    assert np.abs(got - truth).max() <= 0.1 * ulp, (np.abs(got - truth).max(), ulp)
    assert a.objective.dtype == np.float32 and np.isfinite(a.objective).all()
