"""Hypothesis-fuzzed corpus of user files: every malformed input must raise InputError (a message the
app shows), never any other exception.

Covered here: params.json (random JSON structures, random block lists and mutations of real params ->
parse_params + build_network), mutated real targets.txt and GTF lines, HDF5 test sets (random
datasets, shapes and dtypes written with h5py; corrupted bytes of a valid file) -> open_dataset and
iterating every batch, Baskerville TFRecord directories (random / truncated / bit-flipped record
files, random statistics.json, records with wrong fields) and weights files (random bytes, truncated
and bit-flipped real files, random HDF5 layouts) -> load_weights.

Elsewhere: FASTA (tests/test_sequences.py: random text/bytes and FASTA-like alphabets), targets.txt
(tests/test_targets.py: random text and table cells), GTF/GFF3 (tests/test_genes.py: random text and
GTF-like rows). Bounded: each test runs 60-150 examples with no deadline; the file takes well under
a minute on 2 cores.
"""
from __future__ import annotations

import copy
import itertools
import json
import os
import warnings
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import write_legacy_layers
from seqnn_engine import InputError

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "assets" / "demo"


def fuzz(n: int) -> settings:
    """Bounded fuzzing: n examples (times $SEQNN_FUZZ_SCALE for a deeper local run), no deadline
    (model building takes ~0.3 s)."""
    return settings(max_examples=n * max(1, int(os.environ.get("SEQNN_FUZZ_SCALE", "1") or 1)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])
_COUNTER = itertools.count()


def only_input_errors(fn, *args, **kw):
    """Call fn; InputError -> None (the expected refusal); any other exception propagates (a bug)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(*args, **kw)
        except InputError as e:
            assert str(e).strip(), "an InputError must carry a message"
            return None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def fresh(workdir: Path, suffix: str) -> Path:
    return workdir / f"f{next(_COUNTER)}{suffix}"


# ============================================================================= params.json

SMALL_PARAMS = {"model": {
    "seq_length": 256, "augment_rc": True, "augment_shift": 1, "strand_pair": [[0, 2, 1]],
    "activation": "gelu", "norm_type": "batch", "bn_momentum": 0.9, "kernel_initializer": "he_normal",
    "trunk": [
        {"name": "conv_dna", "filters": 8, "kernel_size": 7, "pool_size": 2, "norm_type": None},
        {"name": "res_tower", "filters_init": 8, "filters_end": 12, "divisible_by": 4, "kernel_size": 3,
         "num_convs": 2, "pool_size": 2, "repeat": 2},
        {"name": "dilated_residual", "filters": 8, "rate_mult": 2, "repeat": 2, "dropout": 0.1,
         "kernel_size": 3},
        {"name": "Cropping1D", "cropping": 2},
    ],
    "head": {"name": "final", "units": 3, "activation": "softplus"},
}}
TX_PARAMS = {"model": {
    "seq_length": 128, "activation": "relu", "norm_type": "layer",
    "trunk": [
        {"name": "conv_dna", "filters": 8, "kernel_size": 5, "pool_size": 4},
        {"name": "conv_tower", "filters_init": 8, "filters_mult": 1.5, "repeat": 1, "kernel_size": 3,
         "pool_size": 2},
        {"name": "transformer_tower", "key_size": 4, "heads": 2, "repeat": 1, "num_position_features": 4,
         "value_size": 4},
        {"name": "unet_conv", "stride": 2},
        {"name": "Cropping1D", "cropping": 1},
    ],
    "head_human": {"name": "final", "units": 2}, "head_mouse": [{"name": "final", "units": 1}],
}}


def _block_names():
    from seqnn_engine.model.blocks import BLOCKS, KERAS_LAYERS
    return sorted(BLOCKS) + sorted(KERAS_LAYERS)


def _param_names():
    from seqnn_engine.model.blocks import BLOCKS, accepted_params
    names = set()
    for fn in BLOCKS.values():
        names |= accepted_params(fn)
    return sorted(names | {"cropping", "rate", "units", "pool_size", "strides", "size"})


# small scalars only: the point is malformed values, not models too large for the CI machine
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 40), st.sampled_from([0, 1, 2, 3, 4, 7, 8, 16, 0.5, 1.5, -0.1]),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from(["relu", "gelu", "softplus", "linear", "batch", "layer", "same", "valid", "max",
                     "he_normal", "", "x", "1", "nan", "sum"]),
    st.text(max_size=6),
)
JSON = st.recursive(SCALARS, lambda c: st.one_of(st.lists(c, max_size=4),
                                                  st.dictionaries(st.text(max_size=6), c, max_size=4)),
                    max_leaves=12)


@st.composite
def random_block(draw):
    name = draw(st.one_of(st.sampled_from(_block_names()), st.text(max_size=8)))
    keys = draw(st.lists(st.sampled_from(_param_names()), max_size=4, unique=True))
    block = {k: draw(SCALARS) for k in keys}
    if draw(st.integers(0, 9)):
        block["name"] = name
    return block


@st.composite
def random_params(draw):
    model = {}
    if draw(st.integers(0, 9)):
        model["seq_length"] = draw(st.one_of(st.sampled_from([128, 256, 255, 0, -4, 64, "256", 2.5]), SCALARS))
    if draw(st.integers(0, 9)):
        model["trunk"] = draw(st.one_of(st.lists(random_block(), min_size=1, max_size=4), JSON))
    head = draw(st.sampled_from(["head", "head_0", "head1", "header", None]))
    if head:
        model[head] = draw(st.one_of(random_block(), st.lists(random_block(), max_size=2), JSON))
    for k in draw(st.lists(st.sampled_from(["activation", "norm_type", "bn_momentum", "strand_pair",
                                            "augment_shift", "l2_scale", "padding", "train"]), max_size=3)):
        model[k] = draw(JSON)
    wrap = draw(st.integers(0, 4))
    return model if wrap == 0 else {"model": model, **({"train": draw(JSON)} if wrap == 1 else {})}


def _paths(obj, prefix=()):
    """Every path (tuple of keys / indexes) inside a JSON tree, the root excluded."""
    out = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        out.append(prefix + (k,))
        out += _paths(v, prefix + (k,))
    return out


@st.composite
def mutated_params(draw, base):
    p = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(p)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = p
        for k in path[:-1]:
            parent = parent[k]
        op = draw(st.sampled_from(["replace", "replace", "delete", "duplicate", "rename"]))
        key = path[-1]
        if op == "replace":
            parent[key] = draw(JSON)
        elif op == "delete":
            del parent[key]
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["name", "filters", "head_x", "trunk", "seq_length", "zz"]))] = \
                parent.pop(key)
    return p


def parse_and_build(params, head=0):
    from seqnn_engine.model.build import build_network
    from seqnn_engine.model.spec import parse_params
    spec = parse_params(params)
    net = build_network(spec, head)
    assert net.target_length >= 1 and net.num_targets >= 1 and net.stride >= 1


@fuzz(150)
@given(st.one_of(random_params().map(json.dumps), JSON.map(json.dumps), st.text(max_size=40).map(lambda s: "{" + s)))
def test_fuzz_params_random(workdir, text):
    """A params.json file holding random JSON (or broken JSON text)."""
    p = fresh(workdir, ".json")
    p.write_text(text)
    only_input_errors(parse_and_build, p)


@fuzz(80)
@given(st.one_of(mutated_params(SMALL_PARAMS), mutated_params(TX_PARAMS)), st.sampled_from([0, 1, "head_mouse"]))
def test_fuzz_params_mutated(params, head):
    only_input_errors(parse_and_build, params, head)


def test_params_fuzz_bases_build():
    """The unmutated bases build (so mutations start from real, working params)."""
    parse_and_build(SMALL_PARAMS)
    parse_and_build(TX_PARAMS, 1)


@fuzz(60)
@given(st.binary(max_size=200))
def test_fuzz_params_file_bytes(workdir, data):
    from seqnn_engine.model.spec import parse_params
    p = fresh(workdir, ".json")
    p.write_bytes(b"{" + data)
    only_input_errors(parse_params, p)


# ============================================================================= targets.txt, GTF

def _mutate_lines(draw, lines, cell_values):
    lines = list(lines)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["cell", "cell", "drop_line", "dup_line", "cut", "crlf", "drop_cell"]))
        cells = lines[i].split("\t")
        if op == "cell":
            cells[draw(st.integers(0, len(cells) - 1))] = draw(cell_values)
            lines[i] = "\t".join(cells)
        elif op == "drop_cell" and len(cells) > 1:
            del cells[draw(st.integers(0, len(cells) - 1))]
            lines[i] = "\t".join(cells)
        elif op == "drop_line" and len(lines) > 1:
            del lines[i]
        elif op == "dup_line":
            lines.insert(i, lines[i])
        elif op == "cut":
            lines[i] = lines[i][:draw(st.integers(0, len(lines[i])))]
        elif op == "crlf":
            lines[i] = lines[i] + "\r"
    return "\n".join(lines) + "\n"


TARGET_CELLS = st.one_of(st.sampled_from(["", "-1", "0", "99", "1e999", "nan", "x", "sum", "mean", "0.5",
                                          "CAGE", "+", " "]), st.text(max_size=5))
GTF_CELLS = st.one_of(st.sampled_from(["", ".", "+", "-", "?", "0", "-5", "1", "99999999999", "exon", "gene",
                                       "transcript", "chrUn", 'gene_id "X";', 'transcript_id "T";', '"', "x;y"]),
                      st.text(max_size=5))


@fuzz(150)
@given(st.data())
def test_fuzz_targets_mutated_real(data):
    from seqnn_engine.model.targets import parse_targets
    lines = (DEMO / "targets.txt").read_text().splitlines()
    text = _mutate_lines(data.draw, lines, TARGET_CELLS)
    t = only_input_errors(parse_targets, text)
    if t is not None:
        assert len(t) >= 1 and len(t.strand) == len(t)


@fuzz(150)
@given(st.data(), st.sampled_from([0, 40, 200]))
def test_fuzz_gtf_mutated_real(data, start):
    from seqnn_engine.genomics.genes import GeneSet, gene_window
    lines = (DEMO / "genes.gtf").read_text().splitlines()[start:start + 30]
    text = _mutate_lines(data.draw, lines, GTF_CELLS)
    gs = only_input_errors(GeneSet.parse, text, format="gtf")
    for g in gs or ():
        assert g.start < g.end and g.strand in "+-"
        only_input_errors(gene_window, g, 256, 8, 2)


# ============================================================================= HDF5 test sets

DTYPES = ["bool", "uint8", "int8", "int16", "int64", "float16", "float32", "float64", "complex64", "S3",
          "vlen_str", "compound"]


def _h5_data(draw, shape, dtype):
    n = int(np.prod(shape)) if shape else 1
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    if dtype == "vlen_str":
        return np.array(["a" * int(i) for i in rng.integers(0, 4, n)], dtype=object).reshape(shape), \
            h5py.string_dtype()
    if dtype == "compound":
        dt = np.dtype([("a", "i4"), ("b", "f4")])
        return np.zeros(shape, dt), dt
    if dtype == "S3":
        return np.full(shape, b"ab", dtype="S3"), "S3"
    vals = rng.normal(0, 2, n)
    special = draw(st.sampled_from([None, np.nan, np.inf, 300.0]))
    if special is not None and n:
        vals[0] = special
    with np.errstate(invalid="ignore", over="ignore"):
        arr = vals.astype(dtype) if dtype != "bool" else vals > 0
    return arr.reshape(shape), dtype


@st.composite
def h5_testset(draw):
    layout = draw(st.sampled_from(["basenji", "plain", "basenji_valid", "random"]))
    kx, ky = {"basenji": ("test_in", "test_out"), "plain": ("sequences", "targets"),
              "basenji_valid": ("valid_in", "valid_out"), "random": ("x", "y")}[layout]
    n = draw(st.integers(0, 4))
    L = draw(st.sampled_from([0, 1, 8, 16]))
    P = draw(st.sampled_from([0, 1, 4]))
    T = draw(st.sampled_from([0, 1, 3]))
    entries = {}
    for key, good_shape in ((kx, (n, L, 4)), (ky, (n, P, T))):
        kind = draw(st.sampled_from(["good", "good", "good", "shape", "group", "missing", "scalar"]))
        if kind == "missing":
            continue
        if kind == "group":
            entries[key] = "group"
            continue
        shape = good_shape if kind == "good" else () if kind == "scalar" else tuple(
            draw(st.lists(st.integers(0, 5), min_size=1, max_size=4)))
        entries[key] = (shape, draw(st.sampled_from(DTYPES[:8]) if draw(st.integers(0, 3)) else st.sampled_from(DTYPES)))
    for extra in draw(st.lists(st.sampled_from(["target_ids", "target_labels", "test_in", "sequences"]),
                               max_size=2, unique=True)):
        if extra in entries:
            continue
        shape = draw(st.sampled_from([(T,), (T + 1,), (), (T, 2)]))
        entries[extra] = (shape, draw(st.sampled_from(["vlen_str", "S3", "int16", "float32", "compound"])))
    return entries, draw


def _write_h5(path, entries, draw):
    with h5py.File(path, "w") as f:
        for key, spec in entries.items():
            if spec == "group":
                f.create_group(key).create_dataset("inner", data=np.zeros(3))
                continue
            shape, dtype = spec
            arr, dt = _h5_data(draw, shape, dtype)
            f.create_dataset(key, data=arr, dtype=dt)


def open_and_read_all(path, split="test", batch_size=2):
    from seqnn_engine.analysis.datasets import open_dataset
    ts = open_dataset(path, split=split)
    n = 0
    for x, y in ts.batches(batch_size):
        assert x.dtype == np.float32 and y.dtype == np.float32
        assert x.shape[1:] == (ts.seq_length, 4) and y.shape[1:] == (ts.target_length, ts.num_targets)
        n += x.shape[0]
    assert n == ts.num_seqs
    assert len(ts.target_ids) == ts.num_targets
    return ts


@fuzz(150)
@given(h5_testset(), st.sampled_from(["test", "valid"]), st.integers(1, 3))
def test_fuzz_hdf5_testset(workdir, spec, split, batch_size):
    entries, draw = spec
    p = fresh(workdir, ".h5")
    _write_h5(p, entries, draw)
    only_input_errors(open_and_read_all, p, split, batch_size)


@pytest.fixture(scope="module")
def good_h5(workdir):
    from seqnn_engine.analysis.datasets import write_plain_hdf5
    rng = np.random.default_rng(0)
    p = workdir / "good.h5"
    write_plain_hdf5(p, np.eye(4, dtype=np.float32)[rng.integers(0, 4, (6, 64))],
                     rng.gamma(2, 1, (6, 8, 3)).astype(np.float32), ["a", "b", "c"], ["A", "B", "C"])
    open_and_read_all(p)
    return p.read_bytes()


def _corrupt(draw, data: bytes) -> bytes:
    op = draw(st.sampled_from(["truncate", "flip", "flip", "zero_block", "append"]))
    b = bytearray(data)
    if op == "truncate":
        return bytes(b[:draw(st.integers(0, len(b) - 1))])
    if op == "flip":
        for _ in range(draw(st.integers(1, 16))):
            i = draw(st.integers(0, len(b) - 1))
            b[i] ^= 1 << draw(st.integers(0, 7))
        return bytes(b)
    if op == "zero_block":
        i = draw(st.integers(0, len(b) - 1))
        b[i:i + draw(st.integers(1, 512))] = bytes(min(len(b) - i, 512))
        return bytes(b[:len(data)])
    return bytes(b) + draw(st.binary(min_size=1, max_size=64))


@fuzz(150)
@given(st.data())
def test_fuzz_hdf5_corrupted_bytes(workdir, good_h5, data):
    p = fresh(workdir, ".h5")
    p.write_bytes(_corrupt(data.draw, good_h5))
    only_input_errors(open_and_read_all, p, "test", 4)


# ============================================================================= TFRecord test sets

L_TF, P_TF, T_TF = 16, 4, 2


def _example(seq: bytes, target: bytes, extra: dict | None = None) -> bytes:
    import tensorflow as tf
    feats = {}
    if seq is not None:
        feats["sequence"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[seq]))
    if target is not None:
        feats["target"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[target]))
    for k, v in (extra or {}).items():
        feats[k] = tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


def _write_tfr(path, records: list[bytes]):
    import tensorflow as tf
    with tf.io.TFRecordWriter(str(path), tf.io.TFRecordOptions(compression_type="ZLIB")) as w:
        for r in records:
            w.write(r)


def _good_records(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return [_example(rng.integers(0, 5, L_TF).astype(np.uint8).tobytes(),
                     rng.gamma(2, 1, (P_TF, T_TF)).astype(np.float16).tobytes()) for _ in range(n)]


def _tfr_dir(workdir, stats, files: dict) -> Path:
    d = fresh(workdir, "_tfr")
    (d / "tfrecords").mkdir(parents=True)
    (d / "statistics.json").write_text(stats if isinstance(stats, str) else json.dumps(stats))
    for name, data in files.items():
        (d / "tfrecords" / name).write_bytes(data)
    return d


GOOD_STATS = {"seq_length": L_TF, "target_length": P_TF, "num_targets": T_TF, "seq_1hot": True,
              "pool_width": 4, "crop_bp": 0, "test_seqs": 3}


@pytest.fixture(scope="module")
def good_tfr(workdir):
    p = workdir / "good.tfr"
    _write_tfr(p, _good_records())
    d = _tfr_dir(workdir, GOOD_STATS, {"test-0.tfr": p.read_bytes()})
    ts = open_and_read_all(d)
    assert ts.num_seqs == 3
    return p.read_bytes()


@fuzz(100)
@given(st.data())
def test_fuzz_tfrecord_file_bytes(workdir, good_tfr, data):
    kind = data.draw(st.sampled_from(["corrupt", "corrupt", "random", "uncompressed"]))
    if kind == "corrupt":
        blob = _corrupt(data.draw, good_tfr)
    elif kind == "random":
        blob = data.draw(st.binary(max_size=300))
    else:
        blob = zlib.compress(b"".join(_good_records(1)))  # compressed protobufs without TFRecord framing
    stats = dict(GOOD_STATS)
    if data.draw(st.booleans()):
        stats.pop("test_seqs")  # records are then counted
    d = _tfr_dir(workdir, stats, {"test-0.tfr": blob})
    only_input_errors(open_and_read_all, d, "test", data.draw(st.integers(1, 3)))


@fuzz(100)
@given(st.data())
def test_fuzz_tfrecord_stats_and_records(workdir, data):
    stats = dict(GOOD_STATS)
    for k in data.draw(st.lists(st.sampled_from(sorted(GOOD_STATS)), max_size=3, unique=True)):
        if data.draw(st.booleans()):
            stats.pop(k)
        else:
            stats[k] = data.draw(JSON)
    stats_text = data.draw(st.one_of(st.just(json.dumps(stats, allow_nan=True)), JSON.map(json.dumps),
                                     st.text(max_size=20)))
    rng = np.random.default_rng(data.draw(st.integers(0, 100)))
    records = []
    for _ in range(data.draw(st.integers(0, 3))):
        seq_len = data.draw(st.sampled_from([L_TF, L_TF, 0, L_TF - 1, 4 * L_TF]))
        seq = rng.integers(0, data.draw(st.sampled_from([5, 5, 256])), seq_len).astype(np.uint8).tobytes()
        tgt = rng.normal(size=data.draw(st.sampled_from([P_TF * T_TF, P_TF * T_TF, 3]))).astype(
            data.draw(st.sampled_from(["float16", "float16", "float32"]))).tobytes()
        drop = data.draw(st.sampled_from([None, None, "sequence", "target"]))
        records.append(_example(None if drop == "sequence" else seq, None if drop == "target" else tgt,
                                {"extra": 1} if data.draw(st.booleans()) else None))
    p = fresh(workdir, ".tfr")
    _write_tfr(p, records)
    d = _tfr_dir(workdir, stats_text, {"test-0.tfr": p.read_bytes()})
    if data.draw(st.booleans()):
        (d / "targets.txt").write_text(data.draw(st.sampled_from([
            "\tidentifier\tdescription\n0\ta\tA\n1\tb\tB\n", "\tidentifier\n0\ta\n", "garbage", ""])))
    only_input_errors(open_and_read_all, d, data.draw(st.sampled_from(["test", "valid", "t*st"])),
                      data.draw(st.integers(1, 3)))


# ============================================================================= weights files

@pytest.fixture(scope="module")
def weight_net(workdir):
    """(network, Keras 3 weights bytes, legacy weights bytes) of a small model."""
    import keras

    from seqnn_engine.model.build import build_network
    from seqnn_engine.model.spec import parse_params
    from seqnn_engine.model.weights import load_weights, save_weights
    keras.utils.set_random_seed(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = build_network(parse_params(SMALL_PARAMS), 0)
    k3 = workdir / "w.weights.h5"
    save_weights(net.layers, k3)
    # a legacy Keras 2 weights-only layout of the same layers (written by hand: layer_names + weight_names)
    legacy = workdir / "legacy.h5"
    with h5py.File(legacy, "w") as f:
        write_legacy_layers(f, net.layers, "w")
    assert load_weights(net.layers, k3) == "keras3"
    assert load_weights(net.layers, legacy) == "legacy"
    return net, k3.read_bytes(), legacy.read_bytes()


@st.composite
def random_weights_h5(draw):
    layout = draw(st.sampled_from(["keras3", "legacy_root", "legacy_full", "empty"]))
    entries = []
    for _ in range(draw(st.integers(0, 4))):
        entries.append((draw(st.text(alphabet="abcv0123_/", min_size=1, max_size=12)),
                        tuple(draw(st.lists(st.integers(0, 4), max_size=3))),
                        draw(st.sampled_from(["float32", "float16", "int8", "S2", "vlen_str"]))))
    attr_names = draw(st.lists(st.text(alphabet="abc_0/", max_size=6), max_size=3))
    return layout, entries, attr_names


def _write_weights(path, spec, draw):
    layout, entries, attr_names = spec
    with h5py.File(path, "w") as f:
        root = {"keras3": lambda: f.create_group("layers"), "legacy_root": lambda: f,
                "legacy_full": lambda: f.create_group("model_weights"), "empty": lambda: f}[layout]()
        if layout.startswith("legacy"):
            root.attrs["layer_names"] = [a.encode() for a in attr_names]
            for a in attr_names:
                if a and a not in root and draw(st.booleans()):
                    g = root.require_group(a)
                    g.attrs["weight_names"] = [e[0].encode() for e in entries]
        for name, shape, dtype in entries:
            try:
                arr, dt = _h5_data(draw, shape, dtype)
                root.create_dataset(name.strip("/") or "x", data=arr, dtype=dt)
            except (ValueError, TypeError):   # h5py refuses some names (already exists, empty parts)
                pass


@fuzz(120)
@given(st.data())
def test_fuzz_weights_files(workdir, weight_net, data):
    from seqnn_engine.model.weights import load_weights
    net, k3, legacy = weight_net
    kind = data.draw(st.sampled_from(["corrupt_k3", "corrupt_legacy", "random_bytes", "random_h5", "empty"]))
    p = fresh(workdir, data.draw(st.sampled_from([".h5", ".weights.h5", ".keras"])))
    if kind == "corrupt_k3":
        p.write_bytes(_corrupt(data.draw, k3))
    elif kind == "corrupt_legacy":
        p.write_bytes(_corrupt(data.draw, legacy))
    elif kind == "random_bytes":
        p.write_bytes(data.draw(st.binary(max_size=400)))
    elif kind == "random_h5":
        _write_weights(p, data.draw(random_weights_h5()), data.draw)
    else:
        p.write_bytes(b"")
    only_input_errors(load_weights, net.layers, p)
