"""Seeded generator of the demo genome: sequence, genes, planted motif sites, targets.

Run ``python -m tools.demo.genome_gen --out assets/demo`` (a few seconds). With the
default seed the output is identical to the shipped files (the test suite checks the
sha256 digests recorded in ``genome_meta.json``).

What it writes into ``--out``:

- ``genome.fa.gz`` (bgzip) + ``.fai`` + ``.gzi``: chromosomes ``chr1`` (1.2 Mb), ``chr2``
  (0.8 Mb), ``chr3`` (0.9 Mb, held out for testing); upper case, no N.
- ``genes.gtf``: genes ``DMG001``... on both strands with transcripts and exons (GTF,
  1-based closed; attributes gene_id, gene_name, gene_type, transcript_id,
  transcript_name, transcript_type, exon_number). Some genes have an alternative TSS
  (a transcript whose first exon lies in the first intron), some an exon-skipping isoform.
- ``motif_sites.bed``: every planted site, 0-based half-open, sorted, non-overlapping;
  columns chrom, start, end, motif name, score (``round(1000 * relative log-odds)``),
  strand, role (``driver``/``decoy``).
- ``targets.txt`` (reference layout) for the tracks of :mod:`tools.demo.tracks`.
- ``genome_meta.json``: seed, generator version, chromosome sizes, test chromosomes,
  counts, GC content and sha256 digests of the sequences, GTF, BED and targets.txt.
- ``examples/promoter_windows.fa`` and ``examples/mixed.fa``: FASTA inputs for the app.

How the sequence is made:

1. Background: a first-order (dinucleotide) Markov chain whose transition matrix is the
   row-normalised human-like dinucleotide table ``DINUC`` (CpG depleted; stationary GC
   about 41%), sampled fully vectorised by a prefix composition of per-position maps.
2. Genes are laid out left to right with intergenic gaps; strands are random.
3. Sites are samples from the JASPAR matrices with relative score >= 0.8 (see
   :mod:`tools.demo.motifs`), written on a random strand (or a fixed one where a
   rule needs it) and recorded in the BED. Placement rules that keep the targets
   learnable from sequence alone:

   - promoter zones (``[t - 300, t + 301)`` around every TSS ``t``) receive only their own
     promoter sites. Each TSS gets one class: ``active`` (SPI1 on the transcript strand
     ending 30-50 bp upstream + CEBPB further upstream within 200 bp), ``repressed``
     (active + a REST site in the zone), ``spi1_only``, ``cebpb_only`` or ``none``; YY1
     and other decoys are sprinkled into zones;
   - outside promoters no SPI1 site lies within 300 bp of a CEBPB site (so the CAGE AND
     rule only fires at TSSs);
   - enhancer-like clusters of 2-4 drivers (15-120 bp apart, optionally with a decoy) and
     isolated drivers keep a 350 bp halo free of other drivers; isolated decoys go
     anywhere free;
   - sites never overlap and keep >= 3 bp between them.
4. Cleaning: every window outside the planted driver sites whose relative score under a
   driver matrix (either strand) reaches ``CLEAN_MIN_RELATIVE`` is broken by a point
   mutation of its most informative unplanted base, repeated until none is left. So the
   only strong driver matches in the genome are the planted ones.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import motifs as motif_mod
from . import tracks as tracks_mod

GENERATOR_VERSION = 1
SEED = 20240605
CHROM_SIZES = {"chr1": 1_200_000, "chr2": 800_000, "chr3": 900_000}
TEST_CHROMS = ("chr3",)
FASTA_WIDTH = 60

# Human-like dinucleotide frequencies (percent), rows = first base, columns = second base, ACGT.
DINUC = np.array(
    [
        [9.8, 5.0, 7.0, 7.6],
        [7.3, 5.2, 1.0, 7.0],
        [5.9, 4.3, 5.2, 5.0],
        [6.5, 5.9, 7.3, 9.8],
    ]
)

SITE_GAP = 3  # minimum free bp between two sites
PROMOTER_ZONE = 300
PAIR_EXCLUSION = 300  # SPI1 vs CEBPB outside promoters
DRIVER_HALO = 350
CLEAN_MIN_RELATIVE = 0.6
PROMOTER_CLASSES = (("active", 0.50), ("repressed", 0.12), ("spi1_only", 0.12), ("cebpb_only", 0.12),
                    ("none", 0.14))
CLUSTERS_PER_BP = 1 / 5000
ISOLATED_DRIVERS_PER_BP = 1 / 2000
ISOLATED_DECOYS_PER_BP = 1 / 2500


# ----------------------------------------------------------------------------- background


def transition_matrix() -> np.ndarray:
    """(4, 4) row-stochastic matrix P[prev, next] of the background chain."""
    return DINUC / DINUC.sum(axis=1, keepdims=True)


def stationary() -> np.ndarray:
    """(4,) stationary base distribution of :func:`transition_matrix`."""
    p = transition_matrix()
    vals, vecs = np.linalg.eig(p.T)
    v = np.real(vecs[:, np.argmin(np.abs(vals - 1))])
    return v / v.sum()


def markov_background(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n,) uint8 base indices from the dinucleotide chain, without a Python loop.

    Position i is ``f_i(x_{i-1})`` with ``f_i(s) = first b such that u_i < cumP[s, b]``; the
    maps are composed by a Hillis-Steele prefix scan (log2 n vectorised steps).
    """
    cum = np.cumsum(transition_matrix(), axis=1)
    cum[:, -1] = 1.0 + 1e-12
    x0 = int(np.searchsorted(np.cumsum(stationary()), rng.random(), side="right"))
    u = rng.random(n - 1)
    maps = np.stack([np.searchsorted(cum[s], u, side="right") for s in range(4)], axis=1).astype(np.uint8)
    k = 1
    while k < maps.shape[0]:  # maps[i] becomes f_i o ... o f_max(0, i-2k+1)
        maps[k:] = np.take_along_axis(maps[k:], maps[:-k].astype(np.intp), axis=1)
        k *= 2
    out = np.empty(n, np.uint8)
    out[0] = x0
    out[1:] = maps[:, x0]
    return out


# ----------------------------------------------------------------------------- genes


@dataclass
class Transcript:
    transcript_id: str
    name: str
    exons: list  # [(start, end)] 0-based half-open, genomic order


@dataclass
class Gene:
    gene_id: str
    name: str
    chrom: str
    strand: str
    start: int
    end: int
    transcripts: list = field(default_factory=list)


def _exon_layout(rng, length):
    """Exons of one gene in transcript orientation (0 = TSS), plus an optional alt first exon."""
    n = int(rng.integers(2, 7))
    lens = [int(rng.integers(80, 300))] + [int(rng.integers(60, 250)) for _ in range(n - 2)]
    lens.append(int(rng.integers(300, 1500)))
    intron_total = length - sum(lens)
    min_intron = 300
    while intron_total < (n - 1) * min_intron and n > 2:
        n -= 1
        lens = lens[: n - 1] + [lens[-1]]
        intron_total = length - sum(lens)
    cuts = np.sort(rng.random(n - 2)) if n > 2 else np.zeros(0)
    spare = intron_total - (n - 1) * min_intron
    parts = np.diff(np.concatenate([[0.0], cuts, [1.0]])) * spare
    introns = [min_intron + int(p) for p in parts]
    introns[-1] += intron_total - sum(introns)  # absorb rounding so the gene length is exact
    exons, x = [], 0
    for i, el in enumerate(lens):
        exons.append((x, x + el))
        x += el
        if i < n - 1:
            x += introns[i]
    alt = None
    first_intron = (exons[0][1], exons[1][0])
    if first_intron[1] - first_intron[0] >= 2500 and rng.random() < 0.45:
        a = int(rng.integers(first_intron[0] + 1000, first_intron[1] - 600))
        alt = (a, a + int(rng.integers(80, 250)))
    skip = int(rng.integers(1, n - 1)) if n >= 4 and rng.random() < 0.3 else None
    return exons, alt, skip


def _to_genome(iv, strand, gstart, gend):
    a, b = iv
    return (gstart + a, gstart + b) if strand == "+" else (gend - b, gend - a)


def layout_genes(rng, chrom_sizes) -> list[Gene]:
    genes, counter_g, counter_t = [], 0, 0
    for chrom, size in chrom_sizes.items():
        pos = int(rng.integers(3000, 8000))
        while True:
            length = int(rng.integers(2000, 16000))
            if pos + length > size - 5000:
                break
            strand = "+" if rng.random() < 0.5 else "-"
            counter_g += 1
            name = f"DMG{counter_g:03d}"
            gene = Gene(f"DEMOG{counter_g:05d}", name, chrom, strand, pos, pos + length)
            exons, alt, skip = _exon_layout(rng, length)
            variants = [exons]
            if alt is not None:
                variants.append([alt] + exons[1:])
            if skip is not None:
                variants.append(exons[:skip] + exons[skip + 1:])
            for j, ex in enumerate(variants):
                counter_t += 1
                g_ex = sorted(_to_genome(e, strand, gene.start, gene.end) for e in ex)
                gene.transcripts.append(Transcript(f"DEMOT{counter_t:05d}", f"{name}-{201 + j}", g_ex))
            genes.append(gene)
            pos += length + int(rng.integers(2500, 10000))
    return genes


def transcript_tss(t: Transcript, strand: str) -> int:
    return t.exons[0][0] if strand == "+" else t.exons[-1][1] - 1


def gtf_text(genes: list[Gene]) -> str:
    lines = ["#description: synthetic demo genome annotation (tools.demo.genome_gen)",
             "#format: GTF 1-based closed coordinates"]

    def row(chrom, feature, s, e, strand, attrs):
        a = " ".join(f'{k} "{v}";' for k, v in attrs)
        return "\t".join([chrom, "seqnn_demo", feature, str(s + 1), str(e), ".", strand, ".", a])

    for g in genes:
        gattrs = [("gene_id", g.gene_id), ("gene_name", g.name), ("gene_type", "protein_coding")]
        lines.append(row(g.chrom, "gene", g.start, g.end, g.strand, gattrs))
        for t in g.transcripts:
            tattrs = gattrs[:2] + [("transcript_id", t.transcript_id), ("transcript_name", t.name),
                                   ("gene_type", "protein_coding"), ("transcript_type", "protein_coding")]
            lines.append(row(g.chrom, "transcript", t.exons[0][0], t.exons[-1][1], g.strand, tattrs))
            order = t.exons if g.strand == "+" else t.exons[::-1]
            for i, (s, e) in enumerate(order, 1):
                lines.append(row(g.chrom, "exon", s, e, g.strand, tattrs + [("exon_number", str(i))]))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- planting


class Planter:
    """Places motif sites into one chromosome under the rules in the module docstring."""

    def __init__(self, chrom, seq, rng, motifs):
        self.chrom, self.seq, self.rng, self.motifs = chrom, seq, rng, motifs
        n = seq.shape[0]
        self.occupied = np.zeros(n, bool)  # sites dilated by SITE_GAP
        self.zone = np.zeros(n, bool)  # promoter zones
        self.near_spi1 = np.zeros(n, bool)
        self.near_cebpb = np.zeros(n, bool)
        self.halo = np.zeros(n, bool)  # within DRIVER_HALO of a driver site
        self.sites = []  # (start, end, name, rel, strand, role)
        self.pool = {name: [] for name in motifs}

    def _draw(self, name):
        if not self.pool[name]:
            s, r = self.motifs[name].sample(self.rng, 256)
            self.pool[name] = list(zip(s, r))
        return self.pool[name].pop()

    def fits(self, name, s, in_zone=False, in_halo_ok=True):
        m = self.motifs[name]
        e = s + m.length
        if s < 0 or e > self.seq.shape[0] or self.occupied[s:e].any():
            return False
        if not in_zone and self.zone[s:e].any():
            return False
        if not in_zone and name == "SPI1" and self.near_cebpb[s:e].any():
            return False
        if not in_zone and name == "CEBPB" and self.near_spi1[s:e].any():
            return False
        if not in_halo_ok and m.role == "driver" and self.halo[s:e].any():
            return False
        return True

    def put(self, name, s, strand):
        m = self.motifs[name]
        e = s + m.length
        site, rel = self._draw(name)
        self.seq[s:e] = site if strand == "+" else (3 - site[::-1])
        n = self.seq.shape[0]
        self.occupied[max(0, s - SITE_GAP): min(n, e + SITE_GAP)] = True
        if name == "SPI1":
            self.near_spi1[max(0, s - PAIR_EXCLUSION): e + PAIR_EXCLUSION] = True
        if name == "CEBPB":
            self.near_cebpb[max(0, s - PAIR_EXCLUSION): e + PAIR_EXCLUSION] = True
        if m.role == "driver":
            self.halo[max(0, s - DRIVER_HALO): e + DRIVER_HALO] = True
        self.sites.append((s, e, name, float(rel), strand, m.role))
        return s, e

    def try_put(self, name, lo, hi, strand=None, in_zone=False, tries=60):
        """Place ``name`` fully inside [lo, hi); random strand unless given. Returns (s, e) or None."""
        m = self.motifs[name]
        if hi - lo < m.length:
            return None
        for _ in range(tries):
            s = int(self.rng.integers(lo, hi - m.length + 1))
            if self.fits(name, s, in_zone=in_zone):
                st = strand or ("+" if self.rng.random() < 0.5 else "-")
                return self.put(name, s, st)
        return None

    # -- promoters ----------------------------------------------------------------------
    def promoter(self, t, strand, klass):
        n = self.seq.shape[0]
        zlo, zhi = max(0, t - PROMOTER_ZONE), min(n, t + PROMOTER_ZONE + 1)
        self.zone[zlo:zhi] = True
        up = (t - tracks_mod.PROMOTER_UPSTREAM_BP, t) if strand == "+" else (t + 1, t + 1 + tracks_mod.PROMOTER_UPSTREAM_BP)
        spi1_iv = None
        if klass in ("active", "repressed", "spi1_only"):
            L = self.motifs["SPI1"].length
            for _ in range(30):
                d = int(self.rng.integers(30, 51))
                s = t - d - L if strand == "+" else t + 1 + d
                if self.fits("SPI1", s, in_zone=True):
                    spi1_iv = self.put("SPI1", s, strand)
                    break
        if klass in ("active", "repressed", "cebpb_only"):
            if spi1_iv is None:
                lo, hi = (up[0], t - 20) if strand == "+" else (t + 21, up[1])
            elif strand == "+":
                lo, hi = up[0], spi1_iv[0] - SITE_GAP
            else:
                lo, hi = spi1_iv[1] + SITE_GAP, up[1]
            self.try_put("CEBPB", lo, hi, in_zone=True)
        if klass == "repressed":
            self.try_put("REST", zlo, zhi, in_zone=True)
        if self.rng.random() < 0.5:
            self.try_put("YY1", zlo, zhi, in_zone=True)
        if self.rng.random() < 0.2:
            self.try_put(str(self.rng.choice(["GATA1", "FOXA2"])), zlo, zhi, in_zone=True)

    # -- enhancer clusters and isolated sites ------------------------------------------
    def cluster(self, tries=200):
        drivers = list(motif_mod.DRIVERS)
        k = int(self.rng.integers(2, 5))
        names = [str(self.rng.choice(drivers))]
        for _ in range(k - 1):
            forbidden = {"SPI1": "CEBPB", "CEBPB": "SPI1"}
            banned = {forbidden[x] for x in names if x in forbidden}
            names.append(str(self.rng.choice([d for d in drivers if d not in banned])))
        if self.rng.random() < 0.5:
            names.insert(int(self.rng.integers(0, len(names) + 1)), str(self.rng.choice(motif_mod.DECOYS)))
        gaps = [int(self.rng.integers(15, 121)) for _ in range(len(names) - 1)]
        span = sum(self.motifs[x].length for x in names) + sum(gaps)
        n = self.seq.shape[0]
        for _ in range(tries):
            s0 = int(self.rng.integers(1000, n - span - 1000))
            starts, s = [], s0
            for i, x in enumerate(names):
                starts.append(s)
                s += self.motifs[x].length + (gaps[i] if i < len(gaps) else 0)
            if self.halo[s0: s0 + span].any():
                continue
            if all(self.fits(x, st) for x, st in zip(names, starts)):
                for x, st in zip(names, starts):
                    self.put(x, st, "+" if self.rng.random() < 0.5 else "-")
                return True
        return False

    def isolated(self, name, tries=200):
        n = self.seq.shape[0]
        for _ in range(tries):
            s = int(self.rng.integers(1000, n - 1000))
            if self.fits(name, s, in_halo_ok=False):
                self.put(name, s, "+" if self.rng.random() < 0.5 else "-")
                return True
        return False


def clean_spurious(seq, sites, motifs, chrom, log=None) -> int:
    """Break every strong unplanted driver match (relative score >= CLEAN_MIN_RELATIVE).

    Mutates ``seq`` in place; planted bases are never touched. Returns the number of
    point mutations made.
    """
    protected = np.zeros(seq.shape[0], bool)
    planted = {}
    for s, e, name, _, _, _ in sites:
        protected[s:e] = True
        planted.setdefault(name, set()).add(s)
    n_mut = 0
    for _ in range(50):
        changed = 0
        for name in motif_mod.DRIVERS:
            m = motifs[name]
            thr = CLEAN_MIN_RELATIVE * m.max_score
            fwd, rev = m.scan(seq)
            for strand, sc in (("+", fwd), ("-", rev)):
                hits = np.flatnonzero(sc >= thr)
                hits = np.array([h for h in hits if h not in planted.get(name, ())], dtype=np.int64)
                if hits.size == 0:
                    continue
                w = m.logodds if strand == "+" else m.logodds[::-1, ::-1]
                gain = w.max(axis=1) - w.min(axis=1)
                worst = w.argmin(axis=1)
                for h in hits:
                    cols = np.flatnonzero(~protected[h: h + m.length])
                    if cols.size == 0:
                        raise RuntimeError(f"{chrom}:{h} strong {name} match lies inside planted sites")
                    # biggest possible drop among unprotected positions
                    cur = w[cols, seq[h + cols]] - w[cols, worst[cols]]
                    i = cols[int(np.argmax(cur))]
                    if cur.max() <= 0:
                        i = cols[int(np.argmax(gain[cols]))]
                    seq[h + i] = worst[i]
                    changed += 1
        n_mut += changed
        if changed == 0:
            return n_mut
    raise RuntimeError(f"{chrom}: cleaning did not converge")


# ----------------------------------------------------------------------------- output


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fasta_record(name: str, seq: str, width: int = FASTA_WIDTH) -> str:
    return f">{name}\n" + "".join(seq[i: i + width] + "\n" for i in range(0, len(seq), width))


def decode(idx: np.ndarray) -> str:
    return np.frombuffer(b"ACGT", np.uint8)[idx].tobytes().decode("ascii")


def bed_text(chrom_sites: dict) -> str:
    lines = []
    for chrom in sorted(chrom_sites):
        for s, e, name, rel, strand, role in sorted(chrom_sites[chrom]):
            lines.append(f"{chrom}\t{s}\t{e}\t{name}\t{int(round(1000 * rel))}\t{strand}\t{role}")
    return "\n".join(lines) + "\n"


def _examples(seqs: dict, genes: list[Gene], out_dir: Path, rng) -> None:
    """Write examples/promoter_windows.fa and examples/mixed.fa from the generated genome."""
    ex = out_dir / "examples"
    ex.mkdir(parents=True, exist_ok=True)
    active = []
    table = {(r["chrom"], r["pos"], r["strand"]): r["magnitude"] for r in tracks_mod.tss_table(out_dir)}
    for g in genes:
        if g.chrom not in TEST_CHROMS:
            continue
        t = transcript_tss(g.transcripts[0], g.strand)
        if table.get((g.chrom, t, g.strand), 0) > 0 and 2048 <= t <= len(seqs[g.chrom]) - 2048:
            active.append((g, t))
    plus = [a for a in active if a[0].strand == "+"][:2]
    minus = [a for a in active if a[0].strand == "-"][:2]
    recs = []
    for g, t in plus + minus:
        s, e = t - 2048, t + 2048
        recs.append(_fasta_record(f"{g.name}_TSS {g.chrom}:{s + 1}-{e} strand={g.strand} "
                                  f"(4096 bp centred on the TSS; held-out chromosome)", seqs[g.chrom][s:e]))
    (ex / "promoter_windows.fa").write_text("".join(recs))

    g, t = plus[0]
    chrom = g.chrom
    mixed = []
    ctcf = motif_mod.load_motifs()["CTCF"]
    consensus = decode(ctcf.logodds.argmax(axis=1))
    mixed.append(_fasta_record("short_ctcf 60 bp with the CTCF MA0139.2 consensus in the middle",
                               seqs[chrom][t - 1000: t - 978] + consensus + seqs[chrom][t - 963: t - 940]))
    mixed.append(_fasta_record(f"lowercase_promoter {g.name} TSS region in lower case (1000 bp)",
                               seqs[chrom][t - 500: t + 500].lower()))
    s0 = t - 2048
    body = seqs[chrom][s0: s0 + 4096]
    body = body[:1800] + "N" * 200 + body[2000:]
    mixed.append(_fasta_record(f"with_N_gap {chrom}:{s0 + 1}-{s0 + 4096} with positions 1801-2000 set to N",
                               body))
    iu = list(seqs[chrom][t + 3000: t + 3300])
    for p, code in zip((10, 50, 120, 200, 290), "RYSWK"):
        iu[p] = code
    mixed.append(_fasta_record("iupac_codes 300 bp with 5 IUPAC ambiguity codes (R, Y, S, W, K)", "".join(iu)))
    mixed.append(_fasta_record("tiny 8 bp record", "ACGTTGCA"))
    (ex / "mixed.fa").write_text("".join(mixed))


def generate(out_dir, seed: int = SEED, chrom_sizes=None, log=print) -> dict:
    """Generate the demo genome into ``out_dir``; returns the metadata written to genome_meta.json."""
    import pysam

    t0 = time.time()
    chrom_sizes = dict(chrom_sizes or CHROM_SIZES)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    motifs = motif_mod.load_motifs()

    seq_idx = {c: markov_background(rng, n) for c, n in chrom_sizes.items()}
    genes = layout_genes(rng, chrom_sizes)

    chrom_sites, promoter_counts, n_mut = {}, {}, 0
    for chrom, n in chrom_sizes.items():
        pl = Planter(chrom, seq_idx[chrom], rng, motifs)
        tss = sorted({(transcript_tss(t, g.strand), g.strand) for g in genes if g.chrom == chrom
                      for t in g.transcripts})
        names, probs = zip(*PROMOTER_CLASSES)
        for t, strand in tss:
            klass = str(rng.choice(names, p=probs))
            promoter_counts[klass] = promoter_counts.get(klass, 0) + 1
            pl.promoter(t, strand, klass)
        for _ in range(int(n * CLUSTERS_PER_BP)):
            pl.cluster()
        drivers = list(motif_mod.DRIVERS)
        for _ in range(int(n * ISOLATED_DRIVERS_PER_BP)):
            pl.isolated(str(rng.choice(drivers)))
        for _ in range(int(n * ISOLATED_DECOYS_PER_BP)):
            pl.isolated(str(rng.choice(motif_mod.DECOYS)))
        n_mut += clean_spurious(pl.seq, pl.sites, motifs, chrom)
        chrom_sites[chrom] = pl.sites

    seqs = {c: decode(seq_idx[c]) for c in chrom_sizes}
    gc = sum(s.count("G") + s.count("C") for s in seqs.values()) / sum(chrom_sizes.values())

    # files
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "genome.fa"
        with open(plain, "w") as fh:
            for c in chrom_sizes:
                fh.write(_fasta_record(c, seqs[c]))
        for suffix in ("", ".fai", ".gzi"):
            p = out / f"genome.fa.gz{suffix}"
            if p.exists():
                p.unlink()
        pysam.tabix_compress(str(plain), str(out / "genome.fa.gz"), force=True)
    pysam.faidx(str(out / "genome.fa.gz"))
    gtf = gtf_text(genes)
    bed = bed_text(chrom_sites)
    targets = tracks_mod.targets_txt()
    (out / "genes.gtf").write_text(gtf)
    (out / "motif_sites.bed").write_text(bed)
    (out / "targets.txt").write_text(targets)

    all_sites = [s for v in chrom_sites.values() for s in v]
    n_driver = sum(1 for s in all_sites if s[5] == "driver")
    meta = {
        "generator": "tools.demo.genome_gen",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "chrom_sizes": chrom_sizes,
        "total_bp": sum(chrom_sizes.values()),
        "test_chroms": list(TEST_CHROMS),
        "train_chroms": [c for c in chrom_sizes if c not in TEST_CHROMS],
        "bin_size": tracks_mod.DEFAULT_BIN_SIZE,
        "suggested_seq_length": 4096,
        "tracks": list(tracks_mod.TRACK_NAMES),
        "motif_matrices": {m.name: m.matrix_id for m in motifs.values()},
        "jaspar_release": motif_mod.matrix_metadata()["release"],
        "gc_content": round(gc, 5),
        "n_genes": len(genes),
        "n_genes_plus": sum(g.strand == "+" for g in genes),
        "n_genes_minus": sum(g.strand == "-" for g in genes),
        "n_transcripts": sum(len(g.transcripts) for g in genes),
        "n_genes_alt_tss": sum(len({transcript_tss(t, g.strand) for t in g.transcripts}) > 1 for g in genes),
        "promoter_classes": dict(sorted(promoter_counts.items())),
        "n_sites": len(all_sites),
        "n_driver_sites": n_driver,
        "n_decoy_sites": len(all_sites) - n_driver,
        "sites_per_motif": {m: sum(1 for s in all_sites if s[2] == m) for m in motifs},
        "driver_sites_per_4096bp": round(n_driver * 4096 / sum(chrom_sizes.values()), 3),
        "cleaning_point_mutations": n_mut,
        "sha256": {
            "sequence": {c: _sha(seqs[c].encode()) for c in chrom_sizes},
            "genes.gtf": _sha(gtf.encode()),
            "motif_sites.bed": _sha(bed.encode()),
            "targets.txt": _sha(targets.encode()),
        },
    }
    with open(out / "genome_meta.json", "w") as fh:
        json.dump(meta, fh, indent=1)
        fh.write("\n")
    _examples(seqs, genes, out, rng)
    log(f"demo genome: {meta['total_bp']} bp, GC {gc:.4f}, {len(genes)} genes, {len(all_sites)} sites "
        f"({n_driver} drivers), {n_mut} cleaning mutations, {time.time() - t0:.1f} s -> {out}")
    return meta


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Generate the seeded synthetic demo genome.")
    ap.add_argument("--out", default="assets/demo", help="output directory (default assets/demo)")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    generate(args.out, seed=args.seed, log=lambda m: print(m, file=sys.stderr))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
