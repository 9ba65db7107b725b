"""``genes``: predicted gene values from windows centred on each gene's primary TSS.

    python -m seqnn_engine genes --model DIR --gtf genes.gtf --genome G.fa --all-genes \\
        --tss-radius 1 --out genes.h5 --tsv-out genes.tsv

For each gene: the window of :func:`~seqnn_engine.genomics.genes.gene_window`, the ensemble
prediction, then :func:`~seqnn_engine.genomics.genes.gene_values`: the sum over every TSS of the
gene inside the output of the bins ``[b - r, b + r]`` around its bin. Targets on the strand
opposite to the gene get NaN (``--no-strand-mask`` keeps them). Output: ``gene_values``
(R, T') float32, ``n_tss`` (R,) TSSs counted, optional ``preds`` (``--save-preds``),
coordinates (``gene`` = gene id, ``strand``), target and chromosome tables. ``--tsv-out``:
gene_id, gene_name, chr, tss, strand, one column per target.
"""
from __future__ import annotations

import sys

import numpy as np

from ..errors import InputError
from . import options as opt
from .inputs import chrom_static, collect_windows, job_fingerprint, run_to_file, summary_line, target_static
from ..genomics.genes import TSS_RADIUS
from .predict import prediction_options, store_key_fn


def add_parser(sub) -> None:
    p = sub.add_parser("genes", help="gene values (sum of TSS bins) for genes of a GTF",
                       description="Predict windows centred on gene TSSs and sum the TSS bins per target.")
    opt.add_model_options(p)
    i = p.add_argument_group("genes")
    i.add_argument("--gtf", metavar="GTF", help="gene annotation, GTF or GFF3 (default: the model directory's)")
    i.add_argument("--genes", metavar="NAMES", help="comma-separated gene names or ids")
    i.add_argument("--all-genes", action="store_true", help="every gene of the annotation")
    i.add_argument("--genome", metavar="FA", help="indexed genome FASTA (default: the model directory's)")
    i.add_argument("--tss-radius", type=int, default=TSS_RADIUS, metavar="R",
                   help=f"bins each side of a TSS bin (default {TSS_RADIUS}, as the dashboard and predict_genes)")
    i.add_argument("--no-strand-mask", action="store_true",
                   help="keep targets on the strand opposite to the gene (default: NaN)")
    opt.add_ensemble_options(p)
    opt.add_job_options(p, chunk_size=16)
    opt.add_store_options(p)
    o = p.add_argument_group("extra outputs")
    o.add_argument("--save-preds", action="store_true", help="also store the window predictions (R, P, T')")
    o.add_argument("--tsv-out", metavar="TSV", help="gene table: ids, TSS, one column per target")


def run(args) -> int:
    opt.check_job_args(args)
    opt.out_path(args.out)
    if args.tss_radius < 0:
        raise InputError(f"--tss-radius must be 0 or more, got {args.tss_radius}")
    if args.tsv_out:
        opt.out_path(args.tsv_out, "--tsv-out")
    if not args.genes and not args.all_genes:
        raise InputError("choose genes with --genes NAME,NAME (names or ids) or --all-genes")
    targets = opt.parse_index_list(args.targets) if args.targets else None
    executor, store, info, tidx = opt.start_job(args, targets)
    try:
        args.fit = "crop"
        win = collect_windows(args, info, "gtf")
        for note in win.notes:
            print(note, file=sys.stderr)
        options = prediction_options(args, targets)
        dtype = opt.float_dtype(args)
        strands = None
        if info.targets is not None and not args.no_strand_mask:
            strands = np.asarray(info.targets.strand)[tidx]
        gws = win.gene_windows

        def finalize(i0, i1, result):
            preds = result["preds"]
            vals = np.zeros((i1 - i0, len(tidx)), np.float32)
            n_tss = np.zeros(i1 - i0, np.int64)
            for j, gw in enumerate(gws[i0:i1]):
                from ..genomics.genes import gene_values
                vals[j] = gene_values(preds[j], gw.tss_bins, args.tss_radius, target_strands=strands,
                                      gene_strand=gw.strand if strands is not None else None)
                n_tss[j] = len(gw.tss_bins)
            out = {"gene_values": vals, "n_tss": n_tss}
            if args.save_preds:
                out["preds"] = preds
            return out

        datasets = {"gene_values": ((len(tidx),), np.float32), "n_tss": ((), np.int64)}
        if args.save_preds:
            datasets["preds"] = ((info.target_length, len(tidx)), dtype)
        job = job_fingerprint("genes", info, win.digest(), options,
                              {"dtype": np.dtype(dtype).name, "tss_radius": args.tss_radius,
                               "strand_mask": strands is not None, "save_preds": bool(args.save_preds)})
        static = {**target_static(info, tidx), **chrom_static(win.chrom_sizes),
                  "tss": np.array([gw.center for gw in gws], dtype=np.int64),
                  "gene_names": np.array([gw.gene_name.encode("utf-8") for gw in gws], dtype="S")}
        path, report = run_to_file(
            args, executor, rows=win.seqs, kind="predict", options=options, datasets=datasets,
            coords=win.coords, static=static, job=job, include_seqs=False, seqs=win.seqs, finalize=finalize,
            store=store, store_key=store_key_fn(info, options) if store is not None else None,
            desc="genes", unit="gene")
    finally:
        executor.close()
    if args.tsv_out:
        write_gene_tsv(path, args.tsv_out)
    if not args.quiet:
        print(summary_line(path, report, len(win)), file=sys.stderr)
    return 0


def write_gene_tsv(path, tsv) -> None:
    from ..io.export import read_scores
    from .tracks import write_tsv

    d = read_scores(path)
    ids = [t.decode() for t in d["target_ids"]]
    rows = []
    for i in range(d["gene_values"].shape[0]):
        rows.append([d["gene"][i].decode(), d["gene_names"][i].decode(), d["chr"][i].decode(), int(d["tss"][i]),
                     d["strand"][i].decode(), *(f"{v:.6g}" for v in d["gene_values"][i])])
    write_tsv(tsv, ["gene_id", "gene_name", "chr", "tss", "strand"] + ids, rows)
