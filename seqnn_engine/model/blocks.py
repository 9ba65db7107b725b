"""Block registry: a params.json block name maps to one builder function.

Each builder is ``f(ctx, x, **params) -> x`` and creates its layers through
``ctx.layer`` in the same order as the reference implementation, so legacy
Keras 2 weights (which load by layer order) line up. Tensors are
``(batch, length, channels)``.

Builders that hand extra keyword arguments to another builder declare it with
``@delegates(other)``; parameter validation then accepts the union.
"""
from __future__ import annotations

import inspect

import keras
import numpy as np

from .layers import Activate, CenterSlice, MultiheadAttention, NarrowConv1D, Scale, SqueezeExcite

NARROW_CHANNELS = 8   # convolutions on at most this many input channels use NarrowConv1D

BLOCKS: dict = {}


def block(name):
    def deco(fn):
        BLOCKS[name] = fn
        return fn
    return deco


def delegates(*others):
    def deco(fn):
        fn._delegates = others
        return fn
    return deco


def accepted_params(fn) -> set[str]:
    """Every keyword a builder accepts, following its delegates."""
    names = {p for p in inspect.signature(fn).parameters if p not in ("ctx", "x", "kwargs")}
    for other in getattr(fn, "_delegates", ()):
        names |= accepted_params(other)
    return names


def _reg(l2_scale=0.0, l1_scale=0.0):
    if l1_scale and l2_scale:
        return keras.regularizers.L1L2(l1=l1_scale, l2=l2_scale)
    if l2_scale:
        return keras.regularizers.L2(l2_scale)
    if l1_scale:
        return keras.regularizers.L1(l1_scale)
    return None


def _norm(ctx, x, norm_type, bn_momentum, gamma=None):
    if norm_type in ("batch", "batch-sync"):
        return ctx.layer(keras.layers.BatchNormalization, momentum=bn_momentum,
                         gamma_initializer=gamma or "ones")(x)
    if norm_type == "layer":
        return ctx.layer(keras.layers.LayerNormalization, gamma_initializer=gamma or "ones")(x)
    return x


def _act(ctx, x, activation):
    if activation in (None, "linear"):
        return x
    return ctx.layer(Activate, kind=activation)(x)


def _pool(ctx, x, pool_size, pool_type="max", padding="same"):
    if pool_size > 1:
        if pool_type == "softmax":
            raise NotImplementedError("softmax pooling")
        x = ctx.layer(keras.layers.MaxPooling1D, pool_size=pool_size, padding=padding)(x)
    return x


def _conv(ctx, x, conv_type, **kw):
    if conv_type != "separable":
        # NarrowConv1D: same forward and weights as Conv1D, a faster input gradient on one-hot DNA
        return ctx.layer(NarrowConv1D if x.shape[-1] <= NARROW_CHANNELS else keras.layers.Conv1D, **kw)(x)
    init = kw.pop("kernel_initializer")
    reg = kw.pop("kernel_regularizer")
    kw.update(depthwise_initializer=init, pointwise_initializer=init,
              depthwise_regularizer=reg, pointwise_regularizer=reg)
    return ctx.layer(keras.layers.SeparableConv1D, **kw)(x)


def _round_to(x, divisible_by):
    return int(np.round(x / divisible_by) * divisible_by)


def _filters_mult(filters_init, filters_end, filters_mult, repeat):
    if filters_mult is None:
        if filters_end is None:
            raise ValueError("give filters_end or filters_mult")
        filters_mult = np.exp(np.log(filters_end / filters_init) / (repeat - 1)) if repeat > 1 else 1.0
    return filters_mult


# ---------------------------------------------------------------- convolution
@block("conv_block")
def conv_block(ctx, x, filters=None, kernel_size=1, activation="relu", activation_end=None, stride=1,
               dilation_rate=1, l2_scale=0, dropout=0, conv_type="standard", pool_size=1,
               pool_type="max", norm_type=None, bn_momentum=0.99, norm_gamma=None, residual=False,
               kernel_initializer="he_normal", padding="same"):
    """activation -> conv -> norm -> dropout -> (+input) -> end activation -> pool."""
    inputs = x
    filters = filters or x.shape[-1]
    x = _act(ctx, x, activation)
    x = _conv(ctx, x, conv_type, filters=filters, kernel_size=kernel_size, strides=stride, padding="same",
              use_bias=norm_type is None, dilation_rate=dilation_rate,
              kernel_initializer=kernel_initializer, kernel_regularizer=_reg(l2_scale))
    x = _norm(ctx, x, norm_type, bn_momentum, norm_gamma)
    x = ctx.dropout(x, dropout)
    if residual:
        x = ctx.layer(keras.layers.Add)([inputs, x])
    if activation_end is not None:
        x = _act(ctx, x, activation_end)
    return _pool(ctx, x, pool_size, pool_type, padding)


@block("conv_nac")
def conv_nac(ctx, x, filters=None, kernel_size=1, activation="relu", stride=1, dilation_rate=1,
             l2_scale=0, dropout=0, conv_type="standard", residual=False, pool_size=1, pool_type="max",
             norm_type=None, bn_momentum=0.99, norm_gamma=None, kernel_initializer="he_normal",
             padding="same", se=False):
    """norm -> activation -> conv (bias) -> (squeeze-excite) -> dropout -> (+input) -> pool."""
    inputs = x
    filters = filters or x.shape[-1]
    x = _norm(ctx, x, norm_type, bn_momentum)
    x = _act(ctx, x, activation)
    x = _conv(ctx, x, conv_type, filters=filters, kernel_size=kernel_size, strides=stride, padding=padding,
              use_bias=True, dilation_rate=dilation_rate, kernel_initializer=kernel_initializer,
              kernel_regularizer=_reg(l2_scale))
    if se:
        x = squeeze_excite(ctx, x)
    x = ctx.dropout(x, dropout)
    if residual:
        x = ctx.layer(keras.layers.Add)([inputs, x])
    return _pool(ctx, x, pool_size, pool_type, padding)


@block("conv_dna")
def conv_dna(ctx, x, filters=None, kernel_size=15, activation="relu", stride=1, l2_scale=0,
             residual=False, dropout=0, dropout_residual=0, pool_size=1, pool_type="max",
             norm_type=None, bn_momentum=0.99, norm_gamma=None, use_bias=None, se=False,
             conv_type="standard", kernel_initializer="he_normal", padding="same"):
    """The first convolution on one-hot DNA (optionally with a residual conv_nac)."""
    filters = filters or x.shape[-1]
    if use_bias is None:
        use_bias = norm_type is None and not residual
    x = _conv(ctx, x, conv_type, filters=filters, kernel_size=kernel_size, strides=stride, padding="same",
              use_bias=use_bias, dilation_rate=1, kernel_initializer=kernel_initializer,
              kernel_regularizer=_reg(l2_scale))
    if se:
        x = squeeze_excite(ctx, x)
    if residual:
        r = conv_nac(ctx, x, activation=activation, l2_scale=l2_scale, dropout=dropout_residual,
                     conv_type=conv_type, norm_type=norm_type, se=se, bn_momentum=bn_momentum,
                     kernel_initializer=kernel_initializer)
        r = ctx.layer(Scale)(r)
        x = ctx.layer(keras.layers.Add)([x, r])
    else:
        x = _norm(ctx, x, norm_type, bn_momentum)
        x = _act(ctx, x, activation)
    x = ctx.dropout(x, dropout)
    return _pool(ctx, x, pool_size, pool_type, padding)


# ---------------------------------------------------------------- towers
def _tower(ctx, x, unit, filters_init, filters_end, filters_mult, divisible_by, repeat, kwargs):
    mult = _filters_mult(filters_init, filters_end, filters_mult, repeat)
    f = filters_init
    for i in range(repeat):
        x = unit(ctx, x, filters=_round_to(f, divisible_by), **kwargs)
        ctx.save_repr(x, f"rep{i}")
        f *= mult
    return x


@block("conv_tower")
@delegates(conv_block)
def conv_tower(ctx, x, filters_init, filters_end=None, filters_mult=None, divisible_by=1, repeat=1,
               **kwargs):
    """``repeat`` conv_blocks with filters growing geometrically from filters_init."""
    return _tower(ctx, x, conv_block, filters_init, filters_end, filters_mult, divisible_by, repeat, kwargs)


@block("conv_tower_nac")
@delegates(conv_nac)
def conv_tower_nac(ctx, x, filters_init, filters_end=None, filters_mult=None, divisible_by=1, repeat=1,
                   **kwargs):
    """Like conv_tower with conv_nac blocks."""
    return _tower(ctx, x, conv_nac, filters_init, filters_end, filters_mult, divisible_by, repeat, kwargs)


@block("res_tower")
@delegates(conv_nac)
def res_tower(ctx, x, filters_init, filters_end=None, filters_mult=None, kernel_size=1, dropout=0,
              pool_size=2, pool_type="max", divisible_by=1, repeat=1, num_convs=2, **kwargs):
    """Repeats of conv_nac (kernel_size) + (num_convs-1) pointwise conv_nac with a scaled residual, then pool."""
    mult = _filters_mult(filters_init, filters_end, filters_mult, repeat)
    f = filters_init
    for i in range(repeat):
        fi = _round_to(f, divisible_by)
        x = conv_nac(ctx, x, filters=fi, kernel_size=kernel_size, **kwargs)
        x0 = x
        for _ in range(1, num_convs):
            x = conv_nac(ctx, x, filters=fi, **kwargs)
        x = ctx.dropout(x, dropout)
        if num_convs > 1:
            x = ctx.layer(Scale)(x)
            x = ctx.layer(keras.layers.Add)([x0, x])
        ctx.save_repr(x, f"rep{i}")
        x = _pool(ctx, x, pool_size, pool_type)
        f *= mult
    return x


@block("dilated_residual")
@delegates(conv_block)
def dilated_residual(ctx, x, filters, kernel_size=3, rate_mult=2, dropout=0, repeat=1,
                     conv_type="standard", norm_type=None, round=False, **kwargs):
    """Residual blocks of a dilated conv_block and a pointwise conv_block; dilation grows by rate_mult."""
    kwargs.pop("norm_gamma", None)
    rate = 1.0
    for i in range(repeat):
        inp = x
        x = conv_block(ctx, x, filters=filters, kernel_size=kernel_size, dilation_rate=int(np.round(rate)),
                       conv_type=conv_type, norm_type=norm_type, norm_gamma="ones", **kwargs)
        x = conv_block(ctx, x, filters=inp.shape[-1], dropout=dropout, norm_type=norm_type,
                       norm_gamma="zeros", **kwargs)
        if norm_type is None:
            x = ctx.layer(Scale)(x)
        x = ctx.layer(keras.layers.Add)([inp, x])
        ctx.save_repr(x, f"rep{i}", tower=False)
        rate *= rate_mult
        if round:
            rate = np.round(rate)
    return x


@block("dilated_residual_nac")
@delegates(conv_nac)
def dilated_residual_nac(ctx, x, filters, kernel_size=3, rate_mult=2, dropout=0, repeat=1, **kwargs):
    """dilated_residual with conv_nac blocks (no scale)."""
    rate = 1.0
    for i in range(repeat):
        inp = x
        x = conv_nac(ctx, x, filters=filters, kernel_size=kernel_size, dilation_rate=int(np.round(rate)),
                     **kwargs)
        x = conv_nac(ctx, x, filters=inp.shape[-1], dropout=dropout, **kwargs)
        x = ctx.layer(keras.layers.Add)([inp, x])
        ctx.save_repr(x, f"rep{i}", tower=False)
        rate *= rate_mult
    return x


# ---------------------------------------------------------------- attention
@block("transformer")
def transformer(ctx, x, key_size=None, heads=1, out_size=None, activation="relu", dense_expansion=2.0,
                content_position_bias=True, dropout=0.25, attention_dropout=0.05, position_dropout=0.01,
                l2_scale=0, mha_l2_scale=0, num_position_features=None, qkv_width=1,
                mha_initializer="he_normal", kernel_initializer="he_normal", seqlen_train=None,
                norm_type=None, bn_momentum=None):
    """LayerNorm -> relative-position MHA -> dropout -> +input -> (LayerNorm, dense x2, +input).

    ``attention_dropout``/``position_dropout`` apply only in training and are not
    used here (inference and MC dropout use the block's ``dropout`` layers).
    """
    if qkv_width != 1 or seqlen_train is not None:
        raise NotImplementedError("transformer qkv_width != 1 or seqlen_train")
    out_size = out_size or x.shape[-1]
    value_size = out_size // heads
    inp = x
    x = ctx.layer(keras.layers.LayerNormalization)(x)
    x = ctx.layer(MultiheadAttention, value_size=value_size, key_size=key_size, heads=heads,
                  num_position_features=num_position_features,
                  content_position_bias=content_position_bias, initializer=mha_initializer,
                  l2_scale=mha_l2_scale)(x)
    x = ctx.dropout(x, dropout)
    x = ctx.layer(keras.layers.Add)([inp, x])
    if dense_expansion == 0:
        return x
    mid = x
    x = ctx.layer(keras.layers.LayerNormalization)(x)
    x = ctx.layer(keras.layers.Dense, units=int(dense_expansion * out_size),
                  kernel_regularizer=_reg(l2_scale), kernel_initializer=kernel_initializer)(x)
    x = ctx.dropout(x, dropout)
    x = _act(ctx, x, "relu")
    x = ctx.layer(keras.layers.Dense, units=out_size, kernel_regularizer=_reg(l2_scale),
                  kernel_initializer=kernel_initializer)(x)
    x = ctx.dropout(x, dropout)
    return ctx.layer(keras.layers.Add)([mid, x])


@block("transformer_tower")
@delegates(transformer)
def transformer_tower(ctx, x, repeat=2, block_type="transformer", **kwargs):
    """``repeat`` transformer blocks."""
    if block_type != "transformer":
        raise NotImplementedError(f"transformer_tower block_type {block_type!r}")
    for i in range(repeat):
        x = transformer(ctx, x, **kwargs)
        ctx.save_repr(x, f"rep{i}", tower=False)
    return x


@block("squeeze_excite")
def squeeze_excite(ctx, x, activation="relu", bottleneck_ratio=8, additive=False, norm_type=None,
                   bn_momentum=0.9):
    """Squeeze-and-excitation (see layers.SqueezeExcite)."""
    return ctx.layer(SqueezeExcite, activation=activation, additive=additive, rank=bottleneck_ratio)(x)


# ---------------------------------------------------------------- U-net
@block("unet_conv")
def unet_conv(ctx, x, unet_repr=None, activation="relu", stride=2, l2_scale=0, dropout=0, norm_type=None,
              bn_momentum=0.99, kernel_size=1, kernel_initializer="he_normal", upsample_conv=False):
    """Upsample x by ``stride`` and merge with the matching earlier representation."""
    a, b = x, unet_repr
    a = _norm(ctx, a, norm_type, bn_momentum)
    b = _norm(ctx, b, norm_type, bn_momentum)
    a = _act(ctx, a, activation)
    b = _act(ctx, b, activation)
    filters = x.shape[-1]
    if upsample_conv:
        a = ctx.layer(keras.layers.Dense, units=filters, kernel_regularizer=_reg(l2_scale),
                      kernel_initializer=kernel_initializer)(a)
    b = ctx.layer(keras.layers.Dense, units=filters, kernel_regularizer=_reg(l2_scale),
                  kernel_initializer=kernel_initializer)(b)
    a = ctx.layer(keras.layers.UpSampling1D, size=stride)(a)
    y = ctx.layer(keras.layers.Add)([a, b])
    y = ctx.layer(keras.layers.SeparableConv1D, filters=filters, kernel_size=kernel_size, padding="same",
                  depthwise_regularizer=_reg(l2_scale), pointwise_regularizer=_reg(l2_scale),
                  depthwise_initializer=kernel_initializer, pointwise_initializer=kernel_initializer)(y)
    return ctx.dropout(y, dropout)


# ---------------------------------------------------------------- dense / heads
@block("dense_block")
def dense_block(ctx, x, units=None, activation="relu", activation_end=None, flatten=False, dropout=0,
                l2_scale=0, l1_scale=0, residual=False, norm_type=None, bn_momentum=0.99, norm_gamma=None,
                kernel_initializer="he_normal"):
    """activation -> (flatten) -> dense -> norm -> dropout -> (+input) -> end activation."""
    inp = x
    units = units or x.shape[-1]
    x = _act(ctx, x, activation)
    if flatten:
        x = ctx.layer(keras.layers.Reshape, target_shape=(1, x.shape[1] * x.shape[2]))(x)
    x = ctx.layer(keras.layers.Dense, units=units, use_bias=norm_type is None,
                  kernel_initializer=kernel_initializer, kernel_regularizer=_reg(l2_scale, l1_scale))(x)
    if norm_gamma is None:
        norm_gamma = "zeros" if residual else "ones"
    x = _norm(ctx, x, norm_type, bn_momentum, norm_gamma)
    x = ctx.dropout(x, dropout)
    if residual:
        x = ctx.layer(keras.layers.Add)([inp, x])
    if activation_end is not None:
        x = _act(ctx, x, activation_end)
    return x


@block("dense_nac")
def dense_nac(ctx, x, units=None, activation="relu", flatten=False, dropout=0, l2_scale=0, l1_scale=0,
              residual=False, norm_type=None, bn_momentum=0.99, norm_gamma=None,
              kernel_initializer="he_normal"):
    """norm -> activation -> (flatten) -> dense (bias) -> dropout -> (+input)."""
    inp = x
    units = units or x.shape[-1]
    if norm_gamma is None:
        norm_gamma = "zeros" if residual else "ones"
    x = _norm(ctx, x, norm_type, bn_momentum, norm_gamma)
    x = _act(ctx, x, activation)
    if flatten:
        x = ctx.layer(keras.layers.Reshape, target_shape=(1, x.shape[1] * x.shape[2]))(x)
    x = ctx.layer(keras.layers.Dense, units=units, kernel_initializer=kernel_initializer,
                  kernel_regularizer=_reg(l2_scale, l1_scale))(x)
    x = ctx.dropout(x, dropout)
    if residual:
        x = ctx.layer(keras.layers.Add)([inp, x])
    return x


@block("final")
def final(ctx, x, units, activation="linear", flatten=False, kernel_initializer="he_normal", l2_scale=0,
          l1_scale=0):
    """The output dense layer (with its activation, e.g. softplus)."""
    if flatten:
        x = ctx.layer(keras.layers.Reshape, target_shape=(1, x.shape[1] * x.shape[2]))(x)
    lyr = ctx.layer(keras.layers.Dense, units=units, activation=activation,
                    kernel_initializer=kernel_initializer, kernel_regularizer=_reg(l2_scale, l1_scale))
    return ctx.dense(lyr, x)


# ---------------------------------------------------------------- centre ops
@block("center_slice")
def center_slice(ctx, x, center):
    """Keep the central ``center`` bins."""
    ctx.note_crop(x.shape[1], center)
    return ctx.layer(CenterSlice, center=center)(x)


@block("center_average")
def center_average(ctx, x, center):
    """Mean of the central ``center`` bins, keeping a length axis of 1."""
    ctx.note_crop(x.shape[1], center)
    x = ctx.layer(CenterSlice, center=center)(x)
    return ctx.layer(keras.layers.GlobalAveragePooling1D, keepdims=True)(x)


# Keras layer classes usable by capitalised name in params.json
KERAS_LAYERS = {
    "Conv1D": keras.layers.Conv1D,
    "Cropping1D": keras.layers.Cropping1D,
    "Dense": keras.layers.Dense,
    "Flatten": keras.layers.Flatten,
    "MaxPool1D": keras.layers.MaxPooling1D,
    "MaxPooling1D": keras.layers.MaxPooling1D,
    "AveragePooling1D": keras.layers.AveragePooling1D,
    "UpSampling1D": keras.layers.UpSampling1D,
    "Dropout": keras.layers.Dropout,
    "LayerNormalization": keras.layers.LayerNormalization,
    "BatchNormalization": keras.layers.BatchNormalization,
}
