"""``--replicates all|LIST``: a batch job over several replicate weight files, combined.

Each selected replicate runs the command's own job (its own store keys and resumable part file
``OUT.rep{r}.h5`` beside ``OUT``); the output then holds, for every combined array, the mean over
the replicates (the members are replicates x RC x shifts x MC) and ``<name>_replicate_std``, the
spread across replicates (ddof 1; zeros for one replicate), with attribute ``replicates``. The
part files are removed once combined. Combination is the same as
:class:`seqnn_engine.model.replicates.Replicates` (mean of each replicate's ensemble mean).
"""
from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path

import numpy as np

from ..errors import InputError


def add_option(group) -> None:
    group.add_argument("--replicates", metavar="LIST", default=None,
                       help="use several weight files of --model as replicates: 'all' or indexes like 0,2; the "
                            "output holds their mean and <name>_replicate_std (default: --replicate only)")


def run_over_replicates(args, run_one, arrays: tuple) -> int:
    """Run ``run_one(args)`` once (no --replicates) or per replicate, combining ``arrays``."""
    spec = getattr(args, "replicates", None)
    if not spec:
        return run_one(args)
    from ..model.modeldir import read_model_dir
    from ..model.replicates import parse_replicates

    if not getattr(args, "model", None):
        raise InputError("--replicates needs --model DIR (a model directory listing several weights files)")
    if getattr(args, "random_weights", False):
        raise InputError("--replicates combines weight files: leave out --random-weights")
    for flag in ("tsv_out", "bigwig_out"):
        if getattr(args, flag, None):
            raise InputError(f"--{flag.replace('_', '-')} is not available with --replicates: export from the "
                             "combined file instead")
    idx = parse_replicates(spec, len(read_model_dir(args.model).weights))
    out = Path(args.out)
    parts = []
    for r in idx:
        a = copy.copy(args)
        a.replicate, a.replicates = r, None
        a.out = str(out.with_name(f"{out.stem}.rep{r}{out.suffix}"))
        rc = run_one(a)
        if rc:
            return rc
        parts.append(a.out)
    combine(parts, out, idx, arrays)
    for p in parts:
        os.remove(p)
    return 0


def combine(parts, out: Path, replicates, arrays: tuple) -> None:
    """Write ``out``: the first part with each of ``arrays`` replaced by the mean over the parts and
    ``<name>_replicate_std`` added (float32)."""
    import h5py

    from ..model.replicates import replicate_spread

    tmp = out.with_name(out.name + ".partial")
    shutil.copyfile(parts[0], tmp)
    with h5py.File(tmp, "r+") as f:
        for name in arrays:
            if name not in f:
                continue
            stack = []
            for p in parts:
                with h5py.File(p, "r") as g:
                    stack.append(np.asarray(g[name][...], np.float32))
            stack = np.stack(stack)
            dtype = f[name].dtype
            f[name][...] = stack.mean(axis=0).astype(dtype)
            f.create_dataset(f"{name}_replicate_std", data=replicate_spread(stack))
        f.attrs["replicates"] = json.dumps([int(r) for r in replicates])
    os.replace(tmp, out)
