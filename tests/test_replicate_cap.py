"""The resident cap of ReplicateSession (issue 15, point 2): replicates load lazily within the
memory share for resident models (SEQNN_RESIDENT_MODELS_MB).

On the 3-replicate copy of the demo model (tests/test_replicates.py): with a cap that fits 1 or 2
replicate models, predictions and attributions over 'all' replicates equal those of an uncapped
session (evicted replicates reload the same weights), the number of loaded models (counted over
the replicate sessions) never exceeds the cap, a repeated request loads nothing, and a cap below
one replicate's estimate is refused with InputError naming the estimate and the variable.
"""
from __future__ import annotations

import numpy as np
import pytest

from test_replicates import rep_dir  # noqa: F401  (the module fixture)

from seqnn_engine import memory
from seqnn_engine.errors import InputError
from seqnn_engine.session import Ensemble, ReplicateSession, Request
from seqnn_engine.session.replicates import RESIDENT_ENV, resident_budget_bytes

ENV = RESIDENT_ENV


def _loaded(rs) -> int:
    """Models loaded now, counted over the replicate sessions themselves."""
    return sum(s._model is not None for s in rs._subs.values())


def _request(rs):
    inp = rs.gene_input("DEMOG00135")
    return Request(inp.sequence, ensemble=Ensemble(rc=True, shifts=(0, 1)), targets=(0, 6))


@pytest.fixture(scope="module")
def uncapped(rep_dir):  # noqa: F811
    rs = ReplicateSession(rep_dir, "all")
    req = _request(rs)
    p = rs.predict(req)
    a = rs.attribute(req.with_(method="saliency", positions="center"))
    per = memory.resident_model_bytes(rs.replicate_session(0).model)
    assert sorted(rs.resident()) == [0, 1, 2] and rs.loads == 3         # the default share holds all three
    return req, p, a, per


@pytest.mark.parametrize("cap", [1, 2])
def test_capped_results_equal_uncapped_and_stay_under_the_cap(rep_dir, uncapped, monkeypatch, cap):  # noqa: F811
    req, p0, a0, per = uncapped
    monkeypatch.setenv(ENV, str((cap + 0.5) * per / 2**20))
    assert cap * per <= resident_budget_bytes() < (cap + 1) * per
    rs = ReplicateSession(rep_dir, "all")
    seen = []

    def watch(done, total):
        seen.append(_loaded(rs))
    p = rs.job("predict", req).run(watch)
    a = rs.job("attribute", req.with_(method="saliency", positions="center")).run(watch)
    for name in ("preds", "sd", "members", "replicate_preds"):
        np.testing.assert_array_equal(p[name], p0[name])
    for name in ("scores", "grads", "objective", "scores_replicate_std"):
        np.testing.assert_array_equal(a[name], a0[name])
    assert seen and max(seen) <= cap
    assert rs.max_loaded == cap and len(rs.resident()) == cap == _loaded(rs)
    assert rs.loads > 3                       # replicates were evicted and loaded again
    # the same requests again: remembered combined results, no model loads
    loads = rs.loads
    assert rs.job("predict", req).cached() is not None
    np.testing.assert_array_equal(rs.predict(req)["preds"], p0["preds"])
    assert rs.loads == loads


def test_a_replicate_larger_than_the_share_is_refused(rep_dir, monkeypatch):  # noqa: F811
    monkeypatch.setenv(ENV, "0.01")
    rs = ReplicateSession(rep_dir, "all")
    with pytest.raises(InputError) as e:
        rs.predict(_request(rs))
    msg = str(e.value)
    assert ENV in msg and "SEQNN_MAX_MEMORY_MB" in msg and "needs an estimated" in msg and "KiB" in msg, msg
    assert _loaded(rs) == 0
    monkeypatch.setenv(ENV, "lots")
    with pytest.raises(InputError, match=f"{ENV} must be a number of MB"):
        resident_budget_bytes()


def test_default_share_is_half_the_memory_limit(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("SEQNN_MAX_MEMORY_MB", "1000")
    assert resident_budget_bytes() == 500 * 2**20
