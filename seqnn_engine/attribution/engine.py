"""Compiled gradient/objective functions and the ensemble loop over members.

Every function is a ``tf.function`` with an input signature (batch dimension None),
cached on the SeqModel. A member's predictions of the objective's targets only are
computed (the head gather) and un-augmented INSIDE the graph (RC: strand-paired columns,
reversed bins) before the objective, so the objective always refers to
forward-orientation bins and targets; its input gradient is then mapped
back to the original input (reverse-complement, unshift) in numpy.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..model import ensemble as ens
from ..model.mc_dropout import check_seed, member_seed_tensor
from .objective import Objective, objective_tf


def _sig(model, with_u: bool):
    L, P = model.seq_length, model.target_length
    s = [tf.TensorSpec((None, L, 4), tf.float32), tf.TensorSpec((None,), tf.float32),
         tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None, P), tf.float32), tf.TensorSpec((), tf.float32),
         tf.TensorSpec((1, 2), tf.int32)]
    if with_u:
        s += [tf.TensorSpec((None,), tf.float32)] * 3
    return s


def input_grad_fn(model, rc: bool, mc: bool, statistic: str, untransform: bool, need_grad: bool = True):
    """tf.function(x, tw, idx, pmask, pseudocount, seed[, u_cs, u_pw, u_sc]) -> (objective (B,), grad (B, L, 4)).

    x (B, L, 4) member inputs; idx (K,) int32 the objective's targets with weights tw (K,)
    (``Objective.selected_targets`` / ``selected_weights``); pmask (B, P); u_* (K,) the
    untransform of those targets. Only the K targets' columns of the final layer are computed
    (:meth:`SeqModel.target_predictions`), already un-augmented for the member.
    """
    key = ("input_grad", rc, mc, statistic, untransform, need_grad)

    def make():
        def f(x, tw, idx, pmask, pc, seed, *u):
            if not need_grad:
                p = model.target_predictions(x, idx, rc=rc, mc=mc, seed=seed)
                # float64: no-gradient objectives are subtracted (ISM), see objective_tf
                return objective_tf(p, tw, pmask, statistic, pc, u or None, dtype=tf.float64), tf.zeros((0,))
            with tf.GradientTape() as tape:
                tape.watch(x)
                p = model.target_predictions(x, idx, rc=rc, mc=mc, seed=seed)
                obj = objective_tf(p, tw, pmask, statistic, pc, u or None)
            return obj, tape.gradient(obj, x)
        return tf.function(f, input_signature=_sig(model, untransform))
    return model._fn(key, make)


def checkpointed_input_grad_fn(model, rc: bool, mc: bool, statistic: str, untransform: bool):
    """Like :func:`input_grad_fn` (same arguments and results, need_grad=True) with the backward
    pass checkpointed over segments of the graph (see checkpoint.py): bounded memory, one extra
    forward pass. With a head gather the segments end at the final Dense's input (B, P, C) and
    only the K requested columns are computed from it."""
    from . import checkpoint
    key = ("input_grad_ckpt", rc, mc, statistic, untransform)
    sp = model.strand_pair
    gather = model.head_gather is not None

    def make():
        run = checkpoint.runner(model, mc, head=not gather)
        out = run.km.outputs[0]
        sig = _sig(model, untransform)
        seed_sig = [tf.TensorSpec((None,) + tuple(out.shape[1:]), tf.float32)] + sig[1:5] + sig[6:]

        def seeds(o, tw, idx, pmask, pc, *u):
            """The objective of the member's output o (the head's input with a gather, else the
            predictions of every target) and its gradient w.r.t. o, (1, B, ...)."""
            with tf.GradientTape() as tape:
                tape.watch(o)
                cols = tf.gather(tf.constant(sp, tf.int32), idx) if rc and sp is not None else idx
                y = model.head_gather.apply(o, cols) if gather else tf.gather(o, cols, axis=-1)
                y = tf.reverse(y, axis=[1]) if rc else y
                obj = objective_tf(y, tw, pmask, statistic, pc, u or None)
            return obj, tape.gradient(obj, o)[None]
        seeds = tf.function(seeds, input_signature=seed_sig)

        def f(x, tw, idx, pmask, pc, seed, *u):
            vals = run.forward(x, [seed] if mc else ())
            obj, cot = seeds(vals[id(out)], tw, idx, pmask, pc, *u)
            g = run.backward(vals, cot)
            return obj, g[0]
        return f
    return model._fn(key, make)


class MemberRunner:
    """Evaluate an objective (and its input gradient) over ensemble members for a batch of inputs.

    checkpoint: run input gradients through the checkpointed backward pass (checkpoint.py)
    instead of one tape over the whole graph (same results to float32 rounding).
    MC members run with their fixed masks (seed ``[[mc_seed, member.mc]]``, see
    seqnn_engine.model.mc_dropout): every input of a member, in any batch, sees one network.
    """

    def __init__(self, model, objective: Objective, rc=False, shifts=(0,), mc_n=0, mc_seed=0,
                 batch_size=4, checkpoint: bool = False):
        self.model = model
        self.obj = objective
        self.members = ens.members(rc, shifts, mc_n)
        self.mc_seed = check_seed(mc_seed)
        self.batch_size = max(1, int(batch_size))
        self.checkpoint = bool(checkpoint)

    def seed(self, mem) -> tf.Tensor:
        """The (1, 2) int32 mask seed of member ``mem``."""
        return member_seed_tensor(self.mc_seed, mem)

    def _args(self, xb, mask_b, mem):
        o = self.obj
        seed = self.seed(mem)
        a = [tf.constant(xb), tf.constant(o.selected_weights), tf.constant(o.selected_targets, tf.int32),
             tf.constant(mask_b), tf.constant(o.pseudocount, tf.float32), seed]
        if o.untransform is not None:
            a += [tf.constant(v) for v in o.untransform_args(gathered=True)]
        return a

    def run(self, x, seq_index, need_grad=True, on_member=None, progress=None):
        """x (N, L, 4) inputs whose objective bins come from rows ``seq_index`` (N,) of the bin mask.

        Returns (objective mean (N,), gradient mean (N, L, 4) or None, gradient stats RunningStats or None).
        on_member(member_i, obj (N,), grad (N, L, 4)) is called for every member (grads un-augmented).
        """
        n = x.shape[0]
        obj_sum = np.zeros(n, np.float64)
        stats = ens.RunningStats((n,) + x.shape[1:]) if need_grad else None
        total = len(self.members) * n
        done = 0
        for mi, mem in enumerate(self.members):
            if need_grad and self.checkpoint:
                fn = checkpointed_input_grad_fn(self.model, mem.rc, mem.mc >= 0, self.obj.statistic,
                                                self.obj.untransform is not None)
            else:
                fn = input_grad_fn(self.model, mem.rc, mem.mc >= 0, self.obj.statistic,
                                   self.obj.untransform is not None, need_grad)
            objs = np.zeros(n, np.float64)
            grads = np.zeros(x.shape, np.float32) if need_grad else None
            for b0 in range(0, n, self.batch_size):
                sl = slice(b0, b0 + self.batch_size)
                xb = ens.augment(x[sl], mem)
                o, g = fn(*self._args(xb, self.obj.bin_mask[seq_index[sl]], mem))
                objs[sl] = o.numpy()
                if need_grad:
                    grads[sl] = ens.unaugment_input(g.numpy(), mem)
                done += xb.shape[0]
                if progress is not None:
                    progress(done, total)
            obj_sum += objs
            if need_grad:
                stats.update_block(0, grads)
            if on_member is not None:
                on_member(mi, objs, grads)
        gmean = stats.mean.astype(np.float32) if need_grad else None
        return (obj_sum / len(self.members)).astype(np.float32), gmean, stats
