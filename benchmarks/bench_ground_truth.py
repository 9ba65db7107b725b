"""Planted-motif ground truth (issue 5, part 5): do attributions find the planted driver sites?

Run: nice .venv/bin/python benchmarks/bench_ground_truth.py [--quick]
The full run (about an hour on 2 CPU cores: ISM of every window for both models) writes the 'ground_truth'
section of benchmarks/RESULTS.md; ``--quick`` (a few minutes: 40 windows, fewer
SmoothGrad samples / IG steps, ISM on 1 window) only prints, unless ``--write``.

Setup (see tools/demo/groundtruth.py for the label rules and metrics):
- windows: the held-out chromosome of the demo genome (chr3), tiled into
  non-overlapping 4096 bp windows from position 0 (219 windows; the training
  script's held-out set). A window counts for a track when it holds at least one
  positive site of that track's motif.
- objective: for each driver track (CTCF, SPI1, CEBPB, REST; indexes looked up by
  identifier in targets.txt), the sum of that target's prediction over ALL output bins
  (statistic 'sum', no untransform).
- methods (engine ``model.attribute``): saliency (L2 over ACGT of the centred
  gradient), grad x input (|g . x|), centred grad x input (|(g - mean g) . x|),
  SmoothGrad (L2 of the centred mean noisy gradient), integrated gradients (|sum over
  ACGT|, zero baseline, Gauss-Legendre steps), ISM (mean |delta| over the 3
  substitutions, whole 4096 bp input), DeepLIFT/SHAP (|sum over ACGT| of the contributions,
  rescale rule, ``--dls-refs`` dinucleotide-shuffled references). The three plain-gradient maps come from one
  ``attribute(method='saliency', mean_center=False)`` call; ISM of the 4 tracks comes
  from one pass over all mutants (``groundtruth.ism_scores``). Both are checked equal
  to the engine's own maps in tests/test_groundtruth.py.
- each with rc=False (forward model) and rc=True (forward + reverse-complement
  ensemble, gradients un-augmented before averaging).
- control: the same params.json with seeded random weights (untrained).

``--motifs`` (issue 16) measures seqlets and TF-MoDISco instead: see benchmarks/ground_truth_motifs.py
(``--motifs --quick``: 40 windows, about 10 minutes here; the full run writes the 'ground_truth_motifs'
section of RESULTS.md).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import machine, update_section  # noqa: E402

from seqnn_engine import load_model_dir  # noqa: E402
from tools.demo import demo_dir  # noqa: E402
from seqnn_engine.attribution import incremental_ism  # noqa: E402
from seqnn_engine.attribution.deeplift import DEFAULT_N_REFS  # noqa: E402
from tools.demo import groundtruth as gt  # noqa: E402

METHODS = ("saliency", "grad_x_input", "centred_grad_x_input", "smoothgrad", "integrated_gradients", "ism",
           "deep_lift_shap")
LABEL = {"saliency": "saliency (L2)", "grad_x_input": "grad x input", "centred_grad_x_input":
         "centred grad x input", "smoothgrad": "SmoothGrad (L2)", "integrated_gradients": "integrated gradients",
         "ism": "ISM (mean abs delta)", "deep_lift_shap": "DeepLIFT/SHAP"}
GOAL = {"saliency": 0.97, "ism": 0.97, "grad_x_input": 0.90, "integrated_gradients": 0.90}
UNTRAINED_GOAL = 0.6
VARIANTS = ("exclude", "negative")
ALL = 10 ** 9  # --ism-windows default of a full run: every window
CHUNK = 16   # windows per attribute() call (bounds memory of SmoothGrad / IG paths)
OPTIONAL_METHODS = ("smoothgrad", "integrated_gradients", "deep_lift_shap", "ism")   # beside the gradient maps


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pick_ism_windows(labels: dict, k: int) -> np.ndarray:
    """The k windows holding positives of the most driver tracks (ties: genome order)."""
    n_tracks = sum((labels[m]["exclude"] == 1).any(1).astype(int) for m in labels)
    order = sorted(range(len(n_tracks)), key=lambda i: (-n_tracks[i], i))
    return np.sort(np.array(order[:k], np.int64))


def chunked_attribute(model, x, method, target, rc, batch_size, **kw):
    """(S, L) position scores of ``model.attribute`` over chunks of windows; also the
    raw hypothetical gradient for 'saliency' (mean_center=False) and IG diagnostics."""
    out, hyp, ig_err = [], [], []
    for c0 in range(0, len(x), CHUNK):
        a = model.attribute(x[c0:c0 + CHUNK], method=method, targets=[target], rc=rc, diagnostics=False,
                            batch_size=batch_size, **kw)
        if method == "saliency":
            hyp.append(a.hypothetical)
        else:
            out.append(gt.attribution_position_scores(a))
        for key in ("ig_completeness_error", "dls_completeness_error"):
            if key in a.diagnostics:
                ig_err.append(a.diagnostics[key])
    if method == "saliency":
        return np.concatenate(hyp), None
    return np.concatenate(out), (np.concatenate(ig_err) if ig_err else None)


def run(args) -> dict:
    D = demo_dir()
    t_all = time.perf_counter()
    trained = load_model_dir(D)
    untrained = gt.untrained_model(D / "params.json", seed=args.seed, targets_path=D / "targets.txt")
    tix = gt.driver_target_indexes(trained)
    crop_bp = trained.crop * trained.stride
    W = gt.held_out_windows(D, trained.seq_length, crop_bp, limit=args.windows)
    sites = gt.site_tables(D)
    labels = {m: {v: gt.label_matrix(W, sites, m, v) for v in VARIANTS} for m in gt.DRIVERS}
    ism_win = pick_ism_windows(labels, args.ism_windows)
    ism_win_u = ism_win[:args.ism_windows_untrained]
    log(f"{len(W)} held-out windows of {W.length} bp on {sorted(set(W.chrom))}; output span "
        f"[{crop_bp}, {W.length - crop_bp}); ISM windows {ism_win.tolist()} (untrained {ism_win_u.tolist()})")

    want = set(args.methods)       # the gradient maps (saliency, grad x input) are always computed
    records = []   # dict(model, method, rc, motif, windows (idx array), scores (n, L), seconds)
    timing = {}
    ism_seconds = {}

    def add(model_name, method, rc, motif, idx, scores, seconds, extra=None):
        rec = dict(model=model_name, method=method, rc=rc, motif=motif, idx=idx, scores=scores, seconds=seconds)
        rec.update(extra or {})
        records.append(rec)
        key = (model_name, method, rc)
        n, s = timing.get(key, (0, 0.0))
        timing[key] = (n + len(idx), s + seconds)

    for model_name, model in (("trained", trained), ("untrained", untrained)):
        for motif in gt.DRIVERS:
            t = tix[motif]
            has_pos = np.flatnonzero((labels[motif]["exclude"] == 1).any(1))
            sub = has_pos if model_name == "trained" else np.intersect1d(has_pos, ism_win_u)
            for rc in (False, True):
                t0 = time.perf_counter()
                g, _ = chunked_attribute(model, W.x[has_pos], "saliency", t, rc, args.batch_size, mean_center=False)
                dt = time.perf_counter() - t0   # one gradient serves the three maps
                for name, sc in gt.gradient_position_scores(g, W.x[has_pos]).items():
                    add(model_name, name, rc, motif, has_pos, sc, dt)
                if len(sub) and "smoothgrad" in want:
                    t0 = time.perf_counter()
                    sc, _ = chunked_attribute(model, W.x[sub], "smoothgrad", t, rc, args.batch_size,
                                              n_samples=args.sg_samples, noise=args.sg_noise, seed=args.seed)
                    add(model_name, "smoothgrad", rc, motif, sub, sc, time.perf_counter() - t0)
                if len(sub) and "integrated_gradients" in want:
                    t0 = time.perf_counter()
                    sc, err = chunked_attribute(model, W.x[sub], "integrated_gradients", t, rc, args.batch_size,
                                                n_steps=args.ig_steps, baseline="zeros")
                    add(model_name, "integrated_gradients", rc, motif, sub, sc, time.perf_counter() - t0,
                        {"ig_error": err})
                if len(sub) and "deep_lift_shap" in want:
                    t0 = time.perf_counter()
                    sc, err = chunked_attribute(model, W.x[sub], "deep_lift_shap", t, rc, args.batch_size,
                                                n_refs=args.dls_refs, seed=args.seed)
                    add(model_name, "deep_lift_shap", rc, motif, sub, sc, time.perf_counter() - t0,
                        {"dls_error": err})
            log(f"{model_name} {motif}: gradient maps on {len(has_pos)} windows, "
                f"{'/'.join(LABEL[m] for m in OPTIONAL_METHODS if m in want and m != 'ism') or 'nothing else'} on "
                f"{len(sub)}")
        win = ism_win if model_name == "trained" else ism_win_u
        if len(win) and "ism" in want:
            targets = [tix[m] for m in gt.DRIVERS]
            ism = gt.ism_scores(model, W.x[win], targets, batch_size=args.ism_batch)
            ism_seconds[model_name] = ism.seconds / len(win)
            log(f"{model_name} ISM: {len(win)} windows x {W.length} bp x 3 substitutions x (forward + RC) "
                f"in {ism.seconds:.0f} s")
            for j, motif in enumerate(gt.DRIVERS):
                keep = (labels[motif]["exclude"][win] == 1).any(1)
                if not keep.any():
                    continue
                # one pass serves all 4 tracks; a standalone forward-only ISM costs half of it
                per_win = ism.seconds / len(win)
                for rc, arr, frac in ((False, ism.forward, 0.5), (True, ism.rc, 1.0)):
                    add(model_name, "ism", rc, motif, win[keep], arr[keep, :, j], frac * per_win * keep.sum())

    for rec in records:
        rec["metrics"] = {v: gt.per_sequence_metrics(rec["scores"], labels[rec["motif"]][v][rec["idx"]])
                          for v in VARIANTS}
    return dict(records=records, timing=timing, windows=W, labels=labels, ism_win=ism_win, ism_win_u=ism_win_u,
                seconds=time.perf_counter() - t_all, model=trained, tix=tix, ism_seconds=ism_seconds)


# ----------------------------------------------------------------------------- state


def _nan_list(a) -> list:
    return [None if not np.isfinite(z) else round(float(z), 7) for z in np.asarray(a, np.float64)]


def make_state(res, args) -> dict:
    """Everything the report needs, JSON-serialisable (per-window metrics, counts, timings, settings)."""
    W, labels, m = res["windows"], res["labels"], res["model"]
    tracks = {}
    for k in gt.DRIVERS:
        lab = labels[k]["exclude"]
        rows = (lab == 1).any(1)
        decoy = (labels[k]["negative"][rows] == 0) & (lab[rows] == -1)
        tracks[k] = dict(windows=int(rows.sum()), positive_bp=int((lab == 1).sum()), decoy_bp=int(decoy.sum()),
                         prevalence=float(np.mean((lab[rows] == 1).sum(1) / (lab[rows] >= 0).sum(1))))
    ig = [r["ig_error"] for r in res["records"] if r["method"] == "integrated_gradients" and r["model"] == "trained"]
    dl = [r["dls_error"] for r in res["records"] if r["method"] == "deep_lift_shap" and r["model"] == "trained"]
    records = [dict(model=r["model"], method=r["method"], rc=r["rc"], track=r["motif"],
                    windows=[f"{W.chrom[i]}:{int(W.start[i])}" for i in r["idx"]],
                    **{f"{stat}_{v}": _nan_list(getattr(r["metrics"][v], stat))
                       for v in VARIANTS for stat in ("auroc", "aupr")})
               for r in res["records"]]
    timing = [dict(model=k[0], method=k[1], rc=k[2], n=n, seconds=s) for k, (n, s) in res["timing"].items()]
    return dict(machine=machine(), quick=bool(args.quick), seconds=res["seconds"], n_params=int(m.n_params),
                target_length=int(m.target_length), n_windows=len(W), length=W.length, crop_bp=W.crop_bp,
                chroms=sorted(set(map(str, W.chrom))), seed=args.seed, sg_samples=args.sg_samples,
                sg_noise=args.sg_noise, ig_steps=args.ig_steps,
                ig_error_median=float(np.median(np.concatenate(ig))) if ig else None,
                dls_refs=args.dls_refs, dls_error_max=float(np.max(np.concatenate(dl))) if dl else None,
                ism_windows=[int(i) for i in res["ism_win"]], ism_windows_untrained=[int(i) for i in res["ism_win_u"]],
                ism_seconds_per_window=res["ism_seconds"], tracks=tracks, timing=timing, records=records,
                ism_engine=("incremental (exact)" if incremental_ism.supports(m) else "full-length"),
                methods=sorted(args.methods))


# ----------------------------------------------------------------------------- report


def _arr(values) -> np.ndarray:
    return np.array([np.nan if z is None else z for z in values], np.float64)


def _cell(values) -> str:
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    return "n/a" if v.size == 0 else f"{v.mean():.3f} / {np.median(v):.3f}"


def _rows(st, key: str):
    out = []
    for model_name in ("trained", "untrained"):
        for method in METHODS:
            for rc in (False, True):
                sel = [r for r in st["records"] if r["model"] == model_name and r["method"] == method and r["rc"] == rc]
                if not sel:
                    continue
                by = {r["track"]: _arr(r[key]) for r in sel}
                n = {r["track"]: int(np.isfinite(_arr(r["auroc_exclude"])).sum()) for r in sel}
                pooled = np.concatenate([by[k] for k in gt.DRIVERS if k in by])
                out.append(dict(model=model_name, method=method, rc=rc, by=by, n=n, pooled=pooled))
    return out


def _scope(st, row) -> str:
    full = {k: st["tracks"][k]["windows"] for k in gt.DRIVERS}
    if all(row["n"].get(k, 0) == full[k] for k in gt.DRIVERS):
        return f"all ({sum(full.values())})"
    return f"ISM set ({sum(row['n'].values())})"


def _track_means(row) -> list[float]:
    return [float(np.nanmean(row["by"][k])) for k in gt.DRIVERS if k in row["by"]]


def _goal_met(row):
    """True / False against the issue's goal (every track's mean AUROC), None when no goal applies."""
    means = _track_means(row)
    if row["model"] == "untrained":
        return max(means) <= UNTRAINED_GOAL
    g = GOAL.get(row["method"])
    return None if g is None else min(means) >= g


def _goal(row) -> str:
    ok = _goal_met(row)
    if ok is None:
        return ""
    bound = f"<= {UNTRAINED_GOAL}" if row["model"] == "untrained" else f">= {GOAL[row['method']]}"
    return f"{bound}: " + ("met" if ok else "**missed**")


def _name(row) -> str:
    return f"{row['model']} {LABEL[row['method']]}{' + RC' if row['rc'] else ''}"


def table(st, stat: str, variant: str, with_goal: bool) -> str:
    head = "| model | method | RC | window x track pairs | " + " | ".join(gt.DRIVERS) + " | all tracks |" + \
        (" goal (every track's mean) |" if with_goal else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in _rows(st, f"{stat}_{variant}"):
        cells = [_cell(row["by"][k]) if k in row["by"] else "" for k in gt.DRIVERS]
        line = (f"| {row['model']} | {LABEL[row['method']]} | {'yes' if row['rc'] else 'no'} | {_scope(st, row)} | "
                + " | ".join(cells) + f" | {_cell(row['pooled'])} |")
        if with_goal:
            line += f" {_goal(row)} |"
        lines.append(line)
    return "\n".join(lines)


def summary(st) -> str:
    """Goal verdicts and the effects of the RC ensemble and of decoys, computed from the tables."""
    roc = _rows(st, "auroc_exclude")
    met = [r for r in roc if _goal_met(r) is True]
    missed = [r for r in roc if _goal_met(r) is False]
    lines = []
    trained_missed = [r for r in missed if r["model"] == "trained"]
    lines.append(f"- Goals (AUROC, background negatives, every track's mean): {len(met)} rows met, "
                 f"{len(missed)} missed" + (": " + "; ".join(
                     f"{_name(r)} (track means {', '.join(f'{k} {v:.3f}' for k, v in zip(r['by'], _track_means(r)))}; "
                     f"{sum(r['n'].values())} window x track pairs)" for r in missed) if missed else "") + ".")
    tr = [r for r in roc if r["model"] == "trained"]
    if tr and not trained_missed:
        lo = min(min(_track_means(r)) for r in tr)
        lines.append(f"- Every trained-model method and RC setting has a per-track mean AUROC >= {lo:.3f}.")
    ap = {(r["model"], r["method"], r["rc"]): np.nanmean(r["pooled"]) for r in _rows(st, "aupr_exclude")}
    gains = [(m, ap[("trained", m, True)] - ap[("trained", m, False)]) for m in METHODS
             if ("trained", m, True) in ap and ("trained", m, False) in ap]
    if gains:
        lines.append("- The RC ensemble raises the trained model's mean AUPR (all tracks) by "
                     + ", ".join(f"{LABEL[m]} {d:+.3f}" for m, d in gains) + ".")
    dec = _rows(st, "auroc_negative")
    diffs = [abs(np.nanmean(a["pooled"]) - np.nanmean(b["pooled"])) for a, b in zip(roc, dec) if a["model"] == "trained"]
    if diffs:
        n_dec = sum(t.get("decoy_bp", 0) for t in st["tracks"].values())
        frac = n_dec / max(1, sum(t["windows"] for t in st["tracks"].values()) * st["length"])
        lines.append(f"- Counting the bases of decoy sites (GATA1, YY1, FOXA2; {n_dec:,} window x track bases, about "
                     f"{100 * frac:.1f}% of the negatives, so at most a ~{frac:.3f} AUROC drop were they all ranked on "
                     f"top) as negatives changes the trained model's pooled mean AUROC by at most {max(diffs):.1e}: "
                     "decoy bases rank with the background.")
    un = [r for r in roc if r["model"] == "untrained"]
    if un:
        lines.append(f"- Untrained control: pooled mean AUROC {min(np.nanmean(r['pooled']) for r in un):.3f} to "
                     f"{max(np.nanmean(r['pooled']) for r in un):.3f}; its AUPR stays near the random level."
                     + (f" Its rows on the ISM set rest on at most {len(st['ism_windows_untrained'])} window(s) per "
                        "track, so their per-track means are noisy."
                        if 0 < len(st["ism_windows_untrained"]) < 30 else ""))
    return "\n".join(lines)


def ism_text(st) -> str:
    """The sentences on which windows ISM (and the control's SmoothGrad / IG) used, and why."""
    L, nW = st["length"], st["n_windows"]
    if "ism" not in st.get("methods", ["ism"]):
        return ("Methods of this run (`--methods`): the gradient maps and " + ", ".join(
            LABEL[m] for m in st["methods"]) + "; the control's ones on " + (
            "every window too." if len(st["ism_windows_untrained"]) >= nW else
            f"the first {len(st['ism_windows_untrained'])} windows.") + " Saliency and both grad x input variants use "
            "every window for both models.")
    ism_s = st["ism_seconds_per_window"].get("trained", float("nan"))
    iw, iu = st["ism_windows"], st["ism_windows_untrained"]
    how = (f"ISM (whole {L} bp input, 3 substitutions x forward + RC = {6 * L:,} mutant predictions per window; "
           f"{st.get('ism_engine', 'full-length')} predictions) took {ism_s:.1f} s per window here (4 tracks, forward + RC "
           "in one pass).")
    if len(iw) >= nW:
        where = (" It was run on every window, and the untrained control's SmoothGrad, IG, DeepLIFT/SHAP and ISM on "
                 + ("every window too." if len(iu) >= nW else f"the first {len(iu)} of them."))
    else:
        where = (f" It was run on the {len(iw)} windows holding positives of the most driver tracks (indexes {iw}); "
                 f"the untrained control's SmoothGrad, IG, DeepLIFT/SHAP and ISM on the first {len(iu)} of them; "
                 f"all {nW} windows "
                 f"would take about {ism_s * nW / 3600:.1f} h.")
    return how + where + " Saliency and both grad x input variants use every window for both models."


def report(st) -> str:
    tk = st["tracks"]
    trows = []
    tm = {(t["model"], t["method"], t["rc"]): (t["n"], t["seconds"]) for t in st["timing"]}
    for method in METHODS:
        cells = []
        for model_name in ("trained", "untrained"):
            for rc in (False, True):
                n, s = tm.get((model_name, method, rc), (0, 0.0))
                cells.append(f"{s / n:.2f}" if n else "")
        trows.append(f"| {LABEL[method]} | " + " | ".join(cells) + " |")
    mode = "QUICK run (not the benchmark of record)" if st["quick"] else "full run"
    rendered = (" This section was re-rendered (`--render`) from the run's saved per-window metrics (rounded to 5-7"
                " decimals) and timings." if st.get("rendered") else "")
    L, crop, nW = st["length"], st["crop_bp"], st["n_windows"]
    ig_err = st["ig_error_median"] if st["ig_error_median"] is not None else float("nan")
    dls_err = st.get("dls_error_max")
    dls_txt = ("" if st.get("dls_refs") is None else
               f" DeepLIFT/SHAP: rescale rule, {st['dls_refs']} dinucleotide-shuffled references per window (seed "
               f"{st['seed']}), scores |sum over ACGT of the contributions| (largest completeness error "
               f"|sum contributions - (f(x) - mean f(refs))| / |f(x) - mean f(refs)| = "
               + ("n/a" if dls_err is None else f"{dls_err:.1e}") + ").")
    partial = sorted(st.get("methods", OPTIONAL_METHODS)) != sorted(OPTIONAL_METHODS)
    title = ("Planted-motif ground truth (benchmarks/bench_ground_truth.py)" if not partial else
             "Planted-motif ground truth, " + " and ".join(LABEL[m] for m in st["methods"]) + " beside the gradient "
             "maps (benchmarks/bench_ground_truth.py --methods " + ",".join(st["methods"]) + ")")
    txt = f"""## {title}

Machine: {st['machine']}. {mode}; total {st['seconds'] / 60:.1f} min.{rendered}
Model: the shipped demo model (assets/demo, {st['n_params']:,} parameters); control: the same params.json with
random weights (Keras seed {st['seed']}, untrained).

**Summary.**
{summary(st)}

**Windows.** Held-out {', '.join(st['chroms'])} tiled into {nW} non-overlapping {L} bp windows (the training report's
held-out set). A window counts for a track when it holds >= 1 positive site; windows per track:
{', '.join(f"{k} {tk[k]['windows']}" for k in gt.DRIVERS)} (positive bases: {', '.join(f"{k} {tk[k]['positive_bp']}" for k in gt.DRIVERS)}).
{ism_text(st)}

**Objective.** Each driver track's target (CTCF, SPI1, CEBPB, REST; indexes from targets.txt) summed over all
{st['target_length']} output bins (statistic `sum`). RC = yes: forward + reverse-complement ensemble (`rc=True`).

**Labels.** Positive: every base of a planted driver site of the track's own motif whose centre lies in the output
span [{crop}, {L - crop}) bp. Negative: bases outside every planted site. Excluded: other planted sites (other
drivers; decoys GATA1/YY1/FOXA2 unless the decoy variant counts them as negatives) and own-motif sites centred
in the cropped margins. Per-window AUROC (average ranks for ties) and AUPR (step-wise average precision, the
scikit-learn definition) over the window's {L} positions; cells are **mean / median over windows**. The AUPR of
a random ranking is the fraction of positives among scored positions: {', '.join(f"{k} {tk[k]['prevalence']:.4f}" for k in gt.DRIVERS)}
(window means). "window x track pairs": windows scored, summed over the 4 tracks ("all" = every window with a
positive; "ISM set" = the ISM windows).

**Scores.** Saliency and SmoothGrad: L2 over ACGT of the mean-centred gradient; grad x input, centred grad x input and
IG: absolute value of the sum over ACGT (magnitude); ISM: mean |delta objective| over the 3 substitutions.
SmoothGrad: {st['sg_samples']} samples, noise sd {st['sg_noise']}. IG: zero baseline, {st['ig_steps']} Gauss-Legendre steps
({"not run" if st["ig_error_median"] is None else f"median completeness error |sum attr - (f(x) - f(0))| / |f(x) - f(0)| = {ig_err:.3f}"}).{dls_txt}

### AUROC, background negatives (goals: ISM and saliency >= 0.97, grad x input and IG >= 0.90, untrained <= 0.6)

{table(st, 'auroc', 'exclude', True)}

### AUROC, decoy sites also negatives

{table(st, 'auroc', 'negative', False)}

### AUPR (average precision), background negatives

{table(st, 'aupr', 'exclude', False)}

### AUPR, decoy sites also negatives

{table(st, 'aupr', 'negative', False)}

### Time, seconds per window and track

| method | trained | trained + RC | untrained | untrained + RC |
|---|---|---|---|---|
{chr(10).join(trows)}

Each row is the cost of computing that map alone for one track. Saliency and both grad x input maps share one
gradient (so their times are the same measurement). ISM: one pass over the mutants serves all 4 tracks; the
forward-only time is half of the forward + RC pass (one of its two model calls per mutant).
"""
    return txt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few-minute version (prints; add --write to record)")
    ap.add_argument("--write", action="store_true", help="write RESULTS.md even with --quick or --render")
    ap.add_argument("--windows", type=int, default=None, help="use only the first N held-out windows")
    ap.add_argument("--ism-windows", type=int, default=None,
                    help="windows for trained-model ISM (default: all in a full run, 1 with --quick)")
    ap.add_argument("--ism-windows-untrained", type=int, default=None,
                    help="windows (first of the ISM set) for the control's SmoothGrad/IG/ISM (default as --ism-windows)")
    ap.add_argument("--sg-samples", type=int, default=None)
    ap.add_argument("--sg-noise", type=float, default=0.15)
    ap.add_argument("--ig-steps", type=int, default=None)
    ap.add_argument("--dls-refs", type=int, default=None,
                    help="DeepLIFT/SHAP references per window (default: the engine's default, 10)")
    ap.add_argument("--methods", default=",".join(OPTIONAL_METHODS),
                    help="comma-separated methods beside the gradient maps (default all: "
                         f"{','.join(OPTIONAL_METHODS)}); a partial run writes the section ground_truth_partial")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--ism-batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None,
                    help="also save the run (per-window metrics, timings, settings) to this JSON file")
    ap.add_argument("--render", type=Path, default=None,
                    help="re-render the report from a JSON file saved with --json (no computation)")
    ap.add_argument("--motifs", action="store_true",
                    help="seqlets and TF-MoDISco against the planted sites instead (issue 16; section ground_truth_motifs)")
    ap.add_argument("--modisco-seqlets", type=int, default=None, help="--motifs: TF-MoDISco seqlets per metacluster")
    ap.add_argument("--tune-windows", type=int, default=None,
                    help="--motifs: first N chr2 (training) windows to choose min_share on (default all)")
    a = ap.parse_args(argv)
    if a.motifs:
        from ground_truth_motifs import motifs_main
        return motifs_main(a)
    a.methods = [m.strip() for m in str(a.methods).split(",") if m.strip()]
    bad = sorted(set(a.methods) - set(OPTIONAL_METHODS))
    if bad:
        ap.error(f"unknown --methods {bad}; choose from {','.join(OPTIONAL_METHODS)}")
    if a.render:
        st = json.loads(a.render.read_text())
        st["rendered"] = True
    else:
        q = a.quick
        defaults = dict(windows=40 if q else None, ism_windows=1 if q else ALL, ism_windows_untrained=1 if q else ALL,
                        sg_samples=4 if q else 8, ig_steps=8 if q else 16, dls_refs=DEFAULT_N_REFS)
        for k, v in defaults.items():
            if getattr(a, k) is None:
                setattr(a, k, v)
        st = make_state(run(a), a)
        if a.json:
            a.json.write_text(json.dumps(st))
    body = report(st)
    print(body)
    if a.write or not (st["quick"] or a.render):
        key = "ground_truth" if sorted(st.get("methods", OPTIONAL_METHODS)) == sorted(OPTIONAL_METHODS) \
            else "ground_truth_partial"
        update_section(key, body)
        log(f"wrote the {key} section of benchmarks/RESULTS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
