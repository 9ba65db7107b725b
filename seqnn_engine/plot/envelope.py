"""Drawing data for long tracks and wide heatmaps (pure numpy, no plotly).

A min/max envelope per pixel column (lines) and max-abs pooling of columns (heatmaps).

A track of N positions drawn into at most ``max_cols`` columns: when N <= max_cols every value
is kept (exact); otherwise the positions are cut into M = ceil(N / k) consecutive columns of
k = ceil(N / max_cols) positions (the last may be shorter), and each column keeps two points,
its minimum and its maximum at their own positions, in position order. A line through those
points passes through every column's extremes, so no peak or dip is lost at any zoom the
envelope was built for; 2 M <= 2 max_cols points per track.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

__all__ = ["Envelope", "column_extremes", "envelope", "pool_columns", "view_slice", "DEFAULT_COLUMNS"]

DEFAULT_COLUMNS = 2000


@dataclass(frozen=True)
class Envelope:
    """Points to draw. index: (K,) int64 positions (into the input) of the kept points, sorted;
    values: (K, ...) the input values there; exact: True when every position was kept
    (K = N), else K = 2 M (each column's min and max; a column of one position repeats it)."""

    index: np.ndarray
    values: np.ndarray
    exact: bool


def _columns(n: int, max_cols: int) -> int:
    if max_cols < 1:
        raise InputError(f"max_cols must be a positive number of columns, got {max_cols}")
    return -(-n // max_cols)


def column_extremes(values, max_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-column minimum and maximum of ``values`` (N, ...) along axis 0.

    Returns (starts (M,) int64 first position of each column, vmin (M, ...), vmax (M, ...))
    with k = ceil(N / max_cols) positions per column (the last column may hold fewer).
    NaN positions are ignored unless a whole column is NaN (then NaN).
    """
    v = np.asarray(values)
    n = v.shape[0]
    if n == 0:
        raise InputError("cannot draw an empty track")
    k = _columns(n, max_cols)
    starts = np.arange(0, n, k, dtype=np.int64)
    with np.errstate(invalid="ignore"):
        if np.issubdtype(v.dtype, np.floating) and np.isnan(v).any():
            vmin = np.fmin.reduceat(v, starts, axis=0)
            vmax = np.fmax.reduceat(v, starts, axis=0)
        else:
            vmin = np.minimum.reduceat(v, starts, axis=0)
            vmax = np.maximum.reduceat(v, starts, axis=0)
    return starts, vmin, vmax


def envelope(values, max_cols: int = DEFAULT_COLUMNS) -> Envelope:
    """The points drawing one track ``values`` (N,) in at most ``max_cols`` columns (see the
    module docstring). Exact (all N points) when N <= max_cols."""
    v = np.asarray(values)
    if v.ndim != 1:
        raise InputError(f"envelope takes one track (N,), got shape {v.shape}")
    n = v.shape[0]
    if n == 0:
        raise InputError("cannot draw an empty track")
    if n <= max_cols:
        return Envelope(np.arange(n, dtype=np.int64), v, True)
    k = _columns(n, max_cols)
    m = -(-n // k)
    pad = m * k - n
    w = v.astype(np.float64, copy=False)
    if pad:
        # pad the last column with its own first value: extremes unchanged
        w = np.concatenate([w, np.full(pad, w[(m - 1) * k])])
    g = w.reshape(m, k)
    with np.errstate(invalid="ignore"):
        gmin = np.where(np.isnan(g), np.inf, g)
        gmax = np.where(np.isnan(g), -np.inf, g)
    amin = gmin.argmin(axis=1)
    amax = gmax.argmax(axis=1)
    base = np.arange(m, dtype=np.int64) * k
    lo = np.minimum(amin, amax) + base
    hi = np.maximum(amin, amax) + base
    lo = np.minimum(lo, n - 1)
    hi = np.minimum(hi, n - 1)
    idx = np.stack([lo, hi], axis=1).reshape(-1)
    return Envelope(idx, v[idx], False)


def view_slice(x, view) -> slice:
    """The positions of sorted coordinates ``x`` (N,) inside ``view`` = (lo, hi), widened by one
    on each side so a line reaches the view's edges; the whole track when ``view`` is None."""
    if view is None:
        return slice(0, len(x))
    xs = np.asarray(x)
    a = int(np.searchsorted(xs, view[0], side="left"))
    b = int(np.searchsorted(xs, view[1], side="right"))
    return slice(max(0, a - 1), min(len(xs), b + 1))


def pool_columns(mat, max_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Max-abs pooling of the last axis to at most ``max_cols`` columns (heatmaps).

    mat: (..., N). Returns (pooled (..., M), starts (M,)): column j of the result is the
    signed value of largest magnitude among input columns ``[starts[j], starts[j+1])``;
    M = ceil(N / k) with k = ceil(N / max_cols). Without pooling (N <= max_cols) the input
    itself and ``arange(N)``.
    """
    m = np.asarray(mat)
    n = m.shape[-1]
    if n <= max_cols:
        return m, np.arange(n)
    k = _columns(n, max_cols)
    pad = (-n) % k
    if pad:
        m = np.concatenate([m, np.zeros(m.shape[:-1] + (pad,), m.dtype)], axis=-1)
    g = m.reshape(m.shape[:-1] + (m.shape[-1] // k, k))
    idx = np.abs(g).argmax(axis=-1)
    pooled = np.take_along_axis(g, idx[..., None], axis=-1)[..., 0]
    return pooled, np.arange(0, n, k)
