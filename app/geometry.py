"""Display coordinates of a model window (pure arithmetic; GUIDE §2 conventions).

Window position ``i`` (0 <= i < seq_length) is drawn at ``start + i`` where ``start`` is the
display coordinate of the window's first base. Output bin ``b`` covers window positions
``[(crop + b) * stride, (crop + b + 1) * stride)`` and is drawn at its centre.
"""
from __future__ import annotations

import numpy as np


def base_x(start: int, seq_length: int) -> np.ndarray:
    """(L,) display coordinate of every window position."""
    return start + np.arange(seq_length, dtype=np.int64)


def bin_x(start: int, stride: int, crop: int, n_bins: int) -> np.ndarray:
    """(P,) display coordinate of the centre of every output bin."""
    return start + (crop + np.arange(n_bins, dtype=np.float64)) * stride + stride / 2.0


def bin_starts(start: int, stride: int, crop: int, n_bins: int) -> np.ndarray:
    """(P,) display coordinate of the first base of every output bin."""
    return start + (crop + np.arange(n_bins, dtype=np.int64)) * stride


def output_span(start: int, stride: int, crop: int, n_bins: int) -> tuple[int, int]:
    """Display range [lo, hi) covered by the model output."""
    return start + crop * stride, start + (crop + n_bins) * stride


def clip_range(rng, start: int, seq_length: int) -> tuple[int, int]:
    """A display range clipped to the window, as integers with hi > lo."""
    lo = int(np.floor(min(rng)))
    hi = int(np.ceil(max(rng)))
    lo = max(start, min(lo, start + seq_length - 1))
    hi = max(lo + 1, min(hi, start + seq_length))
    return lo, hi


def range_positions(rng, start: int) -> tuple[int, int]:
    """Display range -> window positions [a, b)."""
    return int(rng[0]) - start, int(rng[1]) - start


def range_bins(rng, start: int, stride: int, crop: int, n_bins: int) -> np.ndarray:
    """Output bins overlapping the display range [lo, hi) (may be empty)."""
    a, b = range_positions(rng, start)
    first = (a // stride) - crop
    last = ((b - 1) // stride) - crop
    first, last = max(first, 0), min(last, n_bins - 1)
    return np.arange(first, last + 1, dtype=np.int64) if last >= first else np.zeros(0, np.int64)


def centred_range(start: int, seq_length: int, width: int) -> tuple[int, int]:
    """A range of ``width`` bp centred in the window."""
    c = start + seq_length // 2
    w = min(width, seq_length)
    return c - w // 2, c - w // 2 + w


def limit_range(rng, max_bp: int) -> tuple[int, int]:
    """The central ``max_bp`` of a range (or the range itself when short enough)."""
    lo, hi = int(rng[0]), int(rng[1])
    if hi - lo <= max_bp:
        return lo, hi
    c = (lo + hi) // 2
    return c - max_bp // 2, c - max_bp // 2 + max_bp
