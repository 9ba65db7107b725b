"""Transcription-factor motifs of the demo genome (vendored JASPAR 2024 matrices).

The matrices live in ``jaspar_2024.json`` beside this module (extracted once by
``jaspar_extract.py``; see that file for provenance). Roles: drivers (CTCF, SPI1, CEBPB,
REST) shape the demo's target tracks; decoys (GATA1, YY1, FOXA2) are planted in the
genome but drive nothing.

Scoring, used everywhere in the demo (generator, tracks, tests):

- background base frequencies ``BACKGROUND`` = A 0.295, C 0.205, G 0.205, T 0.295
  (the stationary composition of the generator's Markov chain, 41% GC);
- probabilities ``p[i, b] = (count[i, b] + 0.25) / (sum_b count[i, b] + 1)``;
- log-odds ``W[i, b] = log2(p[i, b] / BACKGROUND[b])`` (bits), shape ``(L, 4)``;
- the score of a length-L sequence ``s`` on the forward strand is ``sum_i W[i, s_i]``; a
  site on '-' is scored on its reverse complement;
- the relative score is ``score / max_score`` with ``max_score = sum_i max_b W[i, b]``.

Planted sites are samples from ``p`` kept only when their relative score is at least
``PLANT_MIN_RELATIVE`` (0.8).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

MATRIX_FILE = Path(__file__).with_name("jaspar_2024.json")
BACKGROUND = np.array([0.295, 0.205, 0.205, 0.295])
PSEUDOCOUNT = 1.0  # total per position, spread evenly (0.25 per base)
PLANT_MIN_RELATIVE = 0.8
DRIVERS = ("CTCF", "SPI1", "CEBPB", "REST")
DECOYS = ("GATA1", "YY1", "FOXA2")


@dataclass(frozen=True)
class Motif:
    """One vendored JASPAR matrix.

    counts: (L, 4) float64 position frequency matrix, columns A C G T.
    probs: (L, 4) float64 per-position base probabilities (pseudocounted).
    logodds: (L, 4) float64 log2(probs / BACKGROUND).
    """

    name: str
    matrix_id: str
    jaspar_name: str
    role: str
    counts: np.ndarray
    probs: np.ndarray
    logodds: np.ndarray

    @property
    def length(self) -> int:
        return int(self.counts.shape[0])

    @property
    def max_score(self) -> float:
        return float(self.logodds.max(axis=1).sum())

    @property
    def min_score(self) -> float:
        return float(self.logodds.min(axis=1).sum())

    def score_indices(self, idx: np.ndarray, strand: str = "+") -> float:
        """Log-odds score of one site given as (L,) base indices (A0 C1 G2 T3).

        ``strand='-'`` scores the reverse complement of ``idx`` (the site as read on '-').
        """
        idx = np.asarray(idx, dtype=np.int64)
        if idx.shape != (self.length,):
            raise ValueError(f"{self.name} sites have {self.length} bp, got {idx.shape}")
        if np.any((idx < 0) | (idx > 3)):
            return float("-inf")
        if strand == "-":
            idx = 3 - idx[::-1]
        return float(self.logodds[np.arange(self.length), idx].sum())

    def scan(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores of every length-L window of a (N,) index array on both strands.

        Returns (fwd, rev), each (N - L + 1,) float32: ``fwd[i]`` scores ``idx[i:i+L]``
        as read on '+', ``rev[i]`` scores the same bases read on '-'. Positions holding
        an index > 3 (N) score -inf.
        """
        idx = np.asarray(idx)
        n = idx.shape[0] - self.length + 1
        if n <= 0:
            empty = np.zeros(0, np.float32)
            return empty, empty
        # a 5th column for N makes any window containing N score -inf
        w = np.concatenate([self.logodds, np.full((self.length, 1), -np.inf)], axis=1).astype(np.float32)
        rc = w[::-1, [3, 2, 1, 0, 4]]  # reverse-complement matrix
        safe = np.minimum(idx, 4)
        fwd = np.zeros(n, np.float32)
        rev = np.zeros(n, np.float32)
        for i in range(self.length):
            col = safe[i : i + n]
            fwd += w[i][col]
            rev += rc[i][col]
        return fwd, rev

    def sample(self, rng: np.random.Generator, n: int, min_relative: float = PLANT_MIN_RELATIVE):
        """Draw ``n`` sites from ``probs`` whose relative score is >= ``min_relative``.

        Returns (sites (n, L) uint8 indices read on the motif's own strand, relative
        scores (n,) float64). Rejection sampling in vectorised batches.
        """
        out, rel = [], []
        have = 0
        cum = np.cumsum(self.probs, axis=1)
        cum[:, -1] = 1.0
        while have < n:
            batch = max(64, 4 * (n - have))
            u = rng.random((batch, self.length))
            draws = (u[:, :, None] >= cum[None, :, :]).sum(axis=2).astype(np.uint8)
            scores = self.logodds[np.arange(self.length)[None, :], draws].sum(axis=1) / self.max_score
            keep = scores >= min_relative
            out.append(draws[keep])
            rel.append(scores[keep])
            have += int(keep.sum())
        return np.concatenate(out)[:n], np.concatenate(rel)[:n]


def _build(entry: dict) -> Motif:
    counts = np.asarray(entry["counts_ACGT"], dtype=np.float64)
    probs = (counts + PSEUDOCOUNT / 4) / (counts.sum(axis=1, keepdims=True) + PSEUDOCOUNT)
    logodds = np.log2(probs / BACKGROUND[None, :])
    return Motif(
        name=entry["name"],
        matrix_id=entry["matrix_id"],
        jaspar_name=entry["jaspar_name"],
        role=entry["role"],
        counts=counts,
        probs=probs,
        logodds=logodds,
    )


@lru_cache(maxsize=1)
def _load() -> tuple[dict, tuple]:
    with open(MATRIX_FILE) as fh:
        data = json.load(fh)
    motifs = tuple(_build(e) for e in data["motifs"])
    meta = {k: v for k, v in data.items() if k != "motifs"}
    return meta, motifs


def load_motifs() -> dict[str, Motif]:
    """All vendored motifs keyed by demo name (CTCF, SPI1, CEBPB, REST, GATA1, YY1, FOXA2)."""
    return {m.name: m for m in _load()[1]}


def matrix_metadata() -> dict:
    """Release, source, license and extraction note of the vendored file."""
    return dict(_load()[0])
