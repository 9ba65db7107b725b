"""Batched backward pass: the gradients of K objectives in one sweep over the Keras graph.

Layer gradients need one backward pass per target. Autodiff (one ``tape.gradient`` per
target) repeats every elementwise derivative and runs K small backward graphs. Here the
model runs forward once, node by node; then the K cotangents travel backwards together
as one batch of K * S rows, so every convolution's input gradient is one op on K * S
rows, and every elementwise derivative is computed once and broadcast.

Cotangents carry a pending per-channel factor: batch norm (inference) and Scale multiply
it instead of the tensor, and it is folded into the next convolution's or dense layer's
kernel, or into the next activation's derivative, so those layers cost nothing per
target.

Supported: Conv1D and NarrowConv1D without activation (any padding, stride, dilation),
max pooling with windows that do not overlap, batch norm on channels, Scale, Dense (with
any activation), elementwise activations, dropout (off at inference), Add, Concatenate on
channels, Cropping1D and CenterSlice. Other layers (attention, U-net, layer norm, MC
dropout) make :func:`unsupported_reason` name them; callers then use autodiff.
Results equal autodiff's to float rounding (tests/test_batched_vjp.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import keras
import tensorflow as tf

from ..model.layers import Activate, CenterSlice, NarrowConv1D, Scale
from . import graph

_ELEMENTWISE = (Activate, keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU,
                keras.layers.ELU)
_IDENTITY = (keras.layers.Dropout, keras.layers.SpatialDropout1D, keras.layers.GaussianNoise,
             keras.layers.GaussianDropout, keras.layers.Identity)


def _reason(node) -> Optional[str]:
    """Why a graph node cannot be differentiated here, or None when it can."""
    op = node.operation
    name = f"{type(op).__name__} ({op.name})"
    if isinstance(op, keras.layers.InputLayer) or isinstance(op, _IDENTITY + (Scale, keras.layers.Add)):
        return None
    if type(op) in (keras.layers.Conv1D, NarrowConv1D):
        if op.groups != 1 or op.data_format != "channels_last":
            return f"{name}: grouped or channels-first convolution"
        if op.activation not in (None, keras.activations.linear):
            return f"{name}: convolution with a built-in activation"
        return None
    if type(op) is keras.layers.MaxPooling1D:
        if op.data_format != "channels_last" or tuple(op.strides) != tuple(op.pool_size):
            return f"{name}: overlapping or channels-first pooling"
        return None
    if type(op) is keras.layers.BatchNormalization:
        return None if op.axis in (-1, 2) else f"{name}: normalises over positions"
    if type(op) is keras.layers.Dense:
        return None if not getattr(op, "lora_enabled", False) else f"{name}: LoRA dense layer"
    if isinstance(op, _ELEMENTWISE):
        if isinstance(op, keras.layers.Activation) and op.activation in (keras.activations.softmax,
                                                                         keras.activations.log_softmax):
            return f"{name}: softmax mixes channels"
        return None
    if type(op) is keras.layers.Concatenate:
        return None if op.axis in (-1, 2) else f"{name}: concatenates along positions"
    if isinstance(op, (keras.layers.Cropping1D, CenterSlice)):
        return None
    return f"{name} has no batched gradient"


def unsupported_reason(model) -> Optional[str]:
    """None when :func:`tap_gradients` can run on ``model``, else what prevents it."""
    return graph.first_unsupported(model, _reason)


def supports(model) -> bool:
    """Whether :func:`tap_gradients` can run on ``model``."""
    return unsupported_reason(model) is None


@dataclass
class _Cot:
    """Cotangent of K objectives at one tensor: g (K * S, Lx, C) times a per-channel factor
    ``scale`` (C,) not yet applied (None = 1)."""

    g: tf.Tensor
    scale: Optional[tf.Tensor] = None

    def value(self) -> tf.Tensor:
        return self.g if self.scale is None else self.g * self.scale


def _times(c: _Cot, f, k: int) -> tf.Tensor:
    """c.g (K * S, Lx, C) times an elementwise factor f (S, Lx, C) shared by the K objectives
    (c.scale already folded into f)."""
    g = tf.reshape(c.g, tf.concat([[k, -1], tf.shape(c.g)[1:]], 0))
    return tf.reshape(g * f[None], tf.shape(c.g))


def _scaled(f, c: _Cot):
    return f if c.scale is None else f * c.scale


def _derivative(fn, x):
    """Elementwise derivative of fn at x, as autodiff computes it (same gradient functions)."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return tape.gradient(y, x)


def _channel_factor(op):
    """(C,) the per-channel multiplier of a Scale layer or an inference-mode batch norm."""
    if isinstance(op, Scale):
        return tf.convert_to_tensor(op.scale)
    f = tf.math.rsqrt(tf.convert_to_tensor(op.moving_variance) + op.epsilon)
    return f * op.gamma if op.scale else f


def _add(a: Optional[_Cot], b: _Cot) -> _Cot:
    if a is None:
        return b
    if a.scale is not None and a.scale is b.scale:
        return _Cot(a.g + b.g, a.scale)
    return _Cot(a.value() + b.value())


def _conv_input_grad(op, g, kernel, x):
    """Input gradient (rows, Lx_in, Ci) of a Conv1D for g (rows, Lx_out, Co), with ``kernel``
    (the layer's, its output channels rescaled by any pending factor)."""
    L, ci = x.shape[1], x.shape[2]
    if isinstance(op, NarrowConv1D) and op._fast():
        return op.input_grad(g, kernel, L)
    k, s, d = op.kernel_size[0], op.strides[0], op.dilation_rate[0]
    n = tf.shape(g)[0]
    if op.padding == "causal":
        extra = (k - 1) * d
        full = tf.nn.conv1d_transpose(g, kernel, tf.stack([n, L + extra, ci]), s, "VALID", dilations=d)
        return full[:, extra:]
    return tf.nn.conv1d_transpose(g, kernel, tf.stack([n, L, ci]), s, op.padding.upper(), dilations=d)


def _kernel(op, c: _Cot):
    """The layer's kernel with its output channels (last axis) times c's pending factor."""
    return _scaled(tf.convert_to_tensor(op.kernel), c)


def _first_max_mask(op, x, y):
    """(S, nb, p, C) 1 where each pooling window of x takes its maximum y (S, nb, C), else 0;
    on ties only the first maximum, as the pooling gradient routes it."""
    p = op.pool_size[0]
    L = x.shape[1]
    nb = y.shape[1]
    xp = x[:, :nb * p] if nb * p <= L else tf.pad(x, [[0, 0], [0, nb * p - L], [0, 0]],
                                                  constant_values=float("-inf"))
    w = tf.reshape(xp, [-1, nb, p, x.shape[2]])
    taken = None
    masks = []
    for j in range(p):
        eq = tf.equal(w[:, :, j], y)
        m = eq if taken is None else tf.logical_and(eq, tf.logical_not(taken))
        taken = m if taken is None else tf.logical_or(taken, m)
        masks.append(tf.cast(m, x.dtype))
    return tf.stack(masks, axis=2)


def _pool_input_grad(op, c: _Cot, x, mask, k: int):
    p = op.pool_size[0]
    L, C = x.shape[1], x.shape[2]
    nb = mask.shape[1]
    g = tf.reshape(c.g, [k, -1, nb, 1, C]) * mask[None]
    g = tf.reshape(g, [-1, nb * p, C])
    g = g[:, :L] if nb * p >= L else tf.pad(g, [[0, 0], [0, L - nb * p], [0, 0]])
    return _Cot(g, c.scale)


def _dense_input_grad(op, c: _Cot, x, k: int, memo):
    kernel = tf.convert_to_tensor(op.kernel)
    if op.activation in (None, keras.activations.linear):
        g, kernel = c.g, memo("kernel", lambda: _kernel(op, c))
    else:
        def factor():
            z = tf.tensordot(x, kernel, 1)
            return _scaled(_derivative(op.activation, z + op.bias if op.use_bias else z), c)
        g = _times(c, memo("factor", factor), k)
    return _Cot(tf.tensordot(g, tf.transpose(kernel), 1))


def _crop_pad(op, L: int):
    if isinstance(op, CenterSlice):
        a = (L - op.center) // 2
        return a, L - op.center - a
    return tuple(op.cropping)


def tap_gradients(model, x, seed_fn, taps, k: int, groups: int = 1, km=None):
    """One forward pass and K batched backward passes.

    x: (S, L, 4). seed_fn(preds) -> (K, S, P, T): the gradient of each objective w.r.t. the
    model output preds (S, P, T). taps: the model's tap tensors (symbolic) to return.
    groups: the K objectives are split into this many independent backward sweeps, which
    the executor can run concurrently. km: the Keras model to sweep (default the whole
    network ``model.net.model``; a sub-model of it, e.g. up to the final Dense's input
    (S, P, C) for a head gather, whose output then is what seed_fn receives and seeds).
    Returns (output (S, P, T) of km, activations [(S, P_l, U_l)], grads [(K, S, P_l, U_l)]).
    """
    km = model.net.model if km is None else km
    nodes = graph.nodes(km)
    vals = {id(km.inputs[0]): x}
    for node in nodes:
        vals[id(node.outputs[0])] = graph.call(node.operation, [vals[id(t)] for t in node.input_tensors])
    preds = vals[id(km.outputs[0])]
    seeds = seed_fn(preds)
    # only tensors downstream of a tap (or a tap) need a cotangent
    need = {id(t) for t in taps}
    for node in nodes:
        if any(id(t) in need for t in node.input_tensors):
            need.add(id(node.outputs[0]))
    bounds = [round(i * k / groups) for i in range(groups + 1)]
    cache = {}   # per-node factors, the same for every group
    parts = [_backward(km, nodes, vals, need, seeds[a:b], taps, b - a, cache)
             for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    grads = [tf.concat([p[i] for p in parts], 0) if len(parts) > 1 else parts[0][i] for i in range(len(taps))]
    return preds, [vals[id(t)] for t in taps], grads


def _backward(km, nodes, vals, need, seeds, taps, k: int, cache: dict):
    """Cotangents of k objectives, seeds (k, S, P, T) at the output, swept back to the taps
    through the tensors in ``need``. cache: per-node factors shared between calls."""
    S = tf.shape(seeds)[1]
    cots = {id(km.outputs[0]): _Cot(tf.reshape(seeds, tf.concat([[k * S], tf.shape(seeds)[2:]], 0)))}
    for node in reversed(nodes):
        c = cots.get(id(node.outputs[0]))
        ins = node.input_tensors
        if c is None or not any(id(t) in need for t in ins):
            continue
        op = node.operation
        xin = [vals[id(t)] for t in ins]

        def memo(what, fn, _n=id(node)):
            # every group reaches a node with the same pending scale, so its factors are shared
            if (_n, what) not in cache:
                cache[(_n, what)] = fn()
            return cache[(_n, what)]
        if isinstance(op, _IDENTITY):
            out = [c]
        elif isinstance(op, (keras.layers.BatchNormalization, Scale)):
            out = [_Cot(c.g, memo("scale", lambda: _scaled(_channel_factor(op), c)))]
        elif isinstance(op, _ELEMENTWISE):
            f = memo("factor", lambda: _scaled(_derivative(lambda t: op(t, training=False), xin[0]), c))
            out = [_Cot(_times(c, f, k))]
        elif isinstance(op, keras.layers.Conv1D):
            out = [_Cot(_conv_input_grad(op, c.g, memo("kernel", lambda: _kernel(op, c)), xin[0]))]
        elif isinstance(op, keras.layers.MaxPooling1D):
            mask = memo("mask", lambda: _first_max_mask(op, xin[0], vals[id(node.outputs[0])]))
            out = [_pool_input_grad(op, c, xin[0], mask, k)]
        elif isinstance(op, keras.layers.Dense):
            out = [_dense_input_grad(op, c, xin[0], k, memo)]
        elif isinstance(op, keras.layers.Add):
            out = [c] * len(ins)
        elif isinstance(op, keras.layers.Concatenate):
            parts = tf.split(c.value(), [t.shape[-1] for t in ins], axis=-1)
            out = [_Cot(p) for p in parts]
        elif isinstance(op, (keras.layers.Cropping1D, CenterSlice)):
            a, b = _crop_pad(op, xin[0].shape[1])
            out = [_Cot(tf.pad(c.g, [[0, 0], [a, b], [0, 0]]), c.scale)]
        else:
            raise ValueError(f"no batched gradient for {type(op).__name__} ({op.name})")
        for t, o in zip(ins, out):
            if id(t) in need:
                cots[id(t)] = _add(cots.get(id(t)), o)
    grads = []
    for t in taps:
        c = cots.get(id(t))      # None: the output does not depend on this tap
        g = c.value() if c is not None else tf.zeros(tf.concat([[k * S], tf.shape(vals[id(t)])[1:]], 0))
        grads.append(tf.reshape(g, tf.concat([[k, S], tf.shape(g)[1:]], 0)))
    return grads
