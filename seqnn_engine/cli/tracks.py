"""Rows of a scores file as genome tracks: merging windows, bigWig/BED/TSV writing.

Row ``i`` of a scores file covers ``[start[i], start[i] + L)`` on ``chr[i]``; a value at
window position ``p`` (or output bin ``b``: ``[(crop + b) * stride, + stride)``) lands at
``start[i] + p``. Windows that overlap are averaged base by base; positions outside the
chromosome (padding) and NaN values are left out.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..io.atomic import atomic_path
from ..errors import InputError


def chrom_sizes_of(data: Mapping[str, np.ndarray]) -> dict[str, int]:
    """Chromosome sizes stored in a scores file, else the furthest window end per ``chr``."""
    if "chrom_names" in data and "chrom_lengths" in data:
        return {n.decode(): int(v) for n, v in zip(data["chrom_names"], data["chrom_lengths"])}
    if "chr" not in data or "end" not in data:
        raise InputError("the scores file has no chr/end coordinates: cannot place rows on a genome")
    sizes: dict[str, int] = {}
    for c, e in zip(data["chr"], data["end"]):
        sizes[c.decode()] = max(sizes.get(c.decode(), 1), int(e))
    return sizes


def merge_tracks(chroms: Sequence[str], starts: Sequence[int], values: np.ndarray, step: int,
                 chrom_sizes: Mapping[str, int]) -> list[tuple[str, int, int, float]]:
    """Per-row tracks -> non-overlapping (chrom, start, end, value) intervals.

    values: (R, N) with value ``j`` of row ``r`` covering ``[starts[r] + j*step, + step)``.
    Overlapping rows are averaged per base; runs of equal values become one interval.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] != len(chroms):
        raise InputError(f"tracks must be (rows, positions); got {values.shape} for {len(chroms)} rows")
    step = int(step)
    span = values.shape[1] * step
    out: list[tuple[str, int, int, float]] = []
    rank = {c: i for i, c in enumerate(chrom_sizes)}
    order = sorted(range(len(chroms)), key=lambda r: (rank.get(chroms[r], -1), int(starts[r])))
    r_i = 0
    while r_i < len(order):
        chrom = chroms[order[r_i]]
        if chrom not in chrom_sizes:
            raise InputError(f"row on {chrom!r}, which is not among the chromosome sizes")
        # a cluster of overlapping windows on one chromosome
        group = [order[r_i]]
        lo, hi = int(starts[order[r_i]]), int(starts[order[r_i]]) + span
        r_i += 1
        while r_i < len(order) and chroms[order[r_i]] == chrom and int(starts[order[r_i]]) < hi:
            group.append(order[r_i])
            hi = max(hi, int(starts[order[r_i]]) + span)
            r_i += 1
        total = np.zeros(hi - lo)
        count = np.zeros(hi - lo)
        for r in group:
            v = np.repeat(values[r], step)
            ok = np.isfinite(v)
            o = int(starts[r]) - lo
            total[o:o + span] += np.where(ok, v, 0.0)
            count[o:o + span] += ok
        pos = lo + np.arange(hi - lo)
        keep = (count > 0) & (pos >= 0) & (pos < int(chrom_sizes[chrom]))
        mean = np.divide(total, count, out=np.full_like(total, np.nan), where=count > 0)
        idx = np.flatnonzero(keep)
        if idx.size == 0:
            continue
        # run-length encode consecutive kept positions with equal values
        brk = np.flatnonzero((np.diff(idx) != 1) | (np.diff(mean[idx]) != 0)) + 1
        for run in np.split(idx, brk):
            out.append((chrom, int(pos[run[0]]), int(pos[run[-1]]) + 1, float(mean[run[0]])))
    return out


def write_track_bigwig(path, chroms, starts, values, step, chrom_sizes) -> Path:
    from ..io.export import write_bigwig

    return write_bigwig(path, chrom_sizes, merge_tracks(chroms, starts, values, step, chrom_sizes))


def _decode(a) -> list[str]:
    return [x.decode() if isinstance(x, bytes) else str(x) for x in a]


def prediction_bigwigs(prefix: str, data, target_ids: Sequence[str], geometry) -> list[Path]:
    """``PREFIX.<target id>.bw`` per target from a predict output (``geometry``: the model's
    :class:`~seqnn_engine.model.geometry.BinGeometry`)."""
    sizes = chrom_sizes_of(data)
    chroms = _decode(data["chr"])
    starts = np.asarray(data["start"], dtype=np.int64) + geometry.output_span(0)[0]
    stride = geometry.stride
    preds = np.asarray(data["preds"], dtype=np.float32)
    paths = []
    for t, tid in enumerate(target_ids):
        safe = "".join(c if c.isalnum() or c in "._+-" else "_" for c in tid) or f"t{t}"
        paths.append(write_track_bigwig(f"{prefix}.{safe}.bw", chroms, starts, preds[:, :, t], stride, sizes))
    return paths


#: how one (L, 4) attribution array becomes one value per base
REDUCTIONS = ("observed", "sum", "l2", "ism")


def reduce_attribution(values: np.ndarray, seqs: np.ndarray | None, how: str) -> np.ndarray:
    """(R, L, 4) -> (R, L).

    observed: the value of the base present (``sum(values * one-hot)``; 0 at N);
    sum: sum over A, C, G, T; l2: L2 norm over A, C, G, T;
    ism: minus the mean over the 3 substitutions (ISM deltas: how much the present base
    raises the objective compared with the alternatives).
    """
    v = np.asarray(values, dtype=np.float32)
    if how == "observed":
        if seqs is None:
            raise InputError("--reduce observed needs the seqs dataset (one-hot) in the file")
        return (v * np.asarray(seqs, dtype=np.float32)).sum(-1)
    if how == "sum":
        return v.sum(-1)
    if how == "l2":
        return np.sqrt((v * v).sum(-1))
    if how == "ism":
        return -v.sum(-1) / 3.0
    raise InputError(f"--reduce must be one of {', '.join(REDUCTIONS)}, got {how!r}")


def write_tsv(path, header: Sequence[str], rows) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f, delimiter="\t", lineterminator="\n")
            w.writerow(header)
            w.writerows(rows)
    return Path(path)
