"""Seqlets and TF-MoDISco against the demo's planted sites (issue 16, point 6): ``bench_ground_truth.py --motifs``.

Run: nice .venv/bin/python benchmarks/bench_ground_truth.py --motifs [--quick]

Seqlets of each driver track's saliency (RC + shift ensemble), named by TOMTOM, scored against the planted
sites by benchmarks/motif_truth.py; knock-out verification, and the operating point whose ``min_share`` is
chosen on training-chromosome windows (chr2) before the held-out windows (chr3) are scored; TF-MoDISco on the
same windows. Writes the 'ground_truth_motifs' section of benchmarks/RESULTS.md (a full run).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from results import machine, update_section  # noqa: E402

from seqnn_engine import load_model_dir  # noqa: E402
from tools.demo import demo_dir, groundtruth as gt  # noqa: E402

CHUNK = 16   # windows per attribute() call


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


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
