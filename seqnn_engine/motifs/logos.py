"""Sequence logos as standalone inline SVG (no plotting library).

:func:`logo_svg` draws a (W, 4) matrix of letter heights (A C G T): at each position the positive
heights are stacked upwards from the baseline (smallest at the bottom), negative ones downwards;
:func:`information_content` turns a probability matrix into the heights of an information-content
logo (bits).
"""
from __future__ import annotations

import html

import numpy as np

from ..errors import InputError

COLORS = {"A": "#109648", "C": "#255C99", "G": "#F7B32B", "T": "#D62839"}
CAP_HEIGHT = 0.72     # cap height of a bold sans-serif capital, in font-size units
LETTER_WIDTH = 0.72   # advance width of A, C, G, T in bold Arial-like fonts, in font-size units
FONT = 100            # font size the glyphs are drawn at before scaling (renderers hint tiny sizes badly)


def information_content(probs: np.ndarray, background=(0.25, 0.25, 0.25, 0.25), pseudocount: float = 1e-3) -> np.ndarray:
    """(W, 4) letter heights ``p * IC`` (bits) of a (W, 4) probability matrix, where
    ``IC = sum_b p_b log2(p_b / bg_b)`` per position."""
    p = np.asarray(probs, dtype=np.float64) + pseudocount
    p /= p.sum(1, keepdims=True)
    bg = np.asarray(background, dtype=np.float64)
    ic = (p * np.log2(p / bg[None])).sum(1, keepdims=True)
    return p * np.maximum(ic, 0)


def logo_svg(heights: np.ndarray, width_px: int = 0, height_px: int = 80, title: str = "",
             ymax: float | None = None) -> str:
    """An ``<svg>`` element drawing ``heights`` (W, 4) as a logo.

    width_px: total width (default 14 px per position); height_px: drawing height; ymax: the value
    at the full height (default the largest stack, positive or negative); title: a tooltip.
    """
    h = np.asarray(heights, dtype=np.float64)
    if h.ndim != 2 or h.shape[1] != 4:
        raise InputError(f"logo heights must be (W, 4), got shape {h.shape}")
    if not np.all(np.isfinite(h)):
        raise InputError("logo heights hold NaN or inf")
    W = h.shape[0]
    width_px = int(width_px) or max(14 * W, 14)
    col = width_px / max(W, 1)
    up = np.clip(h, 0, None).sum(1).max(initial=0.0)
    down = -np.clip(h, None, 0).sum(1).min(initial=0.0)
    top = float(ymax) if ymax else max(up, down, 1e-12)
    has_neg = down > 0
    scale = (height_px / 2 if has_neg else height_px) / top
    base = height_px / 2 if has_neg else height_px
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width_px}" height="{height_px}" '
             f'viewBox="0 0 {width_px} {height_px}" font-family="Arial, Helvetica, sans-serif" font-weight="bold">']
    if title:
        parts.append(f"<title>{html.escape(title)}</title>")
    for i in range(W):
        for sign in (1, -1):
            vals = [(abs(h[i, b]), "ACGT"[b]) for b in range(4) if h[i, b] * sign > 0]
            y = base
            for v, letter in sorted(vals):
                ph = v * scale
                if ph < 0.3:
                    continue
                # a capital of font-size FONT spans CAP_HEIGHT * FONT above its baseline; stretch it to ph
                sy = ph / (CAP_HEIGHT * FONT)
                sx = col / (LETTER_WIDTH * FONT)
                yb = y if sign > 0 else y + ph
                parts.append(f'<text transform="translate({i * col:.2f},{yb:.2f}) scale({sx:.4f},{sy:.4f})" '
                             f'font-size="{FONT}" fill="{COLORS[letter]}">{letter}</text>')
                y = y - ph if sign > 0 else y + ph
    if has_neg:
        parts.append(f'<line x1="0" y1="{base}" x2="{width_px}" y2="{base}" stroke="#999" stroke-width="0.5"/>')
    parts.append("</svg>")
    return "".join(parts)
