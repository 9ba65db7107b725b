"""Head gather: the head's final Dense layer evaluated for the requested targets only.

When a head ends in a Dense layer (the ``final`` block, or a capitalised ``Dense``), the
predictions of targets ``cols`` (K,) are ``activation(pre @ W[:, cols] + b[cols])``, where
``pre`` (B, P, C) is that layer's input: a (B, P, K) array instead of (B, P, T), and a
(C, K) slice of the kernel instead of the whole (C, T) matmul. The same Keras ops as the
Dense layer's own call are used (matmul, add, the layer's activation), so the gathered
columns equal the full head's columns to float32 rounding.

Reverse-complement members: the un-augmented target t of an RC member is its raw output
column ``strand_pair[t]`` with the bins reversed, so :func:`member_columns` maps requested
targets to raw columns before the gather and the bins are reversed after it.

Heads whose output is not the output of a Dense layer (for example a centre slice after
it) have no gather: callers fall back to the full head and select columns from it.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


class HeadGather:
    """The final Dense layer of a head, applied to a few of its output columns.

    dense: the keras Dense layer whose output is the model's output. Its variables are
    read at call time (never copied), so weights loaded later are used.
    """

    def __init__(self, dense):
        self.dense = dense

    def apply(self, pre, cols):
        """pre (B, P, C) input of the final Dense, cols (K,) int32 kernel columns -> (B, P, K).

        Computed in the layer's compute dtype (float32 even for a bfloat16 trunk).
        """
        d = self.dense
        pre = tf.cast(pre, d.compute_dtype)
        kernel = tf.cast(tf.convert_to_tensor(d.kernel), d.compute_dtype)
        y = keras.ops.matmul(pre, tf.gather(kernel, cols, axis=1))
        if d.use_bias:
            y = keras.ops.add(y, tf.gather(tf.cast(tf.convert_to_tensor(d.bias), d.compute_dtype), cols))
        if d.activation is not None:
            y = d.activation(y)
        return y


def member_columns(idx, rc: bool, strand_pair) -> np.ndarray:
    """Raw output columns (K,) int32 holding the un-augmented targets ``idx`` (K,) of a member:
    ``idx`` for forward members, ``strand_pair[idx]`` for reverse-complement members."""
    idx = np.asarray(idx, np.int64)
    if rc and strand_pair is not None:
        idx = np.asarray(strand_pair, np.int64)[idx]
    return idx.astype(np.int32)


def union_columns(idx, rc: bool, strand_pair):
    """Columns an ensemble of forward (and, with rc, RC) members needs for targets idx (K,).

    Returns (cols (K',) int32 with K' <= 2K, fwd_sel (K,), rc_sel (K,)): the un-augmented
    target idx[k] of a forward member is column ``cols[fwd_sel[k]]`` of the gathered
    output, of an RC member column ``cols[rc_sel[k]]`` (bins reversed).
    """
    idx = np.asarray(idx, np.int64)
    need = [idx]
    if rc and strand_pair is not None:
        need.append(np.asarray(strand_pair, np.int64)[idx])
    cols = np.unique(np.concatenate(need))
    pos = {int(c): i for i, c in enumerate(cols)}
    fwd_sel = np.array([pos[int(c)] for c in member_columns(idx, False, None)], np.int64)
    rc_sel = np.array([pos[int(c)] for c in member_columns(idx, True, strand_pair)], np.int64) if rc \
        else fwd_sel
    return cols.astype(np.int32), fwd_sel, rc_sel


def gathers_taps(model, tap_idx) -> bool:
    """Whether layer gradients of taps ``tap_idx`` (indexes of ``model.taps``) can use the head
    gather: the head ends in a Dense layer and no tap is its output (its input is then upstream
    of every tap's consumers, so the graph can end there)."""
    if getattr(model, "head_gather", None) is None:
        return False
    out = model.net.model.outputs[0]
    return all(i == 0 or model.net.tap_tensors[i] is not out for i in tap_idx)
