"""Layer gradients (the original ``SeqNNModel.gradients``, fixed) and TSS/gene gradients.

For each chosen target t, the prediction aggregated over chosen bins,
y_t = sum_{p in bins} pred[p, t], is differentiated w.r.t. a layer's activations:
grads (S, T, P_l, U_l), with the layer's representations (S, P_l, U_l) and the
predictions (S, P, T) of the T chosen targets. Where the head ends in a Dense layer only the
chosen targets' kernel columns are computed (the head gather, ``seqnn_engine.model.head``) on every path:
no (P, T_all) array of all targets is built. One forward pass per member, then T backward passes, in target
chunks that respect a memory budget: on models made of local layers they run as one batch
over the graph (``batched_vjp``); otherwise (attention, U-net, layer norm, MC-dropout
members) as one autodiff pass per target on a shared persistent tape.

Ensembles: every member is un-augmented before averaging — predictions in the
graph (reverse bins, swap strand pairs) so target t always means forward target t;
activations and gradients in numpy: reversed positions for RC (channels
complemented at the input), shifts undone where the shift is a multiple of the
layer's stride (always at the input). Where it is not, the layer-resolution shift
(below one position) is left in place, as the reference does for bins.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from ..model import ensemble as ens
from .. import limits as _limits
from .. import memory as _memory
from ..model.head import gathers_taps
from ..model.mc_dropout import check_seed, member_seed_tensor
from ..errors import InputError
from . import batched_vjp
from .objective import position_mask

# The default memory budget is seqnn_engine.limits.current().gradient_bytes (read per call:
# SEQNN_GRADIENT_MEMORY_MB, the older SEQNN_MEMORY_BUDGET in bytes, or the config file).


@dataclass
class LayerGradients:
    """Result of :func:`layer_gradients`.

    grads[i]: (S, T, P_l, U_l) for layers[i] (float32 or float16). reprs[i]:
    (S, P_l, U_l). preds: (S, P, T) ensemble-mean predictions of the requested targets
    (column t is target ``targets[t]``; with a head gather no other target is computed).
    var[i]: (S, T, P_l, U_l) unbiased variance over members, or None. members[i]:
    (S, T, P_l, U_l, E) or None. taps: the layers' Tap records. targets: (T,)
    target indexes. bin_mask: (S, P).
    """

    grads: list
    reprs: list
    preds: np.ndarray
    taps: list
    targets: np.ndarray
    bin_mask: np.ndarray
    var: Optional[list] = None
    members: Optional[list] = None
    member_labels: list = field(default_factory=list)

    def grad_x_repr(self, i: int) -> np.ndarray:
        """(S, T, P_l, U_l) gradient x representation for layer i."""
        return self.grads[i].astype(np.float32) * self.reprs[i][:, None]


def estimate_bytes(model, n_seqs: int, layers, n_targets: int, n_members: int = 1, return_all: bool = False,
                   dtype_bytes: int = 4, batch_size: int = 1, target_chunk: int = 8) -> int:
    """The layer-gradient job estimate checked against ``gradient_memory_mb`` (see
    :func:`seqnn_engine.memory.layer_gradient_job_bytes`)."""
    return _memory.layer_gradient_job_bytes(model, n_seqs, layers, n_targets, n_members, return_all,
                                            dtype_bytes, batch_size, target_chunk)


def _member_targets(model, rc: bool, gather: bool):
    """f(o, tsel (k,), pmask (B, P)) -> (preds (B, P, k) un-augmented, objective (B, k)).

    o: the head's input (B, P, C) with the gather (only the k requested kernel columns are
    computed, :class:`~seqnn_engine.model.head.HeadGather`), else the full head's output (B, P, T)
    from which k columns are selected. RC members read the strand-paired columns, bins reversed.
    Objective: each chosen target's prediction summed over the masked bins.
    """
    sp = model.strand_pair

    def f(o, tsel, pmask):
        cols = tf.gather(tf.constant(sp, tf.int32), tsel) if rc and sp is not None else tsel
        p = model.head_gather.apply(o, cols) if gather else tf.gather(o, cols, axis=-1)
        p = tf.cast(p, tf.float32)
        p = tf.reverse(p, axis=[1]) if rc else p
        return p, tf.reduce_sum(p * pmask[:, :, None], axis=1)
    return f


def _layer_fn(model, tap_idx: tuple, rc: bool, mc: bool, k_static: int, batched: bool):
    """tf.function(x, tsel (k,), pmask (B, P), seed) -> (preds (B, P, k), reprs..., grads (B, k, P_l, U_l)...).

    batched: the K backward passes run as one batch over the graph (batched_vjp); else one
    autodiff pass per target on a shared persistent tape. With a head gather the graph ends at
    the final Dense's input and only the k requested columns are computed from it (no (B, P, T)
    array of every target); preds are the k targets' un-augmented predictions.
    """
    key = ("layer_grad", tap_idx, rc, mc, k_static, batched)
    gather = gathers_taps(model, tap_idx)
    targets_of = _member_targets(model, rc, gather)

    def make():
        import keras
        internal = [i for i in tap_idx if i != 0]
        if mc:
            (xi, si), tensors, out = model.mc_graph()
            end = model._mc_head_input if gather else out
            sub = keras.Model([xi, si], [tensors[i] for i in internal] + [end])
            call = lambda x, seed: sub([x, seed], training=False)  # noqa: E731
        else:
            end = model.net.head_input if gather else model.net.model.output
            sub = keras.Model(model.net.inputs, [model.net.tap_tensors[i] for i in internal] + [end])
            call = lambda x, seed: sub(x, training=False)  # noqa: E731

        def g_batched(x, tsel, pmask, seed):
            got = []

            def seeds(o):      # (k, B, ...): d objective_t / d o (the head input with the gather)
                with tf.GradientTape(persistent=True) as tape:
                    tape.watch(o)
                    p, y = targets_of(o, tsel, pmask)
                    ys = [y[:, t] for t in range(k_static)]
                got.append(p)
                return tf.stack([tape.gradient(yt, o) for yt in ys])
            _, srcs, grads = batched_vjp.tap_gradients(
                model, x, seeds, [model.net.tap_tensors[i] for i in tap_idx], k_static, 2,
                km=model._pre_model if gather else None)
            jacs = [tf.transpose(g, tf.concat([[1, 0], tf.range(2, tf.rank(g))], 0)) for g in grads]
            return [got[0]] + srcs + jacs

        def g_tape(x, tsel, pmask, seed):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(x)
                outs = call(x, seed)
                outs = outs if isinstance(outs, (list, tuple)) else [outs]
                acts = list(outs[:-1])
                preds, y = targets_of(outs[-1], tsel, pmask)
                ys = [y[:, t] for t in range(k_static)]   # sliced inside the tape so they are recorded
            it = iter(acts)
            srcs = [x if i == 0 else next(it) for i in tap_idx]
            # one forward pass, then one backward pass per target on the persistent tape
            # (k is static: the caller pads target chunks to a fixed size)
            per_t = [tape.gradient(yt, srcs) for yt in ys]
            del tape
            jacs = [tf.stack([g[li] for g in per_t], axis=1) for li in range(len(srcs))]
            return [preds] + srcs + jacs
        L, P = model.seq_length, model.target_length
        return tf.function(g_batched if batched else g_tape,
                           input_signature=[tf.TensorSpec((None, L, 4), tf.float32),
                                            tf.TensorSpec((k_static,), tf.int32),
                                            tf.TensorSpec((None, P), tf.float32),
                                            tf.TensorSpec((1, 2), tf.int32)])
    return model._fn(key, make)


def _checkpointed_layer_fn(model, tap_idx: tuple, rc: bool, mc: bool, k_static: int):
    """Like :func:`_layer_fn` (same arguments and outputs) on the autodiff path, with the
    backward passes checkpointed (checkpoint.py): cuts at the tapped layers, so only the
    stored boundaries, the tapped tensors' cotangents and one segment's tape are alive; the
    sweep stops at the earliest tapped layer. With a head gather the segments end at the final
    Dense's input (B, P, C): the k requested columns are computed from it and the sweep starts
    from their cotangents (k, B, P, C), so no (B, P, T) array of every target is built."""
    from . import checkpoint
    key = ("layer_grad_ckpt", tap_idx, rc, mc, k_static)
    gather = gathers_taps(model, tap_idx)
    targets_of = _member_targets(model, rc, gather)

    def make():
        run = checkpoint.runner(model, mc, tuple(i for i in tap_idx if i != 0), k_static, head=not gather)
        tensors = checkpoint.keras_graph(model, mc, head=not gather)[1]
        ids = [id(run.km.inputs[0]) if i == 0 else id(tensors[i]) for i in tap_idx]
        out = run.km.outputs[0]
        out_id = id(out)
        P = model.target_length

        def seeds(o, tsel, pmask):      # (k, B, ...) d objective_t / d o, and the un-augmented (B, P, k)
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(o)
                p, y = targets_of(o, tsel, pmask)
                ys = [y[:, t] for t in range(k_static)]
            return p, tf.stack([tape.gradient(yt, o) for yt in ys])
        seeds = tf.function(seeds, input_signature=[tf.TensorSpec((None,) + tuple(out.shape[1:]), out.dtype),
                                                     tf.TensorSpec((k_static,), tf.int32),
                                                     tf.TensorSpec((None, P), tf.float32)])

        def f(x, tsel, pmask, seed):
            vals = run.forward(x, [seed] if mc else ())
            srcs = [vals[i] for i in ids]
            preds, cot = seeds(vals[out_id], tsel, pmask)
            got = {}
            run.backward(vals, cot, stop_ids=set(ids), tap_ids=set(ids),
                         on_tap=lambda i, c: got.__setitem__(i, c))
            jacs = [tf.transpose(got[i], tf.concat([[1, 0], tf.range(2, tf.rank(got[i]))], 0)) for i in ids]
            return [preds] + srcs + jacs
        return f
    return model._fn(key, make)


BACKWARD = ("auto", "batched", "tape")


def _use_batched(model, backward: str, mems) -> list:
    """For each member, whether its backward passes run batched (see layer_gradients' backward)."""
    if backward not in BACKWARD:
        raise InputError(f"backward must be one of {', '.join(BACKWARD)}, not {backward!r}")
    graph_reason = batched_vjp.unsupported_reason(model) if backward != "tape" else None
    use = []
    for mem in mems:
        reason = "MC-dropout members need autodiff" if mem.mc >= 0 else graph_reason
        if backward == "batched" and reason is not None:
            raise InputError(f"the batched backward pass cannot run here ({reason}): use backward='auto'")
        use.append(backward != "tape" and reason is None)
    return use


def layer_gradients(model, x, layers=(0,), targets=None, positions=None, rc: bool = False, shifts=(0,),
                    mc_n: int = 0, return_all: bool = False, return_var: bool = True, batch_size: int = 2,
                    target_chunk: int = 8, memory_budget: Optional[int] = None, dtype: str = "float32",
                    mc_seed: int = 0, progress: Optional[Callable[[int, int], None]] = None,
                    backward: str = "auto", checkpoint="auto") -> LayerGradients:
    """Gradients of each target's binned prediction w.r.t. chosen layers (see module docstring).

    layers: tap indexes or names (0 = the one-hot input; see ``model.taps``).
    targets: target indexes (None = all). positions: None (all bins) | 'center' |
    bins (k,) | per-sequence bins (S, k) | mask. memory_budget: bytes (default
    seqnn_engine.limits: SEQNN_GRADIENT_MEMORY_MB, by default the SEQNN_MAX_MEMORY_MB value); beyond it InputError says what to reduce.
    dtype: 'float32' or 'float16' storage of grads. backward: 'auto' (batched where the
    model allows, see batched_vjp), 'batched' (InputError where it does not) or 'tape'
    (one autodiff pass per target); all give the same gradients to float rounding.
    checkpoint: on the autodiff path, True sweeps the backward passes over checkpointed
    segments of the graph cut at the tapped layers (memory scales with the tapped layers and
    one segment, not the whole graph; see checkpoint.py), False keeps one tape over the
    graph, 'auto' checkpoints when seqnn_engine.memory estimates one tape's batch above
    memory.CHECKPOINT_ABOVE_BYTES or the memory limit. The whole job's estimated peak is
    checked against SEQNN_MAX_MEMORY_MB (batch_size is reduced until a batch fits).
    mc_seed: MC sample k runs with its fixed masks for (mc_seed, k) in every batch (see
    seqnn_engine.model.mc_dropout), so results do not depend on batch_size.
    """
    x = model.check_input(x)
    S = x.shape[0]
    mc_seed = check_seed(mc_seed)
    tap_idx = tuple(model.tap_indexes(layers))
    tidx = model.check_targets(targets)
    if mc_n and not model.has_dropout:
        raise InputError("MC dropout needs dropout layers, and this model has none: set mc_n to 0")
    if dtype not in ("float32", "float16"):
        raise InputError("dtype must be 'float32' or 'float16'")
    mask = position_mask(positions, S, model.target_length)
    mems = ens.members(rc, shifts, mc_n)
    batched = _use_batched(model, backward, mems)
    lim = _limits.current()
    # unset, SEQNN_GRADIENT_MEMORY_MB is the memory limit, checked below by the job's memory plan
    budget = (lim.gradient_bytes if lim.gradient_set else None) if memory_budget is None else int(memory_budget)
    need = estimate_bytes(model, S, tap_idx, len(tidx), len(mems), return_all, 2 if dtype == "float16" else 4,
                          batch_size, target_chunk)
    if budget is not None and need > budget:
        raise _limits.exceeded("gradient_bytes", f"layer gradients need about {need / 2**30:.3g} GiB "
                               "(targets x layer size x positions x sequences)",
                               "choose fewer targets, smaller layers, fewer sequences, or float16 storage", budget)
    if checkpoint not in (True, False, "auto"):
        raise InputError(f"checkpoint must be True, False or 'auto', got {checkpoint!r}")
    db = 2 if dtype == "float16" else 4
    mc = mc_n > 0
    common = dict(return_all=return_all, dtype_bytes=db, batch_size=batch_size, target_chunk=target_chunk,
                  mc=mc)
    def tape_plan(ckpt: bool):
        return _memory.layer_gradients_plan(model, S, tap_idx, len(tidx), len(mems), backward="tape",
                                            checkpoint=ckpt, **common)
    if all(batched):
        plan = _memory.layer_gradients_plan(model, S, tap_idx, len(tidx), len(mems), backward="batched", **common)
    elif checkpoint == "auto":
        try:
            plan = tape_plan(False)
            if plan.peak_bytes > min(plan.limit_bytes, _memory.CHECKPOINT_ABOVE_BYTES):
                plan = tape_plan(True)
        except InputError:          # one tape does not fit even for one sequence: checkpoint
            plan = tape_plan(True)
    else:
        plan = tape_plan(bool(checkpoint))
    use_ckpt = plan.checkpoint
    batch_size = plan.batch_size
    taps = [model.taps[i] for i in tap_idx]
    T = len(tidx)
    g_stats = [ens.RunningStats((S, T, t.length, t.width)) for t in taps]
    r_stats = [ens.RunningStats((S, t.length, t.width)) for t in taps]
    p_stats = ens.RunningStats((S, model.target_length, T))
    allm = [np.zeros((S, T, t.length, t.width, len(mems)), np.float32) for t in taps] if return_all else None
    chunks = [tidx[i:i + target_chunk] for i in range(0, T, target_chunk)]
    total, done = len(mems) * S, 0
    for mi, mem in enumerate(mems):
        if use_ckpt and not batched[mi]:
            fn = _checkpointed_layer_fn(model, tap_idx, mem.rc, mem.mc >= 0, min(target_chunk, T))
        else:
            fn = _layer_fn(model, tap_idx, mem.rc, mem.mc >= 0, min(target_chunk, T), batched[mi])
        for b0 in range(0, S, batch_size):
            sl = slice(b0, min(S, b0 + batch_size))
            xb = tf.constant(ens.augment(x[sl], mem))
            mb = tf.constant(mask[sl])
            seed = member_seed_tensor(mc_seed, mem)      # the member's fixed masks (mc_dropout.py)
            grads_b = [np.zeros((sl.stop - sl.start, T, t.length, t.width), np.float32) for t in taps]
            preds_b = np.zeros((sl.stop - sl.start, model.target_length, T), np.float32)
            reprs_b = None
            k = min(target_chunk, T)
            for c0, ch in zip(range(0, T, target_chunk), chunks):
                padded = np.concatenate([ch, np.repeat(ch[-1:], k - len(ch))])
                out = fn(xb, tf.constant(padded, tf.int32), mb, seed)
                n = len(tap_idx)
                preds_b[:, :, c0:c0 + len(ch)] = out[0].numpy()[:, :, :len(ch)]
                reprs_b = [o.numpy() for o in out[1:1 + n]]
                for li, j in enumerate(out[1 + n:]):
                    grads_b[li][:, c0:c0 + len(ch)] = j.numpy()[:, :len(ch)]
            for li, t in enumerate(taps):
                st = 1 if tap_idx[li] == 0 else t.stride
                comp = tap_idx[li] == 0
                gl = ens.unaugment_positions(grads_b[li], mem, st, axis=-2, complement=comp)
                rl = ens.unaugment_positions(reprs_b[li], mem, st, axis=-2, complement=comp)
                g_stats[li].update_block(b0, gl)
                r_stats[li].update_block(b0, rl)
                if allm is not None:
                    allm[li][b0:b0 + gl.shape[0], ..., mi] = gl
            p_stats.update_block(b0, preds_b)
            done += sl.stop - sl.start
            if progress is not None:
                progress(done, total)
    cast = np.float16 if dtype == "float16" else np.float32
    return LayerGradients(grads=[s.mean.astype(cast) for s in g_stats],
                          reprs=[s.mean.astype(np.float32) for s in r_stats],
                          preds=p_stats.mean.astype(np.float32), taps=taps, targets=tidx, bin_mask=mask,
                          var=[s.variance().astype(cast) for s in g_stats] if return_var else None,
                          members=allm, member_labels=[m.label for m in mems])


@dataclass
class TSSGradients:
    """Result of :func:`tss_gradients` (the original ``gradients_genes``, with RC).

    grads[i]: (G, T, P_l, U_l), one row per (sequence, TSS). reprs[i]: (G, P_l, U_l).
    seq_index: (G,) the sequence of each row. tss_bin: (G,) its TSS bin. radius: bins
    summed on each side of the TSS bin.
    """

    grads: list
    reprs: list
    seq_index: np.ndarray
    tss_bin: np.ndarray
    radius: int
    targets: np.ndarray
    taps: list


def tss_gradients(model, x, tss_bins, radius: int = 1, layers=(0,), targets=None, **kw) -> TSSGradients:
    """Per-TSS layer gradients: objective of each target summed over bins [b - radius, b + radius].

    x: (S, L, 4); tss_bins: list of S int arrays (bins of each sequence's TSSs).
    Other keywords as :func:`layer_gradients` (rc, shifts, mc_n, ...).
    """
    x = model.check_input(x)
    if len(tss_bins) != x.shape[0]:
        raise InputError(f"tss_bins must list the TSS bins of each of the {x.shape[0]} sequences")
    rows, bins = [], []
    for s, bb in enumerate(tss_bins):
        for b in np.atleast_1d(np.asarray(bb, np.int64)):
            if not 0 <= b < model.target_length:
                raise InputError(f"TSS bin {b} of sequence {s} is outside the {model.target_length} output bins")
            rows.append(s)
            bins.append(int(b))
    if not rows:
        raise InputError("no TSS bins given")
    rows = np.asarray(rows)
    bins = np.asarray(bins)
    mask = np.zeros((rows.size, model.target_length), bool)
    for g, b in enumerate(bins):
        mask[g, max(0, b - radius):b + radius + 1] = True
    lg = layer_gradients(model, x[rows], layers=layers, targets=targets, positions=mask, **kw)
    return TSSGradients(grads=lg.grads, reprs=lg.reprs, seq_index=rows, tss_bin=bins, radius=int(radius),
                        targets=lg.targets, taps=lg.taps)
