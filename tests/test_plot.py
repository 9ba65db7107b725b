"""seqnn_engine.plot: min/max envelopes of long tracks, pooling, and the figures drawn from them
(tracks with band and genes, logo, heatmaps, seqlet boxes), checked against independent numpy."""
from __future__ import annotations

import numpy as np
import pytest

from seqnn_engine.errors import InputError
from seqnn_engine import plot
from seqnn_engine.plot import column_extremes, envelope, pool_columns, view_slice


def test_envelope_hand_computed():
    y = np.array([3, 1, 2, 5, 4, 0, 7], np.float32)
    # max_cols 3 -> k = ceil(7/3) = 3 positions per column: [3,1,2] [5,4,0] [7]
    e = envelope(y, 3)
    assert not e.exact
    assert e.index.tolist() == [0, 1, 3, 5, 6, 6]   # each column's min and max, in position order
    assert e.values.tolist() == [3, 1, 5, 0, 7, 7]
    starts, lo, hi = column_extremes(y, 3)
    assert starts.tolist() == [0, 3, 6] and lo.tolist() == [1, 0, 7] and hi.tolist() == [3, 5, 7]


def test_exact_passthrough_below_the_cap():
    y = np.random.default_rng(0).normal(size=500).astype(np.float32)
    for cap in (500, 2000):
        e = envelope(y, cap)
        assert e.exact and e.index.tolist() == list(range(500))
        np.testing.assert_array_equal(e.values, y)


@pytest.mark.parametrize("n,cap", [(16352, 2000), (524288, 2000), (2001, 2000), (10, 3), (7919, 13)])
def test_envelope_invariants(n, cap):
    rng = np.random.default_rng(n)
    y = rng.standard_cauchy(n).astype(np.float32)     # heavy tails: isolated spikes
    e = envelope(y, cap)
    k = -(-n // cap)
    m = -(-n // k)
    assert len(e.index) == 2 * m <= 2 * cap
    assert np.all(np.diff(e.index) >= 0)                 # drawn in position order
    np.testing.assert_array_equal(e.values, y[e.index])  # points are real values at their positions
    col = e.index // k
    assert np.array_equal(col, np.repeat(np.arange(m), 2))   # two points in every column, none empty
    for j in (0, m // 2, m - 1):
        seg = y[j * k:(j + 1) * k]
        got = e.values[2 * j:2 * j + 2]
        assert got.min() == seg.min() and got.max() == seg.max()
    # every value lies within its column's [min, max], and the extremes are the true ones
    starts, lo, hi = column_extremes(y, cap)
    c = np.arange(n) // k
    assert np.all(y >= lo[c]) and np.all(y <= hi[c])
    np.testing.assert_array_equal(e.values.reshape(m, 2).min(1), lo)
    np.testing.assert_array_equal(e.values.reshape(m, 2).max(1), hi)
    assert e.values.max() == y.max() and e.values.min() == y.min()


def test_nan_positions_are_skipped_unless_the_column_is_all_nan():
    y = np.array([np.nan, 2, 1, np.nan, np.nan, np.nan, 5, np.nan], np.float32)
    e = envelope(y, 3)   # k = 3: [nan 2 1] [nan nan nan] [5 nan]
    assert e.values[:2].tolist() == [2, 1] and e.index[:2].tolist() == [1, 2]
    assert np.isnan(e.values[2:4]).all()
    assert e.values[4:].tolist() == [5, 5]
    _, lo, hi = column_extremes(y, 3)
    assert lo[0] == 1 and hi[0] == 2 and np.isnan(lo[1]) and hi[2] == 5


def test_bad_inputs():
    with pytest.raises(InputError):
        envelope(np.zeros(0), 10)
    with pytest.raises(InputError):
        envelope(np.zeros((3, 2)), 10)
    with pytest.raises(InputError):
        envelope(np.zeros(30), 0)


def test_view_slice():
    x = np.arange(100) * 10.0 + 5
    s = view_slice(x, (100, 200))
    assert (s.start, s.stop) == (9, 21)        # one bin beyond each edge
    assert view_slice(x, None) == slice(0, 100)
    assert view_slice(x, (-50, 5000)) == slice(0, 100)


# ----------------------------------------------------------------------------------- figures

def _decode(arr):
    import base64
    if isinstance(arr, dict) and "bdata" in arr:
        return np.frombuffer(base64.b64decode(arr["bdata"]), dtype=np.dtype(arr["dtype"]))
    return np.asarray(arr, dtype=np.float64)


def test_overview_figure_of_borzoi_size_is_capped_and_keeps_extremes():
    import json

    P, T = 16352, 20
    rng = np.random.default_rng(1)
    mean = rng.gamma(1.0, 1.0, (P, T)).astype(np.float32)
    sd = (0.1 * rng.random((P, T))).astype(np.float32)
    x = 1000 + 32 * np.arange(P) + 16.0
    fig = plot.tracks_figure(x, mean, sd, [f"t{i}" for i in range(T)])
    spec = json.loads(fig.to_json())
    cap = 2 * plot.DEFAULT_COLUMNS
    lines = {tr["name"]: tr for tr in spec["data"]}
    assert len(spec["data"]) == 3 * T
    for tr in spec["data"]:
        assert len(_decode(tr["y"])) <= cap and len(_decode(tr["x"])) == len(_decode(tr["y"]))
    for t in range(T):
        y = _decode(lines[f"t{t}"]["y"])
        assert y.max() == mean[:, t].max() and y.min() == mean[:, t].min()
        up = _decode(lines[f"t{t} +1 sd"]["y"])
        assert up.max() == (mean[:, t] + sd[:, t]).max()
    # at zoom (a view of fewer bins than columns) the drawn points are exact
    z = plot.tracks_figure(x, mean, sd, [f"t{i}" for i in range(T)], view=(x[5000], x[5999]))
    tr = next(d for d in z.data if d.name == "t3")
    np.testing.assert_array_equal(np.asarray(tr.y), mean[4999:6001, 3])
    np.testing.assert_array_equal(np.asarray(tr.x), x[4999:6001])
    # without a cap every bin is drawn (the "before" of benchmarks/bench_tracks.py)
    full = plot.tracks_figure(x, mean[:, :2], None, ["a", "b"], max_cols=None)
    assert len(full.data[0].y) == P


def test_attribution_track_of_524kb_is_capped():
    L = 524288
    y = np.random.default_rng(2).normal(size=L).astype(np.float32)
    y[123457] = 40.0
    fig = plot.line_figure(np.arange(L, dtype=np.float64), {"contribution": y})
    tr = fig.data[0]
    assert len(tr.y) <= 2 * plot.DEFAULT_COLUMNS
    assert max(tr.y) == 40.0 and 123457 in np.asarray(tr.x)
    assert min(tr.y) == y.min()


def test_heatmap_and_logo_cap_notes():
    h = plot.heatmap_figure(np.ones((4, 9000)), np.arange(9000), list("ACGT"), max_cols=4000)
    notes = [a.text for a in h.layout.annotations]
    assert any("capped at 4,000 columns" in t and "3 positions" in t for t in notes)
    h2 = plot.heatmap_figure(np.ones((4, 100)), np.arange(100), list("ACGT"), max_cols=4000)
    assert not h2.layout.annotations
    lg = plot.logo_figure(np.ones((10, 4)), 0, note="logo capped at 2 kb: select a shorter range")
    assert [a.text for a in lg.layout.annotations] == ["logo capped at 2 kb: select a shorter range"]


def test_variant_figure_is_capped_and_keeps_the_largest_change():
    P = 16352
    rng = np.random.default_rng(3)
    ref = rng.random((P, 2)).astype(np.float32)
    alt = ref.copy()
    alt[9001, 1] += 5.0
    fig = plot.variant_figure(32.0 * np.arange(P), ref, alt, ["a", "b"], variant_x=9001 * 32.0)
    assert len(fig.data) == 6 and all(len(tr.y) <= 2 * plot.DEFAULT_COLUMNS for tr in fig.data)
    diff = next(tr for tr in fig.data if tr.name == "b alt-ref")
    assert max(diff.y) == np.float32(alt[9001, 1] - ref[9001, 1]) and 9001 * 32.0 in np.asarray(diff.x)


# ----------------------------------------------------------------------------------- pooling, logo, tracks
# (moved from tests/test_app_units.py with the figures themselves)

def test_pool_columns_max_abs_keeps_sign():
    m = np.array([[1, -5, 2, 3, 0, -1, 7]], np.float32)
    pooled, starts = pool_columns(m, 3)       # k = 3 columns per group
    np.testing.assert_array_equal(pooled, [[-5, 3, 7]])
    np.testing.assert_array_equal(starts, [0, 3, 6])
    same, s2 = pool_columns(m, 10)
    assert same is m and len(s2) == 7


def test_pool_columns_bounds_heatmap_width():
    m = np.random.default_rng(0).normal(size=(4, 131072)).astype(np.float32)
    pooled, starts = pool_columns(m, 4000)
    assert pooled.shape[1] <= 4000 and pooled.shape[1] == len(starts)
    k = starts[1]
    np.testing.assert_array_equal(pooled[:, 0], m[np.arange(4), np.abs(m[:, :k]).argmax(1)])


def _glyph_extent(tr, i, n_pts):
    y = np.asarray(tr.y, np.float64)[i * n_pts:(i + 1) * n_pts]
    return np.nanmin(y), np.nanmax(y)


def test_logo_stacks_positive_up_and_negative_down():
    # one position: A=+0.5, C=+0.2, G=-0.3, T=0 -> C on [0, .2], A on [.2, .7], G on [-.3, 0]
    tr = plot.logo_traces(np.array([[0.5, 0.2, -0.3, 0.0]]), x0=10)
    by = {t.name: t for t in tr}
    assert _glyph_extent(by["C"], 0, len(plot.GLYPHS["C"])) == pytest.approx((0.0, 0.2))
    assert _glyph_extent(by["A"], 0, len(plot.GLYPHS["A"])) == pytest.approx((0.2, 0.7))
    assert _glyph_extent(by["G"], 0, len(plot.GLYPHS["G"])) == pytest.approx((-0.3, 0.0))
    assert len(by["T"].x) == 0
    xs = np.asarray(by["A"].x, np.float64)
    assert np.nanmin(xs) == pytest.approx(9.55) and np.nanmax(xs) == pytest.approx(10.45)


def test_logo_figure_axis_and_fill():
    fig = plot.logo_figure(np.eye(4)[[0, 1, 2, 3, 0]], x0=100)
    assert list(fig.layout.xaxis.range) == [99.4, 104.6]
    assert all(t.fill == "toself" for t in fig.data)


def test_tracks_figure_rows_band_and_genes():
    x = np.arange(10) * 32 + 16.0
    mean = np.ones((10, 2), np.float32)
    sd = np.full((10, 2), 0.5, np.float32)
    g = plot.GeneFeature("G1", 40, 200, "-", exons=((40, 60), (150, 200)), tss=(199,))
    fig = plot.tracks_figure(x, mean, sd, ["a", "b"], genes=[g], selection=(50, 90))
    names = [t.name for t in fig.data]
    assert names.count("a") == 1 and "a +1 sd" in names and "a -1 sd" in names
    upper = next(t for t in fig.data if t.name == "a +1 sd")
    np.testing.assert_allclose(np.asarray(upper.y), 1.5)
    tss = next(t for t in fig.data if t.name == "TSS")
    assert list(tss.x) == [199]
    strand = next(t for t in fig.data if t.name == "strand")
    assert set(strand.marker.symbol) == {"triangle-left"}
    assert fig.layout.dragmode == "select"
    # no band without spread
    fig2 = plot.tracks_figure(x, mean, np.zeros_like(sd), ["a", "b"])
    assert "a +1 sd" not in [t.name for t in fig2.data]


# ----------------------------------------------------------------------------------- against independent numpy

def test_line_envelope_points_hold_each_pixel_columns_true_min_and_max():
    n, cap = 10007, 500
    y = np.random.default_rng(5).standard_cauchy(n).astype(np.float32)
    x = 100.0 + np.arange(n)
    tr = plot.line_figure(x, {"c": y}, max_cols=cap).data[0]
    px, py = np.asarray(tr.x), np.asarray(tr.y)
    k = -(-n // cap)
    for j in range(-(-n // k)):                      # every pixel column, by plain slicing
        seg = y[j * k:(j + 1) * k]
        inside = (px >= x[j * k]) & (px <= x[min(n, (j + 1) * k) - 1])
        assert inside.sum() == 2
        assert py[inside].min() == seg.min() and py[inside].max() == seg.max()
    np.testing.assert_array_equal(py, y[(px - 100).astype(int)])   # each point is a real value at its x


def test_logo_letter_heights_and_stacks_equal_the_contributions():
    rng = np.random.default_rng(7)
    m = rng.normal(size=(25, 4))
    m[3] = [0.0, 0.4, 0.0, 0.0]
    fig = plot.logo_figure(m, x0=50)
    by = {t.name: t for t in fig.data}
    for j, b in enumerate("ACGT"):
        k = len(plot.GLYPHS[b])
        kept = np.flatnonzero(m[:, j] != 0)
        y = np.asarray(by[b].y, np.float64).reshape(len(kept), k)
        xs = np.asarray(by[b].x, np.float64).reshape(len(kept), k)
        np.testing.assert_allclose(np.nanmax(y, 1) - np.nanmin(y, 1), np.abs(m[kept, j]), atol=1e-12)
        np.testing.assert_allclose(np.nanmean(xs, 1).round(), 50 + kept)   # letter i sits at x0 + i
        # stacks: positive letters inside [0, sum of positives], negative inside [sum of negatives, 0]
        pos_sum = np.clip(m, 0, None).sum(1)[kept]
        neg_sum = np.clip(m, None, 0).sum(1)[kept]
        up = m[kept, j] > 0
        assert np.all(np.nanmin(y, 1)[up] >= -1e-12) and np.all(np.nanmax(y, 1)[up] <= pos_sum[up] + 1e-12)
        assert np.all(np.nanmax(y, 1)[~up] <= 1e-12) and np.all(np.nanmin(y, 1)[~up] >= neg_sum[~up] - 1e-12)
    tops = np.full(25, -np.inf)
    for j, b in enumerate("ACGT"):
        kept = np.flatnonzero(m[:, j] > 0)
        k = len(plot.GLYPHS[b])
        y = np.asarray(by[b].y, np.float64).reshape(-1, k)[np.isin(np.flatnonzero(m[:, j] != 0), kept)]
        tops[kept] = np.maximum(tops[kept], np.nanmax(y, 1))
    has_pos = (m > 0).any(1)
    np.testing.assert_allclose(tops[has_pos], np.clip(m, 0, None).sum(1)[has_pos])   # the stack's top


def test_attribution_logo_heights_follow_the_method():
    from seqnn_engine.attribution.input_attr import Attribution
    rng = np.random.default_rng(8)
    scores = rng.normal(size=(1, 40, 4)).astype(np.float32)
    oh = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 40)][None]
    for method, expect in (("saliency", scores[0, 10:20] * oh[0, 10:20]), ("grad_x_input", scores[0, 10:20])):
        a = Attribution(method, scores, scores, np.zeros(1, np.float32))
        fig = plot.attribution_logo(a, oh, 10, 20, x0=1010)
        for j, b in enumerate("ACGT"):
            tr = next(t for t in fig.data if t.name == b)
            kept = np.flatnonzero(expect[:, j] != 0)
            y = np.asarray(tr.y, np.float64).reshape(len(kept), len(plot.GLYPHS[b]))
            np.testing.assert_allclose(np.nanmax(y, 1) - np.nanmin(y, 1), np.abs(expect[kept, j]), rtol=1e-6)
        assert list(fig.layout.xaxis.range) == [1009.4, 1019.6]


def test_heatmaps_draw_the_input_array():
    rng = np.random.default_rng(9)
    hyp = rng.normal(size=(60, 4)).astype(np.float32)
    x = 500.0 + np.arange(60)
    h = plot.hypothetical_heatmap(hyp, x).data[0]
    np.testing.assert_array_equal(np.asarray(h.z), hyp.T)
    np.testing.assert_array_equal(np.asarray(h.x), x)
    assert list(h.y) == list("ACGT") and h.zmin == -np.abs(hyp).max() and h.zmax == np.abs(hyp).max()
    ism = rng.normal(size=(60, 4)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(plot.ism_heatmap(ism, x).data[0].z), ism.T)
    # layers: grads (T, P, U), reprs (P, U)
    g = rng.normal(size=(3, 30, 5)).astype(np.float32)
    r = rng.normal(size=(30, 5)).astype(np.float32)
    xl = np.arange(30) * 8.0
    u = plot.layer_unit_heatmap(g[1], r, xl).data[0]
    want_u = np.array([[g[1, p, k] * r[p, k] for p in range(30)] for k in range(5)], np.float32)
    np.testing.assert_array_equal(np.asarray(u.z), want_u)
    assert list(u.y) == [f"u{k}" for k in range(5)]
    t = plot.layer_target_heatmap(g, r, xl, ["a", "b", "c"]).data[0]
    np.testing.assert_allclose(np.asarray(t.z), np.einsum("tpu,pu->tp", g, r), rtol=1e-5, atol=1e-6)
    # pooled: each drawn column is the signed value of largest magnitude of its block
    wide = rng.normal(size=(4, 1003)).astype(np.float32)
    p = plot.heatmap_figure(wide, np.arange(1003), list("ACGT"), max_cols=100).data[0]
    z = np.asarray(p.z)
    assert z.shape == (4, 92)                       # k = ceil(1003 / 100) = 11 positions per column
    for c in (0, 45, 91):                           # the last column holds the 2 remaining positions
        blk = wide[:, 11 * c:11 * (c + 1)]
        np.testing.assert_array_equal(z[:, c], [row[np.argmax(np.abs(row))] for row in blk])


def test_layer_heatmaps_of_an_engine_result():
    from types import SimpleNamespace
    rng = np.random.default_rng(10)
    g = rng.normal(size=(1, 2, 12, 3)).astype(np.float32)
    r = rng.normal(size=(1, 12, 3)).astype(np.float32)
    lg = SimpleNamespace(grads=[g], reprs=[r], targets=np.array([4, 9]))
    units, targets = plot.layer_heatmaps(lg, target=1)
    np.testing.assert_array_equal(np.asarray(units.data[0].z), (g[0, 1] * r[0]).T)
    np.testing.assert_allclose(np.asarray(targets.data[0].z), (g[0] * r[0]).sum(-1), rtol=1e-6)
    assert list(targets.data[0].y) == ["t4", "t9"] and "t9" in units.layout.title.text


def test_prediction_band_is_mean_plus_minus_the_members_spread():
    from seqnn_engine.model.seqmodel import Prediction
    rng = np.random.default_rng(11)
    S, P, T, E = 2, 40, 3, 4
    members = rng.gamma(2.0, 1.0, (S, P, T, E)).astype(np.float32)
    mean = members.mean(-1)
    sd = np.sqrt(((members - mean[..., None]) ** 2).sum(-1) / (E - 1))      # unbiased, as the engine's var
    x = 1000 + 32.0 * np.arange(P)
    for pred in (Prediction(mean=mean, members=members, target_indexes=np.array([5, 6, 7])),
                 Prediction(mean=mean, var=sd ** 2, target_indexes=np.array([5, 6, 7]))):
        fig = plot.prediction_tracks(pred, x, sequence=1, columns=[0, 2])
        by = {t.name: t for t in fig.data}
        assert set(by) == {"t5", "t5 +1 sd", "t5 -1 sd", "t7", "t7 +1 sd", "t7 -1 sd"}
        for name, c in (("t5", 0), ("t7", 2)):
            np.testing.assert_allclose(np.asarray(by[name].y), mean[1, :, c], rtol=1e-6)
            np.testing.assert_allclose(np.asarray(by[f"{name} +1 sd"].y), mean[1, :, c] + sd[1, :, c], rtol=1e-5)
            np.testing.assert_allclose(np.asarray(by[f"{name} -1 sd"].y), mean[1, :, c] - sd[1, :, c], rtol=1e-5,
                                       atol=1e-6)
            np.testing.assert_array_equal(np.asarray(by[name].x), x)
    # no spread to draw: no band
    lone = plot.prediction_tracks(Prediction(mean=mean), x, labels=["a", "b", "c"])
    assert [t.name for t in lone.data] == ["a", "b", "c"]


def test_gene_track_draws_the_exons_of_a_hand_made_gene():
    from seqnn_engine.genomics.genes import Gene, Transcript
    tx1 = Transcript("T1", "chr1", 1100, 1900, "+", exons=((1100, 1200), (1500, 1600), (1800, 1900)))
    tx2 = Transcript("T2", "chr1", 1150, 1900, "+", exons=((1150, 1250), (1800, 1900)))
    gene = Gene("G1", "GENE1", "chr1", 1100, 1900, "+", transcripts=(tx1, tx2))
    feat = plot.GeneFeature.from_gene(gene, offset=1000)        # positions in a window starting at 1000
    assert feat.exons == ((100, 250), (500, 600), (800, 900)) and feat.tss == (100, 150)
    x = 16.0 + 32 * np.arange(30)                                # bins over [0, 960)
    fig = plot.tracks_figure(x, np.ones((30, 1)), None, ["a"], genes=[feat])
    by = {t.name: t for t in fig.data}
    ex = [v for v in by["exons"].x]
    ey = [v for v in by["exons"].y]
    boxes = [(ex[i:i + 5], ey[i:i + 5]) for i in range(0, len(ex), 6)]
    assert [(min(bx), max(bx)) for bx, _ in boxes] == [(100, 250), (500, 600), (800, 900)]
    assert all(min(by_) == pytest.approx(-0.3) and max(by_) == pytest.approx(0.3) for _, by_ in boxes)
    assert all(ex[i] is None for i in range(5, len(ex), 6))      # one closed box per exon
    assert [v for v in by["introns"].x if v is not None] == [100, 900]
    assert list(by["TSS"].x) == [100, 150] and set(by["strand"].marker.symbol) == {"triangle-right"}
    assert list(by["gene names"].text) == ["GENE1 (+)"]
    assert fig.data[-1].yaxis == "y2"                            # the gene row is its own axis, under the track
    # a gene reaching past the window is clipped to it
    clipped = plot.tracks_figure(x, np.ones((30, 1)), None, ["a"],
                                 genes=[plot.GeneFeature("L", -50, 2000, "-", exons=((-50, 30), (900, 2000)))])
    cx = [v for v in next(t for t in clipped.data if t.name == "exons").x if v is not None]
    assert min(cx) == 0 and max(cx) == 960


def test_seqlet_boxes_cover_their_bases_and_carry_labels():
    import plotly.graph_objects as go
    fig = go.Figure()
    plot.add_seqlets(fig, [100, 130], [110, 136], ["CTCF", "?"], [1, -1], np.array([-1.0, 3.0]),
                     hover=["a", "b"])
    by = {tr.name: tr for tr in fig.data}
    pos, neg, lab = by["seqlets"], by["seqlets (negative)"], by["seqlet labels"]
    assert [v for v in pos.x if v is not None] == [99.5, 109.5, 109.5, 99.5, 99.5]
    assert [v for v in neg.x if v is not None] == [129.5, 135.5, 135.5, 129.5, 129.5]
    ys = [v for v in pos.y if v is not None]
    assert min(ys) < -1.0 and max(ys) > 3.0          # the box spans the drawn values
    assert list(lab.text) == ["CTCF", "?"] and list(lab.x) == [104.5, 132.5]


def test_motif_hits_lanes_and_strands():
    fig = plot.motif_hits_figure(["M1", "M2"], np.array([1, 0, 1]), [10, 40, 70], [16, 48, 76], ["+", "-", "+"],
                                 ["h1", "h2", "h3"], (0, 100))
    by = {t.name: t for t in fig.data}
    assert [v for v in by["hits +"].x if v is not None] == [9.5, 15.5, 69.5, 75.5]
    assert [v for v in by["hits +"].y if v is not None] == [1, 1, 1, 1]
    assert [v for v in by["hits -"].x if v is not None] == [39.5, 47.5]
    assert list(fig.layout.yaxis.ticktext) == ["M1", "M2"]


def test_without_plotly_import_works_and_figures_say_what_to_install():
    import subprocess
    import sys
    code = ("import sys; sys.modules['plotly'] = None\n"
            "import numpy as np\n"
            "from seqnn_engine import plot, InputError\n"
            "assert plot.envelope(np.arange(9.0), 3).index.tolist() == [0, 2, 3, 5, 6, 8]\n"
            "try:\n    plot.logo_figure(np.ones((2, 4)), 0)\nexcept InputError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert "pip install 'plotly" in out.stdout


def test_bad_shapes_are_input_errors():
    with pytest.raises(InputError, match=r"\(N, 4\)"):
        plot.logo_figure(np.ones((3, 5)), 0)
    with pytest.raises(InputError, match="row labels"):
        plot.heatmap_figure(np.ones((4, 10)), np.arange(10), ["a"])
    with pytest.raises(InputError, match="labels"):
        plot.tracks_figure(np.arange(5.0), np.ones((5, 2)), None, ["a"])
    with pytest.raises(InputError, match="positions, units"):
        plot.layer_target_heatmap(np.ones((2, 5, 3)), np.ones((5, 4)), np.arange(5), ["a", "b"])


def test_plot_never_imports_streamlit_or_the_app():
    import subprocess
    import sys
    code = ("import sys, numpy as np\n"
            "from seqnn_engine import plot\n"
            "plot.tracks_figure(np.arange(4.0), np.ones((4, 1)), np.ones((4, 1)), ['a'], genes=[])\n"
            "plot.logo_figure(np.ones((2, 4)), 0); plot.ism_heatmap(np.ones((3, 4)), np.arange(3))\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('streamlit', 'app'))\n"
            "print('IMPORTED', bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert "IMPORTED []" in out.stdout
