"""Objectives: which targets and bins an attribution explains, and how they are summarised.

Reference semantics (GUIDE §3): objective = statistic( sum over selected bins of the
mean over selected targets of the prediction ); ``sum`` is raw, ``mean`` divides by
the number of selected bins, ``log`` is log(x + pseudocount + 1e-6). Optionally the
predictions are first untransformed to the original track scale (undo soft clip,
undo the power transform, divide by scale) as described by targets.txt.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from ..errors import InputError

STATISTICS = ("sum", "mean", "log")


def position_mask(positions, n_seqs: int, n_bins: int) -> np.ndarray:
    """Bins selector -> (S, P) float32 mask.

    positions: None (all bins) | 'center' (the 2 central bins) | 1-D int array
    (same bins for every sequence) | 2-D (S, k) int array (per sequence) | bool
    mask (P,) or (S, P).
    """
    if positions is None or (isinstance(positions, str) and positions == "all"):
        return np.ones((n_seqs, n_bins), np.float32)
    if isinstance(positions, str):
        if positions == "center":
            m = np.zeros((n_seqs, n_bins), np.float32)
            c = n_bins // 2
            m[:, max(0, c - 1):c + 1] = 1
            return m
        raise InputError(f"positions must be None, 'center', bin indexes or a mask, got {positions!r}")
    p = np.asarray(positions)
    if p.dtype == bool:
        if p.shape == (n_bins,):
            p = np.broadcast_to(p, (n_seqs, n_bins))
        if p.shape != (n_seqs, n_bins):
            raise InputError(f"a bin mask must have shape ({n_bins},) or ({n_seqs}, {n_bins}), got {p.shape}")
        if not p.any(axis=1).all():
            raise InputError("the bin mask selects no bin for some sequence")
        return p.astype(np.float32)
    if p.size == 0 or p.dtype.kind not in "iu":
        raise InputError(f"bins must be integer indexes (0..{n_bins - 1}), got {positions!r}")
    if p.ndim == 1:
        p = np.broadcast_to(p, (n_seqs, p.size))
    if p.ndim != 2 or p.shape[0] != n_seqs:
        raise InputError(f"per-sequence bins must have shape ({n_seqs}, k), got {p.shape}")
    if (p < 0).any() or (p >= n_bins).any():
        raise InputError(f"bin index out of range: the model has {n_bins} output bins (0..{n_bins - 1})")
    m = np.zeros((n_seqs, n_bins), np.float32)
    np.put_along_axis(m, p.astype(np.int64), 1.0, axis=1)
    return m


@dataclass(frozen=True)
class Untransform:
    """Per-target inverse of the training transform, (T,) arrays.

    clip_soft: soft-clip threshold (inf = none); power: exponent undoing the power
    transform (2 for *sqrt, 4/3 for *exp75, 1 otherwise); scale: divide by it.
    """

    clip_soft: np.ndarray
    power: np.ndarray
    scale: np.ndarray

    @classmethod
    def from_targets(cls, table, num_targets: int) -> "Untransform":
        if table is None:
            raise InputError("untransform needs the model's targets.txt (load the model with targets_path or "
                             "from a model directory)")
        power = np.array([2.0 if s.endswith("sqrt") else 4.0 / 3.0 if s.endswith("exp75") else 1.0
                          for s in table.sum_stat], np.float32)
        cs = np.asarray(table.clip_soft, np.float32)
        return cls(np.where(np.isfinite(cs), cs, np.float32(3e38)), power, np.asarray(table.scale, np.float32))

    @classmethod
    def identity(cls, num_targets: int) -> "Untransform":
        return cls(np.full(num_targets, 3e38, np.float32), np.ones(num_targets, np.float32),
                   np.ones(num_targets, np.float32))


def untransform_tf(preds, u_cs, u_pw, u_sc):
    """TF version of the untransform on (B, P, T) predictions (differentiable).

    Where y > clip_soft: y = cs - 1 + (y - cs + 1)^2; then y = (y + 1)^power - 1;
    then y / scale (Baskerville's current data transform, inverted).
    """
    y = tf.where(preds > u_cs, u_cs - 1.0 + tf.square(preds - u_cs + 1.0), preds)
    y = tf.pow(tf.maximum(y + 1.0, 0.0), u_pw) - 1.0
    return y / u_sc


@dataclass
class Objective:
    """A fully resolved objective for S sequences.

    target_weights: (T,) float32, 1/k on the k chosen targets (mean over them).
    bin_mask: (S, P) float32. statistic: 'sum' | 'mean' | 'log'. pseudocount: for 'log'.
    untransform: Untransform or None.
    """

    target_weights: np.ndarray
    bin_mask: np.ndarray
    statistic: str = "sum"
    pseudocount: float = 0.0
    untransform: Untransform | None = None

    @property
    def selected_targets(self) -> np.ndarray:
        """(K,) int64 indexes of the targets the objective averages (nonzero weights)."""
        return np.flatnonzero(self.target_weights)

    @property
    def selected_weights(self) -> np.ndarray:
        """(K,) float32 weights of :attr:`selected_targets` (for gathered (B, P, K) predictions)."""
        return self.target_weights[self.selected_targets]

    def untransform_args(self, gathered: bool = True):
        """(clip_soft, power, scale) arrays of the selected targets (K,) (or all targets (T,) with
        ``gathered=False``), or None without an untransform."""
        u = self.untransform
        if u is None:
            return None
        sel = self.selected_targets if gathered else slice(None)
        return u.clip_soft[sel], u.power[sel], u.scale[sel]

    def weights_for(self, n_columns: int):
        """(target weights, untransform arrays or None) matching predictions with ``n_columns``
        columns: all T targets (``target_weights``) or the K selected ones (gathered)."""
        if n_columns == self.target_weights.size:
            return self.target_weights, self.untransform_args(gathered=False)
        if n_columns == self.selected_targets.size:
            return self.selected_weights, self.untransform_args(gathered=True)
        raise ValueError(f"predictions have {n_columns} targets; the objective needs all "
                         f"{self.target_weights.size} or its {self.selected_targets.size} selected ones")

    def describe(self) -> dict:
        return {"targets": self.selected_targets.tolist(), "statistic": self.statistic,
                "pseudocount": self.pseudocount, "untransform": self.untransform is not None,
                "n_bins": self.bin_mask.sum(1).tolist()}


def make_objective(model, n_seqs: int, targets=None, positions=None, statistic: str = "sum",
                   pseudocount: float = 0.0, untransform: bool = False) -> Objective:
    """Validate and resolve an objective for ``model`` and S sequences."""
    if statistic not in STATISTICS:
        raise InputError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
    tidx = model.check_targets(targets)
    tw = np.zeros(model.num_targets, np.float32)
    np.add.at(tw, tidx, 1.0 / len(tidx))
    mask = position_mask(positions, n_seqs, model.target_length)
    u = Untransform.from_targets(model.targets, model.num_targets) if untransform else None
    return Objective(tw, mask, statistic, float(pseudocount), u)


def objective_tf(preds, tw, pmask, statistic: str, pseudocount, u=None, dtype=tf.float32):
    """Predictions -> (B,) objective (see module docstring), reduced in ``dtype``.

    preds: (B, P, T) all targets with tw (T,), or (B, P, K) gathered targets with tw (K,)
    (``Objective.selected_weights``); u: None or (clip_soft, power, scale) of the same width.
    dtype: float32 (gradients), or float64 where objectives are subtracted (ISM): a sum over
    16,352 bins is ~1e4, where a float32 ulp (~1e-3) would swallow a one-base effect; in
    float64 objective(mutant) - objective(reference) is exact up to the float32 predictions.
    """
    preds = tf.cast(preds, tf.float32)
    if u is not None:
        preds = untransform_tf(preds, *u)
    preds = tf.cast(preds, dtype)
    per_bin = tf.reduce_sum(preds * tf.cast(tw, dtype), axis=-1)            # mean over chosen targets, (B, P)
    pmask = tf.cast(pmask, dtype)
    s = tf.reduce_sum(per_bin * pmask, axis=-1)             # (B,)
    if statistic == "mean":
        return s / tf.maximum(tf.reduce_sum(pmask, axis=-1), 1.0)
    if statistic == "log":
        return tf.math.log(s + tf.cast(pseudocount, dtype) + 1e-6)
    return s


def objective_of_predictions(obj, row: int, preds: np.ndarray) -> np.ndarray:
    """Objective (N,) of forward-orientation predictions with the bins of sequence ``row``.

    preds: (N, P, T) all targets, or (N, P, K) the objective's selected targets
    (``obj.selected_targets``, in that order).
    """
    tw, u = obj.weights_for(preds.shape[-1])
    uargs = None if u is None else tuple(tf.constant(a) for a in u)
    mask = np.repeat(obj.bin_mask[row][None], preds.shape[0], axis=0)
    return objective_tf(tf.constant(preds, tf.float32), tf.constant(tw), tf.constant(mask),
                        obj.statistic, obj.pseudocount, uargs, dtype=tf.float64).numpy()
