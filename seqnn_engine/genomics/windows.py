"""Model windows from what a user gives: a gene, an interval, a FASTA record, a variant.

One function per kind of input, used by every surface (dashboard, CLI, notebooks), so a gene
gives the same window everywhere:

* gene: the window centred on its primary TSS (:func:`~seqnn_engine.genomics.genes.gene_window`),
  fetched from the genome (N past the chromosome ends): :func:`gene_window_sequence`;
* interval ``chrom:start-end``: the window centred on its midpoint ``(start + end) // 2``
  (:meth:`~seqnn_engine.genomics.genome.Genome.window`): :func:`interval_window_sequence`;
* FASTA record: centred and padded with N when shorter, its central window when longer
  (:func:`~seqnn_engine.genomics.sequences.fit_sequence`);
* variant: the window of :func:`seqnn_engine.analysis.variants.variant_window` (its first REF base at
  window position ``seq_length // 2 - 1``), on the genome or on the user's record
  (:class:`RecordSource`).

:class:`InputWindow` is the resolved input with what a page needs to show it (label, display
coordinates, genes, TSS bins, notes).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..errors import InputError

__all__ = ["InputWindow", "RecordSource", "gene_window_sequence", "interval_window_sequence", "gene_input",
           "interval_input", "fasta_input", "variant_source"]


@dataclass(frozen=True)
class InputWindow:
    """A resolved model input.

    sequence: exactly ``seq_length`` bases (upper-case ACGTN).
    label: short description for titles and file metadata.
    source: 'gene' | 'interval' | 'fasta'.
    chrom: chromosome when the input came from the genome (genome coordinates), else None.
    start: display coordinate of window position 0 (genome start, or the position in the user's
        sequence; negative when the window starts with padding).
    strand: the gene's strand ('.' otherwise).
    genes: engine Gene objects overlapping the window (genome inputs).
    tss_bins: output bins of the gene's TSSs (gene input only).
    focus: (start, end) display range to select first (e.g. the typed interval).
    notes: messages about padding, cropping or ambiguous bases.
    source_length: length of the user's record (FASTA input).
    record: the user's FastaRecord (FASTA input; variants are cut from it).
    gene: the Gene of a gene input. exon_bins: output bins of its exons. gene_window: its GeneWindow.
    origin: the input this window was moved from (e.g. re-centred on a chosen variant), else None.
    marks: ((display position, label), ...) positions to mark on the tracks (e.g. the variant).
    """

    sequence: str
    label: str
    source: str
    chrom: Optional[str]
    start: int
    strand: str = "."
    genes: tuple = ()
    tss_bins: tuple = ()
    focus: Optional[tuple] = None
    notes: tuple = field(default_factory=tuple)
    source_length: int = 0
    record: object = None
    gene: object = None
    exon_bins: tuple = ()
    gene_window: object = None
    origin: object = None
    marks: tuple = ()

    @property
    def genomic(self) -> bool:
        return self.chrom is not None

    def coord_label(self) -> str:
        return f"{self.chrom} position (0-based)" if self.genomic else "position in the sequence (0-based)"


GENE_CENTRES = ("tss", "body")


def gene_centre(gene, centre: str = "tss") -> int:
    """The window centre of a gene: its primary TSS ('tss') or the middle of its body ('body', as
    Borzoi's gene scripts centre gene-body windows)."""
    if centre == "tss":
        return int(gene.primary_tss)
    if centre == "body":
        return (int(gene.start) + int(gene.end)) // 2
    raise InputError(f"a gene window is centred on 'tss' or 'body', got {centre!r}")


def gene_window_sequence(genome, gene, geometry, centre: str = "tss"):
    """(GeneWindow, GenomeSequence): the window centred on ``gene``'s primary TSS (``centre`` 'tss')
    or on the middle of its body ('body'), and its bases."""
    from .genes import gene_window
    gw = gene_window(gene, geometry.seq_length, geometry.stride, geometry.crop, center=gene_centre(gene, centre))
    return gw, genome.fetch(gene.chrom, gw.start, gw.end)


def interval_window_sequence(genome, chrom: str, start: int, end: int, seq_length: int):
    """The GenomeSequence of the ``seq_length`` window centred on ``[start, end)``'s midpoint."""
    return genome.window(chrom, (int(start) + int(end)) // 2, int(seq_length))


def _padding_note(gs) -> list:
    if gs.padded:
        return [f"the window runs past the chromosome end: {gs.pad_left + gs.pad_right:,} bp of N padding"]
    return []


def _overlapping(genes, gs) -> tuple:
    return () if genes is None else tuple(genes.overlapping(gs.chrom, gs.start, gs.end))


def gene_input(genome, genes, gene, geometry, centre: str = "tss") -> InputWindow:
    """The window of ``gene`` (a Gene) with the annotation's genes of the window, its TSS and exon bins;
    centred on the primary TSS (``centre`` 'tss') or the gene body ('body')."""
    gw, gs = gene_window_sequence(genome, gene, geometry, centre)
    return gene_window_input(genes, gene, gw, gs)


def gene_window_input(genes, gene, gw, gs, notes=(), **extra) -> InputWindow:
    """The InputWindow of ``gene`` over its window ``gw`` (genes.GeneWindow) and sequence ``gs``;
    ``notes`` come first, then the TSS, coverage and padding notes; ``extra``: InputWindow fields
    (e.g. origin, marks)."""
    from .genes import coverage_note
    notes = list(notes)
    if len(gw.tss_outside):
        notes.append(f"{len(gw.tss_outside)} TSS(s) of {gene.gene_name} lie outside the model output")
    note = coverage_note(gene, gw)
    if note:
        notes.append(note)
    notes += _padding_note(gs)
    return InputWindow(gs.sequence, f"{gene.gene_name} ({gene.gene_id}) {gs.chrom}:{gw.start}-{gw.end}", "gene",
                       gs.chrom, gs.start, gene.strand, _overlapping(genes, gs), tuple(int(b) for b in gw.tss_bins),
                       None, tuple(notes), gene=gene, exon_bins=tuple(int(b) for b in gw.exon_bins), gene_window=gw,
                       **extra)


def interval_input(genome, genes, text: str, geometry) -> InputWindow:
    """The window centred on the interval ``text`` (``chrom:start-end``, 0-based half-open)."""
    from .genome import parse_interval
    chrom, s, e = parse_interval(text)
    chrom = genome.resolve_chrom(chrom)
    L = geometry.seq_length
    gs = interval_window_sequence(genome, chrom, s, e, L)
    notes = []
    if e - s > L:
        notes.append(f"the interval is {e - s:,} bp, longer than the model's {L:,} bp: the central {L:,} bp are used")
    notes += _padding_note(gs)
    focus = (max(s, gs.start), min(e, gs.start + L))
    return InputWindow(gs.sequence, f"{chrom}:{gs.start}-{gs.start + L}", "interval", gs.chrom, gs.start, ".",
                       _overlapping(genes, gs), (), focus, tuple(notes))


def fasta_input(record, geometry) -> InputWindow:
    """The window of a FASTA record (centred and N-padded when shorter, its centre when longer)."""
    from .sequences import fit_sequence
    L = geometry.seq_length
    fit = fit_sequence(record, L, mode="crop")
    notes = []
    if fit.mode == "pad" and len(record) < L:
        notes.append(f"{record.name} is {len(record):,} bp: centred and padded with {L - len(record):,} N to {L:,} bp")
    elif len(record) > L:
        notes.append(f"{record.name} is {len(record):,} bp: the central {L:,} bp are used")
    if record.n_iupac:
        notes.append(f"{record.n_iupac} IUPAC ambiguity code(s) read as N")
    if record.n_uracil:
        notes.append(f"{record.n_uracil} U read as T")
    off = int(fit.offsets[0])
    focus = (max(0, off), min(len(record), off + L)) if len(record) < L else None
    return InputWindow(fit.windows[0], record.name or "sequence", "fasta", None, off, ".", (), (), focus,
                       tuple(notes), source_length=len(record), record=record)


@dataclass(frozen=True)
class _Fetched:
    chrom: str
    start: int
    end: int
    sequence: str


class RecordSource:
    """One user sequence that answers ``fetch(chrom, start, end)`` like a Genome (N outside it),
    so variants on a FASTA record get the same windows as variants on the genome."""

    def __init__(self, name: str, sequence: str):
        self.name, self.sequence = name, sequence

    def fetch(self, chrom: str, start: int, end: int) -> _Fetched:
        start, end = int(start), int(end)
        n = len(self.sequence)
        left = "N" * max(0, min(end, 0) - start)
        mid = self.sequence[max(start, 0):max(min(end, n), 0)]
        right = "N" * max(0, end - max(start, n))
        return _Fetched(self.name, start, end, left + mid + right)


def variant_source(inp: InputWindow, genome):
    """Where a variant on input ``inp`` is cut from: the genome (genome inputs) or the user's record."""
    if inp.genomic:
        if genome is None:
            raise InputError("this model has no genome: variants need the genome or a FASTA input")
        return genome
    rec = inp.record
    if rec is None:
        return RecordSource(inp.label, inp.sequence)
    seq = rec.sequence if hasattr(rec, "sequence") else str(rec)
    return RecordSource(inp.label, seq)


def variant_position_check(inp: InputWindow, pos: int) -> int:
    """The 0-based window position of display coordinate ``pos``; InputError outside the window."""
    p = int(pos) - int(inp.start)
    if not 0 <= p < len(inp.sequence):
        raise InputError(f"variant position {pos:,} is outside the window "
                         f"{inp.start:,}-{inp.start + len(inp.sequence):,}")
    return p
