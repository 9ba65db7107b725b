"""The dashboard started the README way, and a settled page in Chromium.

Shared by tests/test_browser.py, benchmarks/bench_app.py and benchmarks/load_test.py
(the benchmarks put tests/ on sys.path).
"""
from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
HOST = "127.0.0.1"


def readme_streamlit_command(port: int, address: str | None = None) -> list[str]:
    """The streamlit part of README command 1, run with this interpreter's streamlit, on ``port``."""
    line = next(ln for ln in (REPO / "README.md").read_text().splitlines()
                if ln.startswith("python3.11 -m venv") and "streamlit run" in ln)
    args = shlex.split(line.split("&&")[-1].strip())
    assert args[0].endswith("streamlit") and args[1:3] == ["run", "app/main.py"], line
    extra = ["--server.port", str(port)] + (["--server.address", address] if address else [])
    return [sys.executable, "-m", "streamlit"] + args[1:] + extra


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(env: dict, port: int, log, address: str | None = None, timeout: float = 120.0):
    """Start the dashboard (output to the open file ``log``) and wait until it answers its health check."""
    proc = subprocess.Popen(readme_streamlit_command(port, address), cwd=REPO, env={**os.environ, **env},
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log.name}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.1)
    stop_server(proc)
    raise TimeoutError(f"the dashboard did not become healthy within {timeout:.0f} s")


def stop_server(proc) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_idle(page, timeout: float = 120_000) -> None:
    """Wait until the script run has finished and the page has settled: no stale element, no status widget
    and exactly one sequence logo, for 0.6 s in a row (Streamlit shows the status widget only
    after a short delay, and keeps stale elements until a run ends). timeout in ms."""
    t_end = time.monotonic() + timeout / 1000
    calm = 0
    while time.monotonic() < t_end:
        busy = page.evaluate("() => !!document.querySelector('[data-stale=\"true\"]') || "
                             "!!document.querySelector('[data-testid=\"stStatusWidget\"]') || "
                             "[...document.querySelectorAll('.gtitle')].filter("
                             "t => t.textContent.startsWith('Sequence logo')).length > 1")
        calm = 0 if busy else calm + 1
        if calm >= 3:
            return
        time.sleep(0.2)
    raise TimeoutError("the page did not settle")
