"""ISM engines on the real trained 131 kb model (transformer + U-net): hybrid vs full length.

Run: .venv/bin/python benchmarks/bench_ism.py [--quick] [--window BP]
Needs ../shared/datasets/baskerville-tiny-hg38 (skips with a message when absent).
Writes the 'ism' section of benchmarks/RESULTS.md.

One sequence (the central 131,072 bp of the bundled 1 Mb of hg38 chr1), every substitution
of a window at its centre, objective = sum of the 2 central bins of target 0. Each engine
runs in its own fresh process (one warm-up call on a 1 bp window traces the functions,
then the timed call), so its peak RSS is its own; the speed-up is the ratio of the two
timed calls of this run, and the scores of the two engines are compared.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

DATA = HERE.parent.parent / "shared" / "datasets" / "baskerville-tiny-hg38"


def _sequence(model):
    from seqnn_engine.genome import Genome
    from seqnn_engine.onehot import encode
    with Genome(DATA / "hg38_1m.fa.gz") as g:
        n = g.chrom_lengths["chr1"]
        s = (n - model.seq_length) // 2
        return encode(g.fetch("chr1", s, s + model.seq_length).sequence)[None].astype(np.float32)


def worker(engine: str, window: int, out: str) -> None:
    from seqnn_engine import load_model
    from seqnn_engine.attribution import ism
    m = load_model(DATA / "params.json", DATA / "model.h5", targets_path=DATA / "targets.txt")
    x = _sequence(m)
    c = m.seq_length // 2
    kw = dict(targets=[0], positions="center", ism_engine=engine, batch_size=4)
    m.attribute(x, "ism", window=(c, c + 1), **kw)                      # warm-up: traces
    t = time.perf_counter()
    a = m.attribute(x, "ism", window=(c - window // 2, c - window // 2 + window), **kw)
    sec = time.perf_counter() - t
    np.save(out, a.scores)
    info = {"engine": a.options["ism_engine"], "seconds": sec, "chunk": a.options["ism_chunk"],
            "mutant_mb": ism.mutant_bytes(m, engine) / 2 ** 20,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "seq_length": m.seq_length, "n_mutants": 3 * window}
    print(json.dumps(info))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="a 20 bp window instead of 60 bp")
    ap.add_argument("--window", type=int, default=None, help="ISM window (bp)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    window = a.window or (20 if a.quick else 60)
    if a.worker:
        worker(a.worker, window, a.out)
        return 0
    if not (DATA / "model.h5").exists():
        print(f"skipped: the real 131 kb model is not at {DATA}")
        return 0
    from results import machine, update_section
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for engine in ("hybrid", "full"):
            out = str(Path(tmp) / f"{engine}.npy")
            cmd = [sys.executable, __file__, "--worker", engine, "--window", str(window), "--out", out]
            p = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
            if p.returncode != 0:
                print(p.stderr[-3000:])
                return 1
            res[engine] = json.loads(p.stdout.strip().splitlines()[-1])
            res[engine]["scores"] = np.load(out)
            print(engine, {k: v for k, v in res[engine].items() if k != "scores"}, flush=True)
    h, f = res["hybrid"], res["full"]
    diff = np.abs(h["scores"] - f["scores"]).max()
    scale = np.abs(f["scores"]).max()
    r = np.corrcoef(h["scores"].ravel(), f["scores"].ravel())[0, 1]
    speed = f["seconds"] / h["seconds"]
    L = f["seq_length"]
    body = f"""## ISM on the real 131 kb model (attention + U-net): hybrid vs full length (benchmarks/bench_ism.py)

Machine: {machine()}.

Model: ../shared/datasets/baskerville-tiny-hg38 (131,072 bp, conv tower to 128 bp, 2 transformer blocks, 2
U-net upsamplings, 2,048 bins x 74 targets). One sequence (central 131 kb of the bundled hg38 chr1 1 Mb),
all {f['n_mutants']} substitutions of a {window} bp window at its centre; objective: the 2 central bins of
target 0. Each engine in a fresh process, timed after a warm-up call (tracing excluded).

| engine | seconds | mutants / s | mutants per chunk | peak RSS (fresh process) |
|---|---|---|---|---|
| hybrid (local layers before the first attention layer on the changed span, the rest at full length) | {h['seconds']:.2f} | {h['n_mutants'] / h['seconds']:.1f} | {h['chunk']} | {h['peak_rss_mb']:,.0f} MB |
| full (every mutant at full length, batches of 4) | {f['seconds']:.2f} | {f['n_mutants'] / f['seconds']:.1f} | {f['chunk']} | {f['peak_rss_mb']:,.0f} MB |

**Speed-up of hybrid over full-length ISM: {speed:.1f}x** (same run). Agreement: max |hybrid - full| =
{diff:.2e} (max |score| {scale:.2e}), Pearson r {r:.7f}.

Memory: each engine builds and reduces at most one chunk of mutants at a time (its size from a
{512} MB budget per chunk, `seqnn_engine.attribution.ism.ism_chunk_size`), so a 2 kb window
(6,000 mutants) no longer builds 6,000 x {L:,} x 4 floats = {6000 * L * 16 / 1e9:.1f} GB of mutant
sequences at once: the full engine holds {f['chunk']} mutant sequences ({f['chunk'] * f['mutant_mb']:,.0f} MB) per chunk,
the hybrid engine at most {h['chunk']} mutants' activations ({h['chunk'] * h['mutant_mb']:,.0f} MB bound).
"""
    update_section("ism", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
