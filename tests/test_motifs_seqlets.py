"""Seqlet caller: planted blocks in noise, pure noise, the exact null, coordinates and exports."""
import numpy as np
import pytest

from seqnn_engine.errors import InputError
from seqnn_engine.motifs.seqlet_table import TSV_COLUMNS
from seqnn_engine.motifs.seqlets import _grid, _null_tails, call_seqlets, position_contributions


def _planted(seed=0):
    rng = np.random.default_rng(seed)
    a = rng.laplace(0.0, 1.0, (12, 2000))
    blocks = [(3, 500, 515, +1), (3, 1400, 1412, -1), (7, 100, 118, +1), (10, 1900, 1914, -1)]
    for s, b0, b1, sign in blocks:
        a[s, b0:b1] += sign * 3.5
    return a, blocks


@pytest.mark.parametrize("null", ["pooled", "sequence", "both"])
def test_planted_blocks_found_with_coordinates_and_sign(null):
    a, blocks = _planted()
    t = call_seqlets(a, alpha=0.05, min_len=4, max_len=30, null=null)
    for s, b0, b1, sign in blocks:
        rows = np.flatnonzero((t.seq == s) & (t.start < b1) & (t.end > b0))
        assert len(rows) >= 1, (s, b0, b1)
        r = rows[np.argmin(t.p_value[rows])]
        assert t.sign[r] == sign
        assert abs(int(t.start[r]) - b0) <= 3 and abs(int(t.end[r]) - b1) <= 3   # noise at the edges
        # the score is the summed value over the reported span
        assert t.score[r] == pytest.approx(a[s, t.start[r]:t.end[r]].sum())
        assert t.p_value[r] < 1e-8 and t.p_adj[r] <= 0.05
    # no overlap between kept seqlets of one sequence
    for s in np.unique(t.seq):
        r = np.flatnonzero(t.seq == s)
        cover = np.zeros(a.shape[1], int)
        for i in r:
            cover[t.start[i]:t.end[i]] += 1
        assert cover.max() <= 1
    # every seqlet outside the planted blocks is rare (alpha bounds the false ones per sequence)
    off = [i for i in range(len(t)) if not any(t.seq[i] == s and t.start[i] < b1 and t.end[i] > b0
                                               for s, b0, b1, _ in blocks)]
    assert len(off) <= 1


@pytest.mark.parametrize("null,clip", [("pooled", 1e-3), ("pooled", 0.0), ("sequence", 1e-3)])
def test_pure_noise_gives_few_seqlets(null, clip):
    rng = np.random.default_rng(1)
    n = 0
    for a in (rng.normal(0, 1, (40, 2000)), rng.laplace(0, 1, (40, 2000)), rng.standard_t(3, (40, 2000))):
        n += len(call_seqlets(a, alpha=0.05, null=null, clip=clip))
    assert n <= 3   # at most 0.05 expected per sequence: 6 of 120 at the bound


def test_one_sign_only():
    a, blocks = _planted()
    pos = call_seqlets(a, signs=(1,))
    neg = call_seqlets(a, signs=(-1,))
    assert len(pos) and np.all(pos.sign == 1) and len(neg) and np.all(neg.sign == -1)


def test_exact_null_against_monte_carlo():
    rng = np.random.default_rng(2)
    v = rng.gamma(0.5, 1.0, 3000) - 0.4     # skewed, heavy-ish tail
    g = _grid(v, 400)
    k = g.index(v)
    hist = np.bincount(k, minlength=g.n_bins) / k.size
    sf, cdf = _null_tails(hist, [9])[9]
    draws = rng.choice(k, size=(400_000, 9)).sum(1)
    for q in (0.5, 0.9, 0.99, 0.999):
        K = int(np.quantile(draws, q))
        mc_sf = (draws >= K).mean()
        mc_cdf = (draws <= K).mean()
        assert sf[K] == pytest.approx(mc_sf, rel=0.1, abs=3e-4)
        assert cdf[K] == pytest.approx(mc_cdf, rel=0.1, abs=3e-4)


def test_maps_reduced_by_one_hot_and_flank():
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 4, (2, 600))
    x = np.eye(4)[idx]
    hyp = rng.normal(0, 0.1, (2, 600, 4))
    hyp[1, 300:312] += 2.0 * x[1, 300:312]      # the present bases contribute
    c = position_contributions(hyp, x)
    assert c.shape == (2, 600) and c[1, 305] == pytest.approx((hyp[1, 305] * x[1, 305]).sum())
    t = call_seqlets(hyp, onehot=x, flank=3)
    r = np.flatnonzero(t.seq == 1)
    assert len(r) == 1 and t.start[r[0]] <= 297 and t.end[r[0]] >= 315 and t.sign[r[0]] == 1
    assert t.score[r[0]] == pytest.approx(c[1, t.start[r[0]]:t.end[r[0]]].sum())


def test_table_exports_and_genome_placement():
    a, blocks = _planted()
    t = call_seqlets(a, targets="CTCF", objective="sum of all bins", method="saliency")
    g = t.place([f"chr{i}" for i in range(12)], np.arange(12) * 10_000 + 5, chrom_sizes={"chr10": 11_910})
    i = int(np.flatnonzero((g.seq == 3) & (g.sign == 1))[0])
    assert g.chrom[i] == "chr3" and g.genome_start[i] == 30_005 + g.start[i] and g.genome_end[i] == 30_005 + g.end[i]
    j = int(np.flatnonzero(g.seq == 10)[0])
    assert g.genome_end[j] <= 11_910        # clipped to the chromosome
    bed = g.to_bed().splitlines()
    assert bed[0] == "#chrom\tstart\tend\tname\tscore\tstrand\tp_value\tmotif_ids\tmatch_q"
    cols = bed[1 + i].split("\t")     # rows in table order (sequence, then start)
    assert cols[0] == "chr3" and int(cols[1]) == g.genome_start[i] and cols[3] == "." and cols[5] == "."
    assert cols[7] == "." and cols[8] == "."
    tsv = g.to_tsv().splitlines()
    assert tsv[0].split("\t") == list(TSV_COLUMNS) and len(tsv) == len(g) + 1
    row = dict(zip(TSV_COLUMNS, tsv[1 + i].split("\t")))
    assert row["targets"] == "CTCF" and row["objective"] == "sum of all bins" and row["sign"] == "1"
    df = g.to_dataframe()
    assert list(df.columns) == list(TSV_COLUMNS) and len(df) == len(g)


@pytest.mark.parametrize("kw", [dict(alpha=0), dict(alpha=1.5), dict(min_len=0), dict(min_len=10, max_len=5),
                                dict(max_len=5000), dict(flank=-1), dict(null="x"), dict(signs=(2,)),
                                dict(n_bins=10), dict(clip=0.5)])
def test_bad_arguments(kw):
    with pytest.raises(InputError):
        call_seqlets(np.zeros((2, 100)) + np.arange(100), **kw)


def test_bad_values():
    with pytest.raises(InputError):
        call_seqlets(np.full((1, 50), np.nan))
    with pytest.raises(InputError):
        call_seqlets(np.zeros((2, 3, 5, 4)))


def _motif_with_dips(seed=4, S=6, L=1500):
    """Laplace noise; row 0: a positive 14 bp motif with a negative 8 bp shoulder 2 bp after it and a
    negative 3 bp dip inside; row 1: a strong negative block alone; row 2: a positive motif and, 40 bp
    away, a negative block of its own."""
    rng = np.random.default_rng(seed)
    a = rng.laplace(0.0, 0.3, (S, L))
    a[0, 600:614] += 2.5
    a[0, 605:608] -= 3.0            # dip inside the motif
    a[0, 616:624] -= 1.2            # shoulder beside it, 2 bp away
    a[1, 300:312] -= 2.5
    a[2, 900:912] += 2.5
    a[2, 952:964] -= 2.0
    return a


def test_opposite_sign_shoulder_joins_the_motif():
    a = _motif_with_dips()
    apart = call_seqlets(a, merge_gap=None)
    r0 = np.flatnonzero((apart.seq == 0) & (apart.start < 630) & (apart.end > 595))
    assert (apart.sign[r0] < 0).any() and (apart.sign[r0] > 0).any()   # without joining: the dips are seqlets
    t = call_seqlets(a)
    r0 = np.flatnonzero((t.seq == 0) & (t.start < 630) & (t.end > 595))
    assert len(r0) == 1, [(t.start[i], t.end[i], t.sign[i]) for i in r0]
    i = int(r0[0])
    assert t.sign[i] == 1 and t.start[i] <= 601 and t.end[i] >= 623
    assert t.score[i] == pytest.approx(a[0, t.start[i]:t.end[i]].sum())
    # the joined span passed its own test (exact null of its length, pooled values) ...
    g = _grid(a, 1000, 1e-3)
    k = g.index(a)
    n = int(t.length[i])
    sf, _ = _null_tails(np.bincount(k.ravel(), minlength=g.n_bins) / k.size, [n])[n]
    assert sf[k[0, t.start[i]:t.end[i]].sum()] <= 0.05 / t.settings["tests_per_sequence"]
    # ... and the seqlet keeps its core window's p-value and coordinates (the window it grew from)
    core = np.flatnonzero((apart.seq == 0) & (apart.sign > 0) & (apart.start == t.core_start[i]))
    assert len(core) == 1 and apart.end[core[0]] == t.core_end[i] and apart.p_value[core[0]] == t.p_value[i]
    assert t.core_start[i] >= t.start[i] and t.core_end[i] <= t.end[i] and t.length[i] > t.core_end[i] - t.core_start[i]
    assert t.p_adj[i] <= 0.05 and t.settings["merge_gap"] == 5


def test_negative_blocks_stay_seqlets():
    a = _motif_with_dips()
    t = call_seqlets(a)
    lone = np.flatnonzero((t.seq == 1) & (t.start < 312) & (t.end > 300))
    assert len(lone) == 1 and t.sign[lone[0]] == -1
    far = np.flatnonzero((t.seq == 2) & (t.start < 964) & (t.end > 952))   # 40 bp from the motif: its own
    near = np.flatnonzero((t.seq == 2) & (t.start < 912) & (t.end > 900))
    assert len(far) == 1 and t.sign[far[0]] == -1 and len(near) == 1 and t.sign[near[0]] == 1
    # a weak positive beside a STRONGER negative joins the negative one, not the other way round
    b = -a
    tb = call_seqlets(b)
    r0 = np.flatnonzero((tb.seq == 0) & (tb.start < 630) & (tb.end > 595))
    assert len(r0) == 1 and tb.sign[r0[0]] == -1


def test_joining_keeps_noise_calls_rare():
    rng = np.random.default_rng(5)
    n = sum(len(call_seqlets(a)) for a in (rng.laplace(0, 1, (40, 2000)), rng.standard_t(3, (40, 2000))))
    assert n <= 3     # joining only removes seqlets: alpha still bounds the false ones per sequence


def test_bad_merge_gap():
    with pytest.raises(InputError):
        call_seqlets(np.zeros((2, 100)) + np.arange(100), merge_gap=-1)


def test_fft_law_agrees_with_the_exact_chain():
    from seqnn_engine.motifs.seqlets import _SumLaw
    rng = np.random.default_rng(6)
    v = rng.laplace(0, 1, 5000)
    g = _grid(v, 500)
    law = _SumLaw(np.bincount(g.index(v), minlength=g.n_bins).astype(float))
    for l in (7, 45):
        sf, cdf = law.tails(l)
        sf2, cdf2 = law.tails_fft(l)
        assert sf.shape == sf2.shape
        np.testing.assert_allclose(sf2, sf, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(cdf2, cdf, rtol=1e-6, atol=1e-12)


def test_joining_under_the_per_sequence_null():
    a = _motif_with_dips()
    t = call_seqlets(a, null="sequence")     # the row's own values hold its motif: the joined span fails
    assert ((t.seq == 0) & (t.sign < 0) & (t.start >= 614) & (t.end <= 630)).sum() == 1
    a[0, 600:614] += 1.5                       # a stronger motif carries its shoulder under that null too
    t = call_seqlets(a, null="sequence")
    r0 = np.flatnonzero((t.seq == 0) & (t.start < 630) & (t.end > 595))
    assert len(r0) == 1 and t.sign[r0[0]] == 1 and t.end[r0[0]] >= 623


def test_position_permuted_attribution_is_calibrated():
    """The null is the attribution's own values without their order: after a random permutation of the
    positions of an attribution WITH planted signal (heavy tails from the blocks kept), calls are false and
    their rate stays within alpha per sequence."""
    a, _ = _planted()
    rng = np.random.default_rng(11)
    n_seq = n_called = 0
    for _ in range(10):
        p = np.stack([rng.permutation(row) for row in a])
        n_called += len(call_seqlets(p, alpha=0.05))
        n_seq += len(p)
    assert n_called <= 0.05 * n_seq     # 6 of 120 at the bound (E[false seqlets per sequence] <= alpha)
