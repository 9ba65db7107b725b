"""Name seqlets (or any motif-like matrices) with TOMTOM matches against a motif database (memelite).

Query matrices (each ``(W, 4)``, columns A C G T) come from a seqlet by :func:`seqlet_queries`:

- ``"contribution"`` (default): the contribution of the present base, sign-corrected (a negative
  seqlet's contributions are negated) and clipped at 0, scaled so the largest column sums to 1:
  strongly contributing bases look like certain letters, bases that do not contribute like empty
  columns;
- ``"hypothetical"``: the hypothetical contributions of every base (needs them), sign-corrected,
  each column shifted to a minimum of 0, scaled like the above;
- ``"sequence"``: the one-hot sequence of the seqlet (tangermeme's choice).

On the demo's held-out windows (saliency, benchmarks/motif_truth.py) the planted JASPAR ID was among
the 3 best matches of 97% of recovered sites with contribution queries, 96% with sequence queries
(82% first, against 71%) and 17% with hypothetical queries of the centred gradient.

:func:`tomtom_matches` compares every query with every motif of a :class:`~.meme.MotifSet` on both
strands (memelite's TOMTOM, complete scores) and keeps the ``top`` best, ranked by p-value (ties:
by q-value, then the longer alignment, then database order). q-values are Benjamini-Hochberg over
all motifs of the database for each query (the false discovery rate among that query's matches), so
several matches often share one q-value: the p-value is what orders them. A match is kept only when
its q-value is at most ``max_q``. The same ranking names seqlets (:func:`annotate_seqlets`: the
table's ``name``, ``motif_ids`` and strand) and TF-MoDISco patterns (:func:`~.modisco.match_patterns`).
"""
from __future__ import annotations

import warnings
from typing import Optional, Sequence

import numpy as np

from ..errors import InputError
from .meme import MotifSet, load_motifs
from .seqlet_table import MotifMatches, SeqletTable

QUERY_KINDS = ("contribution", "hypothetical", "sequence")
CHUNK = 256   # queries per TOMTOM call (the full (queries, motifs) p-value matrix is held per chunk)


def _bh_rows(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of each row of ``p`` (Q, T) over its T tests."""
    Q, T = p.shape
    order = np.argsort(p, axis=1, kind="stable")
    ps = np.take_along_axis(p, order, axis=1)
    q = ps * T / np.arange(1, T + 1)[None]
    q = np.minimum.accumulate(q[:, ::-1], axis=1)[:, ::-1]
    out = np.empty_like(q)
    np.put_along_axis(out, order, np.minimum(q, 1.0), axis=1)
    return out


def _rank_rows(p: np.ndarray, q: np.ndarray, overlap: np.ndarray) -> np.ndarray:
    """(Q, T) column order of each row: smallest p-value first, then smallest q-value, then the
    longest alignment (TOMTOM's overlap), then database order."""
    T = p.shape[1]
    out = np.empty(p.shape, np.int64)
    for r in range(p.shape[0]):
        out[r] = np.lexsort((np.arange(T), -np.asarray(overlap[r], np.float64), q[r], p[r]))
    return out


def tomtom_matches(queries: Sequence[np.ndarray], motifs: Optional[MotifSet] = None, top: int = 3,
                   max_q: float = 0.5, n_jobs: int = -1) -> MotifMatches:
    """The ``top`` best TOMTOM matches of each query matrix.

    queries: N arrays of shape (W_i, 4) (columns A C G T; non-negative, at least one non-zero
        value each; W_i >= 1);
    motifs: the database (default: bundled JASPAR 2024 CORE vertebrates non-redundant);
    top: matches kept per query (1..50); max_q: q-value bound for a match to be kept.

    Returns :class:`~.seqlet_table.MotifMatches` with (N, top) arrays; strand '+' when the motif reads
    on the query as given, '-' when its reverse complement does.
    """
    from memelite import tomtom

    db = load_motifs() if motifs is None else motifs
    if not 1 <= int(top) <= 50:
        raise InputError(f"top must be in 1..50, got {top}")
    if not 0 < float(max_q) <= 1:
        raise InputError(f"max_q must be in (0, 1], got {max_q}")
    top = int(top)
    N = len(queries)
    ids = np.full((N, top), "", dtype=object)
    names = np.full((N, top), "", dtype=object)
    pv = np.full((N, top), np.nan)
    qv = np.full((N, top), np.nan)
    strand = np.full((N, top), "", dtype="<U1")
    offset = np.zeros((N, top), dtype=np.int64)
    Qs = []
    for i, q in enumerate(queries):
        a = np.asarray(q, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != 4 or a.shape[0] < 1:
            raise InputError(f"query {i} must be a (width, 4) matrix, got shape {a.shape}")
        if not np.all(np.isfinite(a)) or a.min() < 0:
            raise InputError(f"query {i} must hold finite non-negative values")
        Qs.append(np.asfortranarray(a.T))
    ok = [i for i, a in enumerate(Qs) if a.max() > 0]
    Ts = [np.asfortranarray(p.T) for p in db.probs]
    for c0 in range(0, len(ok), CHUNK):
        rows = ok[c0:c0 + CHUNK]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # memelite warns on small databases (< 25 motifs)
            p, _, offs, overlap, strands = tomtom([Qs[i] for i in rows], Ts, n_jobs=n_jobs)
        q = _bh_rows(p)
        best = _rank_rows(p, q, overlap)[:, :top]
        for r, i in enumerate(rows):
            k = 0
            for t in best[r]:
                if q[r, t] > max_q:
                    break
                ids[i, k], names[i, k] = db.ids[t], db.names[t]
                pv[i, k], qv[i, k] = p[r, t], q[r, t]
                strand[i, k] = "-" if strands[r, t] > 0.5 else "+"
                offset[i, k] = int(offs[r, t])
                k += 1
    return MotifMatches(ids, names, pv, qv, strand, offset, database=db.source, max_q=float(max_q))


def seqlet_queries(table: SeqletTable, onehot: np.ndarray, hypothetical: Optional[np.ndarray] = None,
                   contributions: Optional[np.ndarray] = None, kind: str = "contribution") -> list[np.ndarray]:
    """One (W, 4) query matrix per seqlet (see the module docstring for ``kind``), over the seqlet's
    core span (``table.core_start:core_end``: the significant window it grew from, without the
    opposite-sign neighbours that joined it, whose empty columns would favour long motifs).

    onehot: (S, L, 4) the sequences; hypothetical: (S, L, 4) hypothetical contributions;
    contributions: (S, L) contribution of the present base (default: ``sum(hypothetical * onehot)``,
    or, without hypothetical scores, the table cannot build contribution queries).
    """
    if kind not in QUERY_KINDS:
        raise InputError(f"query kind must be one of {QUERY_KINDS}, got {kind!r}")
    x = np.asarray(onehot, dtype=np.float64)
    if x.ndim != 3 or x.shape[-1] != 4:
        raise InputError(f"one-hot sequences must be (S, L, 4), got {x.shape}")
    h = None if hypothetical is None else np.asarray(hypothetical, dtype=np.float64)
    if h is not None and h.shape != x.shape:
        raise InputError(f"hypothetical scores {h.shape} differ from the one-hot shape {x.shape}")
    if kind == "hypothetical" and h is None:
        raise InputError("hypothetical queries need the hypothetical contributions")
    c = None
    if kind == "contribution":
        if contributions is not None:
            c = np.asarray(contributions, dtype=np.float64)
        elif h is not None:
            c = (h * x).sum(-1)
        else:
            raise InputError("contribution queries need the contributions or the hypothetical scores")
        if c.shape != x.shape[:2]:
            raise InputError(f"contributions {c.shape} must be (S, L) = {x.shape[:2]}")
    out = []
    for s, a, b, sg in zip(table.seq, table.core_start, table.core_end, table.sign):
        if kind == "sequence":
            m = x[s, a:b].copy()
        elif kind == "contribution":
            m = np.clip(sg * c[s, a:b], 0, None)[:, None] * x[s, a:b]
        else:
            m = sg * h[s, a:b]
            m = m - m.min(1, keepdims=True)
        tot = m.sum(1).max() if m.size else 0.0
        out.append(m / tot if tot > 0 else m)
    return out


def annotate_seqlets(table: SeqletTable, onehot: np.ndarray, hypothetical: Optional[np.ndarray] = None,
                     contributions: Optional[np.ndarray] = None, motifs: Optional[MotifSet] = None,
                     top: int = 3, max_q: float = 0.5, query: str = "contribution") -> SeqletTable:
    """``table`` with its TOMTOM matches (:meth:`SeqletTable.with_matches`): the ``top`` best motifs of
    ``motifs`` (default bundled JASPAR) for each seqlet's query matrix (:func:`seqlet_queries`);
    ``strand`` becomes the best match's strand ('.' when no match passes ``max_q``).

    onehot: (S, L, 4); hypothetical: (S, L, 4) or None; contributions: (S, L) or None.
    """
    queries = seqlet_queries(table, onehot, hypothetical, contributions, query)
    return table.with_matches(tomtom_matches(queries, motifs, top=top, max_q=max_q))
