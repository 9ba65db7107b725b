"""Input attributions: saliency, grad x input, SmoothGrad, integrated gradients, ISM.

All methods explain the same objective (see objective.py) and are ensemble-aware
(rc, shifts, mc_n): gradients of every member are un-augmented to the original
input before averaging; ISM and IG objectives are ensemble means.

Shapes: x (S, L, 4); scores, hypothetical (S, L, 4); objective (S,).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from .. import ensemble as ens
from .. import limits as _limits
from .. import memory as _memory
from ..errors import InputError
from . import incremental_ism as _inc
from . import local_ism as _local
from .engine import MemberRunner
from .objective import make_objective, objective_of_predictions
from .shuffle import dinuc_shuffle

METHODS = ("saliency", "grad_x_input", "smoothgrad", "integrated_gradients", "ism")


@dataclass
class Attribution:
    """Result of :func:`attribute`.

    method: the method name. scores: (S, L, 4) float32 — saliency/smoothgrad: the
    (centred) hypothetical gradient; grad_x_input: centred gradient x one-hot;
    integrated_gradients: (x - baseline) x mean path gradient (sums to
    f(x) - f(baseline)); ism: objective(mutant) - objective(reference) for each
    substitution (0 at the reference base and outside the window).
    hypothetical: (S, L, 4) the (centred) gradient (ISM: its centred deltas).
    objective: (S,) objective at x (ensemble mean). var: (S, L, 4) variance of the
    gradient over members or None. members: (S, L, 4, E) or None. window:
    (start, end) bp of the ISM window. diagnostics: named per-sequence arrays.
    """

    method: str
    scores: np.ndarray
    hypothetical: np.ndarray
    objective: np.ndarray
    var: Optional[np.ndarray] = None
    members: Optional[np.ndarray] = None
    window: tuple = (0, 0)
    diagnostics: dict = field(default_factory=dict)
    member_labels: list = field(default_factory=list)
    options: dict = field(default_factory=dict)

    def position_scores(self) -> np.ndarray:
        """(S, L) per-position summary: L2 over ACGT for saliency/smoothgrad, sum for
        grad_x_input / integrated_gradients, mean |delta| over substitutions for ISM."""
        if self.method in ("saliency", "smoothgrad"):
            return np.sqrt((self.scores ** 2).sum(-1))
        if self.method == "ism":
            return np.abs(self.scores).sum(-1) / 3.0
        return self.scores.sum(-1)


def center_acgt(g: np.ndarray) -> np.ndarray:
    """Subtract the mean over A, C, G, T at each position: (..., L, 4)."""
    return g - g.mean(axis=-1, keepdims=True)


def _corr_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.reshape(a.shape[0], -1).astype(np.float64)
    b = b.reshape(b.shape[0], -1).astype(np.float64)
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    return np.where(den > 0, (a * b).sum(1) / np.where(den > 0, den, 1), np.nan).astype(np.float32)


def attribute(model, x, method: str = "saliency", targets=None, positions=None, statistic: str = "sum",
              mean_center_scores: bool = True, rc: bool = False, shifts=(0,), mc_n: int = 0, window=None,
              pseudocount: float = 0.0, untransform: bool = False, n_samples: int = 16,
              noise: float = 0.15, n_steps: int = 32, baseline: str = "zeros", n_baselines: int = 4,
              seed: int = 0, batch_size: int = 4, return_all: bool = False, diagnostics: bool = True,
              progress: Optional[Callable[[int, int], None]] = None, max_ism_bp: Optional[int] = None,
              ism_engine: str = "auto", checkpoint="auto",
              mean_center: Optional[bool] = None) -> Attribution:
    """Input attribution of ``model`` on x (S, L, 4) for one objective.

    method: 'saliency' | 'grad_x_input' | 'smoothgrad' (n_samples noisy copies,
    Gaussian sd = noise) | 'integrated_gradients' (n_steps Gauss-Legendre path points;
    baseline 'zeros' | 'uniform' (0.25) | 'shuffle' (n_baselines dinucleotide
    shuffles, averaged)) | 'ism' (all 3 substitutions at every position of
    ``window`` = (start, end) bp, default the whole input; batched).
    targets: target indexes (mean over them); positions: bins (see
    objective.position_mask); statistic: 'sum' | 'mean' | 'log'.
    mean_center (alias of mean_center_scores): subtract the ACGT mean of gradients.
    max_ism_bp: most ISM window positions (default: seqnn_engine.limits, SEQNN_MAX_ISM_BP).
    ism_engine: how mutants are predicted, all exact: 'incremental' (only the span each
    substitution changes is recomputed, layer by layer; see incremental_ism.py),
    'subwindow' (each mutant on a short sub-window covering the changed bins' receptive
    fields; see local_ism.py), 'full' (every mutant at full length), or 'auto' (the
    first of these the model and ensemble allow: no MC dropout, local layers only).
    checkpoint: True runs input gradients through the checkpointed backward pass (bounded
    memory, one extra forward pass; see checkpoint.py), False through one tape over the whole
    graph, 'auto' (default) checkpoints when seqnn_engine.memory estimates that one tape would
    need more than memory.CHECKPOINT_ABOVE_BYTES or the memory limit. Results agree to float32
    rounding. The estimated peak is checked against SEQNN_MAX_MEMORY_MB first, and the batch
    size is reduced until a batch fits.
    """
    if mean_center is not None:
        mean_center_scores = mean_center
    if method not in METHODS:
        raise InputError(f"unknown attribution method {method!r}; choose one of {', '.join(METHODS)}")
    x = model.check_input(x)
    S, L = x.shape[:2]
    if mc_n and not model.has_dropout:
        raise InputError("MC dropout needs dropout layers, and this model has none: set mc_n to 0")
    obj = make_objective(model, S, targets, positions, statistic, pseudocount, untransform)
    mems = ens.members(rc, shifts, mc_n)
    plan = _memory.attribution_plan(model, method, S, len(mems), batch_size, checkpoint=checkpoint,
                                    mc=mc_n > 0, return_all=return_all, n_samples=n_samples, n_steps=n_steps,
                                    n_baselines=n_baselines if baseline == "shuffle" else 1,
                                    window=window, diagnostics=diagnostics,
                                    n_targets=len(obj.selected_targets))
    runner = MemberRunner(model, obj, rc, shifts, mc_n, seed, plan.batch_size, checkpoint=plan.checkpoint)
    batch_size = plan.batch_size
    E = len(runner.members)
    idx = np.arange(S)
    opts = dict(method=method, targets=np.flatnonzero(obj.target_weights).tolist(), statistic=statistic,
                rc=rc, shifts=list(map(int, np.atleast_1d(shifts))), mc_n=mc_n, untransform=untransform)
    diag = {}
    mem_arr = np.zeros(x.shape + (E,), np.float32) if return_all and method != "ism" else None

    def keep_member(mi, o, g):
        if mem_arr is not None and g is not None:
            mem_arr[..., mi] = center_acgt(g) if mean_center_scores else g

    var = None
    win = (0, L)
    if method in ("saliency", "grad_x_input"):
        f, g, st = runner.run(x, idx, on_member=keep_member, progress=progress)
        var = st.variance().astype(np.float32)
        hyp = center_acgt(g) if mean_center_scores else g
        scores = hyp if method == "saliency" else hyp * x
    elif method == "smoothgrad":
        f, _, _ = runner.run(x, idx, need_grad=False)
        rng = np.random.default_rng(seed)
        reps = np.repeat(x, n_samples, axis=0)
        noisy = reps + rng.normal(0.0, noise, reps.shape).astype(np.float32)
        _, g, st = runner.run(noisy, np.repeat(idx, n_samples), progress=progress)
        g = g.reshape(S, n_samples, L, 4).mean(1)
        hyp = center_acgt(g) if mean_center_scores else g
        scores = hyp
    elif method == "integrated_gradients":
        scores, hyp, f, diag = _integrated_gradients(runner, x, idx, n_steps, baseline, n_baselines, seed,
                                                     mean_center_scores, progress)
    else:
        scores, hyp, f, win = _ism(runner, x, idx, window, max_ism_bp, progress, mean_center_scores,
                                     ism_engine)
    if diagnostics:
        diag.update(_diagnostics(model, runner, x, idx, method, hyp, win, obj, batch_size))
    return Attribution(method=method, scores=scores.astype(np.float32), hypothetical=hyp.astype(np.float32),
                       objective=np.asarray(f, np.float32), var=var, members=mem_arr, window=win,
                       diagnostics=diag, member_labels=[m.label for m in runner.members], options=opts)


def make_baselines(x: np.ndarray, baseline: str, n_baselines: int, seed: int) -> np.ndarray:
    """(S, L, 4) -> (S, K, L, 4) baselines: zeros, uniform 0.25, or K dinucleotide shuffles."""
    S = x.shape[0]
    if baseline == "zeros":
        return np.zeros((S, 1) + x.shape[1:], np.float32)
    if baseline == "uniform":
        return np.full((S, 1) + x.shape[1:], 0.25, np.float32)
    if baseline == "shuffle":
        rng = np.random.default_rng(seed)
        return np.stack([np.stack([dinuc_shuffle(x[s], rng) for _ in range(n_baselines)]) for s in range(S)])
    raise InputError(f"IG baseline must be 'zeros', 'uniform' or 'shuffle', got {baseline!r}")


def _integrated_gradients(runner, x, idx, n_steps, baseline, n_baselines, seed, center, progress):
    S, L = x.shape[:2]
    if n_steps < 1:
        raise InputError("n_steps must be >= 1")
    base = make_baselines(x, baseline, n_baselines, seed)               # (S, K, L, 4)
    K = base.shape[1]
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)            # Gauss-Legendre on [0, 1]
    alphas = ((nodes + 1) / 2).astype(np.float32)
    weights = (weights / 2).astype(np.float32)
    diff = x[:, None] - base                                              # (S, K, L, 4)
    path = base[:, :, None] + alphas[None, None, :, None, None] * diff[:, :, None]   # (S, K, A, L, 4)
    rows = np.repeat(idx, K * n_steps)
    _, g, _ = runner.run(path.reshape(-1, L, 4), rows, progress=progress)
    g = np.einsum("skaln,a->skln", g.reshape(S, K, n_steps, L, 4), weights)   # path integral per baseline
    attr = (diff * g).mean(1)                                             # average over baselines
    hyp = g.mean(1)
    hyp = center_acgt(hyp) if center else hyp
    f_x, _, _ = runner.run(x, idx, need_grad=False)
    f_b, _, _ = runner.run(base.reshape(-1, L, 4), np.repeat(idx, K), need_grad=False)
    delta = f_x - f_b.reshape(S, K).mean(1)
    total = attr.reshape(S, -1).sum(1)
    err = np.abs(total - delta) / np.maximum(np.abs(delta), 1e-12)
    return attr, hyp, f_x, {"ig_completeness_error": err.astype(np.float32),
                            "ig_delta": delta.astype(np.float32)}


def ism_substitutions(x1: np.ndarray, start: int, end: int):
    """Every single-base substitution at positions [start, end) of one (L, 4) sequence.

    Returns (positions (M,), bases (M,)), position-major. Positions that are N (not a
    clear base) get all 4 bases; the identity substitution is skipped.
    """
    ref = x1[start:end]
    clear = np.isclose(ref.sum(-1), 1.0) & (ref.max(-1) > 0.5)
    keep = ~(clear[:, None] & (ref > 0.5))                                      # (W, 4)
    i, base = np.nonzero(keep)
    return (start + i).astype(np.int64), base.astype(np.int64)


def ism_mutants(x1: np.ndarray, start: int, end: int):
    """The substitutions of :func:`ism_substitutions` as sequences.

    Returns (mutants (M, L, 4), positions (M,), bases (M,)).
    """
    pos, base = ism_substitutions(x1, start, end)
    muts = np.repeat(x1[None], pos.size, axis=0)
    muts[np.arange(pos.size), pos] = 0.0
    muts[np.arange(pos.size), pos, base] = 1.0
    return muts, pos, base


ISM_ENGINES = ("auto", "incremental", "subwindow", "full")


def choose_ism_engine(model, members, start: int, end: int, requested: str = "auto") -> str:
    """The ISM engine used for a window: 'incremental', 'subwindow' or 'full' (see :func:`attribute`)."""
    if requested not in ISM_ENGINES:
        raise InputError(f"unknown ISM engine {requested!r}; choose one of {', '.join(ISM_ENGINES)}")
    if requested == "full":
        return "full"
    mc = any(m.mc >= 0 for m in members)
    why = "MC-dropout members need full-length predictions" if mc else _inc.unsupported_reason(model)
    if requested == "incremental" and why is not None:
        raise InputError(f"incremental ISM is not possible here ({why}): use ism_engine='auto' or 'full'")
    if why is None and requested in ("auto", "incremental"):
        return "incremental"
    sub = None if mc else _local.plan(model, start, end)
    if requested == "subwindow" and sub is None:
        raise InputError("sub-window ISM is not possible here (MC dropout, a non-local layer, or a window "
                         "too wide for the receptive field): use ism_engine='auto' or 'full'")
    return "subwindow" if sub is not None else "full"


def _ism(runner, x, idx, window, max_bp, progress, center, ism_engine="auto"):
    S, L = x.shape[:2]
    start, end = (0, L) if window is None else (int(window[0]), int(window[1]))
    if not 0 <= start < end <= L:
        raise InputError(f"ISM window {window} must satisfy 0 <= start < end <= {L}")
    if max_bp is None:
        max_bp = _limits.current().ism_bp
    if end - start > max_bp:
        raise _limits.exceeded("ism_bp", f"the ISM window is {end - start:,} bp", "choose a smaller range",
                               int(max_bp))
    engine = choose_ism_engine(runner.model, runner.members, start, end, ism_engine)
    f_ref, _, _ = runner.run(x, idx, need_grad=False)
    scores = np.zeros(x.shape, np.float32)
    n_total = S * (end - start) * 3
    done = [0]
    local = _local.plan(runner.model, start, end) if engine == "subwindow" else None
    for s in (range(S) if engine != "full" else []):
        muts_pos, muts_base = ism_substitutions(x[s], start, end)
        f_sum = np.zeros(muts_pos.size)
        for mi, mem in enumerate(runner.members):
            if engine == "incremental":
                def prog(d, t, base_done=done[0] + mi * muts_pos.size // len(runner.members)):
                    if progress is not None:
                        progress(base_done + d * muts_pos.size // max(1, t) // len(runner.members), n_total)
                mp = _inc.mutant_predictions(runner.model, x[s], muts_pos, muts_base, mem, progress=prog)
                f = objective_of_predictions(runner.obj, idx[s], np.concatenate([mp.ref[None], mp.preds]))
                f_mut, f0 = f[1:], f[0]
            else:
                f_mut, f0 = _local.member_ism_objectives(runner.model, runner.obj, x[s], idx[s], muts_pos,
                                                         muts_base, mem, *local, runner.batch_size)
            f_sum += f_mut - f0
            if progress is not None:
                progress(done[0] + (mi + 1) * muts_pos.size // len(runner.members), n_total)
        scores[s, muts_pos, muts_base] = f_sum / len(runner.members)
        done[0] += muts_pos.size
    for s in (range(S) if engine == "full" else []):
        muts, pos, base = ism_mutants(x[s], start, end)

        def prog(d, t, base_done=done[0]):
            if progress is not None:
                progress(min(n_total, base_done + d * muts.shape[0] // max(t, 1)), n_total)
        f_mut, _, _ = runner.run(muts, np.full(muts.shape[0], idx[s]), need_grad=False, progress=prog)
        scores[s, pos, base] = f_mut - f_ref[s]
        done[0] += muts.shape[0]
    hyp = scores.copy()
    if center:
        w = slice(start, end)
        hyp[:, w] = center_acgt(scores[:, w])
    return scores, hyp, f_ref, (start, end)


def _diagnostics(model, runner, x, idx, method, hyp, win, obj, batch_size):
    """RC consistency (forward vs un-augmented RC saliency map), gradient-vs-ISM agreement."""
    out = {}
    fwd = MemberRunner(model, obj, False, (0,), 0, 0, batch_size, checkpoint=runner.checkpoint)
    rcm = MemberRunner(model, obj, False, (0,), 0, 0, batch_size, checkpoint=runner.checkpoint)
    rcm.members = [ens.Member(True, 0)]
    _, gf, _ = fwd.run(x, idx)
    _, gr, _ = rcm.run(x, idx)
    out["rc_consistency"] = _corr_rows(center_acgt(gf), center_acgt(gr))
    if method == "ism":
        s, e = win
        out["grad_vs_ism"] = _corr_rows(center_acgt(gf)[:, s:e], hyp[:, s:e])
    return out
