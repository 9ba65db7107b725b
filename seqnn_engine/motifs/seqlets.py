"""Seqlets: short runs of significantly positive or negative contribution, called from any attribution.

Input: position scores ``(S, L)`` (signed, one value per base: e.g. the contribution of the present
base) or attribution maps ``(S, L, 4)`` reduced with :func:`position_contributions`.

The test (a scan statistic against a null built from the attribution itself)
-------------------------------------------------------------------------------
For every window length ``l`` in ``[min_len, max_len]`` and every start, the window sum of the
position scores is compared with the distribution of the sum of ``l`` positions drawn independently
from the same attribution's values (all sequences' values with ``null="pooled"``, the default;
the sequence's own values with ``null="sequence"``). This null keeps the attribution's marginal distribution
(its scale, skew and heavy tails) and removes only the spatial clustering that makes a motif; it is
computed exactly: the values are put on a grid of ``n_bins`` equal bins, the grid histogram is
convolved with itself ``l`` times (the law of the sum of ``l`` draws), and the observed window sum
is discretised on the same grid, so the test is exact for the discretised values. A positive
window's p-value is ``P(null sum >= observed)``, a negative window's ``P(null sum <= observed)``.

Every window of every length and both signs is one test. The family of a sequence is its
``n = 2 * sum_l (L - l + 1)`` tests (one sign: half), and a window is a candidate when its
Bonferroni-adjusted p-value ``p_adj = min(1, n * p)`` is at most ``alpha``: the expected number of
false candidate windows, hence of false seqlets, is at most ``alpha`` per sequence whatever the
dependence between overlapping windows. (A false-discovery-rate bound over windows would not carry
over to seqlets: each real motif passes hundreds of overlapping windows, which would let noise
windows through.) Seqlets are extracted greedily, most significant first (smallest p-value; ties:
larger standardized sum), each kept only when it overlaps no seqlet already kept in the same
sequence (either sign).

Opposite-sign dips join the motif beside them (``merge_gap``, default 5 bp)
---------------------------------------------------------------------------
A motif's contribution often comes with short runs of the other sign inside or beside it: with the
mean-centred gradient, the bases flanking a strong motif lean the other way, and a weak base inside
a motif can be negative. Called alone, such a dip is a seqlet of its own (a "negative motif" that is
only the shoulder of a positive one). The caller therefore asks whether the dip belongs to its
neighbour's span, by the same test as every window: in rounds until nothing changes, each seqlet
proposes to take in its nearest neighbour on either side when that neighbour (a) has the opposite
sign, (b) has a smaller |summed contribution| over its core window (the window it was called from)
and (c) lies at most ``merge_gap`` bases away; the
joined span (both seqlets and the gap between them, at most ``2 * max_len + merge_gap`` bases) is
accepted when its sum has the stronger seqlet's sign and its own p-value under the same null, for
its length, passes the same bound ``alpha / n`` (exact for the pooled null; by FFT, to about 1e-12,
for per-sequence nulls) (proposals granted most significant first; a seqlet
joins at most once per round). The joined seqlet keeps the stronger one's sign and p-value (those
of its core window, kept as ``core_start``/``core_end``, on which motif names are matched), and
reports the joined span and its summed contribution. Joining only removes seqlets (it
never adds a call), so the bound on false seqlets per sequence still holds; opposite-sign runs
farther away, stronger than their neighbour, or whose joined span would not be significant stay
seqlets of their own, so negative seqlets remain callable (``merge_gap=None`` never joins).
Finally each seqlet is optionally widened by ``flank`` bases on each side (clipped to the sequence).

On pure noise the null is the truth, so at ``alpha=0.05`` a sequence holds a (false) seqlet with
probability at most 0.05. The null assumes positions are exchangeable; attributions that are smooth along the
sequence (strong autocorrelation of the background) make it anti-conservative: lower ``alpha``.

What joining cannot remove: on the demo's ground truth (benchmarks/RESULTS.md, section "Seqlets
and TF-MoDISco") saliency gives strong negative runs on other factors' planted sites that the
model's prediction does not depend on (knocking the site out barely moves the objective); they are
faithful to the attribution, hence called. Which seqlets the prediction does depend on is asked by
knocking them out: :func:`seqnn_engine.motifs.verify.knockout_seqlets` (``min_share``: the knock-out must
reproduce a share of the seqlet's summed contribution; its result joins the table
with :meth:`SeqletTable.with_knockout`; :meth:`SeqletTable.verified_only` keeps the verified rows).

Result: :class:`~seqnn_engine.motifs.seqlet_table.SeqletTable`, one row per seqlet, with input coordinates, genome coordinates when
the windows have them (:meth:`SeqletTable.place`), the summed contribution, p/q-values, sign, and
(after :func:`~seqnn_engine.motifs.annotate.annotate_seqlets`) the best motif matches and strand.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..errors import InputError
from .seqlet_table import SeqletTable

NULL_SCOPES = ("sequence", "pooled", "both")


def position_contributions(scores: np.ndarray, onehot: Optional[np.ndarray] = None) -> np.ndarray:
    """(S, L) contribution of the present base from an attribution map.

    scores: (S, L, 4) (or (L, 4)). With ``onehot`` (same shape), ``scores`` are hypothetical
    contributions and the result is ``sum_b scores * onehot`` (the value of the present base);
    without it, the sum over ACGT (maps that are already zero off the present base: grad x input,
    integrated gradients).
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 2 and s.shape[-1] == 4:
        s = s[None]
    if s.ndim != 3 or s.shape[-1] != 4:
        raise InputError(f"attribution maps must be (S, L, 4), got shape {np.shape(scores)}")
    if onehot is None:
        return s.sum(-1)
    x = np.asarray(onehot, dtype=np.float64).reshape(s.shape) if np.size(onehot) == s.size else None
    if x is None:
        raise InputError(f"one-hot shape {np.shape(onehot)} differs from the attribution shape {s.shape}")
    return (s * x).sum(-1)


# ------------------------------------------------------------------------------------------ the null


@dataclass
class _Grid:
    """Values on a grid: k = round((v - lo) / h), k in [0, n_bins - 1]."""

    lo: float
    h: float
    n_bins: int

    def index(self, v: np.ndarray) -> np.ndarray:
        if self.h <= 0:
            return np.zeros(np.shape(v), np.int64)
        return np.clip(np.rint((v - self.lo) / self.h), 0, self.n_bins - 1).astype(np.int64)


def _grid(values: np.ndarray, n_bins: int, clip: float = 0.0) -> _Grid:
    """Equal bins over [min, max] of ``values``, or over their ``clip`` and ``1 - clip`` quantiles
    (values beyond fall into the edge bins, in the null and the observed sums alike)."""
    if clip > 0:
        lo, hi = (float(v) for v in np.quantile(values, [clip, 1 - clip]))
    else:
        lo, hi = float(np.min(values)), float(np.max(values))
    if hi <= lo:
        return _Grid(lo, 0.0, 1)
    return _Grid(lo, (hi - lo) / (n_bins - 1), n_bins)


def _null_tails(hist: np.ndarray, lengths: Sequence[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """For each l: (sf, cdf) over integer sums 0..l(B-1) of l draws from ``hist`` (a pmf):
    sf[K] = P(sum >= K), cdf[K] = P(sum <= K)."""
    law = _SumLaw(hist)
    return {l: law.tails(l) for l in sorted(lengths)}


class _SumLaw:
    """The exact law of the sum of ``l`` independent draws from one grid histogram, for any ``l``:
    the l-fold convolution, extended one draw at a time and memoised per length asked for."""

    def __init__(self, hist: np.ndarray):
        self.hist = np.asarray(hist, np.float64) / np.sum(hist)
        self.pmf, self.cur = self.hist, 1
        self._tails: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def tails(self, l: int) -> tuple[np.ndarray, np.ndarray]:
        """(sf, cdf) of the sum of ``l`` draws over its integer grid sums ``0 .. l (B - 1)``."""
        l = int(l)
        if l not in self._tails:
            if l < self.cur:                     # asked out of order: restart the chain
                self.pmf, self.cur = self.hist, 1
            while self.cur < l:
                self.pmf = np.convolve(self.pmf, self.hist)
                self.cur += 1
            p = np.maximum(self.pmf, 0.0)
            cdf = np.cumsum(p)
            sf = np.cumsum(p[::-1])[::-1]
            tot = cdf[-1]
            self._tails[l] = (np.minimum(sf / tot, 1.0), np.minimum(cdf / tot, 1.0))
        return self._tails[l]

    def forget(self) -> None:
        self._tails.clear()
        self.pmf, self.cur = self.hist, 1

    def tails_fft(self, l: int) -> tuple[np.ndarray, np.ndarray]:
        """(sf, cdf) as :meth:`tails`, by one FFT (the l-th power of the histogram's transform): no chain
        to extend, absolute error about 1e-12 (enough to compare with a bound, not to report tiny p)."""
        l = int(l)
        n = l * (len(self.hist) - 1) + 1
        size = 1 << int(np.ceil(np.log2(n)))
        p = np.maximum(np.fft.irfft(np.fft.rfft(self.hist, size) ** l, size)[:n], 0.0)
        cdf = np.cumsum(p)
        sf = np.cumsum(p[::-1])[::-1]
        return np.minimum(sf / cdf[-1], 1.0), np.minimum(cdf / cdf[-1], 1.0)


@dataclass
class _Scope:
    """One null scope: grid-index prefix sums ``kc`` (S, L + 1), one :class:`_SumLaw` per group
    and the group of each row ``group`` (S,) (pooled: one group; sequence: one per row)."""

    kc: np.ndarray
    laws: list
    group: np.ndarray


def _scopes(a: np.ndarray, null: str, n_bins: int, clip: float) -> list[_Scope]:
    S, L = a.shape
    out = []
    for scope in {"sequence": ("sequence",), "pooled": ("pooled",), "both": ("sequence", "pooled")}[null]:
        groups = [np.arange(S)] if scope == "pooled" else [np.array([r]) for r in range(S)]
        k_all = np.zeros((S, L), np.int64)
        laws = []
        for rows in groups:
            grid = _grid(a[rows], n_bins, clip)
            k = grid.index(a[rows])
            k_all[rows] = k
            laws.append(_SumLaw(np.bincount(k.ravel(), minlength=grid.n_bins).astype(np.float64)))
        kc = np.concatenate([np.zeros((S, 1), np.int64), np.cumsum(k_all, axis=1)], axis=1)
        out.append(_Scope(kc, laws, np.zeros(S, np.int64) if scope == "pooled" else np.arange(S)))
    return out


def _span_pvalues(scopes: list[_Scope], seq, start, end, sign) -> np.ndarray:
    """(n,) p-values of the spans ``[start, end)`` of rows ``seq`` with signs ``sign`` (all (n,)):
    the largest over the scopes (null 'both': significant under each). Exact (memoised chain) for a
    pooled scope; by FFT for per-sequence scopes (one law per row: chains would be long and many)."""
    seq, start, end, sign = (np.asarray(v, np.int64) for v in (seq, start, end, sign))
    out = np.zeros(seq.shape)
    for sc in scopes:
        K = sc.kc[seq, end] - sc.kc[seq, start]
        p = np.empty(seq.shape)
        g_of = sc.group[seq]
        for g in np.unique(g_of):
            for l in np.unique(end[g_of == g] - start[g_of == g]):
                i = np.flatnonzero((g_of == g) & (end - start == l))
                law = sc.laws[g]
                sf, cdf = law.tails(int(l)) if len(sc.laws) == 1 else law.tails_fft(int(l))
                p[i] = np.where(sign[i] > 0, sf[K[i]], cdf[K[i]])
        out = np.maximum(out, p)
    return out


def _window_sums(a: np.ndarray, l: int) -> np.ndarray:
    c = np.concatenate([np.zeros(a.shape[:-1] + (1,), a.dtype), np.cumsum(a, axis=-1)], axis=-1)
    return c[..., l:] - c[..., :-l]


# ------------------------------------------------------------------------------------------ caller


def call_seqlets(scores: np.ndarray, *, onehot: Optional[np.ndarray] = None, alpha: float = 0.05,
                 min_len: int = 4, max_len: int = 30, flank: int = 0, null: str = "pooled",
                 n_bins: int = 1000, clip: float = 1e-3, signs: Sequence[int] = (1, -1),
                 merge_gap: Optional[int] = 5, max_seqlets: Optional[int] = None,
                 targets: str = "", objective: str = "", method: str = "") -> SeqletTable:
    """Call seqlets (significant positive and negative runs) from an attribution.

    scores: (S, L) signed position scores, or (S, L, 4) maps reduced by
        :func:`position_contributions` (with ``onehot`` (S, L, 4): hypothetical contributions;
        without: the sum over ACGT). (L,) / (L, 4) mean one sequence.
    alpha: bound on the Bonferroni-adjusted p-value within a sequence (0 < alpha < 1): at most
        ``alpha`` false seqlets are expected per sequence.
    min_len, max_len: window lengths tested (bases, 1 <= min_len <= max_len <= L).
    flank: bases added on each side of a called seqlet (clipped to the sequence); the summed
        score covers the widened seqlet, the p-value is the core window's.
    null: 'pooled' (all sequences' values; default), 'sequence' (each sequence's own values) or
        'both' (a window must pass under each: its p-value is the larger of the two). For one
        sequence they agree.
    n_bins: grid size of the exact null (more: finer, slower; 100..100000).
    clip: the grid spans the ``clip`` .. ``1 - clip`` quantiles of the values (0: min .. max); values
        beyond share the edge bins (the test stays exact for the clipped values; finer bins for the
        bulk). Default 1e-3. Larger values raise recall and lower precision (see benchmarks/motif_truth.py).
    signs: which contributions to call: (1, -1) both (default), (1,) positive, (-1,) negative.
    merge_gap: a weaker opposite-sign seqlet within this many bases of a stronger one joins the
        stronger one's span when the joined span's sum, in the stronger one's sign, is itself
        significant (see the module docstring); None (or with one sign only) never joins. Default 5.
    max_seqlets: keep at most this many per sequence (most significant first); None keeps all.
    targets, objective, method: recorded in the table (where the attribution came from).

    Returns a :class:`SeqletTable` sorted by sequence, then start.
    """
    a = np.asarray(scores)
    if a.ndim >= 2 and a.shape[-1] == 4 and (a.ndim == 3 or onehot is not None):
        a = position_contributions(a, onehot)
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] < 1:
        raise InputError(f"position scores must be (S, L) (or (S, L, 4) maps), got shape {np.shape(scores)}")
    if not np.all(np.isfinite(a)):
        raise InputError("the attribution holds NaN or inf values; recompute it")
    S, L = a.shape
    if not 0 < float(alpha) < 1:
        raise InputError(f"alpha must be between 0 and 1, got {alpha}")
    min_len, max_len, flank = int(min_len), int(max_len), int(flank)
    if not 1 <= min_len <= max_len:
        raise InputError(f"seqlet lengths need 1 <= min_len <= max_len, got {min_len}, {max_len}")
    if max_len > L:
        raise InputError(f"max_len {max_len} is longer than the sequences ({L} bp)")
    if flank < 0:
        raise InputError(f"flank must be >= 0, got {flank}")
    if merge_gap is not None and int(merge_gap) < 0:
        raise InputError(f"merge_gap must be >= 0 (or None: never join), got {merge_gap}")
    if null not in NULL_SCOPES:
        raise InputError(f"null must be one of {NULL_SCOPES}, got {null!r}")
    if not 0 <= float(clip) < 0.5:
        raise InputError(f"clip must be in [0, 0.5), got {clip}")
    if not 100 <= int(n_bins) <= 100_000:
        raise InputError(f"n_bins must be in 100..100000, got {n_bins}")
    signs = tuple(int(s) for s in signs)
    if not signs or any(s not in (1, -1) for s in signs) or len(set(signs)) != len(signs):
        raise InputError(f"signs must be (1, -1), (1,) or (-1,), got {signs}")
    lengths = list(range(min_len, max_len + 1))
    n_bins = int(n_bins)

    # p-values of every window; keep those that can pass (p <= alpha / tests per sequence)
    cand = {k: [] for k in ("seq", "start", "len", "sign", "p", "z")}
    m_seq = len(signs) * sum(L - l + 1 for l in lengths)   # tests per sequence
    p_max = float(alpha) / m_seq
    scopes = _scopes(a, null, n_bins, float(clip))
    mu = a.mean(1, keepdims=True)
    sd = a.std(1, keepdims=True)
    sd[sd == 0] = 1.0
    for l in lengths:
        wsum = _window_sums(a, l)                              # (S, L - l + 1)
        z = (wsum - l * mu) / (sd * np.sqrt(l))
        for sign in signs:
            p = None
            for sc in scopes:
                K = sc.kc[:, l:] - sc.kc[:, :-l]               # integer sums on the grid
                pk = np.empty(K.shape)
                for g in np.unique(sc.group):
                    rows = np.flatnonzero(sc.group == g)
                    sf, cdf = sc.laws[g].tails(l)
                    pk[rows] = (sf if sign > 0 else cdf)[K[rows]]
                p = pk if p is None else np.maximum(p, pk)     # 'both': significant under each null
            r_i, s_i = np.nonzero(p <= p_max)
            if r_i.size:
                cand["seq"].append(r_i)
                cand["start"].append(s_i)
                cand["len"].append(np.full(r_i.size, l))
                cand["sign"].append(np.full(r_i.size, sign))
                cand["p"].append(p[r_i, s_i])
                cand["z"].append(sign * z[r_i, s_i])
    for sc in scopes:                                          # per-sequence laws are large: free them
        if len(sc.laws) > 1:
            for law in sc.laws:
                law.forget()
    join = merge_gap is not None and len(signs) == 2
    settings = dict(alpha=float(alpha), min_len=min_len, max_len=max_len, flank=flank, null=null, n_bins=n_bins,
                    clip=float(clip), signs=list(signs), merge_gap=int(merge_gap) if join else None,
                    tests_per_sequence=int(m_seq), seq_length=int(L))
    if not cand["p"]:
        return _table([], a, settings, targets, objective, method, flank)
    c = {k: np.concatenate(v) for k, v in cand.items()}
    passing = np.lexsort((-c["z"], c["p"]))
    # greedy, most significant first, no overlap within a sequence
    taken = np.zeros((S, L), dtype=bool)
    per_seq = np.zeros(S, dtype=np.int64)
    keep = []
    for j in passing:
        s, st = int(c["seq"][j]), int(c["start"][j])
        en = st + int(c["len"][j])
        if max_seqlets is not None and per_seq[s] >= max_seqlets:
            continue
        if taken[s, st:en].any():
            continue
        taken[s, st:en] = True
        per_seq[s] += 1
        keep.append([s, st, en, int(c["sign"][j]), float(c["p"][j]), st, en])
    if join:
        keep = _join_dips(keep, a, scopes, int(merge_gap), p_max, 2 * max_len + int(merge_gap))
    rows = [(s, st, en, sg, p, min(1.0, p * m_seq), c0, c1) for s, st, en, sg, p, c0, c1 in keep]
    return _table(rows, a, settings, targets, objective, method, flank)


def _join_dips(keep: list, a: np.ndarray, scopes: list[_Scope], gap: int, p_max: float, max_span: int) -> list:
    """Join weaker opposite-sign seqlets into their stronger neighbours (the module docstring's rule).

    keep: rows ``[seq, start, end, sign, p, core_start, core_end]``. In rounds until nothing changes:
    every seqlet asks to join its nearest neighbour on each side when that neighbour has the opposite
    sign, a smaller |sum| over its core, and lies within ``gap`` bases; the joined span (at most ``max_span`` bases, covering the
    gap) must have a sum of the stronger one's sign whose p-value is at most ``p_max``. Requests
    are granted most significant first; a seqlet already changed in this round waits for the next.
    """
    csum = np.concatenate([np.zeros((a.shape[0], 1)), np.cumsum(a, axis=1)], axis=1)
    rows = sorted(keep, key=lambda r: (r[0], r[1]))
    while True:
        score = [csum[r[0], r[6]] - csum[r[0], r[5]] for r in rows]       # strength: the core's sum
        req = []                                               # (i, j, start, end)
        for i, r in enumerate(rows):
            for j in (i - 1, i + 1):
                if not 0 <= j < len(rows) or rows[j][0] != r[0] or rows[j][3] == r[3]:
                    continue
                if abs(score[j]) >= abs(score[i]):
                    continue
                lo, hi = min(r[1], rows[j][1]), max(r[2], rows[j][2])
                if max(rows[j][1] - r[2], r[1] - rows[j][2]) > gap or hi - lo > max_span:
                    continue
                if r[3] * (csum[r[0], hi] - csum[r[0], lo]) <= 0:
                    continue
                req.append((i, j, lo, hi))
        if not req:
            return rows
        p = _span_pvalues(scopes, [rows[i][0] for i, *_ in req], [q[2] for q in req], [q[3] for q in req],
                          [rows[i][3] for i, *_ in req])
        order = sorted(range(len(req)), key=lambda k: (rows[req[k][0]][4], p[k]))   # most significant first
        busy, gone, changed = set(), set(), False
        for k in order:
            i, j, lo, hi = req[k]
            if p[k] > p_max or i in busy or j in busy:
                continue
            rows[i] = [rows[i][0], lo, hi, rows[i][3], rows[i][4], rows[i][5], rows[i][6]]
            busy.update((i, j))
            gone.add(j)
            changed = True
        rows = [r for n, r in enumerate(rows) if n not in gone]
        if not changed:
            return rows


def _table(rows, a, settings, targets, objective, method, flank) -> SeqletTable:
    """rows: ``(seq, start, end, sign, p, p_adj, core_start, core_end)``; spans widened by ``flank``."""
    L = a.shape[1]
    rows = sorted(rows)
    col = lambda k, dt: np.array([r[k] for r in rows], dtype=dt)  # noqa: E731
    seq = col(0, np.int64)
    widen = lambda k, d: np.clip(col(k, np.int64) + d, 0, L)  # noqa: E731
    start, end, c0, c1 = widen(1, -flank), widen(2, flank), widen(6, -flank), widen(7, flank)
    csum = np.concatenate([np.zeros((a.shape[0], 1)), np.cumsum(a, axis=1)], axis=1)
    score = csum[seq, end] - csum[seq, start] if len(rows) else np.zeros(0)
    return SeqletTable(seq=seq, start=start, end=end, sign=col(3, np.int8),
                       score=np.asarray(score, dtype=np.float64), p_value=col(4, np.float64),
                       p_adj=col(5, np.float64), core_start=c0, core_end=c1,
                       targets=targets, objective=objective, method=method, settings=settings)
