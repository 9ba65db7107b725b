"""Bounded-memory backward pass: gradient checkpointing over segments of the model's graph.

One autodiff tape over the whole Keras graph keeps every activation the backward pass
needs until it ends: at Borzoi scale (524 kb) that is tens of tensors of 0.5-1 GB each.
Here the graph (walked with ``graph.nodes``) is cut into consecutive segments:

1. forward once, without a tape, keeping only the tensors that cross a cut (the
   *boundaries*; a U-net skip connection crosses several cuts and is kept once);
2. backward segment by segment in reverse: recompute the segment from its stored
   inputs under a tape and pull the cotangents of its outputs through it
   (``tape.gradient(..., output_gradients=...)``) to cotangents of its inputs, which add
   up where a tensor feeds several segments. A segment's boundaries are freed once it
   is done, so the working set shrinks as the sweep moves towards the input.

Each segment is a Keras sub-model (its input and output tensors are the model's own),
run through a ``tf.function`` per segment, so the cost is one extra forward pass and the
gradients are those of the plain tape (same ops, same order) to float32 rounding.

Where to cut is chosen from a per-sequence byte model of the graph (:func:`node_costs`):
among cut candidates (after pooling, residual adds, tapped representations and other
block boundaries) a dynamic programme picks the cuts that minimise the peak working set
of the backward sweep, ``stored boundaries + cotangents at the cut + the segment's tape``.
Layer gradients force cuts at the tapped tensors, so their cotangents are exact
boundary cotangents; K cotangents (one per target) travel together through each
segment on one persistent tape.

Shapes: x (B, L, 4); cotangents carry a leading K axis: (K, B, ...).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from ..model.layers import MultiheadAttention
from . import graph

_POOL = (keras.layers.MaxPooling1D, keras.layers.AveragePooling1D)
_BOUNDARY_OPS = _POOL + (keras.layers.Add, keras.layers.Cropping1D, keras.layers.UpSampling1D)


def _numel(t) -> int:
    return math.prod(int(d) for d in t.shape[1:] if d is not None)


@dataclass(frozen=True)
class NodeCost:
    """Per-sequence bytes of one graph node: ``out`` its output, ``saved`` what a tape keeps
    for its backward step, ``work`` its transient working set (per cotangent: its input and
    output cotangents; plus internal tensors such as attention weights)."""

    out: int
    saved: int
    work: int
    internal: int


def _internal_bytes(op, node, db: int) -> int:
    """Bytes of tensors a layer builds inside its call (not visible as node outputs)."""
    if isinstance(op, MultiheadAttention):
        # one head at a time, recomputed in the backward pass (layers.MultiheadAttention): its
        # relative logits and two shifted copies, logits, weights and their cotangents
        t = int(node.input_tensors[0].shape[1])
        rel = t * (2 * t - 1) * db if op.num_position_features else 0
        return 2 * (3 * rel + 3 * t * t * db)
    return 0


def node_costs(nodes, dtype_bytes: int = 4) -> list:
    """[NodeCost] for the nodes (order of ``graph.nodes``)."""
    out = []
    for node in nodes:
        op = node.operation
        o = sum(_numel(t) for t in node.outputs) * dtype_bytes
        i = sum(_numel(t) for t in node.input_tensors if t.dtype in ("float32", "float16", "bfloat16",
                                                                          "float64")) * dtype_bytes
        internal = _internal_bytes(op, node, dtype_bytes)
        saved = o
        out.append(NodeCost(o, saved, i + o, internal))
    return out


def forward_bytes(km, dtype_bytes: int = 4) -> int:
    """Per-sequence peak bytes of a forward pass without a tape: the tensors alive (produced,
    not yet read by their last consumer) at the worst node, plus its internal tensors."""
    g = _Graph(km)
    alive = _tensor_bytes(g.x, dtype_bytes)
    ends: dict = {}
    for t in [g.x] + [t for node in g.nodes for t in node.outputs]:
        ends.setdefault(g.last.get(id(t), 0), []).append(_tensor_bytes(t, dtype_bytes))
    peak = alive
    for n, (node, c) in enumerate(zip(g.nodes, node_costs(g.nodes, dtype_bytes))):
        alive += c.out
        peak = max(peak, alive + c.internal)
        alive -= sum(ends.get(n + 1, ()))
    return int(peak)


@dataclass(frozen=True)
class Segment:
    """A run of consecutive graph nodes: inputs (tensors from earlier segments or x), consts
    (other model inputs it reads, e.g. the MC-dropout seed), outputs (tensors later segments
    read, the model output, or requested taps)."""

    nodes: tuple
    inputs: tuple
    consts: tuple
    outputs: tuple


@dataclass(frozen=True)
class Plan:
    """Where a graph is cut. All bytes are per sequence.

    segments: in forward order. stored_bytes: boundary tensors kept from the forward pass
    to the backward sweep. peak_bytes: largest estimated working set of the checkpointed
    backward sweep (for ``k`` cotangents). tape_bytes: the same for one plain tape over the
    whole graph. k: cotangents per sequence the estimate is for.
    """

    segments: tuple
    stored_bytes: int
    peak_bytes: int
    tape_bytes: int
    k: int
    segment_peaks: tuple = ()


class _Graph:
    """Node order, producers and last consumers of one Keras model's graph."""

    def __init__(self, km):
        self.km = km
        self.nodes = graph.nodes(km)
        self.x = km.inputs[0]
        self.consts = tuple(km.inputs[1:])
        self.const_ids = {id(t) for t in self.consts}
        self.pos = {id(self.x): 0}             # tensor -> position after its producer (x: 0)
        self.tensor = {id(self.x): self.x}
        self.last = {}                          # tensor -> position after its last consumer
        for n, node in enumerate(self.nodes):
            for t in node.input_tensors:
                self.last[id(t)] = max(self.last.get(id(t), 0), n + 1)
            for t in node.outputs:
                self.pos[id(t)] = n + 1
                self.tensor[id(t)] = t
        self.out = km.outputs[0]
        self.last[id(self.out)] = len(self.nodes) + 1


def _candidates(g: _Graph, forced: set) -> list:
    """Cut positions: block boundaries (pooling, adds, crops, upsampling, tapped tensors) and
    forced ones; position p is after node p - 1."""
    cand = {0, len(g.nodes)} | set(forced)
    for n, node in enumerate(g.nodes):
        if isinstance(node.operation, _BOUNDARY_OPS):
            cand.add(n + 1)
    return sorted(cand)


def _tensor_bytes(t, db):
    return _numel(t) * db


def make_plan(km, taps: Sequence = (), k: int = 1, dtype_bytes: int = 4,
              every_candidate: bool = False) -> Plan:
    """Cut ``km``'s graph into segments (see the module docstring).

    taps: KerasTensors of ``km`` whose cotangents are wanted (cuts are forced after them; x
    is always available). k: cotangents per sequence (targets of layer gradients).
    every_candidate: cut at every candidate position (many short segments; for tests).
    """
    g = _Graph(km)
    db = dtype_bytes
    N = len(g.nodes)
    tap_ids = {id(t) for t in taps}
    forced = {g.pos[id(t)] for t in taps}
    cand = _candidates(g, forced)
    costs = node_costs(g.nodes, db)
    # tensors crossing cuts: (producer position, last consumer position, bytes)
    tens = [(g.pos[i], max(g.last.get(i, 0), g.pos[i] + 1 if i in tap_ids else 0), _tensor_bytes(g.tensor[i], db))
            for i in g.pos if i not in g.const_ids]
    P = np.array([t[0] for t in tens])
    C = np.array([t[1] for t in tens])
    B = np.array([t[2] for t in tens], np.float64)
    cpos = np.array(cand)
    M = len(cand)
    live = np.array([B[(P <= c) & (C > c)].sum() for c in cpos])
    inc = np.zeros((M, M))     # inc[a, b]: bytes produced in (cand[a], cand[b]] still live at cand[b]
    for b in range(M):
        lv = (P <= cpos[b]) & (C > cpos[b])
        for a in range(b):
            inc[a, b] = B[lv & (P > cpos[a])].sum()
    saved_cum = np.concatenate([[0], np.cumsum([c.saved for c in costs])])
    work = np.array([k * c.work + c.internal for c in costs] + [0], np.float64)
    seg_saved = saved_cum[cpos][None, :] - saved_cum[cpos][:, None]
    seg_work = np.zeros((M, M))
    for a in range(M):
        for b in range(a + 1, M):
            seg_work[a, b] = work[cpos[a]:cpos[b]].max()
    forced_idx = [cand.index(p) for p in forced]
    x_bytes = _tensor_bytes(g.x, db)
    # the plain tape: every node's saved tensors, the cotangents of the largest node, the output
    tape = x_bytes + saved_cum[-1] + (work[:N].max() if N else 0)

    def solve(budget):
        f = np.full(M, np.inf)
        prev = np.full(M, -1)
        f[0] = x_bytes
        nseg = np.zeros(M, np.int64)
        for b in range(1, M):
            lo = max([a for a in forced_idx if a < b], default=0)     # no forced cut may be skipped
            for a in range(lo, b):
                if not np.isfinite(f[a]):
                    continue
                fb = f[a] + inc[a, b]
                peak = fb + k * live[b] + seg_saved[a, b] + seg_work[a, b]
                if peak <= budget and (fb < f[b] - 1e-9 or (abs(fb - f[b]) <= 1e-9 and nseg[a] + 1 < nseg[b])):
                    f[b], prev[b], nseg[b] = fb, a, nseg[a] + 1
        if not np.isfinite(f[M - 1]):
            return None
        cuts = [M - 1]
        while cuts[-1] != 0:
            cuts.append(int(prev[cuts[-1]]))
        return cuts[::-1], f[M - 1]

    def peaks_of(cuts):
        return [f_a + inc[a, b] + k * live[b] + seg_saved[a, b] + seg_work[a, b]
                for a, b, f_a in _walk_f(cuts, inc, x_bytes)]
    lo_b, hi_b = 0.0, float(tape + inc[0, M - 1] + k * live.max() + 1)
    best = solve(hi_b)
    if best is None:      # a forced chain that cannot be met: take all forced cuts
        best = (sorted({0, M - 1, *forced_idx}), 0.0)
    for _ in range(40):
        mid = (lo_b + hi_b) / 2
        s = solve(mid)
        if s is None:
            lo_b = mid
        else:
            hi_b, best = mid, s
        if hi_b - lo_b <= 0.01 * hi_b:
            break
    # 2% slack: among nearly minimal peaks, the cuts that store the least
    relaxed = solve(hi_b * 1.02)
    cuts = relaxed[0] if relaxed is not None else best[0]
    if every_candidate:
        cuts = list(range(M))
    segs = _segments(g, [cand[c] for c in cuts], tap_ids)
    stored = float(sum(inc[a, b] for a, b in zip(cuts[:-1], cuts[1:]))) + x_bytes
    peaks = peaks_of(cuts)
    return Plan(tuple(segs), int(stored), int(max(peaks)), int(tape), int(k), tuple(int(p) for p in peaks))


def _walk_f(cuts, inc, x_bytes):
    f = x_bytes
    for a, b in zip(cuts[:-1], cuts[1:]):
        yield a, b, f
        f += inc[a, b]


def _segments(g: _Graph, positions: list, tap_ids: set) -> list:
    segs = []
    for p0, p1 in zip(positions[:-1], positions[1:]):
        nodes = g.nodes[p0:p1]
        made = {id(t) for node in nodes for t in node.outputs}
        ins, consts, seen = [], [], set()
        for node in nodes:
            for t in node.input_tensors:
                if id(t) in made or id(t) in seen:
                    continue
                seen.add(id(t))
                (consts if id(t) in g.const_ids else ins).append(t)
        outs = [g.tensor[i] for i in made
                if g.last.get(i, 0) > p1 or i in tap_ids or i == id(g.out)]
        outs.sort(key=lambda t: g.pos[id(t)])
        segs.append(Segment(tuple(nodes), tuple(ins), tuple(consts), tuple(outs)))
    return segs


def plan_summary(plan: Plan) -> list:
    """[(first layer name, last layer name, n inputs, n outputs, estimated peak MiB)] per segment."""
    return [(s.nodes[0].operation.name, s.nodes[-1].operation.name, len(s.inputs), len(s.outputs),
             round(p / 2**20)) for s, p in zip(plan.segments, plan.segment_peaks)]


# ------------------------------------------------------------------------------ running a plan

class Runner:
    """Compiled forward and backward functions of a plan's segments.

    forward(x, consts) -> dict of boundary values; backward(values, cots, consts, stop)
    sweeps K cotangents back. Functions are traced once per segment (batch dimension None).
    """

    def __init__(self, km, plan: Plan, k: int):
        self.km, self.plan, self.k = km, plan, int(k)
        self._fwd, self._bwd = [], []
        for seg in plan.segments:
            sub = keras.Model(list(seg.inputs) + list(seg.consts), list(seg.outputs))
            sig_in = [tf.TensorSpec(t.shape, t.dtype) for t in seg.inputs]
            sig_c = [tf.TensorSpec(t.shape, t.dtype) for t in seg.consts]
            sig_cot = [tf.TensorSpec((self.k,) + tuple(t.shape), t.dtype) for t in seg.outputs]
            self._fwd.append(self._make_fwd(sub, len(seg.inputs), sig_in + sig_c))
            self._bwd.append(self._make_bwd(sub, seg, sig_in + sig_c + sig_cot))

    @staticmethod
    def _make_fwd(sub, n_in, sig):
        def f(*args):
            out = sub(list(args), training=False)
            return list(out) if isinstance(out, (list, tuple)) else [out]
        return tf.function(f, input_signature=sig)

    def _make_bwd(self, sub, seg, sig):
        n_in, n_c, k = len(seg.inputs), len(seg.consts), self.k
        diff = [i for i, t in enumerate(seg.inputs) if t.dtype in ("float32", "float16", "bfloat16", "float64")]

        def f(*args):
            ins, consts, cots = list(args[:n_in]), list(args[n_in:n_in + n_c]), list(args[n_in + n_c:])
            src = [ins[i] for i in diff]
            with tf.GradientTape(persistent=k > 1) as tape:
                tape.watch(src)
                out = sub(ins + consts, training=False)
                out = list(out) if isinstance(out, (list, tuple)) else [out]
            per_k = [tape.gradient(out, src, output_gradients=[c[j] for c in cots],
                                   unconnected_gradients=tf.UnconnectedGradients.ZERO) for j in range(k)]
            del tape
            return [tf.stack([g[i] for g in per_k]) for i in range(len(src))]
        fn = tf.function(f, input_signature=sig)
        fn.diff = diff
        return fn

    def forward(self, x, consts=(), keep: Sequence = ()):
        """Run the segments without a tape. Returns {tensor id: value} of every boundary (and x)."""
        vals = {id(self.km.inputs[0]): x}
        for c_t, c in zip(self.km.inputs[1:], consts):
            vals[id(c_t)] = c
        for seg, fn in zip(self.plan.segments, self._fwd):
            out = fn(*[vals[id(t)] for t in seg.inputs + seg.consts])
            for t, v in zip(seg.outputs, out):
                vals[id(t)] = v
        return vals

    def backward(self, vals: dict, out_cot, stop_ids: set = frozenset(), on_tap: Optional[Callable] = None,
                 tap_ids: set = frozenset()):
        """Sweep the cotangents out_cot (K, B, P, T) of the model output back through the segments.

        Boundary values are dropped from ``vals`` as soon as no earlier segment needs them.
        on_tap(tensor id, cot (K, B, ...)) is called when a tapped tensor's cotangent is complete;
        the sweep stops once every id in stop_ids has been reported. Returns the cotangent of x
        (K, B, L, 4) when the sweep reaches it, else None.
        """
        x_id = id(self.km.inputs[0])
        cots = {id(self.km.outputs[0]): out_cot}
        pending = set(stop_ids)

        def report(i):
            if i in tap_ids and on_tap is not None:
                c = cots.get(i)
                on_tap(i, c if c is not None else tf.zeros((self.k,) + tuple(vals[i].shape), vals[i].dtype))
            pending.discard(i)
        for seg, fn in zip(reversed(self.plan.segments), reversed(self._bwd)):
            if stop_ids and not pending:
                break
            for t in seg.outputs:
                report(id(t))
            if stop_ids and not pending:
                break
            oc = []
            for t in seg.outputs:
                c = cots.pop(id(t), None)
                oc.append(c if c is not None else tf.zeros((self.k,) + tuple(vals[id(t)].shape), vals[id(t)].dtype))
            ins = [vals[id(t)] for t in seg.inputs]
            res = fn(*ins, *[vals[id(t)] for t in seg.consts], *oc)
            del oc
            for i, g in zip(fn.diff, res):
                tid = id(seg.inputs[i])
                cots[tid] = g if tid not in cots else cots[tid] + g
            for t in seg.outputs:
                if id(t) != x_id:
                    vals.pop(id(t), None)
        if x_id in tap_ids or x_id in pending:
            report(x_id)
        return cots.get(x_id)


def runner(model, mc: bool, taps: Sequence[int] = (), k: int = 1, head: bool = True) -> Runner:
    """The cached :class:`Runner` of ``model``'s plain (or MC-dropout) graph with cuts forced at
    tap indexes ``taps`` (of ``model.taps``; 0 = the input) and K = ``k`` cotangents; head=False:
    the graph up to the final Dense's input (see :func:`keras_graph`)."""
    key = ("checkpoint_runner", bool(mc), tuple(taps), int(k), bool(head))

    def make():
        km, _ = keras_graph(model, mc, head)
        return Runner(km, plan_for(model, mc, taps, k, head=head), k)
    return model._fn(key, make)


def keras_graph(model, mc: bool, head: bool = True):
    """(Keras model x[, seed] -> predictions, tap tensors) of the plain or MC-dropout graph.

    head=False: the model up to the final Dense's input (B, P, C), for models with a head
    gather (``model.head_gather``); the full model otherwise.
    """
    head = head or getattr(model, "head_gather", None) is None
    if not mc:
        return (model.net.model if head else model._pre_model), model.net.tap_tensors
    key = ("checkpoint_mc_model",)

    def make():
        (xi, si), tensors, out = model.mc_graph()
        return keras.Model([xi, si], out), tensors
    km, tensors = model._fn(key, make)
    return (km if head else model._mc_model(True)), tensors


def plan_for(model, mc: bool = False, taps: Sequence[int] = (), k: int = 1, dtype_bytes: int = 4,
             head: bool = True) -> Plan:
    """The plan :func:`runner` would use (cached; cheap to ask for memory estimates)."""
    key = ("checkpoint_plan", bool(mc), tuple(taps), int(k), int(dtype_bytes), bool(head))

    def make():
        km, tensors = keras_graph(model, mc, head)
        return make_plan(km, [tensors[i] for i in taps if i != 0], k, dtype_bytes)
    return model._fn(key, make)
