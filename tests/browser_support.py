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


# ----------------------------------------------------------------------------------- page helpers (sync Playwright)
# Used by tests/test_browser_scale.py.

CHART_JS = """(key) => {
    const el = document.querySelector('.st-key-' + key + ' .js-plotly-plot');
    if (!el || !el.data) return null;
    const pack = (v) => {
        if (v === undefined || v === null) return null;
        if (v.bdata !== undefined) return {dtype: v.dtype, bdata: v.bdata, shape: v.shape || null};
        if (ArrayBuffer.isView(v)) return {list: Array.from(v)};
        if (Array.isArray(v)) return {list: v.map(r => (ArrayBuffer.isView(r) ? Array.from(r) : r))};
        return null;
    };
    const title = el.layout && el.layout.title ? (el.layout.title.text || el.layout.title) : null;
    return {title: typeof title === 'string' ? title : null,
            traces: el.data.map(t => ({name: t.name || null, type: t.type || 'scatter',
                                       x: pack(t.x), y: pack(t.y), z: pack(t.z)}))};
}"""

_DTYPES = {"f4": "<f4", "f8": "<f8", "i1": "i1", "u1": "u1", "i2": "<i2", "u2": "<u2", "i4": "<i4", "u4": "<u4"}


def decode_array(v):
    """A trace field as CHART_JS packs it -> numpy array (None when absent). Base64 fields
    ({dtype, bdata, shape}) are decoded with their shape; lists keep None as NaN."""
    import base64

    import numpy as np
    if v is None:
        return None
    if "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(_DTYPES.get(v["dtype"], v["dtype"])))
        if v.get("shape"):
            a = a.reshape([int(s) for s in str(v["shape"]).split(",")])
        return a
    lst = v["list"]
    try:
        return np.array([np.nan if e is None else e for e in lst], dtype=np.float64) if lst and not isinstance(
            lst[0], list) else np.array([[np.nan if e is None else e for e in r] for r in lst], dtype=np.float64)
    except (TypeError, ValueError):
        return np.array(lst, dtype=object)


def chart(page, key: str) -> dict | None:
    """The plotly chart drawn by ``st.plotly_chart(..., key=key)``: {'title', 'traces': [{'name', 'type',
    'x', 'y', 'z'}]} with numpy arrays, or None when the chart is not on the page."""
    raw = page.evaluate(CHART_JS, key)
    if raw is None:
        return None
    for t in raw["traces"]:
        for f in ("x", "y", "z"):
            t[f] = decode_array(t[f])
    return raw


def choose(page, box_label: str, typed: str, option_text: str | None = None, timeout: float = 120_000) -> None:
    """Type ``typed`` into the select box labelled ``box_label`` and click the first option showing
    ``option_text`` (default ``typed``)."""
    box = page.locator('[data-testid="stSelectbox"]', has_text=box_label)
    box.locator("input").first.click()
    page.keyboard.type(typed)
    opt = page.locator('[role="option"]', has_text=option_text or typed).first
    opt.wait_for(timeout=timeout)
    opt.click()


def page_problems(page) -> list[str]:
    """Exception boxes and st.error messages on the page."""
    out = []
    for sel, what in (('[data-testid="stException"]', "exception"), ('[data-testid="stAlertContentError"]', "error")):
        for t in page.locator(sel).all_text_contents():
            out.append(f"{what}: {t.strip()[:300]}")
    return out


LOG_PROBLEM_WORDS = ("Traceback", "Error", "Exception")


def log_problems(text: str) -> list[str]:
    """Lines of a server log that name a traceback, an error or an exception."""
    return [ln for ln in text.splitlines() if any(w in ln for w in LOG_PROBLEM_WORDS)]


def drag_box(page, key: str, f0: float, f1: float, row: float = 0.5) -> None:
    """Drag across the plot area of chart ``key`` from fraction ``f0`` to ``f1`` of its width, at
    ``row`` of the first subplot's height (a box selection in the chart's select mode)."""
    drag = page.locator(f".st-key-{key} .nsewdrag").first
    drag.scroll_into_view_if_needed()
    bb = None
    for _ in range(150):   # the chart may be re-mounted right after a run
        bb = drag.bounding_box()
        if bb is not None and bb["width"] > 0:
            break
        time.sleep(0.2)
    if bb is None:
        raise TimeoutError(f"chart {key!r} has no drag area")
    y = bb["y"] + bb["height"] * row
    page.mouse.move(bb["x"] + bb["width"] * f0, y)
    page.mouse.down()
    page.mouse.move(bb["x"] + bb["width"] * f1, y, steps=8)
    page.mouse.up()
