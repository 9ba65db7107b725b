"""DeepLIFT/SHAP input attributions: the rescale rule on the Keras graph, averaged over
dinucleotide-shuffled references.

For one input x and one reference r, DeepLIFT explains the difference of the objective
f(x) - f(r) by multipliers m (the "gradient" of a linearised network) such that
sum over the input of (x - r) * m = f(x) - f(r) exactly (completeness). The network is
linearised between x and r layer by layer:

- linear layers (convolutions, dense kernels, inference batch norm, Scale, add, concatenate,
  crops, up-sampling, average pooling, dropout at inference) pass multipliers through their
  transpose, which is autodiff's gradient of the layer;
- every elementwise nonlinearity y = g(z) (gelu, relu, softplus, sigmoid, ..., the
  activation of a dense layer, the objective's ``log`` statistic and the untransform of
  predictions) multiplies them by the secant slope (g(z_x) - g(z_r)) / (z_x - z_r), from
  the layer inputs z_x, z_r of forward passes of x and r (evaluated in float64, so it is
  accurate however close z_x and z_r are); where z_x = z_r, the derivative;
- max pooling (non-overlapping windows) uses the rule of the DeepSHAP and Captum
  implementations: the change of each window's maximum, max(x_w) - max(r_w), is given to one
  element of the window, the first maximum of x's window when max(x_w) >= max(r_w), else
  the first maximum of r's window; that element j gets the multiplier
  (max(x_w) - max(r_w)) / (x_j - r_j), which lies in [0, 1] because |x_j - r_j| >=
  |max(x_w) - max(r_w)|, and the others get 0 (the chosen element gets 1 where x_j = r_j:
  the window's change is then 0 too). The window's change is therefore explained exactly.

Multipliers are computed for every (input, reference) pair at once: one forward pass of
the inputs, one forward and one backward pass of the references, whose backward pass
takes the secant slopes instead of derivatives (custom gradients).

DeepSHAP averages over K references r_k (here dinucleotide shuffles of x, seeded):
- hypothetical contributions, the TF-MoDISco input: hyp[i, b] = mean over references and
  ensemble members of (e_b - r_k[i]) . m_k[i], the contribution position i would make
  with base b (e_b the one-hot of b). They are NOT mean-centred over ACGT: centring would
  break hyp * x = contribution, which TF-MoDISco relies on; the differences between
  bases, the part centring keeps, are the same.
- contributions (scores): hyp * x, i.e. mean over k of (x - r_k) . m_k at the sequence's
  base; where x is an all-zero N row the per-channel mean of (x - r_k) * m_k (the
  references may hold a base there). Their sum over the input is f(x) - mean_k f(r_k)
  (per ensemble member, hence also for the ensemble mean objective).

Ensembles: references are augmented like the input (shift, reverse complement); each
member's multipliers are un-augmented back to the input (as gradients are). MC dropout is
refused. Models with layers that have no rule here (attention, layer norm, products of
tensors, softmax) are refused with an InputError naming the first such layer.

Shapes: x (S, L, 4); references (S, K, L, 4); scores, hypothetical (S, L, 4).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import keras
import numpy as np
import tensorflow as tf

from ..model import ensemble as ens
from ..errors import InputError
from ..model.layers import Activate, CenterSlice, NarrowConv1D, Scale, apply_activation
from . import graph
from .objective import Objective, objective_tf, untransform_tf
from .shuffle import dinuc_shuffle

#: default number of dinucleotide-shuffled references (tangermeme's deep_lift_shap uses 20;
#: 10 halves the cost, and the ground-truth AUROC is reported for this default)
DEFAULT_N_REFS = 10

_IDENTITY = (keras.layers.Dropout, keras.layers.SpatialDropout1D, keras.layers.GaussianNoise,
             keras.layers.GaussianDropout, keras.layers.Identity, keras.layers.ActivityRegularization)
_LINEAR = _IDENTITY + (Scale, keras.layers.Add, keras.layers.Subtract, keras.layers.Average,
                       keras.layers.Concatenate, keras.layers.BatchNormalization, keras.layers.Cropping1D,
                       CenterSlice, keras.layers.UpSampling1D, keras.layers.ZeroPadding1D,
                       keras.layers.AveragePooling1D, keras.layers.GlobalAveragePooling1D, keras.layers.Reshape,
                       keras.layers.Flatten, keras.layers.Permute)
_CONVS = (keras.layers.Conv1D, NarrowConv1D, keras.layers.SeparableConv1D, keras.layers.DepthwiseConv1D,
          keras.layers.Conv1DTranspose)
_ELEMENTWISE = (Activate, keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU)


def _linear_activation(act) -> bool:
    return act in (None, keras.activations.linear)


def _reason(node) -> Optional[str]:
    """Why DeepLIFT has no rule for a graph node, or None when it has."""
    op = node.operation
    name = f"{type(op).__name__} ({op.name})"
    if isinstance(op, keras.layers.InputLayer) or isinstance(op, _LINEAR):
        return None
    if isinstance(op, _CONVS):
        return None if _linear_activation(op.activation) else f"{name}: a convolution with a built-in activation"
    if type(op) is keras.layers.Dense:
        if getattr(op, "lora_enabled", False) or getattr(op, "quantization_mode", None):
            return f"{name}: a LoRA or quantised dense layer"
        return None
    if type(op) is keras.layers.MaxPooling1D:
        if op.data_format != "channels_last" or tuple(op.strides) != tuple(op.pool_size):
            return f"{name}: overlapping or channels-first max pooling"
        return None
    if isinstance(op, _ELEMENTWISE):
        if isinstance(op, keras.layers.Activation) and op.activation in (keras.activations.softmax,
                                                                         keras.activations.log_softmax):
            return f"{name}: softmax mixes channels"
        return None
    return f"{name}"


def unsupported_reason(model) -> Optional[str]:
    """None when DeepLIFT/SHAP can run on ``model``, else the first layer without a rule."""
    return graph.first_unsupported(model, _reason)


def check_supported(model, members) -> None:
    """Raise InputError when the model or the ensemble cannot be explained here."""
    if any(m.mc >= 0 for m in members):
        raise InputError("DeepLIFT/SHAP does not support MC-dropout ensembles (x and its references would need "
                         "the same dropout mask): set mc_n to 0")
    why = unsupported_reason(model)
    if why is not None:
        raise InputError(f"DeepLIFT/SHAP has no rescale rule for {why}; it supports convolutions, dense, batch "
                         "norm, pooling, elementwise activations, add, concatenate, crops and U-net "
                         "up-sampling, not attention or layer norm: choose another method (e.g. "
                         "integrated_gradients with baseline='shuffle')")


def make_references(x: np.ndarray, n_refs: int, seed: int) -> np.ndarray:
    """(S, L, 4) -> (S, K, L, 4): K dinucleotide shuffles of each sequence (seeded)."""
    if isinstance(n_refs, bool) or not isinstance(n_refs, (int, np.integer)) or n_refs < 1:
        raise InputError(f"n_refs (DeepLIFT/SHAP references per sequence) must be an integer >= 1, got {n_refs!r}")
    rng = np.random.default_rng(seed)
    return np.stack([np.stack([dinuc_shuffle(x[s], rng) for _ in range(int(n_refs))]) for s in range(len(x))])


# ----------------------------------------------------------------------------- rules (TF)


def _derivative(fn, z):
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = fn(z)
    return tape.gradient(y, z)


def _secant(fn64, zx, zr):
    """Elementwise (fn(zx) - fn(zr)) / (zx - zr) (float32), the derivative where zx == zr.

    Evaluated in float64 on the float32 values: two different float32 numbers differ by at
    least one float32 ulp, so the float64 quotient is accurate to ~1e-8 however close they
    are, and no tolerance is needed."""
    zx64, zr64 = tf.cast(zx, tf.float64), tf.cast(zr, tf.float64)
    d = zx64 - zr64
    same = tf.equal(d, 0.0)
    slope = (fn64(zx64) - fn64(zr64)) / tf.where(same, tf.ones_like(d), d)
    # equal inputs need the whole receptive field of x and r to agree: rare, so the derivative
    # (a third of the cost of the rule) is computed only when some element needs it
    deriv = tf.cond(tf.reduce_any(same), lambda: _derivative(fn64, zx64), lambda: tf.zeros_like(zx64))
    return tf.cast(tf.where(same, deriv, slope), tf.float32)


@tf.custom_gradient
def _times(z, y, m):
    """Returns y (computed from z elsewhere, off the tape); the gradient w.r.t. z is dy * m."""
    def grad(dy):
        return dy * m, None, None
    return tf.identity(y), grad


def _rescale(fn, fn64, zr, zx):
    """fn(zr) for the reference rows zr (N, ...), whose backward pass multiplies by the secant
    slope of fn64 (fn in any float dtype) between zx (N, ...), the input rows paired with
    them, and zr."""
    z0 = tf.stop_gradient(zr)
    m = tf.stop_gradient(_secant(fn64, zx, z0))
    return _times(zr, fn(z0), m)


def _pool_geometry(op, L: int):
    p = op.pool_size[0]
    if op.padding == "same":
        nb = -(-L // p)
        left = max(nb * p - L, 0) // 2
    else:
        nb, left = L // p, 0
    return p, nb, left


def _windows(z, p, nb, left, fill):
    """(N, L, C) -> (N, nb, p, C) pooling windows, padded with ``fill``."""
    L = z.shape[1]
    right = nb * p - L - left
    if right < 0:
        z = z[:, :nb * p + left]
        right = 0
    z = tf.pad(z, [[0, 0], [left, right], [0, 0]], constant_values=fill)
    return tf.reshape(z, [-1, nb, p, z.shape[2]])


def _first_max(w, y):
    eq = tf.cast(tf.equal(w, y[:, :, None]), tf.int32)
    return tf.logical_and(eq > 0, tf.cumsum(eq, axis=2) == 1)


def _pool_multipliers(op, zx, zr):
    """(N, nb, p, C) multipliers of each window element (the max-pooling rule above)."""
    p, nb, left = _pool_geometry(op, zx.shape[1])
    zx, zr = tf.cast(zx, tf.float64), tf.cast(zr, tf.float64)     # exact differences of float32 values
    wx, wr = _windows(zx, p, nb, left, float("-inf")), _windows(zr, p, nb, left, float("-inf"))
    yx, yr = tf.reduce_max(wx, 2), tf.reduce_max(wr, 2)
    sel = tf.where((yx >= yr)[:, :, None], _first_max(wx, yx), _first_max(wr, yr))
    din = tf.reduce_sum(tf.where(sel, _windows(zx, p, nb, left, 0.0) - _windows(zr, p, nb, left, 0.0),
                                 tf.zeros_like(wx)), 2)
    same = tf.equal(din, 0.0)
    ratio = tf.where(same, tf.ones_like(din), (yx - yr) / tf.where(same, tf.ones_like(din), din))
    return tf.cast(tf.where(sel, ratio[:, :, None], tf.zeros_like(wx)), tf.float32)


def _rescale_pool(op, zr, zx):
    L, C = zr.shape[1], zr.shape[2]
    p, nb, left = _pool_geometry(op, L)
    mult = tf.stop_gradient(_pool_multipliers(op, zx, tf.stop_gradient(zr)))
    yr = op(tf.stop_gradient(zr), training=False)

    @tf.custom_gradient
    def pool(z, y):
        def grad(dy):
            g = tf.reshape(dy[:, :, None] * mult, [-1, nb * p, C])
            end = min(nb * p, left + L)                    # window element left + i = input i
            g = g[:, left:end]
            if end - left < L:                             # 'valid': the tail outside every window
                g = tf.pad(g, [[0, 0], [0, L - (end - left)], [0, 0]])
            return g, None
        return tf.identity(y), grad
    return pool(zr, yr)


def _dense_linear(op, z):
    y = tf.tensordot(z, tf.convert_to_tensor(op.kernel), 1)
    return y + op.bias if op.use_bias else y


def _node_pair(op, ax, ar, pair):
    """Outputs (x rows, reference rows) of one node on its inputs ax (B, ...) and ar (N, ...)."""
    if isinstance(op, _LINEAR) or isinstance(op, _CONVS) or (type(op) is keras.layers.Dense
                                                               and _linear_activation(op.activation)):
        return graph.call(op, ax), graph.call(op, ar)
    if type(op) is keras.layers.Dense:
        zx, zr = _dense_linear(op, ax[0]), _dense_linear(op, ar[0])
        return op.activation(zx), _rescale(op.activation, op.activation, zr, tf.gather(zx, pair))
    if type(op) is keras.layers.MaxPooling1D:
        return op(ax[0], training=False), _rescale_pool(op, ar[0], tf.gather(ax[0], pair))
    if isinstance(op, _ELEMENTWISE):
        def fn(t):
            return op(t, training=False)
        if isinstance(op, Activate):
            def fn64(t):
                return apply_activation(t, op.kind)
        else:
            fn64 = op.call            # the layer's function without Keras' cast to float32
        return fn(ax[0]), _rescale(fn, fn64, ar[0], tf.gather(ax[0], pair))
    raise ValueError(f"no DeepLIFT rule for {type(op).__name__} ({op.name})")


def _pair_objective(px, pr, pair, tw, pmask, statistic, pc, u):
    """Objective (B,) of the input rows and (N,) of the reference rows, the latter with the
    rescale rule on the untransform and the log (see objective.objective_tf)."""
    fx = objective_tf(px, tw, pmask, statistic, pc, u)
    pm = tf.gather(pmask, pair)
    if u is not None:
        def unt(p):
            return untransform_tf(p, *[tf.cast(v, p.dtype) for v in u])
        pr = _rescale(unt, unt, pr, tf.gather(px, pair))
        px = unt(px)
    sx = tf.reduce_sum(tf.reduce_sum(px * tw, -1) * pmask, -1)
    sr = tf.reduce_sum(tf.reduce_sum(pr * tw, -1) * pm, -1)
    if statistic == "mean":
        return fx, sr / tf.maximum(tf.reduce_sum(pm, -1), 1.0)
    if statistic == "log":
        def lg(s):
            return tf.math.log(s + tf.cast(pc, s.dtype) + 1e-6)
        return fx, _rescale(lg, lg, sr, tf.gather(sx, pair))
    return fx, sr


def _unaug_preds(p, rc: bool, strand_pair):
    if not rc:
        return p
    p = tf.reverse(p, axis=[1])
    return tf.gather(p, strand_pair, axis=-1) if strand_pair is not None else p


def multipliers_fn(model, rc: bool, statistic: str, untransform: bool):
    """tf.function(x (B, L, 4), refs (N, L, 4), pair (N,) int32 row of x for each reference,
    tw (T,), pmask (B, P), pseudocount, [u_cs, u_pw, u_sc (T,)]) -> (objective of x (B,),
    objective of the references (N,), multipliers (N, L, 4) w.r.t. the references' input).

    rc: the member is reverse-complemented (its predictions are un-augmented inside)."""
    key = ("deep_lift_shap", rc, statistic, untransform)
    sp = model.strand_pair

    def make():
        km = model.net.model
        nodes = graph.nodes(km)
        L = km.inputs[0].shape[1]
        T, P = km.outputs[0].shape[-1], km.outputs[0].shape[1]
        sig = [tf.TensorSpec((None, L, 4), tf.float32), tf.TensorSpec((None, L, 4), tf.float32),
               tf.TensorSpec((None,), tf.int32), tf.TensorSpec((T,), tf.float32),
               tf.TensorSpec((None, P), tf.float32), tf.TensorSpec((), tf.float32)]
        if untransform:
            sig += [tf.TensorSpec((T,), tf.float32)] * 3

        def f(x, r, pair, tw, pmask, pc, *u):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(r)
                vx, vr = {id(km.inputs[0]): x}, {id(km.inputs[0]): r}
                for node in nodes:
                    ins = node.input_tensors
                    yx, yr = _node_pair(node.operation, [vx[id(t)] for t in ins], [vr[id(t)] for t in ins], pair)
                    vx[id(node.outputs[0])], vr[id(node.outputs[0])] = yx, yr
                px = _unaug_preds(vx[id(km.outputs[0])], rc, sp)
                pr = _unaug_preds(vr[id(km.outputs[0])], rc, sp)
                fx, fr = _pair_objective(px, pr, pair, tw, pmask, statistic, pc, u or None)
            return fx, fr, tape.gradient(fr, r)
        return tf.function(f, input_signature=sig, autograph=False)   # plain Python control flow
    return model._fn(key, make)


# ----------------------------------------------------------------------------- driver


@dataclass
class DeepLiftShap:
    """Result of :func:`deep_lift_shap`.

    scores: (S, L, 4) contributions (hypothetical x x; all-zero N rows: mean (x - r) * m).
    hypothetical: (S, L, 4) hypothetical contributions, mean over members and references.
    objective: (S,) f(x), ensemble mean. ref_objective: (S, K) f(r_k), ensemble mean.
    references: (S, K, L, 4). var: (S, L, 4) variance over members of the hypothetical
    contributions. members: (S, L, 4, E) each member's hypothetical contributions, or None.
    delta: (S,) f(x) - mean_k f(r_k). completeness_error: (S,) |sum scores - delta| / |delta|.
    """

    scores: np.ndarray
    hypothetical: np.ndarray
    objective: np.ndarray
    ref_objective: np.ndarray
    references: np.ndarray
    var: np.ndarray
    members: Optional[np.ndarray]
    delta: np.ndarray
    completeness_error: np.ndarray


def _chunks(S: int, K: int, size: int):
    """Consecutive runs of the S * K (sequence, reference) pairs, ``size`` pairs each."""
    flat = np.arange(S * K)
    for a in range(0, S * K, size):
        yield flat[a:a + size] // K, flat[a:a + size] % K


def deep_lift_shap(model, x: np.ndarray, obj: Objective, members, references: np.ndarray,
                   batch_size: int = 4, keep_members: bool = False,
                   progress: Optional[Callable[[int, int], None]] = None) -> DeepLiftShap:
    """DeepLIFT/SHAP of objective ``obj`` (rows of its bin mask = sequences of x) on x (S, L, 4)
    against ``references`` (S, K, L, 4), over ensemble ``members`` (seqnn_engine.model.ensemble).

    batch_size: references per model call (their inputs are added to the call).
    """
    check_supported(model, members)
    x = np.asarray(x, np.float32)
    refs = np.asarray(references, np.float32)
    S, L = x.shape[:2]
    if refs.ndim != 4 or refs.shape[0] != S or refs.shape[2:] != x.shape[1:]:
        raise InputError(f"references must have shape ({S}, K, {L}, 4), got {refs.shape}")
    K = refs.shape[1]
    E = len(members)
    size = max(1, int(batch_size))
    f_x = np.zeros(S, np.float64)
    f_r = np.zeros((S, K), np.float64)
    hyp_stats = ens.RunningStats(x.shape)
    contrib = np.zeros(x.shape, np.float64)
    mem_arr = np.zeros(x.shape + (E,), np.float32) if keep_members else None
    u = obj.untransform
    total, done = E * S * K, 0
    for mi, mem in enumerate(members):
        fn = multipliers_fn(model, mem.rc, obj.statistic, u is not None)
        hyp_m = np.zeros(x.shape, np.float64)
        fx_m = np.zeros(S, np.float64)
        for s_idx, k_idx in _chunks(S, K, size):
            rows, pair = np.unique(s_idx, return_inverse=True)
            args = [tf.constant(ens.augment(x[rows], mem)), tf.constant(ens.augment(refs[s_idx, k_idx], mem)),
                    tf.constant(pair.astype(np.int32)), tf.constant(obj.target_weights),
                    tf.constant(obj.bin_mask[rows]), tf.constant(obj.pseudocount, tf.float32)]
            if u is not None:
                args += [tf.constant(u.clip_soft), tf.constant(u.power), tf.constant(u.scale)]
            fx, fr, m = fn(*args)
            m = ens.unaugment_input(m.numpy().astype(np.float64), mem)        # (n, L, 4)
            r = refs[s_idx, k_idx].astype(np.float64)
            fx_m[rows] = fx.numpy()
            f_r[s_idx, k_idx] += fr.numpy()
            h = m - (r * m).sum(-1, keepdims=True)                             # (e_b - r) . m
            np.add.at(hyp_m, s_idx, h)
            np.add.at(contrib, s_idx, (x[s_idx] - r) * m)
            done += len(s_idx)
            if progress is not None:
                progress(done, total)
        hyp_m /= K
        f_x += fx_m
        hyp_stats.update_block(0, hyp_m)
        if mem_arr is not None:
            mem_arr[..., mi] = hyp_m
    f_x /= E
    f_r /= E
    hyp = hyp_stats.mean
    contrib /= E * K
    zero_rows = ~(np.abs(x).sum(-1, keepdims=True) > 0)
    scores = np.where(zero_rows, contrib, hyp * x)
    delta = f_x - f_r.mean(1)
    err = np.abs(scores.reshape(S, -1).sum(1) - delta) / np.maximum(np.abs(delta), 1e-12)
    return DeepLiftShap(scores=scores.astype(np.float32), hypothetical=hyp.astype(np.float32),
                        objective=f_x.astype(np.float32), ref_objective=f_r.astype(np.float32),
                        references=refs, var=hyp_stats.variance().astype(np.float32), members=mem_arr,
                        delta=delta.astype(np.float32), completeness_error=err.astype(np.float32))


def attribute_branch(runner, x: np.ndarray, n_refs: int, seed: int, return_all: bool, progress=None):
    """The ``method='deep_lift_shap'`` branch of input_attr.attribute.

    Returns (scores, hypothetical, objective, var, members or None, diagnostics)."""
    check_supported(runner.model, runner.members)
    refs = make_references(x, n_refs, seed)
    r = deep_lift_shap(runner.model, x, runner.obj, runner.members, refs, runner.batch_size, return_all, progress)
    diag = {"dls_completeness_error": r.completeness_error, "dls_delta": r.delta}
    return r.scores, r.hypothetical, r.objective, r.var, r.members, diag
