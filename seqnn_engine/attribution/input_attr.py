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

from ..model import ensemble as ens
from .. import memory as _memory
from ..errors import InputError
from . import deeplift as _dls
from .engine import MemberRunner
from .ism import ISM_ENGINES, choose_ism_engine, ism_mutants, ism_scores, ism_substitutions  # noqa: F401
from .objective import make_objective
from .shuffle import dinuc_shuffle

METHODS = ("saliency", "grad_x_input", "smoothgrad", "integrated_gradients", "ism", "deep_lift_shap")


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


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair of a, b (S, ...) -> (S,) float32 (NaN where one row is constant)."""
    a = a.reshape(a.shape[0], -1).astype(np.float64)
    b = b.reshape(b.shape[0], -1).astype(np.float64)
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    return np.where(den > 0, (a * b).sum(1) / np.where(den > 0, den, 1), np.nan).astype(np.float32)


_corr_rows = pearson_rows


def attribute(model, x, method: str = "saliency", targets=None, positions=None, statistic: str = "sum",
              mean_center_scores: bool = True, rc: bool = False, shifts=(0,), mc_n: int = 0, window=None,
              pseudocount: float = 0.0, untransform: bool = False, n_samples: int = 16,
              noise: float = 0.15, n_steps: int = 32, baseline: str = "zeros", n_baselines: int = 4,
              seed: int = 0, batch_size: int = 4, return_all: bool = False, diagnostics: bool = False,
              progress: Optional[Callable[[int, int], None]] = None, max_ism_bp: Optional[int] = None,
              ism_engine: str = "auto", ism_chunk=None, checkpoint="auto",
              mean_center: Optional[bool] = None, n_refs: int = _dls.DEFAULT_N_REFS) -> Attribution:
    """Input attribution of ``model`` on x (S, L, 4) for one objective.

    method: 'saliency' | 'grad_x_input' | 'smoothgrad' (n_samples noisy copies,
    Gaussian sd = noise) | 'integrated_gradients' (n_steps Gauss-Legendre path points;
    baseline 'zeros' | 'uniform' (0.25) | 'shuffle' (n_baselines dinucleotide
    shuffles, averaged)) | 'ism' (all 3 substitutions at every position of
    ``window`` = (start, end) bp, default the whole input; in chunks, see ism.py).
    targets: target indexes (mean over them); positions: bins (see
    objective.position_mask); statistic: 'sum' | 'mean' | 'log'.
    mean_center (alias of mean_center_scores): subtract the ACGT mean of gradients.
    max_ism_bp: most ISM window positions (default: seqnn_engine.limits, SEQNN_MAX_ISM_BP).
    ism_engine: how mutants are predicted, all exact: 'incremental' (only the span each
    substitution changes is recomputed, layer by layer; see incremental_ism.py),
    'subwindow' (each mutant on a short sub-window covering the changed bins' receptive
    fields; see local_ism.py), 'hybrid' (the local layers before the first attention /
    U-net layer incrementally, the rest at full length), 'full' (every mutant at full
    length), or 'auto' (the first of these the model and ensemble allow).
    ism_chunk: most mutants per ISM chunk (None: sized from a memory budget; 'all').
    checkpoint: True runs input gradients through the checkpointed backward pass (bounded
    memory, one extra forward pass; see checkpoint.py), False through one tape over the whole
    graph, 'auto' (default) checkpoints when seqnn_engine.memory estimates that one tape would
    need more than memory.CHECKPOINT_ABOVE_BYTES or the memory limit. Results agree to float32
    rounding. The estimated peak is checked against SEQNN_MAX_MEMORY_MB first, and the batch
    size is reduced until a batch fits.

    The call runs only the passes its method needs. diagnostics (per-sequence (S,)
    arrays): ``ig_completeness_error`` and ``ig_delta`` for integrated gradients;
    ``rc_consistency`` (Pearson r of the forward and reverse-complement saliency maps)
    whenever those two maps were computed anyway (saliency / grad_x_input with rc=True,
    no MC dropout). diagnostics=True adds ``rc_consistency`` to every method (extra
    gradient passes where needed) and ``grad_vs_ism`` (Pearson r of the forward saliency
    map and the centred ISM deltas on the window) to ISM.
    'deep_lift_shap': DeepLIFT rescale rule averaged over n_refs dinucleotide-shuffled
    references (seed); scores are contributions, hypothetical the (uncentred) hypothetical
    contributions; see deeplift.py.
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
                                    n_targets=len(obj.selected_targets), n_refs=n_refs)
    runner = MemberRunner(model, obj, rc, shifts, mc_n, seed, plan.batch_size, checkpoint=plan.checkpoint)
    batch_size = plan.batch_size
    E = len(runner.members)
    idx = np.arange(S)
    opts = dict(method=method, targets=np.flatnonzero(obj.target_weights).tolist(), statistic=statistic,
                rc=rc, shifts=list(map(int, np.atleast_1d(shifts))), mc_n=mc_n, untransform=untransform)
    diag = {}
    mem_arr = np.zeros(x.shape + (E,), np.float32) if return_all and method != "ism" else None
    plain = {}                                   # un-augmented gradients of the fwd+0 / rc+0 members at x

    def keep_member(mi, o, g):
        if mem_arr is not None and g is not None:
            mem_arr[..., mi] = center_acgt(g) if mean_center_scores else g
        m = runner.members[mi]
        if g is not None and m.shift == 0 and m.mc < 0:
            plain[m.rc] = g

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
    elif method == "deep_lift_shap":
        scores, hyp, f, var, mem_arr, diag = _dls.attribute_branch(runner, x, n_refs, seed, return_all, progress)
    else:
        r = ism_scores(runner, x, idx, window, max_ism_bp, progress, ism_engine, ism_chunk)
        scores, f, win = r.scores, r.objective, r.window
        opts.update(ism_engine=r.engine, ism_chunk=r.chunk)
        hyp = scores.copy()
        if mean_center_scores:
            hyp[:, win[0]:win[1]] = center_acgt(scores[:, win[0]:win[1]])
    if diagnostics:
        diag.update(gradient_diagnostics(model, x, obj, batch_size, plain,
                                         ism_hypothetical=hyp if method == "ism" else None, window=win,
                                         checkpoint=runner.checkpoint))
    elif False in plain and True in plain:
        diag["rc_consistency"] = _corr_rows(center_acgt(plain[False]), center_acgt(plain[True]))
    return Attribution(method=method, scores=scores.astype(np.float32), hypothetical=hyp.astype(np.float32),
                       objective=np.asarray(f, np.float32), var=var, members=mem_arr, window=win,
                       diagnostics=diag, member_labels=[m.label for m in runner.members], options=opts)


def gradient_diagnostics(model, x, objective, batch_size: int = 4, known=None, ism_hypothetical=None,
                         window=None, checkpoint: bool = False) -> dict:
    """Diagnostics of an objective.Objective on x (S, L, 4): per-sequence (S,) arrays.

    rc_consistency: Pearson r of the ACGT-centred forward and (un-augmented)
    reverse-complement saliency maps. grad_vs_ism (when ism_hypothetical (S, L, 4), the
    centred ISM deltas, is given): Pearson r of the centred forward saliency map and the
    ISM deltas on ``window`` = (start, end). known: {False: forward gradient, True: RC
    gradient} (S, L, 4) already computed (e.g. by an rc=True saliency call); only the
    missing ones are computed, one gradient pass each, and added to ``known``.
    """
    known = {} if known is None else known
    idx = np.arange(x.shape[0])
    for rc in (False, True):
        if rc not in known:
            r = MemberRunner(model, objective, False, (0,), 0, 0, batch_size, checkpoint=checkpoint)
            r.members = [ens.Member(rc, 0)]
            _, known[rc], _ = r.run(x, idx)
    gf = center_acgt(known[False])
    out = {"rc_consistency": _corr_rows(gf, center_acgt(known[True]))}
    if ism_hypothetical is not None:
        s, e = (0, x.shape[1]) if window is None else window
        out["grad_vs_ism"] = _corr_rows(gf[:, s:e], np.asarray(ism_hypothetical)[:, s:e])
    return out


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


