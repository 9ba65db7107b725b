"""VCF reading, variant windows and scores (hand-computed), and the ``variants`` command."""
from __future__ import annotations

import gzip

import h5py
import numpy as np
import pytest

from seqnn_engine.errors import InputError
from seqnn_engine.analysis.variants import SCORE_STATS, clip_float16, compute_scores, variant_window
from seqnn_engine.io.vcf import Variant, parse_vcf, read_vcf

VCF_TEXT = """##fileformat=VCFv4.2
##contig=<ID=chrT>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO
chrT\t5\trs1\tc\tA,G\t50\tPASS\t.
chrT\t9\t.\tTG\tCA\t.\t.\t.
chrT\t12\tnoalt\tA\t.\t.\t.\t.
"""


def test_vcf_multiallelic_split_ids_and_skips(tmp_path):
    v = parse_vcf(VCF_TEXT)
    assert [(x.chrom, x.pos, x.id, x.ref, x.alt, x.line) for x in v] == [
        ("chrT", 5, "rs1", "C", "A", 4), ("chrT", 5, "rs1", "C", "G", 4),
        ("chrT", 9, "chrT:9:TG:CA", "TG", "CA", 5)]
    assert (v.n_records, v.n_no_alt) == (3, 1)
    assert v[0].pos0 == 4 and v[2].is_substitution
    p = tmp_path / "v.vcf.gz"
    p.write_bytes(gzip.compress(VCF_TEXT.encode()))
    assert read_vcf(p).variants == v.variants


@pytest.mark.parametrize("line,msg", [
    ("chrT\t5\trs1\tC", "at least 5"),
    ("chrT\tfive\trs1\tC\tA", "not a whole number"),
    ("chrT\t0\trs1\tC\tA", "1 or more"),
    ("chrT\t5\trs1\tC\t<DEL>", "symbolic"),
    ("chrT\t5\trs1\tC\tC", "equals REF"),
    ("chrT\t5\trs1\tX\tA", "REF"),
])
def test_vcf_malformed_lines_name_the_line(line, msg):
    with pytest.raises(InputError, match=msg) as e:
        parse_vcf("#CHROM\tPOS\tID\tREF\tALT\n" + line + "\n", source="t.vcf")
    assert "t.vcf line 2" in str(e.value)


def test_vcf_empty_and_missing(tmp_path):
    with pytest.raises(InputError, match="no variant records"):
        parse_vcf("##only headers\n")
    with pytest.raises(InputError, match="not found"):
        read_vcf(tmp_path / "nope.vcf")


def test_scores_hand_computed():
    # H = 2 shifts, P = 2 bins, T = 1 target
    ref = np.array([[[1.0], [3.0]], [[0.0], [1.0]]])
    alt = np.array([[[2.0], [3.0]], [[1.0], [4.0]]])
    s = compute_scores(ref, alt, SCORE_STATS)
    # SUM: sum over bins, mean over the 2 shifts: ((2+3+1+4) - (1+3+0+1)) / 2
    np.testing.assert_allclose(s["SUM"], [2.5])
    # logSUM: (log2(3*4*2*5) - log2(2*4*1*2)) / 2 = log2(120/16) / 2
    np.testing.assert_allclose(s["logSUM"], [np.log2(7.5) / 2], rtol=1e-6)
    # sqrtSUM: ((sqrt2 + sqrt3 + 1 + 2) - (1 + sqrt3 + 0 + 1)) / 2
    np.testing.assert_allclose(s["sqrtSUM"], [(np.sqrt(2) + 1) / 2], rtol=1e-6)
    # D2: mean over shifts of the L2 norm over bins: (|(1, 0)| + |(1, 3)|) / 2
    np.testing.assert_allclose(s["D2"], [(1 + np.sqrt(10)) / 2], rtol=1e-6)
    # logD2: shift 0 diffs (log2 3 - 1, 0); shift 1 (1, log2 5 - 1)
    d0, d1 = np.log2(3) - 1, np.hypot(1, np.log2(5) - 1)
    np.testing.assert_allclose(s["logD2"], [(d0 + d1) / 2], rtol=1e-6)
    assert all(v.dtype == np.float32 and v.shape == (1,) for v in s.values())
    # identical predictions score zero; leading axes (variants) are kept
    z = compute_scores(np.stack([ref, ref]), np.stack([ref, alt]), ["SUM", "D2"])
    np.testing.assert_allclose(z["SUM"][:, 0], [0.0, 2.5])
    np.testing.assert_allclose(z["D2"][:, 0], [0.0, (1 + np.sqrt(10)) / 2], rtol=1e-6)
    with pytest.raises(InputError, match="unknown variant statistic"):
        compute_scores(ref, alt, ["SAD"])
    assert clip_float16([1e9, -1e9]).astype(np.float16).tolist() == [65504.0, -65504.0]


@pytest.fixture
def tiny_genome(tmp_path):
    from seqnn_engine.genomics.genome import Genome

    seq = "ACGTACGTAC" + "GGGGCCCCAA"  # chrT: 20 bases
    p = tmp_path / "g.fa"
    p.write_text(">chrT\n" + seq + "\n")
    with Genome(p) as g:
        yield g, seq


def test_variant_window_positions_flips_and_mismatch(tiny_genome):
    g, seq = tiny_genome
    L = 8
    # pos 6 (1-based) = index 5 = 'C'; window [6 - 4, 6 + 4) = [2, 10); REF at window position L//2 - 1
    w = variant_window(Variant("chrT", 6, "v", "C", "T"), g, L)
    assert (w.start, w.end, w.seq_pos, w.flipped) == (2, 10, 3, False)
    assert w.ref_seq == seq[2:10] and w.alt_seq == seq[2:5] + "T" + seq[6:10]
    # the genome holds ALT: flipped, windows still carry REF and ALT
    f = variant_window(Variant("chrT", 6, "v", "G", "C"), g, L)
    assert f.flipped and f.ref_seq == seq[2:5] + "G" + seq[6:10] and f.alt_seq == seq[2:10]
    # two-base substitution; a window past the chromosome start is padded with N
    m = variant_window(Variant("chrT", 2, "m", "CG", "TT"), g, L)
    assert (m.start, m.seq_pos) == (-2, 3) and m.ref_seq == "NN" + seq[:6] and m.alt_seq == "NNA" + "TT" + seq[3:6]
    with pytest.raises(InputError, match="does not match the genome"):
        variant_window(Variant("chrT", 6, "v", "A", "T"), g, L)
    with pytest.raises(InputError, match="insertion/deletion"):
        variant_window(Variant("chrT", 6, "v", "C", "CT"), g, L)


def test_variants_command_hand_checked(tmp_path):
    from conftest import REPO
    from seqnn_engine import load_model_dir
    from seqnn_engine.cli import main
    from seqnn_engine.genomics.genome import Genome
    from seqnn_engine.genomics.onehot import encode
    from test_cli_batch import build_tiny_model

    mdir = build_tiny_model(tmp_path / "model")
    model = load_model_dir(mdir)
    genome_path = REPO / "assets" / "demo" / "genome.fa.gz"
    with Genome(genome_path) as g:
        b1, b2 = g.fetch("chr3", 40_000 - 1, 40_000).sequence, g.fetch("chr3", 70_123 - 1, 70_123).sequence
    other = lambda b: "A" if b != "A" else "C"  # noqa: E731
    alts1 = [x for x in "ACGT" if x != b1][:2]
    vcf = tmp_path / "v.vcf"
    vcf.write_text("#CHROM\tPOS\tID\tREF\tALT\n"
                   f"chr3\t40000\tmulti\t{b1}\t{','.join(alts1)}\n"
                   f"chr3\t70123\tflip\t{other(b2)}\t{b2}\n"
                   "chr3\t80000\tindel\tA\tAT\n")
    out, tsv = tmp_path / "s.h5", tmp_path / "s.tsv"
    rc = main(["variants", "--model", str(mdir), "--vcf", str(vcf), "--genome", str(genome_path),
               "--stats", "SUM,logSUM,D2", "--targets", "0,6", "--rc", "--shifts", "-1,0,1", "--skip-indels",
               "--float32", "--save-preds", "--quiet", "--out", str(out), "--tsv-out", str(tsv)])
    assert rc == 0
    with h5py.File(out, "r") as f:
        d = {k: f[k][()] for k in f}
    assert [s.decode() for s in d["snp"]] == ["multi", "multi", "flip"]
    assert d["flipped"].tolist() == [False, False, True]
    assert [a.decode() for a in d["alt_allele"]] == alts1 + [b2]
    np.testing.assert_array_equal(d["start"], [40_000 - 512, 40_000 - 512, 70_123 - 512])

    with Genome(genome_path) as g:
        for i, (pos, ref, alt) in enumerate([(40_000, b1, alts1[0]), (40_000, b1, alts1[1]),
                                             (70_123, other(b2), b2)]):
            win = g.fetch("chr3", pos - 512, pos + 512).sequence
            assert win[511] == (b1 if pos == 40_000 else b2)
            r_seq, a_seq = win[:511] + ref + win[512:], win[:511] + alt + win[512:]
            per = [[model.predict(encode(s)[None], rc=True, shifts=(h,), target_indexes=[0, 6]).mean[0]
                    for h in (-1, 0, 1)] for s in (r_seq, a_seq)]
            r, a = np.array(per[0], np.float64), np.array(per[1], np.float64)   # (3 shifts, P, T)
            np.testing.assert_allclose(d["REF"][i], r, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(d["SUM"][i], (a.sum((0, 1)) - r.sum((0, 1))) / 3, rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(d["logSUM"][i],
                                       (np.log2(a + 1).sum((0, 1)) - np.log2(r + 1).sum((0, 1))) / 3,
                                       rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(d["D2"][i], np.sqrt(((a - r) ** 2).sum(1)).mean(0), rtol=1e-4, atol=1e-6)
            assert np.abs(a - r).max() > 0  # the variant changes the prediction
    header = tsv.read_text().splitlines()[0].split("\t")
    assert header == ["snp", "chr", "pos", "ref", "alt", "flipped", "SUM:CTCF", "SUM:CAGE+", "logSUM:CTCF",
                      "logSUM:CAGE+", "D2:CTCF", "D2:CAGE+"]
    # without --skip-indels the indel is refused with one message
    assert main(["variants", "--model", str(mdir), "--vcf", str(vcf), "--genome", str(genome_path),
                 "--quiet", "--out", str(tmp_path / "x.h5")]) == 2
