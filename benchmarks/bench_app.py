"""Dashboard timings measured in a real browser (Playwright + Debian chromium).

    .venv/bin/python benchmarks/bench_app.py [--quick] [--no-write]   # prints a table, updates RESULTS.md

Measures, on the bundled demo model (or the tiny test model when the demo is not trained):

* cold start: server start -> healthy, and page open -> first chart drawn (includes the
  TensorFlow import, model load and the first prediction) with an empty result store;
* first chart of a new input with the model loaded: pick an uncached gene -> its tracks drawn;
* cached interaction: pick a gene seen before -> its tracks drawn;
* range selection: box-select on the tracks -> the logo of the new range drawn;
* warm restart: restart the server over the same store, open the page -> first chart
  (results come from the persistent store).

Goals (issue 6): first chart <= 5 s after the model is loaded; a cached interaction <= 1 s.
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))
from browser_support import CHROME_ARGS, CHROMIUM, free_port, start_server, stop_server, wait_idle  # noqa: E402
GENES_NEW = ("DMG130", "DMG131", "DMG132", "DMG133")
FIRST_GENE = "DMG129"  # the gene preselected on the demo model (and the tiny test model)


def start(env: dict, port: int, log):
    """(server process, seconds until it answered its health check)."""
    t0 = time.perf_counter()
    proc = start_server(env, port, log, timeout=600)
    return proc, time.perf_counter() - t0


def wait_gene_drawn(page, gene: str, timeout=180_000) -> None:
    page.wait_for_function(
        "(g) => { const c = document.querySelector('[data-testid=\"stPlotlyChart\"]');"
        " return c && [...c.querySelectorAll('text')].some(t => t.textContent.startsWith(g + ' ('))}",
        arg=gene, timeout=timeout)


def pick_gene(page, gene: str) -> float:
    box = page.locator('[data-testid="stSelectbox"]', has_text="Gene")
    box.locator("input").first.click()
    page.keyboard.type(gene)
    opt = page.locator('[role="option"]', has_text=gene).first
    opt.wait_for()
    t0 = time.perf_counter()
    opt.click()
    wait_gene_drawn(page, gene)
    dt = time.perf_counter() - t0
    wait_idle(page, 180_000)
    return dt


def logo_title(page) -> str:
    return page.locator(".gtitle", has_text="Sequence logo").first.text_content()


def box_select(page, frac0: float, frac1: float) -> float:
    before = logo_title(page)
    drag = page.locator('[data-testid="stPlotlyChart"]').first.locator(".nsewdrag").first
    bb = drag.bounding_box()
    y = bb["y"] + bb["height"] / 2
    page.mouse.move(bb["x"] + bb["width"] * frac0, y)
    page.mouse.down()
    page.mouse.move(bb["x"] + bb["width"] * frac1, y, steps=6)
    t0 = time.perf_counter()
    page.mouse.up()
    page.wait_for_function(
        "(old) => [...document.querySelectorAll('.gtitle')].some(t => t.textContent.startsWith('Sequence logo')"
        " && t.textContent !== old)", arg=before, timeout=180_000)
    dt = time.perf_counter() - t0
    wait_idle(page, 180_000)
    return dt


def main(quick: bool = False) -> dict:
    from playwright.sync_api import sync_playwright
    demo = (REPO / "assets" / "demo" / "manifest.json").exists()
    tmp = Path(tempfile.mkdtemp(prefix="bench-app-"))
    env = {"SEQNN_STORE_DIR": str(tmp / "store"), "SEQNN_DASHBOARD_CONFIG": str(tmp / "none.toml")}
    (tmp / "none.toml").write_text("")
    if demo:
        env["SEQNN_MODEL_ROOTS"] = ""
        model_label = "bundled demo model (assets/demo)"
    else:
        from test_app_support import build_model_root
        build_model_root(tmp / "models")
        env["SEQNN_MODEL_ROOTS"] = str(tmp / "models")
        model_label = "tiny test model (demo not trained yet)"
    out: dict = {"model": model_label, "load": [os.getloadavg()[0], 0.0]}
    log = open(tmp / "streamlit.log", "w")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        port = free_port()
        proc, out["server_start_s"] = start(env, port, log)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2400})
            t0 = time.perf_counter()
            page.goto(f"http://localhost:{port}")
            page.locator('[data-testid="stMarkdownContainer"]', has_text=f"{FIRST_GENE} (").first.wait_for(
                timeout=300_000)
            out["cold_model_loaded_s"] = time.perf_counter() - t0
            wait_gene_drawn(page, FIRST_GENE)
            out["cold_first_chart_s"] = time.perf_counter() - t0
            wait_idle(page, 180_000)
            out["cold_page_complete_s"] = time.perf_counter() - t0
            genes = GENES_NEW[:2] if quick else GENES_NEW
            new = [pick_gene(page, g) for g in genes]
            cached = [pick_gene(page, g) for g in genes[:3]]
            sel = [box_select(page, a, a + 0.04) for a in ((0.3, 0.6) if quick else (0.3, 0.45, 0.6))]
            out.update(new_input_s=new, cached_input_s=cached, box_select_s=sel)
            page.close()
        finally:
            stop_server(proc)
        port = free_port()
        proc, _ = start(env, port, log)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2400})
            t0 = time.perf_counter()
            page.goto(f"http://localhost:{port}")
            wait_gene_drawn(page, FIRST_GENE, timeout=300_000)
            out["restart_first_chart_s"] = time.perf_counter() - t0
            wait_idle(page, 180_000)
            out["restart_page_complete_s"] = time.perf_counter() - t0
        finally:
            stop_server(proc)
        browser.close()
    log.close()
    out["load"][1] = os.getloadavg()[0]
    return out


def report(r: dict) -> str:
    med = statistics.median
    rows = [
        ("server start -> healthy", r["server_start_s"]),
        ("cold start: page open -> model loaded and warmed up (TF import, build, weights, tracing)",
         r["cold_model_loaded_s"]),
        ("cold start: page open -> first chart (prediction tracks drawn)", r["cold_first_chart_s"]),
        ("cold start: model loaded -> first chart", r["cold_first_chart_s"] - r["cold_model_loaded_s"]),
        ("cold start: page open -> page complete (attribution too)", r["cold_page_complete_s"]),
        ("new input (uncached gene), model loaded -> tracks drawn, median of "
         f"{len(r['new_input_s'])}", med(r["new_input_s"])),
        (f"cached input (gene seen before) -> tracks drawn, median of {len(r['cached_input_s'])}",
         med(r["cached_input_s"])),
        (f"box-select a range -> logo of the range drawn, median of {len(r['box_select_s'])}", med(r["box_select_s"])),
        ("restart over the same store: page open -> first chart", r["restart_first_chart_s"]),
        ("restart over the same store: page open -> page complete", r["restart_page_complete_s"]),
    ]
    lines = ["## Dashboard in the browser (`benchmarks/bench_app.py`)", "",
             f"Model: {r['model']}. Chromium headless via Playwright on this machine (2 CPU cores shared with "
             f"other jobs: load average {r['load'][0]:.1f} before / {r['load'][1]:.1f} after the run; no GPU); "
             "times are wall-clock seconds seen by the browser.", "",
             "| measurement | seconds |", "|---|---|"]
    lines += [f"| {name} | {v:.2f} |" for name, v in rows]
    lines += ["", f"Goals: first chart <= 5 s once the model is loaded (measured "
              f"{r['cold_first_chart_s'] - r['cold_model_loaded_s']:.2f} s on a cold page, "
              f"{med(r['new_input_s']):.2f} s for a new gene); cached interaction <= 1 s "
              f"(measured {med(r['cached_input_s']):.2f} s gene switch, {med(r['box_select_s']):.2f} s range)."]
    return "\n".join(lines) + "\n"


def write_results(section: str) -> None:
    from results import update_section
    update_section("bench_app", section)


if __name__ == "__main__":
    if not os.path.exists(CHROMIUM):
        sys.exit("Debian chromium is needed: apt-get install -y chromium")
    res = main(quick="--quick" in sys.argv)
    sec = report(res)
    print(sec)
    if "--no-write" not in sys.argv:
        write_results(sec)
