"""Train the bundled demo model on the synthetic demo genome (seeded, CPU, minutes).

Run ``python -m tools.demo.train --out assets/demo`` (about 12 minutes on 2 CPU
cores). It writes into ``--out``:

- ``params.json``: the architecture (``model`` section, reference format) and the training
  settings (``train`` section, ignored by model loading);
- ``model.weights.h5``: the weights in the Keras 3 layout, saved with
  :func:`seqnn_engine.model.weights.save_weights` under the builder's deterministic names;
- ``manifest.json``: the model directory's manifest (name, params, weights, targets, genome,
  genes, motif_sites, test_chroms);
- ``training_report.json``: held-out Pearson r / R2 per track, steps, time, seed, versions.

The network is built by the engine itself (:func:`seqnn_engine.model.spec.parse_params` and
:func:`seqnn_engine.model.build.build_network`), so the shipped model loads through exactly
the code path of a user's model (``seqnn_engine.load_model_dir``).

Data
----
- Training windows: ``seq_length`` bp at uniformly random positions of the training
  chromosomes (all chromosomes of the genome except ``test_chroms`` of genome_meta.json),
  a chromosome drawn with probability proportional to its length. A fraction
  ``tss_fraction`` of each batch is instead centred (+-1 kb jitter) on a random TSS, because
  the CAGE tracks are non-zero at only a few hundred positions of the genome.
- Targets: the exact tracks of :func:`tools.demo.tracks.compute_tracks` at the model's
  stride, cropped to the model's output bins. For speed they are read from a per-chromosome
  prefix sum of the 1 bp profile (``compute_tracks(..., bin_size=1)``): the mean of a
  32 bp bin is the mean of its 32 one-bp means, so this equals ``compute_tracks(...,
  bin_size=32)`` up to float rounding (checked at start-up on a few windows).
- Augmentation (reference semantics): shift, the input window moves by ``s`` bp,
  ``|s| <= augment_shift``, while the targets stay those of the unshifted window (the
  sequence shifted in comes from the genome instead of zero padding); reverse complement,
  with probability 1/2 the input is reverse-complemented, the target bins reversed and the
  strand pair (CAGE+ <-> CAGE-) swapped.
- Held-out evaluation: non-overlapping windows tiled from the start of each test chromosome
  (``chr3``: 219 windows of 4096 bp), targets from ``compute_tracks`` directly; Pearson r
  per track over all bins of all windows (the reference evaluation: no log).

Training: Adam, Poisson loss (``keras.losses.Poisson``), global-norm gradient clipping,
linear warm-up then cosine decay. The schedule's progress is ``max(step / steps, elapsed /
budget)`` so a run that reaches the ``--minutes`` budget before ``steps`` still ends with a
decayed learning rate (and stops). Everything random comes from ``--seed``.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqnn_engine.errors import InputError

WEIGHTS_NAME = "model.weights.h5"
MODEL_NAME = "Demo Basenji-style model (synthetic genome)"
DRIVER_TRACKS = ("CTCF", "SPI1", "CEBPB", "REST")
PEARSON_GOAL = 0.85

# The demo model: a small Basenji-style trunk. 4096 bp in, 32 bp bins: 5 poolings of 2
# (conv_dna + 4 res_tower repeats) give 128 bins; Cropping1D removes 8 bins each side -> 112.
DEMO_PARAMS = {
    "train": {
        "batch_size": 16,
        "optimizer": "adam",
        "learning_rate": 0.002,
        "warmup_steps": 200,
        "final_lr_fraction": 0.02,
        "clip_norm": 2.0,
        "loss": "poisson",
        "steps": 3600,
        "tss_fraction": 0.125,
    },
    "model": {
        "seq_length": 4096,
        "augment_rc": True,
        "augment_shift": 3,
        "strand_pair": [[0, 1, 2, 3, 4, 5, 7, 6]],
        "activation": "gelu",
        "norm_type": "batch",
        "bn_momentum": 0.9,
        "kernel_initializer": "he_normal",
        "trunk": [
            {"name": "conv_dna", "filters": 48, "kernel_size": 15, "norm_type": None, "activation": "linear",
             "pool_size": 2},
            {"name": "res_tower", "filters_init": 48, "filters_end": 80, "divisible_by": 8, "kernel_size": 5,
             "num_convs": 2, "pool_size": 2, "repeat": 4},
            {"name": "dilated_residual", "filters": 48, "rate_mult": 2, "repeat": 4, "dropout": 0.2,
             "kernel_size": 3},
            {"name": "Cropping1D", "cropping": 8},
        ],
        "head": {"name": "final", "units": 8, "activation": "softplus"},
    },
}


def demo_params() -> dict:
    """A fresh copy of the demo model's params.json content (``train`` + ``model`` sections)."""
    return copy.deepcopy(DEMO_PARAMS)


def params_text(params: dict) -> str:
    """params.json text: one key per line, each block and each short list on one line."""
    def fmt(v, indent):
        pad = " " * indent
        if isinstance(v, dict) and any(isinstance(x, (dict, list)) for x in v.values()):
            items = [f'{pad}  {json.dumps(k)}: {fmt(x, indent + 2)}' for k, x in v.items()]
            return "{\n" + ",\n".join(items) + f"\n{pad}}}"
        if isinstance(v, list) and any(isinstance(x, dict) for x in v):
            items = [f"{pad}  {json.dumps(x)}" for x in v]
            return "[\n" + ",\n".join(items) + f"\n{pad}]"
        return json.dumps(v)
    text = fmt(params, 0) + "\n"
    assert json.loads(text) == params
    return text


# ----------------------------------------------------------------------------- data


def read_genome_indices(genome_dir, chroms) -> dict[str, np.ndarray]:
    """Whole chromosomes of ``genome_dir/genome.fa.gz`` as uint8 base indices (A0 C1 G2 T3, N4)."""
    import pysam

    from seqnn_engine.genomics.onehot import indices

    path = Path(genome_dir) / "genome.fa.gz"
    if not path.exists():
        raise InputError(f"{genome_dir} has no genome.fa.gz: point --genome at a demo genome directory")
    with pysam.FastaFile(str(path)) as fa:
        missing = [c for c in chroms if c not in fa.references]
        if missing:
            raise InputError(f"genome {path} lacks chromosome(s) {missing}; it has {list(fa.references)}")
        return {c: indices(fa.fetch(c).upper()) for c in chroms}


def genome_meta(genome_dir) -> dict:
    """genome_meta.json of a demo genome directory (chrom sizes, test chromosomes)."""
    p = Path(genome_dir) / "genome_meta.json"
    if not p.exists():
        raise InputError(f"{genome_dir} has no genome_meta.json: point --genome at a demo genome directory")
    return json.loads(p.read_text())


def onehot_windows(seqs: dict, chroms, starts, length: int) -> np.ndarray:
    """(n, length, 4) float32 one-hot of ``seqs[chroms[i]][starts[i]:starts[i] + length]``."""
    eye = np.eye(5, 4, dtype=np.float32)  # row 4 (N) is all zero
    idx = np.stack([seqs[c][s:s + length] for c, s in zip(chroms, starts)])
    return eye[idx]


@dataclass
class Geometry:
    """Model geometry needed to cut targets: seq_length, stride (bp per bin), crop (bins per side)."""

    seq_length: int
    stride: int
    crop: int

    @property
    def bins(self) -> int:
        return self.seq_length // self.stride - 2 * self.crop


class WindowSampler:
    """Random training windows with exact targets, RC and shift augmentation.

    ``sample(rng, n)`` returns x (n, seq_length, 4) float32 and y (n, bins, T) float32.
    """

    def __init__(self, genome_dir, chroms, geometry: Geometry, strand_pair, shift_max: int = 3,
                 rc: bool = True, tss_fraction: float = 0.0):
        from . import tracks as tr

        self.geometry = geometry
        self.chroms = list(chroms)
        self.seqs = read_genome_indices(genome_dir, self.chroms)
        self.sizes = np.array([len(self.seqs[c]) for c in self.chroms], np.int64)
        self.prob = self.sizes / self.sizes.sum()
        self.strand_pair = np.asarray(strand_pair)
        self.shift_max = int(shift_max)
        self.rc = bool(rc)
        self.tss_fraction = float(tss_fraction)
        self.cumsum = {}
        for c, n in zip(self.chroms, self.sizes):
            prof = tr.compute_tracks(genome_dir, c, 0, int(n), bin_size=1).astype(np.float64)
            cs = np.zeros((n + 1, prof.shape[1]), np.float64)
            np.cumsum(prof, axis=0, out=cs[1:])
            self.cumsum[c] = cs
        table = [t for t in tr.tss_table(genome_dir) if t["chrom"] in self.chroms]
        self.tss = [(self.chroms.index(t["chrom"]), t["pos"]) for t in table]
        self.num_targets = next(iter(self.cumsum.values())).shape[1]

    def targets(self, chrom: str, start: int) -> np.ndarray:
        """(bins, T) float32 targets of the window starting at ``start`` (cropped to the model's bins)."""
        g = self.geometry
        a = start + g.crop * g.stride
        edges = a + g.stride * np.arange(g.bins + 1)
        cs = self.cumsum[chrom]
        return ((cs[edges[1:]] - cs[edges[:-1]]) / g.stride).astype(np.float32)

    def _starts(self, rng, n):
        g, m = self.geometry, self.shift_max
        ci = rng.choice(len(self.chroms), size=n, p=self.prob)
        hi = self.sizes[ci] - g.seq_length - m
        starts = m + (rng.random(n) * (hi - m)).astype(np.int64)
        n_tss = int(round(self.tss_fraction * n)) if self.tss else 0
        for i in range(n_tss):
            c, pos = self.tss[rng.integers(len(self.tss))]
            s = pos - g.seq_length // 2 + int(rng.integers(-1024, 1025))
            ci[i] = c
            starts[i] = min(max(s, m), self.sizes[c] - g.seq_length - m)
        return ci, starts

    def sample(self, rng: np.random.Generator, n: int, return_meta: bool = False):
        """x (n, L, 4), y (n, bins, T); with return_meta also a dict of (n,) arrays chrom, start
        (the target window's start), shift (input start = start - shift) and rc (flipped)."""
        g = self.geometry
        ci, starts = self._starts(rng, n)
        shifts = rng.integers(-self.shift_max, self.shift_max + 1, size=n) if self.shift_max else np.zeros(n, int)
        chroms = [self.chroms[i] for i in ci]
        x = onehot_windows(self.seqs, chroms, starts - shifts, g.seq_length)
        y = np.stack([self.targets(c, s) for c, s in zip(chroms, starts)])
        flip = rng.random(n) < 0.5 if self.rc else np.zeros(n, bool)
        x[flip] = x[flip][:, ::-1, ::-1]
        y[flip] = y[flip][:, ::-1][:, :, self.strand_pair]
        x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
        if return_meta:
            return x, y, {"chrom": np.array(chroms), "start": starts, "shift": shifts, "rc": flip}
        return x, y


def held_out_windows(genome_dir, seq_length: int, test_chroms=None, limit=None) -> list[tuple[str, int, int]]:
    """Non-overlapping ``seq_length`` windows tiled from position 0 of each test chromosome."""
    meta = genome_meta(genome_dir)
    test_chroms = list(test_chroms or meta["test_chroms"])
    out = []
    for c in test_chroms:
        n = int(meta["chrom_sizes"][c])
        out.extend((c, s, s + seq_length) for s in range(0, n - seq_length + 1, seq_length))
    return out[:limit] if limit else out


def held_out_data(genome_dir, windows, geometry: Geometry):
    """x (S, L, 4) float32 and exact targets y (S, bins, T) float32 of held-out windows."""
    from .tracks import compute_tracks

    seqs = read_genome_indices(genome_dir, sorted({w[0] for w in windows}))
    x = onehot_windows(seqs, [w[0] for w in windows], [w[1] for w in windows], geometry.seq_length)
    c0 = geometry.crop * geometry.stride
    y = np.stack([compute_tracks(genome_dir, c, s + c0, e - c0, bin_size=geometry.stride) for c, s, e in windows])
    return x, y


def pearson_per_track(pred, true) -> np.ndarray:
    """(T,) Pearson r per track over all bins of all windows; pred, true (S, P, T)."""
    p = np.asarray(pred, np.float64).reshape(-1, pred.shape[-1])
    t = np.asarray(true, np.float64).reshape(-1, true.shape[-1])
    p = p - p.mean(0)
    t = t - t.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (p * t).sum(0) / np.sqrt((p * p).sum(0) * (t * t).sum(0))


# ----------------------------------------------------------------------------- training


def lr_at(progress: float, step: int, base_lr: float, warmup: int, final_fraction: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay from base_lr to final_fraction * base_lr."""
    warm = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    p = min(max(progress, 0.0), 1.0)
    cos = final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * p))
    return base_lr * warm * cos


def _versions() -> dict:
    import h5py
    import keras
    import tensorflow as tf
    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "h5py": h5py.__version__, "platform": platform.platform()}


def _log(msg, log):
    if log is not None:
        print(msg, file=log, flush=True)


def train(out_dir, params: dict | None = None, genome_dir=None, steps: int | None = None,
          minutes: float = 12.0, seed: int = 0, eval_windows: int | None = None, eval_every: int = 500,
          threads: int | None = 2, log=sys.stdout, command: str | None = None) -> dict:
    """Train the demo model and write params.json, weights, manifest.json, training_report.json.

    params: params.json content (default :data:`DEMO_PARAMS`); genome_dir: demo genome
    directory (default ``out_dir``); steps: maximum optimizer steps (default the params'
    ``train.steps``); minutes: wall-clock budget for the training loop; eval_windows: limit on
    held-out windows (default all). Returns the report dict.
    """
    import tensorflow as tf
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # TensorFlow already initialised in this process (e.g. in tests)
    import keras

    from seqnn_engine.model.build import build_network
    from seqnn_engine.model.spec import parse_params
    from seqnn_engine.model.weights import save_weights

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    genome_dir = Path(genome_dir) if genome_dir is not None else out_dir
    params = demo_params() if params is None else copy.deepcopy(params)
    tp = {**DEMO_PARAMS["train"], **params.get("train", {})}
    params["train"] = tp
    steps = int(steps if steps is not None else tp["steps"])
    if steps < 1:
        raise InputError(f"--steps must be at least 1, got {steps}")
    meta = genome_meta(genome_dir)
    test_chroms = list(meta["test_chroms"])
    train_chroms = [c for c in meta["chrom_sizes"] if c not in test_chroms]

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    spec = parse_params(params)
    net = build_network(spec, 0)
    model = net.model
    geo = Geometry(spec.seq_length, net.stride, net.crop)
    strand_pair = spec.strand_pair[0] or list(range(net.num_targets))
    _log(f"model: {model.count_params():,} parameters, {geo.seq_length} bp -> {net.target_length} bins x "
         f"{net.num_targets} targets (stride {geo.stride}, crop {geo.crop}); train on {train_chroms}, "
         f"hold out {test_chroms}", log)

    t_data = time.time()
    sampler = WindowSampler(genome_dir, train_chroms, geo, strand_pair, shift_max=spec.augment_shift,
                            rc=spec.augment_rc, tss_fraction=tp["tss_fraction"])
    if sampler.num_targets != net.num_targets:
        raise InputError(f"params.json head has {net.num_targets} units but the genome has "
                         f"{sampler.num_targets} tracks")
    _check_sampler(sampler, genome_dir, geo)
    windows = held_out_windows(genome_dir, geo.seq_length, test_chroms, eval_windows)
    x_eval, y_eval = held_out_data(genome_dir, windows, geo)
    _log(f"data ready in {time.time() - t_data:.1f} s ({len(windows)} held-out windows)", log)

    opt = keras.optimizers.Adam(learning_rate=float(tp["learning_rate"]), global_clipnorm=float(tp["clip_norm"]))
    loss_fn = keras.losses.Poisson()
    sig_x = tf.TensorSpec((None, geo.seq_length, 4), tf.float32)
    sig_y = tf.TensorSpec((None, geo.bins, net.num_targets), tf.float32)

    @tf.function(input_signature=[sig_x, sig_y])
    def train_step(x, y):
        with tf.GradientTape() as tape:
            pred = model(x, training=True)
            loss = loss_fn(y, pred)
            reg = tf.add_n(model.losses) if model.losses else 0.0
            total = loss + reg
        grads = tape.gradient(total, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    predict_fn = tf.function(lambda x: model(x, training=False), input_signature=[sig_x])

    def evaluate(n=None):
        xs = x_eval if n is None else x_eval[:n]
        pred = np.concatenate([predict_fn(tf.constant(xs[i:i + 32])).numpy() for i in range(0, len(xs), 32)])
        return pred, pearson_per_track(pred, y_eval[:len(xs)])

    budget = float(minutes) * 60.0
    batch = int(tp["batch_size"])
    t0 = time.time()
    done = 0
    losses = []
    history = []
    stopped_by = "steps"
    for step in range(steps):
        elapsed = time.time() - t0
        if step > 0 and elapsed >= budget:
            stopped_by = "time"
            break
        progress = max(step / steps, elapsed / budget)
        opt.learning_rate = lr_at(progress, step, float(tp["learning_rate"]), int(tp["warmup_steps"]),
                                  float(tp["final_lr_fraction"]))
        x, y = sampler.sample(rng, batch)
        loss = float(train_step(tf.constant(x), tf.constant(y)))
        if not math.isfinite(loss):
            raise RuntimeError(f"training diverged at step {step} (loss {loss}); lower the learning rate")
        losses.append(loss)
        done = step + 1
        if eval_every and done % eval_every == 0:
            _, r = evaluate(48)
            history.append({"step": done, "seconds": round(time.time() - t0, 1),
                            "loss": float(np.mean(losses[-eval_every:])),
                            "heldout_pearson_48": [round(float(v), 4) for v in r]})
            _log(f"step {done:5d}  {time.time() - t0:6.0f} s  lr {float(opt.learning_rate):.5f}  "
                 f"loss {np.mean(losses[-eval_every:]):.4f}  held-out r (48 windows) "
                 + " ".join(f"{v:.3f}" for v in r), log)
    train_seconds = time.time() - t0

    weights_path = out_dir / WEIGHTS_NAME
    save_weights(net.layers, weights_path)
    os.chmod(weights_path, 0o644)
    params_path = out_dir / "params.json"
    params_path.write_text(params_text(params))
    manifest = {
        "name": MODEL_NAME,
        "params": "params.json",
        "weights": [WEIGHTS_NAME],
        "targets": "targets.txt",
        "genome": "genome.fa.gz",
        "genes": "genes.gtf",
        "motif_sites": "motif_sites.bed",
        "test_chroms": test_chroms,
        "train_chroms": train_chroms,
        "training_report": "training_report.json",
    }
    if genome_dir.resolve() != out_dir.resolve():
        for k in ("targets", "genome", "genes", "motif_sites"):
            manifest.pop(k)  # the files live elsewhere; keep the manifest's paths inside out_dir
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")

    # Held-out metrics through the engine's own loader (the shipped files, not the in-memory model).
    from seqnn_engine.analysis.metrics import accuracy_in_memory
    from seqnn_engine.model import load_model
    pred_mem, _ = evaluate()
    shipped = load_model(params_path, weights_path)
    pred = shipped.predict(x_eval, batch_size=32).mean
    if not np.allclose(pred, pred_mem, rtol=1e-4, atol=1e-5):
        raise RuntimeError("the saved weights do not reproduce the trained model's predictions")
    acc = accuracy_in_memory(pred, y_eval)
    r_rc = pearson_per_track(shipped.predict(x_eval, rc=True, batch_size=32).mean, y_eval)
    names = _track_names(genome_dir, net.num_targets)
    fwd_ms = _forward_ms(shipped, x_eval)
    report = {
        "model": MODEL_NAME,
        "seed": seed,
        "steps": done,
        "steps_planned": steps,
        "stopped_by": stopped_by,
        "batch_size": batch,
        "train_seconds": round(train_seconds, 1),
        "seconds_per_step": round(train_seconds / max(done, 1), 4),
        "threads": threads,
        "final_loss_mean_last_100": float(np.mean(losses[-100:])) if losses else None,
        "n_params": int(model.count_params()),
        "weights_bytes": weights_path.stat().st_size,
        "train_chroms": train_chroms,
        "test_chroms": test_chroms,
        "heldout": {
            "windows": len(windows),
            "window_layout": f"non-overlapping {geo.seq_length} bp windows tiled from position 0 of each "
                             "test chromosome; metrics over all bins of all windows (forward strand, no ensemble)",
            "bins_per_window": geo.bins,
            "pearson_r": {n: round(float(v), 4) for n, v in zip(names, acc.pearsonr)},
            "r2": {n: round(float(v), 4) for n, v in zip(names, acc.r2)},
            "pearson_r_rc_ensemble": {n: round(float(v), 4) for n, v in zip(names, r_rc)},
        },
        "forward_ms_per_sequence": fwd_ms,
        "goal": {"pearson_r_min_driver_tracks": PEARSON_GOAL,
                 "met": bool(all(acc.pearsonr[names.index(t)] >= PEARSON_GOAL for t in DRIVER_TRACKS
                                 if t in names))},
        "history": history,
        "versions": _versions(),
        "command": command,
    }
    (out_dir / "training_report.json").write_text(json.dumps(report, indent=1) + "\n")
    _log(f"trained {done} steps in {train_seconds:.0f} s; held-out Pearson r: "
         + ", ".join(f"{n} {v:.3f}" for n, v in zip(names, acc.pearsonr)), log)
    return report


def _forward_ms(model, x) -> dict:
    """Wall-clock ms per sequence of ``model.predict`` (one at a time, and in batches of 16)."""
    x = x[:16]
    model.predict(x[:1], batch_size=1)
    t = time.perf_counter()
    for i in range(len(x)):
        model.predict(x[i:i + 1], batch_size=1)
    single = (time.perf_counter() - t) / len(x) * 1e3
    model.predict(x, batch_size=16)
    t = time.perf_counter()
    model.predict(x, batch_size=16)
    batched = (time.perf_counter() - t) / len(x) * 1e3
    return {"single": round(single, 2), "batch16": round(batched, 2)}


def _track_names(genome_dir, n) -> list[str]:
    p = Path(genome_dir) / "targets.txt"
    if p.exists():
        from seqnn_engine.model.targets import read_targets
        t = read_targets(p)
        ids = list(t.identifier)
        if len(ids) == n:
            return [str(i) for i in ids]
    from .tracks import TRACK_NAMES
    return list(TRACK_NAMES[:n]) if n <= len(TRACK_NAMES) else [str(i) for i in range(n)]


def _check_sampler(sampler: WindowSampler, genome_dir, geo: Geometry):
    """The prefix-sum targets equal compute_tracks on a few windows (guards the fast path)."""
    from .tracks import compute_tracks
    c0 = geo.crop * geo.stride
    for c in sampler.chroms[:2]:
        for s in (0, 12345, int(sampler.sizes[sampler.chroms.index(c)]) - geo.seq_length - 7):
            fast = sampler.targets(c, s)
            exact = compute_tracks(genome_dir, c, s + c0, s + geo.seq_length - c0, bin_size=geo.stride)
            if not np.allclose(fast, exact, rtol=1e-4, atol=1e-5):
                raise RuntimeError(f"fast targets differ from compute_tracks at {c}:{s}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.demo.train",
                                 description="Train the bundled demo model on the synthetic demo genome.")
    ap.add_argument("--out", required=True, help="output model directory (the demo genome dir to ship it)")
    ap.add_argument("--genome", default=None, help="demo genome directory (default: --out)")
    ap.add_argument("--params", default=None, help="params.json to train instead of the built-in demo params")
    ap.add_argument("--steps", type=int, default=None, help="maximum optimizer steps (default: params train.steps)")
    ap.add_argument("--minutes", type=float, default=12.0, help="wall-clock budget of the training loop")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-windows", type=int, default=None, help="limit the held-out windows (default all)")
    ap.add_argument("--eval-every", type=int, default=500, help="log a 48-window held-out check every N steps")
    ap.add_argument("--threads", type=int, default=2, help="TensorFlow intra-op threads")
    a = ap.parse_args(argv)
    try:
        params = None
        if a.params:
            try:
                params = json.loads(Path(a.params).read_text())
            except (OSError, ValueError) as e:
                raise InputError(f"cannot read --params {a.params}: {e}") from None
        report = train(a.out, params=params, genome_dir=a.genome, steps=a.steps, minutes=a.minutes, seed=a.seed,
                       eval_windows=a.eval_windows, eval_every=a.eval_every, threads=a.threads,
                       command="python -m tools.demo.train " + " ".join(argv if argv is not None
                                                                                else sys.argv[1:]))
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("goal (held-out Pearson r >= %.2f on every driver track): %s"
          % (PEARSON_GOAL, "met" if report["goal"]["met"] else "NOT met"))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
