"""Engine speed: ensembles (issue 2) and attribution (issue 3) on the demo model.

Run: .venv/bin/python benchmarks/bench_engine.py [--quick]
Writes the 'engine' section of benchmarks/RESULTS.md. Timings are medians of
repeats after a warm-up call (tracing excluded); ratios come from one run.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import machine, update_section  # noqa: E402

from seqnn_engine.model import ensemble as ens  # noqa: E402
from seqnn_engine.model.build import build_network  # noqa: E402
from seqnn_engine.model.seqmodel import SeqModel  # noqa: E402
from seqnn_engine.model.spec import parse_params  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo"


def demo_model() -> SeqModel:
    """The demo model (trained weights when shipped; timing does not depend on weights)."""
    if (DEMO / "manifest.json").exists():
        from seqnn_engine import load_model_dir
        return load_model_dir(DEMO)
    spec = parse_params(DEMO / "params.json")
    return SeqModel(spec, build_network(spec, 0), 0)


def timeit(fn, repeats=5):
    fn()  # warm-up (traces)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def interleaved(fns, repeats=9):
    """fns timed in turn, repeats times (so machine noise hits them alike): the median seconds
    of each, and the median of the per-repeat ratios fns[i] / fns[0]."""
    for f in fns:
        f()  # warm-up (traces)
    ts = [[] for _ in fns]
    for _ in range(repeats):
        for f, t_list in zip(fns, ts):
            t = time.perf_counter()
            f()
            t_list.append(time.perf_counter() - t)
    return ([statistics.median(t) for t in ts],
            [statistics.median(b / a for a, b in zip(ts[0], t)) for t in ts])


def paired(fn_a, fn_b, repeats=9):
    """Median seconds of fn_a and fn_b timed alternately, and the median per-repeat ratio b / a."""
    (ta, tb), (_, ratio) = interleaved([fn_a, fn_b], repeats)
    return ta, tb, ratio


def random_onehot(n, L, seed=0):
    rng = np.random.default_rng(seed)
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, L))]


def bench_ensembles(m, S, rep):
    x = random_onehot(S, m.seq_length)
    mems = ens.members(True, (-1, 0, 1))
    plain = timeit(lambda: m.predict(x, batch_size=S), rep)
    ensemble = timeit(lambda: m.predict(x, rc=True, shifts=(-1, 0, 1), batch_size=S * 6), rep)

    def reference_loop():   # one (compiled) model call per member, as the reference's ensemble does
        out = 0
        for mem in mems:
            p = m._predict_fn(tf.constant(ens.augment(x, mem))).numpy()
            out = out + ens.unaugment_bins(p, mem, m.strand_pair)
        return out / len(mems)
    ref = timeit(reference_loop, rep)
    return {"plain_ms": 1e3 * plain / S, "ens_ms": 1e3 * ensemble / S, "ref_ms": 1e3 * ref / S,
            "ratio_vs_6_plain": ensemble / (6 * plain)}


def bench_layer_grads(m, S, rep, T=8):
    x = random_onehot(S, m.seq_length, 1)
    names = [t.name for t in m.taps]
    layer = "trunk.2.dilated_residual" if "trunk.2.dilated_residual" in names else len(names) - 1
    targets = list(range(min(T, m.num_targets)))
    li = m.tap_indexes([layer])[0]
    import keras
    sub = keras.Model(m.net.inputs, [m.net.tap_tensors[li], m.net.model.output])

    @tf.function(input_signature=[tf.TensorSpec((None, m.seq_length, 4), tf.float32), tf.TensorSpec((), tf.int32)])
    def one_target(xx, t):   # the original: a full forward + backward pass per target
        with tf.GradientTape() as tape:
            tape.watch(xx)
            act, pred = sub(xx, training=False)
            y = tf.reduce_sum(pred[:, :, t])
        return tape.gradient(y, [xx, act])

    def loop():
        return [one_target(tf.constant(x), tf.constant(t)) for t in targets]

    def batched(backward):
        return lambda: m.gradients(x, layers=[0, layer], targets=targets, batch_size=S, target_chunk=T,
                                   return_var=False, backward=backward)
    (t_b, t_tape, t_loop), (_, _, r_loop) = interleaved([batched("batched"), batched("tape"), loop], 2 * rep + 1)
    return {"T": len(targets), "batched_s": t_b, "tape_s": t_tape, "loop_s": t_loop, "speedup": r_loop}


def bench_saliency(m, S, rep):
    x = random_onehot(S, m.seq_length, 2)
    t = timeit(lambda: m.attribute(x, "saliency", targets=[0], batch_size=S, diagnostics=False), rep)
    t_rc = timeit(lambda: m.attribute(x, "saliency", targets=[0], rc=True, shifts=(-1, 0, 1), batch_size=S,
                                      diagnostics=False), rep)
    return {"seqs_per_s": S / t, "seqs_per_s_ens6": S / t_rc}


def bench_ism(m, width, rep):
    x = random_onehot(1, m.seq_length, 3)
    c = m.seq_length // 2
    win = (c - width // 2, c + width // 2)
    from seqnn_engine.attribution.input_attr import choose_ism_engine, ism_mutants
    engine = choose_ism_engine(m, ens.members(), *win)
    muts, _, _ = ism_mutants(x[0], *win)

    def one_by_one():   # one mutant per (compiled) model call
        return [m._predict_fn(tf.constant(muts[i:i + 1])).numpy() for i in range(muts.shape[0])]

    def windowed():
        return m.attribute(x, "ism", targets=[0], window=win, batch_size=64, diagnostics=False)
    batched, single, ratio = paired(windowed, one_by_one, max(3, rep // 2))
    full = timeit(lambda: m.attribute(x, "ism", targets=[0], window=win, batch_size=64, diagnostics=False,
                                      ism_engine="full"), max(1, rep // 2))
    return {"width": width, "n_mutants": int(muts.shape[0]), "batched_s": batched, "single_s": single,
            "speedup": ratio, "engine": engine, "full_s": full}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer repeats and sequences")
    a = ap.parse_args(argv)
    rep = 2 if a.quick else 5
    m = demo_model()
    S = 4 if a.quick else 8
    e = bench_ensembles(m, S, rep)
    S_g = 2
    g = bench_layer_grads(m, S_g, rep)
    s = bench_saliency(m, S, rep)
    i = bench_ism(m, 50 if a.quick else 100, rep)
    body = f"""## Engine (benchmarks/bench_engine.py)

Machine: {machine()}. Speed-ups are medians of per-repeat ratios, the two sides timed alternately.
Model: demo ({m.seq_length} bp in, {m.target_length} bins x {m.num_targets} targets,
{m.n_params:,} parameters).

| measurement | value | goal |
|---|---|---|
| plain forward, ms / sequence (batch {S}) | {e['plain_ms']:.1f} | |
| 6-member ensemble (RC x shifts -1,0,1), ms / sequence | {e['ens_ms']:.1f} | |
| reference-style loop (one model call per member), ms / sequence | {e['ref_ms']:.1f} | |
| ensemble / (6 x plain) | **{e['ratio_vs_6_plain']:.2f}x** | <= 1.2x |
| layer gradients, T = {g['T']} targets, input + hidden layer, {S_g} sequences (one forward, the {g['T']} backward passes as one batch over the graph), s | {g['batched_s']:.3f} | |
| the same with one autodiff pass per target on a shared tape (`backward='tape'`, used for attention models), s | {g['tape_s']:.3f} | |
| original loop (forward + backward per target), s | {g['loop_s']:.3f} | |
| speed-up of batched over the original loop | **{g['speedup']:.2f}x** | >= 3x |
| speed-up of the shared tape over the original loop | {g['loop_s'] / g['tape_s']:.2f}x (medians) | |
| input saliency, sequences / s (1 member) | {s['seqs_per_s']:.1f} | |
| input saliency, sequences / s (6-member RC x shift ensemble) | {s['seqs_per_s_ens6']:.1f} | |
| windowed ISM ({i['width']} bp, {i['n_mutants']} mutants; engine '{i['engine']}': only the changed span of each layer recomputed), s | {i['batched_s']:.3f} | |
| the same ISM with every mutant predicted at full length (batch 64), s | {i['full_s']:.2f} | |
| one mutant per model call, s | {i['single_s']:.2f} | |
| speed-up of windowed ISM | **{i['speedup']:.1f}x** | >= 5x |
"""
    update_section("engine", body)
    print(body)


if __name__ == "__main__":
    main()
