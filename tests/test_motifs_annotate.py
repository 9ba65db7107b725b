"""TOMTOM names of seqlets built from known JASPAR matrices; FIMO finds planted sites."""
import numpy as np
import pytest

from seqnn_engine.errors import InputError
from seqnn_engine.motifs.annotate import annotate_seqlets, seqlet_queries, tomtom_matches
from seqnn_engine.motifs.fimo import fimo_scan
from seqnn_engine.motifs.meme import jaspar
from seqnn_engine.motifs.seqlets import SeqletTable, call_seqlets

IDS = ("MA0139.2", "MA0080.7", "MA0138.3")   # CTCF, SPI1, REST


def _sequences(db, rng, L=800):
    """One sequence per motif: random background, the motif's consensus at 300 on '+' and its
    reverse complement at 600; hypothetical scores = the motif's probabilities at those sites."""
    idx = rng.integers(0, 4, (len(IDS), L))
    hyp = rng.normal(0, 0.01, (len(IDS), L, 4))
    sites = []
    for s, mid in enumerate(IDS):
        p = db.probs[db.ids.index(mid)]
        w = p.shape[0]
        cons = p.argmax(1)
        idx[s, 300:300 + w] = cons
        hyp[s, 300:300 + w] = p
        idx[s, 600:600 + w] = 3 - cons[::-1]
        hyp[s, 600:600 + w] = p[::-1, ::-1]
        sites.append((s, w))
    return np.eye(4)[idx], hyp, sites


def test_seqlets_from_known_matrices_are_named_by_them():
    db = jaspar()
    x, hyp, sites = _sequences(db, np.random.default_rng(0))
    rows = [(s, a, a + w) for s, w in sites for a in (300, 600)]
    t = SeqletTable(seq=np.array([r[0] for r in rows]), start=np.array([r[1] for r in rows]),
                    end=np.array([r[2] for r in rows]), sign=np.ones(len(rows), np.int8),
                    score=np.ones(len(rows)), p_value=np.zeros(len(rows)), p_adj=np.zeros(len(rows)))
    for query in ("hypothetical", "contribution"):
        a = annotate_seqlets(t, x, hypothetical=hyp, query=query)
        for i, (s, st, _) in enumerate(rows):
            assert a.matches.ids[i, 0] == IDS[s], (query, i, a.matches.ids[i])
            assert a.strand[i] == ("+" if st == 300 else "-")
            assert a.matches.q_value[i, 0] < 0.05
            assert np.all(np.diff(a.matches.p_value[i][np.isfinite(a.matches.p_value[i])]) >= 0)
    bed = a.to_bed().splitlines()
    assert bed[1].split("\t")[3] == "CTCF" and bed[1].split("\t")[7].split(",")[0] == "MA0139.2"


def test_called_seqlets_end_to_end_on_planted_contributions():
    db = jaspar()
    x, hyp, sites = _sequences(db, np.random.default_rng(1))
    t = call_seqlets(hyp, onehot=x)
    t = annotate_seqlets(t, x, hypothetical=hyp)
    for s, w in sites:
        for a, strand in ((300, "+"), (600, "-")):
            r = np.flatnonzero((t.seq == s) & (t.start < a + w) & (t.end > a))
            assert len(r) >= 1
            best = r[np.argmax(t.end[r] - t.start[r])]
            assert IDS[s] in list(t.matches.ids[best]) and t.strand[best] in (strand, ".")


def test_tomtom_rejects_bad_queries():
    with pytest.raises(InputError):
        tomtom_matches([np.zeros((5, 3))])
    with pytest.raises(InputError):
        tomtom_matches([-np.ones((5, 4))])
    with pytest.raises(InputError):
        seqlet_queries(SeqletTable(*(np.zeros(0, int) for _ in range(3)), np.zeros(0, np.int8),
                                   np.zeros(0), np.zeros(0), np.zeros(0)), np.zeros((1, 10, 4)), kind="x")


def test_fimo_finds_planted_site_at_position_and_strand():
    db = jaspar()
    rng = np.random.default_rng(2)
    idx = rng.integers(0, 4, (2, 1500))
    p = db.probs[db.ids.index("MA0080.7")]
    cons = p.argmax(1)
    w = len(cons)
    idx[0, 400:400 + w] = cons
    idx[1, 1000:1000 + w] = 3 - cons[::-1]
    x = np.eye(4, dtype=np.float32)[idx]
    x[1, 10:20] = 0      # N
    hits = fimo_scan(x, db, select=["MA0080.7", "MA0139.2"], threshold=1e-5)
    spi = [(int(s), int(a), int(b), str(st)) for s, a, b, st, m in
           zip(hits.seq, hits.start, hits.end, hits.strand, hits.motif_id) if m == "MA0080.7"]
    assert (0, 400, 400 + w, "+") in spi and (1, 1000, 1000 + w, "-") in spi
    best = np.argmin(hits.p_value)
    assert hits.motif_id[best] == "MA0080.7" and hits.p_value[best] < 1e-6
    # FIMO's score: sum of log2((p + 1e-4) / 0.25) of the consensus
    expect = np.log2((p[np.arange(w), cons] + 1e-4) / 0.25).sum()
    assert hits.score[best] == pytest.approx(expect, abs=0.2)
    assert hits.to_tsv().splitlines()[0].split("\t")[:3] == ["seq", "start", "end"]
    with pytest.raises(InputError):
        fimo_scan(x, db, select=["NOT_A_MOTIF"])
    with pytest.raises(InputError):
        fimo_scan(x, db, threshold=2)


def test_matches_ranked_by_p_value_then_q_then_overlap():
    from seqnn_engine.motifs.annotate import _bh_rows, _rank_rows
    p = np.array([[9e-4, 2e-5, 2e-5, 2.9e-5, 0.2]])
    q = _bh_rows(p)
    assert q[0, 1] == q[0, 2] == q[0, 3]                # BH ties: q alone cannot order these
    order = _rank_rows(p, q, np.array([[5, 8, 12, 9, 3]]))[0]
    assert list(order) == [2, 1, 3, 0, 4]                # p first; equal p: the longer alignment


def test_join_keeps_the_name_of_the_core():
    """A motif with a negative shoulder: the joined seqlet is still named by its core window."""
    db = jaspar()
    rng = np.random.default_rng(7)
    p = db.probs[db.ids.index("MA0139.2")]              # CTCF
    w, L = p.shape[0], 900
    idx = rng.integers(0, 4, (1, L))
    idx[0, 400:400 + w] = p.argmax(1)
    x = np.eye(4)[idx]
    hyp = rng.normal(0, 0.02, (1, L, 4))
    hyp[0, 400:400 + w] = 3 * p
    d0 = 400 + w + 2                                     # a 20 bp shoulder 2 bp after the motif
    hyp[0, d0:d0 + 20] -= 0.6 * x[0, d0:d0 + 20]
    apart = annotate_seqlets(call_seqlets(hyp, onehot=x, merge_gap=None), x, hypothetical=hyp)
    assert (apart.sign < 0).any()                       # without joining the shoulder is a seqlet
    t = annotate_seqlets(call_seqlets(hyp, onehot=x), x, hypothetical=hyp)
    r = np.flatnonzero((t.start < d0 + 20) & (t.end > 400))
    assert len(r) == 1 and t.sign[r[0]] == 1 and t.end[r[0]] >= d0 + 19     # joined
    assert t.core_end[r[0]] <= d0 and "MA0139.2" in list(t.matches.ids[r[0]])


def test_pattern_trimming_keeps_specified_flanks():
    """Information-content trimming of a CEBPB-like pattern: the flanking A and T of JASPAR's
    ATTGCGCAAT (about 0.2-0.35 bits) stay; uniform columns go; TOMTOM then lists CEBPB."""
    from seqnn_engine.motifs.modisco import trim_span
    db = jaspar()
    core = db.probs[db.ids.index("MA0466.4")]           # CEBPB, 10 bp
    flank_a = np.array([0.49, 0.14, 0.23, 0.14])        # IC = 0.214 bits (hand-computed)
    flank_t = np.array([0.11, 0.21, 0.12, 0.56])        # IC = 0.29 bits
    uni = np.full((6, 4), 0.25)
    mid = 0.85 * core[1:9] + 0.15 * 0.25
    ppm = np.vstack([uni, flank_a, mid, flank_t, uni])
    assert trim_span(ppm) == (6, 16)
    assert trim_span(ppm, min_bits=0.3) == (7, 16)
    assert trim_span(np.full((5, 4), 0.25)) == (0, 5)  # nothing informative: keep all
    # a fuzzy but contributing end (low information, large |CWM|) stays too
    cwm = np.zeros_like(ppm)
    cwm[8:14] = 1.0
    cwm[16:18] = 0.4
    assert trim_span(ppm, cwm) == (6, 18)
    assert trim_span(ppm, cwm, min_contribution=0.5) == (6, 16)
    m = tomtom_matches([ppm[6:16]])
    assert "MA0466.4" in list(m.ids[0])
