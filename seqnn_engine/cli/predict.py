"""``predict``: ensemble predictions of many sequences into a scores HDF5.

    python -m seqnn_engine predict --model DIR --fasta F --out preds.h5
    python -m seqnn_engine predict --model DIR --bed regions.bed --genome G.fa --targets 0-3 --rc \\
        --shifts -1,0,1 --out preds.h5 [--bigwig-out PREFIX] [--tsv-out sums.tsv] [--store DIR]

Output (scores layout): ``seqs`` (R, L, 4) bool, ``preds`` (R, P, T') float16 (``--float32``),
``chr``/``start``/``end``/``gene``/``strand``, ``target_ids``/``target_labels``,
``chrom_names``/``chrom_lengths``. ``--tsv-out``: one row per window with each target's sum
over bins. ``--bigwig-out PREFIX``: ``PREFIX.<target id>.bw`` per target, bins placed on the
genome (or on the FASTA records), overlapping windows averaged.
"""
from __future__ import annotations

import sys

import numpy as np

from . import options as opt
from . import replicates
from .inputs import (check_one_input, chrom_static, collect_windows, job_fingerprint, run_to_file,
                     summary_line, target_static)


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="ensemble predictions of FASTA / BED / gene windows into HDF5",
                       description="Predict many sequences with a model (chunked, resumable).")
    opt.add_model_options(p)
    replicates.add_option(p)
    opt.add_sequence_inputs(p)
    opt.add_ensemble_options(p)
    opt.add_job_options(p)
    opt.add_store_options(p)
    o = p.add_argument_group("extra outputs")
    o.add_argument("--tsv-out", metavar="TSV", help="per-window sums over bins, one column per target")
    o.add_argument("--bigwig-out", metavar="PREFIX", help="one bigWig per target: PREFIX.<target>.bw")


def prediction_options(args, tidx) -> dict:
    return {"rc": bool(args.rc), "shifts": opt.parse_shifts(args.shifts), "mc_n": int(args.mc),
            "mc_seed": int(args.mc_seed), "targets": None if tidx is None else [int(t) for t in tidx],
            "n_value": float(args.n_value), "batch_size": int(args.batch_size)}


def store_key_fn(info, options):
    """Store key of a row: the engine session's key of the same request (the dashboard's)."""
    from ..session import Request, Session

    ses, req = Session(model=info), Request.from_options(options)
    return lambda seq: ses.prediction_key(req.with_(sequence=seq), targets=options.get("targets"))


def run(args) -> int:
    return replicates.run_over_replicates(args, _run, ("preds",))


def _run(args) -> int:
    opt.check_job_args(args)
    out = opt.out_path(args.out)
    kind = check_one_input(args)
    targets = opt.parse_index_list(args.targets) if args.targets else None
    if args.tsv_out:
        opt.out_path(args.tsv_out, "--tsv-out")
    executor, store, info, tidx = opt.start_job(args, targets)
    try:
        win = collect_windows(args, info, kind)
        for note in win.notes:
            print(note, file=sys.stderr)
        options = prediction_options(args, targets)
        dtype = opt.float_dtype(args)
        job = job_fingerprint("predict", info, win.digest(), options, {"dtype": np.dtype(dtype).name})
        static = {**target_static(info, tidx), **chrom_static(win.chrom_sizes)}
        path, report = run_to_file(
            args, executor, rows=win.seqs, kind="predict", options=options,
            datasets={"preds": ((info.target_length, len(tidx)), dtype)}, coords=win.coords, static=static,
            job=job, include_seqs=True, seqs=win.seqs, store=store,
            store_key=store_key_fn(info, options) if store is not None else None, desc="predict")
    finally:
        executor.close()
    if args.tsv_out or args.bigwig_out:
        write_extra_outputs(path, args, info)
    if not args.quiet:
        print(summary_line(path, report, len(win)), file=sys.stderr)
    return 0


def write_extra_outputs(path, args, info) -> None:
    from ..io.export import read_scores
    from .tracks import prediction_bigwigs, write_tsv

    data = read_scores(path)
    ids = [t.decode() for t in data["target_ids"]]
    if args.tsv_out:
        sums = data["preds"].astype(np.float64).sum(axis=1)
        header = ["chr", "start", "end", "name", "strand"] + ids
        rows = []
        for i in range(sums.shape[0]):
            rows.append([data["chr"][i].decode(), int(data["start"][i]), int(data["end"][i]),
                         data["gene"][i].decode(), data["strand"][i].decode(),
                         *(f"{v:.6g}" for v in sums[i])])
        write_tsv(args.tsv_out, header, rows)
    if args.bigwig_out:
        prediction_bigwigs(args.bigwig_out, data, ids, info.geometry)
