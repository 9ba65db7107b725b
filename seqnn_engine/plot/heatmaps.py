"""Heatmaps: any (rows, positions) array, and the dashboard's three kinds: hypothetical scores
and ISM deltas (ACGT x positions), and layer gradient x representation (units x positions,
targets x positions). Wide heatmaps are max-abs pooled to at most ``max_cols`` columns."""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._base import BASES, base_layout, cap_note, graph_objects
from .envelope import pool_columns

__all__ = ["heatmap_figure", "hypothetical_heatmap", "ism_heatmap", "layer_unit_heatmap",
           "layer_target_heatmap", "layer_heatmaps", "MAX_HEATMAP_COLUMNS"]

MAX_HEATMAP_COLUMNS = 4000


def heatmap_figure(mat, x, row_labels, title: str | None = None, max_cols: int = MAX_HEATMAP_COLUMNS,
                   colorscale: str = "RdBu_r", symmetric: bool = True, height: int | None = None,
                   x_range: tuple | None = None, z_title: str = "", note: str | None = None):
    """Heatmap of ``mat`` (R, N): row r labelled ``row_labels[r]``, column j at ``x[j]`` (x: (N,)).

    More than ``max_cols`` columns are max-abs pooled (:func:`pool_columns`) and a note under
    the plot says so (``note`` overrides its text). ``symmetric``: a colour scale centred on 0
    from -max|z| to +max|z|.
    """
    go = graph_objects()
    m = np.asarray(mat, np.float32)
    if m.ndim != 2:
        raise InputError(f"a heatmap takes (rows, positions), got shape {m.shape}")
    if len(row_labels) != m.shape[0] or len(x) != m.shape[1]:
        raise InputError(f"heatmap of shape {m.shape} needs {m.shape[0]} row labels and {m.shape[1]} x values, "
                         f"got {len(row_labels)} and {len(x)}")
    pooled, starts = pool_columns(m, max_cols)
    xs = np.asarray(x, np.float64)[starts]
    lim = float(np.nanmax(np.abs(pooled))) if pooled.size and np.isfinite(pooled).any() else 1.0
    lim = lim or 1.0
    fig = go.Figure(go.Heatmap(z=pooled.astype(np.float32), x=xs, y=list(row_labels), colorscale=colorscale,
                               zmid=0 if symmetric else None, zmin=-lim if symmetric else None,
                               zmax=lim if symmetric else None, colorbar=dict(title=z_title, thickness=12)))
    rows = m.shape[0]
    base_layout(fig, height=height or min(900, max(200, 18 * rows + 90)), title=title)
    fig.update_yaxes(showgrid=False, autorange="reversed", type="category" if rows <= 64 else None)
    if x_range:
        fig.update_xaxes(range=list(x_range))
    if note or pooled.shape[-1] < m.shape[-1]:
        k = -(-m.shape[-1] // pooled.shape[-1])
        cap_note(fig, note or f"Heatmap capped at {max_cols:,} columns: each column shows the largest |value| "
                              f"of {k:,} positions; select a shorter range for every position.")
    return fig


def hypothetical_heatmap(hypothetical, x, title: str | None = "Hypothetical scores",
                         max_cols: int = MAX_HEATMAP_COLUMNS, height: int = 200, **kw):
    """Hypothetical scores (N, 4) (positions x ACGT, e.g. ``Attribution.hypothetical[s, a:b]``)
    as an ACGT x positions heatmap; x: (N,) display coordinates."""
    h = np.asarray(hypothetical)
    if h.ndim != 2 or h.shape[1] != 4:
        raise InputError(f"hypothetical scores are (N, 4), got shape {h.shape}")
    return heatmap_figure(h.T, x, list(BASES), title=title, max_cols=max_cols, height=height, **kw)


def ism_heatmap(deltas, x, title: str | None = "ISM: change of the objective (alt - ref)",
                max_cols: int = MAX_HEATMAP_COLUMNS, height: int = 220, z_title: str = "delta", **kw):
    """ISM deltas (N, 4) (objective(mutant) - objective(reference) per position and substituted
    base, 0 at the reference base; ``Attribution.scores[s, a:b]`` of method 'ism') as an
    ACGT x positions heatmap; x: (N,) display coordinates."""
    d = np.asarray(deltas)
    if d.ndim != 2 or d.shape[1] != 4:
        raise InputError(f"ISM deltas are (N, 4), got shape {d.shape}")
    return heatmap_figure(d.T, x, list(BASES), title=title, max_cols=max_cols, height=height, z_title=z_title,
                          **kw)


def _gxr(grads, reprs) -> np.ndarray:
    g = np.asarray(grads, np.float32)
    r = np.asarray(reprs, np.float32)
    if g.shape[-2:] != r.shape:
        raise InputError(f"layer gradients {g.shape} and representations {r.shape} must end in the same "
                         "(positions, units)")
    return g * r


def layer_unit_heatmap(grads, reprs, x, title: str | None = None, max_cols: int = MAX_HEATMAP_COLUMNS,
                       height: int | None = None, **kw):
    """Gradient x representation of one target at one layer, units x positions.

    grads: (P, U) gradient of the target w.r.t. the layer; reprs: (P, U) the layer's
    representation; x: (P,) display coordinates of the layer's positions. Rows are ``u0`` ..
    ``u<U-1>`` (tick labels shown for at most 64 units). z = (grads * reprs).T.
    """
    gxr = _gxr(grads, reprs)
    U = gxr.shape[1]
    fig = heatmap_figure(gxr.T, x, [f"u{u}" for u in range(U)], title=title, max_cols=max_cols,
                         height=height or min(700, 120 + 3 * U), **kw)
    fig.update_yaxes(type=None, showticklabels=U <= 64)
    return fig


def layer_target_heatmap(grads, reprs, x, target_labels, title: str | None = None,
                         max_cols: int = MAX_HEATMAP_COLUMNS, **kw):
    """Gradient x representation summed over units, targets x positions.

    grads: (T, P, U); reprs: (P, U); x: (P,); target_labels: T names.
    z = (grads * reprs).sum(-1), shape (T, P).
    """
    return heatmap_figure(_gxr(grads, reprs).sum(-1), x, list(target_labels), title=title, max_cols=max_cols,
                          **kw)


def layer_heatmaps(lg, layer: int = 0, sequence: int = 0, x=None, target: int = 0, target_labels=None, **kw):
    """(units figure, targets figure) of an engine LayerGradients (``layer_gradients``'s result:
    ``grads[i]`` (S, T, P_l, U_l), ``reprs[i]`` (S, P_l, U_l), ``targets`` (T,)) at its
    ``layer``-th chosen layer. x: (P_l,) coordinates (default 0 .. P_l-1); target: the row of
    ``lg.targets`` for the units figure; target_labels: T names (default ``t<index>``)."""
    g = np.asarray(lg.grads[layer], np.float32)[sequence]
    r = np.asarray(lg.reprs[layer], np.float32)[sequence]
    x = np.arange(g.shape[1], dtype=np.float64) if x is None else x
    labels = [f"t{int(t)}" for t in lg.targets] if target_labels is None else list(target_labels)
    units = layer_unit_heatmap(g[target], r, x, title=f"gradient x representation, {labels[target]} "
                                                      "(units x positions)", **kw)
    targets = layer_target_heatmap(g, r, x, labels, title="targets x positions: gradient x representation "
                                                          "summed over units", **kw)
    return units, targets
