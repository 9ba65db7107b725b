"""Peak memory and time of one float32 saliency map (2 targets, 16 central bins) on a
Borzoi-architecture model with random weights, plain tape vs checkpointed backward pass.

Run each variant in a fresh process (peak RSS is the process's ru_maxrss):

    flock /tmp/seqnn_bigmem.lock python benchmarks/bench_checkpoint.py --checkpoint 1
    flock /tmp/seqnn_bigmem.lock python benchmarks/bench_checkpoint.py --checkpoint 0

--precision bfloat16 builds the model in bfloat16 (see seqnn_engine.model.precision);
--chunk-bp sets the checkpointed plan's local stage ('auto', 'none', or bp per chunk).
saliency_s is wall time, saliency_cpu_s the process's CPU time (steadier on a shared machine).
--width N divides every filter count by N (1 = the published full-width Borzoi, 186M
parameters); --seq-length shortens the input (multiples of 2^12 keep the geometry).
The params are the published calico/borzoi examples/params_pred.json (--params; default
benchmarks/borzoi_params_pred.json, else read from a calico/borzoi checkout named by
$BORZOI_REPO). Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def borzoi_params(path: str | None) -> dict:
    p = Path(path) if path else HERE / "borzoi_params_pred.json"
    if p.is_file():
        return json.loads(p.read_text())
    repo = os.environ.get("BORZOI_REPO", "/work/.mirror/calico+borzoi/repo")
    out = subprocess.run(["git", "-C", repo, "show", "HEAD:examples/params_pred.json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def reduce_width(params: dict, div: int, seq_length: int | None) -> dict:
    """The same blocks with every filter count (and attention key size) divided by ``div``."""
    m = json.loads(json.dumps(params["model"]))
    m.pop("head_mouse", None)
    if seq_length:
        m["seq_length"] = int(seq_length)
    if div > 1:
        for b in m["trunk"]:
            for k in ("filters", "filters_init", "filters_end"):
                if k in b:
                    b[k] = max(8, int(b[k]) // div)
            if "divisible_by" in b:
                b["divisible_by"] = max(1, int(b["divisible_by"]) // div)
            if "key_size" in b:
                b["key_size"] = max(8, int(b["key_size"]) // div)
    return {"model": m}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params")
    ap.add_argument("--width", type=int, default=1)
    ap.add_argument("--seq-length", type=int, default=None)
    ap.add_argument("--checkpoint", type=int, default=1)
    ap.add_argument("--targets", type=int, default=2)
    ap.add_argument("--precision", default="float32", choices=("float32", "bfloat16"))
    ap.add_argument("--chunk-bp", default="auto",
                    help="the checkpointed plan's local stage: 'auto', 'none' or bp per chunk")
    a = ap.parse_args(argv)
    import keras

    from seqnn_engine import memory
    from seqnn_engine.attribution import checkpoint as ck
    from seqnn_engine.model.build import build_network
    from seqnn_engine.model.seqmodel import SeqModel
    from seqnn_engine.model.spec import parse_params
    t0 = time.perf_counter()
    spec = parse_params(reduce_width(borzoi_params(a.params), a.width, a.seq_length))
    keras.utils.set_random_seed(0)
    model = SeqModel(spec, build_network(spec, 0, precision=a.precision), 0)
    if a.chunk_bp != "auto":        # every plan of this model (the runner's too) with this local stage
        chunk = None if a.chunk_bp == "none" else int(a.chunk_bp)
        plan_for = ck.plan_for
        ck.plan_for = lambda m, *args, chunk_bp=None, **kw: plan_for(m, *args, chunk_bp=chunk, **kw)
    t_build = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (1, model.seq_length))]
    P = model.target_length
    bins = np.arange(P // 2 - 8, P // 2 + 8)
    est = memory.attribution_plan(model, "saliency", 1, 1, 1, checkpoint=bool(a.checkpoint), n_targets=a.targets)
    gather = model.head_gather is not None and bool(a.checkpoint)
    plan = ck.plan_for(model, head=not gather)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t1, c1 = time.perf_counter(), time.process_time()
    r = model.attribute(x, "saliency", targets=list(range(a.targets)), positions=bins, batch_size=1,
                        diagnostics=False, checkpoint=bool(a.checkpoint))
    dt, cpu = time.perf_counter() - t1, time.process_time() - c1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"width": a.width, "seq_length": model.seq_length, "params": model.n_params,
                      "precision": a.precision, "checkpoint": bool(a.checkpoint), "segments": len(plan.segments),
                      "local_chunks": len(plan.local.chunks) if plan.local is not None else 0,
                      "saliency_s": round(dt, 1), "saliency_cpu_s": round(cpu, 1), "build_s": round(t_build, 1),
                      "peak_rss_gib": round(peak / 2**30, 2), "rss_before_gib": round(rss0 / 2**30, 2),
                      "estimate_gib": round(est.peak_bytes / 2**30, 2),
                      "estimate_parts_gib": {k: round(v / 2**30, 3) for k, v in est.parts.items()},
                      "score_l2": float(np.sqrt((r.scores.astype(np.float64) ** 2).sum())),
                      "objective": float(r.objective[0])}))
    if os.environ.get("BENCH_SAVE"):        # the map, to compare the two variants
        np.save(os.environ["BENCH_SAVE"], r.hypothetical[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
