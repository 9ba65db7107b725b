"""Load test: N concurrent real-browser sessions against one locally started dashboard.

    .venv/bin/python benchmarks/load_test.py [--sessions 8] [--timeout 900] [--quick] [--no-write]

Starts the dashboard with the README command on 127.0.0.1 (a free port; loopback only) over an empty
result store, loads the model once with a first page (the cold start is measured by bench_app.py),
then opens N sessions at once, each in its own browser context (its own Streamlit session) of one
headless Chromium (Playwright, /usr/bin/chromium). Every session does a realistic flow:

1. open the page -> the default gene's tracks drawn (every fourth session then switches to a second,
   different model found under a configured root);
2. pick its own gene;
3. change the ensemble: reverse complement, shifts (slider), MC-dropout samples - a different mix per
   session;
4. drop a target (some sessions);
5. box-select a range on the tracks -> the sequence logo of that range drawn;
6. read the prediction chart (every track's values, decoded from the page's plotly data).

Latency of a step = action -> the page has settled (script run finished, no stale elements, charts
drawn). After all sessions, each session's chart values are compared with a serial engine run of its
gene and options (exactly equal float32 = no cross-talk, results identical to serial), and the page
is checked for exceptions and error boxes. The server's resident memory (VmRSS of its process) is
sampled every 0.25 s. Bounded: at most --sessions sessions (<= 16), each step times out after 180 s,
the whole run after --timeout seconds. Writes the "load" section of benchmarks/RESULTS.md.

``run(n_sessions, ...)`` is also used by tests/test_load_sessions.py (3 sessions, in CI).
"""
from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from browser_support import CHROME_ARGS, CHROMIUM, HOST, free_port, stop_server  # noqa: E402
from browser_support import start_server as _start  # noqa: E402
MAX_SESSIONS = 16
STEP_TIMEOUT_MS = 180_000
FIRST_GENE = "DMG129"                 # preselected on the demo model
GENES = ["DMG130", "DMG131", "DMG132", "DMG133", "DMG134", "DMG135", "DMG136", "DMG137",
         "DMG138", "DMG139", "DMG130", "DMG131", "DMG132", "DMG133", "DMG134", "DMG135"]
MIN_TRACK_TARGETS = 2


@dataclass
class Plan:
    """What session ``i`` does: its gene and options (a different mix per session)."""

    index: int
    gene: str
    rc: bool
    shift_k: int          # shifts -k..k
    mc: int               # MC-dropout samples
    drop_target: str | None
    model: str = "main"   # "main" (the demo) or "second" (a small different model under a configured root)

    @classmethod
    def baseline(cls) -> "Plan":
        """The lone session run before the concurrent ones (a gene no concurrent session uses)."""
        return cls(-1, "DMG140", rc=True, shift_k=1, mc=2, drop_target="CTCF")

    @classmethod
    def for_session(cls, i: int, second_model: bool = True) -> "Plan":
        return cls(i, GENES[i % len(GENES)], rc=i % 2 == 1, shift_k=(0, 1, 0, 2)[i % 4], mc=(0, 0, 3, 0, 2)[i % 5],
                   drop_target="CTCF" if i % 3 == 2 else None,
                   model="second" if second_model and i % 4 == 1 else "main")


@dataclass
class SessionResult:
    plan: Plan
    steps: dict = field(default_factory=dict)      # step name -> seconds
    tracks: dict = field(default_factory=dict)     # trace name -> ((n,) float32 values, first x) from the chart
    errors: list = field(default_factory=list)
    completed: bool = False
    verified: bool | None = None
    max_abs_diff: float | None = None


# ----------------------------------------------------------------------------------- server

def start_server(env: dict, port: int, log) -> subprocess.Popen:
    """The README's dashboard command, listening on HOST only."""
    return _start(env, port, log, address=HOST)


def rss_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc/<pid>/stat), 0.0 when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class RssSampler(threading.Thread):
    """Samples a process's resident set size every ``period`` seconds (peak and last value)."""

    def __init__(self, pid: int, period: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.peak = self.last = rss_of(pid)
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            self.last = rss_of(self.pid)
            self.peak = max(self.peak, self.last)
            self._halt.wait(self.period)

    def stop(self):
        self._halt.set()
        self.join()


# ----------------------------------------------------------------------------------- browser steps

SETTLED_JS = """() => !document.querySelector('[data-stale="true"]')
    && !document.querySelector('[data-testid="stStatusWidget"]')
    && [...document.querySelectorAll('.gtitle')].filter(t => t.textContent.startsWith('Sequence logo')).length <= 1"""

GENE_DRAWN_JS = """(g) => { const c = document.querySelector('[data-testid="stPlotlyChart"]');
    return c && [...c.querySelectorAll('text')].some(t => t.textContent.startsWith(g + ' (')); }"""

TRACKS_JS = """() => { const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
    if (!gd) return null;
    return gd.data.filter(t => t.y && t.y.bdata && t.name)
        .map(t => [t.name, t.y.dtype, t.y.bdata, t.x && t.x.bdata ? [t.x.dtype, t.x.bdata] : null]); }"""


async def settle(page, timeout_ms: int = STEP_TIMEOUT_MS) -> None:
    """Wait until the run has finished and the page stayed settled for 0.6 s."""
    t_end = time.monotonic() + timeout_ms / 1000
    calm = 0
    while time.monotonic() < t_end:
        calm = calm + 1 if await page.evaluate(SETTLED_JS) else 0
        if calm >= 3:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("the page did not settle")


async def timed(res: SessionResult, name: str, action, page) -> None:
    t0 = time.perf_counter()
    await action()
    await asyncio.sleep(0.3)      # Streamlit marks elements stale only after a short delay
    await settle(page)
    res.steps[name] = time.perf_counter() - t0


async def choose(page, box_label: str, option: str, match: str | None = None) -> None:
    """Type ``option`` into the select box labelled ``box_label`` and click the match (the first
    option containing ``match``, default ``option``)."""
    box = page.locator('[data-testid="stSelectbox"]', has_text=box_label)
    await box.locator("input").first.click()
    await page.keyboard.type(option)
    opt = page.locator('[role="option"]', has_text=match or option).first
    await opt.wait_for(timeout=STEP_TIMEOUT_MS)
    await opt.click()


async def pick_gene(page, gene: str) -> None:
    await choose(page, "Gene", gene)
    await page.wait_for_function(GENE_DRAWN_JS, arg=gene, timeout=STEP_TIMEOUT_MS)


async def switch_model(page, label: str) -> None:
    await choose(page, "Model", label)


async def open_ensemble(page) -> None:
    exp = page.locator('[data-testid="stExpander"]', has_text="Ensemble")
    if not await exp.locator('[data-testid="stCheckbox"]').first.is_visible():
        await exp.locator("summary").first.click()
        await exp.locator('[data-testid="stCheckbox"]').first.wait_for(timeout=STEP_TIMEOUT_MS)


async def set_options(page, plan: Plan) -> None:
    await open_ensemble(page)
    if plan.rc:
        await page.locator('[data-testid="stCheckbox"]', has_text="Reverse complement").locator("label").click()
        await asyncio.sleep(0.3)
        await settle(page)
    if plan.shift_k:
        thumb = page.locator('[data-testid="stSlider"]', has_text="Shifts").locator('input[type="range"]').first
        await thumb.focus()
        for _ in range(plan.shift_k):
            await page.keyboard.press("ArrowRight")
        await asyncio.sleep(0.3)
        await settle(page)
    if plan.mc:
        inp = page.locator('[data-testid="stNumberInput"]', has_text="MC-dropout").locator("input")
        await inp.fill(str(plan.mc))
        await inp.press("Enter")


async def drop_target(page, name: str) -> None:
    ms = page.locator('[data-testid="stMultiSelect"]', has_text="Targets")
    await ms.locator(f'button[aria-label^="Remove {name} - "], button[aria-label="Remove {name}"]').first.click()


async def drag_box(page, lo: float = 0.40, hi: float = 0.44) -> None:
    """Box-select the fractions ``lo``..``hi`` of the prediction chart's width (returns at mouse-up)."""
    drag = page.locator('[data-testid="stPlotlyChart"]').first.locator(".nsewdrag").first
    bb = None
    for _ in range(150):       # the chart may be re-mounted right after a run: wait until it has a box
        await drag.wait_for(state="attached", timeout=STEP_TIMEOUT_MS)
        bb = await drag.bounding_box()
        if bb is not None and bb["width"] > 0:
            break
        await asyncio.sleep(0.2)
    if bb is None:
        raise TimeoutError("the prediction chart has no drag area to box-select on")
    y = bb["y"] + bb["height"] / 2
    await page.mouse.move(bb["x"] + bb["width"] * lo, y)
    await page.mouse.down()
    await page.mouse.move(bb["x"] + bb["width"] * hi, y, steps=6)
    await page.mouse.up()


LOGO_TITLE_JS = ("() => { const t = [...document.querySelectorAll('.gtitle')]"
                 ".find(t => t.textContent.startsWith('Sequence logo')); return t ? t.textContent : null; }")
LOGO_CHANGED_JS = ("(old) => [...document.querySelectorAll('.gtitle')].some(t => t.textContent.startsWith('Sequence logo')"
                   " && t.textContent !== old)")


async def box_select(page, lo: float = 0.40, hi: float = 0.44) -> None:
    """Box-select a range on the prediction chart and wait until the logo of the new range is drawn."""
    old = await page.evaluate(LOGO_TITLE_JS)
    await drag_box(page, lo, hi)
    await page.wait_for_function(LOGO_CHANGED_JS, arg=old, timeout=STEP_TIMEOUT_MS)


def _decode(dtype: str, bdata: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(bdata), dtype=np.dtype({"f4": "<f4", "f8": "<f8", "i4": "<i4",
                                                                    "i2": "<i2"}.get(dtype, dtype)))


async def read_tracks(page, res: SessionResult) -> None:
    """Every named trace of the prediction chart (targets, +-1 sd bands, gene track) with its values."""
    data = await page.evaluate(TRACKS_JS)
    for name, dtype, bdata, x in data or []:
        res.tracks[name] = (_decode(dtype, bdata).astype(np.float32),
                            None if x is None else float(_decode(*x)[0]))


async def page_problems(page) -> list[str]:
    out = []
    for sel, what in (('[data-testid="stException"]', "exception"), ('[data-testid="stAlertContentError"]', "error")):
        for t in await page.locator(sel).all_text_contents():
            out.append(f"{what}: {t.strip()[:200]}")
    return out


async def session_flow(browser, url: str, plan: Plan, start_evt: asyncio.Event) -> SessionResult:
    res = SessionResult(plan)
    ctx = await browser.new_context(viewport={"width": 1400, "height": 2200})
    page = await ctx.new_page()
    page.on("pageerror", lambda e: res.errors.append(f"page error: {e}"))
    try:
        await start_evt.wait()

        async def open_page():
            await page.goto(url)
            await page.wait_for_function(GENE_DRAWN_JS, arg=FIRST_GENE, timeout=STEP_TIMEOUT_MS)
        await timed(res, "open -> tracks drawn", open_page, page)
        if plan.model == "second":
            await timed(res, "switch to the second model -> redrawn", lambda: switch_model(page, SECOND_LABEL), page)
        await timed(res, "pick gene -> tracks drawn", lambda: pick_gene(page, plan.gene), page)
        if plan.rc or plan.shift_k or plan.mc:
            await timed(res, "ensemble options -> redrawn", lambda: set_options(page, plan), page)
        if plan.drop_target:
            await timed(res, "drop a target -> redrawn", lambda: drop_target(page, plan.drop_target), page)
        await timed(res, "box-select -> logo drawn", lambda: box_select(page), page)
        await read_tracks(page, res)
        res.errors += await page_problems(page)
        res.completed = not res.errors and bool(res.tracks)
    except Exception as e:  # a failed session is reported, the others go on
        res.errors.append(f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}")
    finally:
        await ctx.close()
    return res


# ----------------------------------------------------------------------------------- verification

def verify(results: list[SessionResult], model_dirs: dict) -> None:
    """Compare each session's chart with a serial engine prediction of its model, gene and options."""
    for key, d in model_dirs.items():
        _verify_model([r for r in results if r.plan.model == key], d)


def _verify_model(results: list[SessionResult], model_dir: Path) -> None:
    from seqnn_engine import load_model_dir
    from seqnn_engine.genomics.genes import GeneSet, gene_window
    from seqnn_engine.genomics.genome import Genome
    from seqnn_engine.genomics.onehot import encode
    from seqnn_engine.model.target_catalog import TargetCatalog
    if not results:
        return
    model = load_model_dir(model_dir)
    md = model.model_dir
    genes = GeneSet.read(md.genes)
    ids = [f"t{i}" for i in range(model.num_targets)]          # the dashboard's short target names
    if model.targets is not None:
        for row, idx in enumerate(model.targets.index):
            if 0 <= int(idx) < model.num_targets:
                ids[int(idx)] = model.targets.identifier[row]
    catalog = TargetCatalog.for_model(model)
    with Genome(md.genome) as gen:
        for r in results:
            if not r.completed:
                continue
            p = r.plan
            gw = gene_window(genes.get(p.gene), model.seq_length, model.stride, model.crop)
            x = encode(gen.fetch(gw.chrom, gw.start, gw.end).sequence)[None]
            ref = model.predict(x, rc=p.rc, shifts=tuple(range(-p.shift_k, p.shift_k + 1)), mc_n=p.mc).mean[0]
            # the page opens on the catalog's default selection, stranded pairs drawn on the gene's strand
            sel = catalog.tracks(catalog.default_selection(md.manifest), genes.get(p.gene).strand)
            column = {ids[int(i)]: int(i) for i in sel.indexes if ids[int(i)] != p.drop_target}
            shown = [name for name in r.tracks if name in column]
            ok = sorted(shown) == sorted(column)
            diff = 0.0
            first_bin = gw.start + model.crop * model.stride + model.stride / 2
            for name in shown:
                vals, x0 = r.tracks[name]
                if vals.shape != (model.target_length,) or x0 != first_bin:
                    ok = False
                    continue
                d = float(np.max(np.abs(vals - ref[:, column[name]])))
                diff = max(diff, d)
                ok = ok and d == 0.0
            members = (2 if p.rc else 1) * (2 * p.shift_k + 1) * max(1, p.mc)
            bands = [n for n in r.tracks if n.endswith(" sd")]
            ok = ok and (bool(bands) == (members > 1))       # the +-1 sd band only for ensembles
            r.verified, r.max_abs_diff = ok, diff


# ----------------------------------------------------------------------------------- run

SECOND_LABEL = "Tiny test model"   # manifest name of tests/test_app_support's model


def _model_setup(tmp: Path) -> tuple[dict, dict, str]:
    """(environment, {"main": dir, "second": dir}, description). The second model is the tests' tiny
    model (another architecture, random weights, same genome) under a configured root."""
    from test_app_support import build_model_root
    tiny = build_model_root(tmp / "models").resolve()
    env = {"SEQNN_MODEL_ROOTS": str(tmp / "models")}
    demo = REPO / "assets" / "demo"
    if (demo / "manifest.json").exists() and any(demo.glob("*.h5")):
        return env, {"main": demo.resolve(), "second": tiny}, \
            "bundled demo model (assets/demo) and, for every fourth session, the tests' tiny model"
    return env, {"main": tiny}, "tiny test model (demo not trained)"


def run(n_sessions: int = 8, timeout_s: float = 900.0, log_dir: Path | None = None) -> dict:
    """Run the load test; returns a dict of results (see :func:`report`)."""
    from playwright.async_api import async_playwright
    n_sessions = max(1, min(int(n_sessions), MAX_SESSIONS))
    tmp = Path(tempfile.mkdtemp(prefix="seqnn-load-"))
    (tmp / "none.toml").write_text("")
    env, model_dirs, model_label = _model_setup(tmp)
    env.update({"SEQNN_STORE_DIR": str(tmp / "store"), "SEQNN_DASHBOARD_CONFIG": str(tmp / "none.toml")})
    log_path = (log_dir or tmp) / "streamlit-load.log"
    plans = [Plan.for_session(i, "second" in model_dirs) for i in range(n_sessions)]
    out: dict = {"sessions": n_sessions, "model": model_label, "load_before": os.getloadavg()[0]}
    with open(log_path, "w") as log:
        port = free_port()
        proc = start_server(env, port, log)
        sampler = RssSampler(proc.pid)
        sampler.start()
        url = f"http://{HOST}:{port}"

        async def main():
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
                try:
                    warm = await browser.new_context()
                    page = await warm.new_page()
                    t0 = time.perf_counter()
                    await page.goto(url)
                    await page.wait_for_function(GENE_DRAWN_JS, arg=FIRST_GENE, timeout=300_000)
                    await settle(page, 300_000)
                    out["warm_up_s"] = time.perf_counter() - t0
                    await warm.close()
                    alone = asyncio.Event()
                    alone.set()
                    out["baseline"] = await asyncio.wait_for(
                        session_flow(browser, url, Plan.baseline(), alone), STEP_TIMEOUT_MS / 1000 * 6)
                    out["rss_after_warm_up"] = rss_of(proc.pid)
                    sampler.peak = out["rss_after_warm_up"]
                    go = asyncio.Event()
                    tasks = [asyncio.create_task(session_flow(browser, url, pl, go)) for pl in plans]
                    cpu0 = cpu_seconds(proc.pid)
                    t1 = time.perf_counter()
                    go.set()
                    done, pending = await asyncio.wait(tasks, timeout=timeout_s)
                    for t in pending:
                        t.cancel()
                    out["wall_s"] = time.perf_counter() - t1
                    out["server_cpu_s"] = cpu_seconds(proc.pid) - cpu0
                    res = []
                    for t, pl in zip(tasks, plans):
                        if t in done and not t.cancelled() and t.exception() is None:
                            res.append(t.result())
                        else:
                            r = SessionResult(pl)
                            r.errors.append("did not finish within the run's time limit")
                            res.append(r)
                    return res
                finally:
                    await browser.close()
        try:
            results = asyncio.run(main())
        finally:
            try:
                sampler.stop()
                out["rss_peak"] = sampler.peak
                out["rss_end"] = rss_of(proc.pid)
            finally:
                stop_server(proc)     # never leave the server running
    out["load_after"] = os.getloadavg()[0]
    verify(results + [out["baseline"]], model_dirs)
    out["results"] = results
    out["log"] = str(log_path)
    return out


def _pct(values, q: float) -> float:
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * q
    lo, hi = int(np.floor(k)), int(np.ceil(k))
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def report(r: dict) -> str:
    from results import machine
    res = r["results"]
    base = r["baseline"]
    n = len(res)
    done = sum(x.completed for x in res)
    ok = sum(bool(x.verified) for x in res)
    steps: dict = {}
    for x in res:
        for k, v in x.steps.items():
            steps.setdefault(k, []).append(v)
    flows = [sum(x.steps.values()) for x in res if x.completed]
    mib = 1 << 20
    lines = ["## Load test: concurrent browser sessions (`benchmarks/load_test.py`)", "",
             f"Machine: {machine()}. Model: {r['model']}. One dashboard process started with the README command "
             f"on 127.0.0.1, {n} sessions at once (one headless Chromium, one browser context each), sharing the "
             f"machine's 2 cores with the browser (load average {r['load_before']:.1f} before / "
             f"{r['load_after']:.1f} after). The model was loaded by one warm-up page first "
             f"({r['warm_up_s']:.1f} s; cold start: see bench_app), then one session ran alone (its own gene, "
             "RC + shifts -1..1 + 2 MC samples, one target dropped) as the baseline.", "",
             "Each session: open the page, pick its own gene, change the ensemble (a different mix of reverse "
             "complement, shifts -1..1 / -2..2 and 2-3 MC-dropout samples per session), drop a target (every "
             "third session), box-select a range (logo drawn), read the prediction chart. Latency = action -> page "
             "settled, in seconds. Every fourth session (1, 5, ...) first switches to the second model.", "",
             f"| measurement | 1 session alone | {n} sessions at once |", "|---|---|---|",
             f"| sessions completed | {int(base.completed)} / 1 | **{done} / {n}** |",
             f"| chart equals a serial engine run exactly (float32) | {int(bool(base.verified))} / 1 | **{ok} / {n}** |",
             f"| wall time | {sum(base.steps.values()):.1f} s | {r['wall_s']:.1f} s |"]
    for k, v in steps.items():
        b = base.steps.get(k)
        lines.append(f"| {k}: p50 / p95 (n = {len(v)}) | {'' if b is None else f'{b:.2f}'} | "
                     f"{_pct(v, 0.5):.2f} / {_pct(v, 0.95):.2f} |")
    if flows:
        lines.append(f"| whole flow per session: p50 / p95 | {sum(base.steps.values()):.1f} | "
                     f"{_pct(flows, 0.5):.1f} / {_pct(flows, 0.95):.1f} |")
    lines += [f"| server RSS before the sessions (after warm-up and the lone session) | | "
              f"{r['rss_after_warm_up'] / mib:.0f} MiB |",
              f"| server RSS peak during the sessions | | **{r['rss_peak'] / mib:.0f} MiB** |",
              f"| server RSS at the end | | {r['rss_end'] / mib:.0f} MiB |",
              f"| server CPU time during the sessions (the rest of the 2 cores x wall time went to the "
              f"browser and other jobs) | | {r['server_cpu_s']:.1f} s of {2 * r['wall_s']:.0f} core-s |"]
    errs = [f"session {x.plan.index} ({x.plan.gene}): {e}" for x in res + [base] for e in x.errors]
    if errs:
        lines += ["", "Problems:", ""] + [f"- {e}" for e in errs[:20]]
    lines += ["", "Memory bound (tests/test_memory.py, in CI): 200 sequential distinct requests through the "
              "dashboard's cache layers (8 MiB in-process LRU over a 16 MiB result store) may grow resident memory "
              "by at most 32 MiB after warm-up; measured about 2 MiB."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds for all sessions")
    ap.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    ap.add_argument("--quick", action="store_true", help="3 sessions (benchmarks/run_all.py --quick)")
    a = ap.parse_args(argv)
    if a.quick:
        a.sessions = min(a.sessions, 3)
    if not os.path.exists(CHROMIUM):
        print("Debian chromium is needed: apt-get install -y chromium", file=sys.stderr)
        return 2
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "benchmarks"))
    r = run(a.sessions, a.timeout)
    text = report(r)
    print(text)
    if not a.no_write:
        from results import update_section
        update_section("load", text)
    return 0 if all(x.completed and x.verified for x in r["results"] + [r["baseline"]]) else 1


if __name__ == "__main__":
    sys.exit(main())
