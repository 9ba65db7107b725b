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
import os
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
    from seqnn_engine.genomics.genome import Genome
    from seqnn_engine.genomics.onehot import encode
    with Genome(DATA / "hg38_1m.fa.gz") as g:
        n = g.chrom_lengths["chr1"]
        s = (n - model.seq_length) // 2
        return encode(g.fetch("chr1", s, s + model.seq_length).sequence)[None].astype(np.float32)


def _setup():
    from seqnn_engine import load_model
    m = load_model(DATA / "params.json", DATA / "model.h5", targets_path=DATA / "targets.txt")
    return m, _sequence(m)


def _run(m, x, engine, window):
    c = m.seq_length // 2
    return m.attribute(x, "ism", window=(c - window // 2, c - window // 2 + window), targets=[0],
                       positions="center", ism_engine=engine, batch_size=4)


def time_worker(window: int, repeats: int, out: str) -> None:
    """Both engines in one process, timed in turn ``repeats`` times after a warm-up each."""
    m, x = _setup()
    for e in ENGINES:
        _run(m, x, e, 1)                                                 # warm-up: traces
    secs = {e: [] for e in ENGINES}
    scores = {}
    for _ in range(repeats):
        for e in ENGINES:
            t = time.perf_counter()
            a = _run(m, x, e, window)
            secs[e].append(time.perf_counter() - t)
            scores[e] = a.scores
            chunk = a.options["ism_chunk"]
            secs.setdefault("chunk_" + e, chunk)
    np.savez(out, **scores)
    print(json.dumps(secs))


def peak_worker(engine: str, window: int) -> None:
    """One engine in a fresh process: peak RSS of loading the model and one ISM call."""
    from seqnn_engine.attribution import ism
    m, x = _setup()
    a = _run(m, x, engine, window)
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "chunk": a.options["ism_chunk"], "mutant_mb": ism.mutant_bytes(m, engine) / 2 ** 20}))


ENGINES = ("hybrid", "full")


def _sub(args):
    p = subprocess.run([sys.executable, __file__] + args, capture_output=True, text=True, cwd=HERE.parent)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-3000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="a 20 bp window, one repeat")
    ap.add_argument("--window", type=int, default=None, help="ISM window (bp) of the timed calls (default 50)")
    ap.add_argument("--repeats", type=int, default=None, help="timed calls per engine (default 2)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    window = a.window or (20 if a.quick else 50)
    repeats = a.repeats or (1 if a.quick else 2)
    if a.worker == "time":
        time_worker(window, repeats, a.out)
        return 0
    if a.worker:
        peak_worker(a.worker, window)
        return 0
    if not (DATA / "model.h5").exists():
        print(f"skipped: the real 131 kb model is not at {DATA}")
        return 0
    from results import machine, update_section
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "scores.npz")
        secs = _sub(["--worker", "time", "--window", str(window), "--repeats", str(repeats), "--out", out])
        sc = dict(np.load(out))
    peaks = {e: _sub(["--worker", e, "--window", "12"]) for e in ENGINES}
    print(secs, peaks, flush=True)
    h, f = sc["hybrid"], sc["full"]
    diff = np.abs(h - f).max()
    scale = np.abs(f).max()
    r = np.corrcoef(h.ravel(), f.ravel())[0, 1]
    ratios = [b / a for a, b in zip(secs["hybrid"], secs["full"])]
    speed = float(np.median(ratios))
    th, tf_ = float(np.median(secs["hybrid"])), float(np.median(secs["full"]))
    n = 3 * window
    L = 131072
    rows = "\n".join(
        f"| {e}{desc} | {t:.2f} | {n / t:.1f} | {secs['chunk_' + e]} | {peaks[e]['peak_rss_mb']:,.0f} MB |"
        for e, desc, t in (("hybrid", " (local layers before the first attention layer on the changed span, "
                                      "the rest at full length)", th),
                           ("full", " (every mutant at full length, batches of 4)", tf_)))
    body = f"""## ISM on the real 131 kb model (attention + U-net): hybrid vs full length (benchmarks/bench_ism.py)

Machine: {machine()}.

Model: ../shared/datasets/baskerville-tiny-hg38 (131,072 bp, conv tower to 128 bp, 2 transformer blocks, 2
U-net upsamplings, 2,048 bins x 74 targets). One sequence (central 131 kb of the bundled hg38 chr1 1 Mb),
all {n} substitutions of a {window} bp window at its centre; objective: the 2 central bins of target 0.
Both engines in one process, timed in turn {repeats} time(s) after a warm-up call each (tracing excluded);
medians. Peak RSS: each engine in a fresh process (model load + one 12 bp ISM call). Load average
at the end of the run: {os.getloadavg()[0]:.1f} (on a shared machine absolute seconds vary; the ratio
is measured in turn).

| engine | seconds | mutants / s | mutants per chunk | peak RSS (fresh process) |
|---|---|---|---|---|
{rows}

**Speed-up of hybrid over full-length ISM: {speed:.1f}x** (median of the per-repeat ratios
{', '.join(f'{q:.2f}' for q in ratios)}). Agreement: max |hybrid - full| = {diff:.2e} (max |score|
{scale:.2e}), Pearson r {r:.7f}.

Memory: each engine builds and reduces at most one chunk of mutants at a time (its size from a 512 MB
budget per chunk, `seqnn_engine.attribution.ism.ism_chunk_size`), so a 2 kb window (6,000 mutants) no
longer builds 6,000 x {L:,} x 4 floats = {6000 * L * 16 / 1e9:.1f} GB of mutant sequences at once: the full
engine holds {peaks['full']['chunk']} mutant sequences ({peaks['full']['chunk'] * peaks['full']['mutant_mb']:,.0f} MB) per chunk, the hybrid engine
about {peaks['hybrid']['chunk']} mutants' activations ({peaks['hybrid']['mutant_mb']:,.0f} MB each, mostly
attention logits at 1,024 positions).
"""
    update_section("ism", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
