"""Custom Keras 3 layers of the Basenji/Baskerville family.

All layers take and return ``(batch, length, channels)`` tensors unless stated.
Weight layouts match the reference files (legacy Keras 2 HDF5 and Keras 3
``.weights.h5``) so weights load unchanged.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


class Activate(keras.layers.Layer):
    """A named, weightless activation (the reference's ``activate`` helper).

    Supported: relu, gelu (tanh approximation, as the reference), sigmoid, tanh,
    exp, softplus (input clipped to +-10000 first), linear.
    """

    KINDS = ("relu", "gelu", "sigmoid", "tanh", "exp", "softplus", "linear")

    def __init__(self, kind: str = "relu", **kwargs):
        super().__init__(**kwargs)
        self.kind = kind

    def call(self, x):
        return apply_activation(x, self.kind)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind}


_GELU_C = 0.7978845608028654      # sqrt(2 / pi)
_GELU_A = 0.044715


@tf.custom_gradient
def gelu_tanh(x):
    """GELU, tanh approximation: 0.5 x (1 + tanh(c (x + a x^3))), the same expression as
    ``tf.nn.gelu(approximate=True)``, with its derivative written in closed form.

    The closed form depends only on x, so when several backward passes share one forward
    pass (one per target in layer gradients) the graph computes it once and each pass
    costs a single multiply here instead of the chain rule through tanh and the cube.
    Only x is kept for the backward pass (tanh is recomputed there), so a tape holds one
    tensor per activation, not two.
    """
    c = tf.cast(_GELU_C, x.dtype)
    a = tf.cast(_GELU_A, x.dtype)
    y = 0.5 * x * (1.0 + tf.tanh(c * (x + a * tf.pow(x, 3))))

    def grad(dy):
        t = tf.tanh(c * (x + a * tf.pow(x, 3)))
        d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * a * x * x)
        return dy * d
    return y, grad


def apply_activation(x, k: str):
    """Apply activation ``k`` (see :class:`Activate`) to a tensor."""
    if k == "relu":
        return tf.nn.relu(x)
    if k == "gelu":
        return gelu_tanh(x)
    if k == "sigmoid":
        return tf.sigmoid(x)
    if k == "tanh":
        return tf.tanh(x)
    if k == "exp":
        return tf.exp(x)
    if k == "softplus":
        return tf.nn.softplus(tf.clip_by_value(x, -10000.0, 10000.0))
    return x


class Scale(keras.layers.Layer):
    """Multiply by a learned per-channel vector ``scale`` of shape (C,)."""

    def __init__(self, initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.initializer = initializer

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer=self.initializer)

    def call(self, x):
        return x * self.scale


def _toeplitz_taps(k: int, pad_left: int, block: int) -> np.ndarray:
    """(3, B, B) kernel tap linking output position s of block c to input position r of
    block c - d (d = -1, 0, 1), or k where none does."""
    idx = np.full((3, block, block), k, np.int32)
    for di, d in enumerate((-1, 0, 1)):
        j = np.arange(block)[None, :] - np.arange(block)[:, None] - d * block + pad_left   # [s, r]
        idx[di] = np.where((j >= 0) & (j < k), j, k)
    return idx


def _narrow_conv_input_grad(dy, kernel, in_len: int, pad_left: int):
    """Input gradient of a stride-1, undilated 1-D convolution, for few input channels.

    dy: (N, P, Co) gradient of the output; kernel: (k, Ci, Co); pad_left: zeros the
    convolution put before the input. Returns (N, in_len, Ci).

    Positions are grouped in blocks of B >= the padding on either side, so a block of the
    input gradient depends only on the same and the two neighbouring blocks of dy. One
    matmul of dy's blocks (N * P / B, B * Co) with the block-Toeplitz kernel
    (B * Co, 3 * B * Ci) gives each block's three contributions, and two adds place them.
    The generic backprop-input kernel instead gathers k * Co values per input position,
    which for Ci = 4 (one-hot DNA) is memory-bound and about twice as slow.
    """
    k, ci, co = kernel.shape
    pad_right = max(0, k - 1 - pad_left)
    B = max(pad_left, pad_right, 1)
    taps = _toeplitz_taps(k, pad_left, B)
    wz = tf.concat([kernel, tf.zeros((1, ci, co), kernel.dtype)], 0)
    m = tf.reshape(tf.transpose(tf.gather(wz, taps), [1, 4, 0, 2, 3]), [B * co, 3 * B * ci])
    n, p = tf.shape(dy)[0], tf.shape(dy)[1]
    nby = (p + B - 1) // B
    nbx = (in_len + B - 1) // B
    dyp = tf.pad(dy, [[0, 0], [0, nby * B - p], [0, 0]])
    z = tf.reshape(tf.matmul(tf.reshape(dyp, [-1, B * co]), m), [n, nby, 3, B * ci])
    z = tf.pad(z, [[0, 0], [1, 1 + tf.maximum(nbx - nby, 0)], [0, 0], [0, 0]])
    dx = z[:, 0:nbx, 0] + z[:, 1:nbx + 1, 1] + z[:, 2:nbx + 2, 2]
    return tf.reshape(dx, [n, nbx * B, ci])[:, :in_len]


class NarrowConv1D(keras.layers.Conv1D):
    """Conv1D with a faster input gradient when the input has few channels (DNA one-hot).

    Forward values and weights are those of ``keras.layers.Conv1D`` (same variables, same
    names, so weights load unchanged); only the gradient w.r.t. the input is computed
    differently (see :func:`_narrow_conv_input_grad`), for stride 1, dilation 1 and
    'same' or 'valid' padding. Other settings fall back to Conv1D entirely.
    """

    name_base = "conv1d"     # layer names as for keras.layers.Conv1D (weights match by name)

    def _fast(self) -> bool:
        return (tuple(self.strides) == (1,) and tuple(self.dilation_rate) == (1,)
                and self.padding in ("same", "valid") and self.data_format == "channels_last")

    def input_grad(self, dy, kernel, in_len):
        """Gradient w.r.t. the input (N, in_len, Ci) of dy (N, P, Co), for ``kernel`` (k, Ci, Co)
        (this layer's kernel, or a copy with its output channels rescaled). Needs ``_fast()``."""
        pad_left = (self.kernel_size[0] - 1) // 2 if self.padding == "same" else 0
        return _narrow_conv_input_grad(dy, kernel, in_len, pad_left)

    def call(self, inputs):
        if not self._fast():
            return super().call(inputs)
        pad = self.padding.upper()
        in_len = inputs.shape[1]

        @tf.custom_gradient
        def conv(x, kernel):
            y = tf.nn.conv1d(x, kernel, 1, pad)

            def grad(dy):
                dx = self.input_grad(dy, kernel, in_len if in_len is not None else tf.shape(x)[1])
                dk = tf.raw_ops.Conv2DBackpropFilter(
                    input=x[:, None], filter_sizes=tf.constant([1, *kernel.shape], tf.int32),
                    out_backprop=dy[:, None], strides=[1, 1, 1, 1], padding=pad)[0]
                return dx, dk
            return y, grad

        out = conv(inputs, tf.convert_to_tensor(self.kernel))
        if self.use_bias:
            out = tf.nn.bias_add(out, self.bias)
        return self.activation(out) if self.activation is not None else out


class CenterSlice(keras.layers.Layer):
    """Keep the central ``center`` positions of the length axis."""

    def __init__(self, center: int, **kwargs):
        super().__init__(**kwargs)
        self.center = int(center)

    def call(self, x):
        start = (x.shape[1] - self.center) // 2
        return x[:, start : start + self.center, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.center, input_shape[2])


class MCDropout(keras.layers.Layer):
    """Dropout that is always on, with the fixed mask of one MC sample (MC-dropout graphs only).

    Inputs: ``[x, seed]`` with seed (1, 2) int32 ``[[mc_seed, k]]``, or ``[x, seed, start]`` in
    a graph that computes a window of the full-length network (sub-window ISM): start (1,)
    int32, the window's first input position in bp. The mask is that of
    :mod:`seqnn_engine.model.mc_dropout`: a function of (seed, layer_index) and the layer's
    full-length shape ``full_shape`` (default: x's shape without the batch axis), broadcast
    over the batch; a window reads its rows from position start // stride.
    """

    def __init__(self, rate: float, layer_index: int, full_shape=None, stride: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.layer_index = int(layer_index)
        self.full_shape = None if full_shape is None else tuple(int(d) for d in full_shape)
        self.stride = int(stride)

    def call(self, inputs):
        from .mc_dropout import layer_mask, mask_rows

        x, seed = inputs[0], inputs[1]
        if len(inputs) > 2 and self.full_shape is not None and len(x.shape) == 3:
            start = tf.math.floordiv(tf.reshape(tf.cast(inputs[2], tf.int32), []), self.stride)
            mask = mask_rows(seed, self.layer_index, self.rate, self.full_shape, start, int(x.shape[1]))
        else:
            mask = layer_mask(seed, self.layer_index, self.rate, x.shape[1:])
        return x * tf.cast(mask, x.dtype)[None]


def _positional_features(seq_len: int, feature_size: int, symmetric: bool = False) -> np.ndarray:
    """Central-mask relative position basis, (1, 2*seq_len-1, feature_size) float32.

    Distances d run from -(seq_len-1) to seq_len-1; basis j (1-based) is 1 where
    |d| < rate**j - 1 with rate = exp(log(seq_len+1)/n_basis). The asymmetric half
    multiplies the symmetric basis by sign(d).
    """
    n_comp = 1 if symmetric else 2
    n_basis = feature_size // n_comp
    dist = np.arange(-seq_len + 1, seq_len, dtype=np.float32)
    rate = np.float32(np.exp(np.log(seq_len + 1) / n_basis))
    widths = np.power(rate, np.arange(1, n_basis + 1, dtype=np.float32)) - np.float32(1.0)
    emb = (widths[None, :] > np.abs(dist)[:, None]).astype(np.float32)
    if not symmetric:
        emb = np.concatenate([emb, np.sign(dist)[:, None] * emb], axis=-1)
    return emb[None]


def _relative_shift(x):
    """TransformerXL shift: (B, H, T, 2T-1) relative logits -> (B, H, T, T)."""
    pad = tf.zeros_like(x[..., :1])
    x = tf.concat([pad, x], -1)
    _, h, t1, t2 = x.shape
    x = tf.reshape(x, [-1, h, t2, t1])
    x = x[:, :, 1:, :]
    x = tf.reshape(x, [-1, h, t1, t2 - 1])
    return x[..., : (t2 + 1) // 2]


class MultiheadAttention(keras.layers.Layer):
    """Multi-head self-attention with relative position encodings (Enformer style).

    Weight layout (as in the reference): r_w_bias, r_r_bias (1, H, 1, K); dense
    q/k (C, H*K) and v (C, H*V) without bias; embedding dense (H*V, H*V) with bias;
    r_k dense (F, H*K) without bias. Input and output (B, T, C).
    """

    def __init__(self, value_size, key_size, heads, num_position_features=None, scaling=True,
                 content_position_bias=True, symmetric=False, initializer="he_normal", l2_scale=0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.value_size, self.key_size, self.heads = int(value_size), int(key_size), int(heads)
        if num_position_features is None:
            num_position_features = (self.value_size // 2) * 2
        self.num_position_features = int(num_position_features)
        self.scaling = scaling
        self.content_position_bias = content_position_bias
        self.symmetric = symmetric
        reg = keras.regularizers.L2(l2_scale) if l2_scale else None
        kp, emb = self.key_size * self.heads, self.value_size * self.heads

        def dense(units, **kw):   # sub-layers compute in this layer's dtype policy
            return keras.layers.Dense(units, kernel_regularizer=reg, dtype=self.dtype_policy, **kw)
        self._q_layer = dense(kp, use_bias=False, kernel_initializer=initializer, name="q_layer")
        self._k_layer = dense(kp, use_bias=False, kernel_initializer=initializer, name="k_layer")
        self._v_layer = dense(emb, use_bias=False, kernel_initializer=initializer, name="v_layer")
        self._embedding_layer = dense(emb, kernel_initializer="zeros", name="embedding_layer")
        self._r_k_layer = dense(kp, use_bias=False, kernel_initializer=initializer, name="r_k_layer")
        self._initializer = initializer

    def build(self, input_shape):
        c = input_shape[-1]
        shape = (1, self.heads, 1, self.key_size)
        self._r_w_bias = self.add_weight(name="r_w_bias", shape=shape, initializer=self._initializer)
        self._r_r_bias = self.add_weight(name="r_r_bias", shape=shape, initializer=self._initializer)
        self._q_layer.build((None, None, c))
        self._k_layer.build((None, None, c))
        self._v_layer.build((None, None, c))
        self._embedding_layer.build((None, None, self.value_size * self.heads))
        self._r_k_layer.build((None, None, self.num_position_features))

    def legacy_weights(self):
        """Variables in the order of the legacy Keras 2 HDF5 file."""
        return [self._r_w_bias, self._r_r_bias, self._q_layer.kernel, self._k_layer.kernel,
                self._v_layer.kernel, self._embedding_layer.kernel, self._embedding_layer.bias,
                self._r_k_layer.kernel]

    def keras3_weights(self):
        """(relative path, variable) pairs in the Keras 3 ``.weights.h5`` layout."""
        return [("vars/0", self._r_w_bias), ("vars/1", self._r_r_bias),
                ("_q_layer/vars/0", self._q_layer.kernel), ("_k_layer/vars/0", self._k_layer.kernel),
                ("_v_layer/vars/0", self._v_layer.kernel),
                ("_embedding_layer/vars/0", self._embedding_layer.kernel),
                ("_embedding_layer/vars/1", self._embedding_layer.bias),
                ("_r_k_layer/vars/0", self._r_k_layer.kernel)]

    def _heads(self, x, seq_len):
        c = x.shape[-1] // self.heads
        x = tf.reshape(x, [-1, seq_len, self.heads, c])
        return tf.transpose(x, [0, 2, 1, 3])

    def call(self, x):
        seq_len = x.shape[1]
        q = self._heads(self._q_layer(x), seq_len)
        k = self._heads(self._k_layer(x), seq_len)
        v = self._heads(self._v_layer(x), seq_len)
        if self.scaling:
            q = q * (self.key_size ** -0.5)
        if self.num_position_features:
            pos = tf.constant(_positional_features(seq_len, self.num_position_features, self.symmetric), dtype=x.dtype)
            r_k = self._heads(self._r_k_layer(pos), 2 * seq_len - 1)
        else:
            r_k = tf.zeros([1, self.heads, 1, self.key_size], x.dtype)
        content_bias = self.content_position_bias
        with_pos = bool(self.num_position_features)

        def one_head(qh, kh, vh, rkh, rw, rr):
            """One head's attention: (B, T, K) queries/keys, (B, T, V) values, (1, 2T-1, K)
            position keys, (1, 1, K) biases -> (B, T, V)."""
            logits = tf.matmul(qh + rw, kh, transpose_b=True)
            if with_pos:
                if content_bias:
                    rel = tf.matmul(qh + rr, rkh, transpose_b=True)
                else:
                    rel = tf.broadcast_to(tf.matmul(rr, rkh, transpose_b=True),
                                          [tf.shape(qh)[0], seq_len, 2 * seq_len - 1])
                logits = logits + _relative_shift(rel[:, None])[:, 0]
            return tf.matmul(tf.nn.softmax(logits), vh)

        # heads one at a time (a sequential loop), each recomputed in the backward pass from its
        # small inputs: the (T, 2T-1) relative logits and the (T, T) attention weights of only
        # one head are alive at once, in the forward pass and in its gradient (8 heads over
        # 4,096 positions: 1 GB per tensor for all heads), and none is kept between them
        head_fn = tf.recompute_grad(one_head)
        heads_first = [tf.transpose(t, [1, 0, 2, 3]) for t in (q, k, v, r_k, self._r_w_bias, self._r_r_bias)]
        out = tf.map_fn(lambda a: head_fn(*a), tuple(heads_first), parallel_iterations=1,
                        fn_output_signature=tf.TensorSpec([None, seq_len, v.shape[-1]], x.dtype))
        out = tf.reshape(tf.transpose(out, [1, 2, 0, 3]), [-1, seq_len, self.heads * self.value_size])
        return self._embedding_layer(out)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.heads * self.value_size)


class SqueezeExcite(keras.layers.Layer):
    """Squeeze-and-excitation over the length axis: x * sigmoid(dense2(relu(dense1(mean_L x))))."""

    def __init__(self, activation="relu", additive=False, rank=8, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.activation_kind = activation
        self.additive = additive
        self.rank = int(rank)
        self.kernel_initializer = kernel_initializer

    def build(self, input_shape):
        c = input_shape[-1]
        kw = dict(kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
        self.dense1 = keras.layers.Dense(self.rank, activation="relu", name="dense1", **kw)
        self.dense2 = keras.layers.Dense(c, name="dense2", **kw)
        self.dense1.build((None, c))
        self.dense2.build((None, self.rank))

    def legacy_weights(self):
        return [self.dense1.kernel, self.dense1.bias, self.dense2.kernel, self.dense2.bias]

    def keras3_weights(self):
        return [("dense1/vars/0", self.dense1.kernel), ("dense1/vars/1", self.dense1.bias),
                ("dense2/vars/0", self.dense2.kernel), ("dense2/vars/1", self.dense2.bias)]

    def call(self, x):
        if self.activation_kind:
            x = apply_activation(x, self.activation_kind)
        e = self.dense2(self.dense1(tf.reduce_mean(x, axis=1)))[:, None, :]
        return x + e if self.additive else x * tf.sigmoid(e)

