"""``motifs``: TF-MoDISco (modisco-lite) on an attribution file's hypothetical contributions.

    python -m seqnn_engine motifs --in scores.h5 --out DIR [--motifs FILE.meme] [--window 1000]

Runs TF-MoDISco in-process on the file's ``seqs`` and ``grads`` (hypothetical contributions; ISM
files: the centred ISM deltas) and writes, in DIR:

- ``modisco.h5``: modisco-lite's results (``modisco report -i DIR/modisco.h5`` reads it);
- ``report.html``: each pattern's contribution and sequence logos and its best matches' logos;
- ``motifs.meme``: the discovered motifs (trimmed probability matrices; ids ``pos_0``, ``neg_0``...);
- ``matches.tsv``: header, then one row per pattern: pattern, n_seqlets, motif_ids (up to 3 best
  TOMTOM matches in the motif database, default the bundled JASPAR 2024 set), motif_names, q_values;
- ``seqlets.bed``: every pattern seqlet in genome coordinates (header line; name = pattern, score =
  summed contribution, strand '-' when the seqlet is aligned reversed).

``--window W`` gives TF-MoDISco only the central W bases of each row (e.g. the output span).
Progress goes to stderr.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..errors import InputError
from . import options as opt
from .seqlets import add_match_options, file_description, load_motif_db

STAGES = ("read", "TF-MoDISco", "TOMTOM", "write")


def add_parser(sub) -> None:
    p = sub.add_parser("motifs", help="TF-MoDISco patterns of an attribution file, named by TOMTOM",
                       description="Run TF-MoDISco (modisco-lite) on an attribute/ism output and match the "
                                   "patterns to a motif database.")
    p.add_argument("--in", dest="input", required=True, metavar="H5", help="output of attribute or ism")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created if missing)")
    add_match_options(p)
    m = p.add_argument_group("TF-MoDISco")
    m.add_argument("--window", type=int, default=None, metavar="W",
                   help="central bases of each row given to TF-MoDISco (default all)")
    m.add_argument("--max-seqlets", type=int, default=2000, help="seqlets per metacluster (default 2000)")
    m.add_argument("--n-leiden", type=int, default=2, help="Leiden clustering runs (default 2)")
    m.add_argument("--sliding-window", type=int, default=21, help="seqlet core window (default 21)")
    m.add_argument("--flank", type=int, default=10, help="seqlet flank (default 10)")
    m.add_argument("--trim-size", type=int, default=20, help="pattern trim window (default 20)")
    p.add_argument("--rows", metavar="LIST", help="rows to use, e.g. 0,2-5 (default all)")
    p.add_argument("--quiet", action="store_true", help="no progress or summary on stderr")


def run(args) -> int:
    from tqdm import tqdm

    from ..motifs import modisco as md
    from .export import AttributionFile

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file: give a directory")
    if not out.parent.exists():
        raise InputError(f"--out parent directory does not exist: {out.parent}")
    if not 0 < args.max_q <= 1:
        raise InputError(f"--max-q must be in (0, 1], got {args.max_q}")
    for flag in ("max_seqlets", "n_leiden", "sliding_window", "trim_size"):
        if getattr(args, flag) < 1:
            raise InputError(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    if args.flank < 0:
        raise InputError(f"--flank must be >= 0, got {args.flank}")
    # everything a user can get wrong is checked before the progress bar starts
    db = load_motif_db(args)
    rows = opt.parse_index_list(args.rows, "--rows") if args.rows else None
    af = AttributionFile(args.input, rows)
    if len(af.rows) == 0:
        raise InputError(f"{args.input} has no rows")
    if af.seqs is None or af.grads is None:
        raise InputError(f"{args.input} needs 'seqs' and 'grads' (hypothetical contributions) for TF-MoDISco")
    a, b = md.central_window(af.seqs.shape[1], args.window)
    bar = tqdm(total=len(STAGES), desc="motifs", unit="stage", file=sys.stderr, disable=args.quiet,
               dynamic_ncols=True)
    try:
        bar.set_postfix_str("reading")
        x = af.seqs[:, a:b].astype(np.float32)
        h = af.grads[:, a:b].astype(np.float32)
        desc = file_description(args.input)
        bar.update(1)
        bar.set_postfix_str(f"TF-MoDISco on {len(x)} x {b - a} bp")
        out.mkdir(exist_ok=True)
        md.run_modisco(x, h, out / "modisco.h5", max_seqlets=args.max_seqlets, n_leiden=args.n_leiden,
                       sliding_window_size=args.sliding_window, flank_size=args.flank,
                       trim_to_window_size=args.trim_size)
        bar.update(1)
        patterns = md.read_patterns(out / "modisco.h5")
        bar.set_postfix_str(f"TOMTOM of {len(patterns)} patterns")
        md.match_patterns(patterns, db, max_q=args.max_q)
        bar.update(1)
        bar.set_postfix_str("writing")
        chroms, starts = af.placement()
        sizes = af.chrom_sizes() if af.chrom is not None else None
        notes = [f"Input: {args.input} ({len(x)} rows, bases {a}-{b} of each; method {desc['method'] or '?'}; "
                 f"targets {desc['targets'] or '?'}; objective: {desc['objective']}).",
                 f"Matches: TOMTOM (memelite) against {db.source}, q <= {args.max_q}."]
        md.write_outputs(out, patterns, db, chroms, starts, offset=a, chrom_sizes=sizes, notes=notes)
        bar.update(1)
    finally:
        bar.close()
    if not args.quiet:
        named = sum(1 for p in patterns if p.matches is not None and p.matches.ids[0, 0])
        hint = ("" if patterns else ": TF-MoDISco needs more than 100 seqlets of one sign; give more rows "
                                    "or a stronger objective")
        print(f"{len(patterns)} patterns ({named} matched) from {len(x)} rows of {args.input} -> {out}/{hint}",
              file=sys.stderr)
    return 0
