"""Full-width Borzoi: this engine against the reference implementation, side by side (issue 13).

Run (the script takes /tmp/seqnn_bigmem.lock itself, so two big benchmarks never run at once):

    .venv/bin/python benchmarks/bench_borzoi.py            # everything, full width (up to 23 GB: an idle machine)
    .venv/bin/python benchmarks/bench_borzoi.py --quick    # 1/8 width, 65,536 bp: a few minutes, ~2 GB
    .venv/bin/python benchmarks/bench_borzoi.py --only ours         # or --only reference / --only tx

Model: benchmarks/borzoi_params_pred.json (the published Borzoi params, human head of 7,611 targets)
with random weights; input: one random 524,288 bp sequence. Every measurement runs in a FRESH
subprocess (benchmarks/ours_runner.py with the project's Python, benchmarks/reference_runner.py
with the reference venv's) that reports its wall times and its peak RSS (ru_maxrss). When the
reference runs, its random weights are saved once and loaded by our runs, so both sides compute
the same model and their outputs are compared too (predictions, and input gradients by
correlation, relative L2 error and maximum error). Also timed: the default saliency call on
../shared/compat/tx (its trained-format weights) on both sides, and this machine's fp32/bf16
tf.matmul peaks against which the forward pass's achieved GFLOP/s are reported.

The reference (calico/baskerville, legacy Keras 2) runs from a separate venv, never from the
project's requirements: create it with benchmarks/reference_env.sh; found through
SEQNN_REFERENCE_VENV (default benchmarks/.venv-reference) and SEQNN_REFERENCE_SRC (a
calico/baskerville checkout's src/ folder; default: the venv's baskerville-src/src). When either
is absent the comparison is skipped and the section says so.

Each invocation rewrites the ``borzoi`` section of benchmarks/RESULTS.md from the measurements of
that invocation, merged with earlier invocations' of the same mode (``--only`` subsets), each
labelled with its time; ratios name the invocations they come from.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from results import update_section  # noqa: E402

PARAMS = HERE / "borzoi_params_pred.json"
TX = ROOT.parent / "shared" / "compat" / "tx"
LOCK = "/tmp/seqnn_bigmem.lock"
GB = 1024.0
TARGETS8 = list(range(8))
SAL_TARGETS = [0, 1]
SAL_BINS = 16


# ---------------------------------------------------------------- environment
def reference_setup() -> tuple[str | None, str | None, str]:
    """(venv python, reference src dir, reason when unavailable)."""
    venv = Path(os.environ.get("SEQNN_REFERENCE_VENV", HERE / ".venv-reference"))
    py = venv / "bin" / "python"
    src = Path(os.environ.get("SEQNN_REFERENCE_SRC", venv / "baskerville-src" / "src"))
    if not py.exists():
        return None, None, (f"reference venv not found at {venv} (create it with benchmarks/reference_env.sh, "
                            "or set SEQNN_REFERENCE_VENV)")
    if not (src / "baskerville" / "seqnn.py").exists():
        return None, None, (f"reference source not found at {src} (set SEQNN_REFERENCE_SRC to the src/ folder "
                            "of a calico/baskerville checkout)")
    return str(py), str(src), ""


def mem_available_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024.0 / GB
    return float("nan")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def quick_params(params: dict, factor: int = 8, seq_length: int = 65536) -> dict:
    """The same blocks at 1/factor width and a shorter input (for development runs)."""
    p = json.loads(json.dumps(params))
    m = p["model"]
    m["seq_length"] = seq_length
    for b in m["trunk"]:
        for k in ("filters", "filters_init", "filters_end"):
            if k in b:
                b[k] = max(8, int(b[k]) // factor)
        if "divisible_by" in b:
            b["divisible_by"] = max(1, int(b["divisible_by"]) // factor)
    return p


# ---------------------------------------------------------------- subprocesses
def run_one(label, argv, env, need_gb, log) -> dict:
    """Run one measurement in a fresh process; its RESULT json, or {'skipped': reason}."""
    avail = mem_available_gb()
    if avail < need_gb:
        msg = f"skipped: {avail:.1f} GB available, this measurement needs about {need_gb:.0f} GB"
        print(f"[{label}] {msg}", flush=True)
        return {"skipped": msg}
    print(f"[{label}] running ({avail:.1f} GB available) ...", flush=True)
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    log.write(f"==== {label}: {' '.join(argv)}\n{proc.stdout}\n{proc.stderr}\n")
    res = None
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[7:])
    if proc.returncode != 0 or res is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        msg = f"failed (exit {proc.returncode}): {' | '.join(tail)[:300]}"
        print(f"[{label}] {msg}", flush=True)
        return {"skipped": msg}
    res["process_wall_s"] = wall
    res["load_avg"] = [load0, os.getloadavg()[0]]
    res["mem_available_gb_before"] = avail
    print(f"[{label}] times {['%.2f' % t for t in res.get('times_s', [])]} s, peak RSS "
          f"{res['ru_maxrss_mb'] / GB:.2f} GB", flush=True)
    return res


# ---------------------------------------------------------------- comparisons
def compare(ref: np.ndarray, ours: np.ndarray) -> dict:
    """Agreement of two arrays of the same shape: Pearson r, relative L2 error, max abs error
    (relative to max |ref|), and where the large differences lie (first axis after batch)."""
    a = ref.astype(np.float64).ravel()
    b = ours.astype(np.float64).ravel()
    d = b - a
    r = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")
    out = {"pearson": r, "rel_l2": float(np.linalg.norm(d) / max(np.linalg.norm(a), 1e-30)),
           "max_abs": float(np.abs(d).max()), "max_ref": float(np.abs(a).max())}
    out["max_rel_to_max"] = out["max_abs"] / max(out["max_ref"], 1e-30)
    if ref.ndim == 3:
        per_pos = np.abs(ours.astype(np.float64) - ref.astype(np.float64)).max(axis=(0, 2))
        big = np.flatnonzero(per_pos > 0.01 * out["max_ref"])
        out["argmax_position"] = int(per_pos.argmax())
        out["positions_over_1pct"] = int(big.size)
        out["span_over_1pct"] = [int(big.min()), int(big.max()) + 1] if big.size else None
    return out


def steady(res) -> float | None:
    """Seconds of a steady-state call: the median of the repeats after the first, else the first."""
    t = res.get("times_s") or []
    if not t:
        return None
    return statistics.median(t[1:]) if len(t) > 1 else t[0]


# ---------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Full-width Borzoi against the reference implementation.")
    ap.add_argument("--quick", action="store_true", help="1/8 width, 65,536 bp (development)")
    ap.add_argument("--only", choices=("all", "ours", "reference", "tx"), default="all")
    ap.add_argument("--workdir", default=None, help="scratch folder (default /tmp/seqnn_bench_borzoi[_quick])")
    ap.add_argument("--items", default=None,
                    help="comma-separated measurement keys to run (e.g. ours_saliency_float32,tx); default all")
    ap.add_argument("--predict-repeats", type=int, default=2,
                    help="calls per prediction process (the reported time is the median after the first; "
                         "with 1, the first call, tracing included)")
    ap.add_argument("--no-lock", action="store_true", help=f"do not take {LOCK} (when the caller holds it)")
    ap.add_argument("--no-write", action="store_true",
                    help="do not rewrite benchmarks/RESULTS.md")
    ap.add_argument("--write", action="store_true",
                    help="with --quick: write the quick run into the borzoi section of RESULTS.md too")
    args = ap.parse_args(argv)

    lock_f = None
    if not args.no_lock:
        lock_f = open(LOCK, "a+")
        print(f"waiting for {LOCK} ...", flush=True)
        fcntl.flock(lock_f, fcntl.LOCK_EX)

    mode = "quick" if args.quick else "full"
    work = Path(args.workdir or f"/tmp/seqnn_bench_borzoi{'_quick' if args.quick else ''}")
    work.mkdir(parents=True, exist_ok=True)
    params = json.loads(PARAMS.read_text())
    if args.quick:
        params = quick_params(params)
    params_path = work / "params.json"
    params_path.write_text(json.dumps(params, indent=1))
    L = int(params["model"]["seq_length"])
    rng = np.random.default_rng(0)
    seq_path = work / "seq.npy"
    np.save(seq_path, np.eye(4, dtype=np.float32)[rng.integers(0, 4, L)][None])
    weights = work / "reference_random_weights.h5"
    scale = 1.0 if not args.quick else 0.15
    invocation = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    ref_py, ref_src, ref_reason = reference_setup()
    env_ours = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    env_ref = dict(os.environ, PYTHONPATH=ref_src or "", TF_CPP_MIN_LOG_LEVEL="2", TF_USE_LEGACY_KERAS="1",
                   CUDA_VISIBLE_DEVICES="")
    ours_cmd = [sys.executable, str(HERE / "ours_runner.py")]
    ref_cmd = [ref_py or "", str(HERE / "reference_runner.py")]
    common = ["--params", str(params_path), "--seqs", str(seq_path)]
    sal = ["--task", "saliency", "--targets", ",".join(map(str, SAL_TARGETS)), "--center-bins", str(SAL_BINS)]
    t8 = ",".join(map(str, TARGETS8))

    store = work / "results.json"
    results = json.loads(store.read_text()) if store.exists() else {}
    log = open(work / "runs.log", "a")
    do_ours = args.only in ("all", "ours")
    do_ref = args.only in ("all", "reference") and ref_py is not None
    do_tx = args.only in ("all", "tx")

    def record(key, res):
        res["invocation"] = invocation
        results[key] = res
        store.write_text(json.dumps(results, indent=1))

    def out(name):
        return str(work / f"{name}.npy")

    items = set(args.items.split(",")) if args.items else None
    rep = ["--repeats", str(args.predict_repeats)]

    def job(key, label, argv, env, need_gb):
        if items is None or key in items:
            record(key, run_one(label, argv, env, need_gb, log))

    print(f"mode {mode}; reference: {'available' if ref_py else ref_reason}", flush=True)
    if do_ours or do_ref:
        job("peaks", "matmul peaks", ours_cmd + ["--task", "peaks"], env_ours, 2)
    if do_ref:
        if items is None or "ref_predict_all" in items:
            if weights.exists():
                weights.unlink()
        job("ref_predict_all", "reference predict, all targets", ref_cmd + common + [
            "--task", "predict", "--save-weights", str(weights)] + rep, env_ref, 10 * scale)
        wref = ["--weights", str(weights)] if weights.exists() else []
        job("ref_predict_8", "reference predict, 8 targets", ref_cmd + common + wref + [
            "--task", "predict", "--targets", t8, "--save", out("ref_pred8")] + rep, env_ref, 8 * scale)
        job("ref_saliency", "reference saliency", ref_cmd + common + sal + wref + ["--save", out("ref_sal")],
            env_ref, 23 * scale)
    if do_ours:
        # the engine's checkpointed backward pass (seqnn_engine.memory present) keeps a map under ~6 GB;
        # one tape over the whole graph needed ~19 GB at full width
        sal_need = 8 if (ROOT / "seqnn_engine" / "memory.py").exists() else 20
        wopt = ["--weights", str(weights)] if weights.exists() else []
        results["ours_weights"] = "the reference's random weights (saved by it)" if wopt else \
            "random weights, seed 0 (no reference weights file)"
        for prec in ("float32", "bfloat16"):
            job(f"ours_saliency_{prec}", f"ours saliency {prec}", ours_cmd + common + wopt + sal + [
                "--precision", prec, "--save", out(f"ours_sal_{prec}")], env_ours, sal_need * scale)
        for prec in ("float32", "bfloat16"):
            p = ["--precision", prec]
            job(f"ours_predict_all_{prec}", f"ours predict {prec}, all targets", ours_cmd + common + wopt + p + [
                "--task", "predict", "--save", out(f"ours_pred_all8_{prec}"), "--save-columns", t8] + rep,
                env_ours, 8 * scale)
            job(f"ours_predict_8_{prec}", f"ours predict {prec}, 8 targets", ours_cmd + common + wopt + p + [
                "--task", "predict", "--targets", t8, "--save", out(f"ours_pred8_{prec}")] + rep, env_ours, 6 * scale)
    if do_tx and (items is None or "tx" in items):
        if not TX.exists():
            results["tx"] = {"skipped": f"{TX} not found"}
        else:
            txa = ["--params", str(TX / "params.json"), "--weights", str(TX / "model0.h5"), "--seqs",
                   str(TX / "reference.npz"), "--task", "saliency", "--targets", "0,1", "--center-bins", "4",
                   "--repeats", "8"]
            rounds = []
            for i in range(2):   # fresh processes, the two sides in turn
                o = run_one(f"tx ours saliency #{i + 1}", ours_cmd + txa, env_ours, 2, log)
                r = run_one(f"tx reference saliency #{i + 1}", ref_cmd + txa, env_ref, 2, log) if ref_py else \
                    {"skipped": ref_reason}
                rounds.append({"ours": o, "reference": r})
            record("tx", {"rounds": rounds})
    log.close()
    results["_workdir"] = str(work)
    body = render(results, mode, ref_reason, invocation)
    (work / "section.md").write_text(body)
    print(body)
    # the section holds both modes' latest runs: full width first, then the quick development run
    other = Path(f"/tmp/seqnn_bench_borzoi{'' if args.quick else '_quick'}") if not args.workdir else None
    if other is not None and (other / "results.json").exists():
        res2 = json.loads((other / "results.json").read_text())
        res2["_workdir"] = str(other)
        body2 = render(res2, "full" if args.quick else "quick", ref_reason, invocation)
        body = body2 + "\n" + body if args.quick else body + "\n" + body2
    if not args.no_write and (mode == "full" or args.write):   # quick runs print unless --write
        update_section("borzoi", body)
    if lock_f is not None:
        lock_f.close()
    return 0


# ---------------------------------------------------------------- report
def render(results: dict, mode: str, ref_reason: str, invocation: str) -> str:
    ok = {k: v for k, v in results.items() if isinstance(v, dict) and "skipped" not in v and "times_s" in v}

    def t_first(k):
        return ok[k]["times_s"][0] if k in ok else None

    def t_steady(k):
        return steady(ok[k]) if k in ok else None

    def rss(k):
        return ok[k]["ru_maxrss_mb"] / GB if k in ok else None

    def f(v, fmt="{:.1f}"):
        return "—" if v is None else fmt.format(v)

    def ratio(a, b):
        return None if a is None or b is None or b == 0 else a / b

    def inv(*keys):
        s = sorted({results[k]["invocation"] for k in keys if k in results and "invocation" in results[k]})
        return ", ".join(s)

    peaks = results.get("peaks", {}).get("matmul_gflops", {})
    tfv = next((v.get("tensorflow") for v in ok.values() if v.get("implementation") == "ours"), "?")
    m0 = ok.get("ours_predict_all_float32", {})
    flops = (m0.get("forward_flops") or {}).get("total")
    n_params = m0.get("n_params") or ok.get("ref_predict_all", {}).get("n_params")
    lines = []
    lines.append("## Borzoi at full width, against the reference (benchmarks/bench_borzoi.py)" if mode == "full"
                 else "## Borzoi, quick mode: 1/8 width, 65,536 bp (benchmarks/bench_borzoi.py --quick)")
    lines.append("")
    loads = [x for v in ok.values() for x in v.get("load_avg", [])]
    avail = [v["mem_available_gb_before"] for v in ok.values() if "mem_available_gb_before" in v]
    load_txt = (f"1-minute load average {min(loads):.1f} to {max(loads):.1f} during the runs, "
                f"{min(avail):.0f}-{max(avail):.0f} GB available before each" if loads and avail else "load not recorded")
    quiet = bool(loads) and max(loads) < 2.5     # the benchmark's own process is the load
    lines.append(f"Machine: {cpu_name()}, {os.cpu_count()} cores, TensorFlow {tfv}; {load_txt} ("
                 + ("nothing else ran: the load is the benchmark's own process; each side's runs are sequential"
                    if quiet else "the machine is shared with other jobs, which slow both sides, not necessarily "
                    "alike: each side's runs are sequential") + f"). Invocations: {inv(*results.keys())}.")
    lines.append(f"Model: benchmarks/borzoi_params_pred.json (calico/borzoi `examples/params_pred.json`, Apache-2.0)"
                 f"{' at 1/8 width and 65,536 bp' if mode == 'quick' else ''}, human head, "
                 f"{f(n_params, '{:,}')} parameters, {results.get('ours_weights', 'random weights')}; one random "
                 f"sequence. Each row is one fresh process: wall seconds of the call (predict: the median of the calls "
                 f"after a first that traces, or that first call when a process made only one; saliency: the "
                 f"first and only call, tracing included on both sides) and the process's peak RSS. Saliency: {len(SAL_TARGETS)} targets x {SAL_BINS} central "
                 f"bins, statistic log, mean-centred (ours `attribute(method='saliency', statistic='log')` with "
                 f"its defaults; the reference's `SeqNN.gradients(..., input_gate=False)`).")
    if mode == "quick":
        lines.append("Quick mode is the same blocks at 1/8 width on 65,536 bp, both sides on the same weights. The "
                     "full-width run (without --quick) needs an otherwise idle machine: the reference's saliency "
                     "alone peaks at ~23 GB of this machine's 24 GB; its results appear in their own table when "
                     "it has run.")
    if ref_reason:
        lines.append(f"**Reference not run: {ref_reason}.**")
    lines.append("")
    lines.append("| measurement | ours s | ours peak GB | reference s | reference peak GB | reference / ours |")
    lines.append("|---|---|---|---|---|---|")
    rows = [("predict, all targets, float32", "ours_predict_all_float32", "ref_predict_all", t_steady),
            ("predict, 8 targets, float32", "ours_predict_8_float32", "ref_predict_8", t_steady),
            ("predict, all targets, bfloat16", "ours_predict_all_bfloat16", "ref_predict_all", t_steady),
            ("predict, 8 targets, bfloat16", "ours_predict_8_bfloat16", "ref_predict_8", t_steady),
            ("saliency, float32", "ours_saliency_float32", "ref_saliency", t_first),
            ("saliency, bfloat16", "ours_saliency_bfloat16", "ref_saliency", t_first)]
    for name, ko, kr, tf_ in rows:
        to, tr = tf_(ko), tf_(kr)
        r = ratio(tr, to)
        lines.append(f"| {name} | {f(to, '{:.2f}')} | {f(rss(ko), '{:.2f}')} | {f(tr, '{:.2f}')} | "
                     f"{f(rss(kr), '{:.2f}')} | {'**' + f(r, '{:.2f}') + 'x**' if r else '—'} |")
    apis = sorted({f"{v.get('precision')}: `{v['api']}`" for v in ok.values() if v.get("api")})
    if apis:
        lines.append("")
        lines.append("Our models were built with " + "; ".join(apis) + " (where `load_model` has no `precision`, "
                     "bfloat16 is Keras' global `mixed_bfloat16` policy set before building).")
    skipped = [f"{k}: {v['skipped']}" for k, v in results.items() if isinstance(v, dict) and "skipped" in v]
    if skipped:
        lines.append("")
        lines.append("Not measured: " + "; ".join(skipped) + ".")
    lines.append("")

    # goals
    s32, s16 = t_first("ours_saliency_float32"), t_first("ours_saliency_bfloat16")
    goals = [("float32 saliency >= 4x faster than the reference", ratio(t_first("ref_saliency"), s32), 4.0, ">="),
             ("predictions of 8 targets >= 1.3x faster", ratio(t_steady("ref_predict_8"),
                                                               t_steady("ours_predict_8_float32")), 1.3, ">="),
             ("bfloat16 saliency <= 0.5x the float32 time", ratio(s16, s32), 0.5, "<="),
             ("bfloat16 saliency peak <= 4 GB", rss("ours_saliency_bfloat16"), 4.0, "<="),
             ("float32 saliency peak <= 6 GB", rss("ours_saliency_float32"), 6.0, "<=")]
    tx = results.get("tx", {})
    tx_ratio, tx_txt = None, ""
    if "rounds" in tx:
        o = [t for rd in tx["rounds"] if "times_s" in rd["ours"] for t in rd["ours"]["times_s"][1:]]
        r = [t for rd in tx["rounds"] if "times_s" in rd["reference"] for t in rd["reference"]["times_s"][1:]]
        o1 = [rd["ours"]["times_s"][0] for rd in tx["rounds"] if "times_s" in rd["ours"]]
        r1 = [rd["reference"]["times_s"][0] for rd in tx["rounds"] if "times_s" in rd["reference"]]
        if o and r:
            tx_ratio = statistics.median(r) / statistics.median(o)
        diag = next((rd["ours"].get("diagnostics_default") for rd in tx["rounds"] if "times_s" in rd["ours"]), None)
        tx_txt = (f"Default saliency call on ../shared/compat/tx (3 sequences of 4,096 bp, targets 0-1, 4 central "
                  f"bins, log; ours with the engine's default options, diagnostics default = {diag}): median of "
                  f"{len(o)} steady calls in {len(tx['rounds'])} fresh processes per side, taken in turn: ours "
                  f"{f(statistics.median(o) * 1e3 if o else None)} ms, reference "
                  f"{f(statistics.median(r) * 1e3 if r else None)} ms; first calls (tracing) ours "
                  f"{', '.join('%.2f' % t for t in o1)} s, reference {', '.join('%.2f' % t for t in r1) or '—'} s.")
    goals.append(("default saliency call on compat/tx >= 3x faster", tx_ratio, 3.0, ">="))
    lines.append("| goal | measured | met |")
    lines.append("|---|---|---|")
    for name, v, g, op in goals:
        met = None if v is None else (v >= g if op == ">=" else v <= g)
        unit = " GB" if "GB" in name else "x"
        lines.append(f"| {name} | {f(v, '{:.2f}') + (unit if v is not None else '')} | "
                     f"{'—' if met is None else ('yes' if met else '**no**')} |")
    lines.append("")
    if tx_txt:
        lines.append(tx_txt)
        lines.append("")

    # throughput
    if flops:
        fl = m0["forward_flops"]
        parts = []
        for prec, k in (("float32", "ours_predict_all_float32"), ("bfloat16", "ours_predict_all_bfloat16"),
                        ("float32 (reference)", "ref_predict_all")):
            t = t_steady(k)
            if t:
                parts.append(f"{prec} {flops / t / 1e9:,.0f} GFLOP/s ({t:.1f} s)")
        pk = (f"this machine's tf.matmul peaks measured in the same run (4096^3): float32 "
              f"{peaks.get('float32', float('nan')):,.0f}, bfloat16 {peaks.get('bfloat16', float('nan')):,.0f} GFLOP/s"
              if peaks else "matmul peaks not measured")
        lines.append(f"Forward pass: {flops / 1e12:.2f} TFLOP per sequence counted from the layer shapes "
                     f"(convolutions {fl['conv'] / 1e12:.2f}, dense {fl['dense'] / 1e12:.2f}, attention "
                     f"{fl['attention'] / 1e12:.2f}; elementwise work not counted). Achieved: "
                     + "; ".join(parts) + f"; {pk}.")
        if peaks and t_steady("ours_predict_all_float32"):
            a32 = flops / t_steady("ours_predict_all_float32") / 1e9
            txt = f"float32 forward at {a32 / peaks['float32']:.0%} of the float32 matmul peak"
            if t_steady("ours_predict_all_bfloat16"):
                a16 = flops / t_steady("ours_predict_all_bfloat16") / 1e9
                txt += f", bfloat16 forward at {a16 / peaks['bfloat16']:.0%} of the bfloat16 peak"
            lines.append(f"({txt}.)")
        lines.append("")

    # agreement
    return "\n".join(lines + agreement(results)).rstrip() + "\n"


def agreement(results) -> list:
    """Markdown rows comparing the arrays the runs saved (same model on both sides when the reference ran)."""
    lines = []
    wd = results.get("_workdir")
    if not wd:
        return lines
    wd = Path(wd)
    same = str(results.get("ours_weights", "")).startswith("the reference")
    items = []

    def load(n):
        p = wd / f"{n}.npy"
        return np.load(p) if p.exists() else None

    pairs = []
    if same:
        pairs += [("predictions of 8 targets, ours float32 vs reference", "ref_pred8", "ours_pred8_float32"),
                  ("input gradients, ours float32 vs reference", "ref_sal", "ours_sal_float32")]
    pairs += [("8 requested targets vs the same columns of all targets (ours float32)", "ours_pred_all8_float32",
               "ours_pred8_float32"),
              ("predictions of 8 targets, bfloat16 vs float32 (ours)", "ours_pred8_float32", "ours_pred8_bfloat16"),
              ("input gradients, bfloat16 vs float32 (ours)", "ours_sal_float32", "ours_sal_bfloat16")]
    for name, a, b in pairs:
        A, B = load(a), load(b)
        if A is None or B is None or A.shape != B.shape:
            continue
        c = compare(A, B)
        where = ""
        if "span_over_1pct" in c and A.shape[-1] == 4:          # input gradients (S, L, 4): positions in bp
            sp = c["span_over_1pct"]
            where = (f"{c['positions_over_1pct']} positions differ by > 1% of max |g|"
                     + (f", within [{sp[0]}, {sp[1]}) bp" if sp else "") + f"; largest at {c['argmax_position']} bp")
        items.append(f"| {name} | {c['pearson']:.6f} | {c['rel_l2']:.2e} | {c['max_abs']:.2e} "
                     f"({c['max_rel_to_max']:.1e} of max) | {where} |")
    if items:
        lines.append("Agreement (Pearson r, relative L2 error, max abs error; gradients: where large differences lie):")
        lines.append("")
        lines.append("| arrays | Pearson r | rel. L2 | max abs error | where |")
        lines.append("|---|---|---|---|---|")
        lines += items
        lines.append("")
    return lines


if __name__ == "__main__":
    sys.exit(main())
