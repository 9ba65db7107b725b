"""Genes from GTF/GFF3, TSSs, gene windows and gene values (hand-computed cases).

The fixture tests/data/genes.gtf documents its genes in its header; all
expected coordinates below are worked out by hand from its 1-based closed rows.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from seqnn_engine.errors import InputError
from seqnn_engine.genomics.genes import GeneSet, gene_values, gene_window

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def genes():
    return GeneSet.from_gtf(DATA / "genes.gtf")


def test_genes_transcripts_exons_converted_to_zero_based(genes):
    assert len(genes) == 5
    a = genes.get("GENEA.1")
    assert (a.gene_name, a.chrom, a.start, a.end, a.strand, a.gene_type) == ("Alpha", "chr1", 1000, 5000, "+", "protein_coding")
    tx = {t.transcript_id: t for t in a.transcripts}
    assert set(tx) == {"TA1", "TA2", "TA3"}
    assert (tx["TA1"].start, tx["TA1"].end) == (1000, 5000)
    assert tx["TA1"].exons == ((1000, 1200), (3000, 5000))  # CDS row ignored
    assert tx["TA2"].exons == ((1500, 1600), (3000, 4000))
    assert tx["TA1"].tags == ("basic",)
    assert a.exons == ((1000, 1200), (1500, 1600), (3000, 5000))


def test_tss_on_both_strands(genes):
    a, b = genes.get("GENEA.1"), genes.get("GENEB.2")
    assert a.tss_list == (1000, 1500)  # TA1 and TA3 share 1000
    assert a.primary_tss == 1000  # most common
    tx = {t.transcript_id: t for t in b.transcripts}
    assert tx["TB1"].tss == 11999 and tx["TB2"].tss == 9999  # '-': end - 1
    assert b.tss_list == (9999, 11999)
    assert b.primary_tss == 9999  # Ensembl_canonical wins
    assert tx["TB2"].tags == ("basic", "Ensembl_canonical")
    # TB1's exons are listed 3'->5' in the file; stored sorted
    assert tx["TB1"].exons == ((8000, 8500), (11500, 12000))


def test_genes_inferred_from_exons_and_tie_break(genes):
    c = genes.get("GENEC")
    assert (c.gene_name, c.chrom, c.start, c.end, c.strand) == ("GENEC", "chr2", 100, 400, "-")
    (t,) = c.transcripts
    assert (t.transcript_id, t.start, t.end, t.tss) == ("TC1", 100, 400, 399)
    d = genes.get("GENED")
    assert (d.start, d.end) == (25000, 30500)
    assert d.tss_list == (29999, 30499)
    assert d.primary_tss == 30499  # tie -> most 5' on '-'
    e = genes.get("GENEE")  # gene row only: one transcript spanning the gene
    assert e.tss_list == (40000,) and e.exons == ((40000, 41000),)


def test_gff3_gives_the_same_genes(genes):
    g3 = GeneSet.read(DATA / "genes.gff3")
    assert len(g3) == 2
    for gid in ("GENEA.1", "GENEB.2"):
        x, y = g3.get(gid), genes.get(gid)
        assert (x.gene_name, x.chrom, x.start, x.end, x.strand) == (y.gene_name, y.chrom, y.start, y.end, y.strand)
        assert x.tss_list == y.tss_list and x.primary_tss == y.primary_tss and x.exons == y.exons
        assert [t.transcript_id for t in x.transcripts] == [t.transcript_id for t in y.transcripts]


def test_gzip_and_bytes_input(genes, tmp_path):
    raw = (DATA / "genes.gtf").read_bytes()
    gz = tmp_path / "genes.gtf.gz"
    gz.write_bytes(gzip.compress(raw))
    for other in (GeneSet.read(gz), GeneSet.parse(raw), GeneSet.parse(gzip.compress(raw)),
                  GeneSet.parse(raw.decode().replace("\n", "\r\n"))):
        assert [(g.gene_id, g.tss_list) for g in other] == [(g.gene_id, g.tss_list) for g in genes]


def test_search_by_name_or_id_prefix(genes):
    assert [g.gene_id for g in genes.search("alp")] == ["GENEA.1", "GENEE"]  # shorter name first
    assert [g.gene_id for g in genes.search("ALPHABET")] == ["GENEE"]
    assert [g.gene_name for g in genes.search("gene")] == ["Beta", "Alpha", "Delta", "GENEC", "Alphabet"]
    assert [g.gene_id for g in genes.search("geneb")] == ["GENEB.2"]
    assert len(genes.search("gene", limit=2)) == 2
    assert genes.search("") == [] and genes.search("zzz") == []


def test_get_by_id_version_or_name(genes):
    assert genes.get("GENEA").gene_id == "GENEA.1"
    assert genes.get("beta").gene_id == "GENEB.2"
    with pytest.raises(InputError, match="not in the annotation"):
        genes.get("NOPE")


# ----------------------------------------------------------------------------- windows


def test_gene_window_plus_strand(genes):
    w = gene_window(genes.get("GENEA.1"), seq_length=1000, stride=10, crop=5)
    # centre 1000 -> start 1000 - 500; 100 bins - 2*5 cropped = 90 output bins
    assert (w.chrom, w.start, w.end, w.strand, w.center, w.target_length) == ("chr1", 500, 1500, "+", 1000, 90)
    assert w.tss.tolist() == [1000] and w.tss_bins.tolist() == [45]  # (1000-500)//10 - 5
    assert w.tss_outside.tolist() == [1500]  # (1500-500)//10 - 5 = 95 >= 90
    assert w.exon_bins.tolist() == list(range(45, 65))  # exon [1000,1200): bins 45..64
    assert w.bin_interval(45) == ("chr1", 1000, 1010)


def test_gene_window_wide_enough_for_both_tss(genes):
    w = gene_window(genes.get("GENEA.1"), seq_length=2000, stride=10, crop=5)
    assert (w.start, w.end, w.target_length) == (0, 2000, 190)
    assert w.tss.tolist() == [1000, 1500] and w.tss_bins.tolist() == [95, 145]
    assert w.exon_bins.tolist() == list(range(95, 115)) + list(range(145, 155))


def test_gene_window_minus_strand(genes):
    w = gene_window(genes.get("GENEB.2"), seq_length=4000, stride=16, crop=10)
    # centre 9999 -> start 7999; 250 - 20 = 230 bins; output covers [8159, 11839)
    assert (w.start, w.end, w.strand, w.center, w.target_length) == (7999, 11999, "-", 9999, 230)
    assert w.tss_bins.tolist() == [115]  # 2000 // 16 - 10
    assert w.tss_outside.tolist() == [11999]  # 4000 // 16 - 10 = 240 >= 230
    expected = list(range(0, 22)) + list(range(102, 116)) + list(range(208, 230))
    assert w.exon_bins.tolist() == expected


@pytest.mark.parametrize("gid, L, stride, crop", [("GENEB.2", 4000, 16, 10), ("GENEA.1", 2000, 10, 5),
                                                    ("GENED", 3000, 32, 3), ("GENEC", 512, 8, 0)])
def test_bins_agree_with_bin_intervals(genes, gid, L, stride, crop):
    """Second, independent way: a bin is an exon bin iff its interval overlaps an exon."""
    g = genes.get(gid)
    w = gene_window(g, L, stride, crop)
    brute = []
    for b in range(w.target_length):
        _, s, e = w.bin_interval(b)
        if any(es < e and ee > s for es, ee in g.exons):
            brute.append(b)
        for t, tb in zip(w.tss, w.tss_bins):
            if tb == b:
                assert s <= t < e
    assert w.exon_bins.tolist() == brute
    assert len(w.tss) + len(w.tss_outside) == len(g.tss_list)
    assert w.seq_length == L and w.position_bin(w.center) == (L // 2) // stride - crop


def test_gene_window_explicit_centre_and_bad_geometry(genes):
    w = gene_window(genes.get("GENEA.1"), 1000, 10, 5, center=1500)
    assert w.start == 1000 and w.tss_bins.tolist() == [45]  # the 1000 TSS is before the output
    assert w.tss_outside.tolist() == [1000]
    with pytest.raises(InputError, match="no output bins"):
        gene_window(genes.get("GENEA.1"), 100, 10, 5)
    with pytest.raises(InputError, match="geometry"):
        gene_window(genes.get("GENEA.1"), 100, 0, 0)


# ----------------------------------------------------------------------------- gene values


PREDS = np.array([[1, 10], [2, 20], [3, 30], [4, 40], [5, 50], [6, 60]], np.float32)  # (P=6, T=2)


def test_gene_values_hand_computed():
    # bin 1, r=1 -> rows 0..2 = (6, 60); bin 5, r=1 -> rows 4..5 (clipped) = (11, 110)
    np.testing.assert_array_equal(gene_values(PREDS, [1, 5], 1), [17, 170])
    np.testing.assert_array_equal(gene_values(PREDS, [1, 5], 0), [8, 80])
    np.testing.assert_array_equal(gene_values(PREDS, [0], 10), [21, 210])
    # two TSSs in one bin count it twice; np.unique counts it once
    np.testing.assert_array_equal(gene_values(PREDS, [2, 2], 0), [6, 60])
    np.testing.assert_array_equal(gene_values(PREDS, np.unique([2, 2]), 0), [3, 30])
    np.testing.assert_array_equal(gene_values(PREDS, [], 2), [0, 0])
    # leading axes are kept: (S=2, P, T) -> (2, T)
    out = gene_values(np.stack([PREDS, 2 * PREDS]), [1, 5], 1)
    np.testing.assert_array_equal(out, [[17, 170], [34, 340]])


def test_gene_values_strand_matching():
    preds = np.ones((4, 3), np.float32)
    strands = np.array(["+", "-", "."])
    plus = gene_values(preds, [1], 0, strands, "+")
    minus = gene_values(preds, [1], 0, strands, "-")
    assert np.isnan(plus[1]) and plus[0] == 1 and plus[2] == 1
    assert np.isnan(minus[0]) and minus[1] == 1 and minus[2] == 1
    np.testing.assert_array_equal(gene_values(preds, [1], 0, strands, None), [1, 1, 1])
    with pytest.raises(InputError):
        gene_values(preds, [1], 0, strands[:2], "+")


def test_gene_values_on_a_gene_window(genes):
    w = gene_window(genes.get("GENEA.1"), 2000, 10, 5)
    preds = np.arange(w.target_length * 2, dtype=np.float32).reshape(w.target_length, 2)
    # TSS bins 95 and 145, radius 2: rows 93..97 and 143..147 of column t hold 2*row + t
    rows = list(range(93, 98)) + list(range(143, 148))
    expected = [sum(2 * r for r in rows), sum(2 * r + 1 for r in rows)]
    np.testing.assert_array_equal(gene_values(preds, w.tss_bins, 2), expected)


def test_gene_values_errors():
    with pytest.raises(InputError, match="outside"):
        gene_values(PREDS, [6], 0)
    with pytest.raises(InputError, match="outside"):
        gene_values(PREDS, [-1], 0)
    with pytest.raises(InputError, match="radius"):
        gene_values(PREDS, [1], -1)
    with pytest.raises(InputError, match="bins, targets"):
        gene_values(np.zeros(3), [1], 0)


# ----------------------------------------------------------------------------- bad input


ROW = "chr1\tt\t{f}\t{s}\t{e}\t.\t{st}\t.\t{a}"


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("", "no annotation rows"),
        ("# only a comment\n", "no annotation rows"),
        ("chr1\tt\texon\t1\t2\n", r"line 1: expected 9 tab-separated columns, found 5"),
        (ROW.format(f="exon", s="x", e="5", st="+", a='gene_id "g"; transcript_id "t";'), "line 1: start/end"),
        (ROW.format(f="exon", s="5", e="4", st="+", a='gene_id "g"; transcript_id "t";'), "1-based closed"),
        (ROW.format(f="exon", s="0", e="4", st="+", a='gene_id "g"; transcript_id "t";'), "1-based closed"),
        (ROW.format(f="exon", s="1", e="4", st=".", a='gene_id "g"; transcript_id "t";'), r"strand '\.'"),
        (ROW.format(f="exon", s="1", e="4", st="+", a='transcript_id "t";'), "no gene_id"),
        (ROW.format(f="exon", s="1", e="4", st="+", a='gene_id "g";'), "no transcript_id"),
        (ROW.format(f="CDS", s="1", e="4", st="+", a='gene_id "g";'), "no gene, transcript or exon rows"),
        (ROW.format(f="gene", s="1", e="4", st="+", a='gene_id "g";') + "\n"
         + ROW.format(f="gene", s="1", e="4", st="+", a='gene_id "g";'), r"line 2: gene 'g' is defined twice"),
        (ROW.format(f="exon", s="1", e="4", st="+", a='gene_id "g"; transcript_id "t";') + "\n"
         + ROW.format(f="exon", s="8", e="9", st="-", a='gene_id "g"; transcript_id "t";'), r"line 2: transcript 't' is on chr1 -"),
        (ROW.format(f="exon", s="1", e="4", st="+", a='gene_id "g"; transcript_id "t";') + "\n"
         + ROW.format(f="exon", s="8", e="9", st="+", a='gene_id "h"; transcript_id "t";'), "line 2: exon of transcript 't' names gene 'h'"),
    ],
)
def test_bad_gtf_names_the_line(text, pattern):
    with pytest.raises(InputError, match=pattern):
        GeneSet.parse(text)


def test_bad_format_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="format"):
        GeneSet.parse("x", format="bed")
    with pytest.raises(InputError, match="not found"):
        GeneSet.read(tmp_path / "none.gtf")
    with pytest.raises(InputError, match="corrupt"):
        GeneSet.parse(gzip.compress(b"abc")[:-4])


_GTF_ROW = st.tuples(
    st.sampled_from(["chr1"] * 6 + ["chr2", ""]),
    st.just("src"),
    st.sampled_from(["gene", "transcript", "exon", "mRNA", "CDS", "region"]),
    st.sampled_from(["1", "5", "10"] * 3 + ["0", "-3", "x"]),
    st.sampled_from(["10", "20"] * 3 + ["1", "5", "2e3"]),
    st.just("."),
    st.sampled_from(["+", "-"] * 4 + [".", "?"]),
    st.just("."),
    st.sampled_from(['gene_id "g"; transcript_id "t";', 'gene_id "h"; transcript_id "t"; tag "basic"',
                     'gene_id "g";', 'transcript_id "u";', 'gene_id g; transcript_id "t2"; gene_name "N";',
                     "ID=g1", "ID=t1;Parent=g1", "Parent=t1", "ID=t2;Parent=g1,g2;tag=x", "", ";;", '"']),
).map(lambda cols: "\t".join(cols))
_VALID_ROW = st.tuples(
    st.sampled_from(["chr1", "chr2"]), st.just("src"), st.sampled_from(["gene", "transcript", "exon", "mRNA"]),
    st.sampled_from(["1", "5"]), st.sampled_from(["10", "20"]), st.just("."), st.sampled_from(["+", "-"]),
    st.just("."), _GTF_ROW.map(lambda r: r.split("\t")[-1]),
).map(lambda cols: "\t".join(cols))
# mostly well-formed rows so parsing gets past the first checks into the consistency checks
_GTF_LINES = st.lists(st.one_of(_VALID_ROW, _VALID_ROW, _GTF_ROW), min_size=1, max_size=5).map("\n".join)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300), _GTF_LINES), st.sampled_from(["gtf", "gff3"]))
def test_fuzz_parser_raises_only_input_error(data, fmt):
    try:
        gs = GeneSet.parse(data, format=fmt)
    except InputError:
        return
    for g in gs:
        assert g.transcripts and g.start < g.end and g.strand in "+-"
        for t in g.transcripts:
            assert t.start <= t.tss < t.end
        gene_window(g, 64, 4, 1)
