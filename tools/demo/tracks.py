"""Exact target tracks of the demo genome: documented functions of its planted sites and TSSs.

Every track is computed from two files of a demo genome directory: ``motif_sites.bed``
(planted sites; the genome sequence at each site is the sampled motif instance) and
``genes.gtf`` (transcripts, hence TSSs). Nothing is random here: the same window always
gives the same numbers, so targets can be recomputed for any window, for training and for
held-out evaluation alike.

Notation
--------
- Coordinates are 0-based; base ``i`` occupies the real interval ``[i, i + 1)``.
- A site ``k`` with BED interval ``[s_k, e_k)`` has centre ``c_k = (s_k + e_k) / 2`` and
  weight ``w_k = score_k / 1000`` (the BED score is ``round(1000 * relative log-odds
  score)``, so ``0.8 <= w_k <= 1``; see :mod:`tools.demo.motifs`).
- ``G(x; c, sigma) = exp(-(x - c)^2 / (2 sigma^2))`` for ``|x - c| <= 4 sigma``, else 0
  (a Gaussian bump truncated at 4 sigma).
- Each track is a density ``f(x)`` over the genome; the value of a bin covering
  ``[a, a + B)`` (``B = bin_size``, 32 by default) is its mean, ``(1/B) * integral_a^{a+B}
  f(x) dx``, evaluated in closed form with ``erf``.

Tracks (index, identifier: density)
-----------------------------------
0. ``CTCF``: ``3.0 * sum_{k in CTCF} w_k G(x; c_k, 48)``
1. ``SPI1``: ``2.0 * sum_{k in SPI1} w_k G(x; c_k, 48)``
2. ``CEBPB``: ``2.0 * sum_{k in CEBPB} w_k G(x; c_k, 48)``
3. ``REST``: ``2.5 * sum_{k in REST} w_k G(x; c_k, 48)``
4. ``ATAC`` (accessibility): ``1.0 * sum_{k in drivers} w_k G(x; c_k, 80)``; decoy sites
   (GATA1, YY1, FOXA2) contribute nothing.
5. ``H3K27ac`` (cooperative mark): ``1.5 * sum_{k in drivers, n_k >= 1} w_k G(x; c_k, 150)``
   where ``n_k`` is the number of OTHER driver sites on the same chromosome whose centre
   lies within 300 bp of ``c_k`` (``|c_j - c_k| <= 300``). Isolated sites add nothing.
6. ``CAGE+`` and 7. ``CAGE-``: ``sum_{t} m_t G(x; t + 0.5, 24)`` over the distinct TSSs
   ``t`` of transcripts on that strand (``t`` = first transcribed base: the transcript's
   start on '+', its last base ``end - 1`` on '-'). The magnitude follows an AND rule::

       up(t)  = [t - 200, t)        on '+';   [t + 1, t + 201) on '-'
       S(t)   = max w over SPI1 sites on the transcript's strand lying inside up(t)
       C(t)   = max w over CEBPB sites (either strand) lying inside up(t)
       m_t    = 6.0 * S(t) * C(t) * r(t)   when both exist, else 0
       r(t)   = 0.25 when a REST site (either strand) lies inside [t - 300, t + 301), else 1

   ("inside" means the whole site interval is contained.) SPI1 alone, CEBPB alone, or an
   SPI1 site on the opposite strand give no CAGE signal; REST represses.

``targets.txt`` pairs CAGE+ with CAGE- (``strand_pair``) and sets ``scale`` 1, ``clip_soft``
384, ``sum_stat`` mean, so the reference un-transform of these tracks is the identity
(values never approach ``clip_soft``).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.special import erf

from seqnn_engine.errors import InputError

DEFAULT_BIN_SIZE = 32
TRUNCATE_SIGMAS = 4.0
CHIP_SIGMA = 48.0
ACCESS_SIGMA = 80.0
K27_SIGMA = 150.0
CAGE_SIGMA = 24.0
CHIP_AMPLITUDE = {"CTCF": 3.0, "SPI1": 2.0, "CEBPB": 2.0, "REST": 2.5}
ACCESS_AMPLITUDE = 1.0
K27_AMPLITUDE = 1.5
K27_NEIGHBOUR_BP = 300.0
CAGE_AMPLITUDE = 6.0
PROMOTER_UPSTREAM_BP = 200
REST_RADIUS_BP = 300
REST_REPRESSION = 0.25
DRIVERS = ("CTCF", "SPI1", "CEBPB", "REST")


@dataclass(frozen=True)
class TrackSpec:
    """One demo target: its targets.txt identifier, description and strand partner index."""

    index: int
    identifier: str
    description: str
    strand_pair: int


TRACKS: tuple[TrackSpec, ...] = (
    TrackSpec(0, "CTCF", "ChIP:CTCF synthetic (planted MA0139.2 sites)", 0),
    TrackSpec(1, "SPI1", "ChIP:SPI1 synthetic (planted MA0080.7 sites)", 1),
    TrackSpec(2, "CEBPB", "ChIP:CEBPB synthetic (planted MA0466.4 sites)", 2),
    TrackSpec(3, "REST", "ChIP:REST synthetic (planted MA0138.3 sites)", 3),
    TrackSpec(4, "ATAC", "ATAC:accessibility synthetic (all driver sites)", 4),
    TrackSpec(5, "H3K27ac", "ChIP:H3K27ac synthetic (driver sites with a driver neighbour)", 5),
    TrackSpec(6, "CAGE+", "CAGE:TSS + strand synthetic (SPI1 AND CEBPB promoter rule)", 7),
    TrackSpec(7, "CAGE-", "CAGE:TSS - strand synthetic (SPI1 AND CEBPB promoter rule)", 6),
)
TRACK_NAMES = tuple(t.identifier for t in TRACKS)


def targets_txt() -> str:
    """The demo's targets.txt in the reference tab-separated layout (header + one row per track)."""
    cols = ["", "identifier", "file", "clip", "clip_soft", "scale", "sum_stat", "strand_pair", "description"]
    lines = ["\t".join(cols)]
    for t in TRACKS:
        row = [str(t.index), t.identifier, f"synthetic:{t.identifier}", "768", "384", "1.0", "mean",
               str(t.strand_pair), t.description]
        lines.append("\t".join(row))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- annotation


@dataclass(frozen=True)
class ChromAnnotation:
    """Per-chromosome arrays derived from motif_sites.bed and genes.gtf (sorted by position).

    site_start, site_end: (K,) int64 BED intervals; site_name: (K,) str; site_strand: (K,)
    '+'/'-'; site_weight: (K,) float64 = score / 1000; site_driver: (K,) bool;
    site_k27: (K,) bool (driver with a driver neighbour within 300 bp);
    tss_pos: (M,) int64; tss_strand: (M,) '+'/'-'; tss_magnitude: (M,) float64 = m_t.
    """

    site_start: np.ndarray
    site_end: np.ndarray
    site_name: np.ndarray
    site_strand: np.ndarray
    site_weight: np.ndarray
    site_driver: np.ndarray
    site_k27: np.ndarray
    tss_pos: np.ndarray
    tss_strand: np.ndarray
    tss_magnitude: np.ndarray

    @property
    def site_centre(self) -> np.ndarray:
        return (self.site_start + self.site_end) / 2.0


def read_sites(path) -> list[tuple]:
    """Rows of motif_sites.bed: (chrom, start, end, name, score int, strand, role)."""
    rows = []
    with open(path) as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            f = line.rstrip("\n").split("\t")
            if len(f) < 7:
                raise InputError(f"{path}: line {n} has {len(f)} columns; motif_sites.bed needs 7 "
                                 "(chrom, start, end, name, score, strand, role)")
            rows.append((f[0], int(f[1]), int(f[2]), f[3], int(f[4]), f[5], f[6]))
    return rows


def read_tss(path) -> list[tuple]:
    """Distinct transcript TSSs of a GTF: sorted (chrom, pos 0-based, strand) tuples."""
    out = set()
    with open(path) as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t")
            if len(f) < 9 or f[2] != "transcript":
                continue
            start0, end0 = int(f[3]) - 1, int(f[4])  # GTF 1-based closed -> 0-based half-open
            out.add((f[0], start0 if f[6] == "+" else end0 - 1, f[6]))
    return sorted(out)


def _cage_magnitude(pos, strand, s_start, s_end, s_name, s_strand, s_w) -> float:
    if strand == "+":
        lo, hi = pos - PROMOTER_UPSTREAM_BP, pos
    else:
        lo, hi = pos + 1, pos + 1 + PROMOTER_UPSTREAM_BP
    inside = (s_start >= lo) & (s_end <= hi)
    spi1 = inside & (s_name == "SPI1") & (s_strand == strand)
    cebpb = inside & (s_name == "CEBPB")
    if not spi1.any() or not cebpb.any():
        return 0.0
    m = CAGE_AMPLITUDE * s_w[spi1].max() * s_w[cebpb].max()
    near = (s_start >= pos - REST_RADIUS_BP) & (s_end <= pos + REST_RADIUS_BP + 1) & (s_name == "REST")
    if near.any():
        m *= REST_REPRESSION
    return float(m)


def _annotate(sites: list[tuple], tss: list[tuple]) -> dict[str, ChromAnnotation]:
    chroms = sorted({s[0] for s in sites} | {t[0] for t in tss})
    out = {}
    for chrom in chroms:
        rows = sorted((s for s in sites if s[0] == chrom), key=lambda s: (s[1], s[2], s[3]))
        st = np.array([r[1] for r in rows], np.int64)
        en = np.array([r[2] for r in rows], np.int64)
        name = np.array([r[3] for r in rows], dtype=object)
        strand = np.array([r[5] for r in rows], dtype=object)
        w = np.array([r[4] / 1000.0 for r in rows], np.float64)
        driver = np.array([r[6] == "driver" for r in rows], bool)
        centre = (st + en) / 2.0
        k27 = np.zeros(len(rows), bool)
        dc = centre[driver]
        if dc.size:
            lo = np.searchsorted(dc, dc - K27_NEIGHBOUR_BP, side="left")
            hi = np.searchsorted(dc, dc + K27_NEIGHBOUR_BP, side="right")
            k27[np.flatnonzero(driver)] = (hi - lo) >= 2  # itself + at least one other
        ts = [t for t in tss if t[0] == chrom]
        pos = np.array([t[1] for t in ts], np.int64)
        tstrand = np.array([t[2] for t in ts], dtype=object)
        mag = np.array([_cage_magnitude(p, s, st, en, name, strand, w) for p, s in zip(pos, tstrand)],
                       np.float64)
        out[chrom] = ChromAnnotation(st, en, name, strand, w, driver, k27, pos, tstrand, mag)
    return out


def _chrom_sizes(genome_dir: Path) -> dict[str, int]:
    for fai in (genome_dir / "genome.fa.gz.fai", genome_dir / "genome.fa.fai"):
        if fai.exists():
            with open(fai) as fh:
                return {f[0]: int(f[1]) for f in (line.split("\t") for line in fh if line.strip())}
    return {}


@lru_cache(maxsize=8)
def _load(genome_dir: str, stamp: tuple) -> tuple[dict[str, ChromAnnotation], dict[str, int]]:
    d = Path(genome_dir)
    return _annotate(read_sites(d / "motif_sites.bed"), read_tss(d / "genes.gtf")), _chrom_sizes(d)


def load_annotation(genome_dir) -> dict[str, ChromAnnotation]:
    """Per-chromosome annotation of a demo genome directory (cached until its files change)."""
    return _load_checked(genome_dir)[0]


def _load_checked(genome_dir):
    d = Path(genome_dir).resolve()
    paths = [d / "motif_sites.bed", d / "genes.gtf"]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise InputError(f"{d} is not a demo genome directory: missing {', '.join(missing)}")
    stamp = tuple((os.stat(p).st_mtime_ns, os.stat(p).st_size) for p in paths)
    return _load(str(d), stamp)


# ----------------------------------------------------------------------------- densities


def bump_bins(centres, amplitudes, sigma: float, start: int, n_bins: int, bin_size: int) -> np.ndarray:
    """Bin means of ``sum_k amplitudes[k] * G(x; centres[k], sigma)`` over ``n_bins`` bins.

    Bin ``b`` covers ``[start + b * bin_size, start + (b + 1) * bin_size)``. Returns (n_bins,)
    float64. Each truncated Gaussian is integrated exactly over every bin it touches.
    """
    out = np.zeros(n_bins, np.float64)
    c = np.asarray(centres, np.float64)
    a = np.asarray(amplitudes, np.float64)
    if c.size == 0 or n_bins == 0:
        return out
    half = TRUNCATE_SIGMAS * sigma
    first = np.floor((c - half - start) / bin_size).astype(np.int64)
    span = int(math.ceil(2 * half / bin_size)) + 2
    b = first[:, None] + np.arange(span)[None, :]  # (K, span) candidate bins
    lo = np.maximum(start + b * bin_size, (c - half)[:, None])
    hi = np.minimum(start + (b + 1) * bin_size, (c + half)[:, None])
    scale = sigma * math.sqrt(2.0)
    val = np.where(hi > lo, erf((hi - c[:, None]) / scale) - erf((lo - c[:, None]) / scale), 0.0)
    val *= (a * sigma * math.sqrt(math.pi / 2.0) / bin_size)[:, None]
    ok = (b >= 0) & (b < n_bins) & (hi > lo)
    np.add.at(out, b[ok], val[ok])
    return out


def compute_tracks(genome_dir, chrom: str, start: int, end: int, bin_size: int = DEFAULT_BIN_SIZE) -> np.ndarray:
    """Targets of the window ``[start, end)`` of ``chrom``: (bins, T) float32, T = len(TRACKS).

    ``bins = (end - start) / bin_size``; bin ``b`` covers ``[start + b*bin_size, start +
    (b+1)*bin_size)``. Windows may extend past the chromosome ends (nothing is planted
    there). Values follow the formulas in this module's docstring exactly.
    """
    start, end, bin_size = int(start), int(end), int(bin_size)
    if bin_size <= 0:
        raise InputError(f"bin_size must be a positive number of bp, got {bin_size}")
    if end <= start or (end - start) % bin_size:
        raise InputError(f"window [{start}, {end}) must be non-empty and a multiple of bin_size "
                         f"({bin_size} bp) long")
    ann, sizes = _load_checked(genome_dir)
    if chrom not in ann and chrom not in sizes:
        known = sorted(set(ann) | set(sizes))
        raise InputError(f"unknown chromosome {chrom!r}; the demo genome has {', '.join(known)}")
    n_bins = (end - start) // bin_size
    out = np.zeros((n_bins, len(TRACKS)), np.float64)
    a = ann.get(chrom)
    if a is None:
        return out.astype(np.float32)

    margin = TRUNCATE_SIGMAS * max(CHIP_SIGMA, ACCESS_SIGMA, K27_SIGMA, CAGE_SIGMA) + bin_size
    centre = a.site_centre
    near = (centre > start - margin) & (centre < end + margin)
    c, w, name = centre[near], a.site_weight[near], a.site_name[near]
    drv, k27 = a.site_driver[near], a.site_k27[near]
    for t, motif in enumerate(DRIVERS):
        sel = name == motif
        out[:, t] = bump_bins(c[sel], CHIP_AMPLITUDE[motif] * w[sel], CHIP_SIGMA, start, n_bins, bin_size)
    out[:, 4] = bump_bins(c[drv], ACCESS_AMPLITUDE * w[drv], ACCESS_SIGMA, start, n_bins, bin_size)
    out[:, 5] = bump_bins(c[k27], K27_AMPLITUDE * w[k27], K27_SIGMA, start, n_bins, bin_size)
    for t, strand in ((6, "+"), (7, "-")):
        sel = (a.tss_strand == strand) & (a.tss_magnitude > 0)
        sel &= (a.tss_pos > start - margin) & (a.tss_pos < end + margin)
        out[:, t] = bump_bins(a.tss_pos[sel] + 0.5, a.tss_magnitude[sel], CAGE_SIGMA, start, n_bins, bin_size)
    return out.astype(np.float32)


def tss_table(genome_dir) -> list[dict]:
    """Every distinct TSS with its CAGE magnitude m_t: dicts chrom, pos (0-based), strand, magnitude."""
    ann = load_annotation(genome_dir)
    return [
        {"chrom": ch, "pos": int(p), "strand": s, "magnitude": float(m)}
        for ch, a in ann.items()
        for p, s, m in zip(a.tss_pos, a.tss_strand, a.tss_magnitude)
    ]
