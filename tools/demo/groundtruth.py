"""Planted-motif ground truth: do attributions find the sites that drive a demo track?

The demo genome is the one place where the true answer is known: the ChIP-like track of
each driver motif (CTCF, SPI1, CEBPB, REST) is an exact function of the planted sites of
that motif (:mod:`tools.demo.tracks`). This module turns held-out windows of the
demo genome into per-position labels and scores attribution maps against them.

Labels (per window, per driver track; ``int8`` arrays of length ``L``)
------------------------------------------------------------------------
- ``1`` (positive): every base of a planted **driver site of the track's own motif** whose
  centre lies in the window's *output span* ``[crop_bp, L - crop_bp)``, the part of the
  input whose bins the model predicts. Such a site puts at least half of its track bump
  into the objective (all output bins), so it truly drives it.
- ``0`` (negative): background, i.e. every base outside all planted sites.
- ``-1`` (excluded): bases of every other planted site (other drivers; decoys unless the
  ``decoys="negative"`` variant asks for them as negatives), and own-motif sites whose
  centre lies in the cropped margins (their effect on the objective is partial or nil).

Metrics
-------
Per sequence, over the positions with label >= 0: AUROC (rank statistic with average
ranks for ties: the probability that a random positive outscores a random negative,
ties counting one half) and AUPR as step-wise average precision
``sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds taken from the top
(the definition of scikit-learn's ``average_precision_score``). Windows without a
positive (or without a negative) get NaN and are left out of summaries.

Position scores (``(S, L)``) from attribution maps: saliency = L2 norm over ACGT of the
mean-centred gradient; grad x input = |sum_b g_b x_b|; centred grad x input =
|sum_b (g_b - mean g) x_b|; ISM = mean |delta objective| over the 3 substitutions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
from scipy.stats import rankdata

from seqnn_engine.errors import InputError
from . import tracks as tracks_mod

DRIVERS = tracks_mod.DRIVERS
DECOY_MODES = ("exclude", "negative")


# ----------------------------------------------------------------------------- windows


@dataclass
class HeldOutWindows:
    """Held-out demo windows and their one-hot sequence.

    chrom: (S,) str; start: (S,) int64 window start (0-based); x: (S, L, 4) float32
    one-hot (ACGT); crop_bp: bp cut from each side of the input before the output bins
    (``crop * stride``), so the output span is ``[crop_bp, L - crop_bp)`` of each window.
    """

    chrom: np.ndarray
    start: np.ndarray
    x: np.ndarray
    crop_bp: int

    @property
    def length(self) -> int:
        return int(self.x.shape[1])

    def __len__(self) -> int:
        return int(self.x.shape[0])


def held_out_windows(demo_dir, seq_length: int, crop_bp: int, limit: Optional[int] = None) -> HeldOutWindows:
    """Non-overlapping ``seq_length`` windows tiled from position 0 of each test chromosome
    (``test_chroms`` of genome_meta.json; chr3 for the shipped demo: 219 windows of 4096 bp),
    the same windows as the training script's held-out report."""
    from .train import held_out_windows as tile, onehot_windows, read_genome_indices

    seq_length, crop_bp = int(seq_length), int(crop_bp)
    if seq_length <= 0 or not 0 <= 2 * crop_bp < seq_length:
        raise InputError(f"need seq_length > 2 * crop_bp >= 0, got seq_length {seq_length}, crop_bp {crop_bp}")
    wins = tile(demo_dir, seq_length, limit=limit)
    if not wins:
        raise InputError(f"the test chromosomes of {demo_dir} are shorter than one {seq_length} bp window")
    seqs = read_genome_indices(demo_dir, sorted({w[0] for w in wins}))
    chrom = np.array([w[0] for w in wins])
    start = np.array([w[1] for w in wins], np.int64)
    x = onehot_windows(seqs, chrom, start, seq_length)
    return HeldOutWindows(chrom, start, x, crop_bp)


# ----------------------------------------------------------------------------- labels


@dataclass(frozen=True)
class SiteTable:
    """Planted sites of one chromosome, sorted by start: start, end (K,) int64 (BED,
    0-based half-open); name (K,) str motif; driver (K,) bool (role == driver)."""

    start: np.ndarray
    end: np.ndarray
    name: np.ndarray
    driver: np.ndarray


def site_tables(demo_dir) -> dict[str, SiteTable]:
    """Per-chromosome planted sites of a demo directory's motif_sites.bed."""
    ann = tracks_mod.load_annotation(demo_dir)
    return {c: SiteTable(a.site_start, a.site_end, a.site_name.astype(str), a.site_driver) for c, a in ann.items()}


def window_labels(sites: SiteTable, start: int, length: int, motif: str, crop_bp: int,
                  decoys: str = "exclude") -> np.ndarray:
    """(length,) int8 labels of the window ``[start, start + length)`` for ``motif``'s track:
    1 own-motif driver site centred in the output span, 0 background, -1 excluded (see the
    module docstring). ``decoys='negative'`` labels decoy-site bases 0 instead of -1."""
    if decoys not in DECOY_MODES:
        raise InputError(f"decoys must be one of {DECOY_MODES}, got {decoys!r}")
    start, length, crop_bp = int(start), int(length), int(crop_bp)
    lab = np.zeros(length, np.int8)
    near = (sites.end > start) & (sites.start < start + length)
    lo_out, hi_out = start + crop_bp, start + length - crop_bp
    for s, e, name, drv in zip(sites.start[near], sites.end[near], sites.name[near], sites.driver[near]):
        a, b = max(int(s) - start, 0), min(int(e) - start, length)
        centre = (int(s) + int(e)) / 2.0
        if drv and name == motif and lo_out <= centre < hi_out:
            lab[a:b] = 1
        elif not drv and decoys == "negative":
            lab[a:b] = 0
        else:
            lab[a:b] = -1
    return lab


def label_matrix(windows: HeldOutWindows, sites: dict[str, SiteTable], motif: str,
                 decoys: str = "exclude") -> np.ndarray:
    """(S, L) int8 labels of every window for ``motif``'s track (see :func:`window_labels`)."""
    if motif not in DRIVERS:
        raise InputError(f"ground truth exists for the driver tracks {DRIVERS}, not {motif!r}")
    empty = SiteTable(*(np.zeros(0, t) for t in (np.int64, np.int64, str, bool)))
    return np.stack([window_labels(sites.get(c, empty), s, windows.length, motif, windows.crop_bp, decoys)
                     for c, s in zip(windows.chrom, windows.start)])


# ----------------------------------------------------------------------------- metrics


def _scored(scores, labels):
    s = np.asarray(scores, np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise InputError(f"scores and labels differ in size: {s.size} vs {y.size}")
    keep = y >= 0
    return s[keep], y[keep] == 1


def auroc(scores, labels) -> float:
    """Area under the ROC curve of ``scores`` for labels 1 vs 0 (label < 0 ignored); ties
    count one half (average ranks). NaN when either class is empty."""
    s, pos = _scored(scores, labels)
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[pos].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def average_precision(scores, labels) -> float:
    """Step-wise average precision ``sum_k (R_k - R_{k-1}) P_k`` over distinct thresholds
    (highest first) for labels 1 vs 0 (label < 0 ignored). NaN when there is no positive."""
    s, pos = _scored(scores, labels)
    n1 = int(pos.sum())
    if n1 == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, pos = s[order], pos[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]   # end of each tie group
    tp = np.cumsum(pos)[last]
    precision = tp / (last + 1.0)
    recall = tp / n1
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


@dataclass
class SequenceMetrics:
    """Per-sequence ranking metrics of one (S, L) score map against (S, L) labels.

    auroc, aupr: (S,) float64, NaN for sequences without a positive (or negative);
    n_pos, n_neg: (S,) int64 scored positions of each class.
    """

    auroc: np.ndarray
    aupr: np.ndarray
    n_pos: np.ndarray
    n_neg: np.ndarray

    def summary(self) -> dict:
        """mean / median of AUROC and AUPR over sequences with a positive, and their count."""
        ok = np.isfinite(self.auroc)
        if not ok.any():
            return {"n": 0, "auroc_mean": float("nan"), "auroc_median": float("nan"),
                    "aupr_mean": float("nan"), "aupr_median": float("nan")}
        return {"n": int(ok.sum()),
                "auroc_mean": float(np.mean(self.auroc[ok])), "auroc_median": float(np.median(self.auroc[ok])),
                "aupr_mean": float(np.mean(self.aupr[ok])), "aupr_median": float(np.median(self.aupr[ok]))}


def per_sequence_metrics(scores, labels) -> SequenceMetrics:
    """AUROC and AUPR of each row of ``scores`` (S, L) against ``labels`` (S, L)."""
    scores, labels = np.asarray(scores), np.asarray(labels)
    if scores.ndim != 2 or scores.shape != labels.shape:
        raise InputError(f"scores and labels must both be (S, L), got {scores.shape} and {labels.shape}")
    n_pos = (labels == 1).sum(1).astype(np.int64)
    n_neg = (labels == 0).sum(1).astype(np.int64)
    roc = np.full(len(scores), np.nan)
    ap = np.full(len(scores), np.nan)
    for i in np.flatnonzero((n_pos > 0) & (n_neg > 0)):
        roc[i] = auroc(scores[i], labels[i])
        ap[i] = average_precision(scores[i], labels[i])
    return SequenceMetrics(roc, ap, n_pos, n_neg)


# ----------------------------------------------------------------------------- position scores


def gradient_position_scores(grad: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
    """(S, L) position scores from one raw (uncentred) input gradient ``grad`` (S, L, 4):
    'saliency' (L2 over ACGT of the centred gradient), 'grad_x_input' (|g . x|) and
    'centred_grad_x_input' (|(g - mean_b g) . x|). These equal ``model.attribute``'s
    saliency / grad_x_input maps summarised per position (magnitudes)."""
    grad = np.asarray(grad, np.float32)
    if grad.shape != np.shape(x):
        raise InputError(f"gradient {grad.shape} and input {np.shape(x)} differ in shape")
    centred = grad - grad.mean(-1, keepdims=True)
    return {"saliency": np.sqrt((centred ** 2).sum(-1)),
            "grad_x_input": np.abs((grad * x).sum(-1)),
            "centred_grad_x_input": np.abs((centred * x).sum(-1))}


def attribution_position_scores(attribution) -> np.ndarray:
    """(S, L) magnitude per position of an :class:`~seqnn_engine.attribution.input_attr.Attribution`
    (its ``position_scores()``: L2 for saliency/SmoothGrad, mean |delta| for ISM; the
    absolute value of the signed sums of grad x input and integrated gradients)."""
    return np.abs(attribution.position_scores())


@dataclass
class IsmScores:
    """Whole-input ISM of several targets at once, from one pass over all mutants.

    forward: (S, L, T) mean |delta| over the 3 substitutions of the objective "sum over
    all output bins of target t" (forward strand only); rc: (S, L, T) the same with the
    objective averaged over the forward and reverse-complement members (the RC
    ensemble); targets: (T,) target indexes; seconds: wall time.
    """

    forward: np.ndarray
    rc: np.ndarray
    targets: np.ndarray
    seconds: float


def ism_scores(model, x, targets, window=None, batch_size: int = 64,
               progress: Optional[Callable[[int, int], None]] = None) -> IsmScores:
    """ISM at every position of ``window`` = (start, end) bp (default the whole input) of
    every sequence of x (S, L, 4) for several targets; positions outside it score 0.

    Every single-base substitution is predicted once forward and once reverse-complemented;
    each target's objective is the sum over all output bins, so one pass serves all
    targets and both ensembles. Models made of local layers predict the mutants
    incrementally (``attribution.incremental_ism``, exact); others at full length
    (``model.predict(rc=True, return_all=True)``). Equal to
    ``model.attribute(x, 'ism', targets=[t], rc=..., statistic='sum')`` per target.
    """
    import time

    from seqnn_engine.model import ensemble as ens
    from seqnn_engine.attribution import incremental_ism
    from seqnn_engine.attribution.input_attr import ism_mutants, ism_substitutions

    x = model.check_input(x)
    t_idx = model.check_targets(targets)
    S, L = x.shape[:2]
    w0, w1 = (0, L) if window is None else (int(window[0]), int(window[1]))
    if not 0 <= w0 < w1 <= L:
        raise InputError(f"ISM window {window} must satisfy 0 <= start < end <= {L}")
    t0 = time.perf_counter()
    incremental = incremental_ism.supports(model)
    fwd = np.zeros((S, L, len(t_idx)), np.float32)
    both = np.zeros((S, L, len(t_idx)), np.float32)
    for s in range(S):
        pos, base = ism_substitutions(x[s], w0, w1)
        counts = np.bincount(pos, minlength=L).astype(np.float32)
        if incremental:
            parts = [incremental_ism.mutant_predictions(model, x[s], pos, base, mem, batch_size=batch_size * 4)
                     for mem in (ens.Member(False, 0), ens.Member(True, 0))]
            ref_obj = np.stack([p.ref[:, t_idx].sum(0) for p in parts], -1)               # (T, 2)
            obj = np.stack([p.preds[..., t_idx].sum(1) for p in parts], -1)              # (M, T, 2)
            if progress is not None:
                progress(s + 1, S)
        else:
            ref = model.predict(x[s:s + 1], rc=True, return_all=True, target_indexes=t_idx, batch_size=batch_size)
            ref_obj = ref.members.sum(1)[0]                                               # (T, 2) forward, rc
            prog = None if progress is None else (lambda d, t, s=s: progress(s * t + d, S * t))
            muts = ism_mutants(x[s], w0, w1)[0]
            p = model.predict(muts, rc=True, return_all=True, target_indexes=t_idx, batch_size=batch_size,
                              progress=prog)
            obj = p.members.sum(1)                                                        # (M, T, 2)
        delta = obj - ref_obj[None]
        d_fwd = np.abs(delta[..., 0])
        d_ens = np.abs(delta.mean(-1))
        for arr, d in ((fwd, d_fwd), (both, d_ens)):
            for t in range(len(t_idx)):
                arr[s, :, t] = np.bincount(pos, weights=d[:, t], minlength=L) / np.maximum(counts, 1)
    return IsmScores(fwd, both, t_idx, time.perf_counter() - t0)


# ----------------------------------------------------------------------------- control


def untrained_model(params_path, seed: int = 0, targets_path=None, precision: str = "float32"):
    """The architecture of ``params_path`` with seeded random initial weights (the control:
    same geometry and objective, no training): ``load_model(params_path, None, seed=seed)``.
    Same seed -> same weights."""
    from seqnn_engine.model.seqmodel import load_model

    return load_model(params_path, None, targets_path=targets_path, seed=int(seed), precision=precision,
                      name=f"untrained (random init, seed {int(seed)})")


def driver_target_indexes(model, motifs=DRIVERS) -> dict[str, int]:
    """Target index of each driver track, looked up by identifier in the model's targets.txt."""
    if model.targets is None:
        raise InputError("the model has no targets table: load it from the demo directory (targets.txt)")
    ids = [str(i) for i in model.targets.identifier]
    missing = [m for m in motifs if m not in ids]
    if missing:
        raise InputError(f"targets.txt lacks the driver track(s) {missing}; it has {ids}")
    return {m: ids.index(m) for m in motifs}

