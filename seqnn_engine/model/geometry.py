"""Bin geometry of a model window (pure arithmetic; GUIDE §2 conventions).

A window of ``seq_length`` bases starts at display coordinate ``start`` (a genome position, or
the position in the user's sequence; window position ``i`` is drawn at ``start + i``). The model
pools it into ``seq_length // stride`` bins and crops ``crop`` bins on each side, so output bin
``b`` (0 <= b < target_length) covers window positions ``[(crop + b) * stride, (crop + b + 1) *
stride)``. Every conversion between positions, bins and display ranges of the project is a method
of :class:`BinGeometry`, so no caller writes ``(x - start) // stride - crop`` itself.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

__all__ = ["BinGeometry"]


@dataclass(frozen=True)
class BinGeometry:
    """seq_length (bp in), stride (bp per bin), crop (bins cut per side), target_length (bins out)."""

    seq_length: int
    stride: int
    crop: int
    target_length: int

    @classmethod
    def of(cls, seq_length: int, stride: int, crop: int) -> "BinGeometry":
        """The geometry of a model, checked (InputError when it leaves no output bin)."""
        seq_length, stride, crop = int(seq_length), int(stride), int(crop)
        if seq_length <= 0 or stride <= 0 or crop < 0:
            raise InputError(f"invalid model geometry: seq_length={seq_length}, stride={stride}, crop={crop}")
        target_length = seq_length // stride - 2 * crop
        if target_length <= 0:
            raise InputError(f"seq_length {seq_length} with stride {stride} and crop {crop} leaves no output bins")
        return cls(seq_length, stride, crop, target_length)

    # ------------------------------------------------------------------ windows
    def window_start(self, center: int) -> int:
        """Start of the window centred on ``center``: ``center - seq_length // 2``."""
        return int(center) - self.seq_length // 2

    # ------------------------------------------------------------------ bins
    def bin_of(self, pos, start: int = 0):
        """Output bin of display coordinate(s) ``pos`` for a window at ``start`` (may be outside
        ``[0, target_length)``): ``(pos - start) // stride - crop``."""
        return (np.asarray(pos, dtype=np.int64) - int(start)) // self.stride - self.crop

    def inside(self, bins) -> np.ndarray:
        """Boolean mask: which bins lie in ``[0, target_length)``."""
        b = np.asarray(bins)
        return (b >= 0) & (b < self.target_length)

    def bin_starts(self, start: int = 0) -> np.ndarray:
        """(P,) int64 display coordinate of the first base of every output bin."""
        return int(start) + (self.crop + np.arange(self.target_length, dtype=np.int64)) * self.stride

    def bin_centres(self, start: int = 0) -> np.ndarray:
        """(P,) float64 display coordinate of the centre of every output bin."""
        return int(start) + (self.crop + np.arange(self.target_length, dtype=np.float64)) * self.stride \
            + self.stride / 2.0

    def positions(self, start: int = 0) -> np.ndarray:
        """(L,) int64 display coordinate of every window position."""
        return int(start) + np.arange(self.seq_length, dtype=np.int64)

    def output_span(self, start: int = 0) -> tuple[int, int]:
        """Display range [lo, hi) covered by the output bins."""
        return (int(start) + self.crop * self.stride,
                int(start) + (self.crop + self.target_length) * self.stride)

    def range_bins(self, rng, start: int = 0) -> np.ndarray:
        """(k,) int64 output bins overlapping the display range [lo, hi) (may be empty)."""
        a, b = int(rng[0]) - int(start), int(rng[1]) - int(start)
        first = max(a // self.stride - self.crop, 0)
        last = min((b - 1) // self.stride - self.crop, self.target_length - 1)
        return np.arange(first, last + 1, dtype=np.int64) if last >= first else np.zeros(0, np.int64)

    def span_bins(self, lo: int, hi: int, start: int = 0) -> tuple[int, int] | None:
        """Inclusive (first, last) output bins of the span [lo, hi) clipped to the output, or None."""
        b = self.range_bins((lo, hi), start)
        return (int(b[0]), int(b[-1])) if b.size else None

    # ------------------------------------------------------------------ display ranges
    def clip_range(self, rng, start: int = 0) -> tuple[int, int]:
        """A display range clipped to the window, as integers with hi > lo."""
        lo = int(np.floor(min(rng)))
        hi = int(np.ceil(max(rng)))
        lo = max(int(start), min(lo, int(start) + self.seq_length - 1))
        hi = max(lo + 1, min(hi, int(start) + self.seq_length))
        return lo, hi

    def centred_range(self, width: int, start: int = 0) -> tuple[int, int]:
        """A display range of ``width`` bp centred in the window."""
        c = int(start) + self.seq_length // 2
        w = min(int(width), self.seq_length)
        return c - w // 2, c - w // 2 + w

    @staticmethod
    def range_positions(rng, start: int = 0) -> tuple[int, int]:
        """Display range -> window positions [a, b)."""
        return int(rng[0]) - int(start), int(rng[1]) - int(start)

    @staticmethod
    def limit_range(rng, max_bp: int) -> tuple[int, int]:
        """The central ``max_bp`` of a range (or the range itself when short enough)."""
        lo, hi = int(rng[0]), int(rng[1])
        if hi - lo <= max_bp:
            return lo, hi
        c = (lo + hi) // 2
        return c - max_bp // 2, c - max_bp // 2 + max_bp
