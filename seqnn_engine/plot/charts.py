"""Summary charts: predicted vs observed scatter (test-set accuracy) and grouped bars
(e.g. per-target variant scores)."""
from __future__ import annotations

import numpy as np

from ._base import TRACK_COLORS, base_layout, graph_objects

__all__ = ["scatter_figure", "bar_figure"]


def scatter_figure(pred, obs, title: str | None = None, max_points: int = 20000, seed: int = 0):
    """Predicted vs observed values: pred, obs of one shape (flattened), a seeded random
    subsample of at most ``max_points`` pairs, and the diagonal."""
    go = graph_objects()
    p = np.asarray(pred, np.float32).ravel()
    o = np.asarray(obs, np.float32).ravel()
    if p.size > max_points:
        idx = np.random.default_rng(seed).choice(p.size, max_points, replace=False)
        p, o = p[idx], o[idx]
    fig = go.Figure(go.Scatter(x=o, y=p, mode="markers", marker=dict(size=3, opacity=0.4, color="#1f77b4"),
                               hoverinfo="skip"))
    hi = float(max(np.nanmax(p) if p.size else 1, np.nanmax(o) if o.size else 1))
    lo = float(min(np.nanmin(p) if p.size else 0, np.nanmin(o) if o.size else 0))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(color="#999", dash="dash"),
                             hoverinfo="skip"))
    base_layout(fig, height=420, title=title)
    fig.update_xaxes(title_text="observed")
    fig.update_yaxes(title_text="predicted")
    return fig


def bar_figure(labels, series: dict, title: str | None = None, height: int = 300):
    """Grouped bars: one group per label (K labels), one bar per series ({name: (K,) values})."""
    go = graph_objects()
    fig = go.Figure()
    for i, (name, v) in enumerate(series.items()):
        fig.add_trace(go.Bar(x=list(labels), y=np.asarray(v, np.float64), name=name,
                             marker_color=TRACK_COLORS[i % len(TRACK_COLORS)]))
    base_layout(fig, height=height, title=title)
    fig.update_layout(showlegend=len(series) > 1, barmode="group", hovermode="closest")
    return fig
