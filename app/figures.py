"""Plotly figure builders (pure: arrays in, ``go.Figure`` out; no Streamlit, no model).

All views share one coordinate axis: ``x`` is the display coordinate of each position
(genome coordinate when the input came from the genome, else the position in the user's
sequence). Arrays are passed to plotly as float32/float64 numpy arrays (sent base64).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from seqnn_engine.plot_data import DEFAULT_COLUMNS, column_extremes, envelope, view_slice

BASES = "ACGT"
BASE_COLORS = {"A": "#109648", "C": "#255c99", "G": "#f7b32b", "T": "#d62839"}
TRACK_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22"]
HEIGHT_PER_TRACK = 90
GENE_ROW_HEIGHT = 70
SELECT_COLOR = "rgba(255, 193, 7, 0.18)"


# ----------------------------------------------------------------------------------- helpers

def pool_columns(mat: np.ndarray, max_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Max-abs pooling of the last axis to at most ``max_cols`` columns.

    mat: (..., N). Returns (pooled (..., M), starts (M,)): column j of the result is the
    signed value of largest magnitude among input columns ``[starts[j], starts[j+1])``;
    M = ceil(N / k) with k = ceil(N / max_cols). Without pooling M = N.
    """
    m = np.asarray(mat)
    n = m.shape[-1]
    if n <= max_cols:
        return m, np.arange(n)
    k = -(-n // max_cols)
    pad = (-n) % k
    if pad:
        m = np.concatenate([m, np.zeros(m.shape[:-1] + (pad,), m.dtype)], axis=-1)
    g = m.reshape(m.shape[:-1] + (m.shape[-1] // k, k))
    idx = np.abs(g).argmax(axis=-1)
    pooled = np.take_along_axis(g, idx[..., None], axis=-1)[..., 0]
    return pooled, np.arange(0, n, k)


def _line_points(x: np.ndarray, y: np.ndarray, max_cols: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of a line drawing ``y`` over ``x`` (both (N,)): the min/max envelope in at most
    ``max_cols`` columns (seqnn_engine.plot_data.envelope), or every point (``None`` or few points)."""
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


def cap_note(fig: go.Figure, text: str) -> go.Figure:
    """A small note under the plot area (e.g. that a logo or heatmap is capped)."""
    fig.add_annotation(text=text, xref="paper", yref="paper", x=0, y=0, yshift=-28, xanchor="left",
                       yanchor="top", showarrow=False, font=dict(size=11, color="#666"))
    fig.update_layout(margin=dict(b=55))
    return fig


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _base_layout(fig: go.Figure, height: int, title: str | None = None, select: bool = False) -> go.Figure:
    fig.update_layout(
        height=height, margin=dict(l=70, r=20, t=40 if title else 10, b=30), showlegend=False,
        title=dict(text=title, x=0, font=dict(size=14)) if title else None,
        dragmode="select" if select else "zoom", selectdirection="h" if select else None,
        hovermode="x", plot_bgcolor="white", uirevision="keep",
    )
    fig.update_xaxes(showgrid=False, zeroline=False, linecolor="#888", ticks="outside", exponentformat="none",
                     separatethousands=True)
    fig.update_yaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    return fig


# ----------------------------------------------------------------------------------- genes

@dataclass(frozen=True)
class GeneFeature:
    """A gene drawn on the gene track (display coordinates, half-open)."""

    name: str
    start: int
    end: int
    strand: str
    exons: tuple = ()
    tss: tuple = ()


def _gene_traces(genes: list[GeneFeature], x_range: tuple) -> list[go.Scatter]:
    traces = []
    lo, hi = x_range
    ix, iy, ex, ey, ax, ay, asym, tx, ty, tt = [], [], [], [], [], [], [], [], [], []
    tssx, tssy, tsst = [], [], []
    for k, g in enumerate(genes):
        y = -(k % 3)  # stagger overlapping genes on three lanes
        s, e = max(g.start, lo), min(g.end, hi)
        if e <= s:
            continue
        ix += [s, e, None]
        iy += [y, y, None]
        for es, ee in g.exons:
            es, ee = max(es, lo), min(ee, hi)
            if ee <= es:
                continue
            ex += [es, ee, ee, es, es, None]
            ey += [y - 0.3, y - 0.3, y + 0.3, y + 0.3, y - 0.3, None]
        n_arrows = max(1, int((e - s) / max(1, (hi - lo)) * 12))
        for a in np.linspace(s, e, n_arrows + 2)[1:-1]:
            ax.append(float(a))
            ay.append(y)
            asym.append("triangle-right" if g.strand == "+" else "triangle-left")
        tx.append((s + e) / 2)
        ty.append(y + 0.55)
        tt.append(f"{g.name} ({g.strand})")
        for t in g.tss:
            if lo <= t < hi:
                tssx.append(t)
                tssy.append(y + 0.45)
                tsst.append(f"TSS {g.name} {t:,}")
    traces.append(go.Scatter(x=ix, y=iy, mode="lines", line=dict(color="#555", width=1.5), hoverinfo="skip",
                             name="introns"))
    traces.append(go.Scatter(x=ex, y=ey, mode="lines", fill="toself", fillcolor="#34495e",
                             line=dict(color="#34495e", width=1), hoverinfo="skip", name="exons"))
    traces.append(go.Scatter(x=ax, y=ay, mode="markers", marker=dict(symbol=asym, size=7, color="#888"),
                             hoverinfo="skip", name="strand"))
    traces.append(go.Scatter(x=tx, y=ty, mode="text", text=tt, textfont=dict(size=11), hoverinfo="skip",
                             name="gene names"))
    traces.append(go.Scatter(x=tssx, y=tssy, mode="markers", text=tsst, hoverinfo="text", name="TSS",
                             marker=dict(symbol="triangle-down", size=10, color="#e67e22")))
    return traces


# ----------------------------------------------------------------------------------- tracks

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


def tracks_figure(x: np.ndarray, mean: np.ndarray, sd: np.ndarray | None, labels: list[str],
                  genes: list[GeneFeature] | None = None, selection: tuple | None = None,
                  x_range: tuple | None = None, title: str | None = None, x_title: str = "",
                  max_cols: int | None = DEFAULT_COLUMNS, view: tuple | None = None) -> go.Figure:
    """Prediction tracks (one row per target) with a +-1 sd band, and a gene track underneath.

    x: (P,) bin centres; mean, sd: (P, T); labels: T names. ``selection`` shades a range.
    Box selection (horizontal) is the drag mode, so a selected range reaches the app.
    Each track is drawn as its min/max envelope in at most ``max_cols`` columns (<= 2 max_cols
    points per trace; exact when the drawn bins are fewer; ``None``: every bin). ``view`` =
    (lo, hi) draws only the bins inside that range (exact once few enough: zoom).
    """
    mean = np.asarray(mean, np.float32)
    T = mean.shape[1]
    x_all = np.asarray(x, np.float64)
    vs = view_slice(x_all, view)
    show_genes = genes is not None
    rows = T + (1 if show_genes else 0)
    heights = [HEIGHT_PER_TRACK] * T + ([GENE_ROW_HEIGHT] if show_genes else [])
    x = x_all[vs]
    sd_arr = None if sd is None else np.asarray(sd, np.float32)
    traces = []
    for t in range(T):
        ax = dict(xaxis="x" if t == 0 else f"x{t + 1}", yaxis="y" if t == 0 else f"y{t + 1}")
        color = TRACK_COLORS[t % len(TRACK_COLORS)]
        y = mean[vs, t]
        if sd_arr is not None and np.any(sd_arr[vs, t] > 0):
            s = sd_arr[vs, t]
            bx, bu, bl = _band_points(x, (y + s).astype(np.float32), (y - s).astype(np.float32), max_cols)
            traces.append(dict(type="scatter", x=bx, y=bu, mode="lines", line=dict(width=0),
                                     hoverinfo="skip", name=f"{labels[t]} +1 sd", **ax))
            traces.append(dict(type="scatter", x=bx, y=bl, mode="lines", line=dict(width=0),
                                     fill="tonexty", fillcolor=_rgba(color, 0.25), hoverinfo="skip",
                                     name=f"{labels[t]} -1 sd", **ax))
        lx, ly = _line_points(x, y, max_cols)
        traces.append(dict(type="scatter", x=lx, y=ly, mode="lines", line=dict(color=color, width=1.5), name=labels[t],
                                 hovertemplate=f"{labels[t]}: %{{y:.3g}}<extra></extra>", **ax))
    x = x_all
    lo = float(x[0] - (x[1] - x[0]) / 2) if len(x) > 1 else float(x[0]) - 0.5
    hi = float(x[-1] + (x[1] - x[0]) / 2) if len(x) > 1 else float(x[0]) + 0.5
    sx = "" if rows == 1 else str(rows)
    if show_genes:
        for tr in _gene_traces(genes, (lo, hi)):
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


def line_figure(x: np.ndarray, series: dict, title: str | None = None, x_range: tuple | None = None,
                height: int = 220, select: bool = False, y_title: str = "",
                max_cols: int | None = DEFAULT_COLUMNS, view: tuple | None = None) -> go.Figure:
    """Line plot of named series over x (e.g. a per-base contribution track of 524,288 positions).

    Each series is drawn as its min/max envelope in at most ``max_cols`` columns (exact when
    shorter; ``None``: every point); ``view`` = (lo, hi) draws only the points inside it.
    """
    fig = go.Figure()
    xa = np.asarray(x, np.float64)
    vs = view_slice(xa, view)
    for i, (name, y) in enumerate(series.items()):
        lx, ly = _line_points(xa[vs], np.asarray(y, np.float32)[vs], max_cols)
        fig.add_trace(go.Scatter(x=lx, y=ly, mode="lines",
                                 name=name, line=dict(width=1, color=TRACK_COLORS[i % len(TRACK_COLORS)])))
    _base_layout(fig, height=height, title=title, select=select)
    fig.update_layout(showlegend=len(series) > 1)
    fig.update_yaxes(title_text=y_title)
    if x_range:
        fig.update_xaxes(range=list(x_range))
    return fig


# ----------------------------------------------------------------------------------- logo

def _arc(cx, cy, rx, ry, a0, a1, n):
    t = np.linspace(np.deg2rad(a0), np.deg2rad(a1), n)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _glyphs() -> dict:
    """Letter outlines in the unit box [0,1] x [0,1]; each glyph is a list of closed polygons."""
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


def logo_traces(matrix: np.ndarray, x0: float, width: float = 0.9) -> list[go.Scatter]:
    """One filled scatter trace per base drawing a sequence logo.

    matrix: (N, 4) scores for positions x0 .. x0+N-1 (ACGT). Positive scores stack upward
    from 0 (largest on top), negative scores downward (largest magnitude at the bottom).
    """
    m = np.asarray(matrix, np.float64)
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


def logo_figure(matrix: np.ndarray, x0: float, title: str | None = None, height: int = 230,
                note: str | None = None) -> go.Figure:
    """Sequence logo (glyphs as plotly filled traces) for positions x0 .. x0+N-1; ``note`` is
    written under the plot (e.g. that the logo is capped)."""
    fig = go.Figure(logo_traces(matrix, x0))
    n = np.asarray(matrix).shape[0]
    _base_layout(fig, height=height, title=title)
    fig.update_layout(hovermode=False)
    fig.update_xaxes(range=[x0 - 0.6, x0 + n - 0.4])
    fig.add_hline(y=0, line=dict(color="#999", width=0.5))
    if note:
        cap_note(fig, note)
    return fig


# ----------------------------------------------------------------------------------- heatmaps

def heatmap_figure(mat: np.ndarray, x: np.ndarray, row_labels: list[str], title: str | None = None,
                   max_cols: int = 4000, colorscale: str = "RdBu_r", symmetric: bool = True,
                   height: int | None = None, x_range: tuple | None = None, z_title: str = "",
                   note: str | None = None) -> go.Figure:
    """Heatmap of (rows, columns) values with columns at x, max-abs pooled to <= max_cols columns.

    When pooled, a note under the plot says so (``note`` overrides its text)."""
    m = np.asarray(mat, np.float32)
    pooled, starts = pool_columns(m, max_cols)
    xs = np.asarray(x, np.float64)[starts]
    lim = float(np.nanmax(np.abs(pooled))) if pooled.size and np.isfinite(pooled).any() else 1.0
    lim = lim or 1.0
    fig = go.Figure(go.Heatmap(z=pooled.astype(np.float32), x=xs, y=list(row_labels), colorscale=colorscale,
                               zmid=0 if symmetric else None, zmin=-lim if symmetric else None,
                               zmax=lim if symmetric else None, colorbar=dict(title=z_title, thickness=12)))
    rows = m.shape[0]
    _base_layout(fig, height=height or min(900, max(200, 18 * rows + 90)), title=title)
    fig.update_yaxes(showgrid=False, autorange="reversed", type="category" if rows <= 64 else None)
    if x_range:
        fig.update_xaxes(range=list(x_range))
    if note or pooled.shape[-1] < m.shape[-1]:
        k = -(-m.shape[-1] // pooled.shape[-1])
        cap_note(fig, note or f"Heatmap capped at {max_cols:,} columns: each column shows the largest |value| "
                              f"of {k:,} positions; select a shorter range for every position.")
    return fig


# ----------------------------------------------------------------------------------- variant / test set

def variant_figure(x: np.ndarray, ref: np.ndarray, alt: np.ndarray, labels: list[str], variant_x: float,
                   title: str | None = None, max_cols: int | None = DEFAULT_COLUMNS) -> go.Figure:
    """Reference vs alternative tracks per target, and their difference (alt - ref); each drawn as
    its min/max envelope in at most ``max_cols`` columns (exact when shorter)."""
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
    _base_layout(fig, height=(HEIGHT_PER_TRACK + 55) * T + 60, title=title)
    return fig


def scatter_figure(pred: np.ndarray, obs: np.ndarray, title: str | None = None, max_points: int = 20000,
                   seed: int = 0) -> go.Figure:
    """Predicted vs observed values (a random subsample of at most max_points)."""
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
    _base_layout(fig, height=420, title=title)
    fig.update_xaxes(title_text="observed")
    fig.update_yaxes(title_text="predicted")
    return fig


def bar_figure(labels: list[str], series: dict, title: str | None = None, height: int = 300) -> go.Figure:
    """Grouped bars: one group per label, one bar per series (e.g. per-target variant scores)."""
    fig = go.Figure()
    for i, (name, v) in enumerate(series.items()):
        fig.add_trace(go.Bar(x=list(labels), y=np.asarray(v, np.float64), name=name,
                             marker_color=TRACK_COLORS[i % len(TRACK_COLORS)]))
    _base_layout(fig, height=height, title=title)
    fig.update_layout(showlegend=len(series) > 1, barmode="group", hovermode="closest")
    return fig


# ----------------------------------------------------------------------------------- seqlets / motif hits

SEQLET_COLORS = {1: "#2e7d32", -1: "#c62828"}   # positive / negative contribution


def seqlet_traces(starts, ends, labels, signs, y0: float, y1: float, hover=None) -> list[go.Scatter]:
    """Seqlet boxes with their labels, for a track whose positions are drawn at integer x.

    starts, ends: (N,) display coordinates, half-open ``[start, end)`` (a box spans
    ``start - 0.5 .. end - 0.5``, the extent of those bases); labels: N texts drawn above the
    boxes; signs: (N,) +1 / -1 (box colour); y0, y1: vertical extent of the boxes. hover: N
    hover texts (default: the labels). Returns two traces: ``seqlets`` (outlines, one closed
    polygon per seqlet) and ``seqlet labels`` (text).
    """
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
        traces.append(go.Scatter(x=bx, y=by, mode="lines", fill="toself", fillcolor=_rgba(SEQLET_COLORS[sign], 0.08),
                                 line=dict(color=SEQLET_COLORS[sign], width=1), text=ht, hoverinfo="text",
                                 name="seqlets" if sign > 0 else "seqlets (negative)", hoveron="fills+points"))
    traces.append(go.Scatter(x=(s + e) / 2 - 0.5, y=np.full(len(s), y1, np.float64), mode="text",
                             text=list(labels), textposition="top center", textfont=dict(size=10),
                             hoverinfo="skip", name="seqlet labels"))
    return traces


def add_seqlets(fig: go.Figure, starts, ends, labels, signs, values: np.ndarray, hover=None) -> go.Figure:
    """Draw seqlet boxes on ``fig`` spanning the range of ``values`` (the drawn track), with
    head room above for the labels."""
    v = np.asarray(values, np.float64)
    lo = float(min(0.0, np.nanmin(v))) if v.size else 0.0
    hi = float(max(0.0, np.nanmax(v))) if v.size else 1.0
    pad = (hi - lo) * 0.05 or 1.0
    for tr in seqlet_traces(starts, ends, labels, signs, lo - pad, hi + pad, hover):
        fig.add_trace(tr)
    fig.update_yaxes(range=[lo - 2 * pad, hi + 5 * pad])
    return fig


def motif_hits_figure(rows: list[str], row: np.ndarray, starts, ends, strands, hover: list[str],
                      x_range: tuple, title: str | None = None) -> go.Figure:
    """Motif hits (e.g. FIMO) as a track: one lane per motif, a bar per hit.

    rows: lane labels (one per motif); row: (N,) lane of each hit; starts, ends: (N,) display
    coordinates, half-open; strands: N '+'/'-' (bar colour); hover: N texts.
    """
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
    _base_layout(fig, height=max(120, 28 * len(rows) + 70), title=title)
    fig.update_layout(hovermode="closest", showlegend=True)
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(rows))), ticktext=list(rows),
                     range=[len(rows) - 0.5, -0.5], showgrid=False)
    fig.update_xaxes(range=list(x_range))
    return fig
