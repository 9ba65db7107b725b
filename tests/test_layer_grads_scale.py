"""Layer gradients at Borzoi scale of targets (issue 13, points 1 and 2) on a reduced-width,
shorter twin of the published Borzoi blocks with a head of 7,611 targets (tools/scale_model).

- Layer gradients of 2 requested targets (one of a stranded +/- pair, one unstranded), forward and
  reverse-complement members, on the checkpointed and the plain-tape paths, equal autodiff of the
  FULL head (every target computed, then the two columns sliced, strand-paired and bin-reversed by
  hand for the RC member): an independent path.
- The traced graphs of those paths hold no tensor whose last axis is the 7,611 targets.
- The layer-gradient memory estimates do not depend on the head's size (only on the requested
  targets), and are smaller for taps above the input than for the input (the sweep stops at the
  earliest tap).
"""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from test_borzoi_arch import build, random_onehot, revcomp
from tools.scale_model import N_TARGETS, narrow_params, targets_txt

from seqnn_engine import memory
from seqnn_engine.attribution import checkpoint as ck
from seqnn_engine.attribution import layer_grads

LENGTH = 16_384
LAYERS = [0, "trunk.2.transformer_tower", "trunk.4.unet_conv"]


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    d = tmp_path_factory.mktemp("borzoi_lg")
    text, rows = targets_txt(N_TARGETS)
    (d / "targets.txt").write_text(text)
    m = build(narrow_params(LENGTH, width=16, n_targets=N_TARGETS), d / "targets.txt")
    return m, rows


def _full_head_layer_grads(m, x, layers, targets, bins, rc):
    """Independent truth: autodiff through the whole network (all 7,611 targets computed), the
    requested columns sliced afterwards; RC member: reverse-complemented input, strand-paired
    columns, bins reversed, its gradients flipped back along positions (and complemented at the
    input). Returns (grads [(1, T, P_l, U_l)], preds (1, P, T)), the mean of the members."""
    idx = m.tap_indexes(layers)
    internal = [m.net.tap_tensors[i] for i in idx if i != 0]
    sub = keras.Model(m.net.inputs, internal + [m.net.model.output])
    P = m.target_length
    grads, preds = [0.0] * len(idx), 0.0
    members = (False, True) if rc else (False,)
    for r in members:
        xa = tf.constant(np.ascontiguousarray(revcomp(x)) if r else x)
        cols = [int(m.strand_pair[t]) if r else int(t) for t in targets]
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(xa)
            outs = sub(xa, training=False)
            acts, full = outs[:-1], outs[-1]
            assert full.shape[-1] == N_TARGETS
            sel = tf.gather(full, cols, axis=-1)                  # (1, P, T) raw member columns
            sel = tf.reverse(sel, axis=[1]) if r else sel          # forward-orientation bins
            ys = [tf.reduce_sum(tf.gather(sel[0, :, j], bins)) for j in range(len(targets))]
        srcs = [xa if i == 0 else acts[[k for k in idx if k != 0].index(i)] for i in idx]
        for li, (i, s) in enumerate(zip(idx, srcs)):
            g = np.stack([tape.gradient(y, s).numpy() for y in ys], axis=1)      # (1, T, P_l, U_l)
            if r:
                g = g[:, :, ::-1, ::-1] if i == 0 else g[:, :, ::-1]
            grads[li] = grads[li] + g / len(members)
        preds = preds + sel.numpy() / len(members)
        del tape
    assert preds.shape == (1, P, len(targets))
    return grads, preds


def _rank_widths(concrete):
    """Last-axis sizes of every rank >= 3 tensor produced in a traced graph."""
    out = set()
    for op in concrete.graph.get_operations():
        for t in op.outputs:
            if t.shape.rank is not None and t.shape.rank >= 3 and t.shape[-1] is not None:
                out.add(int(t.shape[-1]))
    return out


@pytest.mark.parametrize("checkpoint", [True, False])
def test_two_targets_equal_full_head_then_sliced(twin, checkpoint):
    m, rows = twin
    assert m.head_gather is not None and m.num_targets == N_TARGETS
    targets = [int(rows["RNA"][11]), int(rows["DNASE"][7])]        # RNA minus strand (paired), DNASE
    assert m.strand_pair[targets[0]] != targets[0]
    x = random_onehot(1, m.seq_length, 4)
    c = m.target_length // 2
    bins = np.arange(c - 6, c + 6)
    g = m.gradients(x, layers=LAYERS, targets=targets, positions=bins, rc=True, checkpoint=checkpoint,
                    return_var=False)
    want, want_preds = _full_head_layer_grads(m, x, LAYERS, targets, bins, rc=True)
    for got, ref in zip(g.grads, want):
        assert got.shape == ref.shape
        assert np.abs(ref).max() > 0
        err = np.abs(got - ref).max() / np.abs(ref).max()
        assert err <= 2e-5, err
    assert g.preds.shape == (1, m.target_length, 2)
    np.testing.assert_allclose(g.preds, want_preds, rtol=1e-5, atol=1e-6 * np.abs(want_preds).max())


def test_layer_gradient_graphs_hold_no_all_targets_tensor(twin):
    m, _ = twin
    idx = tuple(m.tap_indexes(LAYERS))
    k = 2
    fn = layer_grads._layer_fn(m, idx, rc=True, mc=False, k_static=k, batched=False)
    assert N_TARGETS not in _rank_widths(fn.get_concrete_function())
    # the checkpointed path: its runner sweeps the graph up to the final Dense's input only
    layer_grads._checkpointed_layer_fn(m, idx, rc=True, mc=False, k_static=k)
    run = ck.runner(m, False, tuple(i for i in idx if i != 0), k, head=False)
    assert run.km.outputs[0].shape[-1] != N_TARGETS
    for f in run._fwd + run._bwd:
        assert N_TARGETS not in _rank_widths(f.get_concrete_function())
    assert ("checkpoint_runner", False, tuple(i for i in idx if i != 0), k, True) not in m._fns
    # the check can fail: the full head's predict function builds (B, P, 7611)
    assert N_TARGETS in _rank_widths(m._predict_fn.get_concrete_function())


@pytest.fixture(scope="module")
def small_head(tmp_path_factory):
    """The same architecture with a head of 76 targets (same trunk)."""
    d = tmp_path_factory.mktemp("borzoi_lg_small")
    text, _ = targets_txt(76)
    (d / "targets.txt").write_text(text)
    return build(narrow_params(LENGTH, width=16, n_targets=76), d / "targets.txt")


@pytest.mark.parametrize("layers", [[0], ["trunk.2.transformer_tower"], ["trunk.4.unet_conv", "trunk.6.conv_nac"]])
@pytest.mark.parametrize("ckpt", [True, False])
def test_estimates_depend_on_requested_targets_not_the_head(twin, small_head, layers, ckpt):
    big, _ = twin
    small = small_head
    for n_t in (2, 50):
        a = memory.layer_gradients_plan(big, 1, layers, n_t, 2, checkpoint=ckpt, batch_size=1)
        b = memory.layer_gradients_plan(small, 1, layers, n_t, 2, checkpoint=ckpt, batch_size=1)
        # everything but the weights (the head kernel is C x T) is the same for 76 and 7,611 targets
        assert a.peak_bytes - a.parts["weights"] == b.peak_bytes - b.parts["weights"]
        assert layer_grads.estimate_bytes(big, 1, layers, n_t) == layer_grads.estimate_bytes(small, 1, layers, n_t)
    more = memory.layer_gradients_plan(big, 1, layers, 50, 2, checkpoint=ckpt, batch_size=1)
    fewer = memory.layer_gradients_plan(big, 1, layers, 2, 2, checkpoint=ckpt, batch_size=1)
    assert more.parts["results"] > fewer.parts["results"]


def test_checkpointed_estimate_is_smaller_for_taps_above_the_input(twin):
    m, _ = twin
    est = {name: memory.layer_gradients_plan(m, 1, [name], 2, checkpoint=True, batch_size=1).parts["work"]
           for name in (0, "trunk.1.res_tower", "trunk.4.unet_conv")}
    # tapping the input sweeps every segment and the chunked local stage back; deeper taps stop early
    assert est[0] > est["trunk.1.res_tower"] and est[0] > est["trunk.4.unet_conv"]
    jobs = {name: layer_grads.estimate_bytes(m, 1, [name], 2) for name in (0, "trunk.4.unet_conv")}
    # the cotangents travel only through layers downstream of the tap: not through the input's
    # (L, 16) first convolution
    assert jobs["trunk.4.unet_conv"] < jobs[0]
