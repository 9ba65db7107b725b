"""FIMO (memelite) hits of chosen motifs in one-hot sequences.

The score of a site is FIMO's: ``sum_i log2((p[i, b_i] + eps) / 0.25)`` over the motif's positions
(``eps`` = 1e-4, uniform background); its p-value is the probability that a random uniform sequence
scores at least as much (memelite's exact score distribution, bins of 0.1 bit). Sites on '-' are
scored on the reverse complement; positions holding N (all-zero rows) never match.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..errors import InputError
from .meme import MotifSet, load_motifs


@dataclass
class FimoHits:
    """FIMO hits, sorted by sequence, then start.

    seq: (N,) int64 sequence index; start, end: (N,) int64 half-open input positions of the site;
    strand: (N,) '<U1' '+' or '-'; motif_id, motif_name: (N,) object str; score: (N,) float64
    (bits); p_value: (N,) float64.
    """

    seq: np.ndarray
    start: np.ndarray
    end: np.ndarray
    strand: np.ndarray
    motif_id: np.ndarray
    motif_name: np.ndarray
    score: np.ndarray
    p_value: np.ndarray

    def __len__(self) -> int:
        return int(len(self.seq))

    def to_tsv(self) -> str:
        """Header ``seq start end strand motif_id motif_name score p_value``, one row per hit."""
        lines = ["seq\tstart\tend\tstrand\tmotif_id\tmotif_name\tscore\tp_value"]
        for i in range(len(self)):
            lines.append(f"{self.seq[i]}\t{self.start[i]}\t{self.end[i]}\t{self.strand[i]}\t{self.motif_id[i]}\t"
                         f"{self.motif_name[i]}\t{self.score[i]:.4f}\t{self.p_value[i]:.3g}")
        return "\n".join(lines) + "\n"


def fimo_scan(onehot: np.ndarray, motifs: Optional[MotifSet] = None, select: Optional[Sequence[str]] = None,
              threshold: float = 1e-4, reverse_complement: bool = True) -> FimoHits:
    """Scan sequences for motifs with FIMO.

    onehot: (S, L, 4) or (L, 4) one-hot (A C G T; N = all-zero row);
    motifs: the database (default bundled JASPAR); select: ids or names to scan (default all of
    ``motifs``; see :meth:`MotifSet.index`); threshold: p-value bound (0 < threshold < 1);
    reverse_complement: scan '-' too.
    """
    from memelite import fimo

    x = np.asarray(onehot)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[-1] != 4:
        raise InputError(f"one-hot sequences must be (S, L, 4), got {np.shape(onehot)}")
    if not 0 < float(threshold) < 1:
        raise InputError(f"threshold must be between 0 and 1, got {threshold}")
    db = load_motifs() if motifs is None else motifs
    if select is not None:
        db = db.subset(list(select))
    if len(db) == 0:
        raise InputError("no motif to scan")
    xt = np.ascontiguousarray(np.transpose(x, (0, 2, 1)), dtype=np.float32)
    mats = {str(i): np.asfortranarray(p.T) for i, p in enumerate(db.probs)}
    frames = fimo(mats, xt, threshold=float(threshold), reverse_complement=bool(reverse_complement))
    cols = {k: [] for k in ("seq", "start", "end", "strand", "m", "score", "p")}
    for df in frames:
        if len(df) == 0:
            continue
        cols["seq"].append(df["sequence_name"].to_numpy(np.int64))
        cols["start"].append(df["start"].to_numpy(np.int64))
        cols["end"].append(df["end"].to_numpy(np.int64))
        cols["strand"].append(df["strand"].to_numpy(str))
        cols["m"].append(np.array([int(n) for n in df["motif_name"]], np.int64))
        cols["score"].append(df["score"].to_numpy(np.float64))
        cols["p"].append(df["p-value"].to_numpy(np.float64))
    if not cols["seq"]:
        e = np.zeros(0, np.int64)
        return FimoHits(e, e, e, np.zeros(0, "<U1"), np.zeros(0, object), np.zeros(0, object),
                        np.zeros(0), np.zeros(0))
    c = {k: np.concatenate(v) for k, v in cols.items()}
    order = np.lexsort((c["m"], c["start"], c["seq"]))
    ids = np.array(db.ids, dtype=object)
    names = np.array(db.names, dtype=object)
    return FimoHits(c["seq"][order], c["start"][order], c["end"][order], c["strand"][order].astype("<U1"),
                    ids[c["m"][order]], names[c["m"][order]], c["score"][order], c["p"][order])
