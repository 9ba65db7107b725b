"""``attribute``: input attributions of many sequences into a scores HDF5.

    python -m seqnn_engine attribute --model DIR --fasta F --targets 0 --method saliency --out X.h5
    python -m seqnn_engine attribute --model DIR --bed B --genome G --targets 0,1 \\
        --method grad_x_input --positions center --statistic log --rc --out X.h5 [--store DIR]

Every row is ``model.attribute(window, ...)`` of the engine: the objective is the statistic
(sum | mean | log) of the selected bins' (``--positions all | center | bins a:b``) mean over
the selected targets. Output (scores layout): ``seqs`` (R, L, 4) bool, ``scores`` (R, L, 4)
and ``grads`` (R, L, 4, the hypothetical scores) float16 (``--float32``), ``objective`` (R,)
float32, coordinates, target and chromosome tables. ``--bigwig-out`` writes the per-base
attribution (see ``export``), ``--tsv-out`` one row per window with its objective.
"""
from __future__ import annotations

import sys

import numpy as np

from ..errors import InputError
from . import options as opt
from . import replicates
from .inputs import (check_one_input, chrom_static, collect_windows, job_fingerprint, run_to_file,
                     summary_line, target_static)

METHODS = ("saliency", "grad_x_input", "smoothgrad", "integrated_gradients", "ism", "deep_lift_shap")
ISM_ENGINES = ("auto", "incremental", "subwindow", "hybrid", "full")   # = attribution.ism.ISM_ENGINES


def add_parser(sub) -> None:
    p = sub.add_parser("attribute", help="input attributions (saliency ... ISM) of many sequences into HDF5",
                       description="Attribute a model objective to input bases for many sequences "
                                   "(chunked, resumable).")
    add_common(p, method=True)


def add_common(p, method: bool) -> None:
    opt.add_model_options(p)
    replicates.add_option(p)
    opt.add_sequence_inputs(p)
    opt.add_ensemble_options(p, targets_help="targets averaged in the objective, e.g. 0,1 or 0-3 (default all)")
    a = p.add_argument_group("objective and method")
    if method:
        a.add_argument("--method", choices=METHODS, default="saliency", help="attribution method (default saliency)")
    a.add_argument("--positions", default="all", metavar="SPEC",
                   help="output bins in the objective: all (default), center, or 'bins A:B'")
    a.add_argument("--objective", choices=("bins", "exons", "tss"), default="bins",
                   help="bins: the --positions bins (default); with --gtf/--genes: exons (the sum over the "
                        "gene's exon bins of the targets read on the gene's strand, as Borzoi's gene "
                        "gradients) or tss (its TSS bins, strand-matched), per gene")
    a.add_argument("--gene-centre", choices=("tss", "body"), default="tss",
                   help="with --gtf: centre each gene's window on its primary TSS (default) or its body")
    a.add_argument("--statistic", choices=("sum", "mean", "log"), default="sum",
                   help="objective statistic over bins (default sum)")
    a.add_argument("--no-mean-center", action="store_true", help="keep raw gradients (no ACGT mean-centring)")
    a.add_argument("--window", metavar="A:B", help="ISM window in bp of the model input (default: whole input)")
    a.add_argument("--ism-engine", choices=ISM_ENGINES, default="auto",
                   help="how ISM mutants are predicted, all exact: incremental (only the changed span of each "
                        "layer), subwindow, hybrid (layers before the first attention/U-net layer "
                        "incrementally, the rest at full length), full (whole input each); auto picks the "
                        "fastest the model allows")
    a.add_argument("--method-option", action="append", metavar="NAME=VALUE",
                   help="further option of the method, e.g. n_samples=16 or, for deep_lift_shap, "
                        "n_refs=20 (repeatable)")
    opt.add_job_options(p, chunk_size=8)
    opt.add_store_options(p)
    o = p.add_argument_group("extra outputs")
    o.add_argument("--tsv-out", metavar="TSV", help="one row per window: coordinates and objective")
    o.add_argument("--bigwig-out", metavar="BW", help="per-base attribution bigWig (as export --bigwig-out)")


def attribution_options(args, method: str, tidx) -> dict:
    o = {"method": method, "targets": None if tidx is None else [int(t) for t in tidx],
         "positions": opt.parse_positions(args.positions), "statistic": args.statistic,
         "mean_center": not args.no_mean_center, "rc": bool(args.rc), "shifts": opt.parse_shifts(args.shifts),
         "mc_n": int(args.mc), "mc_seed": int(args.mc_seed), "n_value": float(args.n_value),
         "batch_size": int(args.batch_size)}
    if args.window:
        if method != "ism":
            raise InputError("--window is the ISM window: use it with the ism command or --method ism")
        o["window"] = list(opt.parse_range(args.window, "--window"))
    if args.ism_engine != "auto":
        if method != "ism":
            raise InputError("--ism-engine chooses how ISM is computed: use it with the ism command or --method ism")
        o["ism_engine"] = args.ism_engine
    extra = opt.parse_method_options(args.method_option)
    clash = set(extra) & set(o)
    if clash:
        raise InputError(f"--method-option {sorted(clash)[0]} has its own option; use that instead")
    o.update(extra)
    return o


def store_key_fn(info, options):
    """Store key of a row: the engine session's key of the same request (the dashboard's); how the
    same numbers are computed (batching, ISM engine) is not part of the result's identity."""
    from ..session import Request, Session

    ses, req = Session(model=info), Request.from_options(options)
    return lambda seq: ses.attribution_key(req.with_(sequence=seq))


def gene_objective_rows(args, info, win, tidx) -> list:
    """(window, bins, targets) per gene row for --objective exons|tss (the session's gene_objective)."""
    from ..analysis.gene_predict import gene_objective
    from ..model.target_catalog import TargetCatalog

    if win.gene_windows is None:
        raise InputError(f"--objective {args.objective} is per gene: give genes with --gtf and --genes")
    if args.positions != "all":
        raise InputError(f"--objective {args.objective} sets the objective bins: leave out --positions")
    cat = TargetCatalog.from_table(info.targets, info.num_targets)
    targets = list(range(info.num_targets)) if tidx is None else [int(t) for t in tidx]
    rows = []
    for seq, gw in zip(win.seqs, win.gene_windows):
        bins, tsel = gene_objective(gw, args.objective, targets, cat)
        rows.append((seq, tuple(int(b) for b in bins), tuple(int(t) for t in tsel)))
    return rows


def rows_key_fn(info, options):
    """Store key of a gene-objective row: the session's key of its request (its bins and targets)."""
    from ..session import Request, Session

    ses, req = Session(model=info), Request.from_options(options)
    return lambda row: ses.attribution_key(req.with_(sequence=row[0], positions=row[1], targets=row[2]))


def run(args) -> int:
    return replicates.run_over_replicates(args, lambda a: run_attribution(a, a.method, "attribute"),
                                          ("scores", "grads", "objective"))


def run_attribution(args, method: str, command: str) -> int:
    opt.check_job_args(args)
    opt.out_path(args.out)
    kind = check_one_input(args)
    targets = opt.parse_index_list(args.targets) if args.targets else None
    for flag in ("tsv_out", "bigwig_out"):
        if getattr(args, flag):
            opt.out_path(getattr(args, flag), "--" + flag.replace("_", "-"))
    options = attribution_options(args, method, targets)
    executor, store, info, tidx = opt.start_job(args, targets)
    try:
        pos = options["positions"]
        if isinstance(pos, list) and pos[-1] >= info.target_length:
            raise InputError(f"--positions bins go up to {pos[-1]} but the model has {info.target_length} "
                             f"output bins (0..{info.target_length - 1})")
        if options.get("window") and options["window"][1] > info.seq_length:
            raise InputError(f"--window ends at {options['window'][1]} but the model input is "
                             f"{info.seq_length} bp")
        win = collect_windows(args, info, kind)
        for note in win.notes:
            print(note, file=sys.stderr)
        dtype = opt.float_dtype(args)
        L = info.seq_length
        rows, work, key_fn = win.seqs, "attribute", (store_key_fn(info, options) if store is not None else None)
        extra = {"dtype": np.dtype(dtype).name}
        if args.objective != "bins":
            rows = gene_objective_rows(args, info, win, tidx)
            work, extra["objective"] = "attribute_rows", args.objective
            key_fn = rows_key_fn(info, options) if store is not None else None
        extra["gene_centre"] = getattr(args, "gene_centre", "tss")
        job = job_fingerprint(command, info, win.digest(), options, extra)
        static = {**target_static(info, tidx), **chrom_static(win.chrom_sizes)}
        datasets = {"scores": ((L, 4), dtype), "grads": ((L, 4), dtype), "objective": ((), np.float32)}
        path, report = run_to_file(
            args, executor, rows=rows, kind=work, options=options, datasets=datasets,
            coords=win.coords, static=static, job=job, include_seqs=True, seqs=win.seqs, store=store,
            store_key=key_fn, desc=command)
    finally:
        executor.close()
    if args.tsv_out:
        write_objective_tsv(path, args.tsv_out)
    if args.bigwig_out:
        from .export import attribution_bigwig
        attribution_bigwig(path, args.bigwig_out)
    if not args.quiet:
        print(summary_line(path, report, len(win)), file=sys.stderr)
    return 0


def write_objective_tsv(path, tsv) -> None:
    from ..io.export import read_scores
    from .tracks import write_tsv

    d = read_scores(path)
    rows = [[d["chr"][i].decode(), int(d["start"][i]), int(d["end"][i]), d["gene"][i].decode(),
             d["strand"][i].decode(), f"{float(d['objective'][i]):.9g}"] for i in range(len(d["objective"]))]
    write_tsv(tsv, ["chr", "start", "end", "name", "strand", "objective"], rows)
