"""CI version of benchmarks/load_test.py: 3 real-browser sessions at once against one dashboard on
127.0.0.1 (Playwright + Debian chromium; skips cleanly without them), one of them on a second model.
Every session completes its flow (own model and gene, ensemble options, dropped target, box-selected
range), its page shows no exception or
error, and its prediction chart equals a serial engine run of its own gene and options exactly (no
cross-session leakage). Bounded: 3 sessions, 300 s for the sessions (a 2-core CI machine runs the browser too), each step at most 180 s. No
timing is asserted; the benchmark writes the numbers."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason="Debian chromium is not installed (apt-get install -y chromium)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="playwright is not installed"),
]


def test_three_browser_sessions_at_once(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    import load_test
    r = load_test.run(n_sessions=3, timeout_s=300, log_dir=tmp_path)
    res = r["results"]
    problems = [f"session {x.plan.index} ({x.plan.gene}): {e}" for x in res for e in x.errors]
    assert not problems, problems + [f"server log: {r['log']}"]
    assert [x.completed for x in res] == [True] * 3
    for x in res:
        assert x.verified, (x.plan, x.max_abs_diff)
        assert x.max_abs_diff == 0.0
    # the three sessions really used different genes and ensembles
    assert len({(x.plan.gene, x.plan.rc, x.plan.shift_k, x.plan.mc) for x in res}) == 3
    if (REPO / "assets" / "demo" / "manifest.json").exists():
        assert {x.plan.model for x in res} == {"main", "second"}     # two different models at once
    assert r["rss_peak"] > 0
    assert r["baseline"].completed and r["baseline"].verified   # the lone session run first
