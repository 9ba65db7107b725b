"""seqnn_engine.io.bed: BED3+ reading (the CLI's --bed input), rules and messages."""
from __future__ import annotations

import gzip

import pytest

from seqnn_engine.io.bed import BedRegion, parse_bed, read_bed
from seqnn_engine.errors import InputError


def test_bed_columns_defaults_and_skipped_lines(tmp_path):
    text = ("track name=x\nbrowser position chr1\n# comment\n\n"
            "chr1\t10\t20\tenh\t0\t-\n"
            "chr2 5 9\n"                       # whitespace-separated, BED3
            "chr3\t0\t1\t.\t0\t?\n")           # name '.', strand not +/-
    want = [BedRegion("chr1", 10, 20, "enh", "-", 5), BedRegion("chr2", 5, 9, "chr2:5-9", ".", 6),
            BedRegion("chr3", 0, 1, "chr3:0-1", ".", 7)]
    assert parse_bed(text) == want
    p = tmp_path / "r.bed.gz"
    p.write_bytes(gzip.compress(text.encode()))
    assert read_bed(p) == want


@pytest.mark.parametrize("line,msg", [
    ("chr1\t10", "expected chrom, start, end"),
    ("chr1\tten\t20", "are not whole numbers"),
    ("chr1\t20\t20", "empty or negative"),
    ("chr1\t-1\t5", "empty or negative"),
])
def test_bed_malformed_lines_name_the_file_and_line(tmp_path, line, msg):
    p = tmp_path / "bad.bed"
    p.write_text("chr1\t0\t5\n" + line + "\n")
    with pytest.raises(InputError, match=msg) as e:
        read_bed(p)
    assert str(e.value).startswith("bad.bed line 2: ")


def test_bed_empty_and_missing(tmp_path):
    with pytest.raises(InputError, match="has no regions"):
        parse_bed("# only a comment\n", source="e.bed")
    with pytest.raises(InputError, match="BED file not found"):
        read_bed(tmp_path / "nope.bed")
