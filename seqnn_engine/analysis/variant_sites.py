"""The variants of a VCF that fall in a model window, and the window re-centred on one of them.

:func:`variants_in_window` lists the variants whose first REF base lies in a genome window
``[start, end)`` (0-based half-open) on the window's chromosome (names resolved by the genome, so
``3`` finds ``chr3`` when the genome says so), each checked against the genome
(:func:`~seqnn_engine.analysis.variants.allele_check`): REF matches, flipped (the genome holds ALT) or
mismatch. Only substitutions whose REF or ALT matches the genome are scorable (the engine scores
substitutions; indels are listed but not scored).

:func:`centred_input` moves a gene or interval input so that its window is the one
:func:`~seqnn_engine.analysis.variants.variant_window` scores the variant on (``start = pos -
seq_length // 2``, ``pos`` 1-based): a gene input keeps its gene (TSS and exon bins mapped to the new
window), and the result remembers the input it came from (``origin``) and marks the variant.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError
from .variants import allele_check, variant_window_start

__all__ = ["WindowVariants", "variants_in_window", "centred_input", "GENOME_STATUS"]

#: how each allele check reads in a table
GENOME_STATUS = {"ref": "REF matches", "flipped": "flipped (genome holds ALT)", "mismatch": "REF mismatch"}


@dataclass(frozen=True)
class WindowVariants:
    """Variants of a VCF inside one genome window.

    chrom, start, end: the window (0-based half-open). variants: tuple of
    :class:`~seqnn_engine.io.vcf.Variant` in file order. status: per variant 'ref' | 'flipped' |
    'mismatch'. n_total: variants in the file; n_other_chrom: on another chromosome; n_outside: on
    this chromosome but outside the window.
    """

    chrom: str
    start: int
    end: int
    variants: tuple
    status: tuple
    n_total: int
    n_other_chrom: int
    n_outside: int

    def __len__(self) -> int:
        return len(self.variants)

    def scorable(self, i: int) -> bool:
        """Whether variant ``i`` can be scored: a substitution whose REF or ALT matches the genome."""
        return self.variants[i].is_substitution and self.status[i] != "mismatch"

    def why_not(self, i: int) -> str:
        """'' for a scorable variant, else why it is not scored."""
        v = self.variants[i]
        if not v.is_substitution:
            return "insertion/deletion: not scored (substitutions only)"
        if self.status[i] == "mismatch":
            return "REF does not match the genome: check the genome build"
        return ""

    def table(self) -> dict:
        """Columns for display: id, chrom, pos (1-based), ref, alt, filter, genome, scorable."""
        vs = self.variants
        return {"id": [v.id for v in vs], "chrom": [v.chrom for v in vs], "pos": [int(v.pos) for v in vs],
                "ref": [v.ref for v in vs], "alt": [v.alt for v in vs], "filter": [v.filter for v in vs],
                "genome": [GENOME_STATUS[s] for s in self.status],
                "scorable": ["yes" if self.scorable(i) else "no: " + self.why_not(i).split(":")[0]
                             for i in range(len(vs))]}


def _resolve(genome, chrom: str):
    try:
        return genome.resolve_chrom(chrom)
    except InputError:
        return None


def variants_in_window(variants, genome, chrom: str, start: int, end: int) -> WindowVariants:
    """The ``variants`` (an iterable of Variant) whose first REF base lies in ``[start, end)`` on ``chrom``."""
    start, end = int(start), int(end)
    inside, status = [], []
    n_total = n_other = n_out = 0
    names: dict = {}
    for v in variants:
        n_total += 1
        if v.chrom not in names:
            names[v.chrom] = _resolve(genome, v.chrom)
        if names[v.chrom] != chrom:
            n_other += 1
            continue
        if not start <= v.pos0 < end:
            n_out += 1
            continue
        bases = genome.fetch(chrom, v.pos0, v.pos0 + len(v.ref)).sequence
        inside.append(v)
        status.append(allele_check(v, bases))
    return WindowVariants(chrom, start, end, tuple(inside), tuple(status), n_total, n_other, n_out)


def centred_input(inp, variant, genome, genes, geometry):
    """The InputWindow of ``inp`` (a gene or interval input, or one already re-centred) moved so that
    its window is the variant's scoring window; see the module docstring."""
    from ..genomics.windows import InputWindow, _overlapping, _padding_note
    base = inp.origin if getattr(inp, "origin", None) is not None else inp
    if not base.genomic or genome is None:
        raise InputError("a VCF lists genome variants: choose a gene or interval input (a FASTA record has no "
                         "genome coordinates)")
    chrom = _resolve(genome, variant.chrom)
    if chrom != base.chrom:
        raise InputError(f"variant {variant.id} is on {variant.chrom}, the window on {base.chrom}: choose a "
                         "variant of the listed window")
    L = geometry.seq_length
    start = variant_window_start(variant, L)
    mark = ((int(variant.pos0), f"{variant.id} {variant.ref}>{variant.alt}"),)
    where = f"centred on {variant.id} ({chrom}:{variant.pos:,})"
    if base.source == "gene" and base.gene is not None:
        from ..genomics.genes import gene_window
        from ..genomics.windows import gene_window_input
        g = base.gene
        gw = gene_window(g, L, geometry.stride, geometry.crop, center=variant.pos)
        assert gw.start == start, (gw.start, start)
        gs = genome.fetch(chrom, gw.start, gw.end)
        return gene_window_input(genes, g, gw, gs, [f"window {where}; the gene's TSS is no longer at its centre"],
                                 origin=base, marks=mark)
    gs = genome.fetch(chrom, start, start + L)
    notes = [f"window {where}"] + _padding_note(gs)
    return InputWindow(gs.sequence, f"{chrom}:{start}-{start + L}", base.source, chrom, gs.start, ".",
                       _overlapping(genes, gs), (), None, tuple(notes), origin=base, marks=mark)
