"""Times THIS engine (seqnn_engine) on one task in a fresh process; prints one JSON line.

The twin of benchmarks/reference_runner.py (same options), run by the project's Python:

    PYTHONPATH=. python benchmarks/ours_runner.py --params benchmarks/borzoi_params_pred.json \\
        --task saliency --targets 0,1 --center-bins 16 --precision bfloat16

Model: ``load_model(params, weights)``; without ``--weights`` random weights seeded by ``--seed``
(``load_model(params, None, seed=...)`` where the engine has it, else the network is built from
params with Keras' seeded initialisers). ``--precision bfloat16`` where the engine has it, else the
``mixed_bfloat16`` Keras policy set before building. Tasks: ``predict`` (``SeqModel.predict``, all
targets or ``--targets``), ``saliency`` (``SeqModel.attribute(method='saliency', statistic='log')``
with the engine's defaults otherwise), ``peaks`` (fp32 and bf16 ``tf.matmul`` GFLOP/s of this
machine), ``build``. ``predict`` also reports the forward pass's FLOPs counted from the layer shapes
(convolutions, dense layers and attention matmuls; elementwise work not counted).

Output JSON: times_s (per repeat; the first includes tracing), ru_maxrss_mb (peak RSS), build_s,
n_params, out_shape, forward_flops, api (which construction path was used).
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from runner_common import finish, int_list as _int_list, maxrss_mb as _maxrss_mb, sequences as _sequences  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_model(params_path, weights=None, head=0, seed=0, precision="float32"):
    """(SeqModel, api label): through load_model's random-weights/precision options when present."""
    import keras

    from seqnn_engine.model import load_model
    sig = inspect.signature(load_model).parameters
    has_seed, has_prec = "seed" in sig, "precision" in sig
    if precision != "float32" and not has_prec:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.utils.set_random_seed(seed)
    kw = {"precision": precision} if has_prec else {}
    if weights is not None or has_seed:
        if weights is None:
            kw["seed"] = seed
        label = ", ".join(["params", "weights" if weights else "None", *[f"{k}={v!r}" for k, v in kw.items()]])
        return load_model(params_path, weights, head=head, **kw), f"load_model({label})"
    # today's API without random weights: build from params (Keras' initialisers, seeded)
    from seqnn_engine.model.build import build_network
    from seqnn_engine.model.seqmodel import SeqModel
    from seqnn_engine.model.spec import parse_params
    spec = parse_params(params_path)
    h = spec.head_index(head)
    net = build_network(spec, h)
    return SeqModel(spec, net, h, digest=f"random-{seed}"), "parse_params + build_network + SeqModel"


def forward_flops(keras_model) -> dict:
    """FLOPs (2 x multiply-adds) of one sequence's forward pass, by layer kind, from layer shapes."""
    import keras

    from seqnn_engine.model.layers import MultiheadAttention
    out = {"conv": 0.0, "dense": 0.0, "attention": 0.0}

    def shape(t):
        return [int(d) for d in t.shape[1:]]

    for layer in keras_model.layers:
        if isinstance(layer, keras.Model):
            sub = forward_flops(layer)
            for k in out:
                out[k] += sub[k]
            continue
        try:
            ins, outs = shape(layer.input), shape(layer.output)
        except (AttributeError, ValueError, TypeError):
            continue
        if isinstance(layer, keras.layers.SeparableConv1D):
            k = int(layer.kernel_size[0])
            p, c_in = outs[0], ins[-1]
            out["conv"] += 2.0 * p * k * c_in * int(layer.depth_multiplier)
            out["conv"] += 2.0 * p * c_in * int(layer.depth_multiplier) * outs[-1]
        elif isinstance(layer, keras.layers.Conv1D):
            k = int(layer.kernel_size[0])
            out["conv"] += 2.0 * outs[0] * k * ins[-1] * outs[-1] / int(getattr(layer, "groups", 1) or 1)
        elif isinstance(layer, keras.layers.Dense):
            rows = float(np.prod(ins[:-1])) if len(ins) > 1 else 1.0
            out["dense"] += 2.0 * rows * ins[-1] * int(layer.units)
        elif isinstance(layer, MultiheadAttention):
            t, c = ins[0], ins[-1]
            h, kk, v, f = layer.heads, layer.key_size, layer.value_size, layer.num_position_features
            r = 2 * t - 1
            out["attention"] += 2.0 * t * c * (2 * h * kk + h * v)      # q, k, v projections
            out["attention"] += 2.0 * r * f * h * kk                     # relative position keys
            out["attention"] += 2.0 * h * t * t * kk                     # content logits
            out["attention"] += 2.0 * h * t * r * kk if f else 0.0      # relative logits
            out["attention"] += 2.0 * h * t * t * v                      # weighted values
            out["attention"] += 2.0 * t * (h * v) * (h * v)              # output embedding
    out["total"] = out["conv"] + out["dense"] + out["attention"]
    return out


def matmul_peaks(n: int = 4096, seconds: float = 3.0) -> dict:
    """Achieved GFLOP/s of an n x n x n tf.matmul in float32 and in bfloat16 (float32 inputs cast once)."""
    import tensorflow as tf
    res = {}
    for dt in (tf.float32, tf.bfloat16):
        a = tf.cast(tf.random.stateless_normal((n, n), seed=(1, 2)), dt)
        b = tf.cast(tf.random.stateless_normal((n, n), seed=(3, 4)), dt)
        f = tf.function(lambda a, b: tf.matmul(a, b))
        f(a, b).numpy()
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            f(a, b).numpy()
            reps += 1
        dt_s = (time.perf_counter() - t0) / reps
        res[dt.name] = 2.0 * n ** 3 / dt_s / 1e9
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=None)
    ap.add_argument("--weights", default=None, help="weights .h5 (default: random weights, --seed)")
    ap.add_argument("--head", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", choices=("float32", "bfloat16"), default="float32")
    ap.add_argument("--task", choices=("predict", "saliency", "peaks", "build"), default="predict")
    ap.add_argument("--targets", default="all")
    ap.add_argument("--positions", default=None)
    ap.add_argument("--center-bins", type=int, default=16)
    ap.add_argument("--seqs", default=None)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--save", default=None, help="write the result array to this .npy")
    ap.add_argument("--save-columns", default=None,
                    help="predict: write only these target columns (comma-separated) with --save")
    args = ap.parse_args(argv)

    import tensorflow as tf
    out = {"implementation": "ours", "task": args.task, "precision": args.precision,
           "tensorflow": tf.__version__}
    if args.task == "peaks":
        out["matmul_gflops"] = matmul_peaks()
        out["ru_maxrss_mb"] = _maxrss_mb()
        print("RESULT " + json.dumps(out), flush=True)
        return 0
    t0 = time.perf_counter()
    model, api = build_model(args.params, args.weights, args.head, args.seed, args.precision)
    out.update(build_s=time.perf_counter() - t0, api=api, n_params=int(model.n_params))
    x = _sequences(args, model.seq_length)
    targets = _int_list(args.targets)
    times, result = [], None
    if args.task == "predict":
        out["forward_flops"] = forward_flops(model.net.model)
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = model.predict(x, target_indexes=targets).mean
            times.append(time.perf_counter() - t0)
        if args.save_columns:
            result = result[..., _int_list(args.save_columns)]
    elif args.task == "saliency":
        tsel = targets if targets is not None else [0]
        n_bins = model.target_length
        if args.positions:
            pos = _int_list(args.positions)
        else:
            c = n_bins // 2
            pos = list(range(c - args.center_bins // 2, c - args.center_bins // 2 + args.center_bins))
        from seqnn_engine.attribution.input_attr import attribute as _attr
        diag_default = inspect.signature(_attr).parameters.get("diagnostics")
        out["diagnostics_default"] = None if diag_default is None else diag_default.default
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            a = model.attribute(x, method="saliency", targets=tsel, positions=np.asarray(pos), statistic="log")
            times.append(time.perf_counter() - t0)
            result = a.scores
        out["positions"] = [int(pos[0]), int(pos[-1]) + 1]
    return finish(out, times, result, args.save)


if __name__ == "__main__":
    sys.exit(main())
