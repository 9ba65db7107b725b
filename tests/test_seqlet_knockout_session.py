"""Knock-out verification through the engine session (Session.seqlet_knockout_job), on the demo model.

Truth: the demo genome's planted sites (assets/demo/motif_sites.bed) in the default gene's window, the
attribution's own objective (computed on the gradient path; the knock-out computes it on the no-grad
path), the verification rule recomputed from the returned arrays, and, for replicates, the per-replicate
knock-outs of single-replicate sessions.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import REPO, demo_replicate_dir
from seqnn_engine.errors import InputError

DEMO = REPO / "assets" / "demo"
GENE = "DMG129"                       # chr3, planted CEBPB and SPI1 driver sites in its window
pytestmark = pytest.mark.skipif(not (DEMO / "manifest.json").exists(), reason="the demo model is not trained")


def _driver_sites(chrom: str, lo: int, hi: int, names) -> list[tuple]:
    out = []
    for line in (DEMO / "motif_sites.bed").read_text().splitlines():
        c, s, e, name, _, _, role = line.split("\t")
        if c == chrom and int(s) >= lo and int(e) <= hi and role == "driver" and name in names:
            out.append((int(s) - lo, int(e) - lo, name))
    return out


def _request(session, inp, names, **ens):
    from seqnn_engine.session import Ensemble, Request
    ids = [str(i) for i in session.model.targets.identifier]
    return Request(inp.sequence, Ensemble(**ens), targets=tuple(ids.index(n) for n in names), method="saliency")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from seqnn_engine.session import MotifDatabase, Session
    s = Session(DEMO)
    inp = s.gene_input(GENE)
    return s, inp, MotifDatabase.jaspar()


@pytest.mark.parametrize("driver", ["SPI1", "CEBPB"])
def test_planted_driver_seqlets_are_verified_with_the_attribution_objective(demo, driver):
    s, inp, db = demo
    req = _request(s, inp, [driver], rc=True, shifts=(-1, 0, 1))
    attr = s.attribute(req)
    seq = s.seqlets(attr, req, db)
    job = s.seqlet_knockout_job(seq, req)
    assert job.cached() is None
    ko = job.run()
    n = len(seq["start"])
    assert n >= 1 and ko["effect"].shape == (n,) and ko["null_effect"].shape == (100,)
    # the knock-out measures the attribution's objective (same targets, bins, statistic and RC/shift ensemble)
    assert float(ko["base"][0]) == pytest.approx(float(attr["objective"]), rel=1e-4)
    # the verdict follows its rule: BH q <= alpha, the seqlet's sign, and >= min_share of its contribution
    m = ko.meta
    share = -np.asarray(seq["sign"], np.float64) * ko["effect"] / np.abs(seq["score"])
    np.testing.assert_allclose(ko["share"], share, rtol=1e-9)
    rule = (ko["q_value"] <= m["alpha"]) & (np.sign(ko["effect"]) == -np.asarray(seq["sign"])) \
        & (np.abs(share) >= m["min_share"])
    np.testing.assert_array_equal(ko["verified"], rule)
    # every positive seqlet on a planted driver site of this track is verified: knocking it out lowers the objective
    sites = _driver_sites(inp.chrom, inp.start, inp.start + len(inp.sequence), {driver})
    crop = 8 * 32
    sites = [t for t in sites if crop <= t[0] and t[1] <= len(inp.sequence) - crop]
    assert sites, "the demo window has a planted site of the track in its output span"
    on_site = [i for i in range(n) if seq["sign"][i] > 0
               and any(seq["start"][i] < e and seq["end"][i] > a for a, e, _ in sites)]
    assert on_site, "a positive seqlet overlaps the planted site"
    assert all(ko["verified"][i] and ko["effect"][i] < 0 for i in on_site), \
        [(int(seq["start"][i]), float(ko["effect"][i]), float(ko["q_value"][i])) for i in on_site]
    # cached, and the options are part of its identity
    assert job.cached() is not None
    other = s.seqlet_knockout_job(seq, req, {"n_null": 50})
    assert other.key != job.key and other.cached() is None


def test_mc_dropout_is_not_drawn_and_bad_options_are_refused(demo):
    s, inp, db = demo
    req = _request(s, inp, ["SPI1"])
    attr = s.attribute(req)
    seq = s.seqlets(attr, req, db)
    with pytest.raises(InputError, match="unknown knock-out option"):
        s.seqlet_knockout_job(seq, req, {"n_nulls": 10})
    with pytest.raises(InputError, match="n_null must be >= 1"):
        s.seqlet_knockout_job(seq, req, {"n_null": 0}).run()
    mc = req.with_(ensemble=req.ensemble.__class__(mc_n=2))
    ko = s.seqlet_knockout_job(seq, mc, {"n_null": 20}).run()
    plain = s.seqlet_knockout_job(seq, req, {"n_null": 20}).run()
    assert ko.meta["mc_ignored"] and not plain.meta["mc_ignored"]
    np.testing.assert_allclose(ko["effect"], plain["effect"], rtol=1e-6, atol=1e-6)


def test_replicates_average_the_same_knockouts(tmp_path):
    from seqnn_engine.motifs.verify import bh_qvalues, empirical_pvalues
    from seqnn_engine.session import MotifDatabase, Session, open_session
    d = demo_replicate_dir(tmp_path, [11], "demo-reps")
    both = open_session(d, replicate="all")
    inp = both.gene_input(GENE)
    req = _request(both, inp, ["SPI1"])
    db = MotifDatabase.jaspar()
    seq = both.seqlets(both.attribute(req), req, db)
    opts = {"n_null": 30}
    ko = both.seqlet_knockout_job(seq, req, opts).run()
    assert ko.meta["replicates"] == [0, 1]
    per = [Session(d, replicate=r).seqlet_knockout_job(seq, req, opts).run() for r in (0, 1)]
    np.testing.assert_allclose(ko["effect"], np.mean([p["effect"] for p in per], axis=0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ko["null_effect"], np.mean([p["null_effect"] for p in per], axis=0),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ko["effect_sd"], np.std([p["effect"] for p in per], axis=0, ddof=1),
                               rtol=1e-5, atol=1e-7)
    # the verdict is taken on the averaged effects
    np.testing.assert_allclose(ko["q_value"], bh_qvalues(empirical_pvalues(ko["effect"], ko["null_effect"])))
