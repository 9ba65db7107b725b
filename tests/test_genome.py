"""Indexed genomes: fetching, padding past chromosome ends, interval strings."""
from __future__ import annotations

import gzip
import os

import pysam
import pytest

from conftest import shared_path
from seqnn_engine.errors import InputError
from seqnn_engine.genomics.genome import Genome, GenomeSequence, parse_interval

CHR_A = "ACGTACGTAC" * 3 + "acgtn"  # 35 bases, soft-masked tail
CHR_B = "GGGGCCCCTT"  # 10 bases


@pytest.fixture
def fasta(tmp_path):
    p = tmp_path / "tiny.fa"
    # 7 bases per line so the index has to handle line wrapping
    def wrap(s):
        return "\n".join(s[i:i + 7] for i in range(0, len(s), 7))
    p.write_text(f">chrA test\n{wrap(CHR_A)}\n>chrB\n{wrap(CHR_B)}\n")
    return p


def test_plain_fasta_builds_index_and_fetches(fasta):
    assert not os.path.exists(str(fasta) + ".fai")
    with Genome(fasta) as g:
        assert os.path.exists(str(fasta) + ".fai")
        assert g.chrom_lengths == {"chrA": 35, "chrB": 10}
        r = g.fetch("chrA", 3, 12)
        assert r == GenomeSequence("chrA", 3, 12, CHR_A[3:12].upper(), 0, 0)
        assert not r.padded
        assert g.fetch("chrA", 28, 35).sequence == "ACACGTN"  # soft-masked tail upper-cased
        assert g.fetch("chrB", 0, 10).sequence == CHR_B


def test_bgzip_fasta(fasta, tmp_path):
    gz = tmp_path / "tiny.fa.gz"
    pysam.tabix_compress(str(fasta), str(gz))
    with Genome(gz) as g:
        assert g.fetch("chrA", 0, 35).sequence == CHR_A.upper()
        assert os.path.exists(str(gz) + ".gzi")


def test_window_past_chromosome_ends_is_padded_and_reported(fasta):
    with Genome(fasta) as g:
        left = g.fetch("chrB", -3, 4)
        assert left.sequence == "NNN" + CHR_B[:4]
        assert (left.pad_left, left.pad_right, left.start, left.end) == (3, 0, -3, 4)
        right = g.fetch("chrB", 8, 13)
        assert right.sequence == CHR_B[8:] + "NNN" and (right.pad_left, right.pad_right) == (0, 3)
        both = g.fetch("chrB", -2, 12)
        assert both.sequence == "NN" + CHR_B + "NN" and both.padded and len(both) == 14
        outside = g.fetch("chrB", 20, 25)
        assert outside.sequence == "NNNNN" and (outside.pad_left, outside.pad_right) == (0, 5)
        before = g.fetch("chrB", -9, -4)
        assert before.sequence == "NNNNN" and (before.pad_left, before.pad_right) == (5, 0)


def test_centred_window(fasta):
    with Genome(fasta) as g:
        w = g.window("chrB", 5, 4)  # [3, 7)
        assert (w.start, w.end, w.sequence) == (3, 7, CHR_B[3:7])
        assert w.sequence[4 // 2] == CHR_B[5]
        odd = g.window("chrB", 0, 5)  # [-2, 3)
        assert (odd.start, odd.pad_left, odd.sequence) == (-2, 2, "NNGGG")
        with pytest.raises(InputError, match="positive"):
            g.window("chrB", 0, 0)


def test_unknown_chromosome_lists_known_ones(fasta):
    with Genome(fasta) as g:
        with pytest.raises(InputError, match=r"'chrZ'.*chrA, chrB"):
            g.fetch("chrZ", 0, 5)
        with pytest.raises(InputError, match="empty"):
            g.fetch("chrA", 5, 5)
        with pytest.raises(InputError, match="limit"):
            g.fetch("chrA", 0, 10**12)


def test_chromosome_aliases(tmp_path):
    p = tmp_path / "ens.fa"
    p.write_text(">1\nACGT\n>MT\nGGTT\n")
    with Genome(p) as g:
        assert g.fetch("chr1", 0, 2).sequence == "AC"
        assert g.fetch("chrM", 0, 2).chrom == "MT"
        assert g.resolve_chrom("1") == "1"


def test_fetch_interval_strings(fasta):
    with Genome(fasta) as g:
        assert g.fetch_interval("chrA:1-4").sequence == CHR_A[1:4]
        assert g.fetch_interval("chrA:2-4", one_based=True).sequence == CHR_A[1:4]


def test_missing_or_broken_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        Genome(tmp_path / "nope.fa")
    gz = tmp_path / "plain.fa.gz"
    gz.write_bytes(gzip.compress(b">a\nACGT\n"))
    with pytest.raises(InputError, match="bgzip"):
        Genome(gz)
    bad = tmp_path / "bad.fa"
    bad.write_text("this is not fasta\n")
    with pytest.raises(InputError, match="not a valid FASTA"):
        Genome(bad)


def test_index_built_elsewhere_when_it_cannot_be_written_beside_the_fasta(fasta):
    # a directory where the .fai should go makes writing the index impossible
    os.mkdir(str(fasta) + ".fai")
    g = Genome(fasta)
    try:
        assert g.fetch("chrB", 2, 6).sequence == CHR_B[2:6]
    finally:
        g.close()
    with pytest.raises(InputError, match="closed"):
        g.fetch("chrB", 0, 2)


def test_shared_hg38_first_megabase():
    path = shared_path("datasets", "baskerville-tiny-hg38", "hg38_1m.fa.gz")
    with Genome(path) as g:
        assert g.chrom_lengths == {"chr1": 1_000_000}
        # hg38 chr1 starts with 10 kb of N, then the telomere repeat
        head = g.fetch("chr1", 9_995, 10_010)
        assert head.sequence == "N" * 5 + "TAACCCTAAC"
        end = g.window("chr1", 999_990, 40)
        assert (end.start, end.end, end.pad_right, len(end)) == (999_970, 1_000_010, 10, 40)
        assert end.sequence.endswith("N" * 10) and set(end.sequence[:30]) <= set("ACGT")


# ----------------------------------------------------------------------------- parse_interval


@pytest.mark.parametrize(
    "text, expected",
    [
        ("chr1:1000-2000", ("chr1", 1000, 2000)),
        ("chr1:1,000-2,000", ("chr1", 1000, 2000)),
        ("  chrX:5..10 ", ("chrX", 5, 10)),
        ("chr2\t10\t20", ("chr2", 10, 20)),
        ("chr2 10 20", ("chr2", 10, 20)),
        ("7:1500", ("7", 1500, 1501)),
        ("chr1:0-1", ("chr1", 0, 1)),
    ],
)
def test_parse_interval_zero_based(text, expected):
    assert parse_interval(text) == expected


def test_parse_interval_one_based_browser_style():
    assert parse_interval("chr1:1,001-2,000", one_based=True) == ("chr1", 1000, 2000)
    assert parse_interval("chr1:1-1", one_based=True) == ("chr1", 0, 1)
    assert parse_interval("chr1:1500", one_based=True) == ("chr1", 1499, 1500)
    with pytest.raises(InputError, match="start at 1"):
        parse_interval("chr1:0-10", one_based=True)


@pytest.mark.parametrize(
    "text", ["", "chr1", "chr1:", "chr1:abc-def", "chr1:100-50", "chr1:100-100", ":1-2",
             "chr1:1-2-3", "chr1:,-,", "chr1:-5-10"]
)
def test_parse_interval_rejects_bad_strings(text):
    with pytest.raises(InputError):
        parse_interval(text)
