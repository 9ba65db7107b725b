"""Load test at Borzoi scale: heavy work is queued and never blocks the server (issue 15, point 5).

    flock /tmp/seqnn_bigmem.lock .venv/bin/python benchmarks/load_test_borzoi.py [--budget-mb 12000] [--no-write]
    .venv/bin/python benchmarks/load_test_borzoi.py --quick      # narrow model, minutes, no lock needed

Model: the published full-width Borzoi (``benchmarks/borzoi_params_pred.json``, 524,288 bp in, 16,352
bins, human head of 7,611 targets, 186 M parameters) with seeded random weights, written once as a model
directory by ``tools/scale_model.build_model_dir(params=...)`` (Borzoi-like targets.txt with strand
pairs, a random chr1 genome and a GTF of 24 genes) under ``--cache`` (default
``/tmp/seqnn-bench/borzoi_full``) and reused while its params are the published ones. ``--quick``: the
narrow Borzoi-architecture test model of tools/scale_model (width 16) with ``SEQNN_QUEUE_ABOVE_MB=1``, so
that its predictions and saliency maps go through the queue too (a check of the machinery, not of memory).

Server: README command 1 on 127.0.0.1 (tests/browser_support), ``SEQNN_MAX_MEMORY_MB`` = the budget,
``SEQNN_WORKERS=1``, an empty result store. Headless Chromium (Playwright), one browser context (one
Streamlit session) per session:

1. warm-up: one session switches to the model (it loads once) and waits for the default gene's
   prediction and saliency map (both queued);
2. then at once: 4 sessions each open the page, switch to the model (the default gene: cached) and pick
   their own gene (4 different genes: the queue cannot merge them), so each asks for its prediction and
   its saliency map (the Attribution view's default: saliency of the chosen targets over the whole
   window), both queued; the page's queue line (place in the queue, estimated time) is read every 0.5 s
   until the saliency's sequence logo is drawn;
3. meanwhile a 5th session browses cached views of the default gene, one action a second: box-select a
   range (logo and heatmap redrawn from the cached saliency map), alternating two ranges, and switch to
   the Model page and back to Explore (a full page run from the cache). Latency = action -> page settled
   (the first of three calm polls 0.1 s apart: no stale element, no running-status widget, the new
   content drawn).

The server's VmRSS is sampled every 0.25 s. Writes the 'load_borzoi' section of benchmarks/RESULTS.md
(``--quick``: 'load_borzoi_quick'). Goal: all 4 complete, peak RSS <= the budget, cached views <= 1 s.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))
import load_test as lt  # noqa: E402  (the load test's server, browser and RSS machinery)

PARAMS = HERE / "borzoi_params_pred.json"
DEFAULT_CACHE = Path("/tmp/seqnn-bench/borzoi_full")
GENES = ("GENE3", "GENE5", "GENE7", "GENE9")      # one per heavy session; the default gene is another
N_HEAVY = len(GENES)
LABEL_JS = """(g) => [...document.querySelectorAll('strong')].some(s => s.textContent.startsWith(g + ' ('))"""
PROGRESS_JS = """() => [...document.querySelectorAll('[data-testid="stProgress"]')].map(p => p.innerText.trim())"""
SCALE_GENE_JS = """() => [...document.querySelectorAll('strong')].some(s => /^GENE\\d+ \\(/.test(s.textContent))
    && !document.querySelector('[data-testid="stProgress"]')
    && [...document.querySelectorAll('.gtitle')].some(t => t.textContent.startsWith('Sequence logo'))"""
NO_PROGRESS_JS = """() => !document.querySelector('[data-testid="stProgress"]')"""
MODEL_PAGE_JS = """() => [...document.querySelectorAll('h3')].some(h => h.textContent.startsWith('Model: '))"""
QUEUED = re.compile(r"^(?P<label>.+?): queued, (?P<ahead>\d+) request\(s\) ahead; (?P<eta>.+)$")
RUNNING = re.compile(r"^(?P<label>.+?): (?P<msg>.+); (?P<eta>.+) left$")


def note(msg: str) -> None:
    """Progress of the run on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def eta_seconds(text: str):
    """The seconds of the page's 'about 75 s' / 'about 2.1 min' (None: 'time not known yet')."""
    m = re.search(r"about ([\d,.]+) (s|min)", text)
    if not m:
        return None
    v = float(m.group(1).replace(",", ""))
    return v * 60 if m.group(2) == "min" else v


# ----------------------------------------------------------------------------------- model

def model_dir(quick: bool, cache: Path, tmp: Path) -> Path:
    """The model directory under a model root (``<root>/<name>``): built now, or reused from the cache."""
    from tools.scale_model import build_model_dir
    if quick:
        return build_model_dir(tmp / "models" / "borzoi_narrow", name="Narrow Borzoi (random weights)")
    params = json.loads(PARAMS.read_text())
    d = cache / "models" / "borzoi_full"
    ready = (d / "manifest.json").exists() and (d / "rep0.weights.h5").exists() and \
        json.loads((d / "params.json").read_text()) == params
    if not ready:
        build_model_dir(d, params=params, name="Full-width Borzoi (random weights)")
    return d


# ----------------------------------------------------------------------------------- browser

async def settled_after(page, t0: float, ready_js: str, arg=None, timeout_s: float = 300.0) -> float:
    """Seconds from ``t0`` until the page was settled with ``ready_js`` true (the first of three
    calm polls 0.1 s apart)."""
    t_end = time.monotonic() + timeout_s
    first, calm = None, 0
    while time.monotonic() < t_end:
        ok = await page.evaluate(lt.SETTLED_JS) and await page.evaluate(ready_js, arg)
        if ok:
            first = first or time.perf_counter()
            calm += 1
            if calm >= 3:
                return first - t0
        else:
            first, calm = None, 0
        await asyncio.sleep(0.1)
    raise TimeoutError("the page did not settle")


async def open_on_model(page, url: str, label: str, timeout_s: float) -> None:
    """Open the page (the demo model), switch to the test model and wait for its saliency logo."""
    await page.goto(url)
    await page.wait_for_function(lt.GENE_DRAWN_JS, arg=lt.FIRST_GENE, timeout=lt.STEP_TIMEOUT_MS)
    await lt.settle(page)
    await lt.switch_model(page, label)
    # the test model's gene (tools/scale_model names them GENE<n>) heads the page, with its logo
    await page.wait_for_function(SCALE_GENE_JS, timeout=timeout_s * 1000)
    await settled_after(page, time.perf_counter(), SCALE_GENE_JS, timeout_s=timeout_s)


@dataclass
class Heavy:
    gene: str
    samples: list = field(default_factory=list)      # (seconds since the pick, progress line)
    done_s: float | None = None                       # pick -> saliency logo drawn, page settled
    errors: list = field(default_factory=list)

    def phases(self) -> dict:
        """label -> {'first_s', 'last_s', 'ahead_max', 'ahead_first', 'eta_first'} from the progress lines."""
        out: dict = {}
        for t, line in self.samples:
            m = QUEUED.match(line) or RUNNING.match(line)
            if not m:
                continue
            p = out.setdefault(m.group("label"), {"first_s": t, "ahead_first": None, "ahead_max": None,
                                                 "eta_first": eta_seconds(m.group("eta")), "eta_first_s": t})
            p["last_s"] = t
            if p["eta_first"] is None and eta_seconds(m.group("eta")) is not None:
                p["eta_first"], p["eta_first_s"] = eta_seconds(m.group("eta")), t
            if "ahead" in m.groupdict():
                a = int(m.group("ahead"))
                p["ahead_first"] = a if p["ahead_first"] is None else p["ahead_first"]
                p["ahead_max"] = max(a, p["ahead_max"] or 0)
        return out


async def heavy_flow(browser, url: str, label: str, gene: str, go: asyncio.Event, timeout_s: float,
                     shots: Path) -> Heavy:
    res = Heavy(gene)
    stage = "open the page on the model"
    ctx = await browser.new_context(viewport={"width": 1400, "height": 2200})
    page = await ctx.new_page()
    page.on("pageerror", lambda e: res.errors.append(f"page error: {e}"))
    try:
        await go.wait()
        await open_on_model(page, url, label, timeout_s)
        old = await page.evaluate(lt.LOGO_TITLE_JS)
        stage = "pick the gene"
        t0 = time.perf_counter()
        await lt.choose(page, "Gene", gene, match=f"{gene} · ")
        stage = "wait for the prediction and the saliency map"
        t_end = time.monotonic() + timeout_s
        while time.monotonic() < t_end:
            for line in await page.evaluate(PROGRESS_JS):
                res.samples.append((time.perf_counter() - t0, line))
            if await page.evaluate(LABEL_JS, gene) and await page.evaluate(lt.LOGO_CHANGED_JS, old) \
                    and await page.evaluate(NO_PROGRESS_JS):
                break
            await asyncio.sleep(0.5)
        else:
            raise TimeoutError(f"no saliency map of {gene} within {timeout_s:.0f} s")
        await settled_after(page, time.perf_counter(), NO_PROGRESS_JS)
        res.done_s = time.perf_counter() - t0
        note(f"{gene}: saliency map drawn after {res.done_s:.0f} s")
        res.errors += await lt.page_problems(page)
    except Exception as e:  # a failed session is reported, the others go on
        res.errors.append(f"{stage}: {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}")
        try:
            await page.screenshot(path=str(shots / f"failed-{gene}.png"), full_page=True)
        except Exception:
            pass
    finally:
        await ctx.close()
    return res


async def click_page(page, name: str) -> None:
    await page.locator('[data-testid="stRadio"]', has_text="Page").locator("label", has_text=name).first.click()


async def browse_flow(browser, url: str, label: str, ready: asyncio.Event, stop: asyncio.Event,
                      timeout_s: float) -> dict:
    """Cached views of the default gene, one action a second, from its page being open (``ready``
    set) until ``stop``: {'latency': {action: [seconds]}, 'errors': [...]}."""
    out: dict = {"latency": {}, "errors": []}
    ctx = await browser.new_context(viewport={"width": 1400, "height": 2200})
    page = await ctx.new_page()
    page.on("pageerror", lambda e: out["errors"].append(f"page error: {e}"))
    try:
        await open_on_model(page, url, label, timeout_s)
        ready.set()
        k = 0
        while not stop.is_set():
            step = k % 4
            if step in (0, 1):
                lo = (0.30, 0.55)[step]
                old = await page.evaluate(lt.LOGO_TITLE_JS)
                await lt.drag_box(page, lo, lo + 0.04)
                t0 = time.perf_counter()
                dt = await settled_after(page, t0, lt.LOGO_CHANGED_JS, old)
                name = "box-select a range -> logo and heatmap redrawn"
            elif step == 2:
                t0 = time.perf_counter()
                await click_page(page, "Model")
                dt = await settled_after(page, t0, MODEL_PAGE_JS)
                name = "Explore -> Model page"
            else:
                t0 = time.perf_counter()
                await click_page(page, "Explore")
                dt = await settled_after(page, t0, lt.LOGO_TITLE_JS)
                name = "Model page -> Explore (prediction, tracks, saliency, logo from the cache)"
            out["latency"].setdefault(name, []).append(dt)
            k += 1
            await asyncio.sleep(1.0)
        out["errors"] += await lt.page_problems(page)
    except Exception as e:
        out["errors"].append(f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}")
    finally:
        ready.set()
        await ctx.close()
    return out


# ----------------------------------------------------------------------------------- run

def run(quick: bool, budget_mb: int, cache: Path, timeout_s: float, worker_nice: int = 10,
        end_by: float | None = None) -> dict:
    """One run (see the module docstring); ``end_by``: a time.time() by which the sessions stop waiting
    (those not done by then are reported as not completed)."""
    from playwright.async_api import async_playwright
    tmp = Path(tempfile.mkdtemp(prefix="seqnn-load-borzoi-"))
    t_build = time.perf_counter()
    md = model_dir(quick, cache, tmp)
    note(f"model directory {md}")
    out: dict = {"quick": quick, "budget_mb": budget_mb, "worker_nice": worker_nice, "model_dir": str(md),
                 "build_s": time.perf_counter() - t_build, "load_before": os.getloadavg()[0]}
    out["manifest"] = json.loads((md / "manifest.json").read_text())
    (tmp / "none.toml").write_text("")
    env = {"SEQNN_MODEL_ROOTS": str(md.parent), "SEQNN_STORE_DIR": str(tmp / "store"),
           "SEQNN_DASHBOARD_CONFIG": str(tmp / "none.toml"), "SEQNN_MAX_MEMORY_MB": str(budget_mb),
           "SEQNN_WORKERS": "1", "SEQNN_DASHBOARD_TIMING": "1",
           "SEQNN_WORKER_NICE": str(worker_nice)}
    if quick:
        env["SEQNN_QUEUE_ABOVE_MB"] = "1"
    out["env"] = env
    label = md.name
    log_path = tmp / "streamlit-load-borzoi.log"
    with open(log_path, "w") as log:
        port = lt.free_port()
        proc = lt.start_server(env, port, log)
        sampler = lt.RssSampler(proc.pid)
        sampler.start()
        url = f"http://{lt.HOST}:{port}"

        async def main():
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=lt.CHROMIUM, args=lt.CHROME_ARGS)
                try:
                    warm = await browser.new_context(viewport={"width": 1400, "height": 2200})
                    page = await warm.new_page()
                    t0 = time.perf_counter()
                    await open_on_model(page, url, label, timeout_s)
                    out["warm_up_s"] = time.perf_counter() - t0
                    note(f"warm-up done in {out['warm_up_s']:.0f} s; RSS {lt.rss_of(proc.pid) / 2**20:,.0f} MB")
                    out["warm_up_problems"] = await lt.page_problems(page)
                    await warm.close()
                    out["rss_after_warm_up"] = lt.rss_of(proc.pid)
                    go, ready, stop = asyncio.Event(), asyncio.Event(), asyncio.Event()
                    browse = asyncio.create_task(browse_flow(browser, url, label, ready, stop, timeout_s))
                    await ready.wait()      # the browsing session's page is open before the heavy ones start
                    go.set()
                    left = timeout_s if end_by is None else max(60.0, min(timeout_s, end_by - time.time()))
                    out["session_limit_s"] = left
                    heavy = [asyncio.create_task(heavy_flow(browser, url, label, g, go, left, tmp)) for g in GENES]
                    t1 = time.perf_counter()
                    # each session ends itself at its limit (keeping what its page showed); this is a backstop
                    done, pending = await asyncio.wait(heavy, timeout=left + 300)
                    out["wall_s"] = time.perf_counter() - t1
                    stop.set()
                    for t in pending:
                        t.cancel()
                    out["browse"] = await browse
                    return [t.result() if t in done and t.exception() is None else
                            Heavy(g, errors=["did not finish within the run's time limit"])
                            for t, g in zip(heavy, GENES)]
                finally:
                    await browser.close()
        try:
            out["heavy"] = asyncio.run(main())
        finally:
            try:
                sampler.stop()
                out["rss_peak"] = sampler.peak
                out["rss_end"] = lt.rss_of(proc.pid)
            finally:
                lt.stop_server(proc)
    out["load_after"] = os.getloadavg()[0]
    out["log"] = str(log_path)
    runs = [float(m.group(1)) for m in re.finditer(r"timing run ([\d.]+) s", log_path.read_text())]
    out["server_runs"] = [v for v in runs if v < 10.0]     # page runs that computed nothing (cached)
    out["log_problems"] = [ln.strip()[:200] for ln in log_path.read_text().splitlines()
                           if "Traceback" in ln or "Error" in ln][:10]
    return out



# ----------------------------------------------------------------------------------- report

def _median(v):
    v = sorted(v)
    n = len(v)
    return float("nan") if not n else (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2)


def report(r: dict) -> str:
    from results import machine
    mib = 1 << 20
    heavy, browse = r["heavy"], r["browse"]
    done = sum(h.done_s is not None and not h.errors for h in heavy)
    peak_mb = r["rss_peak"] / mib
    lat = [v for vs in browse["latency"].values() for v in vs]
    what = ("the narrow Borzoi-architecture test model of tools/scale_model (width 16, random weights; "
            "SEQNN_QUEUE_ABOVE_MB=1 so its requests are queued too: a check of the machinery, not of memory)"
            if r["quick"] else
            "the published full-width Borzoi (benchmarks/borzoi_params_pred.json, human head, 186 M parameters) "
            "with seeded random weights in a model directory of tools/scale_model (Borzoi-like targets.txt of "
            "7,611 targets, random genome and GTF)")
    lines = [f"## Load test at Borzoi scale{', quick validation (narrow model)' if r['quick'] else ''}: "
             "4 queued saliency maps while a 5th session browses "
             "(`benchmarks/load_test_borzoi.py`)", "",
             f"Machine: {machine()}; load average {r['load_before']:.1f} before / {r['load_after']:.1f} after "
             + ("(nothing else ran: the load is this test's own server, queued worker and browser, all on the "
                "same 2 cores). " if r['load_before'] < 2.0 else
                "(the 2 cores were shared with other jobs; the browser ran on them too). ")
             + "Model: " + what + ". "
             f"Server: README command 1 with SEQNN_MAX_MEMORY_MB={r['budget_mb']}, SEQNN_WORKERS=1, "
             f"SEQNN_WORKER_NICE={r['worker_nice']} (the queued work's CPU priority), an empty "
             f"result store. Warm-up: one session switched to the model (model load, the default gene's prediction "
             f"and saliency map, queued): {r['warm_up_s']:.0f} s.", "",
             f"Then {N_HEAVY} sessions at once (own browser contexts) each picked another gene, so each asked for "
             "its prediction and its saliency map (the Attribution view's default: saliency of the chosen targets "
             "over the whole window); both are queued. Place in the queue and estimated time = the first ones the "
             "page showed for that request; times from the gene pick.", "",
             "| session | gene | prediction: requests ahead / ETA shown | saliency: requests ahead (first, max) "
             "/ ETA shown -> actual | saliency logo drawn after |", "|---|---|---|---|---|"]
    for i, h in enumerate(heavy):
        ph = h.phases()
        pred = next((v for k, v in ph.items() if k.startswith("Predicting")), None)
        sal = next((v for k, v in ph.items() if not k.startswith("Predicting")), None)

        def eta(p):
            return "not known yet" if p is None or p["eta_first"] is None else f"{p['eta_first']:.0f} s"
        ps = "-" if pred is None else f"{pred['ahead_first'] if pred['ahead_first'] is not None else 'running'} / {eta(pred)}"
        if sal is None:
            ss = "-"
        else:
            actual = "" if h.done_s is None or sal["eta_first"] is None else f" -> {h.done_s - sal['eta_first_s']:.0f} s"
            ahead = "running" if sal["ahead_first"] is None else f"{sal['ahead_first']}, {sal['ahead_max']}"
            ss = f"{ahead} / {eta(sal)}{actual}"
        lines.append(f"| {i + 1} | {h.gene} | {ps} | {ss} | "
                     f"{'**did not complete**' if h.done_s is None else f'{h.done_s:.0f} s'} |")
    lines += ["", f"Cached views in a 5th session meanwhile (the default gene, its prediction and saliency map cached; "
              "one action a second; latency = action -> page settled, in seconds):", "",
              "| action | n | median | max | <= 1 s |", "|---|---|---|---|---|"]
    for name, v in browse["latency"].items():
        lines.append(f"| {name} | {len(v)} | {_median(v):.2f} | {max(v):.2f} | {sum(x <= 1.0 for x in v)} / {len(v)} |")
    if lat:
        lines.append(f"| all | {len(lat)} | {_median(lat):.2f} | **{max(lat):.2f}** | "
                     f"{sum(x <= 1.0 for x in lat)} / {len(lat)} |")
    sr = r.get("server_runs") or []
    if sr:
        lines += ["", f"Server side (SEQNN_DASHBOARD_TIMING=1): the {len(sr)} script runs of all sessions under 10 s "
                  f"(those that computed nothing) took {_median(sr):.2f} s median, {max(sr):.2f} s max; the rest of a "
                  "latency is the browser drawing and the websocket, on the same 2 cores."]
    lines += ["", "| measurement (MB = 2^20 bytes, as SEQNN_MAX_MEMORY_MB) | value |", "|---|---|",
              f"| saliency maps completed | **{done} / {N_HEAVY}** |",
              f"| wall time of the {N_HEAVY} sessions | {r['wall_s']:.0f} s (limit {r['session_limit_s']:.0f} s) |",
              f"| server RSS after the warm-up | {r['rss_after_warm_up'] / mib:,.0f} MB |",
              f"| server RSS peak (whole run, sampled every 0.25 s) | **{peak_mb:,.0f} MB** of the "
              f"{r['budget_mb']:,} MB budget ({'within' if peak_mb <= r['budget_mb'] else 'ABOVE'}) |",
              f"| server RSS at the end | {r['rss_end'] / mib:,.0f} MB |",
              f"| cached views <= 1 s | {sum(x <= 1.0 for x in lat)} / {len(lat)} (max {max(lat) if lat else float('nan'):.2f} s) |"]
    errs = [f"session {h.gene}: {e}" for h in heavy for e in h.errors] + \
        [f"browsing session: {e}" for e in browse["errors"]] + [f"warm-up: {e}" for e in r["warm_up_problems"]] + \
        [f"server log: {e}" for e in r["log_problems"]]
    if errs:
        lines += ["", "Problems:", ""] + [f"- {e}" for e in errs[:20]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the narrow test model (section load_borzoi_quick)")
    ap.add_argument("--budget-mb", type=int, default=12000, help="SEQNN_MAX_MEMORY_MB of the server")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the full-width model directory is kept")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds for the warm-up, and for the sessions")
    ap.add_argument("--worker-nice", type=int, default=10, help="SEQNN_WORKER_NICE of the server (0: off)")
    ap.add_argument("--end-by", default=None, help="HH:MM (UTC, today): the sessions stop waiting then")
    ap.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    a = ap.parse_args(argv)
    if not os.path.exists(lt.CHROMIUM):
        print("Debian chromium is needed: apt-get install -y chromium", file=sys.stderr)
        return 2
    end_by = None
    if a.end_by:
        import datetime as dt
        hh, mm = (int(v) for v in a.end_by.split(":"))
        now = dt.datetime.now(dt.timezone.utc)
        end_by = now.replace(hour=hh, minute=mm, second=0, microsecond=0).timestamp()
    r = run(a.quick, a.budget_mb, a.cache, a.timeout, a.worker_nice, end_by)
    text = report(r)
    print(text)
    print(f"server log: {r['log']}")
    if not a.no_write:
        from results import update_section
        update_section("load_borzoi_quick" if a.quick else "load_borzoi", text)
    lat = [v for vs in r["browse"]["latency"].values() for v in vs]
    ok = all(h.done_s is not None and not h.errors for h in r["heavy"]) and not r["browse"]["errors"] \
        and r["rss_peak"] <= r["budget_mb"] * (1 << 20) and bool(lat) and max(lat) <= 1.0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
