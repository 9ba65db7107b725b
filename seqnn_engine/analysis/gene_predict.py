"""Gene predictions (the original ``predict_genes``) and gene objectives for attribution.

For each gene a model window is centred on its primary TSS (genes.gene_window),
fetched from the genome (padded with N past chromosome ends), predicted (with an
optional ensemble), and reduced per target: every TSS contributes the sum of bins
[b - tss_radius, b + tss_radius]; the gene value is the sum over its TSSs
(genes.gene_values; targets on the opposite strand are NaN when targets.txt marks
strands).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..errors import InputError
from ..genomics.genes import TSS_RADIUS, GeneWindow, gene_values
from ..genomics.onehot import encode


@dataclass
class GenePredictions:
    """Result of :func:`predict_genes`.

    gene_ids, gene_names, strands: (G,) lists. values: (G, T) float64 per-target gene
    values (NaN for opposite-strand targets). windows: the G GeneWindows used.
    target_indexes: (T,) indexes into the model's targets.
    """

    gene_ids: list
    gene_names: list
    strands: list
    values: np.ndarray
    windows: list
    target_indexes: np.ndarray


def gene_window_onehot(model, genome, gene, n_value: float = 0.0):
    """(GeneWindow, (L, 4) one-hot) for ``gene`` under ``model``'s geometry."""
    from ..genomics.windows import gene_window_sequence
    w, seq = gene_window_sequence(genome, gene, model.geometry)
    return w, encode(seq.sequence, n_value=n_value)


def predict_genes(model, genome, genes, tss_radius: int = TSS_RADIUS, targets=None, rc: bool = False, shifts=(0,),
                  mc_n: int = 0, batch_size: int = 4, strand_match: bool = True,
                  progress: Optional[Callable[[int, int], None]] = None) -> GenePredictions:
    """Per-target gene values for ``genes`` (Gene objects) on ``genome`` (a Genome).

    The estimated peak (seqnn_engine.memory.gene_values_plan) is checked against
    SEQNN_MAX_MEMORY_MB first; genes are predicted in chunks of at most batch_size that fit.
    """
    genes = list(genes)
    if not genes:
        raise InputError("no genes given")
    tidx = model.check_targets(targets)
    strands = None
    if strand_match and model.targets is not None:
        strands = np.asarray(model.targets.strand)[tidx]
    from .. import memory
    from ..model.ensemble import members
    batch_size = memory.gene_values_plan(model, len(genes), len(members(rc, shifts, mc_n)), len(tidx),
                                         batch_size).batch_size
    values, windows = [], []
    for g0 in range(0, len(genes), batch_size):
        chunk = genes[g0:g0 + batch_size]
        ws, xs = zip(*(gene_window_onehot(model, genome, g) for g in chunk))
        pred = model.predict(np.stack(xs), rc=rc, shifts=shifts, mc_n=mc_n, target_indexes=tidx,
                             batch_size=batch_size).mean
        for w, p in zip(ws, pred):
            values.append(gene_values(p, w.tss_bins, tss_radius, strands, w.strand if strands is not None else None))
            windows.append(w)
        if progress is not None:
            progress(min(len(genes), g0 + batch_size), len(genes))
    return GenePredictions([g.gene_id for g in genes], [g.gene_name for g in genes], [g.strand for g in genes],
                           np.asarray(values), windows, tidx)


def exon_bin_positions(window: GeneWindow) -> np.ndarray:
    """Bins of the gene's exons inside the window (Borzoi-style gene objective for ``attribute``)."""
    if window.exon_bins.size == 0:
        raise InputError(f"gene {window.gene_name or window.gene_id} has no exon inside the model's output bins")
    return window.exon_bins


def tss_bin_positions(window: GeneWindow, radius: int = TSS_RADIUS) -> np.ndarray:
    """Bins within ``radius`` of every TSS of the gene (TSS objective for ``attribute``)."""
    if window.tss_bins.size == 0:
        raise InputError(f"gene {window.gene_name or window.gene_id} has no TSS inside the model's output bins")
    b = np.unique(np.concatenate([np.arange(t - radius, t + radius + 1) for t in window.tss_bins]))
    return b[(b >= 0) & (b < window.target_length)]


GENE_OBJECTIVES = ("exons", "tss")


def strand_matched_targets(catalog, targets, strand: str) -> list[int]:
    """The chosen targets read on the gene's strand: each stranded target is replaced by the member of
    its strand pair on ``strand`` ('+' or '-'); unstranded targets stay. catalog: the model's
    :class:`~seqnn_engine.model.target_catalog.TargetCatalog`. Returns sorted unique output indexes."""
    if strand not in ("+", "-"):
        return sorted({int(t) for t in targets})
    out = set()
    for t in targets:
        t = int(t)
        if catalog.strand[t] == "." or catalog.strand[t] == strand:
            out.add(t)
        else:
            out.add(int(catalog.partner[t]))
    return sorted(out)


def gene_objective(window: GeneWindow, objective: str, targets, catalog, tss_radius: int = TSS_RADIUS):
    """(bins (K,) int64, targets list) of a gene objective, the same on every surface.

    objective 'exons': the sum over the gene's exon bins of the strand-matched targets (Borzoi's
    gene-specific gradients); 'tss': the bins within ``tss_radius`` of its TSSs, strand-matched.
    """
    if objective not in GENE_OBJECTIVES:
        raise InputError(f"gene objective must be one of {', '.join(GENE_OBJECTIVES)}, got {objective!r}")
    bins = exon_bin_positions(window) if objective == "exons" else tss_bin_positions(window, tss_radius)
    return np.asarray(bins, np.int64), strand_matched_targets(catalog, targets, window.strand)
