"""The gene track: genes as intron lines, exon boxes, strand arrows, names and TSS marks."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._base import graph_objects

__all__ = ["GeneFeature", "gene_traces"]


@dataclass(frozen=True)
class GeneFeature:
    """A gene drawn on the gene track, in display coordinates (half-open).

    exons: ((start, end), ...) pairs; tss: TSS positions drawn as marks.
    """

    name: str
    start: int
    end: int
    strand: str
    exons: tuple = ()
    tss: tuple = ()

    @classmethod
    def from_gene(cls, gene, tss=None, offset: int = 0) -> "GeneFeature":
        """From an engine gene record (``gene_name``, ``start``, ``end``, ``strand``, ``exons``,
        ``tss_list``, genome coordinates), shifted by ``-offset`` (0 keeps genome coordinates;
        the window start gives positions in the window). ``tss`` overrides ``gene.tss_list``."""
        o = int(offset)
        t = gene.tss_list if tss is None else tss
        return cls(gene.gene_name, int(gene.start) - o, int(gene.end) - o, gene.strand,
                   tuple((int(a) - o, int(b) - o) for a, b in gene.exons), tuple(int(v) - o for v in t))


def gene_traces(genes, x_range: tuple) -> list:
    """Scatter traces drawing ``genes`` (GeneFeature list) clipped to ``x_range`` = (lo, hi).

    Genes are staggered on three lanes (y = 0, -1, -2). Returns five traces, in order:
    ``introns`` (a line per gene), ``exons`` (one closed box per exon, y +-0.3 of the lane),
    ``strand`` (arrow markers), ``gene names`` (text) and ``TSS`` (marks).
    """
    go = graph_objects()
    lo, hi = x_range
    ix, iy, ex, ey, ax, ay, asym, tx, ty, tt = [], [], [], [], [], [], [], [], [], []
    tssx, tssy, tsst = [], [], []
    for k, g in enumerate(genes):
        y = -(k % 3)
        s, e = max(g.start, lo), min(g.end, hi)
        if e <= s:
            continue
        ix += [s, e, None]
        iy += [y, y, None]
        for es, ee in g.exons:
            es, ee = max(es, lo), min(ee, hi)
            if ee <= es:
                continue
            ex += [es, ee, ee, es, es, None]
            ey += [y - 0.3, y - 0.3, y + 0.3, y + 0.3, y - 0.3, None]
        n_arrows = max(1, int((e - s) / max(1, (hi - lo)) * 12))
        for a in np.linspace(s, e, n_arrows + 2)[1:-1]:
            ax.append(float(a))
            ay.append(y)
            asym.append("triangle-right" if g.strand == "+" else "triangle-left")
        tx.append((s + e) / 2)
        ty.append(y + 0.55)
        tt.append(f"{g.name} ({g.strand})")
        for t in g.tss:
            if lo <= t < hi:
                tssx.append(t)
                tssy.append(y + 0.45)
                tsst.append(f"TSS {g.name} {t:,}")
    return [
        go.Scatter(x=ix, y=iy, mode="lines", line=dict(color="#555", width=1.5), hoverinfo="skip", name="introns"),
        go.Scatter(x=ex, y=ey, mode="lines", fill="toself", fillcolor="#34495e",
                   line=dict(color="#34495e", width=1), hoverinfo="skip", name="exons"),
        go.Scatter(x=ax, y=ay, mode="markers", marker=dict(symbol=asym, size=7, color="#888"),
                   hoverinfo="skip", name="strand"),
        go.Scatter(x=tx, y=ty, mode="text", text=tt, textfont=dict(size=11), hoverinfo="skip", name="gene names"),
        go.Scatter(x=tssx, y=tssy, mode="markers", text=tsst, hoverinfo="text", name="TSS",
                   marker=dict(symbol="triangle-down", size=10, color="#e67e22")),
    ]
