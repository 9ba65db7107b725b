"""Per-target accuracy of predictions against targets, streamed or in memory.

Both entry points compute the same :class:`Accuracy`:

* :class:`AccuracyAccumulator` sees batches ``(pred (B, P, T), true (B, P, T))`` one at a time and
  keeps O(T) state (plus a bounded sample for Spearman), so test sets larger than memory work;
* :func:`accuracy_in_memory` takes the full ``(S, P, T)`` arrays and uses numpy/scipy directly.
  It is the independent check of the streamed numbers (they agree to ~1e-12 in float64).

Definitions (per target, over all positions of all sequences, i.e. ``S * P`` values):

``pearsonr``
    Pearson correlation of prediction and target; NaN when either is constant.
``r2``
    Coefficient of determination ``1 - SS_res / SS_tot`` with ``SS_res = sum (y - yhat)^2`` and
    ``SS_tot = sum (y - mean y)^2`` (Baskerville's ``metrics.R2``, reported by ``hound_eval``).
    NaN when the target is constant.
``var_explained``
    ``1 - Var(y - yhat) / Var(y)``: the TF1 Basenji ``Accuracy.r2``. It ignores a constant offset
    between prediction and target, so it equals ``r2`` only when the residuals have mean zero.
``spearmanr``
    Spearman rank correlation on the raw values (log and clip are not applied, as in the
    reference). Exact when ``S * P * T`` fits ``spearman_budget`` values; otherwise computed on a
    uniform reservoir sample of positions (the same sampled positions for every target; fixed
    seed, so deterministic) and :attr:`Accuracy.spearman_exact` is False.
``poisson``
    Mean Poisson loss on the raw values, ``mean(yhat - y * log(yhat + 1e-7))`` (the Keras/Baskerville
    form without the constant ``log(y!)``; lower is better; it can be negative).

Options ``clip`` and ``log`` follow the original ``Accuracy``: values are clipped to ``[0, clip]``,
then transformed with ``log2(x + pseudocount)``, before ``pearsonr``, ``r2`` and ``var_explained``.

Numerics: every batch is promoted to float64. The streamed state is the count, the means, the
centred sums of squares and the co-moment (merged batch by batch with Chan's parallel update,
which is equivalent to keeping sum x, sum y, sum xx, sum yy and sum xy but does not lose digits
when the mean is large against the spread), the raw sum of squared residuals and the Poisson sum.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError

POISSON_EPSILON = 1e-7
DEFAULT_SPEARMAN_BUDGET = 1 << 24  # values per array kept for Spearman (x2 arrays)

METRIC_NAMES = ("pearsonr", "r2", "var_explained", "spearmanr", "poisson")


@dataclass(frozen=True)
class Accuracy:
    """Per-target accuracy.

    pearsonr, r2, var_explained, spearmanr, poisson: (T,) float64 (see the module docstring).
    num_positions: values per target that entered the metrics (S * P).
    spearman_positions: positions per target used for Spearman (== num_positions when exact).
    spearman_exact: whether Spearman used every position.
    log, pseudocount, clip: the options the accumulator used.
    """

    pearsonr: np.ndarray
    r2: np.ndarray
    var_explained: np.ndarray
    spearmanr: np.ndarray
    poisson: np.ndarray
    num_positions: int
    spearman_positions: int
    spearman_exact: bool
    log: bool = False
    pseudocount: float = 1.0
    clip: float | None = None

    @property
    def num_targets(self) -> int:
        return int(self.pearsonr.shape[0])

    def summary(self) -> dict[str, dict[str, float]]:
        """``{metric: {"mean": ..., "median": ...}}`` over targets, ignoring NaN targets."""
        out: dict[str, dict[str, float]] = {}
        for name in METRIC_NAMES:
            v = np.asarray(getattr(self, name), dtype=np.float64)
            ok = v[np.isfinite(v)]
            out[name] = {
                "mean": float(ok.mean()) if ok.size else math.nan,
                "median": float(np.median(ok)) if ok.size else math.nan,
            }
        return out

    def rows(
        self,
        index: Sequence[int] | None = None,
        identifiers: Sequence[str] | None = None,
        descriptions: Sequence[str] | None = None,
    ) -> list[dict]:
        """One dict per target: index, identifier, description and every metric."""
        T = self.num_targets
        index = list(range(T)) if index is None else list(index)
        identifiers = [str(i) for i in index] if identifiers is None else list(identifiers)
        descriptions = list(identifiers) if descriptions is None else list(descriptions)
        if not (len(index) == len(identifiers) == len(descriptions) == T):
            raise InputError(
                f"target table has {len(index)}/{len(identifiers)}/{len(descriptions)} rows for "
                f"{T} evaluated targets"
            )
        rows = []
        for t in range(T):
            row = {"index": int(index[t]), "identifier": identifiers[t], "description": descriptions[t]}
            for name in METRIC_NAMES:
                row[name] = float(getattr(self, name)[t])
            rows.append(row)
        return rows


def write_accuracy_tsv(
    path: str | Path,
    acc: Accuracy,
    index: Sequence[int] | None = None,
    identifiers: Sequence[str] | None = None,
    descriptions: Sequence[str] | None = None,
) -> Path:
    """Write one row per target (tab-separated, header first); metrics with 8 decimals, NaN as ``nan``."""
    cols = ("index", "identifier", "description") + METRIC_NAMES
    out = Path(path)
    lines = ["\t".join(cols)]
    for row in acc.rows(index, identifiers, descriptions):
        cells = []
        for c in cols:
            v = row[c]
            if isinstance(v, float):
                cells.append("nan" if math.isnan(v) else f"{v:.8f}")
            else:
                cells.append(str(v).replace("\t", " ").replace("\n", " "))
        lines.append("\t".join(cells))
    from ..io.atomic import write_text_atomic
    write_text_atomic(out, "\n".join(lines) + "\n")   # an interrupted write never leaves half a table
    return out


def _transform(x: np.ndarray, log: bool, pseudocount: float, clip: float | None) -> np.ndarray:
    if clip is not None:
        x = np.clip(x, 0.0, clip)
    if log:
        x = np.log2(x + pseudocount)
    return x


def _check_pair(pred, true, num_targets: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred)
    t = np.asarray(true)
    if p.shape != t.shape:
        raise InputError(f"predictions {p.shape} and targets {t.shape} differ in shape")
    if p.ndim < 1 or p.shape[-1] < 1:
        raise InputError(f"expected arrays (..., T) with at least one target, got {p.shape}")
    if num_targets is not None and p.shape[-1] != num_targets:
        raise InputError(f"expected {num_targets} targets, got arrays of shape {p.shape}")
    T = p.shape[-1]
    return p.reshape(-1, T).astype(np.float64), t.reshape(-1, T).astype(np.float64)


class AccuracyAccumulator:
    """Streaming per-target accuracy (see the module docstring for definitions).

    num_targets: T.
    log, pseudocount, clip: transform for pearsonr / r2 / var_explained (as the original Accuracy).
    spearman_budget: how many values of each of prediction and target to keep for Spearman
        (positions x targets); beyond it a uniform reservoir of positions is kept.
    seed: seed of the reservoir sampler.
    """

    def __init__(
        self,
        num_targets: int,
        log: bool = False,
        pseudocount: float = 1.0,
        clip: float | None = None,
        spearman_budget: int = DEFAULT_SPEARMAN_BUDGET,
        seed: int = 0,
    ):
        if int(num_targets) < 1:
            raise InputError(f"num_targets must be at least 1, got {num_targets}")
        self.num_targets = T = int(num_targets)
        self.log = bool(log)
        self.pseudocount = float(pseudocount)
        self.clip = None if clip is None else float(clip)
        self.n = 0
        self._mean_p = np.zeros(T)
        self._mean_t = np.zeros(T)
        self._m2_p = np.zeros(T)
        self._m2_t = np.zeros(T)
        self._co = np.zeros(T)
        self._ss_res = np.zeros(T)
        self._poisson = np.zeros(T)
        # Spearman sample: rows are positions, columns targets
        self._cap = max(1, int(spearman_budget) // T)
        self._chunks_p: list[np.ndarray] = []
        self._chunks_t: list[np.ndarray] = []
        self._res_p: np.ndarray | None = None  # (cap, T) once in reservoir mode
        self._res_t: np.ndarray | None = None
        self._rng = np.random.default_rng(seed)
        self._store_dtype: np.dtype | None = None

    # -- update -----------------------------------------------------------------------

    def update(self, pred, true) -> None:
        """Add a batch: pred and true of equal shape ``(..., T)`` (e.g. ``(B, P, T)``)."""
        p_raw = np.asarray(pred)
        t_raw = np.asarray(true)
        p, t = _check_pair(p_raw, t_raw, self.num_targets)
        nb = p.shape[0]
        if nb == 0:
            return
        self._update_spearman(p_raw.reshape(-1, self.num_targets), t_raw.reshape(-1, self.num_targets))

        with np.errstate(invalid="ignore", divide="ignore"):  # negative predictions: NaN loss
            self._poisson += (p - t * np.log(p + POISSON_EPSILON)).sum(axis=0)

        p = _transform(p, self.log, self.pseudocount, self.clip)
        t = _transform(t, self.log, self.pseudocount, self.clip)
        self._ss_res += np.square(t - p).sum(axis=0)

        mp_b = p.mean(axis=0)
        mt_b = t.mean(axis=0)
        dp_b = p - mp_b
        dt_b = t - mt_b
        m2p_b = np.einsum("ij,ij->j", dp_b, dp_b)
        m2t_b = np.einsum("ij,ij->j", dt_b, dt_b)
        co_b = np.einsum("ij,ij->j", dp_b, dt_b)

        n_a = self.n
        n = n_a + nb
        dp = mp_b - self._mean_p
        dt = mt_b - self._mean_t
        w = n_a * nb / n
        self._mean_p += dp * (nb / n)
        self._mean_t += dt * (nb / n)
        self._m2_p += m2p_b + dp * dp * w
        self._m2_t += m2t_b + dt * dt * w
        self._co += co_b + dp * dt * w
        self.n = n

    def _update_spearman(self, p: np.ndarray, t: np.ndarray) -> None:
        if self._store_dtype is None:
            self._store_dtype = np.result_type(p.dtype, t.dtype, np.float32)
        p = p.astype(self._store_dtype, copy=False)
        t = t.astype(self._store_dtype, copy=False)
        seen = self.n  # positions seen before this batch
        nb = p.shape[0]
        if self._res_p is None:
            room = self._cap - seen
            if nb <= room:
                self._chunks_p.append(p.copy())
                self._chunks_t.append(t.copy())
                return
            # fill the reservoir, then switch to sampling
            self._chunks_p.append(p[:room].copy())
            self._chunks_t.append(t[:room].copy())
            self._res_p = np.concatenate(self._chunks_p)
            self._res_t = np.concatenate(self._chunks_t)
            self._chunks_p, self._chunks_t = [], []
            p, t = p[room:], t[room:]
            seen += room
            nb = p.shape[0]
        # Algorithm R: row with global index i replaces slot j ~ U{0..i} when j < cap
        gi = seen + np.arange(nb)
        j = self._rng.integers(0, gi + 1)
        keep = np.flatnonzero(j < self._cap)
        if keep.size == 0:
            return
        # later rows overwrite earlier ones in the same slot: keep the last row per slot
        slots = j[keep]
        rev_slots = slots[::-1]
        _, first_in_rev = np.unique(rev_slots, return_index=True)
        last = keep[::-1][first_in_rev]
        self._res_p[j[last]] = p[last]
        self._res_t[j[last]] = t[last]

    # -- result -----------------------------------------------------------------------

    def result(self) -> Accuracy:
        """The accuracy of everything added so far (the accumulator stays usable)."""
        if self.n == 0:
            raise InputError("no predictions were accumulated: the test set is empty")
        n = self.n
        with np.errstate(divide="ignore", invalid="ignore"):
            denom = np.sqrt(self._m2_p * self._m2_t)
            r = np.where(denom > 0, self._co / np.where(denom > 0, denom, 1.0), np.nan)
            r = np.clip(r, -1.0, 1.0)
            tot = self._m2_t
            r2 = np.where(tot > 0, 1.0 - self._ss_res / np.where(tot > 0, tot, 1.0), np.nan)
            res_mean = self._mean_t - self._mean_p
            res_var = self._ss_res / n - res_mean * res_mean
            ve = np.where(tot > 0, 1.0 - res_var / np.where(tot > 0, tot / n, 1.0), np.nan)
        if self._res_p is None:
            sp_p = np.concatenate(self._chunks_p) if self._chunks_p else np.zeros((0, self.num_targets))
            sp_t = np.concatenate(self._chunks_t) if self._chunks_t else np.zeros((0, self.num_targets))
            exact = True
        else:
            sp_p, sp_t = self._res_p, self._res_t
            exact = False
        rho = _spearman_columns(sp_p, sp_t)
        return Accuracy(
            pearsonr=r, r2=r2, var_explained=ve, spearmanr=rho, poisson=self._poisson / n,
            num_positions=int(n), spearman_positions=int(sp_p.shape[0]), spearman_exact=exact,
            log=self.log, pseudocount=self.pseudocount, clip=self.clip,
        )


def _spearman_columns(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spearman rho of each column pair (scipy; NaN for constant columns)."""
    from scipy.stats import spearmanr

    T = p.shape[1]
    out = np.full(T, np.nan)
    if p.shape[0] < 2:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(T):
            out[k] = spearmanr(t[:, k], p[:, k])[0]
    return out


def accuracy_in_memory(
    preds,
    trues,
    log: bool = False,
    pseudocount: float = 1.0,
    clip: float | None = None,
) -> Accuracy:
    """The same metrics as :class:`AccuracyAccumulator`, from full arrays (numpy/scipy, exact).

    preds, trues: equal shapes ``(S, P, T)`` (or ``(N, T)``); any float dtype.
    """
    from scipy.stats import pearsonr

    p_raw, t_raw = np.asarray(preds), np.asarray(trues)
    p, t = _check_pair(p_raw, t_raw)
    n, T = p.shape
    if n == 0:
        raise InputError("no predictions given: the arrays are empty")
    with np.errstate(invalid="ignore", divide="ignore"):
        poisson = np.mean(p - t * np.log(p + POISSON_EPSILON), axis=0)
    pt = _transform(p, log, pseudocount, clip)
    tt = _transform(t, log, pseudocount, clip)
    r = np.full(T, np.nan)
    r2 = np.full(T, np.nan)
    ve = np.full(T, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(T):
            x, y = pt[:, k], tt[:, k]
            ss_tot = np.sum((y - y.mean()) ** 2)
            if n >= 2 and np.ptp(x) > 0 and np.ptp(y) > 0:
                r[k] = pearsonr(y, x)[0]
            if ss_tot > 0:
                r2[k] = 1.0 - np.sum((y - x) ** 2) / ss_tot
                ve[k] = 1.0 - np.var(y - x) / np.var(y)
    rho = _spearman_columns(p_raw.reshape(n, T), t_raw.reshape(n, T))
    return Accuracy(
        pearsonr=r, r2=r2, var_explained=ve, spearmanr=rho, poisson=poisson,
        num_positions=int(n), spearman_positions=int(n), spearman_exact=True,
        log=bool(log), pseudocount=float(pseudocount), clip=None if clip is None else float(clip),
    )
