"""seqnn_engine.io.vcf through pysam: bgzip + tabix region queries, FILTER, BCF, malformed files.

Truth is independent of the reader: the records are generated here, and the expected region
contents are computed from them with the overlap rule written in the test.
"""
from __future__ import annotations

import gzip

import numpy as np
import pysam
import pytest

from seqnn_engine.errors import InputError
from seqnn_engine.io.vcf import VcfReader, parse_vcf, read_vcf

HEADER = ("##fileformat=VCFv4.2\n"
          "##contig=<ID=chr1,length=100000>\n##contig=<ID=chr2,length=100000>\n"
          '##FILTER=<ID=q10,Description="quality below 10">\n##FILTER=<ID=lowDP,Description="low depth">\n'
          "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")


def _records(seed=0, n=300):
    """Sorted random records: (chrom, pos 1-based, id, ref, alts tuple, filter)."""
    rng = np.random.default_rng(seed)
    out = []
    for chrom in ("chr1", "chr2"):
        for pos in sorted(rng.choice(np.arange(1, 90_000), n // 2, replace=False)):
            ref = "".join(rng.choice(list("ACGT"), int(rng.choice([1, 1, 1, 2, 5]))))
            alts = tuple(a for a in "ACGT" if a != ref[0])[:int(rng.integers(1, 3))]
            flt = str(rng.choice(["PASS", ".", "q10", "q10;lowDP"], p=[0.6, 0.2, 0.1, 0.1]))
            out.append((chrom, int(pos), f"v{len(out)}", ref, alts, flt))
    return out


def _text(records):
    return HEADER + "".join(f"{c}\t{p}\t{i}\t{r}\t{','.join(a)}\t.\t{f}\t.\n" for c, p, i, r, a, f in records)


def _expected(records, keep_filtered=False, region=None):
    """(chrom, pos, id, ref, alt) of every variant, multi-allelic split, restricted by hand."""
    out = []
    for c, p, i, r, alts, f in records:
        if not keep_filtered and f not in ("PASS", "."):
            continue
        if region is not None:
            rc, rs, re_ = region
            if c != rc or not (p - 1 < re_ and p - 1 + len(r) > rs):   # REF span overlaps [rs, re)
                continue
        out.extend((c, p, i, r, a) for a in alts)
    return out


def _tuples(vs):
    return [(v.chrom, v.pos, v.id, v.ref, v.alt) for v in vs]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    d = tmp_path_factory.mktemp("vcf")
    recs = _records()
    plain = d / "calls.vcf"
    plain.write_text(_text(recs))
    tbi = pysam.tabix_index(str(plain), preset="vcf", keep_original=True)
    csi_src = d / "csi.vcf"
    csi_src.write_text(_text(recs))
    csi = pysam.tabix_index(str(csi_src), preset="vcf", csi=True)
    return recs, plain, tbi, csi


def test_tabix_region_query_returns_exactly_the_records_in_the_region(indexed):
    recs, _, tbi, csi = indexed
    assert tbi.endswith(".vcf.gz")
    regions = [("chr1", 0, 100_000), ("chr1", 10_000, 20_000), ("chr2", 44_444, 45_555), ("chr2", 5, 6),
               ("chr1", 89_990, 100_000)]
    # regions starting and ending inside multi-base REF alleles
    long_refs = [(c, p, r) for c, p, _, r, _, _ in recs if len(r) > 1][:3]
    regions += [(c, p, p + 1) for c, p, r in long_refs]          # starts at the REF's 2nd base
    regions += [(c, p - 3, p) for c, p, r in long_refs]          # ends at the REF's 1st base
    for path in (tbi, csi):
        with VcfReader(path) as reader:
            assert reader.indexed and set(reader.contigs) == {"chr1", "chr2"}
            for region in regions:
                got = reader.fetch(*region)
                assert _tuples(got) == _expected(recs, region=region), region
                assert all(v.line == 0 for v in got)
        for region in regions[:2]:
            assert _tuples(read_vcf(path, region=region)) == _expected(recs, region=region)
    # an empty region has no records, which is not an error
    assert len(read_vcf(tbi, region=("chr1", 95_000, 99_000))) == 0


def test_whole_file_reads_agree_between_htslib_and_the_line_reader(indexed):
    recs, plain, tbi, _ = indexed
    want = _expected(recs)
    from_plain, from_bgzip, from_text = read_vcf(plain), read_vcf(tbi), parse_vcf(_text(recs))
    assert _tuples(from_plain) == _tuples(from_bgzip) == _tuples(from_text) == want
    # line numbers: the header has 6 lines, so record k (1-based) is on line 6 + k
    assert from_plain.variants == from_bgzip.variants == from_text.variants
    kept = [k for k, r in enumerate(recs, start=1) if r[5] in ("PASS", ".")]
    assert sorted({v.line for v in from_plain}) == [6 + k for k in kept]


def test_filter_default_keeps_pass_and_dot_option_keeps_all(tmp_path):
    recs = [("chr1", 10, "p", "A", ("C",), "PASS"), ("chr1", 20, "d", "A", ("G",), "."),
            ("chr1", 30, "q", "A", ("T",), "q10"), ("chr1", 40, "qd", "C", ("A", "G"), "q10;lowDP")]
    text = _text(recs)
    f = tmp_path / "f.vcf"
    f.write_text(text)
    gz = pysam.tabix_index(str(f), preset="vcf", keep_original=True)
    for v in (read_vcf(f), read_vcf(gz), parse_vcf(text), read_vcf(gz, region=("chr1", 0, 100))):
        assert [x.id for x in v] == ["p", "d"]
        assert (v.n_records, v.n_filtered, v.n_no_alt) == (4, 2, 0)
    for v in (read_vcf(f, keep_filtered=True), parse_vcf(text, keep_filtered=True),
              read_vcf(gz, region=("chr1", 0, 100), keep_filtered=True)):
        assert [(x.id, x.alt) for x in v] == [("p", "C"), ("d", "G"), ("q", "T"), ("qd", "A"), ("qd", "G")]
        assert v.n_filtered == 0
    # the 5-column form has no FILTER column: every record is kept
    five = parse_vcf("#CHROM\tPOS\tID\tREF\tALT\nchr1\t5\ta\tA\tC\n")
    assert [x.id for x in five] == ["a"] and five.n_filtered == 0


def _write_bcf(path, records):
    h = pysam.VariantHeader()
    h.add_line("##fileformat=VCFv4.2")
    for c in ("chr1", "chr2"):
        h.contigs.add(c, length=100_000)
    h.filters.add("q10", None, None, "quality below 10")
    with pysam.VariantFile(str(path), "wb", header=h) as out:
        for c, p, i, r, alts, f in records:
            rec = out.new_record(contig=c, start=p - 1, alleles=(r,) + tuple(alts), id=i,
                                 filter=None if f == "." else f)
            out.write(rec)


def test_bcf_round_trip_file_bytes_and_index(tmp_path):
    recs = [("chr1", 100, "rs1", "A", ("C", "G"), "PASS"), ("chr1", 250, "rs2", "GT", ("CA",), "."),
            ("chr1", 300, "rs3", "T", ("A",), "q10"), ("chr2", 7, "rs4", "C", ("T",), "PASS")]
    bcf = tmp_path / "calls.bcf"
    _write_bcf(bcf, recs)
    assert bcf.read_bytes()[:2] == b"\x1f\x8b"          # BGZF-compressed
    v = read_vcf(bcf)
    assert _tuples(v) == _expected(recs) == [("chr1", 100, "rs1", "A", "C"), ("chr1", 100, "rs1", "A", "G"),
                                             ("chr1", 250, "rs2", "GT", "CA"), ("chr2", 7, "rs4", "C", "T")]
    assert (v.n_records, v.n_filtered) == (4, 1)
    assert v[0].line == 0 and v[0].where == "chr1:100"   # BCF has no lines
    # uploaded bytes: through a temporary file, same result
    assert parse_vcf(bcf.read_bytes(), source="up.bcf").variants == v.variants
    # indexed BCF: region query
    pysam.tabix_index(str(bcf), preset="bcf", csi=True)
    assert _tuples(read_vcf(bcf, region=("chr1", 200, 260))) == [("chr1", 250, "rs2", "GT", "CA")]


def test_malformed_files_are_input_errors_naming_the_file(tmp_path):
    # htslib stops at a bad POS inside a bgzipped VCF: the line is named
    bad = tmp_path / "badpos.vcf"
    bad.write_text(HEADER + "chr1\t5\t.\tA\tC\t.\tPASS\t.\nchr1\tten\t.\tA\tC\t.\tPASS\t.\n")
    gz = str(bad) + ".gz"
    pysam.tabix_compress(str(bad), gz)      # bgzip (tabix cannot index a bad POS)
    for p in (bad, gz):
        with pytest.raises(InputError, match=r"line 8: POS 'ten' is not a whole number"):
            read_vcf(p)
    # symbolic alleles are refused, by record name in a BCF
    sv = tmp_path / "sv.bcf"
    _write_bcf(sv, [("chr1", 10, "sv1", "A", ("<DEL>",), "PASS")])
    with pytest.raises(InputError, match=r"sv.bcf record chr1:10: ALT '<DEL>'.*symbolic"):
        read_vcf(sv)
    # a truncated BCF
    cut = tmp_path / "cut.bcf"
    full = sv.read_bytes()
    cut.write_bytes(full[:len(full) // 2])
    with pytest.raises(InputError, match="cut.bcf"):
        read_vcf(cut)
    # not a VCF at all; binary junk
    junk = tmp_path / "junk.vcf"
    junk.write_bytes(b"\x00\x01\xffnot a vcf")
    with pytest.raises(InputError, match="junk.vcf"):
        read_vcf(junk)
    # a corrupt whole-file gzip
    gzbad = tmp_path / "broken.vcf.gz"
    gzbad.write_bytes(gzip.compress(_text(_records(n=20)).encode())[:-30])
    with pytest.raises(InputError, match="broken.vcf.gz.*corrupt or truncated"):
        read_vcf(gzbad)
    # region queries: no index, unknown chromosome, bad region
    with pytest.raises(InputError, match="no index.*tabix"):
        read_vcf(bad, region=("chr1", 0, 10))
    with pytest.raises(InputError, match="not a bgzipped, indexed VCF"):
        (tmp_path / "five.vcf").write_text("#CHROM\tPOS\tID\tREF\tALT\nchr1\t5\t.\tA\tC\n")
        read_vcf(tmp_path / "five.vcf", region=("chr1", 0, 10))
    # VcfReader itself (htslib only) refuses what htslib refuses, as an InputError saying what to give
    with pytest.raises(InputError, match="htslib cannot open five.vcf.*##fileformat"):
        VcfReader(tmp_path / "five.vcf")
    whole = tmp_path / "whole.vcf.gz"
    whole.write_bytes(gzip.compress(_text(_records(n=4)).encode()))
    with pytest.raises(InputError, match="gzip, not bgzip"):
        VcfReader(whole)
    ok = tmp_path / "ok.vcf"
    ok.write_text(HEADER + "chr1\t5\t.\tA\tC\t.\tPASS\t.\n")
    okgz = pysam.tabix_index(str(ok), preset="vcf", keep_original=True)
    with pytest.raises(InputError, match=r"'chr9' is not in the index \(it has chr1\)"):
        read_vcf(okgz, region=("chr9", 0, 10))
    with pytest.raises(InputError, match="empty or negative"):
        read_vcf(okgz, region=("chr1", 10, 10))
    with pytest.raises(InputError, match="region must be"):
        read_vcf(okgz, region="chr1:1-10")


def test_text_files_htslib_refuses_keep_working(tmp_path):
    """Blank lines, a trailing blank line, a byte-order mark and whole-file gzip were accepted before
    htslib and still are (the line reader takes them), with the same variants and lines."""
    body = "chr1\t5\trs1\tA\tC\t.\tPASS\t.\n"
    cases = {"blank.vcf": (HEADER + body + "\n" + body.replace("rs1", "rs2")).encode(),
             "trailing.vcf": (HEADER + body + "\n\n").encode(),
             "bom.vcf": ("\ufeff" + HEADER + body).encode(),
             "whole.vcf.gz": gzip.compress((HEADER + body).encode())}
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        v = read_vcf(p)
        assert v[0] == parse_vcf(data)[0] and (v[0].id, v[0].line) == ("rs1", 7), name
    assert [x.line for x in read_vcf(tmp_path / "blank.vcf")] == [7, 9]


def test_variants_command_region_and_filter(tmp_path):
    import h5py
    from conftest import REPO
    from seqnn_engine.cli import main
    from seqnn_engine.genomics.genome import Genome
    from test_cli_batch import build_tiny_model

    mdir = build_tiny_model(tmp_path / "model")
    genome_path = REPO / "assets" / "demo" / "genome.fa.gz"
    calls = [(40_000, "PASS"), (50_000, "q10"), (60_000, "PASS"), (90_000, ".")]
    lines = []
    with Genome(genome_path) as g:
        for pos, flt in calls:
            ref = g.fetch("chr3", pos - 1, pos).sequence
            alt = "A" if ref != "A" else "C"
            lines.append(f"chr3\t{pos}\tv{pos}\t{ref}\t{alt}\t.\t{flt}\t.\n")
    vcf = tmp_path / "calls.vcf"
    vcf.write_text(HEADER.replace("##contig=<ID=chr1,length=100000>", "##contig=<ID=chr3>") + "".join(lines))
    gz = pysam.tabix_index(str(vcf), preset="vcf")

    def scored(*extra):
        out = tmp_path / f"s{len(extra)}.h5"
        assert main(["variants", "--model", str(mdir), "--vcf", gz, "--genome", str(genome_path), "--quiet",
                     "--float32", "--out", str(out), *extra]) == 0
        with h5py.File(out, "r") as f:
            return [s.decode() for s in f["snp"][()]]

    assert scored() == ["v40000", "v60000", "v90000"]
    assert scored("--region", "chr3:45000-70000") == ["v60000"]
    assert scored("--region", "chr3:45000-70000", "--keep-filtered") == ["v50000", "v60000"]
