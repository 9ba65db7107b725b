"""Model windows from the batch commands' inputs (FASTA, BED + genome, GTF + genome), and the
shared driver that runs a window job into a scores HDF5.

Rows and their coordinates (0-based half-open, stored as ``chr``/``start``/``end``/``gene``/
``strand`` in the output):

* FASTA: each record is fitted to the model with :func:`~seqnn_engine.genomics.sequences.fit_sequence`
  (shorter: centred and padded with N; longer: centre window, or tiles with ``--fit tile``).
  ``chr`` is the record name, ``start`` the record coordinate of window position 0 (negative
  when padded: the fit offset), ``gene`` the record name, ``strand`` '+'.
* BED: a window of the model's length centred on each interval's midpoint
  (``mid - seq_length // 2``), with genome context instead of padding; with ``--fit tile`` an
  interval longer than the model is tiled. ``gene`` is the BED name, ``strand`` its strand.
* GTF: a window centred on each gene's primary TSS (:func:`~seqnn_engine.genomics.genes.gene_window`);
  ``gene`` is the gene id.

The output also holds ``chrom_names``/``chrom_lengths`` (the genome's chromosomes, or the
FASTA records and their lengths) so exports can write bigWig headers, and ``target_ids``/
``target_labels`` of the selected targets.
"""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ..io.bed import read_bed
from ..errors import InputError


@dataclass
class Windows:
    """Rows of a job: window strings with coordinates.

    seqs: R strings of the model's length. coords: chr, start, end, gene, strand lists of R.
    chrom_sizes: name -> length (bigWig header). gene_windows: R GeneWindow (GTF input) or None.
    notes: messages for stderr (e.g. genes skipped).
    """

    seqs: list
    coords: dict
    chrom_sizes: dict
    gene_windows: Optional[list] = None
    notes: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.seqs)

    def digest(self) -> str:
        h = hashlib.sha256()
        for s in self.seqs:
            h.update(s.encode("ascii", "replace"))
            h.update(b"\n")
        return h.hexdigest()


def _genome(args, info):
    from ..genomics.genome import Genome

    path = getattr(args, "genome", None) or (info.genome if info is not None else None)
    if not path:
        raise InputError("this input needs --genome FASTA (the model directory names none)")
    return Genome(path)


def check_one_input(args, allowed=("fasta", "bed", "gtf")) -> str:
    given = [k for k in allowed if getattr(args, k, None)]
    if len(given) != 1:
        flags = ", ".join(f"--{k}" for k in allowed)
        raise InputError(f"give exactly one input of {flags}" + (f" (got {len(given)})" if given else ""))
    kind = given[0]
    if kind != "gtf" and (getattr(args, "genes", None) or getattr(args, "all_genes", False)):
        raise InputError("--genes and --all-genes go with --gtf")
    return kind


def select_genes(args, geneset) -> list:
    if getattr(args, "genes", None) and getattr(args, "all_genes", False):
        raise InputError("give --genes NAMES or --all-genes, not both")
    if getattr(args, "all_genes", False):
        return list(geneset.genes)
    if not getattr(args, "genes", None):
        raise InputError("choose genes with --genes NAME,NAME (names or ids) or --all-genes")
    names = [n.strip() for n in args.genes.split(",") if n.strip()]
    if not names:
        raise InputError("--genes is empty: give names or ids separated by commas")
    genes = [geneset.get(n) for n in names]
    ids = [g.gene_id for g in genes]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise InputError(f"--genes names gene {sorted(dup)[0]} twice")
    return genes


def read_genes_input(args, info):
    """The genes of --genes / --all-genes. A bgzipped, tabix-indexed annotation is read by name
    (name index + region reads, see seqnn_engine.genomics.gene_index); --all-genes reads the whole file."""
    from ..genomics.gene_index import open_genes
    from ..genomics.genes import GeneSet

    gtf = getattr(args, "gtf", None) or (info.genes if info is not None else None)
    if not gtf:
        raise InputError("give --gtf GTF (the model directory names no gene annotation)")
    genes = GeneSet.read(gtf) if getattr(args, "all_genes", False) else open_genes(gtf)
    return select_genes(args, genes)


def collect_windows(args, info, kind: str) -> Windows:
    """Windows for input ``kind`` ("fasta", "bed", "gtf") fitted to the model of ``info``."""
    L = int(info.seq_length)
    seqs: list[str] = []
    coords: dict[str, list] = {"chr": [], "start": [], "end": [], "gene": [], "strand": []}

    def add(seq, chrom, start, name, strand):
        seqs.append(seq)
        coords["chr"].append(chrom)
        coords["start"].append(int(start))
        coords["end"].append(int(start) + L)
        coords["gene"].append(name)
        coords["strand"].append(strand)

    if kind == "fasta":
        from ..genomics.sequences import fit_sequence, read_fasta

        records = read_fasta(args.fasta)
        sizes = {}
        for rec in records:
            fit = fit_sequence(rec, L, mode=args.fit)
            for w, off in zip(fit.windows, fit.offsets):
                add(w, rec.name, int(off), rec.name, "+")
            sizes[rec.name] = max(1, len(rec))
        return Windows(seqs, coords, sizes)

    notes: list[str] = []
    if kind == "bed":
        from ..genomics.sequences import fit_sequence
        from ..genomics.windows import interval_window_sequence

        regions = read_bed(args.bed)
        genome = _genome(args, info)
        with genome:
            for r in regions:
                if args.fit == "tile" and r.end - r.start > L:
                    got = genome.fetch(r.chrom, r.start, r.end)
                    fit = fit_sequence(got.sequence, L, mode="tile")
                    for w, off in zip(fit.windows, fit.offsets):
                        add(w, got.chrom, r.start + int(off), r.name, r.strand)
                else:
                    got = interval_window_sequence(genome, r.chrom, r.start, r.end, L)
                    add(got.sequence, got.chrom, got.start, r.name, r.strand)
            sizes = dict(genome.chrom_lengths)
        return Windows(seqs, coords, sizes, notes=notes)

    if kind == "gtf":
        from ..genomics.genes import coverage_note
        from ..genomics.windows import gene_window_sequence

        genes = read_genes_input(args, info)
        genome = _genome(args, info)
        gws = []
        with genome:
            for g in genes:
                try:
                    chrom = genome.resolve_chrom(g.chrom)
                except InputError:
                    if getattr(args, "all_genes", False):
                        notes.append(f"skipped gene {g.gene_id}: {g.chrom} is not in the genome")
                        continue
                    raise
                gw, got = gene_window_sequence(genome, g, info.geometry, getattr(args, "gene_centre", "tss"))
                note = coverage_note(g, gw)
                if note:
                    notes.append(note)
                add(got.sequence, chrom, gw.start, g.gene_id, g.strand)
                gws.append(gw)
            sizes = dict(genome.chrom_lengths)
        if not seqs:
            raise InputError("none of the selected genes is on a chromosome of the genome")
        return Windows(seqs, coords, sizes, gene_windows=gws, notes=notes)
    raise InputError(f"unknown input kind {kind!r}")


def target_static(info, tidx) -> dict[str, np.ndarray]:
    """``target_ids``/``target_labels`` (bytes) of the selected targets."""
    table = info.targets
    if table is None:
        ids = [f"t{int(t)}" for t in tidx]
        labels = [""] * len(ids)
    else:
        ids = [table.identifier[int(t)] for t in tidx]
        labels = [table.description[int(t)] for t in tidx]
    enc = lambda xs: np.array([x.encode("utf-8") for x in xs], dtype="S") if xs else np.zeros(0, "S1")  # noqa: E731
    return {"target_ids": enc(ids), "target_labels": enc(labels)}


def chrom_static(sizes: dict) -> dict[str, np.ndarray]:
    names = list(sizes)
    return {"chrom_names": np.array([n.encode("utf-8") for n in names], dtype="S"),
            "chrom_lengths": np.array([int(sizes[n]) for n in names], dtype=np.int64)}


def seqs_onehot(seqs, n_value: float = 0.0) -> np.ndarray:
    from ..genomics.onehot import encode_batch

    return encode_batch(list(seqs), n_value=n_value)


def run_to_file(args, executor, *, rows, kind: str, options: dict, datasets: dict, coords: dict,
                static: dict, job: dict, include_seqs: bool, seqs=None,
                finalize: Callable | None = None, store=None, store_key: Callable | None = None,
                desc: str = "rows", unit: str = "seq"):
    """Create (or resume) the scores file of ``args.out``, run the job, finish the file.

    Returns (path, JobReport). With ``include_seqs`` the one-hot of ``seqs[i]`` fills
    ``seqs`` (after ``finalize``).
    """
    from ..io.export import ScoresWriter
    from ..batch.jobs import run_job
    from .options import Progress

    out = Path(args.out)
    L = len(seqs[0]) if seqs else 1
    writer = ScoresWriter(out, len(rows), L, datasets=datasets, coords=coords, static=static,
                          chunk_size=args.chunk_size, include_seqs=include_seqs, job=job, resume=args.resume)
    if not writer.pending_chunks():
        if not args.quiet:
            print(f"{out}: every chunk is already done", file=sys.stderr)
        writer.finish()
        return out, None

    def fin(i0, i1, result):
        arrays = finalize(i0, i1, result) if finalize is not None else dict(result)
        if include_seqs:
            arrays["seqs"] = seqs_onehot(seqs[i0:i1]) > 0.5
        return arrays

    bar = Progress(desc, unit=unit, quiet=args.quiet)
    try:
        report = run_job(executor, writer, rows, kind, options, finalize=fin, store=store,
                         store_key=store_key, progress=bar)
    finally:
        bar.close()
        if not writer.complete:
            writer.close()
    writer.finish()
    return out, report


def summary_line(out, report, rows: int) -> str:
    if report is None:
        return f"{rows} rows -> {out}"
    parts = [f"{rows} rows -> {out}"]
    if report.chunks_before:
        parts.append(f"resumed after {report.chunks_before} of {report.chunks} chunks")
    if report.store_hits:
        parts.append(f"{report.store_hits} from the store")
    return "; ".join(parts)


def job_fingerprint(command: str, info, windows_digest: str, options: dict, extra: dict | None = None) -> dict:
    """What a resumed run must share with the interrupted one."""
    from ..batch.store import canonical_json
    import json

    fp: dict[str, Any] = {"command": command, "model": info.digest, "inputs_sha256": windows_digest,
                          "options": json.loads(canonical_json(options))}
    if extra:
        fp.update(json.loads(canonical_json(extra)))
    return fp
