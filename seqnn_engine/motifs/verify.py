"""Knock-out verification of seqlets: which seqlets does the prediction actually depend on?

A seqlet is a run of the attribution; whether the model's prediction owes it anything is a separate
question, answered here by knocking it out. For every seqlet of a :class:`~.seqlet_table.SeqletTable`
called from sequences ``x`` (S, L, 4):

- **effect**: the change of the SAME objective the attribution came from (targets, bins,
  statistic, pseudocount, untransform, RC / shift ensemble) when the seqlet's span ``[start, end)``
  is replaced by random bases, ``f(knocked) - f(x)``, averaged over ``n_shuffles`` seeded
  replacements (each base drawn uniformly from ACGT);
- **null**: knock-outs, done the same way in the same sequences, of random spans that overlap no
  seqlet of their sequence: ``n_null`` per sequence, their lengths drawn from the lengths of that
  sequence's seqlets (of the whole table where a sequence has none), so the null has the seqlets'
  length mix. The null is pooled over the table (``S * n_null`` values);
- **p_value**: empirical two-sided, ``(1 + #{null : |null effect| >= |effect|}) / (1 + n_null_total)``
  (never 0; the smallest possible value is ``1 / (1 + S * n_null)``);
- **q_value**: Benjamini-Hochberg across the table's seqlets;
- **verified**: ``q_value <= alpha`` AND the effect has the seqlet's sign: knocking out a positive
  seqlet lowers the objective (effect < 0), knocking out a negative one raises it (effect > 0);
  optionally also ``|effect| >= min_effect`` (objective units), ``|effect| >= min_fraction * |f(x)|``
  (a share of the sequence's objective) and ``|effect| >= min_share * |score|`` (a share of the seqlet's
  own summed contribution, see below); all default 0: no floor.

**Faithfulness** (``min_share``): for a mean-centred gradient (saliency), the seqlet's summed contribution
``score = sum_i (g_i[x_i] - mean_b g_i[b])`` is exactly minus the first-order (linear) prediction of the
expected change when every base of the span is replaced by a uniformly random base: ``E[sum_i g_i[r_i] -
g_i[x_i]] = -score``. So ``-sign * effect / |score|`` is the share of what the attribution claims for the
seqlet that the model's real response to the knock-out reproduces (about 1 when the model is locally linear
there, near 0 when the gradient is large but the prediction barely moves). ``min_share`` asks for at least
that share; ``share`` holds it for every row.

The null of background knock-outs is tight (on the demo model most random spans move the objective by
under 1e-2), so a small but consistent effect is significant: on the demo's ground truth the negative
seqlets of saliency change the objective by only +0.1 to +0.4 (a positive seqlet on a planted site: -7
to -10) yet many pass the test. The prediction does depend on them, a little; ``min_effect`` is
the way to ask for seqlets the prediction depends on by at least a given amount, ``min_fraction`` by at
least a given share of the prediction.

Why random bases rather than a dinucleotide shuffle of the span: a shuffle of a 4-30 bp span keeps its
composition and, for short or repetitive motifs (CpG-rich, palindromic cores), often much of the
motif itself, which would understate the effect. Random bases change the composition too, but the null
spans are replaced the same way, so a composition effect is in the null and does not make a seqlet
significant.

Cost: ``S + n_shuffles * (N + S * n_null)`` forward passes per ensemble member (N seqlets), in
batches; only the objective's targets are computed (head gather). The memory of a batch is
estimated with :func:`seqnn_engine.memory.predict_plan` before any work starts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..errors import InputError

DEFAULT_N_SHUFFLES = 4
DEFAULT_N_NULL = 20
DEFAULT_ALPHA = 0.05
INPUT_CHUNK_BYTES = 256 << 20   # most bytes of knocked-out inputs built at once


@dataclass
class KnockoutTable:
    """Knock-out verification of N seqlets (rows in the order of the seqlet table).

    effect: (N,) float64 mean over the replacements of ``f(knocked) - f(x)`` (objective units);
    effect_sd: (N,) float64 standard deviation of that change over the replacements (0 for one);
    p_value: (N,) float64 empirical two-sided p-value of |effect| against the null;
    q_value: (N,) float64 Benjamini-Hochberg q-value across the N seqlets;
    verified: (N,) bool ``q_value <= alpha`` and the sign rule of the module docstring (a positive
        seqlet's knock-out lowers the objective, a negative one's raises it);
    share: (N,) float64 ``-sign * effect / |score|``: the share of the seqlet's summed contribution that the
        knock-out reproduces (module docstring; NaN where the score is 0);
    significant: (N,) bool the same without the sign rule: the prediction depends on the span either way
        (``significant & ~verified``: the knock-out moves the objective against the seqlet's sign);
    base: (S,) float64 the objective of each sequence, f(x);
    null_seq, null_start, null_end: (M,) int64 the null spans (sequence, half-open input positions),
        M = S * n_null; null_effect: (M,) float64 their mean knock-out effects;
    replacement_bases: (N,) object array, row i a (n_shuffles, end_i - start_i) uint8 array of the bases
        (0..3 = A, C, G, T) put into seqlet i's span by each replacement (to reproduce a knock-out);
    alpha: the FDR level; min_effect, min_fraction, min_share: the |effect| floors of ``verified``; n_shuffles: replacements per span; seed: the random seed;
    objective: the objective's description (targets, statistic, bins, ensemble); seconds: wall time.
    """

    effect: np.ndarray
    effect_sd: np.ndarray
    p_value: np.ndarray
    q_value: np.ndarray
    verified: np.ndarray
    significant: np.ndarray
    base: np.ndarray
    null_seq: np.ndarray
    null_start: np.ndarray
    null_end: np.ndarray
    null_effect: np.ndarray
    replacement_bases: Optional[np.ndarray] = None
    alpha: float = DEFAULT_ALPHA
    min_effect: float = 0.0
    min_fraction: float = 0.0
    share: Optional[np.ndarray] = None
    min_share: float = 0.0
    n_shuffles: int = DEFAULT_N_SHUFFLES
    seed: int = 0
    objective: dict = field(default_factory=dict)
    seconds: float = 0.0

    def __len__(self) -> int:
        return int(self.effect.shape[0])

    def take(self, idx) -> "KnockoutTable":
        """The seqlet rows ``idx`` (indices or a boolean mask); the null is kept whole."""
        from dataclasses import replace
        idx = np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return replace(self, effect=self.effect[idx], effect_sd=self.effect_sd[idx], p_value=self.p_value[idx],
                       q_value=self.q_value[idx], verified=self.verified[idx], significant=self.significant[idx],
                       share=None if self.share is None else self.share[idx],
                       replacement_bases=None if self.replacement_bases is None else self.replacement_bases[idx])


def empirical_pvalues(effect: np.ndarray, null: np.ndarray) -> np.ndarray:
    """(N,) two-sided empirical p-values ``(1 + #{|null| >= |effect|}) / (1 + M)`` of effects (N,)
    against null effects (M,)."""
    a = np.sort(np.abs(np.asarray(null, np.float64)))
    e = np.abs(np.asarray(effect, np.float64))
    n_ge = a.size - np.searchsorted(a, e, side="left")
    return (1.0 + n_ge) / (1.0 + a.size)


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """(N,) Benjamini-Hochberg adjusted p-values (q-values) of p-values (N,) (scipy)."""
    p = np.asarray(p, np.float64)
    if p.size == 0:
        return p.copy()
    from scipy.stats import false_discovery_control
    return np.asarray(false_discovery_control(p, method="bh"), np.float64)


def sign_agrees(sign: np.ndarray, effect: np.ndarray) -> np.ndarray:
    """(N,) bool: the knock-out moved the objective the way the seqlet's sign says (a positive seqlet's
    knock-out lowers it: effect < 0; a negative one's raises it: effect > 0)."""
    return np.asarray(sign, np.int64) * np.asarray(effect, np.float64) < 0


def knockout_share(sign: np.ndarray, score: np.ndarray, effect: np.ndarray) -> np.ndarray:
    """(N,) ``-sign * effect / |score|``: the share of each seqlet's summed contribution ``score`` (N,) that
    its knock-out ``effect`` (N,) reproduces (module docstring); NaN where the score is 0."""
    s = np.abs(np.asarray(score, np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, -np.asarray(sign, np.float64) * np.asarray(effect, np.float64) / s, np.nan)


def null_spans(table, n_seqs: int, seq_length: int, n_null: int, rng: np.random.Generator):
    """Random spans overlapping no seqlet: ``n_null`` per sequence, lengths drawn from the sequence's
    seqlet lengths (the table's where a sequence has none). Returns (seq, start, end), each (M,) int64.
    InputError when a sequence has no room for a span of the drawn length outside its seqlets."""
    lengths_all = np.asarray(table.end - table.start, np.int64)
    out_s, out_a, out_b = [], [], []
    for s in range(n_seqs):
        rows = np.flatnonzero(table.seq == s)
        pool = lengths_all[rows] if rows.size else lengths_all
        taken = np.zeros(seq_length + 1, np.int64)                    # prefix count of seqlet bases
        cover = np.zeros(seq_length, bool)
        for i in rows:
            cover[int(table.start[i]):int(table.end[i])] = True
        taken[1:] = np.cumsum(cover)
        for _ in range(n_null):
            ln = int(pool[rng.integers(0, pool.size)])
            starts = np.arange(0, seq_length - ln + 1)
            free = starts[(taken[starts + ln] - taken[starts]) == 0]
            if free.size == 0:
                raise InputError(f"sequence {s} has no {ln} bp stretch outside its seqlets for the null "
                                 "knock-outs; verify fewer or shorter seqlets, or longer sequences")
            a = int(free[rng.integers(0, free.size)])
            out_s.append(s)
            out_a.append(a)
            out_b.append(a + ln)
    return (np.asarray(out_s, np.int64), np.asarray(out_a, np.int64), np.asarray(out_b, np.int64))


def knockout_seqlets(model, x, table, targets=None, positions=None, statistic: str = "sum",
                     pseudocount: float = 0.0, untransform: bool = False, n_shuffles: int = DEFAULT_N_SHUFFLES,
                     n_null: int = DEFAULT_N_NULL, alpha: float = DEFAULT_ALPHA, min_effect: float = 0.0,
                     min_fraction: float = 0.0, min_share: float = 0.0, seed: int = 0, rc: bool = False,
                     shifts=(0,), batch_size: int = 4,
                     progress: Optional[Callable[[int, int], None]] = None) -> KnockoutTable:
    """Knock out every seqlet of ``table`` and test its effect on the objective (module docstring).

    model: a :class:`~seqnn_engine.model.SeqModel`; x: (S, L, 4) the sequences the seqlets were called
    on (row ``table.seq[i]``, input positions ``[table.start[i], table.end[i])``).
    targets, positions, statistic, pseudocount, untransform, rc, shifts: the objective and ensemble of
    the attribution (as in ``model.attribute``), so that the knock-out measures the same quantity.
    n_shuffles: random replacements per span (K >= 1), averaged; n_null: null spans per sequence
    (>= 1; the pooled null has ``S * n_null`` values and bounds the smallest p-value);
    alpha: FDR level of ``verified`` (0 < alpha < 1); min_effect: also require ``|effect| >= min_effect``
    (objective units, >= 0; default 0); min_fraction: also require ``|effect| >= min_fraction * |f(x)|``
    of the seqlet's sequence (0 <= min_fraction <= 1; default 0); min_share: also require the knock-out to
    reproduce at least this share of the seqlet's summed contribution, ``-sign * effect >= min_share *
    |score|`` (>= 0; default 0; meaningful for mean-centred gradient attributions, see the module
    docstring); seed: every random draw (null spans, then the
    replacements, in table order) comes from ``numpy.random.default_rng(seed)``, so results do not
    depend on ``batch_size``. progress(done, total) counts forward passes of knocked-out sequences.

    Returns a :class:`KnockoutTable` with one row per seqlet.
    """
    import time

    from .. import memory
    from ..attribution.engine import MemberRunner
    from ..attribution.objective import make_objective

    t0 = time.perf_counter()
    x = model.check_input(x)
    S, L = x.shape[:2]
    if int(n_shuffles) < 1:
        raise InputError(f"n_shuffles must be >= 1 (random replacements per seqlet), got {n_shuffles}")
    if int(n_null) < 1:
        raise InputError(f"n_null must be >= 1 (null knock-outs per sequence), got {n_null}")
    if not 0 < float(alpha) < 1:
        raise InputError(f"alpha must be between 0 and 1, got {alpha}")
    if not np.isfinite(float(min_effect)) or float(min_effect) < 0:
        raise InputError(f"min_effect must be a number >= 0 (objective units), got {min_effect}")
    if not 0 <= float(min_fraction) <= 1:
        raise InputError(f"min_fraction must be in [0, 1] (a share of the sequence's objective), got {min_fraction}")
    if not np.isfinite(float(min_share)) or float(min_share) < 0:
        raise InputError(f"min_share must be a number >= 0 (a share of the seqlet's summed contribution), "
                         f"got {min_share}")
    if int(batch_size) < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    n_shuffles, n_null = int(n_shuffles), int(n_null)
    N = len(table)
    if N and (int(table.seq.max()) >= S or int(table.seq.min()) < 0):
        raise InputError(f"the seqlets refer to sequence {int(table.seq.max())} but x holds {S} sequences: "
                         "give the sequences the seqlets were called on")
    if N and (int(table.start.min()) < 0 or int(table.end.max()) > L or np.any(table.end <= table.start)):
        raise InputError(f"seqlet spans must lie within the {L} bp sequences with start < end")
    sl = table.settings.get("seq_length") if getattr(table, "settings", None) else None
    if sl and int(sl) != L:
        raise InputError(f"the seqlets were called on {sl} bp sequences but x is {L} bp")
    obj = make_objective(model, S, targets, positions, statistic, pseudocount, untransform)
    runner = MemberRunner(model, obj, rc, shifts, 0, 0, batch_size)
    E = len(runner.members)
    plan = memory.predict_plan(model, 1, n_members=E, n_targets=len(obj.selected_targets), batch_size=batch_size)
    runner.batch_size = plan.batch_size

    rng = np.random.default_rng(int(seed))
    if N:
        ns, na, nb = null_spans(table, S, L, n_null, rng)
    else:
        ns = na = nb = np.zeros(0, np.int64)
    # every knocked-out span: the seqlets, then the null spans, each n_shuffles times
    span_seq = np.concatenate([np.asarray(table.seq, np.int64), ns])
    span_a = np.concatenate([np.asarray(table.start, np.int64), na])
    span_b = np.concatenate([np.asarray(table.end, np.int64), nb])
    n_items = span_seq.size * n_shuffles
    base = runner.run(x, np.arange(S), need_grad=False)[0].astype(np.float64)
    deltas = np.zeros(n_items, np.float64)
    eye = np.eye(4, dtype=np.float32)
    chunk = max(runner.batch_size, min(1024, INPUT_CHUNK_BYTES // max(1, L * 4 * 4)))
    done = 0
    repl = np.empty(N, dtype=object)
    for i in range(N):
        repl[i] = np.zeros((n_shuffles, int(span_b[i] - span_a[i])), np.uint8)
    for c0 in range(0, n_items, chunk):
        items = np.arange(c0, min(n_items, c0 + chunk))
        k_span = items // n_shuffles
        xs = x[span_seq[k_span]].copy()
        for j, k in enumerate(k_span):
            a, b = int(span_a[k]), int(span_b[k])
            bases = rng.integers(0, 4, b - a)
            xs[j, a:b] = eye[bases]
            if k < N:
                repl[k][items[j] % n_shuffles] = bases
        f = runner.run(xs, span_seq[k_span], need_grad=False)[0].astype(np.float64)
        deltas[items] = f - base[span_seq[k_span]]
        done += items.size
        if progress is not None:
            progress(done, n_items)
    d = deltas.reshape(-1, n_shuffles)
    mean = d.mean(1)
    sd = d.std(1, ddof=1) if n_shuffles > 1 else np.zeros(d.shape[0])
    desc = dict(obj.describe(), rc=bool(rc), shifts=[int(v) for v in np.atleast_1d(shifts)], n_null=n_null,
                replacement="uniform random bases")
    desc.pop("n_bins", None)
    return verdict(table, mean[:N], sd[:N], base, mean[N:], (ns, na, nb), replacement_bases=repl, alpha=alpha,
                   min_effect=min_effect, min_fraction=min_fraction, min_share=min_share, n_shuffles=n_shuffles,
                   seed=seed, objective=desc, seconds=time.perf_counter() - t0)


def verdict(table, effect: np.ndarray, effect_sd: np.ndarray, base: np.ndarray, null_effect: np.ndarray,
            null: tuple, *, replacement_bases=None, alpha: float = DEFAULT_ALPHA, min_effect: float = 0.0,
            min_fraction: float = 0.0, min_share: float = 0.0, n_shuffles: int = DEFAULT_N_SHUFFLES,
            seed: int = 0, objective: Optional[dict] = None, seconds: float = 0.0) -> KnockoutTable:
    """The :class:`KnockoutTable` of measured knock-out effects: p-values against the null, BH q-values and
    the ``verified`` rule of the module docstring.

    table: the N seqlets (``seq``, ``sign``, ``score``); effect, effect_sd: (N,) mean knock-out effects and
    their spread over the replacements; base: (S,) f(x) of each sequence; null_effect: (M,) mean effects of
    the null spans; null: (seq, start, end), each (M,), the null spans. Used by :func:`knockout_seqlets` and
    to judge effects averaged over several models knocked out identically (the same ``seed``: the same spans
    and replacements), e.g. the replicates of an ensemble.
    """
    effect = np.asarray(effect, np.float64)
    null_effect = np.asarray(null_effect, np.float64)
    base = np.asarray(base, np.float64)
    N = effect.shape[0]
    if N != len(table):
        raise InputError(f"{N} knock-out effects for {len(table)} seqlets")
    p = empirical_pvalues(effect, null_effect) if N else np.zeros(0)
    q = bh_qvalues(p)
    significant = (q <= float(alpha)) & (np.abs(effect) >= float(min_effect))
    if N and float(min_fraction) > 0:
        significant &= np.abs(effect) >= float(min_fraction) * np.abs(base[np.asarray(table.seq, np.int64)])
    share = knockout_share(table.sign, table.score, effect)
    if N and float(min_share) > 0:
        significant &= np.nan_to_num(np.abs(share), nan=0.0) >= float(min_share)
    verified = significant & sign_agrees(table.sign, effect)
    ns, na, nb = (np.asarray(v, np.int64) for v in null)
    return KnockoutTable(effect=effect, effect_sd=np.asarray(effect_sd, np.float64), p_value=p, q_value=q,
                         verified=verified, significant=significant, base=base, null_seq=ns, null_start=na,
                         null_end=nb, null_effect=null_effect, replacement_bases=replacement_bases,
                         alpha=float(alpha), min_effect=float(min_effect), min_fraction=float(min_fraction),
                         share=share, min_share=float(min_share), n_shuffles=int(n_shuffles), seed=int(seed),
                         objective=dict(objective or {}), seconds=float(seconds))
