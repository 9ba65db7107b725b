"""Dashboard page updates at Borzoi scale, once the prediction is cached (issue 15, point 4).

    .venv/bin/python benchmarks/bench_scale_page.py [--no-write]

Builds a narrow Borzoi-architecture model with random weights (tools/scale_model.py: 524,288 bp in,
16,352 bins, 7,611 Borzoi-like targets with strand pairs, a random genome and GTF), opens the
dashboard on it in one Streamlit AppTest session (the server side of a page: the script run, the
engine calls and the figures it sends) and times:

* the first page (the model loaded once before): the default gene's prediction of the default
  targets and the default attribution, computed;
* cached updates: the same page again, a new selected range (logo and heatmap redrawn), the stranded
  tracks switched to '-' and back, each a full script run.

Goal: a page update <= 2 s once the prediction is cached. Writes the 'scale_page' section of
benchmarks/RESULTS.md (unless --no-write). The browser's own drawing is not included: the
overview is a min/max envelope of at most 2,000 columns per track (see the 'tracks' benchmark).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from results import machine, update_section  # noqa: E402


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args(argv)
    from streamlit.testing.v1 import AppTest

    from tools.scale_model import build_model_dir

    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    t0 = time.perf_counter()
    md = build_model_dir(tmp / "models" / "borzoi_scale", replicates=1)
    build_s = time.perf_counter() - t0
    (tmp / "none.toml").write_text("")
    os.environ.update(SEQNN_MODEL_ROOTS=str(tmp / "models"), SEQNN_STORE_DIR=str(tmp / "store"),
                      SEQNN_DASHBOARD_CONFIG=str(tmp / "none.toml"))
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=1800)
    at.session_state["model_path"] = str(md.resolve())
    load_s = timed(at.run)            # model load, warm-up, first prediction and attribution
    assert not at.exception, at.exception
    rows = [("first page (model load, warm-up, prediction of the default targets, default attribution)", load_s)]

    def check():
        assert not at.exception, at.exception
        err = [e.value for e in at.error]
        assert not err, err

    rows.append(("same page again (everything cached)", timed(at.run)))
    check()
    lo, hi = at.slider(key="range_slider").value
    mid = (lo + hi) // 2
    rows.append(("new selected range (logo, heatmap)", timed(lambda: at.slider(key="range_slider")
                                                             .set_value((mid - 40, mid + 40)).run())))
    check()
    minus = timed(lambda: at.radio(key="target_strand").set_value("-").run())   # predicts the '-' members
    check()
    rows.append(("stranded tracks back to the gene's strand", timed(lambda: at.radio(key="target_strand")
                                                                    .set_value("gene").run())))
    check()
    rows.append(("stranded tracks '-' again (now cached)", timed(lambda: at.radio(key="target_strand")
                                                                .set_value("-").run())))
    check()
    cached = [s for name, s in rows[1:]]
    ok = max(cached) <= 2.0
    body = "\n".join([
        "## Dashboard at Borzoi scale: page updates once cached (benchmarks/bench_scale_page.py)",
        "",
        f"Machine: {machine()}. Model: tools/scale_model.py (narrow Borzoi blocks, 524,288 bp, 16,352 bins x "
        f"7,611 Borzoi-like targets, random weights; built in {build_s:.0f} s), the first gene of its GTF, the "
        "manifest's 8 default targets. One Streamlit AppTest session: each row is one full script run "
        "(engine calls and figures; the browser's drawing not included).",
        "",
        "| page update | seconds |",
        "|---|---|",
        *[f"| {name} | {s:.2f} |" for name, s in rows],
        "",
        f"Not cached, for comparison: the first switch of the stranded tracks to '-' predicts the '-' members of "
        f"the pairs (new target blocks): {minus:.2f} s.",
        "",
        f"Slowest cached update: {max(cached):.2f} s (goal <= 2 s: {'met' if ok else 'NOT met'}).",
    ])
    print(body)
    if not a.no_write:
        update_section("scale_page", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
