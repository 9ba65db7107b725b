"""One memory model: every operation estimates its peak bytes before it starts.

The estimate of an operation is built from the model's geometry and the request:

- ``weights``: the model's variables (resident while it runs);
- ``work``: the working set of one batch (chunk) of sequences: a forward pass without a
  tape (:func:`checkpoint.forward_bytes`), one autodiff tape over the whole graph, or the
  checkpointed backward sweep (:class:`checkpoint.Plan`: the larger of its segments' peaks and
  that of its local stage, which runs the layers before attention in position chunks), each
  per sequence times the batch;
- ``results``: the arrays the operation returns and accumulates while it runs (streaming
  float64 mean and variance over ensemble members, per-member arrays, ...).

``peak = weights + work(batch) + results``. The operation refuses to start (InputError
from :func:`seqnn_engine.limits.exceeded`, naming the estimate, the limit and the
variable ``SEQNN_MAX_MEMORY_MB``) when even a batch of one sequence does not fit
``max_memory_mb`` (default 75% of physical memory); otherwise it runs with the largest
batch size, at most the requested one, that fits. Every ``*_plan`` function returns an
:class:`Estimate`; :func:`ism_chunk` gives the ISM code its number of mutants per chunk.

Estimates are upper bounds of the arrays involved, not of the Python/TensorFlow runtime
(a few hundred MB, not counted). Bytes per element follow the model's precision
(``dtype_bytes``: 4 for float32, 2 for bfloat16 activations).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import limits as _limits
from .errors import InputError

CHECKPOINT_ABOVE_BYTES = 4 << 30   # checkpoint='auto': checkpoint when one tape's batch would need more
F32, F64 = 4, 8


@dataclass(frozen=True)
class Estimate:
    """A memory estimate of one operation at the batch size it will run with.

    operation: what it is ('predict', 'saliency', ...). peak_bytes: weights + work +
    results. batch_size: sequences (or mutants, variants, genes) per chunk. checkpoint:
    whether input gradients run checkpointed. parts: named byte components. limit_bytes:
    the limit it was checked against.
    """

    operation: str
    peak_bytes: int
    batch_size: int
    checkpoint: bool = False
    parts: dict = field(default_factory=dict)
    limit_bytes: int = 0


def limit_bytes() -> int:
    """The limit in force (``max_memory_mb`` / ``SEQNN_MAX_MEMORY_MB``), in bytes."""
    return _limits.current().memory_bytes


def weights_bytes(model) -> int:
    """Bytes of the model's variables."""
    def count():
        return int(sum(math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in model.net.model.weights))
    return model._fn(("memory_weights_bytes",), count)


#: RSS a loaded model's Keras graph and traced functions add per layer, beside its variables:
#: measured on the demo model (74 layers, 0.6 MB of weights): 12-13 MB per loaded copy with
#: its prediction function traced, i.e. about 170 KiB per layer.
GRAPH_BYTES_PER_LAYER = 192 << 10


def resident_model_bytes(model) -> int:
    """Bytes a loaded model keeps resident: its variables plus its graph and traced functions
    (``GRAPH_BYTES_PER_LAYER`` per Keras layer). Replicates of one model directory share the
    architecture, so one loaded replicate gives the estimate of every other."""
    return int(weights_bytes(model) + GRAPH_BYTES_PER_LAYER * len(model.net.model.layers))


def _dtype_bytes(model) -> int:
    return int(getattr(model, "dtype_bytes", F32))


def _forward(model, mc: bool = False) -> int:
    from .attribution import checkpoint
    key = ("memory_forward_bytes", bool(mc))
    return model._fn(key, lambda: checkpoint.forward_bytes(checkpoint.keras_graph(model, mc)[0],
                                                           _dtype_bytes(model)))


def _fit(operation: str, fixed: int, per_item: int, want: int, what: str, fix: str, parts: dict,
         limit: Optional[int] = None, checkpoint: bool = False) -> Estimate:
    """Largest batch b <= want with fixed + b * per_item <= limit; InputError when b = 1 does not fit."""
    lim = limit_bytes() if limit is None else int(limit)
    want = max(1, int(want))
    per_item = max(0, int(per_item))
    if fixed + per_item > lim:
        need = fixed + per_item
        raise _limits.exceeded("memory_bytes", f"{what} needs an estimated {_limits.human_bytes(need)} "
                               f"({', '.join(f'{k} {_limits.human_bytes(v)}' for k, v in parts.items())}, "
                               f"{_limits.human_bytes(per_item)} per item of a batch)", fix, lim)
    b = want if per_item == 0 else max(1, min(want, (lim - fixed) // per_item))
    parts = dict(parts, work=per_item * b)
    return Estimate(operation, int(fixed + per_item * b), int(b), checkpoint, parts, lim)


# ------------------------------------------------------------------------------ predict

def predict_plan(model, n_seqs: int, n_members: int = 1, n_targets: Optional[int] = None, batch_size: int = 4,
                 return_var: bool = False, return_all: bool = False, out_length: Optional[int] = None,
                 mc: bool = False, limit: Optional[int] = None) -> Estimate:
    """Estimate of :meth:`SeqModel.predict`: results (S, P, T) mean in float64 (+ the variance's
    float64 second moment with several members, float32 copies returned, members (S, P, T, E));
    a batch: its forward pass and its (B, P, T_all) outputs in numpy."""
    P = int(out_length or model.target_length)
    T = int(n_targets if n_targets is not None else model.num_targets)
    cells = int(n_seqs) * P * T
    results = cells * (F64 + (F64 if n_members > 1 else 0) + F32 + (F32 if return_var else 0))
    if return_all:
        results += cells * n_members * F32
    cols = model.num_targets
    if getattr(model, "head_gather", None) is not None and n_targets is not None:
        cols = min(cols, 2 * T)         # the head gather computes the requested columns (and strand pairs)
    per = _forward(model, mc) + 2 * model.target_length * cols * F32
    parts = {"weights": weights_bytes(model), "results": results}
    return _fit("predict", parts["weights"] + results, per, batch_size, "this prediction",
                "predict fewer sequences or targets at once, or without members/variance", parts, limit)


# ------------------------------------------------------------------------------ input attributions

def gradient_bytes_per_seq(model, checkpoint: bool, mc: bool = False, n_targets: Optional[int] = None) -> int:
    """Per-sequence working set of one input gradient: one tape or the checkpointed sweep.

    Checkpointed with a head gather: the graph up to the final Dense's input, plus the
    (P, K) predictions of the n_targets requested targets (all when None) and their cotangent.
    """
    from .attribution import checkpoint as ck
    gather = checkpoint and getattr(model, "head_gather", None) is not None
    p = ck.plan_for(model, mc, (), 1, _dtype_bytes(model), head=not gather)
    head = 3 * model.target_length * (n_targets or model.num_targets) * F32 if gather else 0
    return int(p.peak_bytes + head if checkpoint else p.tape_bytes)


def attribution_plan(model, method: str, n_seqs: int, n_members: int = 1, batch_size: int = 4,
                     checkpoint="auto", mc: bool = False, return_all: bool = False, n_samples: int = 16,
                     n_steps: int = 32, n_baselines: int = 1, window=None, diagnostics: bool = False,
                     n_targets: Optional[int] = None, limit: Optional[int] = None, n_refs: int = 10) -> Estimate:
    """Estimate of :func:`attribute` for ``method`` (see input_attr.METHODS).

    deep_lift_shap: S * n_refs rows; a row holds the activations of its reference and of
    x plus the multipliers carried back (bounded by two tapes' working sets), never
    checkpointed.

    Gradient rows N: S (saliency, grad_x_input), S * n_samples (smoothgrad), S * K * n_steps
    (integrated gradients, K baselines). Results: per member the (N, L, 4) gradient plus the
    float64 mean and second moment; members (S, L, 4, E); the noisy copies or path points
    (N, L, 4). Work: a batch of gradients, checkpointed or on one tape; ISM: a batch of
    forward passes plus its mutants (see :func:`ism_chunk`).
    checkpoint: True | False | 'auto' (checkpoint when one tape's batch would need more than
    CHECKPOINT_ABOVE_BYTES or the limit).
    """
    if checkpoint not in (True, False, "auto"):
        raise InputError(f"checkpoint must be True, False or 'auto', got {checkpoint!r}")
    L = model.seq_length
    cell = L * 4 * F32
    S = int(n_seqs)
    lim = limit_bytes() if limit is None else int(limit)
    if method == "ism":
        fixed = weights_bytes(model) + 2 * S * cell
        per = _forward(model, mc) + model.target_length * model.num_targets * F32 * 2 + cell
        return _fit("ism", fixed, per, batch_size, "this ISM", "choose a smaller window or fewer members",
                    {"weights": weights_bytes(model), "results": 2 * S * cell}, lim)
    if method == "deep_lift_shap":
        # an invalid n_refs is refused later by deeplift.make_references with its own message
        rows = S * (int(n_refs) if isinstance(n_refs, (int, np.integer)) and n_refs > 0 else 1)
        results = 4 * S * cell + rows * cell + (S * cell * n_members if return_all else 0)
        fixed = weights_bytes(model) + results
        per = 2 * gradient_bytes_per_seq(model, False, mc, n_targets)
        return _fit(method, fixed, per, min(batch_size, rows), "this deep_lift_shap attribution",
                    "attribute fewer sequences, fewer references (n_refs) or members",
                    {"weights": weights_bytes(model), "results": results}, lim)
    rows = {"smoothgrad": S * n_samples, "integrated_gradients": S * n_baselines * n_steps}.get(method, S)
    results = rows * cell * (F32 + F64 + F64) // F32 + 3 * S * cell
    if method in ("smoothgrad", "integrated_gradients"):
        results += rows * cell * (2 if method == "integrated_gradients" else 1)
    if return_all:
        results += S * cell * n_members
    fixed = weights_bytes(model) + results
    parts = {"weights": weights_bytes(model), "results": results}
    plain = gradient_bytes_per_seq(model, False, mc, n_targets)
    if checkpoint == "auto":
        use = fixed + plain * max(1, min(batch_size, rows)) > min(lim, CHECKPOINT_ABOVE_BYTES)
    else:
        use = bool(checkpoint)
    per = gradient_bytes_per_seq(model, True, mc, n_targets) if use else plain
    what = f"this {method} attribution" + (" (checkpointed)" if use else "")
    fix = ("attribute fewer sequences, fewer samples/steps or members" if use else
           "use checkpoint=True (bounded memory), fewer sequences or a smaller batch")
    return _fit(method, fixed, per, min(batch_size, rows) if rows else batch_size, what, fix, parts, lim, use)


# ------------------------------------------------------------------------------ ISM chunks

def ism_chunk(model, n_members: int = 1, batch_size: int = 4, engine: str = "full", n_targets: Optional[int] = None,
              window_bp: int = 0, limit: Optional[int] = None) -> int:
    """Mutants per chunk for ISM: each mutant held as an (L, 4) float32 input and its
    (P, T) predictions (T = n_targets, default all) for every member until the chunk is
    reduced to objectives; fixed: weights, a batch of ``batch_size`` forward passes
    (engine 'full'; the incremental and sub-window engines run shorter inputs, bounded by
    the same), the (S, L, 4) scores. InputError when not even one mutant fits."""
    L, P = model.seq_length, model.target_length
    T = int(n_targets if n_targets is not None else model.num_targets)
    fixed = weights_bytes(model) + max(1, int(batch_size)) * _forward(model, False) + 2 * L * 4 * F32
    per = L * 4 * F32 + P * T * F32 * max(1, int(n_members)) + 64
    want = max(1, int(window_bp) * 3) if window_bp else 1 << 30
    est = _fit("ism", fixed, per, want, "in-silico mutagenesis", "choose fewer members or a smaller batch",
               {"weights": weights_bytes(model), "batch of forward passes": fixed - weights_bytes(model)}, limit)
    return est.batch_size


# ------------------------------------------------------------------------------ layer gradients
#
# Layer gradients scale with the tapped layers and the requested targets, not with the whole
# graph or every target: with a head gather (a head ending in a Dense layer) only the K requested
# kernel columns are computed, so the head contributes (P, K) arrays, not (P, T_all); the backward
# sweep runs from the output down to the earliest tapped layer only, so only the nodes downstream
# of a tap carry cotangents and the checkpointed plan's segments below the earliest tap never run.

def _layer_gather(model, idx) -> bool:
    from .model.head import gathers_taps
    return gathers_taps(model, tuple(idx))


def _swept_nodes(model, idx, gather: bool) -> list:
    """The graph nodes the layer-gradient backward sweep passes through: those downstream of a
    tapped tensor (all of them for tap 0, the input), up to the final Dense's input with a gather."""
    from .attribution import graph
    km = model._pre_model if gather else model.net.model
    nodes = graph.nodes(km)
    need = {id(model.net.tap_tensors[i]) for i in idx} | ({id(km.inputs[0])} if 0 in idx else set())
    out = []
    for node in nodes:
        if any(id(t) in need for t in node.input_tensors):
            need.update(id(t) for t in node.outputs)
            out.append(node)
    return out


def _largest_swept(model, idx, gather: bool) -> int:
    def make():
        nodes = _swept_nodes(model, idx, gather)
        return max((math.prod(int(d) for d in node.outputs[0].shape[1:] if d is not None) for node in nodes),
                   default=0)
    return model._fn(("memory_largest_swept", tuple(idx), gather), make)


def layer_gradient_job_bytes(model, n_seqs: int, layers, n_targets: int, n_members: int = 1,
                             return_all: bool = False, dtype_bytes: int = 4, batch_size: int = 1,
                             target_chunk: int = 8) -> int:
    """The layer-gradient job estimate checked against ``gradient_memory_mb``: results (grads,
    variance, members) plus the tapped layers' gradients and the cotangents carried through the
    largest layer the backward sweep passes (downstream of the earliest tapped layer; with a head
    gather the head's output counts as its K requested columns), for batch_size sequences x
    target_chunk targets."""
    idx = tuple(model.tap_indexes(layers))
    per = sum(model.taps[i].length * model.taps[i].width for i in idx)
    k = min(int(n_targets), int(target_chunk))
    gather = _layer_gather(model, idx)
    largest = _largest_swept(model, idx, gather)
    if gather:
        largest = max(largest, model.target_length * k)
    result = n_seqs * n_targets * per * dtype_bytes
    stats = 2 * n_seqs * n_targets * per * 8                      # Welford mean + m2 in float64
    members = result * n_members if return_all else 0
    work = batch_size * k * (per + largest) * 4 * 3
    return int(result + stats + members + work)


def _forward_to(model, mc: bool, head: bool) -> int:
    """Per-sequence forward working set (no tape) of the graph up to the output (head) or to
    the final Dense's input (head=False, with a head gather)."""
    from .attribution import checkpoint
    key = ("memory_forward_bytes_to", bool(mc), bool(head))
    return model._fn(key, lambda: checkpoint.forward_bytes(checkpoint.keras_graph(model, mc, head)[0],
                                                           _dtype_bytes(model)))


def _swept_plan_peak(model, plan, idx, mc: bool = False, head: bool = True) -> int:
    """Per-sequence peak of a checkpointed layer-gradient run of ``plan`` (cuts at taps ``idx``):
    the forward pass (the stored boundaries beside the forward working set of the graph, e.g.
    attention's logits, run whatever the taps), the segments the sweep runs (those after the
    segment producing the earliest tap; the sweep stops there), the local stage's backward only
    when the input is tapped, and its forward (x, its outputs twice, one chunk's share of the
    forward working set) always."""
    ids = {id(model.net.tap_tensors[i]) for i in idx if i != 0}
    first = -1              # the input or a local-stage output tapped: every segment runs
    if 0 not in idx and not ids & {id(t) for t in (plan.local.outputs if plan.local is not None else ())}:
        first = next((j for j, seg in enumerate(plan.segments)
                      if ids & {id(t) for node in seg.nodes for t in node.outputs}), -1)
    peaks = [p for j, p in enumerate(plan.segment_peaks) if j > first]
    peaks.append(plan.stored_bytes + _forward_to(model, mc, head))
    st = plan.local
    if st is not None:
        if 0 in idx:
            peaks.append(st.peak_bytes)
        else:
            frac = max((b - a) for _, _, a, b in st.chunks) / st.seq_length
            x_bytes = st.seq_length * 4 * _dtype_bytes(model)
            peaks.append(int(x_bytes + 2 * st.out_bytes + frac * st.fwd_bytes))
    return int(max(peaks, default=0))


def layer_gradients_plan(model, n_seqs: int, layers, n_targets: int, n_members: int = 1,
                         return_all: bool = False, dtype_bytes: int = 4, batch_size: int = 2,
                         target_chunk: int = 8, backward: str = "tape", checkpoint: bool = False,
                         mc: bool = False, limit: Optional[int] = None) -> Estimate:
    """Estimate of :func:`layer_gradients`: results (float64 mean and second moment of the
    (S, T, P_l, U_l) gradients, float32/float16 copies returned, members; the (S, P, T)
    predictions of the T requested targets) plus per sequence of a batch: the forward values
    and K = min(T, target_chunk) cotangents of the nodes downstream of the earliest tap
    (backward 'batched'), one persistent tape (backward 'tape') or the checkpointed sweep
    with cuts at the tapped layers, down to the earliest one (checkpoint=True). With a head
    gather the graph ends at the final Dense's input and the head adds (P, K) arrays only."""
    from .attribution import checkpoint as ck
    idx = tuple(model.tap_indexes(layers))
    per_tap = sum(model.taps[i].length * model.taps[i].width for i in idx)
    k = max(1, min(int(n_targets), int(target_chunk)))
    S = int(n_seqs)
    gather = _layer_gather(model, idx)
    results = S * n_targets * per_tap * (2 * F64 + 2 * dtype_bytes) + S * per_tap * (2 * F64 + F32)
    results += S * model.target_length * n_targets * (2 * F64 + 2 * F32)
    if return_all:
        results += S * n_targets * per_tap * n_members * F32
    db = _dtype_bytes(model)
    if backward == "batched":
        from .attribution import graph
        km = model._pre_model if gather else model.net.model
        costs = ck.node_costs(graph.nodes(km), db)
        swept = ck.node_costs(_swept_nodes(model, idx, gather), db)
        per = sum(c.out for c in costs) + k * 2 * max((c.work for c in swept), default=0)
    else:
        p = ck.plan_for(model, mc, tuple(i for i in idx if i != 0), k, db, head=not gather)
        per = _swept_plan_peak(model, p, idx, mc, not gather) if checkpoint else p.tape_bytes
    cols = k if gather else model.num_targets
    per += k * per_tap * F32 * 2 + model.target_length * cols * F32 * (k + 1)
    parts = {"weights": weights_bytes(model), "results": results}
    return _fit("layer_gradients", parts["weights"] + results, per, batch_size,
                "these layer gradients" + (" (checkpointed)" if checkpoint else ""),
                "choose fewer targets, smaller layers, fewer sequences, or float16 storage", parts, limit,
                checkpoint)


# ------------------------------------------------------------------------------ variants, genes

def variants_plan(model, n_variants: int, n_shifts: int = 1, rc: bool = False, n_targets: Optional[int] = None,
                  batch_size: int = 4, keep_preds: bool = False, n_stats: int = 1,
                  limit: Optional[int] = None) -> Estimate:
    """Estimate of :func:`variants.score_windows`, which scores variants in chunks.

    Per variant of a chunk: its REF and ALT one-hot windows, predictions (2, H, P, T) in
    float32 and their float64 copies and transforms while scoring. Fixed: weights, one
    prediction batch of ``batch_size`` sequences, the (V, n_stats, T) scores and, with
    keep_preds, every variant's (2, H, P, T) predictions. ``Estimate.batch_size`` is the
    number of variants per chunk (all of them when they fit).
    """
    P, L = model.target_length, model.seq_length
    T = int(n_targets if n_targets is not None else model.num_targets)
    V, H = int(n_variants), int(n_shifts)
    per_var = 2 * H * P * T * (F32 + 4 * F64) + 2 * L * 4 * F32 + 2 * P * T * (2 * F64 + 2 * F32)
    pred = predict_plan(model, 1, 2 if rc else 1, T, batch_size, limit=None if limit is None else limit)
    fixed = weights_bytes(model) + pred.parts["work"] + V * n_stats * T * F32
    if keep_preds:
        fixed += V * 2 * H * P * T * F32
    parts = {"weights": weights_bytes(model), "prediction batch": pred.parts["work"],
             "scores": V * n_stats * T * F32 + (V * 2 * H * P * T * F32 if keep_preds else 0)}
    return _fit("variants", fixed, per_var, V, "variant scoring",
                "score fewer variants, targets or shifts at once (or keep fewer predictions)", parts, limit)


def gene_values_plan(model, n_genes: int, n_members: int = 1, n_targets: Optional[int] = None,
                     batch_size: int = 4, limit: Optional[int] = None) -> Estimate:
    """Estimate of :func:`gene_predict.predict_genes`: per gene of a chunk its window's
    prediction (as :func:`predict_plan`) and its (T,) values (float64) for every gene."""
    T = int(n_targets if n_targets is not None else model.num_targets)
    P = model.target_length
    fixed = weights_bytes(model) + int(n_genes) * T * F64
    per = _forward(model) + 2 * P * model.num_targets * F32 + P * T * (F64 * (2 if n_members > 1 else 1) + 2 * F32)
    per += model.seq_length * 4 * F32
    parts = {"weights": weights_bytes(model), "gene values": int(n_genes) * T * F64}
    return _fit("gene_values", fixed, per, batch_size, "gene predictions", "choose fewer targets or members",
                parts, limit)
