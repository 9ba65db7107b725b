"""The engine's variant requests on the demo model: the attribution of a variant score on its REF and
ALT windows, the window re-centred on a variant, the variants of a window and the VCF upload.

Truth: ``model.attribute`` called directly on the two windows (not through the session), finite
differences of the objective computed from ``model.predict``, the genome read here, and the bins
of the re-centred gene window computed by hand from the geometry.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import demo_replicate_dir

from seqnn_engine.errors import InputError
from seqnn_engine.genomics.onehot import encode
from seqnn_engine.io.vcf import Variant
from seqnn_engine.session import Ensemble, Request, Session

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo"
TARGETS = (0, 6)


@pytest.fixture(scope="module")
def ses():
    return Session(DEMO)


@pytest.fixture(scope="module")
def gene_inp(ses):
    return ses.gene_input("DMG129")


def _snv(ses, inp, offset: int, flipped: bool = False) -> Variant:
    pos0 = inp.start + offset
    b = ses.genome.fetch(inp.chrom, pos0, pos0 + 1).sequence
    other = "A" if b != "A" else "C"
    ref, alt = (other, b) if flipped else (b, other)
    return Variant(inp.chrom, pos0 + 1, f"v{offset}", ref, alt)


def test_alt_window_differs_from_ref_only_at_the_variant(ses, gene_inp):
    for flipped in (False, True):
        v = _snv(ses, gene_inp, 2222, flipped)
        vw = ses.vcf_variant_window(v)
        L = ses.model.seq_length
        assert vw.start == v.pos - L // 2 and vw.seq_pos == L // 2 - 1 and vw.flipped == flipped
        diff = [i for i, (a, b) in enumerate(zip(vw.ref_seq, vw.alt_seq)) if a != b]
        assert diff == [vw.seq_pos]
        assert vw.ref_seq[vw.seq_pos] == v.ref and vw.alt_seq[vw.seq_pos] == v.alt
        genome = ses.genome.fetch(v.chrom, vw.start, vw.end).sequence
        assert (vw.alt_seq if flipped else vw.ref_seq) == genome


@pytest.mark.parametrize("ens", [Ensemble(), Ensemble(rc=True, shifts=(-1, 0, 1)), Ensemble(mc_n=2, mc_seed=3)])
def test_variant_attribution_equals_direct_attribute_of_both_windows(ses, gene_inp, ens):
    v = _snv(ses, gene_inp, 1900)
    vw = ses.vcf_variant_window(v)
    req = Request(gene_inp.sequence, ens, TARGETS, positions="center", statistic="log")  # overridden
    res = ses.variant_attribution_job(vw, req).run()
    m = ses.model
    for side, seq in (("ref", vw.ref_seq), ("alt", vw.alt_seq)):
        a = m.attribute(encode(seq)[None], method="grad_x_input", targets=list(TARGETS), positions=None,
                        statistic="sum", rc=ens.rc, shifts=ens.shifts, mc_n=ens.mc_n, mc_seed=ens.mc_seed)
        np.testing.assert_allclose(res[f"{side}_scores"], a.scores[0], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(res[f"{side}_grads"], a.hypothetical[0], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(float(res[f"{side}_objective"]), float(a.objective[0]), rtol=1e-6)
    assert not np.allclose(res["ref_scores"], res["alt_scores"])
    assert res.meta["seq_pos"] == vw.seq_pos and res.meta["window_start"] == vw.start
    # the objective is the SUM score's: ALT - REF objective = the mean over the targets of SUM
    if ens.mc_n == 0:
        sc = ses.vcf_variant_job(v, req).run()
        np.testing.assert_allclose(float(res["alt_objective"]) - float(res["ref_objective"]),
                                   float(np.mean(sc["SUM"])), rtol=1e-3, atol=1e-5)


def test_variant_attribution_gradient_matches_finite_differences(ses, gene_inp):
    v = _snv(ses, gene_inp, 2050)
    vw = ses.vcf_variant_window(v)
    req = Request(gene_inp.sequence, Ensemble(), TARGETS, mean_center=False)
    res = ses.variant_attribution_job(vw, req).run()
    m = ses.model

    def f(x):
        p = m.predict(x[None], target_indexes=list(TARGETS)).mean[0].astype(np.float64)   # (P, T)
        return p.sum(0).mean()
    x = encode(vw.alt_seq)
    grads = np.asarray(res["alt_grads"])
    p = vw.seq_pos
    checked = 0
    for pos, b in [(p, "ACGT".index(v.ref)), (p + 3, 0), (p - 7, 2)]:
        eps = 1e-2
        xp, xm = x.copy(), x.copy()
        xp[pos, b] += eps
        xm[pos, b] -= eps
        fd = (f(xp) - f(xm)) / (2 * eps)
        assert abs(grads[pos, b]) > 1e-4
        np.testing.assert_allclose(grads[pos, b], fd, rtol=3e-2, atol=1e-4)
        checked += 1
    assert checked == 3
    assert float(res["alt_objective"]) == pytest.approx(f(x), rel=1e-5)


def test_centred_input_moves_gene_and_interval_windows(ses, gene_inp):
    v = _snv(ses, gene_inp, 3000)
    g = ses.variant_centred_input(gene_inp, v)
    geo, L = ses.geometry, ses.model.seq_length
    start = v.pos - L // 2
    assert g.start == start and g.sequence == ses.genome.fetch(v.chrom, start, start + L).sequence
    assert g.origin is gene_inp and g.gene is gene_inp.gene and g.marks[0][0] == v.pos0
    # TSS and exon bins are those of the new window: (tss - start) // stride - crop, inside the output
    want = [(t - start) // geo.stride - geo.crop for t in gene_inp.gene.tss_list]
    want = [b for b in want if 0 <= b < geo.target_length]
    assert sorted(g.tss_bins) == sorted(want) and g.tss_bins != gene_inp.tss_bins
    # centring again (from a centred input) starts from the origin; another variant moves it again
    v2 = _snv(ses, gene_inp, 1000)
    g2 = ses.variant_centred_input(g, v2)
    assert g2.origin is gene_inp and g2.start == v2.pos - L // 2
    iv = ses.interval_input(f"{v.chrom}:{v.pos0 - 10}-{v.pos0 + 10}")
    c = ses.variant_centred_input(iv, v)
    assert c.start == start and c.source == "interval" and c.origin is iv
    with pytest.raises(InputError, match="on chr1"):
        ses.variant_centred_input(gene_inp, Variant("chr1", 500, "x", "A", "C"))
    from seqnn_engine.genomics.sequences import FastaRecord
    fa = ses.fasta_input(FastaRecord("s", "ACGT" * 100))
    with pytest.raises(InputError, match="gene or interval input"):
        ses.variant_centred_input(fa, v)


def test_window_variants_and_upload_formats(ses, gene_inp, tmp_path, monkeypatch):
    import pysam
    v_in = _snv(ses, gene_inp, 100)
    v_flip = _snv(ses, gene_inp, 200, flipped=True)
    b = ses.genome.fetch(gene_inp.chrom, gene_inp.start + 300, gene_inp.start + 301).sequence
    others = "ACGT".replace(b, "")
    mism = Variant(gene_inp.chrom, gene_inp.start + 301, "mm", others[0], others[1])   # neither is the genome's
    indel = Variant(gene_inp.chrom, gene_inp.start + 401, "del", "AC", "A")
    before = Variant(gene_inp.chrom, gene_inp.start, "edge_out", "A", "C")   # 1-based pos = start: pos0 outside
    other = Variant("chr2", 1000, "o", "A", "C")
    wv = ses.window_variants(gene_inp, [v_in, before, v_flip, mism, indel, other])
    assert [x.id for x in wv.variants] == [v_in.id, v_flip.id, "mm", "del"]
    assert wv.status[:3] == ("ref", "flipped", "mismatch")
    assert [wv.scorable(i) for i in range(4)] == [True, True, False, False]
    assert (wv.n_total, wv.n_other_chrom, wv.n_outside) == (6, 1, 1)
    # an upload: text, bgzipped with an index, and BCF bytes, all through pysam
    text = ("##fileformat=VCFv4.2\n##contig=<ID=chr3>\n##FILTER=<ID=q10,Description=\"q\">\n"
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
            f"chr3\t{v_in.pos}\tr1\t{v_in.ref}\t{v_in.alt}\t.\tq10\t.\n")
    p = tmp_path / "u.vcf"
    p.write_text(text)
    got = Session.read_vcf_upload(p.read_bytes(), "u.vcf")
    assert [(x.id, x.filter) for x in got] == [("r1", "q10")]       # every FILTER kept and shown
    pysam.tabix_compress(str(p), str(tmp_path / "u.vcf.gz"))
    assert Session.read_vcf_upload((tmp_path / "u.vcf.gz").read_bytes(), "u.vcf.gz").variants == got.variants
    with pysam.VariantFile(str(p)) as src, pysam.VariantFile(str(tmp_path / "u.bcf"), "wb", header=src.header) as dst:
        for r in src:
            dst.write(r)
    assert Session.read_vcf_upload((tmp_path / "u.bcf").read_bytes(), "u.bcf").variants[0].pos == v_in.pos
    with pytest.raises(InputError, match="bad.vcf.*not a whole number"):
        Session.read_vcf_upload(b"#CHROM\tPOS\tID\tREF\tALT\nchr3\tx\t.\tA\tC\n", "bad.vcf")
    with pytest.raises(InputError, match="empty"):
        Session.read_vcf_upload(b"", "e.vcf")
    monkeypatch.setenv("SEQNN_MAX_UPLOAD_MB", str(20 / (1 << 20)))
    with pytest.raises(InputError, match="SEQNN_MAX_UPLOAD_MB"):
        Session.read_vcf_upload(p.read_bytes(), "u.vcf")


@pytest.fixture(scope="module")
def rep_dir(tmp_path_factory):
    return demo_replicate_dir(tmp_path_factory.mktemp("reps"), (5,), "demo x2")


def test_replicate_session_combines_variant_scores_and_attribution(rep_dir):
    from seqnn_engine.analysis.variants import score_windows
    from seqnn_engine.model.modeldir import load_model_dir
    from seqnn_engine.session import open_session
    rs = open_session(rep_dir, "all")
    inp = rs.gene_input("DMG129")
    v = _snv(rs, inp, 2500)
    vw = rs.vcf_variant_window(v)
    req = Request(inp.sequence, Ensemble(rc=True), TARGETS)
    sc = rs.vcf_variant_job(v, req).run()
    at = rs.variant_attribution_job(vw, req).run()
    per, attr = [], []
    for r in (0, 1):
        m = load_model_dir(rep_dir, replicate=r)
        per.append(score_windows(m, [vw.ref_seq], [vw.alt_seq], {"stats": ["SUM", "D2"], "rc": True,
                                                                  "targets": list(TARGETS)}))
        attr.append(m.attribute(encode(vw.alt_seq)[None], method="grad_x_input", targets=list(TARGETS),
                                rc=True).scores[0])
    for k in ("SUM", "D2"):
        stack = np.stack([p[k][0] for p in per])
        np.testing.assert_allclose(sc[k], stack.mean(0), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(sc[f"{k}_replicate_std"], stack.std(0, ddof=1), rtol=1e-3, atol=1e-6)
    assert not np.allclose(per[0]["SUM"], per[1]["SUM"])
    np.testing.assert_allclose(at["alt_scores"], np.mean(attr, 0), rtol=1e-4, atol=1e-7)
    assert at["alt_scores_replicate_std"].shape == (rs.model.seq_length, 4)
