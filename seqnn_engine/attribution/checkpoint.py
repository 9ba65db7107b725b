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

The local stage. The layers from the input up to the first non-local one (attention,
squeeze-excite, cropping: :func:`local_region`) compute each output position from a
bounded window of the input, so they need not run at full length: at Borzoi scale they
are the tensors of 0.5-1 GB each (524,288 or 262,144 positions x 512-608 channels). The
input is cut into chunks (multiples of the region's largest stride); each chunk runs on
its slice of x widened by a halo of at least the region's receptive field, and keeps only
its own output positions. Forward: the pieces are concatenated into the region's outputs
(the tower's output, the U-net skips), which the segments read like x. Backward: each
chunk recomputes its slice under a tape and pulls back the cotangents of its own output
positions; the input gradient is the sum over chunks (exact by linearity; every position
a chunk's outputs read is inside its slice, and slices at the ends of x see the same
zero padding as the full sequence). :func:`make_plan` ('auto') takes the stage when it
lowers the estimated peak, with the fewest chunks whose working set fits beside the rest
of the sweep's. Full-width Borzoi: 8 chunks of 65,536 bp with a halo of 384 bp.

Shapes: x (B, L, 4); cotangents carry a leading K axis: (K, B, ...).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from ..model.layers import Activate, MultiheadAttention, Scale
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
    whole graph. k: cotangents per sequence the estimate is for. segment_peaks: the estimate
    of each segment's step. local: the :class:`LocalStage` run in position chunks before the
    segments (None: every node is in a segment); its outputs count as stored.
    """

    segments: tuple
    stored_bytes: int
    peak_bytes: int
    tape_bytes: int
    k: int
    segment_peaks: tuple = ()
    local: Optional["LocalStage"] = None


class _Graph:
    """Node order, producers and last consumers of one Keras model's graph.

    skip: ids of nodes left out (the local stage's region); given: tensors available from
    the start like x (the region's outputs), at position 0.
    """

    def __init__(self, km, skip=frozenset(), given=()):
        self.km = km
        self.nodes = [n for n in graph.nodes(km) if id(n) not in skip]
        self.x = km.inputs[0]
        self.consts = tuple(km.inputs[1:])
        self.const_ids = {id(t) for t in self.consts}
        self.pos = {id(self.x): 0}             # tensor -> position after its producer (x, given: 0)
        self.tensor = {id(self.x): self.x}
        for t in given:
            self.pos[id(t)] = 0
            self.tensor[id(t)] = t
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
              every_candidate: bool = False, chunk_bp=None) -> Plan:
    """Cut ``km``'s graph into segments (see the module docstring).

    taps: KerasTensors of ``km`` whose cotangents are wanted (cuts are forced after them; x
    is always available). k: cotangents per sequence (targets of layer gradients).
    every_candidate: cut at every candidate position (many short segments; for tests).
    chunk_bp: None (no local stage), an int (a local stage with chunks of that many bp) or
    'auto' (a local stage when it lowers the estimated peak, with the fewest chunks whose
    peak does not exceed the rest of the sweep's; see :class:`LocalStage`).
    """
    g = _Graph(km)
    db = dtype_bytes
    tap_ids = {id(t) for t in taps}
    costs = node_costs(g.nodes, db)
    # the plain tape: every node's saved tensors, the cotangents of the largest node, the output
    tape = _tensor_bytes(g.x, db) + sum(c.saved for c in costs) + max(
        (k * c.work + c.internal for c in costs), default=0)
    if chunk_bp is None or chunk_bp == 0:
        return _cut(g, None, tap_ids, k, db, every_candidate, tape)
    L = int(g.x.shape[1])
    if chunk_bp != "auto":
        st = local_stage(g, tap_ids, k, db, int(chunk_bp))
        return _cut(g, st, tap_ids, k, db, every_candidate, tape)
    plain = _cut(g, None, tap_ids, k, db, every_candidate, tape)
    st = local_stage(g, tap_ids, k, db, L // 2)
    if st is None:
        return plain
    rest = _cut(g, st, tap_ids, k, db, every_candidate, tape)
    rest_peak = max(rest.segment_peaks, default=0)
    n = 2
    while True:          # halve the chunks until the stage fits beside the rest (recomputing <= 1.5x)
        nxt = local_stage(g, tap_ids, k, db, L // (2 * n))
        if st.peak_bytes <= rest_peak or nxt is None or nxt.chunk < max(nxt.align, 4 * nxt.halo):
            break
        st, n = nxt, 2 * n
    best = dataclasses.replace(rest, local=st, peak_bytes=int(max(rest_peak, st.peak_bytes)))
    return best if best.peak_bytes < plain.peak_bytes else plain


def _cut(g: _Graph, st: Optional["LocalStage"], tap_ids: set, k: int, db: int, every_candidate: bool,
         tape: int) -> Plan:
    """The plan of graph g's nodes outside the local stage st (None: all nodes), whose outputs
    are given like x."""
    full = g
    if st is not None:
        g = _Graph(full.km, {id(n) for n in st.nodes}, st.outputs)
    N = len(g.nodes)
    forced = {g.pos[id(t)] for t in g.tensor.values() if id(t) in tap_ids}
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
    # stored from the start: x and the local stage's outputs
    x_bytes = _tensor_bytes(g.x, db) + (st.out_bytes if st is not None else 0)

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
    lo_b, hi_b = 0.0, float(tape + inc[0, M - 1] + k * live.max() + x_bytes + 1)
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
    segs = _segments(g, [cand[c] for c in cuts], tap_ids) if N else []
    stored = float(sum(inc[a, b] for a, b in zip(cuts[:-1], cuts[1:]))) + x_bytes
    peaks = [int(p) for p in peaks_of(cuts)] if N else []
    peak = max(peaks + ([st.peak_bytes] if st is not None else []), default=0)
    return Plan(tuple(segs), int(stored), int(peak), int(tape), int(k), tuple(peaks), st)


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


# ------------------------------------------------------------------------------ the local stage

_CONVS = (keras.layers.Conv1D, keras.layers.SeparableConv1D, keras.layers.DepthwiseConv1D)
_POINTWISE = (keras.layers.BatchNormalization, keras.layers.Dropout, keras.layers.Activation,
              keras.layers.ReLU)
_ELEMENTWISE_MERGE = (keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply, keras.layers.Average,
                      keras.layers.Maximum, keras.layers.Minimum)


def _last_axis(axis, rank: int = 3) -> bool:
    ax = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    return len(ax) == 1 and int(ax[0]) % rank == rank - 1


def _local_geometry(op, geoms, node):
    """(stride, left, right) of a node's output when the layer is local along the length axis,
    else None. geoms: the (stride, left, right) of its inputs: position j of a tensor of stride s
    (bp per position) covers input bp [j s, (j + 1) s) and depends on x only within
    [j s - left, (j + 1) s + right)."""
    if any(len(t.shape) != 3 for t in node.input_tensors) or len(node.outputs) != 1:
        return None
    if getattr(op, "data_format", "channels_last") != "channels_last":
        return None
    if isinstance(op, _ELEMENTWISE_MERGE) or (isinstance(op, keras.layers.Concatenate) and _last_axis(op.axis)):
        lens = {int(t.shape[1]) for t in node.input_tensors}
        if len({g[0] for g in geoms}) != 1 or len(lens) != 1:
            return None
        return geoms[0][0], max(g[1] for g in geoms), max(g[2] for g in geoms)
    if len(geoms) != 1:
        return None
    s, left, right = geoms[0]
    if isinstance(op, (Activate, Scale) + _POINTWISE) or isinstance(op, keras.layers.Dense):
        if isinstance(op, keras.layers.BatchNormalization) and not _last_axis(op.axis):
            return None
        return s, left, right
    if isinstance(op, keras.layers.LayerNormalization):
        return (s, left, right) if _last_axis(op.axis) else None
    if isinstance(op, _CONVS):
        if tuple(op.strides) != (1,) or op.padding not in ("same", "causal"):
            return None
        span = (int(op.kernel_size[0]) - 1) * int(op.dilation_rate[0])
        lo = span if op.padding == "causal" else span // 2
        return s, left + lo * s, right + (span - lo) * s
    if isinstance(op, _POOL):
        p, q = int(op.pool_size[0]), int(op.strides[0])
        if p != q or int(node.input_tensors[0].shape[1]) % p:
            return None
        return s * p, left, right
    if isinstance(op, keras.layers.UpSampling1D):
        u = int(op.size)
        if s % u:
            return None
        return s // u, left + (u - 1) * (s // u), right + (u - 1) * (s // u)
    return None


@dataclass(frozen=True)
class LocalStage:
    """The graph's local region, run in position chunks (see :func:`local_stage`).

    nodes: the region's nodes (graph order); outputs: its tensors read outside it (or tapped,
    or the model output), with strides (bp per position); align: chunk edges are multiples of
    it (every stride in the region divides it); halo: bp of context on either side of a chunk
    (a multiple of align, at least the reach of every output); chunk: bp per chunk; chunks:
    ((start, end, slice start, slice end), ...) in bp. Byte counts are per sequence:
    out_bytes (outputs), fwd_bytes / bwd_bytes (the full-length forward working set and
    one tape's saved tensors plus working set, scaled by slice / length for one chunk) and
    peak_bytes (the stage's estimated peak, see :func:`_local_peak`).
    """

    nodes: tuple
    outputs: tuple
    strides: tuple
    align: int
    halo: int
    chunk: int
    chunks: tuple
    seq_length: int
    out_bytes: int
    fwd_bytes: int
    bwd_bytes: int
    peak_bytes: int


def local_region(g: "_Graph", tap_ids: set = frozenset()):
    """(nodes, {tensor id: (stride, left, right)}) of the graph's local region: the nodes
    from the input on whose every input is x or a local tensor (not tapped: the consumers
    of a tapped tensor stay outside, so its cotangent is complete at the region's edge) and
    whose layer is local along the length axis (see :func:`_local_geometry`)."""
    L = int(g.x.shape[1])
    geo = {id(g.x): (1, 0, 0)}
    nodes = []
    for node in g.nodes:
        ins = node.input_tensors
        if not ins or any(id(t) not in geo or (id(t) in tap_ids and t is not g.x) for t in ins):
            continue
        gm = _local_geometry(node.operation, [geo[id(t)] for t in ins], node)
        if gm is None or L % gm[0] or int(node.outputs[0].shape[1]) * gm[0] != L:
            continue
        geo[id(node.outputs[0])] = gm
        nodes.append(node)
    return nodes, geo


def _lcm(values) -> int:
    out = 1
    for v in values:
        out = out * int(v) // math.gcd(out, int(v))
    return out


def _chunks(L: int, chunk: int, halo: int) -> tuple:
    return tuple((a, min(L, a + chunk), max(0, a - halo), min(L, a + chunk + halo)) for a in range(0, L, chunk))


def local_stage(g: "_Graph", tap_ids: set, k: int, db: int, chunk_bp) -> Optional[LocalStage]:
    """The local stage of graph g with chunks of ``chunk_bp`` bp (rounded up to the alignment),
    or None when the region is empty or a chunk would cover the whole input."""
    nodes, geo = local_region(g, tap_ids)
    if not nodes:
        return None
    L = int(g.x.shape[1])
    made = {id(t) for n in nodes for t in n.outputs}
    region = {id(n) for n in nodes}
    read_outside = {id(t) for n in g.nodes if id(n) not in region for t in n.input_tensors}
    outs = [g.tensor[i] for i in made if i in read_outside or i in tap_ids or i == id(g.out)]
    outs.sort(key=lambda t: g.pos[id(t)])
    if not outs:
        return None
    align = _lcm(geo[i][0] for i in made)
    reach = max(max(geo[id(t)][1], geo[id(t)][2]) for t in outs)
    halo = -(-reach // align) * align
    chunk = max(align, -(-int(chunk_bp) // align) * align)
    if chunk >= L:
        return None
    costs = node_costs(nodes, db)
    out_bytes = sum(_tensor_bytes(t, db) for t in outs)
    fwd = _region_forward_bytes(g, nodes, costs, db)
    bwd = sum(c.saved for c in costs) + k * max(c.work for c in costs) + max(c.internal for c in costs)
    stage = LocalStage(tuple(nodes), tuple(outs), tuple(geo[id(t)][0] for t in outs), align, halo, chunk,
                       _chunks(L, chunk, halo), L, out_bytes, fwd, bwd, 0)
    return dataclasses.replace(stage, peak_bytes=_local_peak(stage, _tensor_bytes(g.x, db), k))


def _region_forward_bytes(g, nodes, costs, db) -> int:
    """Full-length forward working set of the region without a tape: the tensors alive (made,
    not yet read by their last consumer in the region; outputs stay) at its worst node."""
    last = {}
    for n, node in enumerate(nodes):
        for t in node.input_tensors:
            last[id(t)] = n
    size = {id(t): _tensor_bytes(t, db) for node in nodes for t in node.outputs}
    size[id(g.x)] = _tensor_bytes(g.x, db)
    ends = {}
    for i, n in last.items():
        ends.setdefault(n, []).append(i)
    alive, peak = size[id(g.x)], 0
    for n, (node, c) in enumerate(zip(nodes, costs)):
        alive += c.out
        peak = max(peak, alive + c.internal)
        alive -= sum(size.get(i, 0) for i in ends.get(n, ()))
    return int(peak)


def _local_peak(st: LocalStage, x_bytes: int, k: int) -> int:
    """Estimated peak bytes (per sequence) of the local stage: forward: x, the outputs being
    assembled (their pieces and the concatenation) and one chunk's working set; backward: x,
    the K cotangents of the outputs, the (K, L, 4) input-gradient accumulator and one chunk's
    tape (its slice's share of the full-length tape)."""
    frac = max((b - a) for _, _, a, b in st.chunks) / st.seq_length
    fwd = x_bytes + 2 * st.out_bytes + frac * st.fwd_bytes
    bwd = x_bytes + k * st.out_bytes + 2 * k * x_bytes + frac * st.bwd_bytes
    return int(max(fwd, bwd))


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
        self.local = plan.local
        if self.local is not None:
            self._lfwd, self._lbwd = self._make_local(self.local)

    def _make_local(self, st: "LocalStage"):
        """(forward, backward) tf.functions of one chunk of the local stage.

        forward(xs, off, n) -> the outputs' positions of the chunk; backward(xs, off, n, *cots)
        -> (K, B, l, 4) gradient w.r.t. the slice xs (B, l, 4) of K cotangents (K, B, n / s, C)
        of those positions. off: bp from the slice's start to the chunk's; n: the chunk's bp.
        """
        x_t, k = self.km.inputs[0], self.k
        nodes, outs, strides = st.nodes, st.outputs, st.strides

        def region(xs, off, n):
            vals = {id(x_t): xs}
            for node in nodes:
                vals[id(node.outputs[0])] = graph.call(node.operation, [vals[id(t)] for t in node.input_tensors])
            return [vals[id(t)][:, off // s:(off + n) // s] for t, s in zip(outs, strides)]
        sig = [tf.TensorSpec((None, None) + tuple(x_t.shape[2:]), x_t.dtype), tf.TensorSpec((), tf.int32),
               tf.TensorSpec((), tf.int32)]
        cot_sig = [tf.TensorSpec((k, None, None) + tuple(t.shape[2:]), t.dtype) for t in outs]

        def bwd(xs, off, n, *cots):
            with tf.GradientTape(persistent=k > 1) as tape:
                tape.watch(xs)
                ys = region(xs, off, n)
            per_k = [tape.gradient(ys, xs, output_gradients=[c[j] for c in cots],
                                   unconnected_gradients=tf.UnconnectedGradients.ZERO) for j in range(k)]
            del tape
            return tf.stack(per_k)
        return tf.function(region, input_signature=sig), tf.function(bwd, input_signature=sig + cot_sig)

    def _local_forward(self, x) -> list:
        """The local stage's outputs (B, P_t, C_t), assembled chunk by chunk."""
        pieces = [[] for _ in self.local.outputs]
        for a, b, a0, b0 in self.local.chunks:
            for lst, v in zip(pieces, self._lfwd(x[:, a0:b0], tf.constant(a - a0), tf.constant(b - a))):
                lst.append(v)
        return [tf.concat(p, axis=1) for p in pieces]

    def _local_backward(self, x, cots: list):
        """(K, B, L, 4) gradient w.r.t. x of the cotangents (K, B, P_t, C_t) of the local stage's
        outputs (None: zero), summed over the chunks (each chunk's share is exact: the region
        is local and a chunk's slice holds its whole receptive field)."""
        st = self.local
        dx = np.zeros((self.k,) + tuple(x.shape), x.dtype.as_numpy_dtype)
        for a, b, a0, b0 in st.chunks:
            cs = []
            for t, s, c in zip(st.outputs, st.strides, cots):
                cs.append(c[:, :, a // s:b // s] if c is not None else
                          tf.zeros((self.k, x.shape[0], (b - a) // s) + tuple(t.shape[2:]), t.dtype))
            dx[:, :, a0:b0] += self._lbwd(x[:, a0:b0], tf.constant(a - a0), tf.constant(b - a), *cs).numpy()
        return tf.constant(dx)

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
        if self.local is not None:
            for t, v in zip(self.local.outputs, self._local_forward(x)):
                vals[id(t)] = v
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
        if self.local is not None and not (stop_ids and not pending):
            for t in self.local.outputs:        # the region's consumers are all done: complete
                report(id(t))
            if not (stop_ids and not pending):
                oc = [cots.pop(id(t), None) for t in self.local.outputs]
                for t in self.local.outputs:
                    vals.pop(id(t), None)
                g = self._local_backward(vals[x_id], oc)
                del oc
                cots[x_id] = g if x_id not in cots else cots[x_id] + g
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
             head: bool = True, chunk_bp="auto") -> Plan:
    """The plan :func:`runner` would use (cached; cheap to ask for memory estimates).
    chunk_bp: the local stage's chunks (see :func:`make_plan`)."""
    key = ("checkpoint_plan", bool(mc), tuple(taps), int(k), int(dtype_bytes), bool(head), chunk_bp)

    def make():
        km, tensors = keras_graph(model, mc, head)
        return make_plan(km, [tensors[i] for i in taps if i != 0], k, dtype_bytes, chunk_bp=chunk_bp)
    return model._fn(key, make)
