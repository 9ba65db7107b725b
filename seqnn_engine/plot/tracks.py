"""Track figures: prediction tracks with the ensemble band and the gene track, line plots of
per-position values, and reference vs alternative tracks of a variant.

Coordinates: ``x`` is the display coordinate of each bin or position (genome coordinate, or
the position in the user's sequence). Long tracks are drawn as their min/max envelope in at
most ``max_cols`` columns (:mod:`seqnn_engine.plot.envelope`), exact when shorter.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._base import (GENE_ROW_HEIGHT, HEIGHT_PER_TRACK, SELECT_COLOR, TRACK_COLORS, base_layout, graph_objects,
                    make_subplots, rgba)
from .envelope import DEFAULT_COLUMNS, column_extremes, envelope, view_slice
from .genes import gene_traces

__all__ = ["tracks_figure", "prediction_tracks", "member_spread", "line_figure", "variant_figure"]


def _line_points(x: np.ndarray, y: np.ndarray, max_cols: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of a line drawing ``y`` over ``x`` (both (N,)): the min/max envelope in at most
    ``max_cols`` columns, or every point (``None`` or few points)."""
    if max_cols is None or len(y) <= max_cols:
        return x, y
    e = envelope(y, max_cols)
    return x[e.index], e.values


def _band_points(x: np.ndarray, upper: np.ndarray, lower: np.ndarray,
                 max_cols: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, upper, lower) of a band: per column the maximum of ``upper`` and the minimum of
    ``lower``, held over the column's first to last position (2 points per column)."""
    if max_cols is None or len(upper) <= max_cols:
        return x, upper, lower
    starts, _, hi = column_extremes(upper, max_cols)
    _, lo, _ = column_extremes(lower, max_cols)
    ends = np.append(starts[1:], len(upper)) - 1
    xs = np.stack([x[starts], x[ends]], axis=1).reshape(-1)
    return xs, np.repeat(hi, 2), np.repeat(lo, 2)


def _stacked_axes(heights: list, spacing: float, x_style: dict, y_style: dict) -> dict:
    """Layout axes of rows stacked top to bottom sharing the bottom row's x axis (as plotly's
    ``make_subplots(shared_xaxes=True)``), written directly: building many rows through the
    figure API costs seconds (measured in benchmarks/bench_tracks.py)."""
    rows = len(heights)
    free = 1.0 - spacing * (rows - 1)
    total = float(sum(heights))
    out, top = {}, 1.0
    for r in range(1, rows + 1):
        h = free * heights[r - 1] / total
        sx = "" if r == 1 else str(r)
        xa = dict(x_style, anchor=f"y{sx}", domain=[0.0, 1.0])
        if r < rows:
            xa.update(matches=f"x{rows}", showticklabels=False)
        out[f"xaxis{sx}"] = xa
        out[f"yaxis{sx}"] = dict(y_style, anchor=f"x{sx}", domain=[max(0.0, top - h), top])
        top -= h + spacing
    return out


def tracks_figure(x, mean, sd, labels, genes=None, selection: tuple | None = None,
                  x_range: tuple | None = None, title: str | None = None, x_title: str = "",
                  max_cols: int | None = DEFAULT_COLUMNS, view: tuple | None = None):
    """Prediction tracks (one row per target) with a +-1 sd band, and a gene track underneath.

    x: (P,) bin centres; mean: (P, T); sd: (P, T) spread drawn as the band mean +- sd (no band
    for a target whose sd is 0 everywhere, or when sd is None); labels: T names. genes: a list
    of :class:`GeneFeature` (a gene row is drawn when not None). ``selection`` = (lo, hi)
    shades a range. Box selection (horizontal) is the drag mode. Each track is drawn as its
    min/max envelope in at most ``max_cols`` columns (``None``: every bin); ``view`` = (lo, hi)
    draws only the bins inside that range. Traces per target: ``<label> +1 sd`` and
    ``<label> -1 sd`` (the band, when drawn), then ``<label>``; then the gene traces.
    """
    go = graph_objects()
    mean = np.asarray(mean, np.float32)
    if mean.ndim != 2:
        raise InputError(f"tracks_figure takes mean (P, T), got shape {mean.shape}")
    T = mean.shape[1]
    if len(labels) != T:
        raise InputError(f"tracks_figure got {len(labels)} labels for {T} tracks")
    x_all = np.asarray(x, np.float64)
    vs = view_slice(x_all, view)
    show_genes = genes is not None
    rows = T + (1 if show_genes else 0)
    heights = [HEIGHT_PER_TRACK] * T + ([GENE_ROW_HEIGHT] if show_genes else [])
    xv = x_all[vs]
    sd_arr = None if sd is None else np.asarray(sd, np.float32)
    traces = []
    for t in range(T):
        ax = dict(xaxis="x" if t == 0 else f"x{t + 1}", yaxis="y" if t == 0 else f"y{t + 1}")
        color = TRACK_COLORS[t % len(TRACK_COLORS)]
        y = mean[vs, t]
        if sd_arr is not None and np.any(sd_arr[vs, t] > 0):
            s = sd_arr[vs, t]
            bx, bu, bl = _band_points(xv, (y + s).astype(np.float32), (y - s).astype(np.float32), max_cols)
            traces.append(dict(type="scatter", x=bx, y=bu, mode="lines", line=dict(width=0),
                               hoverinfo="skip", name=f"{labels[t]} +1 sd", **ax))
            traces.append(dict(type="scatter", x=bx, y=bl, mode="lines", line=dict(width=0),
                               fill="tonexty", fillcolor=rgba(color, 0.25), hoverinfo="skip",
                               name=f"{labels[t]} -1 sd", **ax))
        lx, ly = _line_points(xv, y, max_cols)
        traces.append(dict(type="scatter", x=lx, y=ly, mode="lines", line=dict(color=color, width=1.5),
                           name=labels[t], hovertemplate=f"{labels[t]}: %{{y:.3g}}<extra></extra>", **ax))
    lo = float(x_all[0] - (x_all[1] - x_all[0]) / 2) if len(x_all) > 1 else float(x_all[0]) - 0.5
    hi = float(x_all[-1] + (x_all[1] - x_all[0]) / 2) if len(x_all) > 1 else float(x_all[0]) + 0.5
    sx = "" if rows == 1 else str(rows)
    if show_genes:
        for tr in gene_traces(genes, (lo, hi)):
            traces.append(dict(tr.to_plotly_json(), xaxis=f"x{sx}", yaxis=f"y{sx}"))
    x_style = dict(showgrid=False, zeroline=False, linecolor="#888", ticks="outside", exponentformat="none",
                   separatethousands=True, range=list(x_range) if x_range else [lo, hi])
    y_style = dict(showgrid=True, gridcolor="#eee", zeroline=False)
    layout = _stacked_axes(heights, 0.012, x_style, y_style)
    for t in range(T):
        layout["yaxis" if t == 0 else f"yaxis{t + 1}"]["title"] = dict(text=labels[t][:14], font=dict(size=11))
    if show_genes:
        layout[f"yaxis{sx}"].update(visible=False, range=[-2.6, 1.0])
    layout[f"xaxis{sx}"]["title"] = dict(text=x_title)
    layout.update(
        height=sum(heights) + 60, margin=dict(l=70, r=20, t=40 if title else 10, b=30), showlegend=False,
        title=dict(text=title, x=0, font=dict(size=14)) if title else None,
        dragmode="select", selectdirection="h", hovermode="x", plot_bgcolor="white", uirevision="keep")
    fig = go.Figure(data=traces, layout=layout)
    if selection is not None:
        fig.add_vrect(x0=selection[0], x1=selection[1], fillcolor=SELECT_COLOR, line_width=0, layer="below",
                      row="all", col=1)
    return fig


def member_spread(members) -> tuple[np.ndarray, np.ndarray]:
    """(mean, sd) over the last axis of ensemble members (..., E): the mean and the unbiased
    (n - 1) standard deviation, as the engine's ensemble variance; sd is 0 for one member."""
    m = np.asarray(members, np.float64)
    mean = m.mean(-1)
    sd = m.std(-1, ddof=1) if m.shape[-1] > 1 else np.zeros_like(mean)
    return mean.astype(np.float32), sd.astype(np.float32)


def prediction_tracks(pred, x, labels=None, sequence: int = 0, columns=None, **kw):
    """:func:`tracks_figure` of an engine prediction (``SeqModel.predict``'s Prediction:
    ``mean`` (S, P, T), ``var`` (S, P, T) or None, ``members`` (S, P, T, E) or None).

    The band is mean +- sqrt(var), or the members' unbiased sd when ``var`` is None (ask
    predict for ``return_var=True`` or ``return_all=True``); no band without either. x: (P,)
    bin centres (e.g. ``window_start + (crop + arange(P) + 0.5) * stride``); labels: names of
    the drawn columns (default: ``t<target index>``); sequence: which sequence of the batch;
    columns: the prediction columns to draw (default all). ``kw`` go to :func:`tracks_figure`
    (genes, title, x_title, x_range, selection, max_cols, view).
    """
    mean = np.asarray(pred.mean)[sequence]
    if pred.var is not None:
        sd = np.sqrt(np.maximum(np.asarray(pred.var)[sequence], 0)).astype(np.float32)
    elif pred.members is not None:
        sd = member_spread(np.asarray(pred.members)[sequence])[1]
    else:
        sd = None
    cols = np.arange(mean.shape[1]) if columns is None else np.asarray(columns, np.int64)
    if labels is None:
        tidx = pred.target_indexes if pred.target_indexes is not None else np.arange(mean.shape[1])
        labels = [f"t{int(tidx[c])}" for c in cols]
    return tracks_figure(x, mean[:, cols], None if sd is None else sd[:, cols], list(labels), **kw)


def line_figure(x, series: dict, title: str | None = None, x_range: tuple | None = None,
                height: int = 220, select: bool = False, y_title: str = "",
                max_cols: int | None = DEFAULT_COLUMNS, view: tuple | None = None):
    """Line plot of named series over x (e.g. a per-base contribution track).

    x: (N,); series: {name: (N,) values}, one trace per name. Each series is drawn as its
    min/max envelope in at most ``max_cols`` columns (exact when shorter; ``None``: every
    point); ``view`` = (lo, hi) draws only the points inside it.
    """
    go = graph_objects()
    fig = go.Figure()
    xa = np.asarray(x, np.float64)
    vs = view_slice(xa, view)
    for i, (name, y) in enumerate(series.items()):
        lx, ly = _line_points(xa[vs], np.asarray(y, np.float32)[vs], max_cols)
        fig.add_trace(go.Scatter(x=lx, y=ly, mode="lines",
                                 name=name, line=dict(width=1, color=TRACK_COLORS[i % len(TRACK_COLORS)])))
    base_layout(fig, height=height, title=title, select=select)
    fig.update_layout(showlegend=len(series) > 1)
    fig.update_yaxes(title_text=y_title)
    if x_range:
        fig.update_xaxes(range=list(x_range))
    return fig


def variant_figure(x, ref, alt, labels, variant_x: float, title: str | None = None,
                   max_cols: int | None = DEFAULT_COLUMNS):
    """Reference vs alternative tracks per target, and their difference (alt - ref).

    x: (P,) bin centres; ref, alt: (P, T); labels: T names; variant_x: where the variant is
    (a dotted line). Traces per target: ``<label> ref``, ``<label> alt``, ``<label> alt-ref``;
    each drawn as its min/max envelope in at most ``max_cols`` columns (exact when shorter).
    """
    go = graph_objects()
    ref = np.asarray(ref, np.float32)
    alt = np.asarray(alt, np.float32)
    T = ref.shape[1]
    fig = make_subplots(rows=2 * T, cols=1, shared_xaxes=True, vertical_spacing=0.01,
                        row_heights=[HEIGHT_PER_TRACK, 55] * T)
    x = np.asarray(x, np.float64)
    for t in range(T):
        color = TRACK_COLORS[t % len(TRACK_COLORS)]
        rx, ry = _line_points(x, ref[:, t], max_cols)
        ax, ay = _line_points(x, alt[:, t], max_cols)
        dx, dy = _line_points(x, alt[:, t] - ref[:, t], max_cols)
        fig.add_trace(go.Scatter(x=rx, y=ry, mode="lines", name=f"{labels[t]} ref",
                                 line=dict(color="#999", width=1.5)), row=2 * t + 1, col=1)
        fig.add_trace(go.Scatter(x=ax, y=ay, mode="lines", name=f"{labels[t]} alt",
                                 line=dict(color=color, width=1.5)), row=2 * t + 1, col=1)
        fig.add_trace(go.Scatter(x=dx, y=dy, mode="lines", fill="tozeroy",
                                 name=f"{labels[t]} alt-ref", line=dict(color=color, width=1)),
                      row=2 * t + 2, col=1)
        fig.update_yaxes(title_text=labels[t][:14], title_font=dict(size=11), row=2 * t + 1, col=1)
        fig.update_yaxes(title_text="alt-ref", title_font=dict(size=10), row=2 * t + 2, col=1)
    fig.add_vline(x=variant_x, line=dict(color="#e67e22", width=1, dash="dot"))
    base_layout(fig, height=(HEIGHT_PER_TRACK + 55) * T + 60, title=title)
    return fig
