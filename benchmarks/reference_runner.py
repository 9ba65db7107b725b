"""Times the REFERENCE implementation (calico/baskerville) on one task; prints one JSON line.

Run by the reference venv's Python (benchmarks/reference_env.sh), never by the project's:

    SEQNN_REFERENCE_SRC=/path/to/baskerville/src \\
    benchmarks/.venv-reference/bin/python benchmarks/reference_runner.py \\
        --params benchmarks/borzoi_params_pred.json --task saliency --targets 0,1 --center-bins 16

The model is built the way a user of the reference builds it: ``seqnn.SeqNN(params["model"])``, then
``restore(weights)`` when a weights file is given (otherwise the random initial weights, seeded by
``--seed``). Predictions go through the model call (``SeqNN.__call__``; ``build_slice`` first when a
subset of targets is asked for), input gradients through ``SeqNN.gradients`` (mean-centred over ACGT,
not multiplied by the input). Arrays: the input one-hot (S, L, 4) float32 is read from ``--seqs``
(.npy, or .npz key ``seqs``) or drawn uniformly at random (``--seed``) for one sequence.

Output JSON: ``times_s`` (one per repeat; the first includes tracing/first-call costs),
``ru_maxrss_mb`` (peak RSS of this process), ``build_s``, ``n_params``, ``out_shape``, and with
``--save`` the result array written to that .npy path (predictions (S, P, T') or gradients (S, L, 4)).
This file is the project's own code; it only imports the reference package.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
from runner_common import finish, int_list as _int_list, maxrss_mb as _maxrss_mb, sequences as _sequences  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", required=True, help="params.json (its 'model' section builds the model)")
    ap.add_argument("--weights", default=None, help="weights .h5 of head --head (default: random weights)")
    ap.add_argument("--save-weights", default=None, help="write the head's weights (legacy Keras 2 .h5) here")
    ap.add_argument("--head", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0, help="seed of the random weights and random sequence")
    ap.add_argument("--task", choices=("predict", "saliency", "build"), default="predict")
    ap.add_argument("--targets", default="all", help="comma-separated target indexes, or 'all'")
    ap.add_argument("--positions", default=None, help="comma-separated output bins (saliency)")
    ap.add_argument("--center-bins", type=int, default=16, help="central bins of the objective when no --positions")
    ap.add_argument("--seqs", default=None, help=".npy (S, L, 4) or .npz with key 'seqs'")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--save", default=None, help="write the result array to this .npy")
    args = ap.parse_args(argv)

    import tensorflow as tf
    from baskerville import seqnn  # found through SEQNN_REFERENCE_SRC on PYTHONPATH

    with open(args.params) as f:
        params = json.load(f)
    params_model = dict(params["model"])
    params_model["verbose"] = False
    tf.keras.utils.set_random_seed(args.seed)
    t0 = time.perf_counter()
    model = seqnn.SeqNN(params_model)
    if args.weights:
        model.restore(args.weights, head_i=args.head)
    else:
        model.model = model.models[args.head]
    build_s = time.perf_counter() - t0
    if args.save_weights:
        model.models[args.head].save_weights(args.save_weights, save_format="h5")
    keras_model = model.models[args.head]
    out = {"implementation": "reference", "task": args.task, "build_s": build_s,
           "n_params": int(keras_model.count_params()), "tensorflow": tf.__version__}
    x = _sequences(args, params_model["seq_length"])
    targets = _int_list(args.targets)
    n_bins = int(keras_model.output_shape[1])
    times, result = [], None
    if args.task == "predict":
        if targets is not None:
            model.build_slice(targets)
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = model(x)
            times.append(time.perf_counter() - t0)
    elif args.task == "saliency":
        tsel = targets if targets is not None else [0]
        if args.positions:
            pos = _int_list(args.positions)
        else:
            c = n_bins // 2
            pos = list(range(c - args.center_bins // 2, c - args.center_bins // 2 + args.center_bins))
        S = x.shape[0]
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = model.gradients(x, head_i=args.head, target_slice=np.tile(tsel, (S, 1)),
                                     pos_slice=np.tile(pos, (S, 1)), input_gate=False, dtype="float32")
            times.append(time.perf_counter() - t0)
        out["positions"] = [int(pos[0]), int(pos[-1]) + 1]
    return finish(out, times, result, args.save)


if __name__ == "__main__":
    sys.exit(main())
