"""Streaming per-target accuracy against hand-computed values and the in-memory computation."""
from __future__ import annotations

import math

import numpy as np
import pytest

from seqnn_engine.errors import InputError
from seqnn_engine.analysis.metrics import METRIC_NAMES, AccuracyAccumulator, accuracy_in_memory, write_accuracy_tsv


def _stream(p, t, splits, **kw):
    acc = AccuracyAccumulator(p.shape[-1], **kw)
    edges = [0, *splits, p.shape[0]]
    for a, b in zip(edges[:-1], edges[1:]):
        acc.update(p[a:b], t[a:b])
    return acc.result()


def test_hand_computed_metrics():
    # one sequence, 4 bins, 2 targets
    t = np.array([[[1, 0], [2, 0], [3, 1], [4, 1]]], np.float64)
    p = np.array([[[2, 1], [3, 1], [4, 1], [5, 2]]], np.float64)
    for acc in (_stream(p, t, []), accuracy_in_memory(p, t)):
        # target 0: prediction = truth + 1 -> r = 1; SS_res = 4, SS_tot = 5 -> R2 = 0.2;
        # the residual is constant -> var_explained = 1
        assert acc.pearsonr[0] == pytest.approx(1.0)
        assert acc.r2[0] == pytest.approx(0.2)
        assert acc.var_explained[0] == pytest.approx(1.0)
        assert acc.spearmanr[0] == pytest.approx(1.0)
        # target 1: t = (0,0,1,1), p = (1,1,1,2): co-moment 0.5, SS_t 1, SS_p 0.75 -> r = 1/sqrt(3)
        assert acc.pearsonr[1] == pytest.approx(1 / math.sqrt(3))
        # SS_res = 1 + 1 + 0 + 1 = 3, SS_tot = 1 -> R2 = -2
        assert acc.r2[1] == pytest.approx(-2.0)
        # residual t - p = (-1,-1,0,-1): var 3/16; var t = 1/4 -> 1 - 0.75 = 0.25
        assert acc.var_explained[1] == pytest.approx(0.25)
        pois0 = np.mean([2 - 1 * math.log(2 + 1e-7), 3 - 2 * math.log(3 + 1e-7),
                         4 - 3 * math.log(4 + 1e-7), 5 - 4 * math.log(5 + 1e-7)])
        assert acc.poisson[0] == pytest.approx(pois0, rel=1e-12)
        assert acc.num_positions == 4


def test_log_and_clip_follow_the_original_accuracy():
    rng = np.random.default_rng(3)
    t = rng.gamma(0.7, 3, size=(3, 50, 2))
    p = t + rng.normal(0, 1, size=t.shape) ** 2
    acc = accuracy_in_memory(p, t, log=True, pseudocount=0.5, clip=4.0)
    tt = np.log2(np.clip(t, 0, 4.0) + 0.5).reshape(-1, 2)
    pp = np.log2(np.clip(p, 0, 4.0) + 0.5).reshape(-1, 2)
    np.testing.assert_allclose(acc.pearsonr, [np.corrcoef(tt[:, k], pp[:, k])[0, 1] for k in range(2)], rtol=1e-10)
    # Spearman and Poisson use the raw values
    raw = accuracy_in_memory(p, t)
    np.testing.assert_array_equal(acc.spearmanr, raw.spearmanr)
    np.testing.assert_array_equal(acc.poisson, raw.poisson)


@pytest.mark.parametrize("kw", [{}, {"log": True}, {"log": True, "pseudocount": 0.25, "clip": 3.0}])
def test_streamed_equals_in_memory_on_random_data(kw):
    rng = np.random.default_rng(7)
    t = rng.gamma(0.5, 2, size=(9, 64, 5)).astype(np.float32)
    p = (0.6 * t + rng.gamma(1, 1, size=t.shape)).astype(np.float32)
    ref = accuracy_in_memory(p, t, **kw)
    for splits in ([], [1], [2, 3, 7], list(range(1, 9))):
        got = _stream(p, t, splits, **kw)
        for name in METRIC_NAMES:
            np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=0, atol=1e-6, err_msg=name)
        assert got.spearman_exact and got.spearman_positions == 9 * 64


def test_streamed_is_stable_with_large_offsets():
    # a mean 1e6 times the spread: raw-moment formulas lose every digit in float64 here
    rng = np.random.default_rng(11)
    t = 1e7 + rng.normal(0, 10, size=(6, 200, 3))
    p = t + rng.normal(0, 10, size=t.shape)
    ref = accuracy_in_memory(p, t)
    got = _stream(p, t, [1, 4])
    for name in ("pearsonr", "r2", "var_explained"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), atol=1e-6, err_msg=name)
    assert np.all(np.abs(got.pearsonr - 1 / math.sqrt(2)) < 0.05)


def test_float16_inputs_and_shape_checks():
    rng = np.random.default_rng(0)
    t = rng.gamma(1, 1, size=(2, 30, 3)).astype(np.float16)
    p = (t.astype(np.float32) + 0.1).astype(np.float16)
    got = _stream(p, t, [1])
    ref = accuracy_in_memory(p.astype(np.float32), t.astype(np.float32))
    for name in METRIC_NAMES:
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), atol=1e-6)
    acc = AccuracyAccumulator(3)
    with pytest.raises(InputError, match="differ in shape"):
        acc.update(p, t[:, :10])
    with pytest.raises(InputError, match="expected 3 targets"):
        acc.update(p[..., :2], t[..., :2])
    with pytest.raises(InputError, match="no predictions"):
        acc.result()
    with pytest.raises(InputError):
        AccuracyAccumulator(0)


def test_self_evaluation_gives_one():
    rng = np.random.default_rng(5)
    y = rng.gamma(0.5, 1, size=(4, 20, 3))
    got = _stream(y, y, [2])
    np.testing.assert_allclose(got.pearsonr, 1.0, atol=1e-12)
    np.testing.assert_allclose(got.r2, 1.0, atol=1e-12)
    np.testing.assert_allclose(got.spearmanr, 1.0, atol=1e-12)


def test_constant_target_gives_nan_and_summary_ignores_it():
    t = np.zeros((2, 5, 2))
    t[..., 1] = np.arange(10).reshape(2, 5)
    p = t + 1.0
    for acc in (_stream(p, t, [1]), accuracy_in_memory(p, t)):
        assert math.isnan(acc.pearsonr[0]) and math.isnan(acc.r2[0]) and math.isnan(acc.spearmanr[0])
        assert acc.pearsonr[1] == pytest.approx(1.0)
        s = acc.summary()
        assert s["pearsonr"]["mean"] == pytest.approx(1.0) and s["pearsonr"]["median"] == pytest.approx(1.0)


def test_summary_mean_and_median():
    rng = np.random.default_rng(2)
    t = rng.normal(size=(3, 40, 5))
    p = t + rng.normal(size=t.shape) * np.array([0.1, 0.5, 1, 2, 4])
    acc = accuracy_in_memory(p, t)
    s = acc.summary()
    assert s["r2"]["mean"] == pytest.approx(acc.r2.mean())
    assert s["pearsonr"]["median"] == pytest.approx(np.median(acc.pearsonr))


def test_spearman_reservoir_is_bounded_uniform_and_deterministic():
    # each position's value is its own index, so the sample reveals which positions were kept
    N, T, cap = 20000, 2, 500
    idx = np.arange(N, dtype=np.float64)
    vals = np.stack([idx, idx], axis=-1).reshape(40, 500, T)
    acc = AccuracyAccumulator(T, spearman_budget=cap * T, seed=1)
    for a in range(0, 40, 3):
        acc.update(vals[a:a + 3], vals[a:a + 3])
    res = acc.result()
    assert not res.spearman_exact and res.spearman_positions == cap
    kept = acc._res_p[:, 0]
    assert np.unique(kept).size == cap  # no position twice
    np.testing.assert_array_equal(acc._res_p, acc._res_t)  # rows stay paired
    # uniform over positions: mean index near N/2 (sd of the mean ~ N/sqrt(12 cap) ~ 260)
    assert abs(kept.mean() - N / 2) < 1500
    assert (kept >= N / 2).sum() > cap * 0.4  # late positions are sampled too
    # same seed, same sample
    acc2 = AccuracyAccumulator(T, spearman_budget=cap * T, seed=1)
    for a in range(0, 40, 3):
        acc2.update(vals[a:a + 3], vals[a:a + 3])
    np.testing.assert_array_equal(acc2._res_p, acc._res_p)


def test_sampled_spearman_is_close_to_exact():
    rng = np.random.default_rng(4)
    t = rng.gamma(0.5, 2, size=(20, 500, 3))
    p = t + rng.gamma(1, 1, size=t.shape)
    exact = accuracy_in_memory(p, t).spearmanr
    got = _stream(p, t, list(range(1, 20)), spearman_budget=3 * 4000)
    assert not got.spearman_exact
    np.testing.assert_allclose(got.spearmanr, exact, atol=0.05)
    # other metrics stay exact
    np.testing.assert_allclose(got.pearsonr, accuracy_in_memory(p, t).pearsonr, atol=1e-10)


def test_write_accuracy_tsv(tmp_path):
    t = np.array([[[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]])
    acc = accuracy_in_memory(t + 1, t)
    out = write_accuracy_tsv(tmp_path / "m.tsv", acc, [5, 6], ["a+", "b"], ["CAGE:x\ty", "DNASE:z"])
    lines = out.read_text().splitlines()
    assert lines[0].split("\t") == ["index", "identifier", "description", *METRIC_NAMES]
    row0 = lines[1].split("\t")
    assert row0[:3] == ["5", "a+", "CAGE:x y"] and float(row0[3]) == pytest.approx(1.0)
    assert lines[2].split("\t")[3] == "nan"
    with pytest.raises(InputError, match="target table"):
        acc.rows([0], ["a"], ["b"])
