"""Real-browser test of the dashboard at Borzoi scale (issue 15, point 7; Playwright + Debian's chromium).

Builds a narrow Borzoi-architecture model with random weights (tools/scale_model.py: 524,288 bp in,
16,352 bins of 32 bp, 7,611 Borzoi-like targets with strand pairs, a random genome and GTF), starts the
dashboard with the streamlit part of README command 1 with its model roots pointing at it, and goes
through the page in Chromium as a user would: pick that model in the sidebar, pick a gene, search the
targets and add one found by the search, turn on reverse complement and a shift, box-select a range on
the tracks, look at the logo, open the layer view, select a short range and ask for ISM. At each step it
checks what a person would see against independent truth (targets.txt, the genome FASTA, the ISM
reference-base invariant), and at the end that the page shows no exception or error and the server log
names none. Step times are written to tests/artifacts/browser_scale_steps.txt and the server log to
tests/artifacts/streamlit_scale.log.
"""
from __future__ import annotations

import json
import os
import re
import time

import numpy as np
import pytest

from browser_support import (CHROME_ARGS, CHROMIUM, REPO, chart, choose, drag_box, free_port, log_problems,
                             page_problems, start_server, stop_server, wait_idle)

ARTIFACTS = REPO / "tests" / "artifacts"
STEP_MS = 900_000          # per step: generous, the CPU is shared with other work in CI
GENE = "GENE12"            # a '-' strand gene of tools/scale_model's GTF, so stranded tracks switch to '-'
GROUP = "CHIP:CTCF"        # the picker's group filter (assay groups: RNA, CAGE, DNASE, ATAC, CHIP:<mark>)
SEARCH = "HepG2"           # the target search typed in the picker, inside that group
SHIFT_K = 0                # ensemble: reverse complement (+ shifts -k..k when > 0): 2 * (2k + 1) members

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed "
                                "(apt-get install -y chromium); the browser test needs it")


# ----------------------------------------------------------------------------------- truth from the files

def read_targets(path) -> list[dict]:
    """targets.txt rows: index, identifier, strand_pair, description (read here, not by the engine)."""
    lines = path.read_text().splitlines()
    head = lines[0].split("\t")
    rows = []
    for ln in lines[1:]:
        f = dict(zip(head, ln.split("\t")))
        rows.append({"index": int(f[""]), "identifier": f["identifier"], "pair": int(f["strand_pair"]),
                     "description": f["description"]})
    return rows


def drawn_identifiers(rows, chosen, strand: str) -> list[str]:
    """What the tracks must be named for the chosen output indexes: a stranded pair drawn once, from the
    member whose identifier ends with ``strand``; unstranded targets as they are."""
    out = []
    for i in chosen:
        r = rows[i]
        if r["pair"] != r["index"]:
            r = next(x for x in (rows[i], rows[r["pair"]]) if x["identifier"].endswith(strand))
        if r["identifier"] not in out:
            out.append(r["identifier"])
    return out


def gene_record(gtf, name: str) -> dict:
    for ln in gtf.read_text().splitlines():
        f = ln.split("\t")
        if f[2] == "gene" and f'gene_name "{name}"' in f[8]:
            return {"start": int(f[3]) - 1, "end": int(f[4]), "strand": f[6]}
    raise AssertionError(f"{name} is not in {gtf}")


# ----------------------------------------------------------------------------------- fixture

@pytest.fixture(scope="module")
def scale_server(tmp_path_factory):
    pytest.importorskip("playwright.sync_api")
    from tools.scale_model import build_model_dir
    tmp = tmp_path_factory.mktemp("browser_scale")
    md = build_model_dir(tmp / "models" / "borzoi_scale", replicates=1)
    (tmp / "none.toml").write_text("")
    env = {"SEQNN_MODEL_ROOTS": str(tmp / "models"), "SEQNN_STORE_DIR": str(tmp / "store"),
           "SEQNN_DASHBOARD_CONFIG": str(tmp / "none.toml"), "SEQNN_CACHE_DIR": str(tmp / "cache")}
    port = free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "streamlit_scale.log"
    with open(log_path, "w") as log:
        proc = start_server(env, port, log)
        try:
            yield {"url": f"http://localhost:{port}", "model_dir": md, "log": log_path}
        finally:
            stop_server(proc)


# ----------------------------------------------------------------------------------- page reading

_PAGE = []   # the page of the running flow: poll stops at an exception or error shown on it


def poll(fn, timeout_ms: float = STEP_MS, what: str = "the page"):
    """fn() until it returns a true value (checked every 0.5 s); fails at once when the page shows an
    exception or an error message."""
    t_end = time.monotonic() + timeout_ms / 1000
    while True:
        v = fn()
        if v:
            return v
        shown = page_problems(_PAGE[0]) if _PAGE else []
        assert not shown, f"waiting for {what}, the page shows: {shown}"
        if time.monotonic() > t_end:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.5)


def target_traces(fig) -> dict:
    """{name: y} of the overview's target lines (not the bands, not the gene track)."""
    gene_names = {"introns", "exons", "strand", "gene names", "TSS"}
    return {t["name"]: t["y"] for t in fig["traces"]
            if t["name"] and t["name"] not in gene_names and not t["name"].endswith(" sd")}


def overview_names(page) -> list | None:
    fig = chart(page, "overview")
    return None if fig is None else list(target_traces(fig))


def plain(title: str | None) -> str:
    return re.sub(r"<[^>]+>", "", title or "")


def logo_range(page) -> tuple[int, int] | None:
    fig = chart(page, "logo")
    m = fig and re.search(r"Sequence logo ([\d,]+)-([\d,]+)", plain(fig["title"]))
    return (int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))) if m else None


def x_range(page, key: str) -> tuple[float, float]:
    r = page.evaluate("(k) => document.querySelector('.st-key-' + k + ' .js-plotly-plot')._fullLayout.xaxis.range",
                      key)
    return float(r[0]), float(r[1])


def label_text(page) -> str:
    return " ".join(page.locator('[data-testid="stMainBlockContainer"] [data-testid="stMarkdownContainer"]')
                    .all_text_contents()[:3])


def logo_letters(fig) -> dict:
    """{position: base} of the letters drawn on the logo (each letter is one glyph polygon of its base's
    trace; its centre is the position)."""
    from seqnn_engine.plot.logo import GLYPHS
    out = {}
    for t in fig["traces"]:
        if t["name"] not in GLYPHS or t["x"] is None or not t["x"].size:
            continue
        k = len(GLYPHS[t["name"]])
        xs = np.asarray(t["x"], np.float64).reshape(-1, k)
        for c in np.nanmean(xs, axis=1):
            out[int(round(c))] = t["name"]
    return out


class Steps:
    """Wall-clock time of each step, written to the artifacts."""

    def __init__(self):
        self.rows = []
        self.t = time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.rows.append((name, now - self.t))
        print(f"{now - self.t:8.1f} s  {name}", flush=True)
        self.t = now

    def write(self) -> str:
        text = "\n".join(f"{s:8.1f} s  {n}" for n, s in self.rows) + f"\n{sum(s for _, s in self.rows):8.1f} s  total\n"
        (ARTIFACTS / "browser_scale_steps.txt").write_text(text)
        return text


# ----------------------------------------------------------------------------------- the flow

def test_browser_scale_flow(scale_server):
    import pysam
    from playwright.sync_api import sync_playwright

    md = scale_server["model_dir"]
    rows = read_targets(md / "targets.txt")
    manifest = json.loads((md / "manifest.json").read_text())
    params = json.loads((md / "params.json").read_text())["model"]
    L = int(params["seq_length"])
    assert len(rows) == 7611 and L == 524_288
    genome = pysam.FastaFile(str(md / "genome.fa.gz"))
    steps = Steps()
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 2600})
        page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        _PAGE[:] = [page]
        page.goto(scale_server["url"])
        page.locator(".st-key-logo .gtitle").first.wait_for(timeout=STEP_MS)   # the demo page
        wait_idle(page, STEP_MS)
        steps.done("open the page (bundled demo)")

        # ---- the model, picked in the sidebar: opens on its manifest's default gene and targets
        choose(page, "Model", "Borzoi-scale", "7611 targets")
        first = gene_record(md / "genes.gtf", "GENE1")
        want = drawn_identifiers(rows, manifest["default_targets"], first["strand"])
        poll(lambda: overview_names(page) == want, what=f"the scale model's tracks {want}")
        wait_idle(page, STEP_MS)
        sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
        assert "524,288 bp in" in sidebar and "16352 bins x 32 bp" in sidebar and "7611 targets" in sidebar
        assert "GENE1 (" in label_text(page)
        steps.done("pick the scale model (load, warm-up, first prediction and attribution)")

        # ---- a gene, typed in the gene search: a '-' gene, so the stranded pairs switch to their '-' member
        g = gene_record(md / "genes.gtf", GENE)
        assert g["strand"] == "-"
        choose(page, "Gene", GENE, f"{GENE} ·")
        want = drawn_identifiers(rows, manifest["default_targets"], "-")
        assert want != drawn_identifiers(rows, manifest["default_targets"], "+")
        poll(lambda: overview_names(page) == want and f"{GENE} (" in label_text(page), what=f"{GENE}'s tracks")
        wait_idle(page, STEP_MS)
        assert "strand -" in label_text(page)
        fig = chart(page, "overview")
        gene_text = [t for t in fig["traces"] if t["name"] == "gene names"]
        assert gene_text, "no gene track under the tracks"
        names_drawn = page.locator(".st-key-overview text").all_text_contents()
        assert any(s.startswith(GENE) for s in names_drawn), names_drawn
        lo0, hi0 = x_range(page, "overview")
        tss = g["end"] - 1                           # a '-' gene's TSS: its last base
        assert abs((lo0 + hi0) / 2 - tss) <= 64 and abs((hi0 - lo0) - L) <= 64, (lo0, hi0, tss)
        for name, y in target_traces(fig).items():
            assert y is not None and y.size > 100 and np.isfinite(y).all() and (y >= 0).all(), name  # softplus
        steps.done(f"pick gene {GENE} (prediction, attribution)")

        # ---- search the targets: group filter CHIP, search box, add the first match
        choose(page, "Target group (assay)", GROUP, f"{GROUP} (")
        wait_idle(page, STEP_MS)
        box = page.locator('[data-testid="stTextInput"]', has_text="Search targets").locator("input")
        box.fill(SEARCH)
        box.press("Enter")
        words = SEARCH.lower().split()
        hits = [r for r in rows if r["description"].startswith(GROUP + ":")
                and all(w in r["description"].lower() for w in words)]
        n_entries = sum(1 for r in rows if not (r["pair"] != r["index"] and r["identifier"].endswith("-")))
        caption = f"{len(hits):,} of {n_entries:,} targets match"
        page.locator('[data-testid="stSidebar"] [data-testid="stCaptionContainer"]', has_text=caption) \
            .first.wait_for(timeout=STEP_MS)
        wait_idle(page, STEP_MS)
        new = next(r for r in hits if r["index"] not in manifest["default_targets"])
        ms = page.locator('[data-testid="stMultiSelect"]', has_text="Targets")
        ms.locator("input").first.click()
        page.locator('[role="option"]', has_text=GROUP).first.wait_for(timeout=STEP_MS)
        listed = [t for t in page.locator('[role="option"]').all_inner_texts() if t.strip() != "Select all"]
        assert listed[0].startswith(f"{new['identifier']} - {new['description']}"), listed[:3]   # best match first
        assert all(GROUP + ":" in t and SEARCH in t for t in listed), listed   # only matches (and the chosen)
        page.locator('[role="option"]', has_text=f"{new['identifier']} - ").first.click()
        page.keyboard.press("Escape")
        want = want + [new["identifier"]]
        poll(lambda: overview_names(page) == want, what=f"the track of {new['identifier']}")
        wait_idle(page, STEP_MS)
        tags = ms.locator('[data-testid="stMultiSelectTagsContainer"] [data-tag]').all_inner_texts()
        assert len(tags) == len(want) and sum(t.startswith(new["identifier"] + " - ") for t in tags) == 1, tags
        steps.done(f"search targets '{SEARCH}' in {GROUP}, add {new['identifier']}")

        # ---- the ensemble: reverse complement, then shifts -1..1
        exp = page.locator('[data-testid="stExpander"]', has_text="Ensemble")
        exp.locator("summary").first.click()
        rc = page.locator('[data-testid="stCheckbox"]', has_text="Reverse complement")
        rc.wait_for(timeout=STEP_MS)
        rc.locator("label").click()
        bands = lambda: [t["name"] for t in (chart(page, "overview") or {"traces": []})["traces"]
                         if (t["name"] or "").endswith(" +1 sd")]
        poll(lambda: len(bands()) == len(want), what="the +-1 sd bands of a 2-member ensemble")
        wait_idle(page, STEP_MS)
        if SHIFT_K:
            thumb = page.locator('[data-testid="stSlider"]', has_text="Shifts").locator('input[type="range"]').first
            thumb.focus()
            for _ in range(SHIFT_K):
                page.keyboard.press("ArrowRight")
        n_members = 2 * (2 * SHIFT_K + 1)
        member_text = f"x {n_members} member(s)"
        poll(lambda: page.locator(".st-key-ism_run button", has_text=member_text).count() == 1,
             what=f"the page of a {n_members}-member ensemble")
        wait_idle(page, STEP_MS)
        fig = chart(page, "overview")
        assert sorted(bands()) == sorted(f"{n} +1 sd" for n in want)
        for name, y in target_traces(fig).items():
            assert np.isfinite(y).all() and (y >= 0).all(), name
        steps.done(f"ensemble: reverse complement, shifts +-{SHIFT_K} ({n_members} members)")

        # ---- box-select a range on the tracks (~6 kb: plotly ignores drags under a few pixels): the logo
        # shows its central 2,000 bp (the logo cap), its letters the genome's bases
        lo0, hi0 = x_range(page, "overview")
        f0, f1 = 0.490, 0.502
        before = logo_range(page)
        drag_box(page, "overview", f0, f1)
        poll(lambda: logo_range(page) not in (None, before), what="the logo of the box-selected range")
        wait_idle(page, STEP_MS)
        lo, hi = logo_range(page)
        px = (hi0 - lo0) / page.locator(".st-key-overview .nsewdrag").first.bounding_box()["width"]
        centre = lo0 + (f0 + f1) / 2 * (hi0 - lo0)
        assert hi - lo == 2000 and abs((lo + hi) / 2 - centre) <= 2 * px, (lo, hi, centre, px)
        assert page.locator(".st-key-logo text", has_text="logo capped at 2,000 bp").count() >= 1
        steps.done(f"box-select ~{(f1 - f0) * (hi0 - lo0):,.0f} bp on the tracks (logo {lo:,}-{hi:,})")

        logo = chart(page, "logo")
        assert page.locator(".st-key-logo path.js-fill").count() >= 1        # filled glyphs are drawn
        letters = logo_letters(logo)
        ref = genome.fetch("chr1", lo, hi).upper()
        assert set(letters) <= set(range(lo, hi)) and len(letters) >= 0.95 * (hi - lo), (len(letters), hi - lo)
        assert all(letters[q] == ref[q - lo] for q in letters)               # saliency logo: the present base
        contrib = chart(page, "contrib")
        y = contrib["traces"][0]["y"]
        assert y is not None and np.isfinite(y).all() and np.abs(y).max() > 0
        hyp = chart(page, "hyp")["traces"][0]["z"]
        assert hyp.shape == (4, hi - lo) and np.isfinite(hyp).all()
        steps.done("the logo, contribution track and heatmap of the range")

        # ---- ISM of a short range: zoom the tracks in, box-select ~16 bp, press the button
        page.locator(".st-key-overview .nsewdrag").first.hover(position={"x": 8, "y": 8}, force=True)  # not the box
        page.locator('.st-key-overview .modebar-btn[data-title="Zoom"]').click()
        drag_box(page, "overview", 0.30, 0.32)          # 524 kb -> ~10 kb
        poll(lambda: x_range(page, "overview")[1] - x_range(page, "overview")[0] < 20_000, what="the zoomed tracks")
        drag_box(page, "overview", 0.45, 0.55)          # -> ~1 kb
        poll(lambda: x_range(page, "overview")[1] - x_range(page, "overview")[0] < 2_000, what="the zoomed tracks")
        z0, z1 = x_range(page, "overview")
        page.locator(".st-key-overview .nsewdrag").first.hover(position={"x": 8, "y": 8}, force=True)  # not the box
        page.locator('.st-key-overview .modebar-btn[data-title="Box Select"]').click()
        before = logo_range(page)
        drag_box(page, "overview", 0.40, 0.415)         # ~16 bp
        poll(lambda: logo_range(page) not in (None, before), what="the logo of the short range")
        wait_idle(page, STEP_MS)
        a, b = logo_range(page)
        assert abs(a - (z0 + 0.40 * (z1 - z0))) <= 2 and abs(b - (z0 + 0.415 * (z1 - z0))) <= 2, (a, b, z0, z1)
        assert 4 <= b - a <= 30, (a, b)
        button = page.locator(".st-key-ism_run button")
        assert button.inner_text().startswith(f"Run ISM on {a:,}-{b:,}: {3 * (b - a):,} mutants {member_text}"), \
            button.inner_text()
        steps.done(f"zoom in and box-select {a:,}-{b:,}")
        button.click()
        page.locator(".st-key-ism .js-plotly-plot").first.wait_for(timeout=STEP_MS)
        wait_idle(page, STEP_MS)
        ism = chart(page, "ism")
        z = ism["traces"][0]["z"]
        assert z.shape == (4, b - a) and np.isfinite(z).all()
        ref = genome.fetch("chr1", a, b).upper()
        for j, base in enumerate(ref):
            col = z[:, j]
            assert col["ACGT".index(base)] == 0.0, (a + j, base, col)     # the reference base: no change
        assert np.count_nonzero(z) >= 0.9 * 3 * (b - a), z                # the substitutions change it
        agree = page.locator('[data-testid="stCaptionContainer"]', has_text="Agreement of the gradient with ISM")
        r = float(re.search(r"Pearson r\): (\S+)", agree.first.inner_text()).group(1))
        assert np.isfinite(r) and -1 <= r <= 1
        steps.done(f"ISM of {a:,}-{b:,} ({3 * (b - a)} mutants x {n_members} members)")

        # ---- the layer view: units x positions and targets x positions heatmaps
        page.locator(".st-key-view button", has_text="Layers").click()
        unit_key = poll(lambda: page.evaluate(
            "() => { const e = document.querySelector('[class*=\"st-key-layer_units_\"] .js-plotly-plot');"
            " return e ? [...e.closest('[class*=\"st-key-layer_units_\"]').classList]"
            ".find(c => c.startsWith('st-key-layer_units_')).slice(7) : null; }"), what="the layer heatmaps")
        tgt_key = unit_key.replace("layer_units_", "layer_targets_")
        poll(lambda: chart(page, tgt_key) is not None, what="the targets x positions heatmap")
        wait_idle(page, STEP_MS)
        units = chart(page, unit_key)["traces"][0]
        targets_hm = chart(page, tgt_key)["traces"][0]
        assert units["type"] == "heatmap" and targets_hm["type"] == "heatmap"
        assert units["z"].ndim == 2 and 0 < units["z"].shape[1] <= 4000 and np.isfinite(units["z"]).all()
        assert np.abs(units["z"]).max() > 0
        assert targets_hm["z"].shape[0] == len(want) and np.isfinite(targets_hm["z"]).all()
        assert sorted(str(v) for v in targets_hm["y"]) == sorted(want)
        for k in (unit_key, tgt_key):
            assert page.locator(f".st-key-{k} .hm image").count() >= 1, f"heatmap {k} not drawn"
        steps.done(f"layer view ({len(want)} targets x {n_members} members)")

        # ---- nothing went wrong on the page or in the server
        problems = page_problems(page)
        for view in ("Layers", "Attribution"):   # each view drawn once more from the cache
            page.locator(".st-key-view button", has_text=view).click()
            time.sleep(0.5)
            wait_idle(page, STEP_MS)
            problems += page_problems(page)
        page.screenshot(path=str(ARTIFACTS / "dashboard_scale.png"))
        browser.close()
    print("\n" + steps.write())
    assert not problems, problems
    assert not errors, errors
    bad = log_problems(scale_server["log"].read_text())
    assert not bad, bad
