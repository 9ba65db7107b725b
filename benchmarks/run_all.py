"""Run every benchmark of the repository on the demo model and rewrite benchmarks/RESULTS.md.

Usage: .venv/bin/python benchmarks/run_all.py [--quick] [--only NAME ...]
Each script (benchmarks/bench_*.py and benchmarks/load_test.py) rewrites its own
section of RESULTS.md; this runner then records the machine and the run's status.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from results import machine, update_section  # noqa: E402


def scripts():
    found = sorted(HERE.glob("bench_*.py"))
    if (HERE / "load_test.py").exists():
        found.append(HERE / "load_test.py")
    return found


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="pass --quick to every script (smaller runs)")
    ap.add_argument("--only", nargs="*", help="script names to run (e.g. bench_engine)")
    a = ap.parse_args(argv)
    rows = []
    for s in scripts():
        if a.only and s.stem not in a.only:
            continue
        cmd = [sys.executable, str(s)] + (["--quick"] if a.quick else [])
        t = time.time()
        print(f"== {s.name}", flush=True)
        rc = subprocess.call(cmd, cwd=HERE.parent)
        rows.append(f"| {s.name} | {'ok' if rc == 0 else f'failed (exit {rc})'} | {time.time() - t:.0f} s |")
    body = ("## Last full run (benchmarks/run_all.py)\n\n"
            f"Machine: {machine()}{' (quick mode)' if a.quick else ''}.\n\n"
            "| script | status | wall time |\n|---|---|---|\n" + "\n".join(rows))
    update_section("run_all", body)
    print(body)
    return 0 if all("ok" in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
