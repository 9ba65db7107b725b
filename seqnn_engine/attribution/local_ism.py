"""Receptive-field-local ISM for fully convolutional models.

A substitution at position p changes only the output bins whose receptive field
contains p. For models made only of local layers (convolutions, pooling,
normalisation, element-wise ops, cropping: no attention, U-net, flatten or global
pooling) each mutant is therefore predicted on a short sub-window around the ISM
window, with enough context that every changed bin is computed exactly, and the
changed bins are spliced into the full reference prediction. The sub-window is
aligned to the model's bin grid and clipped to the input, so edge padding is
identical to the full model's. Other models use full-length ISM.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from ..model import ensemble as ens
from ..model.build import _Context, _walk
from ..model.layers import Activate, MCDropout, Scale
from .objective import objective_of_predictions

_LOCAL = (keras.layers.Conv1D, keras.layers.SeparableConv1D, keras.layers.MaxPooling1D,
          keras.layers.AveragePooling1D, keras.layers.BatchNormalization, keras.layers.LayerNormalization,
          keras.layers.Add, keras.layers.Dropout, keras.layers.Cropping1D, keras.layers.Dense, Activate, Scale,
          MCDropout)


def receptive_radius(model):
    """Upper bound (bp) on how far an output bin's receptive field reaches beyond the bin,
    or None when the model has a non-local layer."""
    r, stride = 0, 1
    for lyr in model.net.layers:
        if not isinstance(lyr, _LOCAL) or isinstance(lyr, keras.layers.Conv1DTranspose):
            return None
        if isinstance(lyr, (keras.layers.Conv1D, keras.layers.SeparableConv1D)):
            span = (lyr.kernel_size[0] - 1) * lyr.dilation_rate[0]
            r += (span - span // 2) * stride
            stride *= lyr.strides[0]
        elif isinstance(lyr, (keras.layers.MaxPooling1D, keras.layers.AveragePooling1D)):
            r += (lyr.pool_size[0] - 1) * stride
            stride *= lyr.strides[0]
    return r if stride == model.stride else None


def _sub_model(model, length: int):
    def make():
        ctx = _Context(length, replay=model.net.layers)
        inp = keras.Input(shape=(length, 4))
        _, out = _walk(ctx, model.spec, model.head, inp, [])
        m = keras.Model(inp, out)
        return tf.function(lambda a: m(a, training=False),
                           input_signature=[tf.TensorSpec((None, length, 4), tf.float32)])
    return model._fn(("local_ism", length), make)


def plan(model, start: int, end: int):
    """(sub-window length Lw, radius) for an ISM window, or None when local ISM does not pay off."""
    r = receptive_radius(model)
    if r is None:
        return None
    st = model.stride
    # changed bins reach r (+ one bin) past the window and need their own receptive field (r
    # further) inside the sub-window; the sub-model's cropped edge bins must lie in that margin
    need = (end - start) + 2 * (max(2 * r, r + model.crop * st) + 2 * st)
    lw = int(np.ceil(need / st) * st)
    if lw >= 0.9 * model.seq_length:
        return None
    return lw, r


def mutant_bytes(model, lw: int) -> int:
    """Upper bound (bytes) on the arrays one mutant adds to a chunk: its (lw, 4) sub-window
    input and its spliced full-length predictions (P, T), twice (spliced and un-augmented)."""
    return int(lw * 4 * 4 + 2 * model.target_length * model.num_targets * 4)


def member_ism_objectives(model, obj, x1, row, pos, base, mem, lw, radius, batch_size, chunk=None,
                          progress=None):
    """Objective (M,) of every mutant (pos, base) of sequence x1 (L, 4) for one member, and of the reference.

    Mutants are built and reduced to their objectives ``chunk`` at a time (default: all
    at once), so memory is O(chunk x (lw + P x T)); the sub-model runs ``batch_size``
    mutants per call. Returns (f_mut (M,), f_ref scalar), both computed on spliced
    predictions so the difference carries no sub-window rounding of unchanged bins.
    progress(done, total) after every chunk.
    """
    L, st, crop = model.seq_length, model.stride, model.crop
    xa = ens.augment(x1[None], mem)[0]
    p2 = pos + mem.shift
    inside = (p2 >= 0) & (p2 < L)
    if mem.rc:
        p2 = L - 1 - p2
    b2 = 3 - base if mem.rc else base
    ref_pred = model._predict_fn(tf.constant(xa[None])).numpy()[0]                 # (P, T), member space
    lo, hi = int(p2[inside].min()) if inside.any() else 0, int(p2[inside].max()) + 1 if inside.any() else 1
    c = (lo + hi) // 2
    ws = int(np.clip((c - lw // 2) // st * st, 0, L - lw))
    pw = lw // st - 2 * crop
    b0 = ws // st                                                                  # full bin of sub bin 0
    full_bins = b0 + np.arange(pw)
    bstart = (crop + full_bins) * st
    valid = ((bstart - radius >= ws) | (ws == 0)) & ((bstart + st + radius <= ws + lw) | (ws + lw == L))
    affected = (bstart - radius <= hi - 1) & (bstart + st + radius > lo)
    fb = full_bins[affected & valid]
    if not (affected <= valid).all() or not fb.size:
        raise RuntimeError("local ISM window does not cover the changed bins")
    sub_ref = xa[ws:ws + lw]
    sub_fn = _sub_model(model, lw)
    bs = max(1, int(batch_size))

    def objectives(sel):
        """Objectives of mutants sel (indexes into pos; -1 = the reference)."""
        muts = np.repeat(sub_ref[None], sel.size, axis=0)
        k = np.flatnonzero(sel >= 0)
        k = k[inside[sel[k]]]
        muts[k, p2[sel[k]] - ws] = 0.0
        muts[k, p2[sel[k]] - ws, b2[sel[k]]] = 1.0
        outs = [sub_fn(tf.constant(muts[i:i + bs])).numpy()[:, fb - b0] for i in range(0, sel.size, bs)]
        full = np.repeat(ref_pred[None], sel.size, axis=0)
        full[:, fb] = np.concatenate(outs)                                         # (n, nb, T) spliced
        return objective_of_predictions(obj, row, ens.unaugment_bins(full, mem, model.strand_pair))

    f0 = objectives(np.array([-1]))[0]
    n = pos.size if chunk is None else max(1, int(chunk))
    f = np.zeros(pos.size, np.float64)
    for i in range(0, pos.size, n):
        sel = np.arange(i, min(i + n, pos.size))
        f[sel] = objectives(sel)
        if progress is not None:
            progress(sel[-1] + 1, pos.size)
    return f, f0
