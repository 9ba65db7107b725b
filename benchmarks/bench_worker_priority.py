"""Does queued heavy work slow a page down? A cached page's server work while the work queue runs a
TensorFlow computation, with the queue's CPU priority on (SEQNN_WORKER_NICE=10) and off (0).

    .venv/bin/python benchmarks/bench_worker_priority.py [--rounds 3] [--no-write]

In one process, like the dashboard server: a :class:`seqnn_engine.batch.queue.WorkQueue` worker runs
a convolution stack over a 262,144-position input (every core busy, as a Borzoi gradient keeps them)
while a Python thread, like a page's script run, repeatedly builds what a cached Borzoi-scale page
sends: the overview (6 tracks of 16,352 bins with bands, plotly, serialised to JSON) and a 60 bp
logo. Its latency is timed alone (before the work starts) and during the work. Each setting runs in a
fresh interpreter (priorities are per thread and never lowered again), the settings alternate
``--rounds`` times so that other load on the machine falls on both alike. Writes the
'worker_priority' section of benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

CHILD = r"""
import json, sys, threading, time
import numpy as np
import tensorflow as tf
from seqnn_engine import plot
from seqnn_engine.batch.queue import WorkQueue

P, T = 16352, 6
rng = np.random.default_rng(0)
x = np.arange(P) * 32.0 + 16
mean, sd = rng.gamma(2, 1, (P, T)).astype(np.float32), rng.random((P, T)).astype(np.float32)
scores, oh = rng.normal(size=(60, 4)).astype(np.float32), np.eye(4, dtype=np.float32)[rng.integers(0, 4, 60)]

def page():
    t0 = time.perf_counter()
    fig = plot.tracks_figure(x, mean, sd, [f"t{i}" for i in range(T)], x_range=(0, P * 32))
    fig.to_json()
    plot.logo_figure(plot.logo_matrix("saliency", scores, oh), 0, title="logo").to_json()
    return time.perf_counter() - t0

k = [tf.random.normal((5, 64, 64)) for _ in range(6)]
inp = tf.random.normal((1, 262144, 64))

@tf.function
def heavy(a):
    for w in k:
        a = tf.nn.gelu(tf.nn.conv1d(a, w, 1, "SAME"))
    return tf.reduce_sum(a)

heavy(inp)
alone = [page() for _ in range(8)]
stop = threading.Event()
busy = threading.Event()

def work(progress):
    busy.set()
    while not stop.is_set():
        float(heavy(inp))
        progress(0.5)
    return True

q = WorkQueue(workers=1, budget_bytes=1 << 30, nice=NICE)
ticket = q.submit(work, estimate_bytes=1, label="heavy")
busy.wait(60)
time.sleep(1.0)
during = []
res = {}
def the_page():                     # a fresh Python thread per run, as Streamlit starts one per script run
    res["t"] = page()
for _ in range(12):
    th = threading.Thread(target=the_page)
    th.start(); th.join()
    during.append(res["t"])
    time.sleep(0.3)
stop.set()
ticket.wait(120)
print(json.dumps({"alone": alone, "during": during}))
"""


def one(nice: int) -> dict:
    out = subprocess.run([sys.executable, "-c", f"NICE = {nice}\n" + CHILD], capture_output=True, text=True,
                         cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"},
                         timeout=900)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from results import machine, update_section
    runs: dict = {10: {"alone": [], "during": []}, 0: {"alone": [], "during": []}}
    load0 = os.getloadavg()[0]
    for _ in range(max(1, a.rounds)):
        for nice in (0, 10):
            r = one(nice)
            for k in ("alone", "during"):
                runs[nice][k] += r[k]
    load1 = os.getloadavg()[0]
    med = statistics.median
    lines = ["## Queued work's CPU priority: a cached page's server work during a heavy computation "
             "(`benchmarks/bench_worker_priority.py`)", "",
             f"Machine: {machine()}; load average {load0:.1f} before / {load1:.1f} after (shared with other jobs). "
             "One process: a WorkQueue worker runs a TensorFlow convolution stack (262,144 positions x 64 channels, "
             "every core busy) while a Python thread builds what a cached Borzoi-scale page sends (overview of 6 x "
             "16,352 bins with bands, and a logo, as plotly JSON). Seconds per page build; "
             f"{a.rounds} alternating rounds per setting, each in a fresh interpreter.", "",
             "| SEQNN_WORKER_NICE | page alone: median | during the work: median | during: max | slow-down (median) |",
             "|---|---|---|---|---|"]
    for nice in (0, 10):
        al, du = runs[nice]["alone"], runs[nice]["during"]
        lines.append(f"| {nice}{' (off)' if nice == 0 else ' (default)'} | {med(al):.3f} | {med(du):.3f} | "
                     f"{max(du):.3f} | {med(du) / med(al):.1f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not a.no_write:
        update_section("worker_priority", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
