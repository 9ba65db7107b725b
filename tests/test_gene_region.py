"""Genes of a window from a bgzipped, tabix-indexed GTF/GFF3, and the streamed name index.

Truth: the whole-file parser (GeneSet.read) on the same annotation, restricted to the window by
the overlap rule written here. Memory-bounded by construction: a file whose rows far from the
window are malformed (so the whole-file parser refuses it) still answers window queries.
"""
from __future__ import annotations

import argparse
import os

import numpy as np
import pysam
import pytest

from seqnn_engine.errors import InputError
from seqnn_engine.genomics.gene_index import TabixGenes, build_name_index, open_genes
from seqnn_engine.genomics.genes import GeneSet

CHROMS = {"chr1": 2_000_000, "chr2": 1_500_000, "chrX": 800_000}


def _gtf_rows(seed=0, n_genes=300):
    """Rows (chrom, start1, end1, text) of a random GTF: genes with 1-3 transcripts of 1-4 exons, both
    strands, overlapping genes, CDS rows (ignored by the reader), canonical tags, a few genes without a
    gene line (one transcript each), one name shared by two genes."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n_genes):
        chrom = list(CHROMS)[k % 3]
        g0 = int(rng.integers(1, CHROMS[chrom] - 60_000))
        length = int(rng.integers(2_000, 50_000))
        strand = "+" if rng.random() < 0.5 else "-"
        gid, name = f"ENSG{k:05d}.{1 + k % 3}", ("DUP" if k in (7, 8) else f"G{k}")
        gene_line = k % 25 != 3
        n_tx = 1 if not gene_line else int(rng.integers(1, 4))
        tx_rows, g_end = [], g0
        for j in range(n_tx):
            ts = g0 if j == 0 else g0 + int(rng.integers(0, length // 2))
            te = ts + int(rng.integers(500, length))
            g_end = max(g_end, te)
            tags = ' tag "basic";' + (' tag "Ensembl_canonical";' if j == n_tx - 1 and k % 2 else "")
            attrs = f'gene_id "{gid}"; transcript_id "{gid}-T{j}"; gene_name "{name}";{tags}'
            tx_rows.append((ts, te, f"transcript\t{ts}\t{te}\t.\t{strand}\t.\t{attrs}"))
            cuts = np.sort(rng.choice(np.arange(ts + 1, te), 2 * int(rng.integers(0, 4)), replace=False))
            bounds = [ts, *cuts.tolist(), te]
            for es, ee in zip(bounds[::2], bounds[1::2]):
                tx_rows.append((es, ee, f"exon\t{es}\t{ee}\t.\t{strand}\t.\t{attrs}"))
                tx_rows.append((es, ee, f"CDS\t{es}\t{ee}\t.\t{strand}\t0\t{attrs}"))
        if gene_line:
            rows.append((chrom, g0, g_end, f'gene\t{g0}\t{g_end}\t.\t{strand}\t.\tgene_id "{gid}"; '
                                           f'gene_name "{name}"; gene_type "protein_coding";'))
        rows.extend((chrom, s, e, t) for s, e, t in tx_rows)
    return rows


def _write_sorted(path, rows, extra=()):
    rows = sorted(list(rows) + list(extra), key=lambda r: (r[0], r[1]))   # stable: gene before its rows
    with open(path, "w") as fh:
        fh.write("##description: generated for the test\n")
        for chrom, _s, _e, text in rows:
            fh.write(f"{chrom}\tgen\t{text}\n")
    return pysam.tabix_index(str(path), preset="gff", keep_original=True, force=True)


@pytest.fixture(scope="module")
def annotation(tmp_path_factory):
    d = tmp_path_factory.mktemp("gtf")
    plain = d / "genes.gtf"
    gz = _write_sorted(plain, _gtf_rows())
    return plain, gz, GeneSet.read(plain)


def _in_window(full, chrom, start, end):
    return tuple(g for g in full if g.chrom == chrom and g.start < end and g.end > start)


def _windows(full, rng, n=60):
    out = [("chr1", 0, 2_000_000), ("chrX", 0, 10)]
    for _ in range(n):
        chrom = str(rng.choice(list(CHROMS)))
        s = int(rng.integers(0, CHROMS[chrom]))
        out.append((chrom, s, s + int(rng.choice([1, 1_000, 32_768, 196_608]))))
    # windows touching gene ends exactly: one base inside, one base outside
    for g in list(full)[:10]:
        out += [(g.chrom, g.end - 1, g.end + 5), (g.chrom, g.end, g.end + 5), (g.chrom, g.start - 5, g.start + 1),
                (g.chrom, max(0, g.start - 5), g.start)]
    return out


def test_region_reads_equal_the_whole_file_restricted_to_the_window(annotation):
    plain, gz, full = annotation
    assert len(full) == 300
    rng = np.random.default_rng(1)
    n_nonempty = 0
    for chrom, s, e in _windows(full, rng):
        want = _in_window(full, chrom, s, e)
        got = GeneSet.read_region(gz, chrom, s, e)
        assert got.genes == want, (chrom, s, e)
        assert tuple(full.overlapping(chrom, s, e)) == want
        n_nonempty += bool(want)
    assert n_nonempty > 20
    # full Gene objects: transcripts, exons, tags, so the primary TSS is the whole-file one
    g = full.get("G1")
    (same,) = [x for x in GeneSet.read_region(gz, g.chrom, g.primary_tss, g.primary_tss + 1) if x.gene_id == g.gene_id]
    assert same == g and len(same.transcripts) >= 1 and same.primary_tss == g.primary_tss
    # a chromosome the file does not have
    assert len(GeneSet.read_region(gz, "chrUn", 0, 100)) == 0
    with pytest.raises(InputError, match="empty or negative"):
        GeneSet.read_region(gz, "chr1", 10, 10)
    with pytest.raises(InputError, match="no tabix index"):
        GeneSet.read_region(plain, "chr1", 0, 10)


def test_window_query_never_runs_the_whole_file_parser(tmp_path):
    """Rows far from the window are malformed: the whole-file parser refuses the file, the window query
    (which reads only rows around the window) answers, equal to the clean file's genes there."""
    rows = [r for r in _gtf_rows(seed=2, n_genes=120) if r[0] == "chr1" and r[2] < 1_400_000]
    clean = tmp_path / "clean.gtf"
    _write_sorted(clean, rows)
    bad_rows = [("chr1", 1_900_000, 1_900_100, 'gene\t1900000\t1900100\t.\t?\t.\tgene_id "BAD1";'),
                ("chr1", 1_950_000, 1_950_100, 'exon\t1950000\t1950100\t.\t+\t.\tno_gene_id "x";'),
                ("chr2", 5, 50, 'transcript\t5\t50\t.\t+\t.\tgene_id "BAD2";')]
    bad = tmp_path / "bad.gtf"
    gz = _write_sorted(bad, rows, extra=bad_rows)
    with pytest.raises(InputError, match="strand"):
        GeneSet.read(bad)
    full = GeneSet.read(clean)
    for s in range(0, 1_300_000, 100_000):
        assert GeneSet.read_region(gz, "chr1", s, s + 196_608).genes == _in_window(full, "chr1", s, s + 196_608)
    # the bad rows themselves are refused when a window reaches them, naming the row of the region
    with pytest.raises(InputError, match=r"bad.gtf.gz region chr1:1899000-1900500 row 1: strand '\?'"):
        GeneSet.read_region(gz, "chr1", 1_899_000, 1_900_500)
    # and TabixGenes answers window queries without the name index (which would stream the whole file)
    tg = TabixGenes(gz, index_dir=tmp_path / "idx")
    assert tuple(tg.overlapping("chr1", 0, 500_000)) == _in_window(full, "chr1", 0, 500_000)
    assert not (tmp_path / "idx").exists()


def test_name_index_search_and_get_match_the_whole_file(annotation, tmp_path):
    plain, gz, full = annotation
    tg = open_genes(gz, index_dir=tmp_path / "idx")
    assert isinstance(tg, TabixGenes) and isinstance(open_genes(plain), GeneSet)
    assert len(tg) == len(full)
    assert [(e.gene_id, e.gene_name, e.chrom, e.start, e.end, e.strand) for e in tg.entries] == \
           [(g.gene_id, g.gene_name, g.chrom, g.start, g.end, g.strand) for g in full]
    for q in ("G1", "g2", "ENSG0001", "DUP", "nope"):
        assert [e.gene_id for e in tg.search(q, 50)] == [g.gene_id for g in full.search(q, 50)]
    for key in ("G5", "g17", "ENSG00042", "ENSG00042.1", full.genes[99].gene_id):
        assert tg.get(key) == full.get(key)
    for key in ("DUP", "NOPE"):
        with pytest.raises(InputError) as a:
            tg.get(key)
        with pytest.raises(InputError) as b:
            full.get(key)
        assert str(a.value) == str(b.value)
    # the index was written once and is read back by a new instance
    (index,) = list((tmp_path / "idx").iterdir())
    written = index.stat().st_mtime_ns
    os.utime(index, ns=(written - 10**9, written - 10**9))      # marks the file: a rewrite would move it
    again = TabixGenes(gz, index_dir=tmp_path / "idx")
    assert again.entries == tg.entries and index.stat().st_mtime_ns == written - 10**9
    # a changed annotation (new size/mtime) makes the index stale: rebuilt
    os.utime(gz, ns=(1, 1))
    assert TabixGenes(gz, index_dir=tmp_path / "idx").entries == tg.entries
    assert index.read_text().splitlines()[0].split("\t")[3] == "1"
    # streamed straight, without an index file
    assert build_name_index(gz) == list(tg.entries)


def test_gff3_region_reads_equal_the_whole_file(tmp_path):
    rows = []
    for k in range(40):
        chrom = "chr1" if k % 2 else "chr2"
        g0 = 1 + 20_000 * k
        strand = "+-"[k % 2]
        rows.append((chrom, g0, g0 + 9_000, f"gene\t{g0}\t{g0 + 9000}\t.\t{strand}\t.\tID=gene:G{k};Name=N{k}"))
        for j in range(2):
            ts = g0 + 1000 * j
            rows.append((chrom, ts, g0 + 9_000, f"mRNA\t{ts}\t{g0 + 9000}\t.\t{strand}\t.\t"
                                                 f"ID=transcript:T{k}_{j};Parent=gene:G{k}"))
            for es in (ts, ts + 4000):
                rows.append((chrom, es, es + 500,
                             f"exon\t{es}\t{es + 500}\t.\t{strand}\t.\tParent=transcript:T{k}_{j}"))
    plain = tmp_path / "a.gff3"
    gz = _write_sorted(plain, rows)
    full = GeneSet.read(plain)
    assert len(full) == 40
    for chrom, s, e in [("chr1", 0, 100_000), ("chr2", 95_000, 130_000), ("chr1", 29_000, 29_001),
                        ("chr2", 9_001, 9_002)]:
        assert GeneSet.read_region(gz, chrom, s, e).genes == _in_window(full, chrom, s, e)
    tg = TabixGenes(gz, index_dir=tmp_path / "idx")
    assert tg.get("N7") == full.get("N7") and len(tg) == 40


def test_cli_gene_input_reads_an_indexed_annotation_by_name(annotation, tmp_path, monkeypatch):
    from seqnn_engine.cli.inputs import read_genes_input

    plain, gz, full = annotation
    monkeypatch.setenv("SEQNN_CACHE_DIR", str(tmp_path / "cache"))
    args = argparse.Namespace(gtf=gz, genes="G3,ENSG00010", all_genes=False)
    assert read_genes_input(args, None) == [full.get("G3"), full.get("ENSG00010")]
    assert list((tmp_path / "cache" / "gene-index").iterdir())
    every = read_genes_input(argparse.Namespace(gtf=gz, genes=None, all_genes=True), None)
    assert every == list(full.genes)


def test_session_gene_source_reads_an_indexed_annotation_by_region(annotation, tmp_path, monkeypatch):
    """Session.genes (what the dashboard lists and windows): a .tbi beside the annotation makes window
    queries region reads; the gene list comes from the name index, and a picked gene is read whole by
    region."""
    from seqnn_engine.genomics.gene_index import TabixGenes
    from seqnn_engine.session import Session

    plain, gz, full = annotation
    monkeypatch.setenv("SEQNN_CACHE_DIR", str(tmp_path / "cache"))
    ses = Session(genes=str(gz))
    gi = ses.genes
    assert isinstance(gi, TabixGenes)
    assert tuple(gi.overlapping("chr2", 100_000, 300_000)) == _in_window(full, "chr2", 100_000, 300_000)
    assert not (tmp_path / "cache").exists()          # a window query needs no name index
    assert [e.gene_id for e in ses.gene_list()] == [g.gene_id for g in full]
    assert gi.get(full.genes[5].gene_id) == full.genes[5]
    assert [g.gene_id for g in gi.search("G1", 5)] == [g.gene_id for g in full.search("G1", 5)]
    plain_ses = Session(genes=str(plain))
    assert tuple(plain_ses.genes.overlapping("chr2", 100_000, 300_000)) == _in_window(full, "chr2", 100_000, 300_000)
    assert [g.gene_id for g in plain_ses.gene_list()] == [g.gene_id for g in full]
