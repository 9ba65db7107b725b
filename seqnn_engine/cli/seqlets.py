"""``seqlets``: seqlets of an attribution file (``attribute`` / ``ism`` output), named by TOMTOM.

    python -m seqnn_engine seqlets --in scores.h5 --out seqlets.bed [--motifs FILE.meme] [--tsv seqlets.tsv]

Per row of the file, the per-base contribution (as ``export --reduce auto``: the present base's
value for saliency, grad x input and SmoothGrad; the sum over ACGT for integrated gradients; minus
the mean ISM delta for ISM) is searched for seqlets (:func:`seqnn_engine.motifs.seqlets.call_seqlets`)
and each seqlet is matched to the motif database (default: the bundled JASPAR 2024 CORE vertebrates
non-redundant set; ``--motifs`` a MEME file such as HOCOMOCO or CIS-BP; ``--no-match`` skips it).

BED output (header line first): chrom, start, end (genome coordinates for BED and gene inputs; the
record name and record coordinates for FASTA inputs), name (best match's name or "."), score (summed
contribution), strand (of the best match, "." if none), p_value, motif_ids (up to 3 best matching
IDs, comma-separated, "." if none), match_q (their TOMTOM q-values). ``--tsv`` writes every field
of the seqlet table (input and genome coordinates, sign, p-values, matches, target and objective).

``--verify knockout --model DIR`` (or ``--params``/``--weights``) asks which seqlets the prediction
depends on (:func:`seqnn_engine.motifs.verify.knockout_seqlets`): each seqlet's span is replaced by
random bases (``--ko-shuffles`` times), the change of the objective recorded in the file (its targets,
bins, statistic and RC / shift ensemble) is tested against knock-outs of random spans outside the
seqlets (``--ko-null`` per row), BH-FDR ``--ko-alpha`` and the sign rule (a positive seqlet's
knock-out lowers the objective). The scores file records the digest of its model (not its
location), so the model is given again and must have that digest. The TSV gains the columns ko_effect,
ko_p, ko_q, verified; the BED keeps its columns; ``--verified-only`` writes only verified seqlets to
both. Without ``--verify`` nothing changes.
"""
from __future__ import annotations

import json
import sys

import numpy as np

from ..errors import InputError
from . import options as opt


def add_parser(sub) -> None:
    p = sub.add_parser("seqlets", help="seqlets of an attribution file, named by TOMTOM (BED/TSV)",
                       description="Call seqlets (significant positive and negative runs of contribution) in an "
                                   "attribute/ism output and match them to motifs.")
    p.add_argument("--in", dest="input", required=True, metavar="H5", help="output of attribute or ism")
    p.add_argument("--out", required=True, metavar="BED", help="seqlets BED (with a header line)")
    p.add_argument("--tsv", metavar="TSV", help="also the full seqlet table as TSV")
    add_match_options(p)
    p.add_argument("--no-match", action="store_true", help="do not match seqlets to motifs")
    p.add_argument("--query", choices=("contribution", "hypothetical", "sequence"), default="contribution",
                   help="matrix matched to the motifs (default contribution)")
    s = p.add_argument_group("seqlet calling")
    s.add_argument("--alpha", type=float, default=0.05,
                   help="bound on the per-sequence Bonferroni-adjusted p-value (default 0.05)")
    s.add_argument("--min-len", type=int, default=4, help="shortest window tested (default 4)")
    s.add_argument("--max-len", type=int, default=30, help="longest window tested (default 30)")
    s.add_argument("--flank", type=int, default=0, help="bases added on each side of a seqlet (default 0)")
    s.add_argument("--merge-gap", type=int, default=5,
                   help="a weaker opposite-sign seqlet within this many bases joins the stronger one when the "
                        "joined span is significant (default 5; -1: never join)")
    s.add_argument("--sign", choices=("both", "positive", "negative"), default="both",
                   help="contributions to call (default both)")
    s.add_argument("--null", choices=("pooled", "sequence", "both"), default="pooled",
                   help="null values: all rows' (default), each row's own, or both tests")
    s.add_argument("--clip", type=float, default=1e-3,
                   help="null grid spans these quantiles of the values (default 1e-3; 0 = min..max)")
    v = p.add_argument_group("knock-out verification (--verify knockout; needs the model)")
    v.add_argument("--verify", choices=("none", "knockout"), default="none",
                   help="verify seqlets by knocking them out (default none)")
    v.add_argument("--ko-shuffles", type=int, default=4, metavar="K",
                   help="random replacements per seqlet, averaged (default 4)")
    v.add_argument("--ko-null", type=int, default=20, metavar="N",
                   help="null knock-outs (random spans outside the seqlets) per row (default 20)")
    v.add_argument("--ko-alpha", type=float, default=0.05, help="BH-FDR level of 'verified' (default 0.05)")
    v.add_argument("--ko-min-effect", type=float, default=0.0, metavar="X",
                   help="also require |knock-out effect| >= X (objective units; default 0)")
    v.add_argument("--ko-min-fraction", type=float, default=0.0, metavar="F",
                   help="also require |knock-out effect| >= F x the row's objective (0..1; default 0)")
    v.add_argument("--ko-min-share", type=float, default=0.0, metavar="R",
                   help="also require the knock-out to reproduce >= R of the seqlet's summed contribution "
                        "(-sign x effect >= R x |score|; saliency attributions; default 0)")
    v.add_argument("--ko-seed", type=int, default=0, help="seed of the null spans and replacements (default 0)")
    v.add_argument("--verified-only", action="store_true", help="write only the verified seqlets (BED and TSV)")
    v.add_argument("--batch-size", type=int, default=8, help="sequences per forward pass (default 8)")
    opt.add_model_options(p)
    p.add_argument("--rows", metavar="LIST", help="rows to use, e.g. 0,2-5 (default all)")
    p.add_argument("--quiet", action="store_true", help="no summary on stderr")


def add_match_options(p) -> None:
    m = p.add_argument_group("motif matching")
    m.add_argument("--motifs", metavar="MEME", help="motif database (MEME format; default bundled JASPAR 2024 "
                                                    "CORE vertebrates non-redundant)")
    m.add_argument("--max-q", type=float, default=0.5, help="TOMTOM q-value bound for a match (default 0.5)")


def file_description(path) -> dict:
    """Targets, objective and method recorded in an attribution file."""
    import h5py

    with h5py.File(path, "r") as f:
        ids = [x.decode() for x in f["target_ids"][()]] if "target_ids" in f else []
        raw = f.attrs.get("layout_json")
    layout = json.loads(raw.decode() if isinstance(raw, bytes) else raw) if raw else {}
    o = layout.get("job", {}).get("options", {})
    pos = o.get("positions")
    where = "all bins" if pos in (None, "all") else ("central bins" if pos == "center" else
                                                     f"bins {pos[0]}:{pos[1]}" if isinstance(pos, list) else str(pos))
    objective = f"{o.get('statistic', 'sum')} over {where} of the mean of the targets"
    return {"targets": ",".join(ids), "objective": objective, "method": str(o.get("method", ""))}


def file_job(path) -> dict:
    """The job fingerprint recorded in an attribution file (command, model digest, options)."""
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs.get("layout_json")
    layout = json.loads(raw.decode() if isinstance(raw, bytes) else raw) if raw else {}
    return layout.get("job", {})


def verify_knockout(args, af, table, x):
    """Knock-out verification of ``table`` (seqlets of the file's rows ``af.rows``) with the model of
    ``--model``/``--params``, for the objective recorded in the file. Returns the table with the knock-out
    columns."""
    from ..motifs.verify import knockout_seqlets

    job = file_job(args.input)
    o = job.get("options")
    if not o:
        raise InputError(f"{args.input} does not record the objective it was computed for (no job options): "
                         "--verify knockout needs a file written by attribute or ism")
    if int(o.get("mc_n", 0) or 0):
        raise InputError("--verify knockout does not support MC-dropout attributions (the file has mc_n > 0)")
    model = opt.model_source(args).load()
    want = str(job.get("model", ""))
    if want and str(getattr(model, "digest", "")) != want:
        raise InputError(f"{args.input} was computed with model {want[:12]}..., but the given model is "
                         f"{str(getattr(model, 'digest', ''))[:12]}...: give the same model (directory, head, "
                         "replicate, precision)")
    n_value = float(o.get("n_value", 0.0) or 0.0)
    if n_value:
        x = np.where(x.sum(-1, keepdims=True) == 0, np.float32(n_value), x).astype(np.float32)
    pos = o.get("positions")
    kt = knockout_seqlets(model, x, table, targets=o.get("targets"), positions=pos,
                          statistic=o.get("statistic", "sum"), pseudocount=float(o.get("pseudocount", 0.0) or 0.0),
                          untransform=bool(o.get("untransform", False)), n_shuffles=args.ko_shuffles,
                          n_null=args.ko_null, alpha=args.ko_alpha, min_effect=args.ko_min_effect,
                          min_fraction=args.ko_min_fraction, min_share=args.ko_min_share, seed=args.ko_seed,
                          rc=bool(o.get("rc", False)), shifts=tuple(o.get("shifts") or (0,)),
                          batch_size=args.batch_size)
    return table.with_knockout(kt)


def load_motif_db(args):
    from ..motifs.meme import load_motifs

    return load_motifs(args.motifs)


def run(args) -> int:
    from ..io.atomic import write_text_atomic
    from ..motifs.seqlets import call_seqlets
    from .export import AttributionFile

    opt.out_path(args.out)
    if args.tsv:
        opt.out_path(args.tsv, "--tsv")
    if not 0 < args.max_q <= 1:
        raise InputError(f"--max-q must be in (0, 1], got {args.max_q}")
    verify = args.verify == "knockout"
    if args.verified_only and not verify:
        raise InputError("--verified-only needs --verify knockout")
    if verify:
        opt.model_source(args)            # a missing or bad model fails before any work
    db = None if args.no_match else load_motif_db(args)   # a bad MEME file fails before any work
    rows = opt.parse_index_list(args.rows, "--rows") if args.rows else None
    af = AttributionFile(args.input, rows)
    if len(af.rows) == 0:
        raise InputError(f"{args.input} has no rows")
    desc = file_description(args.input)
    contrib = af.track("auto", "auto").astype(np.float64)
    signs = {"both": (1, -1), "positive": (1,), "negative": (-1,)}[args.sign]
    table = call_seqlets(contrib, alpha=args.alpha, min_len=args.min_len, max_len=args.max_len, flank=args.flank,
                         merge_gap=None if args.merge_gap == -1 else args.merge_gap,
                         null=args.null, clip=args.clip, signs=signs, **desc)
    if db is not None and len(table):
        from ..motifs.annotate import annotate_seqlets

        if af.seqs is None:
            raise InputError(f"{args.input} has no 'seqs' dataset: needed to match seqlets to motifs "
                             "(or give --no-match)")
        x = af.seqs.astype(np.float32)
        hyp = af.grads.astype(np.float64) if af.grads is not None else None
        if args.query == "hypothetical" and hyp is None:
            raise InputError(f"{args.input} has no 'grads' (hypothetical scores) for --query hypothetical")
        table = annotate_seqlets(table, x, hypothetical=hyp, contributions=contrib, motifs=db,
                                 max_q=args.max_q, query=args.query)
    if verify and len(table):
        if af.seqs is None:
            raise InputError(f"{args.input} has no 'seqs' dataset: needed to knock seqlets out")
        table = verify_knockout(args, af, table, af.seqs.astype(np.float32))
    n_called = len(table)
    if args.verified_only:
        table = table.verified_only() if table.has_knockout else table
    chroms, starts = af.placement()
    sizes = af.chrom_sizes() if af.chrom is not None else None
    table = table.place(chroms, starts, chrom_sizes=sizes)
    write_text_atomic(args.out, table.to_bed())
    if args.tsv:
        write_text_atomic(args.tsv, table.to_tsv())
    if not args.quiet:
        named = 0 if table.matches is None else int((table.matches.ids[:, 0] != "").sum())
        print(f"{len(table)} seqlets ({int((table.sign > 0).sum())} positive, {int((table.sign < 0).sum())} "
              f"negative; {named} matched) in {len(af.rows)} rows of {args.input} -> {args.out}", file=sys.stderr)
        if table.has_knockout:
            print(f"knock-out verification: {int(table.verified.sum())} of {n_called} seqlets verified"
                  + (" (only these written)" if args.verified_only else ""), file=sys.stderr)
    return 0
