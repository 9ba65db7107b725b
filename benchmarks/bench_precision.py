"""bfloat16 against float32 on the real trained 131 kb model (../shared/datasets/baskerville-tiny-hg38).

Run: .venv/bin/python benchmarks/bench_precision.py [--quick] [--n N]
     .venv/bin/python benchmarks/bench_precision.py --motifs [--windows N]
Writes the 'precision' section of benchmarks/RESULTS.md: per held-out test sequence, the
Pearson r of bf16 and float32 predictions (all 2,048 bins x 74 tracks) and of their
saliency maps, for a CAGE objective (the central bins of both strands' tracks, log
statistic) and a whole-window objective (one track, sum), plus the two precisions' times
measured side by side in this run (tracing excluded). Goals (issue 13): predictions
r >= 0.999 and saliency r >= 0.99 for every sequence. Skips when the shared model is absent.

``--motifs`` instead writes the 'precision_motifs' section: the demo's planted-motif benchmark
(tools/demo/groundtruth.py, the windows and labels of bench_ground_truth.py) scored with the
bundled demo model built in float32 and in bfloat16, side by side: per driver track, the mean
per-window AUROC of saliency and grad x input (from one raw input gradient of the track summed
over all output bins, forward strand). Goal (issue 13): bf16 within 0.005 of float32.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import machine, update_section  # noqa: E402

MODEL = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "baskerville-tiny-hg38"
OBJECTIVES = {
    "CAGE +/- (targets 0,1), 2 central bins, log": dict(targets=[0, 1], positions="center", statistic="log"),
    "track 5, all bins, sum": dict(targets=[5], statistic="sum"),
}


def pearson(a, b) -> float:
    return float(np.corrcoef(np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64))[0, 1])


def paired_times(fa, fb, repeats: int) -> tuple[float, float]:
    """Median seconds of fa and fb, called alternately after one warm-up call each."""
    fa(), fb()
    ta, tb = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        fa()
        ta.append(time.perf_counter() - t)
        t = time.perf_counter()
        fb()
        tb.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


def motif_auroc(windows=None, batch_size: int = 16) -> int:
    """The planted-motif AUROC of the demo model in float32 and bfloat16 (see the module docstring)."""
    from seqnn_engine import load_model_dir
    from tools.demo import demo_dir
    from tools.demo import groundtruth as gt

    D = demo_dir()
    models = {p: load_model_dir(D, precision=p) for p in ("float32", "bfloat16")}
    m32 = models["float32"]
    tix = gt.driver_target_indexes(m32)
    crop_bp = m32.crop * m32.stride
    W = gt.held_out_windows(D, m32.seq_length, crop_bp, limit=windows)
    sites = gt.site_tables(D)
    rows, worst = [], 0.0
    t0 = time.perf_counter()
    for motif in gt.DRIVERS:
        labels = gt.label_matrix(W, sites, motif, "exclude")
        has = np.flatnonzero((labels == 1).any(1))
        res = {}
        for prec, m in models.items():
            g = np.concatenate([m.attribute(W.x[has[c:c + batch_size]], "saliency", targets=[tix[motif]],
                                            diagnostics=False, mean_center=False).hypothetical
                                for c in range(0, len(has), batch_size)])
            for name, sc in gt.gradient_position_scores(g, W.x[has]).items():
                if name in ("saliency", "grad_x_input"):
                    res[(prec, name)] = gt.per_sequence_metrics(sc, labels[has]).summary()["auroc_mean"]
        for name in ("saliency", "grad_x_input"):
            a32, a16 = res[("float32", name)], res[("bfloat16", name)]
            worst = max(worst, abs(a16 - a32))
            rows.append(f"| {motif} | {name.replace('_', ' ')} | {len(has)} | {a32:.4f} | {a16:.4f} | "
                        f"{a16 - a32:+.4f} |")
    met = worst <= 0.005
    body = "\n".join([
        "## bfloat16 vs float32 on the planted-motif benchmark (benchmarks/bench_precision.py --motifs)",
        "",
        f"Machine: {machine()}. {time.perf_counter() - t0:.0f} s.",
        f"Model: the bundled demo model (assets/demo), `load_model_dir(..., precision=...)` float32 and bfloat16; "
        f"{len(W)} held-out chr3 windows of {W.length} bp (the ground truth's windows), those holding a planted "
        "site of the track's motif in the output span. Attribution: the raw input gradient of the driver track "
        "summed over all output bins (forward strand); position scores and labels as in "
        "benchmarks/bench_ground_truth.py (background negatives). Mean per-window AUROC.",
        "",
        "| track | map | windows | AUROC float32 | AUROC bfloat16 | bf16 - fp32 |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Largest |difference|: {worst:.4f} (goal <= 0.005: {'met' if met else 'NOT met'}).",
    ])
    update_section("precision_motifs", body)
    print(body)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="2 sequences, 1 timing repeat")
    ap.add_argument("--n", type=int, default=4, help="test sequences (default 4)")
    ap.add_argument("--motifs", action="store_true", help="the planted-motif AUROC, float32 vs bfloat16")
    ap.add_argument("--windows", type=int, default=None, help="--motifs: only the first N held-out windows")
    a = ap.parse_args(argv)
    if a.motifs:
        return motif_auroc(a.windows)
    if not (MODEL / "model.h5").exists():
        print(f"skipped: the real model is not at {MODEL}")
        return 0
    from seqnn_engine import load_model
    from seqnn_engine.analysis.datasets import open_dataset

    n = 2 if a.quick else a.n
    repeats = 1 if a.quick else 3
    x, _ = next(open_dataset(MODEL, "test").batches(n))
    x = np.asarray(x, np.float32)[:n]
    files = (MODEL / "params.json", MODEL / "model.h5")
    models = {p: load_model(*files, targets_path=MODEL / "targets.txt", precision=p) for p in ("float32", "bfloat16")}
    m32, m16 = models["float32"], models["bfloat16"]

    p32, p16 = m32.predict(x).mean, m16.predict(x).mean
    pred_r = [pearson(p32[s], p16[s]) for s in range(n)]
    sal_r = {}
    for label, kw in OBJECTIVES.items():
        s32 = m32.attribute(x, "saliency", diagnostics=False, **kw).scores
        s16 = m16.attribute(x, "saliency", diagnostics=False, **kw).scores
        sal_r[label] = [pearson(s32[s], s16[s]) for s in range(n)]
    x1 = x[:1]
    t_pred = paired_times(lambda: m32.predict(x1), lambda: m16.predict(x1), repeats)
    kw0 = next(iter(OBJECTIVES.values()))
    t_sal = paired_times(lambda: m32.attribute(x1, "saliency", diagnostics=False, **kw0),
                         lambda: m16.attribute(x1, "saliency", diagnostics=False, **kw0), repeats)

    def fmt(rs):
        return ", ".join(f"{r:.5f}" for r in rs)

    ok_pred = min(pred_r) >= 0.999
    ok_sal = all(min(r) >= 0.99 for r in sal_r.values())
    rows = [
        f"| predictions (2,048 bins x 74 tracks), per sequence | {fmt(pred_r)} | >= 0.999 | "
        f"{'met' if ok_pred else 'NOT met'} |"]
    for label, rs in sal_r.items():
        rows.append(f"| saliency, {label}, per sequence | {fmt(rs)} | >= 0.99 | {'met' if min(rs) >= 0.99 else 'NOT met'} |")
    body = "\n".join([
        "## bfloat16 vs float32 (benchmarks/bench_precision.py)",
        "",
        f"Machine: {machine()}.",
        f"Model: the real trained Baskerville model in ../shared/datasets/baskerville-tiny-hg38 "
        f"(131,072 bp in, 2,048 bins x 74 tracks, {m32.n_params:,} parameters); {n} held-out test sequences "
        "(tfrecords, test split). `load_model(..., precision='bfloat16')`: convolutions, dense and attention "
        "layers compute in bfloat16, float32 weights, norms, pooling, head and outputs.",
        "",
        "| agreement (Pearson r, bf16 vs float32) | value | goal | |",
        "|---|---|---|---|",
        *rows,
        "",
        "| time, 1 sequence (medians, alternating; tracing excluded) | float32 | bfloat16 | bf16 / fp32 |",
        "|---|---|---|---|",
        f"| predict (all targets) | {t_pred[0]:.2f} s | {t_pred[1]:.2f} s | {t_pred[1] / t_pred[0]:.2f}x |",
        f"| saliency ({next(iter(OBJECTIVES))}) | {t_sal[0]:.2f} s | {t_sal[1]:.2f} s | "
        f"{t_sal[1] / t_sal[0]:.2f}x |",
        "",
        "On this shared 2-core machine the times are indicative only; the model is small (2.7 MB of weights), "
        "so its time is dominated by memory-bound layers rather than bf16 matmuls.",
    ])
    update_section("precision", body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
