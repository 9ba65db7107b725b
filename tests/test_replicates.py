"""Replicate ensembles (seqnn_engine.model.replicates) on a 3-replicate copy of the demo model.

The replicates are the shipped demo weights and two seeded random re-initialisations of the
same architecture. Truth: each replicate loaded on its own with load_model_dir(replicate=r)
and combined here with numpy.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import demo_replicate_dir

from seqnn_engine.errors import InputError
from seqnn_engine.genomics.onehot import encode
from seqnn_engine.model.modeldir import load_model_dir
from seqnn_engine.model.replicates import Replicates, parse_replicates

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo"


@pytest.fixture(scope="module")
def rep_dir(tmp_path_factory):
    return demo_replicate_dir(tmp_path_factory.mktemp("reps"), (1, 2), "demo x3")


@pytest.fixture(scope="module")
def x():
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), 4096))
    return encode(seq)[None]


def test_parse_replicates():
    assert parse_replicates("all", 4) == [0, 1, 2, 3]
    assert parse_replicates("2,0", 4) == [0, 2]
    assert parse_replicates(1, 4) == [1]
    with pytest.raises(InputError, match="out of range.*4 weights"):
        parse_replicates("0,4", 4)
    with pytest.raises(InputError, match="'all' or comma-separated"):
        parse_replicates("first", 4)


def test_predictions_combine_independently_loaded_replicates(rep_dir, x):
    reps = Replicates(rep_dir, "all", max_resident=1)
    kw = dict(rc=True, shifts=(0, 1), target_indexes=[0, 3, 6])
    got = reps.predict(x, **kw)
    singles = [load_model_dir(rep_dir, replicate=r).predict(x, return_all=True, **kw) for r in range(3)]
    means = np.stack([p.mean for p in singles])
    np.testing.assert_allclose(got.per_replicate, means, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got.mean, means.mean(0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got.replicate_std, means.std(0, ddof=1), rtol=1e-5, atol=1e-7)
    # every member of every replicate: the member variance over all 3 x 4 members
    all_members = np.concatenate([p.members for p in singles], axis=-1)
    assert all_members.shape[-1] == 12 and len(got.member_labels) == 12
    np.testing.assert_allclose(got.member_var, all_members.var(-1, ddof=1), rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(got.mean, all_members.mean(-1), rtol=1e-5, atol=1e-7)
    assert got.replicate_std.max() > 0          # the replicates really differ


def test_attributions_average_over_replicates_with_spread(rep_dir, x):
    reps = Replicates(rep_dir, "0,2", max_resident=2)
    kw = dict(targets=[0], positions=[60, 61, 62, 63])
    got = reps.attribute(x, "saliency", **kw)
    singles = [load_model_dir(rep_dir, replicate=r).attribute(x, "saliency", **kw) for r in (0, 2)]
    s = np.stack([a.scores for a in singles])
    np.testing.assert_allclose(got.scores, s.mean(0), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(got.scores_std, s.std(0, ddof=1), rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(got.objective_per_replicate, np.stack([a.objective for a in singles]), rtol=1e-6)
    assert list(got.replicates) == [0, 2]


def test_lazy_loading_keeps_at_most_max_resident(rep_dir, x):
    reps = Replicates(rep_dir, "all", max_resident=1)
    assert reps.resident() == [] and reps.loads == 0      # nothing loaded before the first request
    reps.predict(x, target_indexes=[0])
    assert reps.resident() == [2] and reps.loads == 3
    reps2 = Replicates(rep_dir, "all", max_resident=3)
    reps2.predict(x, target_indexes=[0])
    reps2.predict(x, target_indexes=[1])
    assert reps2.resident() == [0, 1, 2] and reps2.loads == 3   # kept: no reload


def test_digest_changes_with_the_selection(rep_dir):
    a = Replicates(rep_dir, "all", max_resident=3).digest
    b = Replicates(rep_dir, "0,1", max_resident=3).digest
    assert a != b and len(a) == 16


def test_cli_replicates_combine_independent_runs(rep_dir, x, tmp_path):
    from seqnn_engine.cli import main
    from seqnn_engine.genomics.onehot import decode
    from seqnn_engine.io.export import read_hdf5

    fa = tmp_path / "w.fa"
    fa.write_text(">w\n" + decode(x[0]) + "\n")
    out = tmp_path / "p.h5"
    assert main([str(a) for a in ["predict", "--model", rep_dir, "--fasta", fa, "--targets", "0,3", "--rc",
                                  "--replicates", "all", "--float32", "--quiet", "--out", out]]) == 0
    got = read_hdf5(out)
    means = np.stack([load_model_dir(rep_dir, replicate=r).predict(x, rc=True, target_indexes=[0, 3]).mean
                      for r in range(3)])
    np.testing.assert_allclose(got["preds"], means.mean(0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got["preds_replicate_std"], means.std(0, ddof=1), rtol=1e-4, atol=1e-7)
    assert not list(tmp_path.glob("p.rep*.h5"))           # part files removed once combined

    out2 = tmp_path / "a.h5"
    assert main([str(a) for a in ["attribute", "--model", rep_dir, "--fasta", fa, "--targets", "0",
                                  "--positions", "center", "--replicates", "0,2", "--float32", "--quiet",
                                  "--out", out2]]) == 0
    a = read_hdf5(out2)
    s = np.stack([load_model_dir(rep_dir, replicate=r).attribute(x, "saliency", targets=[0], positions="center").scores
                  for r in (0, 2)])
    np.testing.assert_allclose(a["scores"], s.mean(0), rtol=1e-4, atol=1e-8)
    assert main([str(a) for a in ["predict", "--model", rep_dir, "--fasta", fa, "--replicates", "0,5",
                                  "--quiet", "--out", tmp_path / "bad.h5"]]) == 2


def test_replicate_session_and_dashboard(rep_dir, tmp_path, monkeypatch):
    """ReplicateSession: the mean and spread of the replicates' own sessions; the dashboard with
    replicate 'all' shows (and downloads) exactly that."""
    from seqnn_engine.session import Ensemble, ReplicateSession, Request, Session

    rs = ReplicateSession(rep_dir, "all")
    inp = rs.gene_input("DEMOG00135")
    req = Request(inp.sequence, ensemble=Ensemble(rc=True), targets=(0, 6))
    p = rs.predict(req)
    singles = [Session(rep_dir, replicate=r).predict(req) for r in range(3)]
    reps = np.stack([s["preds"] for s in singles])
    np.testing.assert_allclose(p["preds"], reps.mean(0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(p["sd"], reps.std(0, ddof=1), rtol=1e-5, atol=1e-7)
    assert p["members"].shape[-1] == 6 and p.meta["member_labels"][0].startswith("r0/")
    a = rs.attribute(req.with_(method="saliency", positions="center"))
    sa = np.stack([Session(rep_dir, replicate=r).attribute(req.with_(method="saliency", positions="center"))["scores"]
                   for r in range(3)])
    np.testing.assert_allclose(a["scores"], sa.mean(0), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(a["scores_replicate_std"], sa.std(0, ddof=1), rtol=1e-4, atol=1e-9)

    pytest.importorskip("streamlit.testing.v1")
    from streamlit.testing.v1 import AppTest

    from seqnn_engine.io.export import read_hdf5
    cfg = tmp_path / "config.toml"
    cfg.write_text("")
    monkeypatch.setenv("SEQNN_MODEL_ROOTS", str(rep_dir.parent))
    monkeypatch.setenv("SEQNN_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("SEQNN_DASHBOARD_CONFIG", str(cfg))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app" / "main.py"), default_timeout=300)
    at.session_state["model_path"] = str(rep_dir.resolve())
    at.session_state["replicate"] = "all"
    at.session_state["gene"] = "DEMOG00135"
    at.session_state["targets"] = [0, 6]
    at.session_state["ens_rc"] = True
    at.run()
    assert not at.exception, at.exception
    d = read_hdf5(at.session_state["downloads"]["predictions"]["hdf5"].make())
    np.testing.assert_allclose(d["preds"], p["preds"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(d["sd"], p["sd"], rtol=1e-6, atol=1e-7)
    at.selectbox(key="replicate_shown").set_value(1).run()
    assert not at.exception, at.exception
