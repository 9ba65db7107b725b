"""MC-dropout masks: one fixed mask per (MC sample, dropout layer), whatever the batching.

Semantics
---------
An MC-dropout ensemble of ``mc_n`` samples (``seqnn_engine.model.ensemble.members(..., mc_n)``)
is ``mc_n`` *thinned networks*. Sample k (``Member.mc == k``) is the network whose dropout
layer i multiplies its activation (P_i, U_i) by the fixed mask

    mask_{k, i} = keep / (1 - rate_i),  keep = stateless_uniform((P_i, U_i), seed_{k, i}) >= rate_i,
    seed_{k, i} = stateless_fold_in([mc_seed, k], i)

drawn with TensorFlow's stateless (counter-based) RNG: a pure function of
(mc_seed, k, i) and the layer's shape WITHOUT the batch axis. The mask broadcasts over the
batch, so every row of every model call of sample k sees the same network: the reference,
every ISM mutant (all engines), every integrated-gradients path point and baseline, every
SmoothGrad noise sample, every DeepLIFT/SHAP reference and every batch or chunk of any of
them. Hence

- results do not depend on the batch size, the ISM chunk size or the order of calls
  (store keys need mc_n and mc_seed, never the batch size);
- a substitution outside the objective's receptive field changes nothing: its ISM delta
  is exactly 0 under MC dropout too;
- integrated gradients and DeepLIFT/SHAP are complete for each member's (thinned) model:
  their contributions sum to f_k(x) - f_k(baseline) of that member.

The mask of sample k does not depend on the member's reverse-complement flag or shift:
the RC and shifted members of sample k run the same thinned network on their augmented
inputs (the mask lives in the network's coordinates, like its weights). It does not
depend on which other members the ensemble holds either, so member ``fwd+0/mc3`` gives the
same numbers in any ensemble with the same mc_seed.

Engines that compute a layer on part of its positions (incremental and hybrid ISM on a
changed span, sub-window ISM on a short window) use the rows of the full-length mask at
those positions (:func:`mask_rows`), so they stay exact. The masks are float32 under
bfloat16 too (dropout layers compute in float32), so a bfloat16 model's thinned networks
are those of its float32 model.

Shapes: seeds (1, 2) int32 ``[[mc_seed, k]]``; masks (P_i, U_i) float32 ((U_i,) after a
flatten).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from ..errors import InputError

_INT32 = (-(1 << 31), (1 << 31) - 1)


@dataclass(frozen=True)
class DropoutSite:
    """One dropout layer of a built network.

    index: its position among the network's dropout layers (the i of the masks). layer:
    the (inference, identity) Keras Dropout layer of the plain graph. rate: drop probability.
    shape: its activation's shape without the batch axis, (P_i, U_i) or (U_i,). stride: bp
    per position of that activation (0 where it has no position axis or the length does not
    divide the input).
    """

    index: int
    layer: object
    rate: float
    shape: tuple
    stride: int


def check_seed(mc_seed) -> int:
    """mc_seed as a Python int in the int32 range (InputError otherwise)."""
    try:
        s = int(mc_seed)
    except (TypeError, ValueError):
        raise InputError(f"mc_seed must be an integer, got {mc_seed!r}") from None
    if isinstance(mc_seed, bool) or not _INT32[0] <= s <= _INT32[1]:
        raise InputError(f"mc_seed must be an integer between {_INT32[0]} and {_INT32[1]}, got {mc_seed!r}")
    return s


def member_seed(mc_seed: int, member) -> np.ndarray:
    """The (1, 2) int32 seed ``[[mc_seed, k]]`` of a member's masks (k = ``member.mc``, or an
    int sample index; a member without MC dropout gets k = 0, unused)."""
    k = member if isinstance(member, (int, np.integer)) else member.mc
    return np.array([[check_seed(mc_seed), max(0, int(k))]], np.int32)


def member_seed_tensor(mc_seed: int, member) -> tf.Tensor:
    """:func:`member_seed` as a tf.constant."""
    return tf.constant(member_seed(mc_seed, member))


def layer_mask(seed, index: int, rate: float, shape) -> tf.Tensor:
    """The mask (shape) float32 of dropout layer ``index`` for seed (1, 2) or (2,) int32:
    0 where dropped, 1 / (1 - rate) where kept."""
    s = tf.random.experimental.stateless_fold_in(tf.reshape(tf.cast(seed, tf.int32), [2]), int(index))
    keep = tf.random.stateless_uniform([int(d) for d in shape], seed=s, dtype=tf.float32) >= float(rate)
    return tf.cast(keep, tf.float32) * np.float32(1.0 / (1.0 - float(rate)))


def mask_rows(seed, index: int, rate: float, shape, start, width: int) -> tf.Tensor:
    """Rows [start, start + width) (width, U) of the full-length mask of shape (P, U);
    rows outside [0, P) are 0. start: int or scalar int32 tensor (may be negative)."""
    full = layer_mask(seed, index, rate, shape)
    P = int(shape[0])
    start = tf.cast(start, tf.int32)
    b0 = tf.clip_by_value(start, 0, P)
    b1 = tf.clip_by_value(start + width, b0, P)
    piece = full[b0:b1]
    left = tf.minimum(b0 - start, width)
    pads = tf.stack([tf.stack([left, width - left - (b1 - b0)]), tf.constant([0, 0], tf.int32)])
    return tf.ensure_shape(tf.pad(piece, pads), [int(width)] + [int(d) for d in shape[1:]])


class MemberMasks:
    """The masks of one member for graph walkers that call a network's plain layers one by one
    (incremental ISM, DeepLIFT/SHAP). ``seed``: (1, 2) int32 tensor (:func:`member_seed`);
    ``sites``: the network's :class:`DropoutSite` list."""

    def __init__(self, sites, seed):
        self.seed = seed
        self._by_layer = {id(s.layer): s for s in sites}

    def site(self, op):
        """The DropoutSite of layer ``op``, or None when it is not one of the network's dropouts."""
        return self._by_layer.get(id(op))

    def full(self, op) -> tf.Tensor:
        """The whole mask (P, U) of dropout layer ``op``."""
        s = self._by_layer[id(op)]
        return layer_mask(self.seed, s.index, s.rate, s.shape)

    def rows(self, op, start, width: int) -> tf.Tensor:
        """Rows [start, start + width) (width, U) of dropout layer ``op``'s mask (0 outside)."""
        s = self._by_layer[id(op)]
        return mask_rows(self.seed, s.index, s.rate, s.shape, start, width)


def walker_masks(model, mc: bool, seed):
    """A :class:`MemberMasks` for an MC member (``mc``) of ``model``, else None."""
    return MemberMasks(model.net.dropout_sites, seed) if mc else None
