"""Reverse-complementing gradients, checked against numbers worked out by hand.

Reverse complement of a one-hot (L, 4) array in ACGT order: position i -> L - 1 - i, and
channel c -> 3 - c (A<->T, C<->G). A gradient taken with respect to the RC member's input
is mapped back the same way. The expected arrays below are written out by hand, not computed
with the engine's helpers.
"""
from __future__ import annotations

import numpy as np
import pytest

from seqnn_engine.model.ensemble import Member, augment, unaugment_input
from seqnn_engine.model.build import build_network
from seqnn_engine.model.seqmodel import SeqModel
from seqnn_engine.model.spec import parse_params
from seqnn_engine.genomics.onehot import encode


def test_unaugment_input_of_a_hand_made_gradient():
    # rows: positions 0..3; columns: A C G T
    g = np.array([[[1, 2, 3, 4],
                   [5, 6, 7, 8],
                   [9, 10, 11, 12],
                   [13, 14, 15, 16]]], np.float32)
    rc_back = np.array([[[16, 15, 14, 13],
                         [12, 11, 10, 9],
                         [8, 7, 6, 5],
                         [4, 3, 2, 1]]], np.float32)
    np.testing.assert_array_equal(unaugment_input(g, Member(rc=True, shift=0)), rc_back)
    # shift +1 then RC: the member's input is RC(shift(x, 1)); mapping back reverse-complements, then
    # un-shifts by one (out[i] = in[i + 1]), so the last position, shifted out, gets 0
    shifted_back = np.array([[[12, 11, 10, 9],
                              [8, 7, 6, 5],
                              [4, 3, 2, 1],
                              [0, 0, 0, 0]]], np.float32)
    np.testing.assert_array_equal(unaugment_input(g, Member(rc=True, shift=1)), shifted_back)
    np.testing.assert_array_equal(unaugment_input(g, Member(rc=False, shift=0)), g)


def test_augment_reverse_complements_a_written_sequence():
    x = encode("GATTACAC")[None]
    np.testing.assert_array_equal(augment(x, Member(rc=True, shift=0)), encode("GTGTAATC")[None])


# One Conv1D (1 filter, width 3, 'same' padding: output bin b sees input positions b-1, b, b+1) and a
# dense head of 2 strand-paired targets, all linear, no biases. Kernel K[j, c] = 10 * j + c + 1:
#   K[0] = [1, 2, 3, 4], K[1] = [11, 12, 13, 14], K[2] = [21, 22, 23, 24]   (columns A C G T)
# Head weights: target 0 <- 1.0 x filter, target 1 <- 0.5 x filter. strand_pair = [1, 0].
K = np.array([[[1.0], [2.0], [3.0], [4.0]],
              [[11.0], [12.0], [13.0], [14.0]],
              [[21.0], [22.0], [23.0], [24.0]]], np.float32)      # (width 3, channels 4, filters 1)
W = np.array([[1.0, 0.5]], np.float32)                             # (filters 1, targets 2)
SEQ = "GATTACAC"        # its reverse complement: GTGTAATC
BIN = 2                 # objective: target 0 at output bin 2 (8 bins of 1 bp)


@pytest.fixture(scope="module")
def tiny():
    params = {"model": {"seq_length": 8, "strand_pair": [[1, 0]], "activation": "linear",
                        "trunk": [{"name": "conv_dna", "filters": 1, "kernel_size": 3, "activation": "linear",
                                   "norm_type": None, "pool_size": 1}],
                        "head": {"name": "final", "units": 2, "activation": "linear"}}}
    spec = parse_params(params)
    net = build_network(spec, 0)
    kernels = [v for v in net.model.weights if v.path.endswith("kernel")]
    biases = [v for v in net.model.weights if v.path.endswith("bias")]
    assert [tuple(v.shape) for v in kernels] == [(3, 4, 1), (1, 2)]
    kernels[0].assign(K)
    kernels[1].assign(W)
    for b in biases:
        b.assign(np.zeros(b.shape, np.float32))
    return SeqModel(spec, net, 0)


# d(target 0 at bin 2)/dx on the forward strand: only positions 1, 2, 3 matter, with K[0], K[1], K[2].
FWD = np.zeros((8, 4), np.float32)
FWD[1] = [1, 2, 3, 4]
FWD[2] = [11, 12, 13, 14]
FWD[3] = [21, 22, 23, 24]
# The RC member sees x' = RC(x). Its un-augmented output at (bin 2, target 0) is its raw output at
# (bin 8 - 1 - 2 = 5, target pair[0] = 1) = 0.5 x conv at bin 5 of x', which reads x' positions 4, 5, 6.
# d/dx'[4] = 0.5 K[0], d/dx'[5] = 0.5 K[1], d/dx'[6] = 0.5 K[2]. Back on x: x'[i'][c] = x[7 - i'][3 - c],
# so d/dx[3] = 0.5 K[0] with ACGT reversed = [2, 1.5, 1, 0.5], d/dx[2] = 0.5 [14, 13, 12, 11],
# d/dx[1] = 0.5 [24, 23, 22, 21].
RC = np.zeros((8, 4), np.float32)
RC[1] = [12, 11.5, 11, 10.5]
RC[2] = [7, 6.5, 6, 5.5]
RC[3] = [2, 1.5, 1, 0.5]
# Values of the two members' objectives on GATTACAC:
#   forward: x[1..3] = A T T -> K[0][A] + K[1][T] + K[2][T] = 1 + 14 + 24 = 39, times 1.0 = 39;
#   RC: x'[4..6] = A A T -> K[0][A] + K[1][A] + K[2][T] = 1 + 11 + 24 = 36, times 0.5 = 18.
# (Had the RC member been fed x itself, x[4..6] = A C A would give 0.5 x 34 = 17.)
Y_FWD, Y_RC = 39.0, 18.0


def test_saliency_members_equal_hand_gradients(tiny):
    x = encode(SEQ)[None]
    a = tiny.attribute(x, "saliency", targets=[0], positions=[BIN], rc=True, mean_center=False,
                       return_all=True)
    assert a.members.shape == (1, 8, 4, 2)
    fwd_i, rc_i = a.member_labels.index("fwd+0"), a.member_labels.index("rc+0")
    np.testing.assert_allclose(a.members[0, ..., fwd_i], FWD, rtol=1e-6)
    np.testing.assert_allclose(a.members[0, ..., rc_i], RC, rtol=1e-6)
    np.testing.assert_allclose(a.scores[0], (FWD + RC) / 2, rtol=1e-6)
    np.testing.assert_allclose(a.objective, [(Y_FWD + Y_RC) / 2], rtol=1e-6)


def test_log_objective_gradient_depends_on_the_reverse_complemented_input(tiny):
    # d log(y)/dx = (dy/dx) / y: the RC member's gradient is divided by its own value, 18, which it only
    # has when its input really is the reverse complement
    x = encode(SEQ)[None]
    a = tiny.attribute(x, "saliency", targets=[0], positions=[BIN], statistic="log", rc=True,
                       mean_center=False, return_all=True)
    fwd_i, rc_i = a.member_labels.index("fwd+0"), a.member_labels.index("rc+0")
    np.testing.assert_allclose(a.members[0, ..., fwd_i], FWD / Y_FWD, rtol=1e-5)
    np.testing.assert_allclose(a.members[0, ..., rc_i], RC / Y_RC, rtol=1e-5)
    np.testing.assert_allclose(a.objective, [(np.log(Y_FWD) + np.log(Y_RC)) / 2], rtol=1e-5)


def test_layer_gradient_at_the_input_equals_the_hand_gradient(tiny):
    # the layer-gradient path (tap 0 = the input) maps the RC member back the same way
    x = encode(SEQ)[None]
    r = tiny.gradients(x, layers=[0], targets=[0], positions=np.array([BIN]), rc=True)
    g = np.asarray(r.grads[0])
    assert g.shape[-2:] == (8, 4)
    np.testing.assert_allclose(g.reshape(-1, 8, 4)[0], (FWD + RC) / 2, rtol=1e-6)
