"""Seqlet boxes on a contribution track or logo, and motif hits (e.g. FIMO) as a track."""
from __future__ import annotations

import numpy as np

from ._base import base_layout, graph_objects, rgba

__all__ = ["SEQLET_COLORS", "seqlet_traces", "add_seqlets", "motif_hits_figure"]

SEQLET_COLORS = {1: "#2e7d32", -1: "#c62828"}   # positive / negative contribution


def seqlet_traces(starts, ends, labels, signs, y0: float, y1: float, hover=None) -> list:
    """Seqlet boxes with their labels, for a track whose positions are drawn at integer x.

    starts, ends: (N,) display coordinates, half-open ``[start, end)`` (a box spans
    ``start - 0.5 .. end - 0.5``, the extent of those bases); labels: N texts drawn above the
    boxes; signs: (N,) +1 / -1 (box colour); y0, y1: vertical extent of the boxes. hover: N
    hover texts (default: the labels). Returns three traces: ``seqlets`` and ``seqlets
    (negative)`` (outlines, one closed polygon per seqlet) and ``seqlet labels`` (text).
    """
    go = graph_objects()
    s = np.asarray(starts, np.float64)
    e = np.asarray(ends, np.float64)
    traces = []
    for sign in (1, -1):
        idx = [i for i in range(len(s)) if int(signs[i]) == sign]
        bx, by, ht = [], [], []
        for i in idx:
            a, b = s[i] - 0.5, e[i] - 0.5
            bx += [a, b, b, a, a, None]
            by += [y0, y0, y1, y1, y0, None]
            ht += [(hover or labels)[i]] * 5 + [None]
        traces.append(go.Scatter(x=bx, y=by, mode="lines", fill="toself", fillcolor=rgba(SEQLET_COLORS[sign], 0.08),
                                 line=dict(color=SEQLET_COLORS[sign], width=1), text=ht, hoverinfo="text",
                                 name="seqlets" if sign > 0 else "seqlets (negative)", hoveron="fills+points"))
    traces.append(go.Scatter(x=(s + e) / 2 - 0.5, y=np.full(len(s), y1, np.float64), mode="text",
                             text=list(labels), textposition="top center", textfont=dict(size=10),
                             hoverinfo="skip", name="seqlet labels"))
    return traces


def add_seqlets(fig, starts, ends, labels, signs, values, hover=None):
    """Draw seqlet boxes (:func:`seqlet_traces`) on ``fig`` spanning the range of ``values``
    (the drawn track, any shape), with head room above for the labels. Returns ``fig``."""
    v = np.asarray(values, np.float64)
    lo = float(min(0.0, np.nanmin(v))) if v.size else 0.0
    hi = float(max(0.0, np.nanmax(v))) if v.size else 1.0
    pad = (hi - lo) * 0.05 or 1.0
    for tr in seqlet_traces(starts, ends, labels, signs, lo - pad, hi + pad, hover):
        fig.add_trace(tr)
    fig.update_yaxes(range=[lo - 2 * pad, hi + 5 * pad])
    return fig


def motif_hits_figure(rows, row, starts, ends, strands, hover, x_range: tuple, title: str | None = None):
    """Motif hits (e.g. FIMO) as a track: one lane per motif, a bar per hit.

    rows: lane labels (one per motif); row: (N,) lane of each hit; starts, ends: (N,) display
    coordinates, half-open (a bar spans ``start - 0.5 .. end - 0.5``); strands: N '+'/'-'
    (traces ``hits +`` and ``hits -``); hover: N texts; x_range: (lo, hi) of the axis.
    """
    go = graph_objects()
    fig = go.Figure()
    row = np.asarray(row, np.int64)
    s = np.asarray(starts, np.float64)
    e = np.asarray(ends, np.float64)
    for strand, color in (("+", "#1f77b4"), ("-", "#ff7f0e")):
        idx = [i for i in range(len(s)) if strands[i] == strand]
        xs, ys, ht = [], [], []
        for i in idx:
            xs += [s[i] - 0.5, e[i] - 0.5, None]
            ys += [float(row[i]), float(row[i]), None]
            ht += [hover[i], hover[i], None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=color, width=9), text=ht,
                                 hoverinfo="text", name=f"hits {strand}"))
    base_layout(fig, height=max(120, 28 * len(rows) + 70), title=title)
    fig.update_layout(hovermode="closest", showlegend=True)
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(rows))), ticktext=list(rows),
                     range=[len(rows) - 0.5, -0.5], showgrid=False)
    fig.update_xaxes(range=list(x_range))
    return fig
