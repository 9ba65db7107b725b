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

``--motifs`` (issue 16) measures seqlets and TF-MoDISco instead: see the section "seqlets and TF-MoDISco"
below (``--motifs --quick``: 40 windows, about 10 minutes here; the full run writes the 'ground_truth_motifs'
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
                if len(sub):
                    t0 = time.perf_counter()
                    sc, _ = chunked_attribute(model, W.x[sub], "smoothgrad", t, rc, args.batch_size,
                                              n_samples=args.sg_samples, noise=args.sg_noise, seed=args.seed)
                    add(model_name, "smoothgrad", rc, motif, sub, sc, time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    sc, err = chunked_attribute(model, W.x[sub], "integrated_gradients", t, rc, args.batch_size,
                                                n_steps=args.ig_steps, baseline="zeros")
                    add(model_name, "integrated_gradients", rc, motif, sub, sc, time.perf_counter() - t0,
                        {"ig_error": err})
                    t0 = time.perf_counter()
                    sc, err = chunked_attribute(model, W.x[sub], "deep_lift_shap", t, rc, args.batch_size,
                                                n_refs=args.dls_refs, seed=args.seed)
                    add(model_name, "deep_lift_shap", rc, motif, sub, sc, time.perf_counter() - t0,
                        {"dls_error": err})
            log(f"{model_name} {motif}: gradient maps on {len(has_pos)} windows, SmoothGrad/IG/DeepLIFT-SHAP on "
                f"{len(sub)}")
        win = ism_win if model_name == "trained" else ism_win_u
        if len(win):
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
                ism_engine=("incremental (exact)" if incremental_ism.supports(m) else "full-length"))


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
    txt = f"""## Planted-motif ground truth (benchmarks/bench_ground_truth.py)

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
(median completeness error |sum attr - (f(x) - f(0))| / |f(x) - f(0)| = {ig_err:.3f}).{dls_txt}

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


# ----------------------------------------------------------------------------- seqlets and TF-MoDISco (issue 16)
#
# ``--motifs``: seqlets called from saliency (seqnn_engine.motifs.seqlets, the engine's default settings), named
# by TOMTOM against the bundled JASPAR 2024 set, scored against the planted sites by
# benchmarks/motif_truth.py (recall, precision, planted ID among the 3 best matches, decoys), and TF-MoDISco
# (seqnn_engine.motifs.modisco) on the same windows: is each driver motif a pattern matched to its JASPAR ID?
# Writes the 'ground_truth_motifs' section of RESULTS.md (a full run; --quick only prints unless --write).

MOTIF_GOALS = {"recall": 0.9, "precision": 0.8, "id_top3_rate": 0.9}


SEQLET_PLACES = ("own", "other_driver", "decoy", "flank", "background")
FLANK_BP = 10
SENSITIVITY = {"no joining (merge_gap None)": {"merge_gap": None}, "alpha 0.5": {"alpha": 0.5},
               "alpha 0.001": {"alpha": 1e-3}, "positive seqlets only": {"signs": (1,)}}
KNOCKOUT_SEED = 0
VERIFY = dict(n_shuffles=2, n_null=20, alpha=0.05, seed=0)   # seqnn_engine.motifs.verify.knockout_seqlets
VERIFY_FLOOR = 1.0   # the second verified row: also |knock-out effect| >= this (objective units)
VERIFY_FRACTION = 0.05   # the third: also |knock-out effect| >= this share of the window's objective
# The operating point. Attribution: saliency averaged over the reverse-complement + shift ensemble (less noisy
# than one pass). Seqlets: the engine's caller at its defaults. Verification: knock-out (VERIFY) plus
# faithfulness, the knock-out reproducing at least a share of the seqlet's summed contribution
# (knockout_seqlets(min_share=...)); the share is chosen from SHARE_GRID on windows of a TRAINING chromosome
# (TUNE_CHROM, never the held-out one) as the value with the largest worst-track min(recall, precision) (ties:
# the smaller share), then measured on the held-out windows.
ENSEMBLE = dict(rc=True, shifts=(-1, 0, 1))
SHARE_GRID = (0.1, 0.2, 0.3, 0.4, 0.5)
TUNE_CHROM = "chr2"
OPERATING = "operating point: verified, share >= min_share"   # the row name of the operating point


def _seqlet_places(table, windows, sites, motif: str) -> list:
    """Where each seqlet falls (one of SEQLET_PLACES, first that applies: overlaps an own-motif site, another
    driver's site, a decoy site, lies within FLANK_BP of an own-motif site, else background)."""
    from tools.demo.motifs import DECOYS
    out = []
    for i in range(len(table)):
        st = sites.get(str(windows.chrom[int(table.seq[i])]))
        w0 = int(windows.start[int(table.seq[i])])
        a, b = w0 + int(table.start[i]), w0 + int(table.end[i])
        hit = (st.start < b) & (st.end > a)
        names, drv = st.name[hit], st.driver[hit]
        if np.any((names == motif) & drv):
            k = "own"
        elif np.any(drv):
            k = "other_driver"
        elif np.any(np.isin(names, DECOYS)):
            k = "decoy"
        elif np.any((st.start < b + FLANK_BP) & (st.end > a - FLANK_BP) & (st.name == motif) & st.driver):
            k = "flank"
        else:
            k = "background"
        out.append(k)
    return out


def _seqlet_categories(table, places: list) -> dict:
    """Counts of :func:`_seqlet_places` by sign (pos_/neg_)."""
    out = {f"{sg}_{k}": 0 for sg in ("pos", "neg") for k in SEQLET_PLACES}
    for sg, k in zip(table.sign, places):
        out[f"{'pos' if sg > 0 else 'neg'}_{k}"] += 1
    return out


def _knockouts(model, target: int, x: np.ndarray, table, batch_size: int) -> np.ndarray:
    """(N,) change of the objective (the target summed over all output bins) when each seqlet's span is
    replaced by random bases (seeded): f(knocked out) - f(window). What the model's prediction really owes
    the seqlet, beside what the attribution says (its summed contribution)."""
    rng = np.random.default_rng(KNOCKOUT_SEED)
    eye = np.eye(4, dtype=np.float32)

    def objective(xs):
        return np.concatenate([model.predict(xs[c0:c0 + CHUNK], target_indexes=[target], batch_size=batch_size)
                               .mean.sum(axis=(1, 2)) for c0 in range(0, len(xs), CHUNK)])
    base = objective(x)
    out = np.zeros(len(table))
    for c0 in range(0, len(table), CHUNK):
        rows = range(c0, min(len(table), c0 + CHUNK))
        xs = np.stack([x[int(table.seq[i])] for i in rows]).copy()
        for j, i in enumerate(rows):
            a, b = int(table.start[i]), int(table.end[i])
            xs[j, a:b] = eye[rng.integers(0, 4, b - a)]
        out[c0:c0 + len(xs)] = objective(xs) - base[table.seq[c0:c0 + len(xs)]]
    return out


def _peak_ratios(table, windows, sites, motif: str, contrib: np.ndarray) -> dict:
    """For each own-motif site centred in the output span: its largest per-base contribution over the largest
    of its window (1 = the window's strongest base). Lists for sites a seqlet overlaps and for missed ones."""
    out = {"recovered": [], "missed": []}
    L, crop = windows.length, windows.crop_bp
    for w in range(len(windows)):
        st = sites.get(str(windows.chrom[w]))
        w0 = int(windows.start[w])
        rows = np.flatnonzero(table.seq == w)
        top = float(contrib[w].max()) or 1.0
        for s, e, name, drv in zip(st.start, st.end, st.name, st.driver):
            if name != motif or not drv or not w0 + crop <= (s + e) / 2.0 < w0 + L - crop:
                continue
            hit = bool(((table.start[rows] + w0 < e) & (table.end[rows] + w0 > s)).any())
            out["recovered" if hit else "missed"].append(float(contrib[w, s - w0:e - w0].max()) / top)
    return out


def _saliency(model, target: int, x: np.ndarray, batch_size: int) -> np.ndarray:
    """(S, L, 4) hypothetical saliency (centred gradient) of ``target`` summed over all output bins, averaged
    over the ENSEMBLE (RC + shifts, un-augmented per member)."""
    return np.concatenate([model.attribute(x[c0:c0 + CHUNK], method="saliency", targets=[target], diagnostics=False,
                                           batch_size=batch_size, **ENSEMBLE).hypothetical
                           for c0 in range(0, len(x), CHUNK)])


def choose_share(model, tix: dict, sites: dict, args) -> dict:
    """The operating point's ``min_share``, chosen on TUNE_CHROM windows only (see SHARE_GRID): per track,
    seqlets of the ensemble saliency, knock-out verification (VERIFY), and recall / precision of the verified
    seqlets whose share is >= each grid value (the same rows as ``knockout_seqlets(min_share=k).verified``)."""
    import motif_truth as mt
    from seqnn_engine.motifs.seqlets import call_seqlets
    from seqnn_engine.motifs.verify import knockout_seqlets

    t0 = time.perf_counter()
    W = mt.tuning_windows(demo_dir(), model.seq_length, model.crop * model.stride, chrom=TUNE_CHROM,
                          limit=args.tune_windows)
    grid = {f"{k:g}": {} for k in SHARE_GRID}
    unverified = {}
    for motif in gt.DRIVERS:
        hyp = _saliency(model, tix[motif], W.x, args.batch_size)
        table = call_seqlets(hyp, onehot=W.x)
        r = mt.seqlet_recovery(table, W, sites, motif, "")
        unverified[motif] = dict(recall=r.recall, precision=r.precision, n_seqlets=r.n_seqlets)
        kt = knockout_seqlets(model, W.x, table, targets=[tix[motif]], batch_size=args.batch_size, **VERIFY)
        for k in SHARE_GRID:
            r = mt.seqlet_recovery(table.take(kt.verified & (kt.share >= k)), W, sites, motif, "")
            grid[f"{k:g}"][motif] = dict(recall=r.recall, precision=r.precision, n_seqlets=r.n_seqlets)
        log(f"tuning {motif}: " + "; ".join(f"share {k}: R {v[motif]['recall']:.3f} P {v[motif]['precision']:.3f}"
                                              for k, v in grid.items()))
    worst = {k: min(min(v["recall"], v["precision"]) for v in g.values()) for k, g in grid.items()}
    best = max(SHARE_GRID, key=lambda k: (worst[f"{k:g}"], -k))
    log(f"tuning: min_share {best:g} (worst-track min(recall, precision) {worst[f'{best:g}']:.3f})")
    return dict(share=float(best), grid=grid, worst=worst, unverified=unverified, n_windows=len(W),
                chrom=TUNE_CHROM, seconds=time.perf_counter() - t0)


def run_motifs(args) -> dict:
    """Seqlet recovery and TF-MoDISco patterns per driver track (JSON-able state for :func:`motifs_report`)."""
    import tempfile

    import motif_truth as mt

    from tools.demo.motifs import DECOYS, load_motifs as demo_motifs
    from seqnn_engine.motifs import modisco
    from seqnn_engine.motifs.annotate import annotate_seqlets
    from seqnn_engine.motifs.seqlets import call_seqlets

    D = demo_dir()
    t_all = time.perf_counter()
    model = load_model_dir(D)
    tix = gt.driver_target_indexes(model)
    W = gt.held_out_windows(D, model.seq_length, model.crop * model.stride, limit=args.windows)
    sites = gt.site_tables(D)
    dm = demo_motifs()
    ids = {k: m.matrix_id for k, m in dm.items()}
    decoy_ids = {ids[k] for k in DECOYS}
    tune = choose_share(model, tix, sites, args)   # training-chromosome windows only
    share = tune["share"]
    log(f"motifs: {len(W)} held-out windows; TF-MoDISco with at most {args.modisco_seqlets} seqlets per metacluster")
    tracks = {}
    for motif in gt.DRIVERS:
        t0 = time.perf_counter()
        hyp = _saliency(model, tix[motif], W.x, args.batch_size)
        t1 = time.perf_counter()
        table = call_seqlets(hyp, onehot=W.x, targets=motif, objective="sum over all output bins", method="saliency")
        table = annotate_seqlets(table, W.x, hypothetical=hyp)
        t2 = time.perf_counter()
        rec = mt.seqlet_recovery(table, W, sites, motif, ids[motif])
        best = [str(table.matches.ids[i, 0]) for i in range(len(table))]
        top3 = [{str(v) for v in table.matches.ids[i, :3] if v} for i in range(len(table))]
        places = _seqlet_places(table, W, sites, motif)
        row = dict(rec.summary(), **_seqlet_categories(table, places),
                   named_decoy_best=int(sum(b in decoy_ids for b in best)),
                   named_decoy_top3=int(sum(bool(t & decoy_ids) for t in top3)),
                   settings={k: v for k, v in table.settings.items() if k != "seq_length"},
                   seconds_attribution=t1 - t0, seconds_seqlets=t2 - t1)
        log(f"{motif}: recall {rec.recall:.3f} precision {rec.precision:.3f} ID top-3 {rec.id_top3_rate:.3f}; "
            f"{len(table)} seqlets in {t2 - t1:.0f} s")
        row["peak_ratio"] = _peak_ratios(table, W, sites, motif, (hyp * W.x).sum(-1))
        t_ko = time.perf_counter()
        delta = _knockouts(model, tix[motif], W.x, table, args.batch_size)
        row["knockout"] = {f"{'pos' if sg > 0 else 'neg'}_{k}": [float(v) for v, s_, k_ in zip(delta, table.sign, places)
                                                                  if k_ == k and (s_ > 0) == (sg > 0)]
                           for sg in (1, -1) for k in SEQLET_PLACES}
        row["knockout_score"] = {f"{'pos' if sg > 0 else 'neg'}_{k}": [float(v) for v, s_, k_ in
                                                                        zip(table.score, table.sign, places)
                                                                        if k_ == k and (s_ > 0) == (sg > 0)]
                                 for sg in (1, -1) for k in SEQLET_PLACES}
        row["seconds_knockout"] = time.perf_counter() - t_ko
        from seqnn_engine.motifs.verify import knockout_seqlets
        t_v = time.perf_counter()
        kt = knockout_seqlets(model, W.x, table, targets=[tix[motif]], batch_size=args.batch_size, **VERIFY)
        row["seconds_verify"] = time.perf_counter() - t_v
        row["verify_forward_passes"] = int(len(W) + VERIFY["n_shuffles"] * (len(table) + len(kt.null_effect)))
        row["null_abs_quantiles"] = [float(v) for v in np.quantile(np.abs(kt.null_effect), [0.5, 0.9, 0.99])]
        row["verified"] = {}
        for name, keep in ((OPERATING, kt.verified & (kt.share >= share)),
                           ("verified", kt.verified),
                           (f"verified, |effect| >= {VERIFY_FLOOR:g}", kt.verified & (np.abs(kt.effect) >= VERIFY_FLOOR)),
                           (f"verified, |effect| >= {VERIFY_FRACTION:g} f(x)",
                            kt.verified & (np.abs(kt.effect) >= VERIFY_FRACTION * np.abs(kt.base[table.seq]))),
                           ("significant, either sign (no sign rule)", kt.significant)):
            sub = table.take(keep)
            v = mt.seqlet_recovery(sub, W, sites, motif, ids[motif])
            vb = [str(sub.matches.ids[i, 0]) for i in range(len(sub))]
            row["verified"][name] = dict(v.summary(), positive=int((sub.sign > 0).sum()),
                                         negative=int((sub.sign < 0).sum()),
                                         named_decoy_best=int(sum(b in decoy_ids for b in vb)),
                                         **{f"kept_{k}": int(sum(1 for pl, kk in zip(places, keep) if kk and pl == k))
                                            for k in SEQLET_PLACES})
            log(f"{motif} {name}: recall {v.recall:.3f} precision {v.precision:.3f} ID top-3 {v.id_top3_rate:.3f}; "
                f"{len(sub)} of {len(table)} seqlets ({row['seconds_verify']:.0f} s)")
        row["sensitivity"] = {}
        for name, kw in SENSITIVITY.items():   # how far the caller's own settings move recall and precision
            alt = mt.seqlet_recovery(call_seqlets(hyp, onehot=W.x, **kw), W, sites, motif, ids[motif])
            row["sensitivity"][name] = dict(recall=alt.recall, precision=alt.precision, n_seqlets=alt.n_seqlets)
        with tempfile.TemporaryDirectory() as tmp:
            t3 = time.perf_counter()
            try:
                modisco.run_modisco(W.x, hyp, Path(tmp) / "modisco.h5", max_seqlets=args.modisco_seqlets)
                pats = modisco.match_patterns(modisco.read_patterns(Path(tmp) / "modisco.h5"))
                err = None
            except Exception as e:   # report, do not hide, a failed run
                pats, err = [], f"{type(e).__name__}: {e}"
            row["modisco_seconds"] = time.perf_counter() - t3
        row["modisco_error"] = err
        row["patterns"] = [dict(name=p.name, n_seqlets=p.n_seqlets, trim=[int(v) for v in p.trim], width=len(p.ppm),
                                ids=[str(v) for v in p.matches.ids[0] if v], names=[str(v) for v in p.matches.names[0] if v],
                                p=[float(v) for v, i in zip(p.matches.p_value[0], p.matches.ids[0]) if i],
                                q=[float(v) for v, i in zip(p.matches.q_value[0], p.matches.ids[0]) if i])
                           for p in pats]
        hits = [p for p in row["patterns"] if ids[motif] in p["ids"][:3]]
        row["modisco_found"] = [p["name"] for p in hits]
        log(f"{motif}: TF-MoDISco {len(pats)} patterns in {row['modisco_seconds']:.0f} s; "
            f"matched to {ids[motif]}: {row['modisco_found'] or 'none'}")
        tracks[motif] = row
    return dict(machine=machine(), quick=bool(args.quick), seconds=time.perf_counter() - t_all, n_windows=len(W),
                length=W.length, crop_bp=W.crop_bp, chroms=sorted(set(map(str, W.chrom))), ids=ids,
                decoys=list(DECOYS), modisco_seqlets=args.modisco_seqlets, tracks=tracks, verify=VERIFY,
                ensemble=dict(rc=ENSEMBLE["rc"], shifts=list(ENSEMBLE["shifts"])), tuning=tune)


def _pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.1f}%)" if b else f"{a}/0"


def _goal_cell(value: float, key: str) -> str:
    ok = np.isfinite(value) and value >= MOTIF_GOALS[key]
    return f"{value:.3f}" + ("" if ok else " **(missed)**")


def _ens_text(st) -> str:
    e = st.get("ensemble")
    if not e:
        return "forward only"
    return ("averaged over the " + ("reverse complement and " if e["rc"] else "")
            + f"shifts {', '.join(f'{v:+d}' for v in e['shifts'])} ensemble ({(2 if e['rc'] else 1) * len(e['shifts'])} "
            "members, each un-augmented)")


def operating_point_lines(st) -> list:
    """The operating point: how min_share was chosen (training windows) and what it gives on the held-out ones."""
    tk, tu, D = st["tracks"], st["tuning"], gt.DRIVERS
    v0 = st.get("verify", {})
    ks = list(tu["grid"])
    out = ["", f"**Operating point** (issue 16 point 6; chosen before the held-out windows are scored). Seqlets: the "
           "table above (ensemble saliency, engine defaults of the caller, both signs). Verification: knock-out "
           f"(`knockout_seqlets`, {v0.get('n_shuffles')} random replacements per seqlet, {v0.get('n_null')} null "
           f"spans per window, BH-FDR {v0.get('alpha')}, sign rule) and faithfulness: the knock-out must reproduce at "
           "least `min_share` of the seqlet's summed contribution (`-sign x effect >= min_share x |score|`; for a "
           "centred gradient, -score is the linear prediction of the mean effect of a random-base knock-out, so the "
           "share is about 1 where the model follows its gradient). min_share = "
           f"**{tu['share']:g}**, chosen from {', '.join(ks)} on the first {tu['n_windows']} windows of {tu['chrom']} "
           "(a training chromosome) as the value with the largest worst-track min(recall, precision); the "
           "held-out windows were not used. The knock-outs use the model's forward pass (no ensemble). Recall and "
           "precision as defined above; precision counts every seqlet of the window (the issue's 'over all "
           "seqlets'); 'precision, output span' counts only the seqlets centred in the output span, the region "
           "recall counts sites in.", "",
           f"Tuning ({tu['chrom']}, {tu['n_windows']} windows; recall / precision; unverified seqlets first):", "",
           "| track | unverified | " + " | ".join(f"share >= {k}" for k in ks) + " |", "|" + "---|" * (len(ks) + 2)]
    for m in D:
        u = tu["unverified"][m]
        out.append(f"| {m} | {u['recall']:.3f} / {u['precision']:.3f} | "
                   + " | ".join(f"{tu['grid'][k][m]['recall']:.3f} / {tu['grid'][k][m]['precision']:.3f}" for k in ks)
                   + " |")
    out.append("| worst min(R, P) | | " + " | ".join(f"{tu['worst'][k]:.3f}" for k in ks) + " |")
    out += ["", f"Held-out ({', '.join(st['chroms'])}, {st['n_windows']} windows) at min_share {tu['share']:g}:", "",
            "| track | recall | precision | precision, output span | ID in top 3 | seqlets kept (+ / -) | "
            "decoy sites called | named as a decoy (best) |", "|---|---|---|---|---|---|---|---|"]
    for m in D:
        v = tk[m]["verified"][OPERATING]
        out.append(f"| {m} | {_goal_cell(v['recall'], 'recall')} ({v['recovered']}/{v['n_sites']}) | "
                   f"{_goal_cell(v['precision'], 'precision')} ({v['on_own']}/{v['n_seqlets']}) | "
                   f"{v.get('precision_span', float('nan')):.3f} ({v.get('on_own_span', 0)}/{v.get('n_seqlets_span', 0)}) | "
                   f"{_goal_cell(v['id_top3_rate'], 'id_top3_rate')} ({v['id_top3']}/{v['recovered']}) | "
                   f"{v['n_seqlets']} ({v['positive']} / {v['negative']}) | "
                   f"{_pct(v['decoy_called'], v['n_decoy_sites'])} | {v['named_decoy_best']} |")
    miss = [f"{m} {k} {tk[m]['verified'][OPERATING][k]:.3f}" for m in D for k in MOTIF_GOALS
            if not (np.isfinite(tk[m]["verified"][OPERATING][k]) and tk[m]["verified"][OPERATING][k] >= MOTIF_GOALS[k])]
    out += ["", "- Operating point: " + ("every seqlet goal (recall >= 0.9, precision >= 0.8, ID in top 3 >= 0.9) "
                                         "is met on every driver track." if not miss else
                                         "goals missed: " + "; ".join(miss) + ".")]
    return out


def motifs_report(st) -> str:
    tk = st["tracks"]
    D = gt.DRIVERS
    s0 = tk[D[0]]["settings"]
    lines = [
        "## Seqlets and TF-MoDISco against the planted sites (benchmarks/bench_ground_truth.py --motifs)",
        "",
        f"Machine: {st['machine']}. {'quick run' if st['quick'] else 'full run'}; total {st['seconds'] / 60:.1f} min.",
        f"Windows: the first {st['n_windows']} held-out {', '.join(st['chroms'])} windows of {st['length']} bp (the "
        "ground truth's windows); model: the shipped demo model. Attribution: saliency (centred gradient) of each "
        "driver track summed over all output bins, " + _ens_text(st) + ". Seqlets: `seqnn_engine.motifs.seqlets.call_seqlets` "
        f"on the contribution of the present base, engine defaults (alpha {s0['alpha']}, lengths "
        f"{s0['min_len']}-{s0['max_len']} bp, null '{s0['null']}', both signs, opposite-sign neighbours within "
        f"{s0.get('merge_gap')} bp joined when the joined span is significant); names: TOMTOM (memelite) of each "
        "seqlet's contribution matrix (its core window) against the bundled JASPAR 2024 CORE vertebrates "
        "non-redundant set (879 matrices), ranked by p-value, q <= 0.5. Scoring: `benchmarks/motif_truth.py` "
        "(`seqlet_recovery`).",
        "",
        "- **recall**: planted sites of the track's own motif centred in the output span "
        f"[{st['crop_bp']}, {st['length'] - st['crop_bp']}) overlapped by a seqlet (goal >= 0.9);",
        "- **precision**: seqlets overlapping a planted site of the track's own motif, over all seqlets "
        "(goal >= 0.8);",
        "- **ID in top 3**: recovered sites whose most significant overlapping seqlet lists the planted JASPAR ID "
        "among its 3 best matches (goal >= 0.9);",
        f"- **decoys** ({', '.join(st['decoys'])}, planted, driving nothing): decoy sites centred in the output span "
        "overlapped by a seqlet, and seqlets whose best match is a decoy's JASPAR ID.",
        "",
        "| track | planted ID | recall | precision | ID in top 3 | ID best | seqlets (+ / -) | decoy sites called | "
        "seqlets named as a decoy (best / top 3) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    tot = {k: 0 for k in ("n_sites", "recovered", "n_seqlets", "on_own", "id_top3", "id_top1", "n_decoy_sites",
                          "decoy_called", "named_decoy_best", "named_decoy_top3", "positive", "negative")}
    for m in D:
        r = tk[m]
        for k in tot:
            tot[k] += r[k]
        lines.append(f"| {m} | {st['ids'][m]} | {_goal_cell(r['recall'], 'recall')} ({r['recovered']}/{r['n_sites']}) | "
                     f"{_goal_cell(r['precision'], 'precision')} ({r['on_own']}/{r['n_seqlets']}) | "
                     f"{_goal_cell(r['id_top3_rate'], 'id_top3_rate')} ({r['id_top3']}/{r['recovered']}) | "
                     f"{r['id_top1_rate']:.3f} | {r['n_seqlets']} ({r['positive']} / {r['negative']}) | "
                     f"{_pct(r['decoy_called'], r['n_decoy_sites'])} | {r['named_decoy_best']} / {r['named_decoy_top3']} |")
    div = lambda a, b: a / b if b else float("nan")  # noqa: E731
    lines.append(f"| all | | {div(tot['recovered'], tot['n_sites']):.3f} | {div(tot['on_own'], tot['n_seqlets']):.3f} | "
                 f"{div(tot['id_top3'], tot['recovered']):.3f} | {div(tot['id_top1'], tot['recovered']):.3f} | "
                 f"{tot['n_seqlets']} ({tot['positive']} / {tot['negative']}) | "
                 f"{_pct(tot['decoy_called'], tot['n_decoy_sites'])} | {tot['named_decoy_best']} / "
                 f"{tot['named_decoy_top3']} |")
    if "tuning" in st and all(OPERATING in tk[m].get("verified", {}) for m in D):
        lines += operating_point_lines(st)
    if all("verified" in tk[m] for m in D):
        v0 = st.get("verify", {})
        lines += ["", "**Knock-out verified seqlets** (`seqnn_engine.motifs.verify.knockout_seqlets`: each seqlet's span "
                  f"replaced by {v0.get('n_shuffles')} seeded random sequences, mean change of the same objective; "
                  f"null: {v0.get('n_null')} random spans per window of the seqlets' lengths overlapping no seqlet, "
                  "pooled; empirical two-sided p-value, BH-FDR "
                  f"{v0.get('alpha')} across the track's seqlets, and the sign rule: a positive seqlet's knock-out "
                  "lowers the objective, a negative one's raises it (the engine's default). Second row per track: also "
                  f"|effect| >= {VERIFY_FLOOR:g} (objective units, `min_effect`); third: also |effect| >= "
                  f"{VERIFY_FRACTION:g} of the window's objective f(x) (`min_fraction`); fourth: significant whatever the "
                  "sign of the effect (`significant`: the prediction depends on the span, though maybe against the "
                  "seqlet's sign). The unverified seqlets are the table above.):", "",
                  "| track | seqlets kept | recall | precision | ID in top 3 | kept (+ / -) | decoy sites called | "
                  "named as a decoy (best) | kept by place (own / other driver / decoy / flank / background) | "
                  "null abs(effect) median / 90% / 99% | verification s (forward passes) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for m in D:
            r = tk[m]
            for name, v in r["verified"].items():
                nq = r["null_abs_quantiles"]
                lines.append(f"| {m} | {name.replace('|', chr(92) + '|')} | {_goal_cell(v['recall'], 'recall')} ({v['recovered']}/{v['n_sites']}) | "
                             f"{_goal_cell(v['precision'], 'precision')} ({v['on_own']}/{v['n_seqlets']}) | "
                             f"{_goal_cell(v['id_top3_rate'], 'id_top3_rate')} ({v['id_top3']}/{v['recovered']}) | "
                             f"{v['n_seqlets']} ({v['positive']} / {v['negative']}) | "
                             f"{_pct(v['decoy_called'], v['n_decoy_sites'])} | {v['named_decoy_best']} | "
                             + " / ".join(str(v[f"kept_{k}"]) for k in SEQLET_PLACES) + " | "
                             f"{nq[0]:.1e} / {nq[1]:.1e} / {nq[2]:.1e} | "
                             f"{r['seconds_verify']:.0f} ({r['verify_forward_passes']:,}) |")
    places = ("own", "other driver", "decoy", f"flank (<= {FLANK_BP} bp of own)", "background")
    lines += ["", "**Where the seqlets fall** (each seqlet counted once, first that applies: overlaps an own-motif "
              f"site, another driver's site, a decoy site, lies within {FLANK_BP} bp of an own-motif site, else "
              "background):", "",
              "| track | " + " | ".join(f"+ {p}" for p in places) + " | " + " | ".join(f"- {p}" for p in places)
              + " | precision of + seqlets |", "|" + "---|" * (2 * len(places) + 2)]
    for m in D:
        r = tk[m]
        npos = sum(r[f"pos_{k}"] for k in SEQLET_PLACES)
        lines.append(f"| {m} | " + " | ".join(str(r[f"{sg}_{k}"]) for sg in ("pos", "neg") for k in SEQLET_PLACES)
                     + f" | {div(r['pos_own'], npos):.3f} |")
    lines += ["", "**What the model owes each kind of seqlet** (knock-out: the seqlet's span replaced by random "
              "bases, change of the objective, median over the seqlets; beside it the median summed saliency "
              "contribution of the same seqlets; n):", "",
              "| track | " + " | ".join(f"+ {p}" for p in places) + " | " + " | ".join(f"- {p}" for p in places)
              + " |", "|" + "---|" * (2 * len(places) + 1)]
    for m in D:
        ko, sc = tk[m].get("knockout", {}), tk[m].get("knockout_score", {})
        cell = lambda k: (f"{np.median(ko[k]):+.2f} ({np.median(sc[k]):+.2f}; {len(ko[k])})"  # noqa: E731
                          if ko.get(k) else "-")
        lines.append(f"| {m} | " + " | ".join(cell(f"{sg}_{k}") for sg in ("pos", "neg") for k in SEQLET_PLACES) + " |")
    lines += ["", "**Recovered and missed sites**: the site's largest per-base contribution over the largest of its "
              "window (median; share below 0.5):", "", "| track | recovered | missed |", "|---|---|---|"]
    for m in D:
        pr = tk[m]["peak_ratio"]
        cell = lambda v: (f"{np.median(v):.2f}; {np.mean(np.asarray(v) < 0.5):.2f} (n={len(v)})"  # noqa: E731
                          if len(v) else "n/a")
        lines.append(f"| {m} | {cell(pr['recovered'])} | {cell(pr['missed'])} |")
    lines += ["", "**Sensitivity to the caller's settings** (same attributions; recall / precision / seqlets):", "",
              "| track | engine defaults | " + " | ".join(SENSITIVITY) + " |", "|" + "---|" * (len(SENSITIVITY) + 2)]
    for m in D:
        r = tk[m]
        cells = [f"{r['recall']:.3f} / {r['precision']:.3f} / {r['n_seqlets']}"]
        cells += [f"{v['recall']:.3f} / {v['precision']:.3f} / {v['n_seqlets']}" for v in r["sensitivity"].values()]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    missed = [(m, k) for m in D for k in MOTIF_GOALS if not (np.isfinite(tk[m][k]) and tk[m][k] >= MOTIF_GOALS[k])]
    lines += ["", "**Summary.**"]
    if missed:
        by = {}
        for m, k in missed:
            by.setdefault(k, []).append(f"{m} {tk[m][k]:.3f}")
        lines.append("- Seqlet goals missed: " + "; ".join(f"{k} >= {MOTIF_GOALS[k]} ({', '.join(v)})"
                                                          for k, v in by.items()) + ".")
    else:
        lines.append("- Every seqlet goal (recall >= 0.9, precision >= 0.8, ID in top 3 >= 0.9) is met on every track.")
    npos = {m: sum(tk[m][f"pos_{k}"] for k in SEQLET_PLACES) for m in D}
    pos_prec = [div(tk[m]["pos_own"], npos[m]) for m in D]
    neg_flank = sum(tk[m]["neg_flank"] + tk[m]["neg_other_driver"] for m in D)
    lines.append(f"- {tot['negative']} of the {tot['n_seqlets']} seqlets are negative runs; {neg_flank} of them lie on "
                 f"another driver's site or within {FLANK_BP} bp of an own-motif site. Counting the positive seqlets "
                 f"only, precision is {min(pos_prec):.3f} to {max(pos_prec):.3f} per track.")
    nj = [tk[m]["sensitivity"].get("no joining (merge_gap None)") for m in D]
    if all(nj):
        lines.append(f"- Joining opposite-sign neighbours removes {sum(v['n_seqlets'] for v in nj) - tot['n_seqlets']} "
                     f"seqlets (mostly flank runs beside a motif): precision {min(v['precision'] for v in nj):.3f}-"
                     f"{max(v['precision'] for v in nj):.3f} without it, "
                     f"{min(tk[m]['precision'] for m in D):.3f}-{max(tk[m]['precision'] for m in D):.3f} with it, "
                     "recall unchanged.")
    if all("knockout" in tk[m] for m in D):
        own = np.concatenate([tk[m]["knockout"]["pos_own"] for m in D])
        neg = np.concatenate([tk[m]["knockout"][f"neg_{k}"] for m in D for k in SEQLET_PLACES])
        negs = np.concatenate([tk[m]["knockout_score"][f"neg_{k}"] for m in D for k in SEQLET_PLACES])
        pos_own_s = np.concatenate([tk[m]["knockout_score"]["pos_own"] for m in D])
        lines.append(f"- Why precision over all seqlets stays below 0.8: the negative seqlets are real runs of the "
                     f"saliency map (median summed contribution {np.median(negs):+.2f}, against "
                     f"{np.median(pos_own_s):+.2f} for positive seqlets on own sites) but the model's prediction "
                     f"hardly depends on them: knocking one out changes the objective by a median {np.median(neg):+.2f} "
                     f"(|change| {np.median(np.abs(neg)):.2f}), against {np.median(own):+.2f} for a positive seqlet on "
                     "an own site. The demo tracks have no repressor, and saliency (a local gradient) gives "
                     "strong negative values that the prediction does not carry; a caller that reads only the "
                     "attribution cannot tell them from real negative features.")
    if all("verified" in tk[m] for m in D):
        for name in tk[D[0]]["verified"]:
            vv = {m: tk[m]["verified"][name] for m in D}
            miss = [f"{m} {k} {vv[m][k]:.3f}" for m in D for k in MOTIF_GOALS
                    if not (np.isfinite(vv[m][k]) and vv[m][k] >= MOTIF_GOALS[k])]
            lines.append(f"- Knock-out {name}: precision {min(v['precision'] for v in vv.values()):.3f}-"
                         f"{max(v['precision'] for v in vv.values()):.3f} (unverified "
                         f"{min(tk[m]['precision'] for m in D):.3f}-{max(tk[m]['precision'] for m in D):.3f}), recall "
                         f"{min(v['recall'] for v in vv.values()):.3f}-{max(v['recall'] for v in vv.values()):.3f}, "
                         f"ID in top 3 {min(v['id_top3_rate'] for v in vv.values()):.3f}-"
                         f"{max(v['id_top3_rate'] for v in vv.values()):.3f}; "
                         f"{sum(v['n_seqlets'] for v in vv.values())} of {tot['n_seqlets']} seqlets kept; "
                         + ("every seqlet goal met on every track." if not miss else "goals missed: " + "; ".join(miss) + "."))
    sig_name = "significant, either sign (no sign rule)"
    if all(sig_name in tk[m].get("verified", {}) for m in D):
        lost = {m: tk[m]["verified"][sig_name]["recovered"] - tk[m]["verified"]["verified"]["recovered"] for m in D}
        lines.append("- Sites the sign rule loses (recovered by a significant seqlet, but only by seqlets whose knock-out "
                     "moves the objective against their sign: a negative saliency run on a site the prediction needs): "
                     + ", ".join(f"{m} {lost[m]}" for m in D) + ". Without the sign rule, recall is that of the "
                     "unverified seqlets, but precision falls back towards theirs.")
    lines.append(f"- Decoys: {_pct(tot['decoy_called'], tot['n_decoy_sites'])} of the decoy sites in the output spans "
                 f"overlap a seqlet; {tot['named_decoy_best']} of {tot['n_seqlets']} seqlets have a decoy's JASPAR ID "
                 "as their best match.")
    lines += ["", f"**TF-MoDISco** (modisco-lite via `seqnn_engine.motifs.modisco.run_modisco`, the same windows and "
              f"saliency hypothetical scores, at most {st['modisco_seqlets']} seqlets per metacluster; patterns "
              "trimmed to the positions that are informative (>= 0.2 bits) or contribute (>= 0.3 of the largest "
              "|CWM|), named by TOMTOM of the trimmed probability matrix, ranked by p-value, q <= 0.5):", "",
              "| track | patterns | pattern(s) matched to the planted ID (top 3) | seqlets | matched pattern's "
              "trimmed span and matches (p, q; without one: the largest positive pattern's) | seconds |",
              "|---|---|---|---|---|---|"]
    for m in D:
        r = tk[m]
        found = [p for p in r["patterns"] if p["name"] in r["modisco_found"]]
        # the matched pattern, else the largest positive one (what it was named instead)
        first = found[0] if found else next((p for p in r["patterns"] if p["name"].startswith("pos")), None)
        if first and "p" in first:
            desc = (f"[{first['trim'][0]}, {first['trim'][1]}) of {first['width']}: "
                    + ", ".join(f"{n} {i} ({p:.1e}, {q:.1e})" for n, i, p, q in
                                zip(first["names"], first["ids"], first["p"], first["q"])))
        else:
            desc = (", ".join(f"{n} {i} ({q:.1e})" for n, i, q in zip(first["names"], first["ids"], first["q"]))
                    if first else (r["modisco_error"] or "no pattern"))
        if first is not None and not found:
            desc = f"{first['name']} ({first['n_seqlets']} seqlets): {desc}"
        lines.append(f"| {m} | {len(r['patterns'])} | {', '.join(r['modisco_found']) or '**none**'} | "
                     f"{sum(p['n_seqlets'] for p in found)} | {desc} | {r['modisco_seconds']:.0f} |")
    ok = [m for m in D if tk[m]["modisco_found"]]
    lines.append("")
    lines.append(f"- TF-MoDISco recovers {len(ok)} of the 4 driver motifs as a pattern matched to its JASPAR ID"
                 + ("." if len(ok) == 4 else f" (missing: {', '.join(m for m in D if m not in ok)})."))
    return "\n".join(lines)


def motifs_main(a) -> int:
    if a.render:
        st = json.loads(a.render.read_text())
    else:
        if a.windows is None and a.quick:
            a.windows = 40
        if a.tune_windows is None and a.quick:
            a.tune_windows = 40
        if a.modisco_seqlets is None:
            a.modisco_seqlets = 1000 if a.quick else 2000
        st = run_motifs(a)
        if a.json:
            a.json.write_text(json.dumps(st))
    body = motifs_report(st)
    print(body)
    if a.write or not (st["quick"] or a.render):
        update_section("ground_truth_motifs", body)
        log("wrote the ground_truth_motifs section of benchmarks/RESULTS.md")
    return 0


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
                    help=f"--motifs: first N {TUNE_CHROM} (training) windows to choose min_share on (default all)")
    a = ap.parse_args(argv)
    if a.motifs:
        return motifs_main(a)
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
        update_section("ground_truth", body)
        log("wrote the ground_truth section of benchmarks/RESULTS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
