"""Dinucleotide-preserving shuffles of one-hot sequences (Altschul-Erikson Eulerian walk)."""
from __future__ import annotations

import numpy as np


def _symbols(onehot: np.ndarray) -> np.ndarray:
    """(L, 4) -> (L,) symbols 0..3, 4 for rows that are not one clear base (N)."""
    clear = np.isclose(onehot.sum(-1), 1.0) & (onehot.max(-1) > 0.5)
    return np.where(clear, onehot.argmax(-1), 4)


def dinuc_shuffle(onehot: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random sequence with exactly the same dinucleotide counts, first and last symbol.

    onehot (L, 4) float32 -> (L, 4) float32; N rows (all-zero or 0.25) are a fifth
    symbol and keep their encoding.
    """
    sym = _symbols(onehot)
    n = sym.size
    if n < 3:
        return onehot.copy()
    edges = {v: [] for v in range(5)}
    for a, b in zip(sym[:-1], sym[1:]):
        edges[int(a)].append(int(b))
    last = int(sym[-1])
    verts = [v for v in range(5) if edges[v] and v != last]
    # choose a last exit edge per vertex such that the exits form a tree towards `last`
    while True:
        exit_to = {v: edges[v][rng.integers(len(edges[v]))] for v in verts}
        ok = True
        for v in verts:
            seen, u = set(), v
            while u != last:
                if u in seen:
                    ok = False
                    break
                seen.add(u)
                u = exit_to[u]
            if not ok:
                break
        if ok:
            break
    order = {}
    for v in range(5):
        e = list(edges[v])
        if v in exit_to:
            e.remove(exit_to[v])
            rng.shuffle(e)
            e.append(exit_to[v])
        else:
            rng.shuffle(e)
        order[v] = e
    pos = {v: 0 for v in range(5)}
    out = np.empty(n, np.int64)
    out[0] = sym[0]
    for i in range(1, n):
        v = int(out[i - 1])
        out[i] = order[v][pos[v]]
        pos[v] += 1
    res = np.zeros_like(onehot)
    is_base = out < 4
    res[np.flatnonzero(is_base), out[is_base]] = 1.0
    n_rows = np.flatnonzero(sym == 4)
    if n_rows.size:
        res[np.flatnonzero(~is_base)] = onehot[n_rows[0]]
    return res
