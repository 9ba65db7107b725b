"""The bundled demo genome: reproducibility, planted-site truth, composition, genes, targets.

The truths used here are independent of the code under test where it matters: motif scores
are recomputed from the vendored counts with the documented formula and string reverse
complements; track values are checked against closed forms and numeric integration written
out in this file.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pysam
import pytest

from seqnn_engine import InputError
from tools.demo import genome_gen, tracks

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "assets" / "demo"
MATRICES = REPO / "tools" / "demo" / "jaspar_2024.json"
DRIVERS = ("CTCF", "SPI1", "CEBPB", "REST")
DECOYS = ("GATA1", "YY1", "FOXA2")
BG = np.array([0.295, 0.205, 0.205, 0.295])
COMP = str.maketrans("ACGT", "TGCA")


# ----------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def meta():
    return json.loads((DEMO / "genome_meta.json").read_text())


@pytest.fixture(scope="module")
def genome():
    with pysam.FastaFile(str(DEMO / "genome.fa.gz")) as fa:
        return {c: fa.fetch(c) for c in fa.references}


@pytest.fixture(scope="module")
def sites():
    rows = []
    for line in (DEMO / "motif_sites.bed").read_text().splitlines():
        f = line.split("\t")
        rows.append((f[0], int(f[1]), int(f[2]), f[3], int(f[4]), f[5], f[6]))
    return rows


@pytest.fixture(scope="module")
def logodds():
    data = json.loads(MATRICES.read_text())
    out = {}
    for m in data["motifs"]:
        c = np.array(m["counts_ACGT"], float)
        p = (c + 0.25) / (c.sum(axis=1, keepdims=True) + 1.0)
        out[m["name"]] = np.log2(p / BG)
    return out


def score(lo: np.ndarray, seq: str) -> float:
    return float(sum(lo[i, "ACGT".index(b)] for i, b in enumerate(seq)))


def gtf_rows(path):
    rows = []
    for line in Path(path).read_text().splitlines():
        if line.startswith("#"):
            continue
        f = line.split("\t")
        attrs = dict(
            (kv.strip().split(" ", 1)[0], kv.strip().split(" ", 1)[1].strip('"'))
            for kv in f[8].split(";") if kv.strip()
        )
        rows.append({"chrom": f[0], "feature": f[2], "start": int(f[3]), "end": int(f[4]),
                     "strand": f[6], **attrs})
    return rows


# ----------------------------------------------------------------------------- reproducibility


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    genome_gen.generate(out, log=lambda m: None)
    return out


def test_regeneration_with_committed_seed_is_identical(regenerated, meta, genome):
    assert meta["seed"] == genome_gen.SEED
    with pysam.FastaFile(str(regenerated / "genome.fa.gz")) as fa:
        assert list(fa.references) == list(genome)
        for c in genome:
            assert fa.fetch(c) == genome[c], f"{c} differs from the shipped sequence"
    for name in ("genes.gtf", "motif_sites.bed", "targets.txt", "examples/promoter_windows.fa",
                 "examples/mixed.fa", "genome.fa.gz.fai"):
        assert (regenerated / name).read_bytes() == (DEMO / name).read_bytes(), name
    new_meta = json.loads((regenerated / "genome_meta.json").read_text())
    assert new_meta == meta


def test_meta_digests_match_shipped_files(meta, genome):
    sha = meta["sha256"]
    for c, s in genome.items():
        assert hashlib.sha256(s.encode()).hexdigest() == sha["sequence"][c]
    for name in ("genes.gtf", "motif_sites.bed", "targets.txt"):
        assert hashlib.sha256((DEMO / name).read_bytes()).hexdigest() == sha[name]
    assert meta["chrom_sizes"] == {c: len(s) for c, s in genome.items()}
    assert sum(meta["chrom_sizes"].values()) >= 2_000_000 and len(genome) >= 3
    assert meta["test_chroms"] == ["chr3"] and set(meta["test_chroms"]) <= set(genome)


# ----------------------------------------------------------------------------- sequence and sites


def test_gc_content_and_cpg_depletion(genome):
    seq = "".join(genome.values())
    assert set(seq) <= set("ACGT")
    gc = (seq.count("G") + seq.count("C")) / len(seq)
    assert abs(gc - 0.41) <= 0.02
    s = genome["chr1"]
    cg = s.count("CG") / (len(s) - 1)
    expected = (s.count("C") / len(s)) * (s.count("G") / len(s))
    assert cg < 0.4 * expected  # dinucleotide chain reproduces CpG depletion


def test_every_site_scores_high_under_its_own_matrix(sites, genome, logodds):
    assert {s[3] for s in sites} == set(DRIVERS) | set(DECOYS)
    for chrom, start, end, name, sc, strand, role in sites:
        seq = genome[chrom][start:end]
        if strand == "-":
            seq = seq.translate(COMP)[::-1]
        lo = logodds[name]
        assert len(seq) == lo.shape[0]
        rel = score(lo, seq) / lo.max(axis=1).sum()
        assert rel >= 0.8 - 1e-9, (chrom, start, name, rel)
        assert abs(rel * 1000 - sc) <= 0.5 + 1e-6, (chrom, start, name, rel, sc)
        assert role == ("driver" if name in DRIVERS else "decoy")


def test_sites_sorted_non_overlapping_and_in_bounds(sites, genome):
    assert sites == sorted(sites, key=lambda r: (r[0], r[1]))
    for a, b in zip(sites, sites[1:]):
        if a[0] == b[0]:
            assert b[1] >= a[2], (a, b)
    for chrom, start, end, *_ in sites:
        assert 0 <= start < end <= len(genome[chrom])


def test_driver_density_fits_a_4kb_window(sites, genome):
    n_driver = sum(r[6] == "driver" for r in sites)
    per_window = n_driver * 4096 / sum(len(s) for s in genome.values())
    assert 3 <= per_window <= 8
    # the held-out chromosome holds at least 200 disjoint 4096 bp windows
    assert len(genome["chr3"]) // 4096 >= 200


def test_no_unplanted_strong_driver_match_on_test_chrom(sites, genome, logodds):
    seq = np.frombuffer(genome["chr3"].encode(), np.uint8)
    idx = np.zeros(seq.shape, np.int64)
    for i, b in enumerate(b"ACGT"):
        idx[seq == b] = i
    for name in DRIVERS:
        lo = logodds[name]
        L = lo.shape[0]
        win = np.lib.stride_tricks.sliding_window_view(idx, L)
        fwd = lo[np.arange(L), win].sum(axis=1)
        rc = lo[::-1, ::-1]
        rev = rc[np.arange(L), win].sum(axis=1)
        planted = {s for c, s, e, n, *_ in sites if c == "chr3" and n == name}
        hits = set(np.flatnonzero(np.maximum(fwd, rev) >= 0.6 * lo.max(axis=1).sum()).tolist())
        assert hits == planted, name


def test_spi1_and_cebpb_meet_only_at_promoters(sites):
    tss = tracks.read_tss(DEMO / "genes.gtf")
    for chrom in ("chr1", "chr2", "chr3"):
        t = np.array([p for c, p, _ in tss if c == chrom])
        sp = [(s + e) / 2 for c, s, e, n, *_ in sites if c == chrom and n == "SPI1"]
        cb = np.array([(s + e) / 2 for c, s, e, n, *_ in sites if c == chrom and n == "CEBPB"])
        for x in sp:
            if np.any(np.abs(cb - x) <= 300):
                assert np.min(np.abs(t - x)) <= 300


# ----------------------------------------------------------------------------- genes


def test_genes_both_strands_with_transcripts_exons_and_alt_tss(genome):
    rows = gtf_rows(DEMO / "genes.gtf")
    genes = [r for r in rows if r["feature"] == "gene"]
    assert len(genes) >= 100
    assert {g["strand"] for g in genes} == {"+", "-"}
    assert min(sum(g["strand"] == s for g in genes) for s in "+-") >= 30
    names = [g["gene_name"] for g in genes]
    assert len(set(names)) == len(names) and names[0] == "DMG001"
    by_tx = {}
    for r in rows:
        assert 1 <= r["start"] <= r["end"] <= len(genome[r["chrom"]])
        if r["feature"] == "exon":
            by_tx.setdefault(r["transcript_id"], []).append(r)
    tss_per_gene = {}
    for t in (r for r in rows if r["feature"] == "transcript"):
        exons = sorted(by_tx[t["transcript_id"]], key=lambda e: e["start"])
        assert exons[0]["start"] == t["start"] and exons[-1]["end"] == t["end"]
        assert all(a["end"] < b["start"] for a, b in zip(exons, exons[1:]))
        g = next(g for g in genes if g["gene_id"] == t["gene_id"])
        assert g["start"] <= t["start"] and t["end"] <= g["end"] and g["strand"] == t["strand"]
        tss = t["start"] if t["strand"] == "+" else t["end"]
        tss_per_gene.setdefault(t["gene_id"], set()).add(tss)
        # exon_number counts in transcript direction
        numbered = sorted(by_tx[t["transcript_id"]], key=lambda e: int(e["exon_number"]))
        first = numbered[0]
        assert (first["start"] if t["strand"] == "+" else first["end"]) == tss
    assert sum(len(v) > 1 for v in tss_per_gene.values()) >= 10


# ----------------------------------------------------------------------------- targets.txt


def test_targets_txt_reference_layout():
    lines = (DEMO / "targets.txt").read_text().splitlines()
    header = lines[0].split("\t")
    assert header == ["", "identifier", "file", "clip", "clip_soft", "scale", "sum_stat", "strand_pair",
                      "description"]
    rows = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
    assert len(rows) >= 8
    assert [int(r[""]) for r in rows] == list(range(len(rows)))
    ids = [r["identifier"] for r in rows]
    assert ids[:4] == list(DRIVERS) and "ATAC" in ids
    pair = {r["identifier"]: ids[int(r["strand_pair"])] for r in rows}
    assert pair["CAGE+"] == "CAGE-" and pair["CAGE-"] == "CAGE+"
    for i in ids:
        if i not in ("CAGE+", "CAGE-"):
            assert pair[i] == i
    for r in rows:
        assert float(r["scale"]) == 1.0 and float(r["clip_soft"]) > 100 and r["description"]


# ----------------------------------------------------------------------------- track functions


def _bin_mean_numeric(amp, c, sigma, a, b, steps=4096):
    """Midpoint-rule mean of amp * exp(-(x-c)^2 / 2 sigma^2) on [a, b), truncated at 4 sigma."""
    x = a + (np.arange(steps) + 0.5) * (b - a) / steps
    y = amp * np.exp(-((x - c) ** 2) / (2 * sigma**2))
    y[np.abs(x - c) > 4 * sigma] = 0.0
    return float(y.mean())


def _write_dir(d: Path, bed_rows, gtf_rows_):
    d.mkdir(parents=True, exist_ok=True)
    (d / "motif_sites.bed").write_text("".join("\t".join(map(str, r)) + "\n" for r in bed_rows))
    lines = []
    for chrom, s1, e1, strand, tid in gtf_rows_:
        a = f'gene_id "G{tid}"; gene_name "G{tid}"; transcript_id "T{tid}";'
        lines.append(f"{chrom}\tt\ttranscript\t{s1}\t{e1}\t.\t{strand}\t.\t{a}")
        lines.append(f"{chrom}\tt\texon\t{s1}\t{e1}\t.\t{strand}\t.\t{a} exon_number \"1\";")
    (d / "genes.gtf").write_text("\n".join(lines) + "\n")
    return d


def test_one_ctcf_site_gives_the_documented_bump(tmp_path):
    d = _write_dir(tmp_path / "g", [("chrA", 1000, 1015, "CTCF", 900, "+", "driver")], [])
    y = tracks.compute_tracks(d, "chrA", 0, 2048)
    assert y.shape == (64, 8) and y.dtype == np.float32
    c, w = 1007.5, 0.9
    # closed form for the bin holding the centre, [992, 1024)
    s = 48 * math.sqrt(2)
    expect = 3.0 * w * 48 * math.sqrt(math.pi / 2) * (math.erf((1024 - c) / s) - math.erf((992 - c) / s)) / 32
    assert y[31, 0] == pytest.approx(expect, rel=1e-6)
    for b in range(64):
        assert y[b, 0] == pytest.approx(_bin_mean_numeric(3.0 * w, c, 48, 32 * b, 32 * b + 32), abs=2e-6)
        assert y[b, 4] == pytest.approx(_bin_mean_numeric(1.0 * w, c, 80, 32 * b, 32 * b + 32), abs=2e-6)
    assert np.all(y[:, 1:4] == 0) and np.all(y[:, 5:] == 0)  # no other motif, no neighbour, no TSS
    assert np.all(y[: (1000 - 192) // 32 - 1, 0] == 0)  # truncated at 4 sigma
    # the same bins from a shifted window
    z = tracks.compute_tracks(d, "chrA", 512, 1536)
    np.testing.assert_array_equal(z, y[16:48])


def test_decoys_drive_nothing_and_neighbours_switch_h3k27ac(tmp_path):
    d = _write_dir(tmp_path / "g", [
        ("chrA", 1000, 1013, "SPI1", 1000, "+", "driver"),
        ("chrA", 1200, 1220, "REST", 800, "-", "driver"),  # centre 203.5 bp from SPI1's
        ("chrA", 3000, 3007, "GATA1", 1000, "+", "decoy"),
        ("chrA", 5000, 5010, "CEBPB", 1000, "+", "driver"),  # alone
    ], [])
    y = tracks.compute_tracks(d, "chrA", 0, 6400).astype(np.float64)
    assert np.all(y[80:110] == 0)  # around the decoy (2560-3520)
    k27 = y[:, 5]
    assert k27[(1006 + 1210) // 64] > 0
    assert np.all(k27[140:] == 0)  # the lone CEBPB has no neighbour
    mass = k27.sum() * 32  # = 1.5 * sum w * sigma * sqrt(2 pi) * (mass within 4 sigma)
    full = 1.5 * (1.0 + 0.8) * 150 * math.sqrt(2 * math.pi) * math.erf(4 / math.sqrt(2))
    assert mass == pytest.approx(full, rel=1e-6)
    # moving REST to 350 bp from SPI1 removes both from H3K27ac
    d2 = _write_dir(tmp_path / "g2", [
        ("chrA", 1000, 1013, "SPI1", 1000, "+", "driver"),
        ("chrA", 1347, 1367, "REST", 800, "-", "driver"),
    ], [])
    assert np.all(tracks.compute_tracks(d2, "chrA", 0, 6400)[:, 5] == 0)


def _cage_peak(d, chrom="chrA"):
    y = tracks.compute_tracks(d, chrom, 0, 8192).astype(np.float64)
    return y[:, 6].sum() * 32, y[:, 7].sum() * 32


CAGE_MASS = 24 * math.sqrt(2 * math.pi) * math.erf(4 / math.sqrt(2))  # per unit magnitude


@pytest.mark.parametrize(
    "case, rows, plus, minus",
    [
        # + strand TSS at 0-based 4000 (GTF start 4001); up = [3800, 4000)
        ("and", [("SPI1", 3950, "+", 900), ("CEBPB", 3850, "-", 800)], 6.0 * 0.9 * 0.8, 0),
        ("spi1 only", [("SPI1", 3950, "+", 900)], 0, 0),
        ("cebpb only", [("CEBPB", 3850, "+", 800)], 0, 0),
        ("spi1 wrong strand", [("SPI1", 3950, "-", 900), ("CEBPB", 3850, "+", 800)], 0, 0),
        ("cebpb too far", [("SPI1", 3950, "+", 900), ("CEBPB", 3795, "+", 800)], 0, 0),
        ("rest represses", [("SPI1", 3950, "+", 900), ("CEBPB", 3850, "+", 800), ("REST", 4200, "+", 850)],
         6.0 * 0.9 * 0.8 * 0.25, 0),
        ("rest too far", [("SPI1", 3950, "+", 900), ("CEBPB", 3850, "+", 800), ("REST", 4290, "+", 850)],
         6.0 * 0.9 * 0.8, 0),
    ],
)
def test_cage_and_rule_plus_strand(tmp_path, case, rows, plus, minus):
    lengths = {"SPI1": 13, "CEBPB": 10, "REST": 20}
    bed = sorted(("chrA", s, s + lengths[n], n, sc, st, "driver") for n, s, st, sc in rows)
    d = _write_dir(tmp_path / "g", bed, [("chrA", 4001, 6000, "+", 1)])
    got_plus, got_minus = _cage_peak(d)
    assert got_plus == pytest.approx(plus * CAGE_MASS, rel=1e-6, abs=1e-9), case
    assert got_minus == pytest.approx(minus * CAGE_MASS, abs=1e-9), case


def test_cage_minus_strand_mirrors(tmp_path):
    # - strand transcript [2000, 4000) 0-based: TSS = 3999, up = [4000, 4200)
    bed = [("chrA", 4040, 4053, "SPI1", 1000, "-", "driver"), ("chrA", 4100, 4110, "CEBPB", 1000, "+", "driver")]
    d = _write_dir(tmp_path / "g", bed, [("chrA", 2001, 4000, "-", 1)])
    plus, minus = _cage_peak(d)
    assert plus == 0 and minus == pytest.approx(6.0 * CAGE_MASS, rel=1e-6)
    y = tracks.compute_tracks(d, "chrA", 0, 8192)
    assert int(np.argmax(y[:, 7])) == 3999 // 32
    # the same sites beside a + strand TSS are downstream of it: nothing
    d2 = _write_dir(tmp_path / "g2", bed, [("chrA", 4000, 6000, "+", 1)])
    assert _cage_peak(d2) == (0.0, 0.0)


def test_shipped_tracks_consistent_and_windows_agree(meta):
    ch = "chr3"
    full = tracks.compute_tracks(DEMO, ch, 0, meta["chrom_sizes"][ch] // 32 * 32)
    assert full.shape == (meta["chrom_sizes"][ch] // 32, 8) and np.all(full >= 0)
    for start in (0, 4096 * 17, 4096 * 100 + 64 * 32):
        np.testing.assert_array_equal(tracks.compute_tracks(DEMO, ch, start, start + 4096),
                                      full[start // 32: start // 32 + 128])
    # every driver track has signal in most 4 kb windows; decoy-only regions are silent
    wins = full[: full.shape[0] // 128 * 128].reshape(-1, 128, 8).max(axis=1)
    assert (wins[:, 4] > 0).mean() > 0.9
    active = [r for r in tracks.tss_table(DEMO) if r["magnitude"] > 0]
    assert len(active) == meta["promoter_classes"]["active"] + meta["promoter_classes"]["repressed"]
    assert {r["strand"] for r in active if r["chrom"] == ch} == {"+", "-"}


def test_compute_tracks_rejects_bad_windows():
    with pytest.raises(InputError, match="unknown chromosome"):
        tracks.compute_tracks(DEMO, "chrX", 0, 4096)
    with pytest.raises(InputError, match="multiple of bin_size"):
        tracks.compute_tracks(DEMO, "chr1", 0, 4001)
    with pytest.raises(InputError, match="non-empty"):
        tracks.compute_tracks(DEMO, "chr1", 4096, 4096)
    with pytest.raises(InputError, match="not a demo genome directory"):
        tracks.compute_tracks(REPO / "tests", "chr1", 0, 4096)
    # past the chromosome end is allowed and empty
    assert np.all(tracks.compute_tracks(DEMO, "chr1", 1_300_000, 1_304_096) == 0)


# ----------------------------------------------------------------------------- examples


def _read_fasta(path):
    recs, name = {}, None
    for line in Path(path).read_text().splitlines():
        if line.startswith(">"):
            name = line[1:]
            recs[name] = []
        elif line.strip():
            recs[name].append(line.strip())
    return {k: "".join(v) for k, v in recs.items()}


def test_example_fasta_files(genome):
    prom = _read_fasta(DEMO / "examples" / "promoter_windows.fa")
    assert len(prom) >= 3
    strands = set()
    for header, seq in prom.items():
        loc = header.split()[1]
        chrom, rng = loc.split(":")
        s1, e1 = map(int, rng.split("-"))
        assert len(seq) == 4096 and seq == genome[chrom][s1 - 1: e1]
        strands.add(header.split("strand=")[1][0])
    assert strands == {"+", "-"}
    mixed = _read_fasta(DEMO / "examples" / "mixed.fa")
    seqs = list(mixed.values())
    assert any(s.islower() for s in seqs)
    assert any("N" * 200 in s for s in seqs)
    assert any(set(s) & set("RYSWK") for s in seqs)
    assert min(len(s) for s in seqs) < 100
