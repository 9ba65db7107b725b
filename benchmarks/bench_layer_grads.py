"""Peak memory of layer gradients at Borzoi scale: 1 vs 3 tapped layers, 2 vs 50 targets.

One run (a fresh process; peak RSS is the process's ru_maxrss):

    python benchmarks/bench_layer_grads.py --layers trunk.4.unet_conv --targets 2 [--model narrow|full]

``--model narrow`` (default): tools/scale_model's 524,288 bp Borzoi-architecture model (every
published block type at narrow widths, 16,352 bins, a head of 7,611 targets, seeded random weights).
``--model full``: the published full-width Borzoi (benchmarks/borzoi_params_pred.json, 186M
parameters, random weights; run it under ``flock /tmp/seqnn_bigmem.lock``).
Layer gradients of the requested targets (the first N of the head; 16 central bins; float32) with
the engine's defaults (``checkpoint='auto'``, ``backward='auto'``); no memory limit is enforced
(``memory_budget`` and ``SEQNN_MAX_MEMORY_MB`` raised) so that code without the fix can be measured
too: the estimate is printed beside the peak.

The matrix (each cell in its own process, this tree and optionally an older one):

    flock /tmp/seqnn_bigmem.lock python benchmarks/bench_layer_grads.py --matrix [--before-tree DIR]

runs {1, 3} tapped layers x {2, 50} targets with this checkout ('after') and, with --before-tree,
the same script against the engine of another checkout (e.g. a ``git worktree`` of the commit
before the fix: 'before'), and writes the RESULTS.md section ``layer_grads_scale``.
Prints one JSON line per run.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ONE = ["trunk.4.unet_conv"]
THREE = ["trunk.2.transformer_tower", "trunk.4.unet_conv", "trunk.6.conv_nac"]


def build(kind: str, seq_length: int):
    import keras

    from seqnn_engine.model import load_model
    d = Path(tempfile.mkdtemp(prefix="bench_lg_"))
    keras.utils.set_random_seed(0)
    if kind == "narrow":
        sys.path.append(str(HERE.parent))
        from tools.scale_model import narrow_params, targets_txt
        params = narrow_params(seq_length, 16, 7611)
        (d / "targets.txt").write_text(targets_txt(7611)[0])
        targets = d / "targets.txt"
    else:
        sys.path.insert(0, str(HERE))
        from bench_checkpoint import borzoi_params, reduce_width
        params = reduce_width(borzoi_params(None), 1, seq_length)
        targets = None
    (d / "params.json").write_text(json.dumps(params))
    return load_model(d / "params.json", None, seed=0, targets_path=targets)


def run_one(a) -> dict:
    import tensorflow as tf  # noqa: F401  (import cost outside the measurement)

    from seqnn_engine import memory
    from seqnn_engine.attribution import layer_grads
    t0 = time.perf_counter()
    m = build(a.model, a.seq_length)
    t_build = time.perf_counter() - t0
    layers = a.layers.split(",")
    targets = list(range(a.targets))
    x = np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (1, m.seq_length))]
    c = m.target_length // 2
    bins = np.arange(c - 8, c + 8)
    job = layer_grads.estimate_bytes(m, 1, m.tap_indexes(layers), len(targets))
    try:
        est = memory.layer_gradients_plan(m, 1, layers, len(targets), 1, batch_size=1, checkpoint=True)
        est_gib = round(est.peak_bytes / 2**30, 2)
    except Exception as e:  # noqa: BLE001  (an older engine may not plan this)
        est_gib = f"{type(e).__name__}"
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t1, c1 = time.perf_counter(), time.process_time()
    g = m.gradients(x, layers=layers, targets=targets, positions=bins, batch_size=1, memory_budget=1 << 44)
    dt, cpu = time.perf_counter() - t1, time.process_time() - c1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"model": a.model, "seq_length": m.seq_length, "num_targets": m.num_targets, "params": m.n_params,
            "layers": layers, "targets": len(targets), "preds_shape": list(g.preds.shape),
            "grad_l2": [float(np.sqrt((gi.astype(np.float64) ** 2).sum())) for gi in g.grads],
            "peak_rss_gib": round(peak / 2**30, 2), "rss_before_gib": round(rss0 / 2**30, 2),
            "estimate_gib": est_gib, "job_estimate_gib": round(job / 2**30, 2),
            "time_s": round(dt, 1), "cpu_s": round(cpu, 1), "build_s": round(t_build, 1)}


def matrix(a) -> int:
    trees = [("after", HERE.parent)]
    if a.before_tree:
        trees.insert(0, ("before", Path(a.before_tree).resolve()))
    rows = []
    for label, tree in trees:
        for layers in (ONE, THREE):
            for n in (2, 50):
                env = dict(os.environ, PYTHONPATH=str(tree), SEQNN_MAX_MEMORY_MB="1000000")
                cmd = [sys.executable, str(HERE / "bench_layer_grads.py"), "--model", a.model, "--layers",
                       ",".join(layers), "--targets", str(n), "--seq-length", str(a.seq_length)]
                out = subprocess.run(cmd, env=env, capture_output=True, text=True)
                line = [s for s in out.stdout.splitlines() if s.startswith("{")]
                r = json.loads(line[-1]) if line else {"error": out.stderr[-400:], "layers": layers, "targets": n}
                r["code"] = label
                print(json.dumps(r), flush=True)
                rows.append(r)
    write_section(rows, a)
    return 0


def write_section(rows, a) -> None:
    from results import machine, update_section
    lines = [f"## Layer gradients at Borzoi scale: tapped layers and targets (`benchmarks/bench_layer_grads.py --matrix`)",
             "", f"Machine: {machine()}.", "",
             "Model: tools/scale_model (`--model narrow`): 524,288 bp, 7,611 targets, random weights; layer gradients of the first N "
             "targets over 16 central bins, float32, engine defaults (checkpoint='auto'), one sequence, each "
             "cell in a fresh process. 'before': the engine before the head gather on the layer-gradient paths "
             "(the full (16,352 x 7,611) head and its K cotangents per target chunk); 'after': this checkout. "
             "Estimate: that engine's `memory.layer_gradients_plan` (checkpointed) of the whole call; job: "
             "`layer_grads.estimate_bytes`, checked against `SEQNN_GRADIENT_MEMORY_MB` (set here so that every "
             "cell runs; its default is now `SEQNN_MAX_MEMORY_MB`, the engine's one memory limit). Time on a shared 2-core machine (other jobs running).", "",
             "| code | tapped layers | targets | peak RSS GiB | RSS before the call GiB | estimate GiB | job estimate GiB | time s |",
             "|---|---|---|---|---|---|---|---|"]
    full = [r for r in rows if r.get("model") == "full"]
    rows = [r for r in rows if r.get("model") != "full"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['code']} | {len(r['layers'])} | {r['targets']} | failed: "
                         f"{r['error'].splitlines()[-1] if r['error'] else '?'} | | | | |")
            continue
        lines.append(f"| {r['code']} | {len(r['layers'])} ({', '.join(r['layers'])}) | {r['targets']} | "
                     f"{r['peak_rss_gib']} | {r['rss_before_gib']} | {r['estimate_gib']} | {r['job_estimate_gib']} | "
                     f"{r['time_s']} |")
    pairs = {}
    for r in rows:
        if "grad_l2" in r:
            pairs.setdefault((tuple(r["layers"]), r["targets"]), {})[r["code"]] = np.asarray(r["grad_l2"])
    diffs = [float(np.max(np.abs(p["after"] - p["before"]) / np.abs(p["before"]))) for p in pairs.values()
             if "after" in p and "before" in p]
    if diffs:
        lines += ["", f"Same gradients before and after: the L2 norm of every tapped layer's gradients agrees to "
                      f"a relative {max(diffs):.1e} at most over the {len(diffs)} cells (float32 rounding)."]
    for r in full:
        lines += ["", f"Full-width Borzoi (`--model full`: {r['params']:,} parameters, {r['seq_length']:,} bp, "
                      f"{r['num_targets']:,} targets, random weights), layer gradients of {len(r['layers'])} tapped layer "
                      f"({', '.join(r['layers'])}) for {r['targets']} targets, this checkout: peak RSS "
                      f"**{r['peak_rss_gib']} GiB** ({r['rss_before_gib']} GiB after building the model), estimate "
                      f"{r['estimate_gib']} GiB (job estimate {r['job_estimate_gib']} GiB), {r['time_s']} s ({r['cpu_s']} s CPU)."
                      + " With the defaults it runs: `SEQNN_GRADIENT_MEMORY_MB` defaults to the engine's memory "
                        "limit `SEQNN_MAX_MEMORY_MB` (75% of the machine's memory)."]
    sys.path.insert(0, str(HERE))
    update_section("layer_grads_scale", "\n".join(lines))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="narrow", choices=("narrow", "full"))
    ap.add_argument("--layers", default=",".join(ONE))
    ap.add_argument("--targets", type=int, default=2)
    ap.add_argument("--seq-length", type=int, default=524_288)
    ap.add_argument("--matrix", action="store_true")
    ap.add_argument("--before-tree", default=None)
    ap.add_argument("--write", nargs="+", metavar="LOG",
                    help="write the RESULTS.md section from JSON lines of earlier runs (matrix and --model full)")
    a = ap.parse_args(argv)
    if a.write:
        rows = [json.loads(s) for f in a.write for s in Path(f).read_text().splitlines() if s.startswith("{")]
        write_section(rows, a)
        return 0
    if a.matrix:
        return matrix(a)
    print(json.dumps(run_one(a)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
