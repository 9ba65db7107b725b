"""Real-browser test of the dashboard (Playwright + Debian's chromium; skips without them).

Starts the app with the streamlit part of README command 1 on a free local port, picks a
gene, waits for the charts, box-selects a range on the prediction tracks, checks that the
sequence logo of that range appears, downloads the attribution HDF5 and compares it with the
engine, saves a screenshot under tests/artifacts/ and checks the browser console has no errors.

The model: the bundled demo when it is trained (assets/demo/manifest.json), else the tiny test
model of test_app_support. Set SEQNN_UPDATE_SCREENSHOT=1 to also copy the screenshot to
assets/screenshot.png (the README's image).
"""
from __future__ import annotations

import os
import re
import shutil
import time

import numpy as np
import pytest

from browser_support import CHROME_ARGS, CHROMIUM, free_port, start_server, stop_server, wait_idle
from test_app_support import DEMO, REPO, build_model_root

ARTIFACTS = REPO / "tests" / "artifacts"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed "
                                "(apt-get install -y chromium); the browser test needs it")


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    pytest.importorskip("playwright.sync_api")
    tmp = tmp_path_factory.mktemp("browser")
    env = {"SEQNN_STORE_DIR": str(tmp / "store"), "SEQNN_DASHBOARD_CONFIG": str(tmp / "none.toml")}
    if (DEMO / "manifest.json").exists():
        gene = "DMG135"
        env["SEQNN_MODEL_ROOTS"] = ""
    else:
        build_model_root(tmp / "models")
        env["SEQNN_MODEL_ROOTS"] = str(tmp / "models")
        gene = "DMG135"
    (tmp / "none.toml").write_text("")
    port = free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(ARTIFACTS / "streamlit.log", "w") as log:
        proc = start_server(env, port, log)
        try:
            yield {"url": f"http://localhost:{port}", "gene": gene, "tmp": tmp}
        finally:
            stop_server(proc)


def logo_title(page) -> str:
    t = page.locator('[data-testid="stPlotlyChart"] .gtitle', has_text="Sequence logo")
    t.first.wait_for(timeout=120_000)
    return t.first.text_content()


def test_browser_flow(app_server):
    from playwright.sync_api import sync_playwright

    from seqnn_engine.io.export import read_hdf5
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 2600}, accept_downloads=True)
        page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.goto(app_server["url"])
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=180_000)
        first_logo = logo_title(page)
        wait_idle(page)

        # pick a gene in the searchable select box
        gene = app_server["gene"]
        box = page.locator('[data-testid="stSelectbox"]', has_text="Gene")
        box.locator("input").first.click()
        page.keyboard.type(gene)
        page.locator('[role="option"]', has_text=gene).first.click()
        page.locator('[data-testid="stMarkdownContainer"]', has_text=f"{gene} (").first.wait_for(timeout=120_000)
        wait_idle(page)
        page.wait_for_function(
            "(old) => [...document.querySelectorAll('.gtitle')].some(t => t.textContent.startsWith('Sequence logo')"
            " && t.textContent !== old)", arg=first_logo, timeout=120_000)
        before = logo_title(page)

        # box-select a range on the first track of the overview
        overview = page.locator('[data-testid="stPlotlyChart"]').first
        overview.scroll_into_view_if_needed()
        drag = overview.locator(".nsewdrag").first
        bb = drag.bounding_box()
        y = bb["y"] + bb["height"] / 2
        x0, x1 = bb["x"] + bb["width"] * 0.462, bb["x"] + bb["width"] * 0.503  # the promoter, just upstream of the TSS
        page.mouse.move(x0, y)
        page.mouse.down()
        page.mouse.move(x1, y, steps=8)
        page.mouse.up()
        page.wait_for_function(
            "(old) => [...document.querySelectorAll('.gtitle')].some(t => t.textContent.startsWith('Sequence logo')"
            " && t.textContent !== old)", arg=before, timeout=120_000)
        wait_idle(page)
        after = logo_title(page)
        m = re.search(r"([\d,]+)-([\d,]+)", after)
        lo, hi = (int(v.replace(",", "")) for v in m.groups())
        assert 0 < hi - lo < 2000
        logo_chart = page.locator('[data-testid="stPlotlyChart"]',
                                  has=page.locator(".gtitle", has_text="Sequence logo"))
        assert logo_chart.locator("path.js-fill").count() >= 1  # filled glyph traces are drawn

        # download the attribution HDF5 and check it holds the selected window's arrays
        page.locator('[data-testid="stExpander"]', has_text="Download attribution").locator("summary").click()
        with page.expect_download(timeout=120_000) as dl:
            page.locator('[data-testid="stDownloadButton"]', has_text="HDF5").last.click()
        path = app_server["tmp"] / "attribution.h5"
        dl.value.save_as(path)
        h5 = read_hdf5(path.read_bytes())
        assert h5["scores"].ndim == 2 and h5["scores"].shape[1] == 4
        assert h5.attrs["selected_range"] == [lo, hi]
        assert h5.attrs["input_label"].startswith(gene)
        assert np.isfinite(h5["position_scores"]).all()

        page.mouse.move(5, 5)
        time.sleep(1.0)
        shot = ARTIFACTS / "dashboard.png"
        page.screenshot(path=str(shot))
        if os.environ.get("SEQNN_UPDATE_SCREENSHOT") == "1":
            shutil.copy(shot, REPO / "assets" / "screenshot.png")
        browser.close()
    assert not errors, errors
