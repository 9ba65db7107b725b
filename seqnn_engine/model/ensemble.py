"""Ensemble members: augmentation of inputs, un-augmentation of outputs, streaming statistics.

A member is (reverse-complement flag, shift in bp, MC-dropout sample index). Its
input is ``RC(shift(x, s))`` when rc else ``shift(x, s)`` (the reference order:
shift first, then reverse-complement). ``shift(x, s)[i] = x[i - s]`` with zero
rows where nothing shifts in (the reference's padding).

Outputs are un-augmented before averaging:
- bin-resolution predictions of an RC member are reversed on the bin axis and
  strand-paired targets swapped back; shifts are NOT undone at bin resolution
  (a few bp are below one bin; this is what the reference does);
- input-resolution gradients are reverse-complemented back and un-shifted
  (positions shifted out of the window get 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class Member:
    rc: bool
    shift: int
    mc: int = -1  # MC-dropout sample index; -1 = dropout off

    @property
    def label(self) -> str:
        s = f"{'rc' if self.rc else 'fwd'}{self.shift:+d}"
        return s if self.mc < 0 else f"{s}/mc{self.mc}"


def members(rc: bool = False, shifts=(0,), mc_n: int = 0) -> list[Member]:
    """Members in a fixed order: for each shift, forward then RC; each repeated mc_n times if mc_n > 0."""
    try:
        shifts = [int(s) for s in (shifts if np.ndim(shifts) else [shifts])]
    except (TypeError, ValueError):
        raise InputError(f"shifts must be a list of integers, got {shifts!r}") from None
    if not shifts:
        raise InputError("shifts is empty: use (0,) for no shift")
    if len(set(shifts)) != len(shifts):
        raise InputError(f"shifts contains duplicates: {shifts}")
    if mc_n < 0:
        raise InputError(f"mc_n must be >= 0, got {mc_n}")
    out = []
    for s in shifts:
        for r in ([False, True] if rc else [False]):
            if mc_n:
                out.extend(Member(r, s, m) for m in range(mc_n))
            else:
                out.append(Member(r, s))
    return out


def shift_onehot(x: np.ndarray, shift: int) -> np.ndarray:
    """(..., L, C) -> shifted copy: out[..., i, :] = x[..., i - shift, :], zero-padded."""
    if shift == 0:
        return x
    out = np.zeros_like(x)
    if abs(shift) >= x.shape[-2]:
        return out
    if shift > 0:
        out[..., shift:, :] = x[..., :-shift, :]
    else:
        out[..., :shift, :] = x[..., -shift:, :]
    return out


def augment(x: np.ndarray, m: Member) -> np.ndarray:
    """Input (S, L, 4) for member m."""
    y = shift_onehot(x, m.shift)
    return np.ascontiguousarray(y[..., ::-1, ::-1]) if m.rc else y


def unaugment_input(g: np.ndarray, m: Member) -> np.ndarray:
    """Map a gradient (S, L, 4) w.r.t. member m's input back to the original input's coordinates."""
    if m.rc:
        g = g[..., ::-1, ::-1]
    return np.ascontiguousarray(shift_onehot(g, -m.shift))


def unaugment_positions(g: np.ndarray, m: Member, stride: int, axis: int = -2, complement: bool = False):
    """Map a layer-resolution array (..., P, U) of member m back to forward coordinates.

    RC members are reversed on the position axis (channels are not complemented
    except at the input, ``complement=True``). A shift is undone when it is a
    multiple of ``stride`` (bp per position); otherwise it is left as is (below
    one position) — the reference behaviour for bins.
    """
    if m.rc:
        g = np.flip(g, axis=axis)
        if complement:
            g = g[..., ::-1]
    if m.shift and stride and m.shift % stride == 0:
        g = np.moveaxis(shift_onehot(np.moveaxis(g, axis, -2), -(m.shift // stride)), -2, axis)
    return np.ascontiguousarray(g)


def unaugment_bins(p: np.ndarray, m: Member, strand_pair=None) -> np.ndarray:
    """Predictions (S, P, T) of member m -> forward orientation (strand pairs swapped back for RC)."""
    if m.rc:
        p = p[:, ::-1, :]
        if strand_pair is not None:
            p = p[..., np.asarray(strand_pair)]
    return np.ascontiguousarray(p)


class RunningStats:
    """Welford streaming mean and unbiased variance over members.

    u_k = u_{k-1} + (x_k - u_{k-1}) / k;  v_k = v_{k-1} + (x_k - u_{k-1})(x_k - u_k);
    var = v_n / (n - 1) (0 when n == 1). Accumulates in float64; the second-moment
    array is allocated only once some item has a second member.
    """

    def __init__(self, shape):
        self.shape = tuple(shape)
        self.n = np.zeros(self.shape[:1], dtype=np.int64)
        self.mean = np.zeros(self.shape, dtype=np.float64)
        self.m2 = None

    def update(self, i: int, x: np.ndarray):
        """Add one member's array for item i."""
        self.update_block(i, np.asarray(x)[None])

    def update_block(self, i0: int, xs: np.ndarray):
        """Add one member's arrays for items i0 .. i0 + len(xs) - 1 (vectorised)."""
        sl = slice(i0, i0 + xs.shape[0])
        self.n[sl] += 1
        n = self.n[sl].reshape((-1,) + (1,) * (xs.ndim - 1))
        if (self.n[sl] == 1).all():
            self.mean[sl] = xs
            return
        if self.m2 is None:
            self.m2 = np.zeros(self.shape, dtype=np.float64)
        d = xs - self.mean[sl]
        self.mean[sl] += d / n
        self.m2[sl] += d * (xs - self.mean[sl])

    def variance(self) -> np.ndarray:
        if self.m2 is None:
            return np.zeros(self.shape, dtype=np.float64)
        n = self.n.reshape((-1,) + (1,) * (self.m2.ndim - 1))
        return np.where(n > 1, self.m2 / np.maximum(n - 1, 1), 0.0)
