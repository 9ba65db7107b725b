"""Build a Keras 3 network from a :class:`ModelSpec` (one head at a time).

The builder walks the trunk and the chosen head, calling registry builders with
model globals filled in, records every layer in creation order (the order legacy
weights load by), the tappable representations, and the geometry. The same layer
objects can be replayed into a second graph whose dropout is always on (MC
dropout) so the shared inference model is never switched to training mode.
"""
from __future__ import annotations

import inspect
import re
import warnings
from collections import defaultdict
from dataclasses import dataclass, field

import keras

from ..errors import InputError
from .blocks import BLOCKS, KERAS_LAYERS, accepted_params
from .layers import Activate, MCDropout, MultiheadAttention, NarrowConv1D
from .mc_dropout import DropoutSite
from .precision import check_precision, dtype_policy
from .spec import GLOBAL_KEYS, ModelSpec, ParamsWarning


def _snake(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


@dataclass(frozen=True)
class Tap:
    """A tappable representation: name, length P_l, width U_l, and stride (bp per position)."""

    index: int
    name: str
    length: int
    width: int
    stride: int
    offset: int = 0

    def describe(self) -> str:
        return f"{self.index}: {self.name} ({self.length} x {self.width}, {self.stride} bp/position)"


# layers that compute in bfloat16 under precision='bfloat16' (see _Context.layer_dtype)
BF16_LAYERS = (keras.layers.Conv1D, keras.layers.SeparableConv1D, keras.layers.Dense, MultiheadAttention)


def _initializer_params(cls) -> list:
    """(name, default) of the constructor parameters of ``cls`` that take an initializer."""
    sig = inspect.signature(cls.__init__)
    return [(n, p.default) for n, p in sig.parameters.items() if n.endswith("initializer")]


class _Context:
    """Layer factory + bookkeeping shared by block builders.

    policy: Keras dtype policy of the trunk's matmul layers (None = float32; see
    :meth:`layer_dtype`). init_seed: a
    ``keras.random.SeedGenerator`` from which every random initializer draws its seed, in
    creation order (reproducible random weights), or None for Keras' default seeding.
    seed: the (2,) int32 MC seed tensor of an MC-dropout graph (None: plain dropout).
    mc_window: (the full-length network's DropoutSite list, start tensor (1,) int32 in bp) when
    this graph computes a window of a longer network: its MC masks are rows of the full ones.
    """

    def __init__(self, seq_length, replay=None, seed=None, policy=None, init_seed=None, mc_window=None):
        self.seq_length = seq_length
        self.policy = policy
        self.init_seed = init_seed
        self.in_head = False
        self.created = []
        self.replay = replay
        self.cursor = 0
        self.counts = defaultdict(int)
        self.reprs = []
        self.taps = []           # (name, tensor)
        self.prefix = ""
        self.seed = seed
        self.n_dropout = 0
        self.dropout_sites = []  # DropoutSite per dropout layer, in index order
        self.mc_window = mc_window
        self.crop_from = None    # (length before the first crop op)
        self.cropped = 0         # positions cropped from each side so far
        self.last_dense = None   # (Dense layer, its input, its output) of the latest Dense applied by dense()

    def layer(self, cls, **kw):
        if self.replay is not None:
            lyr = self.replay[self.cursor]
            self.cursor += 1
            return lyr
        base = getattr(cls, "name_base", None) or _snake(cls.__name__)
        n = self.counts[base]
        self.counts[base] += 1
        if self.init_seed is not None:
            kw = self._seeded(cls, kw)
        dtype = self.layer_dtype(cls, kw)
        if dtype is not None:
            kw["dtype"] = dtype
        lyr = cls(name=base if n == 0 else f"{base}_{n}", **kw)
        self.created.append(lyr)
        return lyr

    def layer_dtype(self, cls=None, kw=None):
        """The dtype policy a new layer gets (None: Keras' float32 default).

        Under bfloat16 only the trunk's matmul layers (convolutions, dense, attention) take
        the mixed policy; norms, activations, pooling, residual adds and dropout stay float32
        (they are memory-bound, and float32 there keeps the gradients close to float32's),
        and so do the convolution on the one-hot input (NarrowConv1D: cheap, and the last
        step of the input gradient) and every head layer.
        """
        if self.policy is None or self.in_head or cls is None:
            return None
        if issubclass(cls, BF16_LAYERS) and not issubclass(cls, NarrowConv1D):
            return self.policy
        return None

    def _seeded(self, cls, kw):
        """``kw`` with every random initializer of ``cls`` (given or default) drawing from init_seed."""
        kw = dict(kw)
        for name, default in _initializer_params(cls):
            value = kw.get(name, default)
            if value is inspect.Parameter.empty or value is None:
                continue
            init = keras.initializers.get(value)
            if hasattr(init, "seed"):     # a random initializer: same kind and config, seeded
                init = type(init)(**{**init.get_config(), "seed": self.init_seed})
            kw[name] = init
        return kw

    def dense(self, lyr, x):
        """Apply a Dense layer to x, remembering it (the head gather needs the final Dense's input)."""
        y = lyr(x)
        self.last_dense = (lyr, x, y)
        return y

    def dropout(self, x, rate):
        """Dropout of rate ``rate`` on x: the plain (inference, identity) layer, or with ``seed`` an
        MCDropout with the fixed mask of one MC sample (see mc_dropout.py). Every dropout is
        recorded as a DropoutSite (index, layer, rate, shape without batch, stride)."""
        if not rate or rate <= 0:
            return x
        lyr = self.layer(keras.layers.Dropout, rate=rate)
        i = self.n_dropout
        self.n_dropout += 1
        shape = tuple(int(d) for d in x.shape[1:])
        full = shape[0] + 2 * self.cropped if len(shape) == 2 else 0
        stride = self.seq_length // full if full and self.seq_length % full == 0 else 0
        self.dropout_sites.append(DropoutSite(i, lyr, float(rate), shape, stride))
        if self.seed is None:
            return lyr(x)
        # float32 under bfloat16 too: the masks are those of the float32 model
        if self.mc_window is None:
            return MCDropout(rate, i, name=f"mc_dropout_{i}")([x, self.seed])
        sites, start = self.mc_window
        return MCDropout(rate, i, full_shape=sites[i].shape, stride=sites[i].stride,
                         name=f"mc_dropout_{i}")([x, self.seed, start])

    def save_repr(self, x, name, tower=True):
        if tower:
            self.reprs.append(x)
        self.tap(f"{self.prefix}.{name}", x)

    def tap(self, name, x):
        self.taps.append((name, x, self.cropped))

    def note_crop(self, before, after):
        if self.crop_from is None:
            self.crop_from = before
        self.cropped += (before - after) // 2


def _unique_taps(recorded):
    """3-D tapped tensors in first-seen order; a tensor recorded twice (a tower's last repeat is
    also the block output) keeps its last, block-level name."""
    order, last = [], {}
    for name, t, cropped in recorded:
        if len(t.shape) != 3:
            continue
        if id(t) not in last:
            order.append(id(t))
        last[id(t)] = (name, t, cropped)
    return [last[i] for i in order]


def _filter_params(params, accepted, spec: ModelSpec, where: str, kind: str, warn: list) -> dict:
    """Globals the builder accepts, overridden by the block's own params; unknown params warn."""
    args = {k: v for k, v in spec.globals.items() if k in accepted}
    for k, v in params.items():
        if k == "name":
            continue
        if k not in accepted:
            msg = f"{where}: parameter {k!r} is not known to {kind} {params['name']!r} (ignored)"
            warn.append(msg)
            warnings.warn(msg, ParamsWarning, stacklevel=4)
            continue
        args[k] = v
    return args


def _keras_block(ctx, x, params, spec, where, warn):
    name = params["name"]
    cls = KERAS_LAYERS[name]
    sig = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
    args = _filter_params(params, sig, spec, where, "Keras layer", warn)
    if name == "Dropout":
        return ctx.dropout(x, args.get("rate", 0))
    if name == "Cropping1D":
        c = args.get("cropping", (1, 1))
        c = (c, c) if isinstance(c, int) else tuple(c)
        ctx.note_crop(x.shape[1], x.shape[1] - sum(c))
    try:
        lyr = ctx.layer(cls, **args)
        return ctx.dense(lyr, x) if name == "Dense" else lyr(x)
    except (TypeError, ValueError) as e:
        raise InputError(f"{where}: Keras layer {name} rejected its parameters {args}: {e}") from None


# what a builder or Keras raises for malformed block parameters (wrong types, impossible shapes)
_PARAM_ERRORS = (TypeError, ValueError, KeyError, AttributeError, IndexError, ZeroDivisionError, OverflowError)


def _build_block(ctx, x, params, spec, where, warn):
    """Build one block; any failure caused by its parameters is an InputError naming the block."""
    try:
        return _build_block_unchecked(ctx, x, params, spec, where, warn)
    except InputError:
        raise
    except _PARAM_ERRORS as e:
        raise InputError(f"{where}: block {params.get('name')!r} could not be built with {params!r:.300}: "
                         f"{type(e).__name__}: {str(e)[:300]}") from None


def _build_block_unchecked(ctx, x, params, spec, where, warn):
    name = params["name"]
    if name[:1].isupper():
        if name not in KERAS_LAYERS:
            raise InputError(f"{where}: unknown Keras layer {name!r}; supported capitalised names: "
                             f"{', '.join(sorted(KERAS_LAYERS))}")
        return _keras_block(ctx, x, params, spec, where, warn)
    if name not in BLOCKS:
        raise InputError(f"{where}: unknown block {name!r}; supported blocks: {', '.join(sorted(BLOCKS))}")
    fn = BLOCKS[name]
    args = _filter_params(params, accepted_params(fn), spec, where, "block", warn)
    if name.startswith("unet_"):
        match = None
        for r in reversed(ctx.reprs[:-1]):
            if r.shape[1] == x.shape[1] * args.get("stride", 2):
                match = r
                break
        if match is None:
            raise InputError(f"{where}: {name} found no earlier representation of length "
                             f"{x.shape[1] * args.get('stride', 2)} to merge with")
        args["unet_repr"] = match
    try:
        return fn(ctx, x, **args)
    except NotImplementedError as e:
        raise InputError(f"{where}: block {name!r} option not supported by this engine: {e}") from None
    except (TypeError, ValueError) as e:
        raise InputError(f"{where}: block {name!r} could not be built with {params}: {e}") from None


@dataclass
class Network:
    """A built head: Keras models and metadata.

    model: x (B, L, 4) -> predictions (B, P, T). trunk: x -> trunk output (B, P0, U).
    layers: every created layer in creation order. taps: tappable representations
    (index 0 = the one-hot input). tap_tensors: matching symbolic tensors.
    final_dense / head_input: the Dense layer that produces the model's output and its
    input tensor (B, P, C), when the output is exactly that layer's output (the head
    gather evaluates it for a few targets); None otherwise (e.g. a centre slice after it).
    dropout_sites: every dropout layer (mc_dropout.DropoutSite), in mask-index order.
    """

    model: keras.Model
    trunk: keras.Model
    inputs: object
    layers: list
    taps: list
    tap_tensors: list
    n_dropout: int
    stride: int
    crop: int
    target_length: int
    num_targets: int
    warnings: list
    final_dense: object = None
    head_input: object = None
    precision: str = "float32"
    dropout_sites: list = field(default_factory=list)


def _final_dense(ctx, out):
    """(Dense layer, input tensor) when ``out`` is the output of the last Dense applied, else (None, None)."""
    if ctx.last_dense is None:
        return None, None
    lyr, x, y = ctx.last_dense
    if y is not out or len(x.shape) != 3 or len(lyr.kernel.shape) != 2:
        return None, None
    return lyr, x


def _walk(ctx, spec: ModelSpec, head_i: int, x, warn):
    ctx.tap("input", x)
    for i, b in enumerate(spec.trunk):
        ctx.prefix = f"trunk.{i}.{b['name']}"
        x = _build_block(ctx, x, b, spec, f"trunk[{i}] ({b['name']})", warn)
        ctx.reprs.append(x)
        ctx.tap(ctx.prefix, x)
    act = spec.globals.get("activation")
    if act and act != "linear":
        x = ctx.layer(Activate, kind=act)(x)
    trunk_out = x
    ctx.tap("trunk.output", x)
    ctx.in_head = True
    hname = spec.head_names[head_i]
    for i, b in enumerate(spec.heads[head_i]):
        ctx.prefix = f"{hname}.{i}.{b['name']}"
        x = _build_block(ctx, x, b, spec, f"{hname}[{i}] ({b['name']})", warn)
    return trunk_out, x


def build_network(spec: ModelSpec, head: int = 0, precision: str = "float32", seed=None) -> Network:
    """Build the trunk plus head ``head`` of ``spec`` as Keras 3 models.

    precision: 'float32' | 'bfloat16' (see :mod:`.precision`). seed: None (Keras' own
    initial weights, overwritten by loaded weights) or an int: every random initializer
    draws from ``keras.random.SeedGenerator(seed)`` in creation order, so the same seed
    gives the same weights, whatever the global random state.
    """
    head_i = spec.head_index(head)
    precision = check_precision(precision)
    warn = list(spec.warnings)
    init_seed = None if seed is None else keras.random.SeedGenerator(int(seed))
    ctx = _Context(spec.seq_length, policy=dtype_policy(precision), init_seed=init_seed)
    inp = keras.Input(shape=(spec.seq_length, 4), name="sequence")
    trunk_out, out = _walk(ctx, spec, head_i, inp, warn)
    if len(out.shape) != 3:
        raise InputError(f"the model output has shape {out.shape}; expected (batch, bins, targets)")
    model = keras.Model(inp, out, name=f"seqnn_{spec.head_names[head_i]}")
    trunk = keras.Model(inp, trunk_out, name="seqnn_trunk")
    precrop = ctx.crop_from if ctx.crop_from is not None else out.shape[1]
    if spec.seq_length % precrop:
        raise InputError(f"seq_length {spec.seq_length} is not a multiple of the uncropped output length "
                         f"{precrop}: check pooling/cropping blocks")
    stride = spec.seq_length // precrop
    crop = (precrop - out.shape[1]) // 2
    final_dense, head_input = _final_dense(ctx, out)
    taps = []
    tensors = []
    for name, t, cropped in _unique_taps(ctx.taps):
        full = t.shape[1] + 2 * cropped
        st = spec.seq_length // full if spec.seq_length % full == 0 else 0
        taps.append(Tap(len(taps), name, int(t.shape[1]), int(t.shape[2]), st, cropped * st))
        tensors.append(t)
    return Network(model=model, trunk=trunk, inputs=inp, layers=ctx.created, taps=taps, tap_tensors=tensors,
                   n_dropout=ctx.n_dropout, stride=stride, crop=crop, target_length=int(out.shape[1]),
                   num_targets=int(out.shape[2]), warnings=warn, final_dense=final_dense,
                   head_input=head_input, precision=precision, dropout_sites=list(ctx.dropout_sites))


def build_mc_graph(spec: ModelSpec, net: Network, head: int = 0, record: dict | None = None):
    """A graph sharing ``net``'s layers whose dropout is always on, with the fixed masks of
    the MC sample named by its seed input (``[[mc_seed, k]]``; see mc_dropout.py).

    Returns ((x, seed) symbolic inputs: x (B, L, 4), seed (1, 2) int32), the tap
    tensors (same order as ``net.taps``) and the prediction tensor. Layers are replayed, so no
    weights are created or copied. ``record``, when given, receives ``head_input``: the
    final Dense's input tensor in this graph (None where ``net`` has no head gather).
    """
    head_i = spec.head_index(head)
    x = keras.Input(shape=(spec.seq_length, 4), name="sequence")
    seed = keras.Input(shape=(2,), batch_size=1, dtype="int32", name="seed")
    seed_vec = keras.ops.reshape(seed, (2,))
    ctx = _Context(spec.seq_length, replay=net.layers, seed=seed_vec, policy=dtype_policy(net.precision))
    _, out = _walk(ctx, spec, head_i, x, [])
    tensors = [t for _, t, _ in _unique_taps(ctx.taps)]
    if record is not None:
        lyr, pre = _final_dense(ctx, out)
        record["head_input"] = pre if lyr is net.final_dense and lyr is not None else None
    return (x, seed), tensors, out


def build_window_graph(spec: ModelSpec, net: Network, length: int, head: int = 0, mc: bool = False):
    """The network replayed on inputs of ``length`` bp (a window of the full input; sub-window ISM).

    Returns (inputs, prediction tensor). inputs: [x (B, length, 4)], or with ``mc``
    [x, seed (1, 2) int32, start (1,) int32]: dropout always on with the masks of the
    full-length network's MC sample ``seed``, read from the rows of the window that starts at
    bp ``start`` of the full input (a multiple of every dropout layer's stride).
    """
    head_i = spec.head_index(head)
    x = keras.Input(shape=(length, 4))
    if not mc:
        ctx = _Context(length, replay=net.layers)
        _, out = _walk(ctx, spec, head_i, x, [])
        return [x], out
    seed = keras.Input(shape=(2,), batch_size=1, dtype="int32", name="seed")
    start = keras.Input(shape=(1,), batch_size=1, dtype="int32", name="start")
    ctx = _Context(length, replay=net.layers, seed=keras.ops.reshape(seed, (2,)),
                   mc_window=(net.dropout_sites, start))
    _, out = _walk(ctx, spec, head_i, x, [])
    return [x, seed, start], out
