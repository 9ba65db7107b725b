"""Unit tests of the dashboard's pure helpers and the engine pieces it draws with: bin geometry,
pooling, logo stacking, the two-level result cache, settings, downloads and small session
helpers (hand-computed cases)."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from app.config import ASSETS, load_settings
from seqnn_engine.model.geometry import BinGeometry
from seqnn_engine.batch.result_cache import ResultCache


# ----------------------------------------------------------------------------------- geometry

def test_bin_coordinates_follow_the_guide_convention():
    # bin b covers window positions [(crop + b) * stride, (crop + b + 1) * stride)
    g = BinGeometry.of(19 * 32, 32, 8)
    assert g.target_length == 3
    np.testing.assert_array_equal(g.bin_starts(1000), [1256, 1288, 1320])
    np.testing.assert_array_equal(g.bin_centres(1000)[:2], [1272.0, 1304.0])
    assert BinGeometry.of(128 * 32, 32, 8).output_span(1000) == (1256, 1256 + 112 * 32)
    np.testing.assert_array_equal(g.bin_of([1255, 1256, 1287, 1288, 1352], 1000), [-1, 0, 0, 1, 3])
    with pytest.raises(ValueError, match="no output bins"):
        BinGeometry.of(512, 32, 8)


def test_range_bins_hand_cases():
    # window starts at 100, stride 10, crop 2, 5 bins: bin 0 = [120, 130), bin 4 = [160, 170)
    g = BinGeometry.of(90, 10, 2)
    np.testing.assert_array_equal(g.range_bins((125, 141), 100), [0, 1, 2])
    np.testing.assert_array_equal(g.range_bins((130, 131), 100), [1])
    np.testing.assert_array_equal(g.range_bins((100, 120), 100), [])   # in the crop
    np.testing.assert_array_equal(g.range_bins((100, 400), 100), [0, 1, 2, 3, 4])
    assert g.span_bins(100, 120, 100) is None and g.span_bins(119, 121, 100) == (0, 0)


def test_clip_and_limit_range():
    g = BinGeometry.of(50, 10, 0)
    assert g.clip_range((95.2, 130.7), 100) == (100, 131)
    assert g.clip_range((160, 170), 100) == (149, 150)
    assert g.clip_range((120, 110), 100) == (110, 120)
    assert g.limit_range((0, 5000), 2000) == (1500, 3500)
    assert g.limit_range((10, 20), 2000) == (10, 20)
    assert BinGeometry.of(4096, 32, 8).centred_range(200, 0) == (1948, 2148)


# ----------------------------------------------------------------------------------- cache

def test_result_cache_memory_bound_and_store_restart(tmp_path):
    from seqnn_engine.batch.store import ResultStore
    calls = []

    def compute(v):
        def f():
            calls.append(v)
            return {"a": np.full(1000, v, np.float32)}, {"v": v}
        return f

    store = ResultStore(tmp_path)
    c = ResultCache(max_bytes=10_000, store=store)   # room for two 4 kB entries
    keys = [f"{i:064x}" for i in range(3)]
    for i, k in enumerate(keys):
        r = c.get_or_compute(k, compute(i))
        assert r.source == "computed" and not r["a"].flags.writeable
    assert len(c) == 2                                # the oldest left memory
    assert c.get_or_compute(keys[2], compute(99)).source == "memory"
    assert c.get_or_compute(keys[0], compute(99)).source == "store"
    # a new process (new memory cache) over the same store: no recomputation
    c2 = ResultCache(max_bytes=10_000, store=ResultStore(tmp_path))
    r = c2.get_or_compute(keys[1], compute(99))
    assert r.source == "store" and r.meta == {"v": 1} and float(r["a"][0]) == 1.0
    assert calls == [0, 1, 2]
    c2.forget(keys[1])
    assert c2.peek(keys[1]).source == "store"


# ----------------------------------------------------------------------------------- settings

def test_settings_from_env_and_config(tmp_path):
    extra = tmp_path / "models"
    extra.mkdir()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'model_roots = ["{extra}"]\nstore_dir = "{tmp_path / "s1"}"\nstore_max_mb = 2\n')
    env = {"SEQNN_DASHBOARD_CONFIG": str(cfg), "SEQNN_MODEL_ROOTS": f"{tmp_path / 'nope'}",
           "SEQNN_STORE_DIR": str(tmp_path / "s2")}
    s = load_settings(env)
    assert s.model_roots[0] == ASSETS and s.model_roots[1] == extra
    assert s.store_dir == tmp_path / "s2" and s.store_max_bytes == 2 << 20
    assert any("nope" in p for p in s.problems)
    bad = tmp_path / "bad.toml"
    bad.write_text("model_roots = [")
    s = load_settings({"SEQNN_DASHBOARD_CONFIG": str(bad)})
    assert s.model_roots == (ASSETS,) and "could not be read" in s.problems[0]


# ----------------------------------------------------------------------------------- downloads

def test_downloads_build_lazily_and_read_back(tmp_path):
    import pyBigWig

    from app.downloads import ViewData, downloads
    from seqnn_engine.io.export import read_hdf5
    v = ViewData("predictions", {"preds": np.arange(6, dtype=np.float32).reshape(3, 2)}, {"k": 1},
                 tracks={"a": np.array([1.0, 2.0, 3.0], np.float32)}, track_start=100, track_step=10,
                 chrom="chr1", chrom_sizes={"chr1": 1000}, bed_scores=np.array([0.1, -3.0, 2.0]), bed_start=5,
                 bed_k=2, stem="my gene/1")
    d = {x.kind: x for x in downloads(v)}
    assert set(d) == {"hdf5", "npz", "csv", "bigwig", "bed"}
    assert d["hdf5"].file_name == "my_gene_1_predictions.h5"
    h5 = read_hdf5(d["hdf5"].make())
    np.testing.assert_array_equal(h5["preds"], v.arrays["preds"])
    assert h5.attrs["k"] == 1
    assert d["csv"].make().splitlines()[:2] == ["chrom,position,a", "chr1,100,1"]
    p = tmp_path / "a.bw"
    p.write_bytes(d["bigwig"].make())
    bw = pyBigWig.open(str(p))
    assert bw.values("chr1", 100, 130)[::10] == [1.0, 2.0, 3.0]
    bw.close()
    assert d["bed"].make().splitlines()[0].split("\t")[:4] == ["chr1", "6", "7", "top1"]
    # several tracks -> a zip of bigWigs; no chromosome -> no bigWig/BED
    v.tracks = {"a": np.ones(3), "b": np.zeros(3)}
    z = zipfile.ZipFile(io.BytesIO({x.kind: x for x in downloads(v)}["bigwig"].make()))
    assert sorted(z.namelist()) == ["a.bw", "b.bw"]
    v.chrom = None
    assert {x.kind for x in downloads(v)} == {"hdf5", "npz", "csv"}


# ----------------------------------------------------------------------------------- compute helpers

def test_per_shift_groups_members_like_the_engine():
    from seqnn_engine.session import Ensemble, Prediction
    ens = Ensemble(rc=True, shifts=(-1, 0, 1))
    # members in engine order: (-1 fwd, -1 rc, 0 fwd, 0 rc, 1 fwd, 1 rc); value = member index
    m = np.broadcast_to(np.arange(6, dtype=np.float32), (4, 2, 6))
    h = Prediction("k", {"members": m}).per_shift(ens.shifts, ens.members())
    assert h.shape == (3, 4, 2)
    np.testing.assert_array_equal(h[:, 0, 0], [0.5, 2.5, 4.5])


def test_record_source_pads_with_n_like_the_genome():
    """Variants on a FASTA record are cut from it with N outside, as Genome.fetch pads."""
    from seqnn_engine.genomics.windows import RecordSource
    r = RecordSource("rec", "ACGTAC")
    assert r.fetch("rec", -2, 3).sequence == "NNACG"
    assert r.fetch("rec", 4, 9).sequence == "ACNNN"
    assert r.fetch("rec", -1, 8).sequence == "NACGTACNN"
    assert r.fetch("rec", 7, 9).sequence == "NN"


def test_box_selection_parsing():
    from app.views.explore import _box_from_chart
    state = {"selection": {"points": [], "box": [{"xref": "x", "x": [230.5, 120.25], "y": [0, 1]}], "lasso": []}}
    assert _box_from_chart(state) == (120.25, 230.5)
    assert _box_from_chart({"selection": {"box": []}}) is None
    assert _box_from_chart(None) is None


def test_prediction_key_matches_the_cli_key():
    """The session's prediction key is the CLI's, so batch runs pre-compute dashboard views."""
    from seqnn_engine.batch import cache_keys
    from seqnn_engine.session import Ensemble, Request, Session

    class M:
        digest = "abc-h0"
        strand_pair = np.array([1, 0])
        num_targets = 2

    s = Session(model=M)
    seq = "ACGTN" * 4
    e = Ensemble(rc=True, shifts=(-1, 0, 1))
    assert s.prediction_key(Request(seq, e, (0,))) == cache_keys.prediction_key(
        M, seq, {"rc": True, "shifts": [-1, 0, 1], "mc_n": 0, "n_value": 0.0})
    assert s.prediction_key(Request(seq, e, (0,))) != s.prediction_key(Request(seq[:-1] + "A", e, (0,)))
    assert json.dumps(e.options())  # plain JSON options
