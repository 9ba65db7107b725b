"""``variants``: variant effect scores (REF vs ALT predictions) for a VCF.

    python -m seqnn_engine variants --model DIR --vcf V.vcf --genome G.fa --stats SUM,logSUM,D2 \\
        --targets 0-3 --rc --shifts -1,0,1 --out scores.h5 --tsv-out scores.tsv

Windows, flipped alleles and the statistics are those of :mod:`seqnn_engine.analysis.variants` (the
reference's SNP scoring: each shift predicted separately, SUM/logSUM summed over shifts and
bins, D2 the mean over shifts of the L2 norm over bins), with the options of the engine session
(:meth:`seqnn_engine.session.Session.variant_options`, as the dashboard's variant view); ``--mc N``
averages N MC-dropout samples into each shift's prediction (``--mc-seed``); ``--precision bfloat16``
computes in bfloat16; ``--replicates all|LIST`` scores with each replicate weight file and stores the
mean over replicates of each replicate's scores and predictions (replicates as ensemble members, like
shifts: D2 is the mean of the replicates' D2) with ``<stat>_replicate_std``, as the dashboard's
*all* replicates. Output: one (V, T') dataset per
statistic (float16 clipped to its range, or ``--float32``), ``chr``/``start``/``end`` (the
window), ``snp``, ``pos`` (1-based), ``ref_allele``, ``alt_allele``, ``flipped``,
``target_ids``/``target_labels``; ``--save-preds`` adds ``REF``/``ALT`` (V, H, P, T').

The VCF is read by :mod:`seqnn_engine.io.vcf` (htslib through pysam: VCF, bgzipped VCF, BCF).
Records whose FILTER is not PASS or '.' are skipped unless ``--keep-filtered``; ``--region
CHR:START-END`` (0-based half-open) reads only the records overlapping it, through the
file's .tbi/.csi index.
"""
from __future__ import annotations

import sys

import numpy as np

from ..errors import InputError
from . import options as opt
from . import replicates
from .inputs import _genome, job_fingerprint, run_to_file, summary_line, target_static


def add_parser(sub) -> None:
    from ..analysis.variants import SCORE_STATS

    p = sub.add_parser("variants", help="variant effect scores (SUM, logSUM, D2, ...) for a VCF",
                       description="Score each variant of a VCF by comparing REF and ALT predictions.")
    opt.add_model_options(p)
    i = p.add_argument_group("variants")
    i.add_argument("--vcf", required=True, metavar="VCF",
                   help="VCF, bgzipped VCF or BCF (CHROM POS ID REF ALT; read with htslib)")
    i.add_argument("--region", metavar="CHR:START-END",
                   help="only the variants overlapping this region (0-based half-open, as BED and the "
                        "dashboard; needs a bgzipped VCF with a .tbi/.csi index, or an indexed BCF)")
    i.add_argument("--keep-filtered", action="store_true",
                   help="also score records whose FILTER is not PASS or '.' (default: skip them)")
    i.add_argument("--genome", metavar="FA", help="indexed genome FASTA (default: the model directory's)")
    i.add_argument("--stats", default="SUM", metavar="LIST",
                   help=f"comma-separated statistics from {','.join(SCORE_STATS)} (default SUM)")
    i.add_argument("--skip-indels", action="store_true", help="leave insertions/deletions out (default: error)")
    i.add_argument("--untransform", action="store_true",
                   help="undo the targets.txt transform of predictions before scoring (as the reference)")
    opt.add_ensemble_options(p)
    replicates.add_option(p)
    opt.add_job_options(p, chunk_size=16)
    o = p.add_argument_group("extra outputs")
    o.add_argument("--save-preds", action="store_true", help="also store REF and ALT predictions per shift")
    o.add_argument("--tsv-out", metavar="TSV", help="one row per variant, a column per statistic and target")


def parse_stats(text: str) -> list[str]:
    from ..analysis.variants import SCORE_STATS

    stats = [s.strip() for s in text.split(",") if s.strip()]
    if not stats:
        raise InputError("--stats is empty: give e.g. SUM or SUM,logSUM,D2")
    for s in stats:
        if s not in SCORE_STATS:
            raise InputError(f"unknown statistic {s!r} in --stats: choose from {', '.join(SCORE_STATS)}")
    if len(set(stats)) != len(stats):
        raise InputError("--stats lists a statistic twice")
    return stats


def run(args) -> int:
    """One run, or with ``--replicates`` one run per replicate combined (the mean over replicates of each
    replicate's scores and REF/ALT predictions, ``<stat>_replicate_std``; the TSV is written from the
    combined file)."""
    if not getattr(args, "replicates", None):
        return _run(args)
    stats = parse_stats(args.stats)
    tsv, args.tsv_out = args.tsv_out, None
    if tsv:
        opt.out_path(tsv, "--tsv-out")
    rc = replicates.run_over_replicates(args, _run, tuple(stats) + ("REF", "ALT"))
    if rc == 0 and tsv:
        write_variant_tsv(args.out, tsv, stats)
    return rc


def _run(args) -> int:
    from ..analysis.variants import check_substitutions, clip_float16, variant_window
    from ..genomics.genome import parse_interval
    from ..io.vcf import read_vcf

    opt.check_job_args(args)
    opt.out_path(args.out)
    if args.tsv_out:
        opt.out_path(args.tsv_out, "--tsv-out")
    stats = parse_stats(args.stats)
    targets = opt.parse_index_list(args.targets) if args.targets else None
    vcf = read_vcf(args.vcf, region=parse_interval(args.region) if args.region else None,
                   keep_filtered=args.keep_filtered)
    variants = list(vcf.variants)
    n_indels = sum(not v.is_substitution for v in variants)
    if args.skip_indels:
        variants = [v for v in variants if v.is_substitution]
    else:
        check_substitutions(variants)
    if not variants:
        raise InputError(f"{args.vcf} has no substitutions to score")
    executor, _, info, tidx = opt.start_job(args, targets, with_store=False)
    try:
        if args.untransform and info.targets is None:
            raise InputError("--untransform needs the model's targets.txt (give --targets-file)")
        with _genome(args, info) as genome:
            wins = [variant_window(v, genome, info.seq_length) for v in variants]
        from ..session import Session
        options = Session.variant_options(opt.request(args, targets), stats, batch_size=int(args.batch_size),
                                          untransform=bool(args.untransform), keep_preds=bool(args.save_preds))
        dtype = opt.float_dtype(args)
        T, H = len(tidx), len(options["shifts"])
        datasets = {s: ((T,), dtype) for s in stats}
        if args.save_preds:
            datasets["REF"] = ((H, info.target_length, T), dtype)
            datasets["ALT"] = ((H, info.target_length, T), dtype)

        def finalize(i0, i1, result):
            if dtype == np.float16:
                return {k: clip_float16(v) for k, v in result.items()}
            return dict(result)

        enc = lambda xs: np.array([x.encode("utf-8") for x in xs], dtype="S")  # noqa: E731
        coords = {"chr": [w.chrom for w in wins], "start": [w.start for w in wins], "end": [w.end for w in wins]}
        static = {**target_static(info, tidx),
                  "snp": enc([w.variant.id for w in wins]),
                  "pos": np.array([w.variant.pos for w in wins], dtype=np.int64),
                  "ref_allele": enc([w.variant.ref for w in wins]),
                  "alt_allele": enc([w.variant.alt for w in wins]),
                  "flipped": np.array([w.flipped for w in wins], dtype=bool)}
        import hashlib
        h = hashlib.sha256()
        for w in wins:
            h.update(w.ref_seq.encode() + b"\n" + w.alt_seq.encode() + b"\n")
        job = job_fingerprint("variants", info, h.hexdigest(), options, {"dtype": np.dtype(dtype).name})
        path, report = run_to_file(
            args, executor, rows=[(w.ref_seq, w.alt_seq) for w in wins], kind="variants", options=options,
            datasets=datasets, coords=coords, static=static, job=job, include_seqs=False, seqs=None,
            finalize=finalize, desc="variants", unit="var")
    finally:
        executor.close()
    if args.tsv_out:
        write_variant_tsv(path, args.tsv_out, stats)
    if not args.quiet:
        notes = []
        if n_indels and args.skip_indels:
            notes.append(f"{n_indels} indel(s) skipped")
        if vcf.n_no_alt:
            notes.append(f"{vcf.n_no_alt} record(s) without ALT skipped")
        if vcf.n_filtered:
            notes.append(f"{vcf.n_filtered} record(s) failing FILTER skipped")
        flipped = sum(w.flipped for w in wins)
        if flipped:
            notes.append(f"{flipped} flipped (genome holds ALT)")
        line = summary_line(path, report, len(wins))
        print(line + ("; " + "; ".join(notes) if notes else ""), file=sys.stderr)
    return 0


def write_variant_tsv(path, tsv, stats) -> None:
    from ..io.export import read_scores
    from .tracks import write_tsv

    d = read_scores(path)
    ids = [t.decode() for t in d["target_ids"]]
    header = ["snp", "chr", "pos", "ref", "alt", "flipped"] + [f"{s}:{t}" for s in stats for t in ids]
    rows = []
    for i in range(len(d["snp"])):
        vals = [f"{float(v):.6g}" for s in stats for v in d[s][i]]
        rows.append([d["snp"][i].decode(), d["chr"][i].decode(), int(d["pos"][i]), d["ref_allele"][i].decode(),
                     d["alt_allele"][i].decode(), int(bool(d["flipped"][i])), *vals])
    write_tsv(tsv, header, rows)
