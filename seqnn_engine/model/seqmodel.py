"""SeqModel: one loaded head of a Basenji/Baskerville model, with ensemble prediction.

Arrays: x (S, L, 4) float32 one-hot; predictions (S, P, T) with P = target_length
bins of ``stride`` bp after ``crop`` bins were removed on each side.
"""
from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import keras
import numpy as np
import tensorflow as tf

from . import ensemble as ens
from ..errors import InputError
from .build import Network, Tap, build_mc_graph, build_network
from .head import HeadGather, member_columns, union_columns
from .spec import ModelSpec, parse_params
from .weights import load_weights

ProgressFn = Optional[Callable[[int, int], None]]


@dataclass
class Prediction:
    """Result of :meth:`SeqModel.predict`.

    mean: (S, P, T) float32 ensemble mean (P, T = bins, targets; for
    ``embed_penultimate`` P0 positions, U units). var: same shape, unbiased
    (n-1) variance over members, or None. members: (S, P, T, E) float32 or None.
    member_labels: E labels like 'fwd+0', 'rc-1', 'fwd+0/mc3'. target_indexes:
    (T,) indexes into the head's targets (None for embeddings).
    """

    mean: np.ndarray
    var: Optional[np.ndarray] = None
    members: Optional[np.ndarray] = None
    member_labels: list = field(default_factory=list)
    target_indexes: Optional[np.ndarray] = None


class SeqModel:
    """A model head ready for predictions and attributions (thread-safe for concurrent calls).

    Attributes: seq_length, num_targets, target_length, stride, crop (ints);
    strand_pair (T,) permutation or None; taps: tappable layers (index 0 = input);
    targets: parsed targets.txt or None; n_params; digest (the model's identity: params,
    weights or random seed, targets.txt, head, precision; see seqnn_engine.batch.store.model_digest);
    precision ('float32' | 'bfloat16'); seed (of random weights, or None).
    The underlying Keras model is never switched to training mode.
    """

    def __init__(self, spec: ModelSpec, net: Network, head: int, digest: str = "", targets=None,
                 name: str = ""):
        self.spec, self.net, self.head = spec, net, head
        self.seq_length = spec.seq_length
        self.num_targets = net.num_targets
        self.target_length = net.target_length
        self.stride = net.stride
        self.crop = net.crop
        sp = spec.strand_pair[head]
        if sp is None and targets is not None:
            rows = targets.pair_row() if callable(getattr(targets, "pair_row", None)) else targets.pair_row
            rows = np.asarray(rows)
            if (rows >= 0).all() and (rows != np.arange(len(rows))).any():
                sp = rows.tolist()   # strand pairs from targets.txt (as the reference's evaluation does)
        if sp is not None and len(sp) != self.num_targets:
            raise InputError(f"strand_pair for head {head} has {len(sp)} entries but the head has "
                             f"{self.num_targets} targets")
        self.strand_pair = np.asarray(sp) if sp is not None else None
        self.taps: list[Tap] = net.taps
        self.targets = targets
        self.n_params = int(net.model.count_params())
        self.digest = digest
        self.name = name or spec.head_names[head]
        self.warnings = list(net.warnings)
        self.has_dropout = net.n_dropout > 0
        self.precision = net.precision
        self.seed = None
        self._lock = threading.RLock()
        self._fns: dict = {}
        self._mc = None
        self._mc_head_input = None
        sig = [tf.TensorSpec((None, self.seq_length, 4), tf.float32)]
        self._predict_fn = tf.function(lambda x: net.model(x, training=False), input_signature=sig)
        self._trunk_fn = tf.function(lambda x: net.trunk(x, training=False), input_signature=sig)
        # head gather: the final Dense for the requested columns only (None: full head + column selection)
        self.head_gather = HeadGather(net.final_dense) if net.final_dense is not None else None
        if self.head_gather is not None:
            self._pre_model = keras.Model(net.inputs, net.head_input, name="seqnn_head_input")
            cols = tf.TensorSpec((None,), tf.int32)
            self._gather_fn = tf.function(
                lambda x, c: self.head_gather.apply(self._pre_model(x, training=False), c),
                input_signature=sig + [cols])

    @property
    def geometry(self):
        """The output-bin geometry (:class:`~seqnn_engine.model.geometry.BinGeometry`)."""
        from .geometry import BinGeometry
        return BinGeometry(self.seq_length, self.stride, self.crop, self.target_length)

    # ------------------------------------------------------------------ helpers
    def check_input(self, x) -> np.ndarray:
        """Validate one-hot input; returns float32 (S, L, 4)."""
        x = np.asarray(x)
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3 or x.shape[-1] != 4:
            raise InputError(f"expected one-hot input of shape (S, {self.seq_length}, 4), got {x.shape}")
        if x.shape[1] != self.seq_length:
            raise InputError(f"sequences are {x.shape[1]} bp but the model takes {self.seq_length} bp: "
                             "pad or crop them (seqnn_engine.genomics.sequences fits sequences to the model)")
        if x.shape[0] == 0:
            raise InputError("no sequences given")
        x = x.astype(np.float32, copy=False)
        if not np.isfinite(x).all():
            raise InputError("input contains NaN or infinite values")
        return x

    def check_targets(self, target_indexes) -> np.ndarray:
        if target_indexes is None:
            return np.arange(self.num_targets)
        t = np.atleast_1d(np.asarray(target_indexes))
        if t.size == 0 or t.dtype.kind not in "iu":
            raise InputError(f"targets must be a non-empty list of integer indexes, got {target_indexes!r}")
        bad = t[(t < 0) | (t >= self.num_targets)]
        if bad.size:
            raise InputError(f"target index {int(bad[0])} out of range: this head has {self.num_targets} "
                             f"targets (0..{self.num_targets - 1})")
        return t.astype(np.int64)

    def mc_graph(self):
        """(inputs (x, seed), tap tensors, prediction tensor) of the always-on-dropout graph."""
        with self._lock:
            if self._mc is None:
                rec = {}
                self._mc = build_mc_graph(self.spec, self.net, self.head, record=rec)
                self._mc_head_input = rec.get("head_input")
            return self._mc

    def _mc_model(self, pre: bool):
        """keras.Model([x, seed]) -> the MC graph's predictions (B, P, T), or with ``pre`` the final
        Dense's input (B, P, C)."""
        def make():
            (xi, si), _, out = self.mc_graph()
            return keras.Model([xi, si], self._mc_head_input if pre else out)
        return self._fn(("mc_model", pre), make)

    # ------------------------------------------------------------------ head gather
    def member_columns(self, target_indexes, rc: bool = False) -> np.ndarray:
        """Raw output columns (K,) int32 of a member holding targets ``target_indexes`` (K,) after
        un-augmentation: the indexes themselves, or their strand pairs for an RC member."""
        return member_columns(self.check_targets(target_indexes), rc, self.strand_pair)

    def target_predictions(self, x, target_indexes, rc: bool = False, mc: bool = False, seed=None):
        """Un-augmented predictions (B, P, K) of targets ``target_indexes`` (K,) for a member's input.

        A TensorFlow op for use inside ``tf.GradientTape`` / ``tf.function``. x: (B, L, 4)
        float32 tensor, already augmented for the member (reverse-complemented when ``rc``);
        target_indexes: (K,) int32 tensor (or array) of forward-orientation targets; mc: use
        the always-on-dropout graph with ``seed`` (1, 2) int32, ``[[mc_seed, k]]`` for MC
        sample k (mc_dropout.member_seed). With a head gather only K
        columns of the final Dense are computed; otherwise the full head runs and K columns
        are selected. RC members: columns ``strand_pair[targets]``, bins reversed. float32.
        """
        idx = tf.cast(tf.convert_to_tensor(target_indexes), tf.int32)
        cols = tf.gather(tf.constant(self.strand_pair, tf.int32), idx) if rc and self.strand_pair is not None \
            else idx
        if self.head_gather is not None:
            pre = self._mc_model(True)([x, seed], training=False) if mc else self._pre_model(x, training=False)
            y = self.head_gather.apply(pre, cols)
        else:
            full = self._mc_model(False)([x, seed], training=False) if mc else self.net.model(x, training=False)
            y = tf.gather(tf.cast(full, tf.float32), cols, axis=-1)
        return tf.reverse(y, axis=[1]) if rc else y

    def _fn(self, key, builder):
        with self._lock:
            if key not in self._fns:
                self._fns[key] = builder()
            return self._fns[key]

    def _mc_predict_fn(self, trunk: bool):
        def make():
            (x, seed), taps, out = self.mc_graph()
            trunk_t = taps[[t.name for t in self.taps].index("trunk.output")]
            m = keras.Model([x, seed], trunk_t if trunk else out)
            return tf.function(lambda a, s: m([a, s], training=False),
                               input_signature=[tf.TensorSpec((None, self.seq_length, 4), tf.float32),
                                                tf.TensorSpec((1, 2), tf.int32)])
        return self._fn(("mc_predict", trunk), make)

    def _mc_gather_fn(self):
        """tf.function(x, seed, cols) -> MC-dropout predictions (B, P, K) of kernel columns cols."""
        def make():
            pre = self._mc_model(True)
            return tf.function(lambda a, s, c: self.head_gather.apply(pre([a, s], training=False), c),
                               input_signature=[tf.TensorSpec((None, self.seq_length, 4), tf.float32),
                                                tf.TensorSpec((1, 2), tf.int32), tf.TensorSpec((None,), tf.int32)])
        return self._fn(("mc_gather",), make)

    def run_members(self, x, mems, fn_plain, fn_mc, on_output, batch_size, progress, seed=0):
        """Evaluate every (sequence, member) in batches; calls on_output(seq_i, member_i, array).

        Members without MC dropout share batches. MC members are batched by MC sample: a batch
        holds one sample k's (sequence, member) items and runs with its fixed masks (seed
        ``[[seed, k]]``, see mc_dropout.py), so the outputs do not depend on batch_size. For each
        sequence, on_output sees the members of sample 0 first, then sample 1, ...
        """
        from .mc_dropout import member_seed_tensor

        items = [(s, m) for s in range(x.shape[0]) for m in range(len(mems))]
        groups = {}
        for s, m in items:
            groups.setdefault(mems[m].mc, []).append((s, m))
        total, done = len(items), 0
        batch_size = max(1, int(batch_size))
        for k in sorted(groups):
            group = groups[k]
            seed_t = member_seed_tensor(seed, k) if k >= 0 else None
            for b0 in range(0, len(group), batch_size):
                chunk = group[b0:b0 + batch_size]
                xb = np.stack([ens.augment(x[s:s + 1], mems[m])[0] for s, m in chunk])
                out = fn_mc(tf.constant(xb), seed_t).numpy() if k >= 0 else fn_plain(tf.constant(xb)).numpy()
                for (s, m), o in zip(chunk, out):
                    on_output(s, m, o)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)

    # ------------------------------------------------------------------ predict
    def predict(self, x, rc: bool = False, shifts=(0,), mc_n: int = 0, target_indexes=None,
                down_sample: int = 1, embed_penultimate: bool = False, return_var: bool = False,
                return_all: bool = False, batch_size: int = 4, progress: ProgressFn = None,
                mc_seed: int = 0) -> Prediction:
        """Ensemble prediction.

        x: (S, L, 4). Members: shifts x (forward[, RC]) x (mc_n MC-dropout samples, if
        mc_n > 0). RC members are reversed on the bin axis and strand pairs swapped
        back; shifted inputs are zero-padded; bins are not unshifted (reference).
        down_sample: mean over groups of this many consecutive bins. Returns
        :class:`Prediction` with mean (S, P', T') float32, var and members when asked.
        MC sample k runs with its fixed masks for (mc_seed, k) (see mc_dropout.py), the same for
        every sequence and batch: results do not depend on batch_size. The estimated peak
        (seqnn_engine.memory.predict_plan) is checked against SEQNN_MAX_MEMORY_MB first and
        batch_size is lowered until a batch fits.
        """
        x = self.check_input(x)
        tidx = None if embed_penultimate else self.check_targets(target_indexes)
        from .mc_dropout import check_seed
        mc_seed = check_seed(mc_seed)
        if mc_n and not self.has_dropout:
            raise InputError("MC dropout needs dropout layers, and this model has none: set mc_n to 0")
        down_sample = int(down_sample)
        mems = ens.members(rc, shifts, mc_n)
        fn_plain = self._trunk_fn if embed_penultimate else self._predict_fn
        fn_mc = self._mc_predict_fn(embed_penultimate) if mc_n else None
        gather = None
        if not embed_penultimate and self.head_gather is not None:
            cols, fwd_sel, rc_sel = union_columns(tidx, rc, self.strand_pair)
            if cols.size < self.num_targets:     # only the requested columns (and their strand pairs)
                gather = (fwd_sel, rc_sel)
                cols_t = tf.constant(cols)
                fn_plain = lambda a: self._gather_fn(a, cols_t)             # noqa: E731
                if mc_n:
                    mc_fn = self._mc_gather_fn()
                    fn_mc = lambda a, s: mc_fn(a, s, cols_t)                  # noqa: E731
        out_len = self.net.trunk.output.shape[1] if embed_penultimate else self.target_length
        if down_sample < 1 or out_len % down_sample:
            raise InputError(f"down_sample must divide the {out_len} output bins, got {down_sample}")
        width = self.net.trunk.output.shape[2] if embed_penultimate else len(tidx)
        from .. import memory
        batch_size = memory.predict_plan(self, x.shape[0], len(mems), width, batch_size, return_var, return_all,
                                         out_len // down_sample, mc_n > 0).batch_size
        shape = (x.shape[0], out_len // down_sample, width)
        stats = ens.RunningStats(shape)
        allm = np.zeros(shape + (len(mems),), np.float32) if return_all else None
        sp = None if embed_penultimate else self.strand_pair

        def on_output(s, m, o):
            if gather is not None:
                o = o[::-1][:, gather[1]] if mems[m].rc else o[:, gather[0]]
            else:
                o = ens.unaugment_bins(o[None], mems[m], sp)[0]
                if tidx is not None:
                    o = o[:, tidx]
            if down_sample > 1:
                o = o.reshape(o.shape[0] // down_sample, down_sample, -1).mean(axis=1)
            stats.update(s, o)
            if allm is not None:
                allm[s, ..., m] = o

        self.run_members(x, mems, fn_plain, fn_mc, on_output, batch_size, progress, mc_seed)
        var = stats.variance().astype(np.float32) if return_var else None
        return Prediction(mean=stats.mean.astype(np.float32), var=var, members=allm,
                          member_labels=[m.label for m in mems], target_indexes=tidx)

    # ------------------------------------------------------------------ hidden
    def tap_indexes(self, layers) -> list[int]:
        """Resolve layer selectors (int index or tap name) to tap indexes."""
        names = [t.name for t in self.taps]
        out = []
        for lyr in (layers if isinstance(layers, (list, tuple)) else [layers]):
            if isinstance(lyr, (int, np.integer)) and 0 <= lyr < len(self.taps):
                out.append(int(lyr))
            elif isinstance(lyr, str) and lyr in names:
                out.append(names.index(lyr))
            else:
                raise InputError(f"unknown layer {lyr!r}: choose an index 0..{len(self.taps) - 1} or a name "
                                 f"from model.taps (e.g. {names[1] if len(names) > 1 else names[0]!r})")
        return out

    def hidden(self, x, layers, batch_size: int = 4) -> list[np.ndarray]:
        """Representations of the chosen layers: list of (S, P_l, U_l) float32 arrays."""
        import keras
        x = self.check_input(x)
        idx = self.tap_indexes(layers)
        key = ("hidden", tuple(idx))

        def make():
            m = keras.Model(self.net.inputs, [self.net.tap_tensors[i] for i in idx])
            return tf.function(lambda a: m(a, training=False),
                               input_signature=[tf.TensorSpec((None, self.seq_length, 4), tf.float32)])
        fn = self._fn(key, make)
        outs = [[] for _ in idx]
        for b0 in range(0, x.shape[0], batch_size):
            r = fn(tf.constant(x[b0:b0 + batch_size]))
            r = r if isinstance(r, (list, tuple)) else [r]
            for o, a in zip(outs, r):
                o.append(a.numpy().astype(np.float32, copy=False))
        return [np.concatenate(o) for o in outs]

    # ------------------------------------------------------------------ attribution
    def gradients(self, x, layers=(0,), targets=None, positions=None, **kw):
        """Layer gradients; see :func:`seqnn_engine.attribution.layer_gradients`."""
        from ..attribution.layer_grads import layer_gradients
        return layer_gradients(self, x, layers=layers, targets=targets, positions=positions, **kw)

    def attribute(self, x, method="saliency", targets=None, positions=None, **kw):
        """Input attributions; see :func:`seqnn_engine.attribution.input_attr.attribute`."""
        from ..attribution.input_attr import attribute
        return attribute(self, x, method=method, targets=targets, positions=positions, **kw)

    def summary(self) -> dict:
        """Plain-dict model summary for display."""
        return {"name": self.name, "head": self.spec.head_names[self.head], "seq_length": self.seq_length,
                "target_length": self.target_length, "stride": self.stride, "crop": self.crop,
                "num_targets": self.num_targets, "n_params": self.n_params,
                "strand_pair": self.strand_pair is not None, "dropout": self.has_dropout,
                "precision": self.precision, "random_weights_seed": self.seed,
                "layers": [t.describe() for t in self.taps]}


def load_model(params_path, weights_path, head=0, targets_path=None, name: str = "", precision: str = "float32",
               seed: Optional[int] = None) -> SeqModel:
    """Build the model of ``params_path`` (head ``head``) and load ``weights_path`` into it.

    The architecture comes only from params.json; weights may be legacy Keras 2
    HDF5 (full or weights-only) or Keras 3 ``.weights.h5``, whatever the name.
    weights_path None: seeded random initial weights instead (``seed``, default 0; the
    same seed gives the same weights), e.g. an untrained control or an architecture whose
    trained weights are not at hand. precision: 'float32' (default) or 'bfloat16' (see
    :mod:`seqnn_engine.model.precision`; outputs stay float32). ``model.digest`` covers
    params, weights (or the seed), targets.txt, head and precision
    (:func:`seqnn_engine.batch.store.model_digest`). Raises InputError with what to fix on any problem.
    """
    from ..batch.store import model_digest
    from .precision import check_precision

    precision = check_precision(precision)
    if weights_path is not None and seed is not None:
        raise InputError("seed gives random weights: pass weights_path=None to use it, or drop the seed")
    if weights_path is None:
        try:
            seed = 0 if seed is None else int(seed)
        except (TypeError, ValueError):
            raise InputError(f"seed must be an integer, got {seed!r}") from None
    spec = parse_params(params_path)
    head_i = spec.head_index(head)
    net = build_network(spec, head_i, precision=precision, seed=seed)
    if weights_path is not None:
        load_weights(net.layers, weights_path)
    targets = None
    if targets_path is not None:
        from .targets import read_targets
        targets = read_targets(targets_path)
        if len(targets) != net.num_targets:
            raise InputError(f"targets file {Path(targets_path).name} lists {len(targets)} targets but head "
                             f"{head_i} predicts {net.num_targets}: use the targets file of this model/head")
    digest = model_digest(params_path, weights_path, head_i, targets_path, precision=precision, seed=seed)
    if not name and weights_path is None:
        name = f"{spec.head_names[head_i]} (random weights, seed {seed})"
    model = SeqModel(spec, net, head_i, digest=digest, targets=targets, name=name)
    model.precision, model.seed = precision, seed
    return model
