"""Planted-motif ground truth: metrics against hand-computed cases, labels of a hand-made
window, engine-equivalence of the benchmark's shortcuts, and one real check that the trained
demo model's saliency finds planted sites while an untrained control does not."""
import itertools

import numpy as np
import pytest

from seqnn_engine import InputError, load_model_dir
from tools.demo import demo_dir
from tools.demo import groundtruth as gt

DEMO = demo_dir()


# ----------------------------------------------------------------------------- metrics


def test_auroc_and_average_precision_hand_computed():
    # 4 pairs (pos, neg): 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1 yes, 0.8>0.4 yes -> 3/4.
    scores, labels = [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]
    assert gt.auroc(scores, labels) == pytest.approx(0.75)
    # Ranking 0.8(+) 0.4(-) 0.35(+) 0.1(-): precision 1 at recall 1/2, 2/3 at recall 1 -> (1 + 2/3) / 2.
    assert gt.average_precision(scores, labels) == pytest.approx(5 / 6)


def test_ties_count_half_and_share_one_threshold():
    # pos=1 vs negs {1, 0}: tie (1/2) + win (1) over 2 pairs.
    assert gt.auroc([1.0, 1.0, 0.0], [1, 0, 0]) == pytest.approx(0.75)
    # The tie group {pos, neg} enters at once: precision 1/2 at recall 1.
    assert gt.average_precision([1.0, 1.0, 0.0], [1, 0, 0]) == pytest.approx(0.5)
    assert gt.auroc([2.0, 2.0, 2.0, 2.0], [1, 0, 1, 0]) == pytest.approx(0.5)


def test_excluded_positions_are_ignored_and_degenerate_cases_are_nan():
    scores, labels = [0.1, 0.4, 0.35, 0.8, 99.0, -5.0], [0, 0, 1, 1, -1, -1]
    assert gt.auroc(scores, labels) == pytest.approx(0.75)
    assert gt.average_precision(scores, labels) == pytest.approx(5 / 6)
    assert np.isnan(gt.auroc([1, 2], [0, 0])) and np.isnan(gt.auroc([1, 2], [1, 1]))
    assert np.isnan(gt.average_precision([1, 2], [0, -1]))
    assert gt.auroc([3, 2, 1], [1, 1, 0]) == 1.0 and gt.auroc([1, 2, 3], [1, 1, 0]) == 0.0


def test_metrics_equal_their_definitions_on_random_data():
    rng = np.random.default_rng(3)
    for _ in range(5):
        s = np.round(rng.normal(size=60), 1)          # rounding makes ties
        y = (rng.random(60) < 0.3).astype(int)
        pos, neg = s[y == 1], s[y == 0]
        pairs = [(1.0 if a > b else 0.5 if a == b else 0.0) for a, b in itertools.product(pos, neg)]
        assert gt.auroc(s, y) == pytest.approx(np.mean(pairs))
        # AP over distinct thresholds t (high to low): sum of (recall gain) x precision at t.
        ap, prev_r = 0.0, 0.0
        for t in np.unique(s)[::-1]:
            sel = s >= t
            r = (sel & (y == 1)).sum() / (y == 1).sum()
            ap += (r - prev_r) * (sel & (y == 1)).sum() / sel.sum()
            prev_r = r
        assert gt.average_precision(s, y) == pytest.approx(ap)


def test_per_sequence_metrics_rows_and_summary():
    scores = np.array([[0.1, 0.4, 0.35, 0.8], [1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    labels = np.array([[0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]], np.int8)
    m = gt.per_sequence_metrics(scores, labels)
    assert m.auroc[:2] == pytest.approx([0.75, 1.0]) and np.isnan(m.auroc[2])
    assert m.aupr[:2] == pytest.approx([5 / 6, 1.0]) and np.isnan(m.aupr[2])
    assert m.n_pos.tolist() == [2, 1, 0] and m.n_neg.tolist() == [2, 3, 4]
    s = m.summary()
    assert s["n"] == 2 and s["auroc_mean"] == pytest.approx(0.875) and s["auroc_median"] == pytest.approx(0.875)
    with pytest.raises(InputError):
        gt.per_sequence_metrics(scores, labels[:, :3])


# ----------------------------------------------------------------------------- labels


def _sites(rows):
    """rows: (start, end, name, driver) -> SiteTable."""
    return gt.SiteTable(np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64),
                        np.array([r[2] for r in rows]), np.array([r[3] for r in rows], bool))


def test_window_labels_hand_made_window():
    # Window [1000, 1100), crop 20 bp -> output span [1020, 1080) in genome coordinates.
    sites = _sites([
        (990, 1004, "CTCF", True),    # straddles the left edge, centre 997 in the margin -> excluded
        (1010, 1016, "CTCF", True),   # own motif, centre 1013 in the left margin -> excluded
        (1030, 1040, "CTCF", True),   # own motif, centre 1035 in the output span -> positive
        (1045, 1050, "GATA1", False),  # decoy -> excluded, or negative in the decoy variant
        (1055, 1060, "SPI1", True),   # another driver -> excluded
        (1075, 1090, "CTCF", True),   # centre 1082.5 past the output span -> excluded
        (1098, 1110, "CTCF", True),   # straddles the right edge -> excluded
        (2000, 2010, "CTCF", True),   # outside the window: no effect
    ])
    lab = gt.window_labels(sites, 1000, 100, "CTCF", 20)
    want = np.zeros(100, np.int8)
    want[0:4] = -1
    want[10:16] = -1
    want[30:40] = 1
    want[45:50] = -1
    want[55:60] = -1
    want[75:90] = -1
    want[98:100] = -1
    np.testing.assert_array_equal(lab, want)
    dec = gt.window_labels(sites, 1000, 100, "CTCF", 20, decoys="negative")
    want[45:50] = 0
    np.testing.assert_array_equal(dec, want)
    # The same window for SPI1: its site at [1055, 1060) (centre 1057.5) is positive, CTCF sites excluded.
    spi = gt.window_labels(sites, 1000, 100, "SPI1", 20)
    assert np.flatnonzero(spi == 1).tolist() == list(range(55, 60))
    assert (spi[30:40] == -1).all()
    with pytest.raises(InputError):
        gt.window_labels(sites, 1000, 100, "CTCF", 20, decoys="maybe")


def test_held_out_windows_and_labels_follow_the_genome_and_bed():
    import pysam

    W = gt.held_out_windows(DEMO, 4096, 256, limit=3)
    assert W.chrom.tolist() == ["chr3"] * 3 and W.start.tolist() == [0, 4096, 8192] and W.x.shape == (3, 4096, 4)
    with pysam.FastaFile(str(DEMO / "genome.fa.gz")) as fa:
        seq = fa.fetch("chr3", 4096, 8192)
    assert "".join("ACGT"[i] for i in W.x[1].argmax(-1)) == seq
    sites = gt.site_tables(DEMO)
    lab = gt.label_matrix(W, sites, "CTCF")
    with open(DEMO / "motif_sites.bed") as fh:
        bed = [r for r in (line.split("\t") for line in fh) if r[0] == "chr3" and r[3] == "CTCF"
               and int(r[2]) <= 3 * 4096]
    want = set()
    for r in bed:
        s, e = int(r[1]), int(r[2])
        w0 = (s // 4096) * 4096
        if e <= w0 + 4096 and w0 + 256 <= (s + e) / 2 < w0 + 4096 - 256:
            want.update(range(s, e))
    got = {int(W.start[i]) + j for i, j in zip(*np.nonzero(lab == 1))}
    assert got == want and want
    with pytest.raises(InputError):
        gt.label_matrix(W, sites, "GATA1")


# ----------------------------------------------------------------------------- engine equivalence + real check


@pytest.fixture(scope="module")
def trained():
    return load_model_dir(DEMO)


@pytest.fixture(scope="module")
def windows(trained):
    return gt.held_out_windows(DEMO, trained.seq_length, trained.crop * trained.stride, limit=24)


def test_gradient_maps_equal_engine_attributions(trained, windows):
    x = windows.x[:2]
    raw = trained.attribute(x, "saliency", targets=[0], mean_center=False, diagnostics=False)
    maps = gt.gradient_position_scores(raw.hypothetical, x)
    sal = trained.attribute(x, "saliency", targets=[0], diagnostics=False)
    gxi = trained.attribute(x, "grad_x_input", targets=[0], mean_center=False, diagnostics=False)
    cgxi = trained.attribute(x, "grad_x_input", targets=[0], diagnostics=False)
    for name, a in (("saliency", sal), ("grad_x_input", gxi), ("centred_grad_x_input", cgxi)):
        ref = gt.attribution_position_scores(a)
        np.testing.assert_allclose(maps[name], ref, rtol=1e-4, atol=1e-6 * np.abs(ref).max(), err_msg=name)


def test_multi_target_ism_equals_engine_ism(trained, windows):
    lab = gt.label_matrix(windows, gt.site_tables(DEMO), "CTCF")
    i = int(np.flatnonzero((lab == 1).any(1))[0])
    p = int(np.flatnonzero(lab[i] == 1)[0])
    x = windows.x[[i, i + 1]]
    win = (p - 2, p + 6)          # straddles the start of a planted CTCF site of window i
    r = gt.ism_scores(trained, x, [0, 3], window=win)
    assert r.forward[0, p:p + 6, 0].max() > 5 * r.forward[0, p - 2:p, 0].max() > 0
    assert (r.forward[:, :win[0]] == 0).all() and (r.rc[:, win[1]:] == 0).all()
    for rc, arr in ((False, r.forward), (True, r.rc)):
        for j, t in enumerate([0, 3]):
            a = trained.attribute(x, "ism", targets=[t], window=win, rc=rc, diagnostics=False, ism_engine="full")
            ref = gt.attribution_position_scores(a)
            # float32 objectives are sums over 112 bins: compare deltas to ~1e-5 absolute
            np.testing.assert_allclose(arr[..., j], ref, rtol=1e-3, atol=2e-5)


def test_untrained_control_is_seeded():
    a = gt.untrained_model(DEMO / "params.json", seed=5)
    b = gt.untrained_model(DEMO / "params.json", seed=5)
    c = gt.untrained_model(DEMO / "params.json", seed=6)
    wa, wb, wc = (m.net.model.get_weights() for m in (a, b, c))
    assert all(np.array_equal(p, q) for p, q in zip(wa, wb))
    assert not all(np.array_equal(p, q) for p, q in zip(wa, wc))


def test_trained_saliency_finds_planted_sites_and_untrained_does_not(trained, windows):
    """On 4 held-out windows per driver track, saliency of the trained demo model ranks
    planted sites of the track's own motif above background; the untrained control does not."""
    control = gt.untrained_model(DEMO / "params.json", seed=0, targets_path=DEMO / "targets.txt")
    sites = gt.site_tables(DEMO)
    tix = gt.driver_target_indexes(trained)
    assert tix == {"CTCF": 0, "SPI1": 1, "CEBPB": 2, "REST": 3}
    res = {"trained": [], "untrained": []}
    for motif in gt.DRIVERS:
        lab = gt.label_matrix(windows, sites, motif)
        idx = np.flatnonzero((lab == 1).any(1))[:4]
        assert len(idx) == 4
        for name, model in (("trained", trained), ("untrained", control)):
            a = model.attribute(windows.x[idx], "saliency", targets=[tix[motif]], diagnostics=False)
            m = gt.per_sequence_metrics(gt.attribution_position_scores(a), lab[idx])
            res[name].append(m.auroc)
    tr, un = np.concatenate(res["trained"]), np.concatenate(res["untrained"])
    assert np.isfinite(tr).all() and tr.mean() > 0.97 and tr.min() > 0.9
    assert un.mean() < 0.7
    assert (tr > un).all()
