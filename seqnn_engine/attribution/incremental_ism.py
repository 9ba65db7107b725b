"""Incremental ISM: recompute only the positions a substitution changes, layer by layer.

A batch of mutants whose substitutions all lie in one input span [lo, lo + w) differs
from the reference only on a span of every layer: a convolution or pooling widens
the span by its receptive reach (and divides it by its stride), position-wise layers
(normalisation, activations, dense, dropout at inference) keep it, cropping shifts
it, and a merge (add, multiply, concatenate) takes the union of its inputs' spans.
Walking the model's Keras graph node by node, this module computes every layer
once on the full reference sequence and, for the mutants, only on the changed span
(with the reference spliced around it and the layer's own edge padding reproduced).
The result equals a full forward pass of every mutant (exact up to float rounding);
the work per mutant is a few percent of a full pass for Basenji-style conv towers.

Span-wise layers: Conv1D (any padding, stride, dilation; groups 1), max/average
pooling, batch/layer normalisation over channels, Dense, activations, Scale, dropout
(inference), Add/Subtract/Multiply/Average/Maximum/Minimum/Concatenate (channels),
Cropping1D and CenterSlice. Anything global (attention, U-net upsampling,
squeeze-excite, flatten) makes :func:`unsupported_reason` name it.

Hybrid mode (models with attention or U-net layers): the layers before the first
global layer (every node all of whose inputs are span-wise) are computed on the
changed span as above; every other node is computed at full length for each mutant,
from its inputs with the changed spans spliced into the reference. U-net skip
connections from the span-wise trunk are spliced the same way, so the result is
still exactly a full forward pass of every mutant.

Each call handles one chunk of mutants and reduces it to the objective at once
(:func:`member_objectives`), so memory is O(chunk), never O(mutants x bins x
targets).

MC-dropout members: every dropout layer multiplies by the member's fixed mask
(seqnn_engine.model.mc_dropout) -- the whole mask on the reference and on full-length
nodes, the mask's rows [lo, lo + w) on a changed span -- so the reference and every
mutant of the member see the same thinned network, and the result is still exactly a
full forward pass of every mutant through it.

Spans carry a dynamic start (a scalar tensor), a static width, and a static bound on
where the start lies relative to the input span's start, so one traced function
serves every chunk position.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from ..model import ensemble as ens
from . import graph
from ..model.layers import Activate, CenterSlice, MultiheadAttention, NarrowConv1D, Scale
from .objective import objective_tf, untransform_tf

_POSITIONWISE = (keras.layers.BatchNormalization, keras.layers.Dense, keras.layers.Dropout,
                 keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.PReLU,
                 keras.layers.ELU, keras.layers.Softmax, Activate, Scale)
_MERGE = graph.MERGE
_POOL = (keras.layers.MaxPooling1D, keras.layers.AveragePooling1D)
_CROP = (keras.layers.Cropping1D, CenterSlice)


def _reason(op) -> str | None:
    """Why a graph operation cannot be computed span by span, or None when it can."""
    if isinstance(op, keras.layers.InputLayer):
        return None
    if isinstance(op, keras.layers.Conv1D) and not isinstance(op, keras.layers.Conv1DTranspose):
        if type(op) not in (keras.layers.Conv1D, NarrowConv1D):   # same forward values
            return f"{type(op).__name__} is not a plain Conv1D"
        if op.groups != 1 or op.data_format != "channels_last":
            return f"{op.name}: grouped or channels-first convolution"
        return None
    if isinstance(op, _POOL):
        return None if op.data_format == "channels_last" else f"{op.name}: channels-first pooling"
    if isinstance(op, keras.layers.LayerNormalization):
        return None if tuple(op.axis) in ((-1,), (2,)) else f"{op.name}: normalises over positions"
    if isinstance(op, keras.layers.BatchNormalization):
        return None if op.axis in (-1, 2) else f"{op.name}: normalises over positions"
    if isinstance(op, _POSITIONWISE):
        return None
    if isinstance(op, keras.layers.Concatenate):
        return None if op.axis in (-1, 2) else f"{op.name}: concatenates along positions"
    if isinstance(op, _MERGE + _CROP):
        return None
    return f"{type(op).__name__} ({getattr(op, 'name', '?')}) mixes positions globally"


def unsupported_reason(model) -> str | None:
    """None when ``model`` supports (fully) incremental ISM, else what prevents it."""
    return graph.first_unsupported(model, lambda node: _reason(node.operation))


def supports(model) -> bool:
    """Whether :func:`mutant_predictions` can run on ``model`` without hybrid mode."""
    return unsupported_reason(model) is None


def hybrid_reason(model) -> str | None:
    """None when hybrid mode has a span-wise prefix to compute on ``model``, else why not.

    Hybrid mode needs one input and one output, and a first layer (a node reading the
    one-hot input) that can be computed span by span.
    """
    km = model.net.model
    if len(km.inputs) != 1 or len(km.outputs) != 1:
        return "the model has several inputs or outputs"
    first = [n for n in graph.nodes(km) if any(id(t) == id(km.inputs[0]) for t in n.input_tensors)]
    if not first or all(_reason(n.operation) is not None for n in first):
        what = _reason(first[0].operation) if first else "no layer reads the input"
        return f"the first layer already mixes positions ({what}): nothing to compute incrementally"
    return None


@dataclass
class _Plan:
    """How a chunk walks the graph. nodes: graph nodes in order; full[i]: node i is computed
    at full length per mutant (hybrid), else on its changed span; keep[i]: the chunk reads
    node i's reference output; out_index: the model output's node."""

    nodes: list
    full: list
    keep: list
    out_index: int


def _plan(model, hybrid: bool) -> _Plan:
    km = model.net.model
    reason = hybrid_reason(model) if hybrid else unsupported_reason(model)
    if reason is not None:
        raise ValueError(f"{'hybrid' if hybrid else 'incremental'} ISM does not support this model: {reason}")
    nodes = graph.nodes(km)
    full_ids, full = set(), []
    for node in nodes:
        g = _reason(node.operation) is not None or any(id(t) in full_ids for t in node.input_tensors)
        if g:
            full_ids.add(id(node.outputs[0]))
        full.append(g)
    out_index = [id(n.outputs[0]) for n in nodes].index(id(km.outputs[0]))
    keep = [not f for f in full]
    keep[out_index] = True
    return _Plan(nodes, full, keep, out_index)


# ------------------------------------------------------------------ static geometry of spans
def _same_pad_left(Lx: int, k_eff: int, s: int, padding: str) -> int:
    if padding == "valid":
        return 0
    if padding == "causal":
        return k_eff - 1
    out = -(-Lx // s)
    return max((out - 1) * s + k_eff - Lx, 0) // 2


def _kernel(op):
    """(kernel, dilation, stride, padding) of a convolution or pooling layer."""
    if isinstance(op, keras.layers.Conv1D):
        return op.kernel_size[0], op.dilation_rate[0], op.strides[0], op.padding
    return op.pool_size[0], 1, op.strides[0], op.padding


def _strided_geom(Lx: int, w: int, emin: float, emax: float, k: int, d: int, s: int, padding: str):
    """(left padding, reach, output span width, emin, emax) of a strided layer on a span."""
    reach = (k - 1) * d
    pl = _same_pad_left(Lx, reach + 1, s, padding)
    w_out = -(-(w - 1 + reach) // s) + 1
    return pl, reach, w_out, (emin + pl - reach) / s - 1, (emax + pl - reach) / s


def _merge_geom(geoms):
    """(width, emin, emax) of a merge of spans given as (width, emin, emax)."""
    base_e = min(g[1] for g in geoms)
    width = int(math.ceil(max(g[2] + g[0] for g in geoms) - base_e - 1e-9))
    return width, base_e, min(g[2] for g in geoms)


def _crop_start(op, Lx: int) -> int:
    return (Lx - op.center) // 2 if isinstance(op, CenterSlice) else op.cropping[0]


def mutant_bytes(model, width: int, hybrid: bool = False) -> int:
    """Estimated peak memory (bytes) that one mutant adds to a chunk call whose
    substitutions lie in ``width`` consecutive positions.

    A liveness walk over the graph in node order: each node's per-mutant output (its
    changed span, or its full length in hybrid mode) lives from the node until its last
    consumer; while a node runs, its spliced input windows (full-length copies for a
    full node reading a span) and its internal arrays (attention logits, relative
    logits and weights: 4 x heads x L x 2L floats) are added. The peak of that sum, plus
    the objective's per-bin values, times 1.5 for temporaries. A chunk of n mutants needs
    about n times this (plus the reference, once).
    """
    plan = _plan(model, hybrid)
    km = model.net.model
    geo = {id(km.inputs[0]): (int(width), 0.0, 0.0)}
    size = {id(km.inputs[0]): int(width) * 4 * 4}
    last = {}
    for i, node in enumerate(plan.nodes):
        for t in node.input_tensors:
            last[id(t)] = i
    last[id(km.outputs[0])] = len(plan.nodes)
    live = size[id(km.inputs[0])]
    peak = live
    for i, (node, full) in enumerate(zip(plan.nodes, plan.full)):
        op, y = node.operation, node.outputs[0]
        Ly, C = int(y.shape[1]), int(y.shape[-1])
        item = np.dtype(getattr(y, "dtype", "float32")).itemsize
        if full:
            out = Ly * C * item
            work = sum(int(t.shape[1]) * int(t.shape[-1]) * item for t in node.input_tensors
                       if id(t) in geo)                       # span inputs spliced into full length
            if isinstance(op, MultiheadAttention):
                work += 4 * op.heads * Ly * (2 * Ly - 1) * 4
        else:
            ins = [geo[id(t)] for t in node.input_tensors if id(t) in geo]
            if isinstance(op, _MERGE):
                g = _merge_geom(ins)
            elif isinstance(op, (keras.layers.Conv1D,) + _POOL):
                Lx = int(node.input_tensors[0].shape[1])
                _, _, w_out, e0, e1 = _strided_geom(Lx, ins[0][0], ins[0][1], ins[0][2], *_kernel(op))
                g = (w_out, e0, e1)
            elif isinstance(op, _CROP):
                c0 = _crop_start(op, int(node.input_tensors[0].shape[1]))
                g = (ins[0][0], ins[0][1] - c0, ins[0][2] - c0)
            else:
                g = ins[0]
            geo[id(y)] = g
            out = min(g[0], 3 * Ly) * C * item
            work = sum(size.get(id(t), 0) for t in node.input_tensors) + out   # input windows
        size[id(y)] = out
        peak = max(peak, live + out + work)
        live += out
        for t in list(node.input_tensors):
            if last.get(id(t)) == i and id(t) in size:
                live -= size.pop(id(t))
    P, T = int(km.outputs[0].shape[1]), int(km.outputs[0].shape[-1])
    return int(1.5 * (peak + 3 * P * 4 + P * T * 4))


# ------------------------------------------------------------------ span arithmetic (TF)
@dataclass
class _Span:
    """Mutant values on positions [lo, lo + w) of a tensor whose reference is ``ref`` (1, Lx, C).

    vals: (M, w, C). lo: scalar int32 tensor. [emin, emax]: static bounds on lo minus
    (input span start / this tensor's stride).
    """

    ref: tf.Tensor
    lo: tf.Tensor
    w: int
    vals: tf.Tensor
    emin: float
    emax: float


@dataclass
class _Full:
    """Mutant values of a whole tensor, (M, Lx, C) (hybrid mode)."""

    vals: tf.Tensor


def _window(t, start, width: int, fill: float):
    """Values of t at positions [start, start + width) -> (B, width, C); B = M for a span, else 1.

    Positions outside the tensor read ``fill`` (the padding value of the consuming layer).
    """
    ref = t.ref if isinstance(t, _Span) else t
    Lx = ref.shape[1]
    b0 = tf.clip_by_value(start, 0, Lx)                    # the part inside the tensor, padded to width
    b1 = tf.clip_by_value(start + width, b0, Lx)
    piece = tf.slice(ref, tf.stack([0, b0, 0]), tf.stack([-1, b1 - b0, -1]))
    left = tf.minimum(b0 - start, width)
    pads = tf.stack([[0, 0], [left, width - left - (b1 - b0)], [0, 0]])
    base = tf.ensure_shape(tf.pad(piece, pads, constant_values=fill), [1, width, ref.shape[2]])
    if not isinstance(t, _Span):
        return base
    M = tf.shape(t.vals)[0]
    off = t.lo - start
    a0 = tf.clip_by_value(off, 0, width)
    a1 = tf.maximum(tf.clip_by_value(off + t.w, 0, width), a0)
    tile = lambda z: tf.tile(z, [M, 1, 1])  # noqa: E731
    out = tf.concat([tile(base[:, :a0]), t.vals[:, a0 - off:a1 - off], tile(base[:, a1:])], axis=1)
    idx = start + tf.range(width)
    valid = (idx >= 0) & (idx < Lx)
    out = tf.where(valid[None, :, None], out, tf.cast(fill, out.dtype))
    return tf.ensure_shape(out, [None, width, ref.shape[2]])


def _whole(t, M):
    """Full-length mutant values (M, Lx, C) of a span, a full tensor or an unchanged reference."""
    if isinstance(t, _Full):
        return t.vals
    if isinstance(t, _Span):
        Lx = t.ref.shape[1]
        off = t.lo
        a0 = tf.clip_by_value(off, 0, Lx)
        a1 = tf.maximum(tf.clip_by_value(off + t.w, 0, Lx), a0)
        tile = lambda z: tf.tile(z, [M, 1, 1])  # noqa: E731
        out = tf.concat([tile(t.ref[:, :a0]), t.vals[:, a0 - off:a1 - off], tile(t.ref[:, a1:])], axis=1)
        return tf.ensure_shape(out, [None, Lx, t.ref.shape[2]])
    return tf.tile(t, [M, 1, 1])


def _strided(op, t: _Span, ref_out, apply):
    """A convolution-like layer on a span."""
    Lx = t.ref.shape[1]
    k, d, s, padding = _kernel(op)
    pl, reach, w_out, emin, emax = _strided_geom(Lx, t.w, t.emin, t.emax, k, d, s, padding)
    lo_out = tf.math.floordiv(t.lo + pl - reach, s)
    win_w = (w_out - 1) * s + reach + 1
    fill = -3.0e38 if isinstance(op, keras.layers.MaxPooling1D) else 0.0
    if ref_out.dtype == tf.float16:
        fill = max(fill, -6.0e4)
    win = _window(t, lo_out * s - pl, win_w, fill)
    return _Span(ref_out, lo_out, w_out, apply(win), emin, emax)


def _conv(op, t: _Span, ref_out):
    k, d, s, _ = _kernel(op)

    def apply(win):
        y = keras.ops.conv(win, op.kernel, strides=s, padding="valid", dilation_rate=d)
        if op.use_bias:
            y = y + op.bias
        return op.activation(y) if op.activation is not None else y
    return _strided(op, t, ref_out, apply)


def _pool(op, t: _Span, ref_out):
    k, _, s, padding = _kernel(op)
    if isinstance(op, keras.layers.MaxPooling1D):
        return _strided(op, t, ref_out, lambda win: keras.ops.max_pool(win, k, s, padding="valid"))
    Lx = t.ref.shape[1]
    pl = _same_pad_left(Lx, k, s, padding)
    span = _strided(op, t, ref_out, lambda win: keras.ops.average_pool(win, k, s, "valid"))
    if padding == "same":   # SAME average pooling divides by the in-range count only
        win_w = (span.w - 1) * s + k
        idx = span.lo * s - pl + tf.range(win_w)
        inside = tf.cast((idx >= 0) & (idx < Lx), span.vals.dtype)[None, :, None]
        frac = keras.ops.average_pool(inside, k, s, "valid")
        span.vals = span.vals / tf.maximum(frac, 1e-12)
    return span


def _merge(op, inputs, ref_out):
    spans = [t for t in inputs if isinstance(t, _Span)]
    lo = spans[0].lo
    for t in spans[1:]:
        lo = tf.minimum(lo, t.lo)
    width, emin, emax = _merge_geom([(t.w, t.emin, t.emax) for t in spans])
    M = tf.shape(spans[0].vals)[0]
    wins = []
    for t in inputs:
        w = _window(t, lo, width, 0.0)
        wins.append(w if isinstance(t, _Span) else tf.tile(w, [M, 1, 1]))
    return _Span(ref_out, lo, width, op(wins), emin, emax)


def _crop(op, t: _Span, ref_out):
    c0 = _crop_start(op, t.ref.shape[1])
    return _Span(ref_out, t.lo - c0, t.w, t.vals, t.emin - c0, t.emax - c0)


def _call(op, args, masks):
    """One node's layer on whole tensors; an MC member's dropout multiplies by its mask."""
    if masks is not None and masks.site(op) is not None:
        return args[0] * masks.full(op)[None]
    return graph.call(op, args)


def _reference(model, plan: _Plan, x_ref, masks=None):
    """The kept nodes' outputs (1, Lx, C) on the reference x_ref (1, L, 4), in node order.
    masks: an MC member's mc_dropout.MemberMasks, or None."""
    km = model.net.model
    vals = {id(km.inputs[0]): x_ref}
    out = []
    for node, keep in zip(plan.nodes, plan.keep):
        y = _call(node.operation, [vals[id(t)] for t in node.input_tensors], masks)
        vals[id(node.outputs[0])] = y
        if keep:
            out.append(y)
    return out


def _forward(model, plan: _Plan, x_ref, refs, lo, vals, masks=None):
    """The model output of one chunk of mutants: a _Span (changed bins), a _Full (M, P, T)
    or the reference itself when nothing changes.

    x_ref: (1, L, 4) reference input; refs: :func:`_reference` of it. lo: scalar int32,
    first position of the chunk. vals: (M, w, 4) the mutants' one-hot values on [lo, lo + w).
    masks: an MC member's mc_dropout.MemberMasks (those of its reference), or None.
    """
    km = model.net.model
    M = tf.shape(vals)[0]
    mut = {id(km.inputs[0]): _Span(x_ref, lo, int(vals.shape[1]), vals, 0.0, 0.0)}
    it = iter(refs)
    for node, full, keep in zip(plan.nodes, plan.full, plan.keep):
        op = node.operation
        ref_out = next(it) if keep else None
        m_in = [mut[id(t)] for t in node.input_tensors]
        if full:
            out = _Full(_call(op, [_whole(t, M) for t in m_in], masks))
        elif not any(isinstance(t, _Span) for t in m_in):
            out = ref_out
        elif isinstance(op, _MERGE):
            out = _merge(op, m_in, ref_out)
        else:
            t = m_in[0]
            if isinstance(op, keras.layers.Conv1D):
                out = _conv(op, t, ref_out)
            elif isinstance(op, _POOL):
                out = _pool(op, t, ref_out)
            elif isinstance(op, _CROP):
                out = _crop(op, t, ref_out)
            elif masks is not None and masks.site(op) is not None:     # rows [lo, lo + w) of the mask
                out = _Span(ref_out, t.lo, t.w, t.vals * masks.rows(op, t.lo, t.w)[None], t.emin, t.emax)
            else:
                out = _Span(ref_out, t.lo, t.w, op(t.vals, training=False), t.emin, t.emax)
        mut[id(node.outputs[0])] = out
    return mut[id(km.outputs[0])]


def _output_ref(plan: _Plan, refs):
    return refs[sum(plan.keep[:plan.out_index])]


def _whole_output(y, ref_out, M):
    """(M, P, T) mutant predictions (member orientation) of a chunk's output."""
    if isinstance(y, _Full):
        return y.vals
    if isinstance(y, _Span):
        return _window(y, tf.constant(0, tf.int32), ref_out.shape[1], 0.0)
    return tf.tile(ref_out, [M, 1, 1])


def _per_bin(z, perm, tw, u):
    """Target-weighted sum (B, n) of member-orientation predictions z (B, n, T), with
    targets permuted by ``perm`` (T,) first (an RC member's strand pairs swapped back)."""
    z = tf.gather(tf.cast(z, tf.float32), perm, axis=-1)
    if u:
        z = untransform_tf(z, *u)
    return tf.reduce_sum(z * tw, axis=-1)


def _chunk_objective(y, ref_out, M, rev, perm, tw, mask, statistic, pc, u):
    """(objective of each mutant (M,), objective of the reference ()) of one chunk.

    Per-bin values are computed on the changed bins only and spliced into the
    reference's; an RC member's bins are reversed (``rev``) before the bins are summed.
    """
    P = ref_out.shape[1]
    ref_pb = _per_bin(ref_out, perm, tw, u)                                    # (1, P)
    if isinstance(y, _Span):
        w = min(y.w, P)
        a = tf.clip_by_value(y.lo, 0, P - w)
        pb = _per_bin(_window(y, a, w, 0.0), perm, tw, u)                      # (M, w)
        tile = lambda z: tf.tile(z, [M, 1])  # noqa: E731
        full_pb = tf.concat([tile(ref_pb[:, :a]), pb, tile(ref_pb[:, a + w:])], axis=1)
    elif isinstance(y, _Full):
        full_pb = _per_bin(y.vals, perm, tw, u)
    else:
        full_pb = tf.tile(ref_pb, [M, 1])
    full_pb = tf.cond(rev, lambda: tf.reverse(full_pb, axis=[1]), lambda: full_pb)
    ref_pb = tf.cond(rev, lambda: tf.reverse(ref_pb, axis=[1]), lambda: ref_pb)
    one = tf.ones((1,), tf.float32)
    # float64 over the bins: the mutants' objectives are subtracted from the reference's
    f = objective_tf(full_pb[..., None], one, mask[None], statistic, pc, None, dtype=tf.float64)
    f0 = objective_tf(ref_pb[..., None], one, mask[None], statistic, pc, None, dtype=tf.float64)
    return f, f0[0]


_SEED = tf.TensorSpec((1, 2), tf.int32)


def _reference_fn(model, hybrid: bool, mc: bool = False):
    """(plan, tf.function (x (1, L, 4), seed (1, 2) int32) -> the kept nodes' reference outputs).
    mc: an MC member, with the masks of ``seed`` (mc_dropout.member_seed); else seed is unused."""
    from ..model.mc_dropout import walker_masks

    def make():
        plan = _plan(model, hybrid)
        x_spec = tf.TensorSpec((1, model.seq_length, 4), model.net.model.inputs[0].dtype)
        return plan, tf.function(lambda x, seed: _reference(model, plan, x, walker_masks(model, mc, seed)),
                                 input_signature=[x_spec, _SEED])
    return model._fn(("incremental_ism_reference", hybrid, bool(mc)), make)


def _fns(model, width: int, hybrid: bool, kind: tuple, mc: bool = False):
    """(plan, reference function (x, seed) -> kept node outputs, chunk function).

    kind ('preds',): chunk(x, refs, lo, vals, seed) -> (M, P, T) predictions (member orientation).
    kind ('objective', statistic, untransform): chunk(x, refs, lo, vals, seed, rev, perm, tw,
    mask, pc[, u_cs, u_pw, u_sc]) -> (objective (M,), reference objective ()) in forward
    orientation; rev: reverse the bins (RC member), perm (T,): target permutation. mc: an
    MC member, whose dropout masks come from seed (1, 2) int32 (unused otherwise).
    """
    from ..model.mc_dropout import walker_masks
    plan, ref_fn = _reference_fn(model, hybrid, mc)

    def make():
        km = model.net.model
        dt = km.inputs[0].dtype
        x_spec = tf.TensorSpec((1, model.seq_length, 4), dt)
        ref_specs = [tf.TensorSpec((1,) + tuple(n.outputs[0].shape[1:]), n.outputs[0].dtype)
                     for n, k in zip(plan.nodes, plan.keep) if k]
        base = [x_spec, ref_specs, tf.TensorSpec((), tf.int32), tf.TensorSpec((None, width, 4), dt), _SEED]
        if kind[0] == "preds":
            def chunk(x, refs, lo, v, seed):
                y = _forward(model, plan, x, refs, lo, v, walker_masks(model, mc, seed))
                return _whole_output(y, _output_ref(plan, refs), tf.shape(v)[0])
            return tf.function(chunk, input_signature=base)
        _, statistic, untransform = kind
        T, P = int(km.outputs[0].shape[-1]), int(km.outputs[0].shape[1])
        extra = [tf.TensorSpec((), tf.bool), tf.TensorSpec((T,), tf.int32), tf.TensorSpec((T,), tf.float32),
                 tf.TensorSpec((P,), tf.float32), tf.TensorSpec((), tf.float32)]
        extra += [tf.TensorSpec((T,), tf.float32)] * 3 if untransform else []

        def chunk(x, refs, lo, v, seed, rev, perm, tw, mask, pc, *u):
            y = _forward(model, plan, x, refs, lo, v, walker_masks(model, mc, seed))
            return _chunk_objective(y, _output_ref(plan, refs), tf.shape(v)[0], rev, perm, tw, mask, statistic,
                                    pc, u or None)
        return tf.function(chunk, input_signature=base + extra)
    return plan, ref_fn, model._fn(("incremental_ism", width, hybrid, bool(mc)) + tuple(kind), make)


def _member_space(model, x1, pos, base, member):
    """Member-space input (L, 4), positions (M,), bases (M,) and which mutants stay inside it."""
    L = model.seq_length
    pos = np.asarray(pos, np.int64)
    base = np.asarray(base, np.int64)
    xa = ens.augment(np.asarray(x1, np.float32)[None], member)[0]
    p2 = pos + member.shift
    inside = (p2 >= 0) & (p2 < L)
    if member.rc:
        p2 = L - 1 - p2
    b2 = 3 - base if member.rc else base
    return xa, p2, b2, inside


def _chunks(p2, inside, L: int, w: int, n: int):
    """Groups of mutant indexes: at most n mutants whose positions lie in [lo, lo + w); yields (lo, idx)."""
    k = np.flatnonzero(inside)
    k = k[np.argsort(p2[k], kind="stable")]
    i = 0
    while i < k.size:
        lo = int(min(p2[k[i]], L - w))
        j = i
        while j < k.size and p2[k[j]] < lo + w and j - i < n:
            j += 1
        yield lo, k[i:j]
        i = j


def _values(xa, lo: int, w: int, sel, p2, b2):
    """(n, w, 4) one-hot values of mutants ``sel`` on positions [lo, lo + w)."""
    v = np.repeat(xa[None, lo:lo + w], sel.size, axis=0)
    v[np.arange(sel.size), p2[sel] - lo] = 0.0
    v[np.arange(sel.size), p2[sel] - lo, b2[sel]] = 1.0
    return v


def member_objectives(model, obj, row: int, x1: np.ndarray, pos: np.ndarray, base: np.ndarray,
                      member: ens.Member = ens.Member(False, 0), hybrid: bool = False, chunk: int = 192,
                      chunk_bp: int = 64, progress=None, mc_seed: int = 0):
    """Objective of every mutant (pos[i] -> base[i]) of x1 (L, 4) for one member, and of x1.

    obj: an objective.Objective; row: the sequence's row of its bin mask. Mutants are
    grouped into calls of at most ``chunk`` mutants within ``chunk_bp`` consecutive
    positions, and each call returns only their objectives (memory O(chunk)). hybrid:
    compute layers after the first global one at full length (see the module
    docstring). A mutant whose position a shift moves off the input keeps the
    reference objective. progress(done, total) after every call; it may raise to cancel.
    An MC member (member.mc >= 0) runs with its fixed masks for mc_seed (mc_dropout.py).
    Returns (f_mut (M,) float64, f_ref float).
    """
    from ..model.mc_dropout import member_seed_tensor
    L = model.seq_length
    xa, p2, b2, inside = _member_space(model, x1, pos, base, member)
    w = int(min(max(1, chunk_bp), L))
    n = max(1, int(chunk))
    untr = obj.untransform is not None
    _, ref_fn, chunk_fn = _fns(model, w, hybrid, ("objective", obj.statistic, untr), member.mc >= 0)
    dt = model.net.model.inputs[0].dtype
    x_t = tf.constant(xa[None], dt)
    seed = member_seed_tensor(mc_seed, member)
    refs = ref_fn(x_t, seed)                                  # every span-wise layer on the reference, once
    T = obj.target_weights.size
    perm = np.asarray(model.strand_pair) if member.rc and model.strand_pair is not None else np.arange(T)
    args = [tf.constant(bool(member.rc)), tf.constant(perm, tf.int32), tf.constant(obj.target_weights),
            tf.constant(obj.bin_mask[row]), tf.constant(obj.pseudocount, tf.float32)]
    if untr:
        u = obj.untransform
        args += [tf.constant(u.clip_soft), tf.constant(u.power), tf.constant(u.scale)]
    f = np.zeros(np.asarray(pos).size, np.float64)
    f0 = None
    total = int(inside.sum())
    done = 0
    for lo, sel in _chunks(p2, inside, L, w, n):
        fm, fr = chunk_fn(x_t, refs, tf.constant(lo, tf.int32), tf.constant(_values(xa, lo, w, sel, p2, b2), dt),
                          seed, *args)
        f[sel] = fm.numpy()
        f0 = float(fr.numpy()) if f0 is None else f0
        done += sel.size
        if progress is not None:
            progress(done, total)
    if f0 is None:                                      # no mutant inside this member's input
        one = np.zeros((1, w, 4), np.float32)
        one[:] = xa[None, :w]
        _, fr = chunk_fn(x_t, refs, tf.constant(0, tf.int32), tf.constant(one, dt), seed, *args)
        f0 = float(fr.numpy())
    f[~inside] = f0
    return f, f0


@dataclass
class MutantPredictions:
    """Predictions of single-base mutants of one sequence for one ensemble member.

    ref: (P, T) the reference prediction. preds: (M, P, T) the mutants', both in
    forward orientation (member un-augmented: bins reversed and strand pairs swapped
    back for RC). A mutant whose position a shift moves off the input predicts ref.
    """

    ref: np.ndarray
    preds: np.ndarray


def mutant_predictions(model, x1: np.ndarray, pos: np.ndarray, base: np.ndarray,
                       member: ens.Member = ens.Member(False, 0), chunk_bp: int = 64,
                       batch_size: int = 256, progress=None, hybrid: bool = False,
                       mc_seed: int = 0) -> MutantPredictions:
    """Predict every mutant (pos[i] -> base[i]) of x1 (L, 4) for one member, incrementally.

    The whole (M, P, T) array of predictions is returned, so this is for checking and
    for small M; ISM itself uses :func:`member_objectives` (memory O(chunk)). pos, base:
    (M,) positions in x1 and the substituted base (0..3, ACGT). Mutants are grouped into
    chunks of at most ``chunk_bp`` consecutive positions and at most ``batch_size``
    mutants per model call. progress(done, total) is called after every call. An MC member
    (member.mc >= 0) runs with its fixed masks for mc_seed (mc_dropout.py).
    """
    from ..model.mc_dropout import member_seed_tensor
    L = model.seq_length
    xa, p2, b2, inside = _member_space(model, x1, pos, base, member)
    w = int(min(max(1, chunk_bp), L))
    plan, ref_fn, chunk_fn = _fns(model, w, hybrid, ("preds",), member.mc >= 0)
    dt = model.net.model.inputs[0].dtype
    x_t = tf.constant(xa[None], dt)
    seed = member_seed_tensor(mc_seed, member)
    refs = ref_fn(x_t, seed)
    ref_pred = _output_ref(plan, refs).numpy()[0]
    preds = np.repeat(ref_pred[None], np.asarray(pos).size, axis=0)
    total = int(inside.sum())
    done = 0
    for lo, sel in _chunks(p2, inside, L, w, max(1, int(batch_size))):
        v = _values(xa, lo, w, sel, p2, b2)
        preds[sel] = chunk_fn(x_t, refs, tf.constant(lo, tf.int32), tf.constant(v, dt), seed).numpy()
        done += sel.size
        if progress is not None:
            progress(done, total)
    ref_f = ens.unaugment_bins(ref_pred[None], member, model.strand_pair)[0]
    return MutantPredictions(ref=ref_f, preds=ens.unaugment_bins(preds, member, model.strand_pair))
