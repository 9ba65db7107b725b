"""What every figure module shares: plotly, imported on first use, and the house style.

plotly is optional for the engine (``pip install 'seqnn-engine[plot]'``); without it the
figure functions raise :class:`~seqnn_engine.errors.InputError` saying what to install, while
``import seqnn_engine.plot`` and the pure-numpy helpers (envelope, pool_columns) still work.
"""
from __future__ import annotations

from ..errors import InputError

BASES = "ACGT"
BASE_COLORS = {"A": "#109648", "C": "#255c99", "G": "#f7b32b", "T": "#d62839"}
TRACK_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22"]
HEIGHT_PER_TRACK = 90
GENE_ROW_HEIGHT = 70
SELECT_COLOR = "rgba(255, 193, 7, 0.18)"

PLOTLY_MISSING = ("seqnn_engine.plot draws with plotly, which is not installed: pip install 'plotly>=6.0,<8' "
                  "(or pip install 'seqnn-engine[plot]')")


def graph_objects():
    """The ``plotly.graph_objects`` module, or InputError saying how to install plotly."""
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise InputError(PLOTLY_MISSING) from None
    return go


def make_subplots(**kw):
    """``plotly.subplots.make_subplots(**kw)`` (InputError without plotly)."""
    graph_objects()
    from plotly.subplots import make_subplots as _make
    return _make(**kw)


def rgba(hex_color: str, alpha: float) -> str:
    """'#rrggbb' -> 'rgba(r,g,b,alpha)'."""
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def cap_note(fig, text: str):
    """Write a small note under the plot area of ``fig`` (e.g. that a logo or heatmap is capped);
    returns ``fig``."""
    fig.add_annotation(text=text, xref="paper", yref="paper", x=0, y=0, yshift=-28, xanchor="left",
                       yanchor="top", showarrow=False, font=dict(size=11, color="#666"))
    fig.update_layout(margin=dict(b=55))
    return fig


MARK_COLOR = "#e67e22"


def mark_position(fig, pos: float, label: str | None = None, width: int = 1):
    """Mark ``width`` bases from display position ``pos`` (e.g. a variant) on every row of ``fig``: a
    dotted line at the base's centre (a band for several bases), labelled on the top row. Returns ``fig``."""
    rows = {"row": "all", "col": "all"} if getattr(fig, "_grid_ref", None) else {}
    if width <= 1:
        fig.add_vline(x=float(pos), line=dict(color=MARK_COLOR, width=1, dash="dot"), **rows)
    else:
        fig.add_vrect(x0=float(pos) - 0.5, x1=float(pos) + width - 0.5, fillcolor=MARK_COLOR, opacity=0.18,
                      line_width=0, layer="below", **rows)
    if label:
        fig.add_annotation(x=float(pos), y=1.0, xref="x", yref="paper", text=label, showarrow=False,
                           yanchor="bottom", font=dict(size=10, color=MARK_COLOR))
    return fig


def shade_range(fig, rng, outline: bool = False):
    """Mark the display range ``rng`` = (lo, hi) on every row of ``fig``: a light fill behind the
    data, or (``outline``) a thin frame drawn over it (for heatmaps). Returns ``fig``."""
    if outline:
        fig.add_vrect(x0=rng[0], x1=rng[1], line=dict(color="#333", width=1), fillcolor=None)
    else:
        fig.add_vrect(x0=rng[0], x1=rng[1], fillcolor=SELECT_COLOR, line_width=0, layer="below")
    return fig


def base_layout(fig, height: int, title: str | None = None, select: bool = False):
    """The shared look (white background, light grid, thousands separators); ``select`` makes a
    horizontal box selection the drag mode. Returns ``fig``."""
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
