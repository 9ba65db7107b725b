"""Knock-out verification of seqlets on the demo model: a planted strong motif against pure background."""
import numpy as np
import pytest

from seqnn_engine import load_model_dir
from seqnn_engine.errors import InputError
from seqnn_engine.motifs.seqlet_table import KNOCKOUT_COLUMNS, TSV_COLUMNS, SeqletTable
from seqnn_engine.motifs.verify import knockout_seqlets
from tools.demo import demo_dir, groundtruth as gt
from tools.demo.motifs import load_motifs as demo_motifs

MOTIF_AT = 2000


@pytest.fixture(scope="module")
def setup():
    model = load_model_dir(demo_dir())
    t = gt.driver_target_indexes(model)["CTCF"]
    rng = np.random.default_rng(5)
    L = model.seq_length
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (2, L))]
    site = demo_motifs()["CTCF"].counts.argmax(1)           # the consensus of the planted driver
    for k in range(3):                                      # three copies, 40 bp apart, in sequence 0
        x[0, MOTIF_AT + 40 * k:MOTIF_AT + 40 * k + site.size] = np.eye(4, dtype=np.float32)[site]
    w = site.size
    spans = [(0, MOTIF_AT, MOTIF_AT + w, 1), (0, 600, 600 + w, 1), (1, 3000, 3012, -1)]
    return model, t, x, spans


def _table(spans, L):
    s = np.array(spans, np.int64)
    return SeqletTable(seq=s[:, 0], start=s[:, 1], end=s[:, 2], sign=s[:, 3].astype(np.int8),
                       score=np.zeros(len(s)), p_value=np.full(len(s), 1e-6), p_adj=np.full(len(s), 1e-3),
                       settings={"seq_length": L})


def _objective(model, t, xs):
    """The objective the engine should use: target t summed over all output bins (model.predict)."""
    return model.predict(xs, target_indexes=[t], batch_size=8).mean.astype(np.float64).sum(axis=(1, 2))


def test_effect_equals_predicted_change_of_the_knocked_sequences(setup):
    model, t, x, spans = setup
    table = _table(spans, model.seq_length)
    kt = knockout_seqlets(model, x, table, targets=[t], n_shuffles=3, n_null=8, seed=1, batch_size=4)
    base = _objective(model, t, x)
    np.testing.assert_allclose(kt.base, base, rtol=1e-4, atol=1e-4)
    eye = np.eye(4, dtype=np.float32)
    for i, (s, a, b, _) in enumerate(spans):
        bases = kt.replacement_bases[i]
        assert bases.shape == (3, b - a)
        knocked = np.repeat(x[s:s + 1], 3, axis=0)
        knocked[:, a:b] = eye[bases]
        # the sequence outside the span is untouched, the span really changed
        assert not np.array_equal(knocked[:, a:b], np.repeat(x[s:s + 1, a:b], 3, axis=0))
        want = np.mean(_objective(model, t, knocked) - base[s])
        assert kt.effect[i] == pytest.approx(want, rel=1e-4, abs=1e-4)
    # the planted motif carries the prediction; the background span does not
    assert kt.effect[0] < -1.0 and abs(kt.effect[0]) > 20 * abs(kt.effect[1])


def test_null_spans_avoid_seqlets_and_have_their_lengths(setup):
    model, t, x, spans = setup
    table = _table(spans, model.seq_length)
    kt = knockout_seqlets(model, x, table, targets=[t], n_shuffles=1, n_null=15, seed=3)
    assert len(kt.null_effect) == 2 * 15 and np.bincount(kt.null_seq).tolist() == [15, 15]
    for s, a, b in zip(kt.null_seq, kt.null_start, kt.null_end):
        own = [(a0, b0) for s0, a0, b0, _ in spans if s0 == s]
        assert b - a in {b0 - a0 for a0, b0 in own}               # lengths drawn from the sequence's seqlets
        assert 0 <= a < b <= model.seq_length
        assert all(b <= a0 or a >= b0 for a0, b0 in own)         # no overlap with any seqlet


def test_pvalues_bh_and_sign_rule(setup):
    model, t, x, spans = setup
    # the motif span twice: once called positive (right sign), once negative (wrong sign)
    flipped = spans + [(0, spans[0][1], spans[0][2], -1)]
    table = _table(flipped, model.seq_length)
    kt = knockout_seqlets(model, x, table, targets=[t], n_shuffles=2, n_null=20, seed=0, alpha=0.05)
    null = np.abs(kt.null_effect)
    M = null.size
    for i, e in enumerate(kt.effect):                          # empirical two-sided p-values, by hand
        assert kt.p_value[i] == pytest.approx((1 + np.sum(null >= abs(e))) / (1 + M))
    p = kt.p_value
    order = np.argsort(p)
    n = p.size
    q_sorted = np.minimum.accumulate((p[order] * n / np.arange(1, n + 1))[::-1])[::-1]   # BH by hand
    q = np.empty(n)
    q[order] = np.minimum(q_sorted, 1.0)
    np.testing.assert_allclose(kt.q_value, q, rtol=1e-12)
    assert kt.effect[0] == pytest.approx(kt.effect[3], abs=0.05 * abs(kt.effect[0]))   # same span
    assert kt.p_value[0] == pytest.approx(1 / (1 + M))          # beyond every null knock-out
    assert kt.verified[0] and not kt.verified[3]               # sign rule: a positive seqlet's knock-out lowers f
    assert kt.significant[0] and kt.significant[3]            # ... though the prediction depends on both
    np.testing.assert_array_equal(kt.verified, kt.significant & (table.sign * kt.effect < 0))
    assert not kt.verified[1]
    # an effect floor above the motif's effect removes it
    kt2 = knockout_seqlets(model, x, table, targets=[t], n_shuffles=2, n_null=20, seed=0,
                           min_effect=abs(kt.effect[0]) * 2)
    assert not kt2.verified.any()
    np.testing.assert_array_equal(kt2.p_value, kt.p_value)
    kt3 = knockout_seqlets(model, x, table, targets=[t], n_shuffles=2, n_null=20, seed=0,
                           min_fraction=min(1.0, 2 * abs(kt.effect[0]) / abs(kt.base[0])))
    assert not kt3.verified.any()


def test_share_of_the_contribution_the_knockout_reproduces(setup):
    """min_share: the knock-out must reproduce a share of the seqlet's summed saliency contribution (for a
    centred gradient, minus the linear prediction of a random-base knock-out)."""
    model, t, x, spans = setup
    a, b = spans[0][1], spans[0][2]
    hyp = model.attribute(x[:1], method="saliency", targets=[t]).hypothetical[0]
    g = hyp.astype(np.float64)
    score = float((g[a:b] * x[0, a:b]).sum())              # centred gradient at the present bases
    # the identity behind the share: the mean linear change over the 4 replacement bases is -score
    assert float((g[a:b].mean(1) - (g[a:b] * x[0, a:b]).sum(1)).sum()) == pytest.approx(-score, rel=1e-5, abs=1e-6)
    s = np.array([(0, a, b, 1), (0, a, b, 1)], np.int64)
    table = SeqletTable(seq=s[:, 0], start=s[:, 1], end=s[:, 2], sign=s[:, 3].astype(np.int8),
                        score=np.array([score, 50 * score]), p_value=np.full(2, 1e-6), p_adj=np.full(2, 1e-3),
                        settings={"seq_length": model.seq_length})
    kt = knockout_seqlets(model, x, table, targets=[t], n_shuffles=2, n_null=10, seed=0, min_share=0.2)
    np.testing.assert_allclose(kt.share, -kt.effect / np.abs(table.score), rtol=1e-12)
    assert score > 0 and 0.2 < kt.share[0] < 20                # the planted motif: the model follows its gradient
    assert kt.verified[0] and not kt.verified[1]              # an inflated contribution is not reproduced
    assert kt.share[1] < 0.2                                  # (its own replacements: a different effect draw)
    loose = knockout_seqlets(model, x, table, targets=[t], n_shuffles=2, n_null=10, seed=0)
    assert loose.verified.all() and loose.min_share == 0.0
    np.testing.assert_array_equal(table.with_knockout(kt).verified_only().score, [score])
    assert table.with_knockout(kt).settings["knockout"]["min_share"] == 0.2


def test_deterministic_under_seed_and_batch_size(setup):
    model, t, x, spans = setup
    table = _table(spans, model.seq_length)
    a = knockout_seqlets(model, x, table, targets=[t], n_shuffles=2, n_null=5, seed=7, batch_size=2)
    b = knockout_seqlets(model, x, table, targets=[t], n_shuffles=2, n_null=5, seed=7, batch_size=8)
    c = knockout_seqlets(model, x, table, targets=[t], n_shuffles=2, n_null=5, seed=8, batch_size=2)
    for k in ("null_seq", "null_start", "null_end"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
    np.testing.assert_allclose(a.effect, b.effect, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a.null_effect, b.null_effect, rtol=1e-5, atol=1e-5)
    assert not np.array_equal(a.null_start, c.null_start)


def test_table_columns_and_filter(setup):
    model, t, x, spans = setup
    table = _table(spans, model.seq_length)
    assert not table.has_knockout and table.columns == TSV_COLUMNS
    with pytest.raises(InputError, match="not verified"):
        table.verified_only()
    kt = knockout_seqlets(model, x, table, targets=[t], n_shuffles=1, n_null=10, seed=0)
    v = table.with_knockout(kt)
    assert v.columns == TSV_COLUMNS + KNOCKOUT_COLUMNS
    lines = v.to_tsv().splitlines()
    assert lines[0].split("\t")[-4:] == list(KNOCKOUT_COLUMNS) and len(lines) == 1 + len(spans)
    assert [int(ln.split("\t")[-1]) for ln in lines[1:]] == kt.verified.astype(int).tolist()
    only = v.verified_only()
    assert len(only) == int(kt.verified.sum()) and only.verified.all()
    np.testing.assert_array_equal(only.start, table.start[kt.verified])
    assert v.to_bed().splitlines()[0] == table.to_bed().splitlines()[0]       # BED columns unchanged


def test_bad_options(setup):
    model, t, x, spans = setup
    table = _table(spans, model.seq_length)
    for kw, msg in ((dict(n_shuffles=0), "n_shuffles"), (dict(n_null=0), "n_null"), (dict(alpha=1.5), "alpha"),
                    (dict(min_effect=-1), "min_effect"), (dict(min_fraction=2), "min_fraction"),
                    (dict(min_share=-0.1), "min_share"), (dict(statistic="max"), "statistic")):
        with pytest.raises(InputError, match=msg):
            knockout_seqlets(model, x, table, targets=[t], **kw)
    with pytest.raises(InputError, match="sequence"):
        knockout_seqlets(model, x[:1], table, targets=[t])
