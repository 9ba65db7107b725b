"""Helpers shared by the two benchmark runners (ours_runner.py, reference_runner.py).

Each runner is a separate script run in a fresh process (the reference one by the reference
venv's Python), so this module imports nothing from the project: only numpy and the standard
library.
"""
from __future__ import annotations

import json
import resource

import numpy as np


def maxrss_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux ru_maxrss is in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def int_list(text):
    """'0,1,5' -> [0, 1, 5]; None, '' or 'all' -> None."""
    if text in (None, "", "all"):
        return None
    return [int(t) for t in str(text).split(",") if t != ""]


def sequences(args, seq_length: int) -> np.ndarray:
    """(S, L, 4) float32: the 'seqs' array of args.seqs (.npz or .npy), else one random
    one-hot sequence of seq_length bp drawn with args.seed."""
    if args.seqs:
        data = np.load(args.seqs)
        x = data["seqs"] if hasattr(data, "files") else data
        return np.asarray(x, np.float32)
    rng = np.random.default_rng(args.seed)
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, seq_length)][None]


def finish(out: dict, times: list, result, save) -> int:
    """Add the times, the result's shape (saved as float32 .npy to ``save`` when given) and the
    peak RSS to ``out``, print it as the runner's one ``RESULT {json}`` line; returns 0."""
    out["times_s"] = times
    if result is not None:
        out["out_shape"] = list(result.shape)
        if save:
            np.save(save, np.asarray(result, np.float32))
    out["ru_maxrss_mb"] = maxrss_mb()
    print("RESULT " + json.dumps(out), flush=True)
    return 0
