"""Min/max envelopes of long tracks, and the figures drawn from them."""
from __future__ import annotations

import numpy as np
import pytest

from seqnn_engine.errors import InputError
from seqnn_engine.plot_data import column_extremes, envelope, view_slice


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

    from app import figures
    P, T = 16352, 20
    rng = np.random.default_rng(1)
    mean = rng.gamma(1.0, 1.0, (P, T)).astype(np.float32)
    sd = (0.1 * rng.random((P, T))).astype(np.float32)
    x = 1000 + 32 * np.arange(P) + 16.0
    fig = figures.tracks_figure(x, mean, sd, [f"t{i}" for i in range(T)])
    spec = json.loads(fig.to_json())
    cap = 2 * figures.DEFAULT_COLUMNS
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
    z = figures.tracks_figure(x, mean, sd, [f"t{i}" for i in range(T)], view=(x[5000], x[5999]))
    tr = next(d for d in z.data if d.name == "t3")
    np.testing.assert_array_equal(np.asarray(tr.y), mean[4999:6001, 3])
    np.testing.assert_array_equal(np.asarray(tr.x), x[4999:6001])
    # without a cap every bin is drawn (the "before" of benchmarks/bench_tracks.py)
    full = figures.tracks_figure(x, mean[:, :2], None, ["a", "b"], max_cols=None)
    assert len(full.data[0].y) == P


def test_attribution_track_of_524kb_is_capped():
    from app import figures
    L = 524288
    y = np.random.default_rng(2).normal(size=L).astype(np.float32)
    y[123457] = 40.0
    fig = figures.line_figure(np.arange(L, dtype=np.float64), {"contribution": y})
    tr = fig.data[0]
    assert len(tr.y) <= 2 * figures.DEFAULT_COLUMNS
    assert max(tr.y) == 40.0 and 123457 in np.asarray(tr.x)
    assert min(tr.y) == y.min()


def test_heatmap_and_logo_cap_notes():
    from app import figures
    h = figures.heatmap_figure(np.ones((4, 9000)), np.arange(9000), list("ACGT"), max_cols=4000)
    notes = [a.text for a in h.layout.annotations]
    assert any("capped at 4,000 columns" in t and "3 positions" in t for t in notes)
    h2 = figures.heatmap_figure(np.ones((4, 100)), np.arange(100), list("ACGT"), max_cols=4000)
    assert not h2.layout.annotations
    lg = figures.logo_figure(np.ones((10, 4)), 0, note="logo capped at 2 kb: select a shorter range")
    assert [a.text for a in lg.layout.annotations] == ["logo capped at 2 kb: select a shorter range"]


def test_variant_figure_is_capped_and_keeps_the_largest_change():
    from app import figures
    P = 16352
    rng = np.random.default_rng(3)
    ref = rng.random((P, 2)).astype(np.float32)
    alt = ref.copy()
    alt[9001, 1] += 5.0
    fig = figures.variant_figure(32.0 * np.arange(P), ref, alt, ["a", "b"], variant_x=9001 * 32.0)
    assert len(fig.data) == 6 and all(len(tr.y) <= 2 * figures.DEFAULT_COLUMNS for tr in fig.data)
    diff = next(tr for tr in fig.data if tr.name == "b alt-ref")
    assert max(diff.y) == np.float32(alt[9001, 1] - ref[9001, 1]) and 9001 * 32.0 in np.asarray(diff.x)
