"""Long tracks and many targets in the dashboard: figure build + JSON time, before and after.

    .venv/bin/python benchmarks/bench_tracks.py [--repeat 3]      # prints a table (writes nothing)

Measured side by side in one process, random data of Borzoi's shape:

* overview figure of 16,352 bins x 50 targets with a +-1 sd band: ``app/figures.py`` of git
  revision ``--before`` (default ``main``; every bin, plotly's make_subplots; skipped when that
  revision has no app/figures.py or it no longer imports) vs this checkout's ``seqnn_engine.plot``
  drawing every bin (``max_cols=None``) vs the min/max envelope in 2,000 columns (the default);
  time = build the figure + ``plotly.io.to_json`` (what Streamlit sends);
* attribution track of 524,288 positions: the previous path (max-abs pooling to 200,000 points,
  then every point) vs the envelope (``seqnn_engine.plot.line_figure`` default);
* target picker of 7,611 targets: building the catalog, one search, and the cost of a Streamlit
  multiselect holding all 7,611 options vs the capped 300 (AppTest run time, widget bytes).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def best(fn, repeat: int) -> tuple[float, object]:
    out, ts = None, []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return min(ts), out


def figure_cost(make, repeat: int) -> tuple[float, int, int]:
    """(seconds to build + serialise, JSON bytes, most points in one trace)."""
    import plotly.io as pio

    def run():
        fig = make()
        return fig, pio.to_json(fig, validate=False)
    t, (fig, js) = best(run, repeat)
    return t, len(js), max(len(tr.y) for tr in fig.data if tr.y is not None)


def figures_at(rev: str):
    """app/figures.py as it was at git revision ``rev`` (a module), or None (absent there, or its
    imports are gone from this checkout)."""
    import subprocess
    import types
    try:
        src = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:app/figures.py"], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    mod = types.ModuleType(f"figures_before_{abs(hash(rev))}")
    sys.modules[mod.__name__] = mod
    try:
        exec(compile(src, f"{rev}:app/figures.py", "exec"), mod.__dict__)
    except ImportError:
        return None
    return mod


def bench_overview(repeat: int, before_rev: str) -> list:
    from seqnn_engine import plot as figures
    P, T = 16352, 50
    rng = np.random.default_rng(0)
    mean = rng.gamma(1.0, 1.0, (P, T)).astype(np.float32)
    sd = (0.1 * rng.random((P, T))).astype(np.float32)
    x = 32 * np.arange(P) + 16.0
    labels = [f"target{i}" for i in range(T)]
    rows = []
    old = figures_at(before_rev)
    if old is not None:
        t, size, pts = figure_cost(lambda: old.tracks_figure(x, mean, sd, labels), repeat)
        rows.append((f"overview 16,352 bins x {T} targets: {before_rev} (every bin, make_subplots)", t, size, pts))
    for name, cols in (("every bin", None), ("envelope, 2,000 columns", figures.DEFAULT_COLUMNS)):
        t, size, pts = figure_cost(lambda: figures.tracks_figure(x, mean, sd, labels, max_cols=cols), repeat)
        rows.append((f"overview 16,352 bins x {T} targets: {name}", t, size, pts))
    return rows


def bench_attribution(repeat: int) -> list:
    from seqnn_engine import plot as figures
    L = 524288
    y = np.random.default_rng(1).normal(size=L).astype(np.float32)
    x = np.arange(L, dtype=np.float64)

    def before():
        pooled, starts = figures.pool_columns(y[None], 200_000)
        return figures.line_figure(x[starts], {"contribution": pooled[0]}, max_cols=None)
    rows = []
    t, size, pts = figure_cost(before, repeat)
    rows.append(("attribution 524,288 positions: before (max-abs pooled to 200,000)", t, size, pts))
    t, size, pts = figure_cost(lambda: figures.line_figure(x, {"contribution": y}), repeat)
    rows.append(("attribution 524,288 positions: after (envelope, 2,000 columns)", t, size, pts))
    return rows


def bench_picker(repeat: int) -> list:
    from seqnn_engine.model.target_catalog import TargetCatalog
    from seqnn_engine.model.targets import parse_targets
    lines = ["\tidentifier\tfile\tclip\tclip_soft\tscale\tsum_stat\tstrand_pair\tdescription"]
    assays = ("DNASE:cell{}", "ATAC:cell{}", "CHIP:H3K27ac:cell{}", "CHIP:H3K4me3:cell{}", "CHIP:CTCF:cell{}")
    for k in range(1000):
        lines += [f"{2 * k}\tRNA{k}+\tf\t384\t384\t1\tsum_sqrt\t{2 * k + 1}\tRNA:tissue {k}",
                  f"{2 * k + 1}\tRNA{k}-\tf\t384\t384\t1\tsum_sqrt\t{2 * k}\tRNA:tissue {k}"]
    for i in range(2000, 7611):
        lines.append(f"{i}\tENCFF{i:06d}\tf\t384\t384\t1\tsum\t{i}\t{assays[i % 5].format(i)}")
    table = parse_targets("\n".join(lines) + "\n")
    t_build, cat = best(lambda: TargetCatalog.from_table(table, 7611), repeat)
    t_first, _ = best(lambda: TargetCatalog.from_table(table, 7611).search("rna"), 1)
    t_search, hits = best(lambda: cat.search("h3k27ac cell3"), repeat)
    rows = [("catalog of 7,611 targets: build", t_build, None, None),
            ("catalog build + first search (builds the search index)", t_first, None, None),
            (f"catalog search 'h3k27ac cell3' ({len(hits)} matches)", t_search, None, None)]
    try:
        from streamlit.testing.v1 import AppTest
    except ImportError:
        return rows
    labels = [cat.label(i) for i in range(len(cat))]
    with tempfile.TemporaryDirectory() as d:
        script = Path(d) / "ms.py"
        script.write_text("import os, streamlit as st\n"
                          "labels = st.session_state['labels']\n"
                          "n = int(os.environ['BENCH_OPTS'])\n"
                          "st.multiselect('Targets', list(range(n)), default=list(range(8)), key='t',\n"
                          "               format_func=lambda i: labels[i])\n")
        for n in (300, 7611):
            os.environ["BENCH_OPTS"] = str(n)
            at = AppTest.from_file(str(script), default_timeout=120)
            at.session_state["labels"] = labels
            at.run()
            t, _ = best(lambda: at.run(), max(3, repeat))
            size = len(at.multiselect(key="t").proto.SerializeToString())
            rows.append((f"multiselect with {n:,} options: page rerun (AppTest)", t, size, None))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs (default 3)")
    ap.add_argument("--before", default="main", help="git revision of the 'before' figures (default main)")
    a = ap.parse_args()
    rows = bench_overview(a.repeat, a.before) + bench_attribution(a.repeat) + bench_picker(a.repeat)
    w = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{w}}  {'seconds':>8}  {'bytes':>11}  {'max points/trace':>16}")
    for name, t, size, pts in rows:
        print(f"{name:<{w}}  {t:8.3f}  {'' if size is None else f'{size:,}':>11}  "
              f"{'' if pts is None else f'{pts:,}':>16}")


if __name__ == "__main__":
    main()
