"""Engine calls behind the dashboard's caches (no Streamlit, no science: only calls and keys).

Every function takes the model, the exact input window string (length ``seq_length``),
plain options and a :class:`app.cache.ResultCache`; it returns a cached
:class:`app.cache.Result` whose arrays are read-only. Keys come from
``seqnn_engine.cache_keys`` (the CLI's keys: model digest + strand pairs, digest of the
canonical sequence string, canonical options), so a CLI batch run pre-computes what the
dashboard shows and the dashboard's results are readable by the CLI. Arrays are never hashed.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from seqnn_engine import InputError
from seqnn_engine import cache_keys
from seqnn_engine.onehot import encode
from seqnn_engine.store import result_key, sequence_digest

Progress = Optional[Callable[[int, int], None]]

# Above this many targets only the chosen targets are predicted (Borzoi-size heads).
ALL_TARGETS_LIMIT = 512


@dataclass(frozen=True)
class Ensemble:
    """Ensemble options: reverse complement, shifts (bp), MC-dropout samples, N encoding."""

    rc: bool = False
    shifts: tuple = (0,)
    mc_n: int = 0
    n_value: float = 0.0

    def options(self) -> dict:
        return {"rc": bool(self.rc), "shifts": [int(s) for s in self.shifts], "mc_n": int(self.mc_n),
                "n_value": float(self.n_value)}

    def members(self) -> list:
        """The engine's ensemble members, in the order of ``Prediction.members``."""
        from seqnn_engine import ensemble
        return ensemble.members(self.rc, tuple(self.shifts), self.mc_n)

    @property
    def n_members(self) -> int:
        return len(self.shifts) * (2 if self.rc else 1) * max(1, self.mc_n)


def onehot(sequence: str, n_value: float = 0.0) -> np.ndarray:
    """(1, L, 4) float32 one-hot of one sequence."""
    return encode(sequence, n_value=n_value)[None].astype(np.float32)


def predicted_targets(model, targets) -> Optional[list]:
    """Targets to predict: None (all) for ordinary heads, else the chosen ones."""
    if model.num_targets <= ALL_TARGETS_LIMIT:
        return None
    return sorted(int(t) for t in targets)


# ----------------------------------------------------------------------------------- predictions

def prediction_key(model, sequence: str, ens: Ensemble, targets=()) -> str:
    return cache_keys.prediction_key(model, sequence, {**ens.options(),
                                                       "targets": predicted_targets(model, targets)})


def _complete_prediction(r, ens: Ensemble) -> bool:
    """A store entry written by the CLI holds only ``preds``; with one member that is complete."""
    return "members" in r or ens.n_members == 1


def predict(cache, model, sequence: str, ens: Ensemble, targets=(), progress: Progress = None):
    """Ensemble prediction of one window.

    Result arrays: ``preds`` (P, T') float32 ensemble mean (the CLI's name), ``sd`` (P, T')
    (0 with one member), ``members`` (P, T', E), ``target_index`` (T',) int64 (T' = all
    targets for ordinary heads). meta: member labels.
    """
    tsel = predicted_targets(model, targets)
    key = prediction_key(model, sequence, ens, targets)
    hit = cache.peek(key)
    if hit is not None and _complete_prediction(hit, ens):
        return with_prediction_defaults(hit, model, tsel)

    def run():
        x = onehot(sequence, ens.n_value)
        p = model.predict(x, rc=ens.rc, shifts=tuple(ens.shifts), mc_n=ens.mc_n, target_indexes=tsel,
                          return_var=True, return_all=True, progress=progress)
        var = p.var if p.var is not None else np.zeros_like(p.mean)
        tidx = np.arange(model.num_targets) if tsel is None else np.asarray(tsel)
        return ({"preds": p.mean[0], "sd": np.sqrt(np.maximum(var[0], 0)).astype(np.float32),
                 "members": p.members[0], "target_index": tidx.astype(np.int64)},
                {"member_labels": list(p.member_labels)})
    if hit is not None:
        cache.forget(key)
    return cache.get_or_compute(key, run)


def peek_prediction(cache, model, sequence: str, ens: Ensemble, targets=()):
    """The cached prediction, or None."""
    hit = cache.peek(prediction_key(model, sequence, ens, targets))
    if hit is None or not _complete_prediction(hit, ens):
        return None
    return with_prediction_defaults(hit, model, predicted_targets(model, targets))


def with_prediction_defaults(r, model, tsel):
    """Fill ``sd``/``members``/``target_index`` of a single-member entry written by the CLI."""
    if "members" in r and "sd" in r and "target_index" in r:
        return r
    from app.cache import Result
    a = dict(r.arrays)
    p = np.asarray(a["preds"], np.float32)
    a.setdefault("sd", np.zeros_like(p))
    a.setdefault("members", p[..., None])
    a.setdefault("target_index", (np.arange(model.num_targets) if tsel is None else np.asarray(tsel))
                 .astype(np.int64))
    return Result(r.key, a, {"member_labels": ["fwd+0"], **r.meta}, r.source)


def target_columns(result, targets) -> np.ndarray:
    """Column of each chosen target in a prediction result."""
    tidx = [int(t) for t in result["target_index"]]
    try:
        return np.array([tidx.index(int(t)) for t in targets], dtype=np.int64)
    except ValueError:
        raise InputError("a chosen target is not in this prediction; pick the targets again") from None


def per_shift(members: np.ndarray, ens: Ensemble) -> np.ndarray:
    """(P, T, E) member predictions -> (H, P, T): each shift's members averaged (RC, MC)."""
    shifts = [m.shift for m in ens.members()]
    m = np.asarray(members)
    return np.stack([m[..., [i for i, s in enumerate(shifts) if s == h]].mean(-1) for h in ens.shifts])


def variant_scores(ref_members, alt_members, ens: Ensemble, stats=("SUM", "logSUM", "D2")) -> dict:
    """Per-target variant scores (seqnn_engine.variants.compute_scores) from member predictions."""
    from seqnn_engine.variants import compute_scores
    return compute_scores(per_shift(ref_members, ens), per_shift(alt_members, ens), stats)


# ----------------------------------------------------------------------------------- attributions

def attribution_available() -> bool:
    try:
        importlib.import_module("seqnn_engine.attribution.input_attr")
        return True
    except ImportError:
        return False


def layer_gradients_available() -> bool:
    try:
        importlib.import_module("seqnn_engine.attribution.layer_grads")
        return True
    except ImportError:
        return False


def _positions(positions):
    return positions if positions is None or isinstance(positions, str) else [int(b) for b in positions]


def attribution_key(model, sequence: str, method: str, targets, positions, statistic: str, ens: Ensemble,
                    window=None, mean_center: bool = True, diagnostics: bool = False) -> str:
    opts = {**ens.options(), "method": method, "targets": sorted(int(t) for t in targets),
            "positions": _positions(positions), "statistic": statistic, "mean_center": bool(mean_center),
            "window": None if window is None else [int(window[0]), int(window[1])]}
    if diagnostics:   # the key of a plain result (the CLI's) stays as it was
        opts["diagnostics"] = True
    return cache_keys.attribution_key(model, sequence, opts)


def position_scores(method: str, scores: np.ndarray, hypothetical: np.ndarray) -> np.ndarray:
    """(L,) per-position summary, as the engine's ``Attribution.position_scores``."""
    from seqnn_engine.attribution.input_attr import Attribution
    a = Attribution(method=method, scores=np.asarray(scores)[None], hypothetical=np.asarray(hypothetical)[None],
                    objective=np.zeros(1, np.float32))
    return np.asarray(a.position_scores()[0], np.float32)


def attribute(cache, model, sequence: str, method: str, targets, positions, statistic: str, ens: Ensemble,
              window=None, progress: Progress = None, mean_center: bool = True, diagnostics: bool = False):
    """Input attribution for one objective.

    positions: None (all bins), 'center', or a list of bins. Result arrays (the CLI's names):
    ``scores`` (L, 4), ``grads`` (L, 4) hypothetical scores, ``objective`` (), plus each
    engine diagnostic as ``diag_<name>`` when computed (``diagnostics=True`` asks for all of
    them, e.g. ``grad_vs_ism`` for ISM; otherwise only those the method gets for free).
    meta: method, window.
    """
    pos = _positions(positions)
    tsel = sorted(int(t) for t in targets)

    def run():
        x = onehot(sequence, ens.n_value)
        a = model.attribute(x, method=method, targets=tsel,
                            positions=None if pos is None else (pos if isinstance(pos, str) else np.asarray(pos)),
                            statistic=statistic, mean_center=mean_center, rc=ens.rc,
                            shifts=tuple(ens.shifts), mc_n=ens.mc_n,
                            window=None if window is None else (int(window[0]), int(window[1])),
                            progress=progress, diagnostics=diagnostics)
        arrays = {"scores": a.scores[0], "grads": a.hypothetical[0],
                  "objective": np.asarray(a.objective[0], np.float32)}
        for k, v in (a.diagnostics or {}).items():
            arrays[f"diag_{k}"] = np.asarray(v)[0] if np.ndim(v) else np.asarray(v)
        return arrays, {"method": method, "window": list(map(int, a.window))}
    key = attribution_key(model, sequence, method, targets, positions, statistic, ens, window, mean_center,
                          diagnostics)
    return cache.get_or_compute(key, run)


def gradient_diagnostics(cache, model, sequence: str, targets, positions, statistic: str, ens: Ensemble):
    """Forward and reverse-complement saliency maps of one objective (two gradient passes).

    Arrays: ``rc_consistency`` () their Pearson r (ACGT-centred); ``grad_fwd`` (L, 4) the
    centred forward map (for :func:`grad_vs_ism`).
    """
    pos = _positions(positions)
    tsel = sorted(int(t) for t in targets)

    def run():
        from seqnn_engine.attribution.input_attr import center_acgt, gradient_diagnostics as diag
        from seqnn_engine.attribution.objective import make_objective
        x = onehot(sequence, ens.n_value)
        obj = make_objective(model, 1, tsel, pos if pos is None or isinstance(pos, str) else np.asarray(pos),
                             statistic)
        known = {}
        d = diag(model, x, obj, known=known)
        return ({"rc_consistency": np.asarray(d["rc_consistency"][0], np.float32),
                 "grad_fwd": center_acgt(known[False])[0].astype(np.float32)}, {"kind": "gradient_diagnostics"})
    key = cache_keys.attribution_key(model, sequence, {
        "kind": "gradient_diagnostics", "n_value": float(ens.n_value), "targets": tsel, "positions": pos,
        "statistic": statistic})
    return cache.get_or_compute(key, run)


def grad_vs_ism(diag, ism, window) -> float:
    """Pearson r of the centred forward saliency map (``diag`` of :func:`gradient_diagnostics`)
    and the centred ISM deltas (``ism`` of :func:`attribute`) on ``window`` = (start, end)."""
    from seqnn_engine.attribution.input_attr import pearson_rows
    a, b = int(window[0]), int(window[1])
    return float(pearson_rows(np.asarray(diag["grad_fwd"])[None, a:b], np.asarray(ism["grads"])[None, a:b])[0])


def layers_key(model, sequence: str, layers, targets, positions, ens: Ensemble) -> str:
    opts = {**ens.options(), "kind": "layer_gradients", "layers": [int(i) for i in layers],
            "targets": sorted(int(t) for t in targets), "positions": _positions(positions),
            "strand_pair": None if model.strand_pair is None else [int(v) for v in model.strand_pair]}
    return result_key(model.digest, sequence_digest(cache_keys.canonical_sequence(sequence)), opts)


def layer_gradients(cache, model, sequence: str, layers, targets, positions, ens: Ensemble,
                    progress: Progress = None):
    """Layer gradients and representations.

    Result arrays per chosen tap ``i``: ``grads_<i>`` (T, P_l, U_l) and ``reprs_<i>`` (P_l, U_l),
    T = the chosen targets in ascending order.
    """
    layers = [int(i) for i in layers]
    pos = _positions(positions)
    tsel = sorted(int(t) for t in targets)

    def run():
        x = onehot(sequence, ens.n_value)
        kw = dict(layers=layers, targets=tsel,
                  positions=None if pos is None else (pos if isinstance(pos, str) else np.asarray(pos)),
                  rc=ens.rc, shifts=tuple(ens.shifts), mc_n=ens.mc_n)
        if progress is not None:
            kw["progress"] = progress
        try:
            g = model.gradients(x, **kw)
        except TypeError:
            kw.pop("progress", None)
            g = model.gradients(x, **kw)
        arrays = {}
        for i, gi, ri in zip(layers, g.grads, g.reprs):
            arrays[f"grads_{i}"] = np.asarray(gi[0], np.float32)
            arrays[f"reprs_{i}"] = np.asarray(ri[0], np.float32)
        return arrays, {"layers": layers, "targets": tsel}
    return cache.get_or_compute(layers_key(model, sequence, layers, targets, positions, ens), run)


def mutate(sequence: str, position: int, alt: str) -> str:
    """The window with base ``alt`` at window position ``position`` (0-based)."""
    alt = (alt or "").upper()
    if alt not in ("A", "C", "G", "T"):
        raise InputError(f"alternative base must be A, C, G or T, got {alt!r}")
    if not 0 <= int(position) < len(sequence):
        raise InputError(f"variant position {position} is outside the {len(sequence)} bp window")
    p = int(position)
    return sequence[:p] + alt + sequence[p + 1:]
