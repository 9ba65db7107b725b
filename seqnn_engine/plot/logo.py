"""Sequence logos of contributions: letters drawn as filled plotly polygons, each as tall as
its score, positive scores stacked up from 0 and negative ones down."""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._base import BASE_COLORS, BASES, base_layout, cap_note, graph_objects

__all__ = ["GLYPHS", "CONTRIBUTION_METHODS", "logo_matrix", "logo_traces", "logo_figure", "attribution_logo"]

# methods whose scores are contributions already (the logo shows them as they are); for the
# others (saliency, smoothgrad: hypothetical gradients) the logo shows the score at each base
CONTRIBUTION_METHODS = ("grad_x_input", "integrated_gradients", "deep_lift_shap")


def _arc(cx, cy, rx, ry, a0, a1, n):
    t = np.linspace(np.deg2rad(a0), np.deg2rad(a1), n)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _glyphs() -> dict:
    """Letter outlines in the unit box [0,1] x [0,1]: per base a (K, 2) array of closed
    polygons separated by NaN rows."""
    a = [np.array([[0.0, 0], [0.4, 1], [0.6, 1], [1.0, 0], [0.78, 0], [0.5, 0.74], [0.22, 0], [0.0, 0]]),
         np.array([[0.27, 0.26], [0.73, 0.26], [0.66, 0.42], [0.34, 0.42], [0.27, 0.26]])]
    outer = _arc(0.55, 0.5, 0.5, 0.5, 40, 320, 22)
    inner = _arc(0.55, 0.5, 0.3, 0.3, 320, 40, 22)
    c = [np.concatenate([outer, inner, outer[:1]])]
    g_outer = _arc(0.55, 0.5, 0.5, 0.5, 40, 340, 22)
    g_inner = _arc(0.55, 0.5, 0.3, 0.3, 340, 40, 22)
    g = [np.concatenate([g_outer, g_inner, g_outer[:1]]),
         np.array([[0.55, 0.36], [1.02, 0.36], [1.02, 0.0], [0.86, 0.0], [0.86, 0.22], [0.55, 0.22], [0.55, 0.36]])]
    t = [np.array([[0.0, 1], [1.0, 1], [1.0, 0.82], [0.6, 0.82], [0.6, 0], [0.4, 0], [0.4, 0.82],
                   [0.0, 0.82], [0.0, 1]])]
    out = {}
    for name, polys in zip(BASES, (a, c, g, t)):
        allp = np.concatenate(polys)
        lo, hi = allp.min(0), allp.max(0)
        parts = []
        for p in polys:
            parts.append((p - lo) / (hi - lo))  # each glyph spans exactly the unit box
            parts.append(np.full((1, 2), np.nan))
        out[name] = np.concatenate(parts)
    return out


GLYPHS = _glyphs()


def logo_matrix(method: str, scores, onehot) -> np.ndarray:
    """The (N, 4) letter heights of a logo: ``scores`` (N, 4) themselves for contribution
    methods (:data:`CONTRIBUTION_METHODS`), else the (hypothetical) scores at the sequence's
    bases, ``scores * onehot`` (onehot (N, 4))."""
    s = np.asarray(scores, np.float32)
    return s if method in CONTRIBUTION_METHODS else s * np.asarray(onehot, np.float32)


def logo_traces(matrix, x0: float, width: float = 0.9) -> list:
    """One filled scatter trace per base (named 'A', 'C', 'G', 'T') drawing a sequence logo.

    matrix: (N, 4) scores for positions x0 .. x0+N-1 (ACGT). The letter of base b at position
    i spans x0 + i +- width/2 and is |matrix[i, b]| tall: positive scores stack upward from 0
    (largest on top), negative scores downward (largest magnitude at the bottom); zeros draw
    nothing. Each trace holds, per drawn letter, ``len(GLYPHS[base])`` points.
    """
    go = graph_objects()
    m = np.asarray(matrix, np.float64)
    if m.ndim != 2 or m.shape[1] != 4:
        raise InputError(f"a logo takes scores (N, 4), got shape {m.shape}")
    n = m.shape[0]
    pos = x0 + np.arange(n, dtype=np.float64)
    order = np.argsort(np.abs(m), axis=1)  # small first, so the largest ends up furthest from 0
    pos_base = np.zeros(n)
    neg_base = np.zeros(n)
    bottoms = np.zeros_like(m)
    for r in range(4):
        b = order[:, r]
        v = m[np.arange(n), b]
        up = v >= 0
        bottoms[np.arange(n)[up], b[up]] = pos_base[up]
        pos_base[up] += v[up]
        bottoms[np.arange(n)[~up], b[~up]] = neg_base[~up] + v[~up]
        neg_base[~up] += v[~up]
    traces = []
    for j, base in enumerate(BASES):
        h = np.abs(m[:, j])
        keep = np.nonzero(h > 0)[0]
        g = GLYPHS[base]
        if keep.size:
            xs = (pos[keep, None] - width / 2 + g[None, :, 0] * width).ravel()
            ys = (bottoms[keep, j, None] + g[None, :, 1] * h[keep, None]).ravel()
        else:
            xs = ys = np.zeros(0)
        traces.append(go.Scatter(x=xs, y=ys, mode="lines", fill="toself", fillcolor=BASE_COLORS[base],
                                 line=dict(width=0, color=BASE_COLORS[base]), hoverinfo="skip", name=base,
                                 connectgaps=False))
    return traces


def logo_figure(matrix, x0: float, title: str | None = None, height: int = 230, note: str | None = None):
    """Sequence logo of ``matrix`` (N, 4) for positions x0 .. x0+N-1 (see :func:`logo_traces`);
    ``note`` is written under the plot (e.g. that the logo is capped)."""
    go = graph_objects()
    fig = go.Figure(logo_traces(matrix, x0))
    n = np.asarray(matrix).shape[0]
    base_layout(fig, height=height, title=title)
    fig.update_layout(hovermode=False)
    fig.update_xaxes(range=[x0 - 0.6, x0 + n - 0.4])
    fig.add_hline(y=0, line=dict(color="#999", width=0.5))
    if note:
        cap_note(fig, note)
    return fig


def attribution_logo(attr, onehot, start: int = 0, end: int | None = None, sequence: int = 0,
                     x0: float | None = None, **kw):
    """:func:`logo_figure` of positions [start, end) of an engine attribution (``attribute``'s
    Attribution: ``method``, ``scores`` (S, L, 4)); onehot: the input (S, L, 4) or (L, 4).
    x0: display coordinate of ``start`` (default ``start``). ``kw`` go to logo_figure."""
    scores = np.asarray(attr.scores)[sequence]
    oh = np.asarray(onehot)
    oh = oh[sequence] if oh.ndim == 3 else oh
    end = scores.shape[0] if end is None else end
    if not 0 <= start < end <= scores.shape[0]:
        raise InputError(f"logo range [{start}, {end}) must lie inside the {scores.shape[0]} positions")
    mat = logo_matrix(attr.method, scores[start:end], oh[start:end])
    return logo_figure(mat, start if x0 is None else x0, **kw)
