"""Test-set readers: Baskerville TFRecord directories, TF1 Basenji HDF5, plain HDF5."""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import shared_path
from seqnn_engine.analysis.datasets import open_dataset, write_plain_hdf5
from seqnn_engine.errors import InputError

TARGETS_HEADER = "\tidentifier\tfile\tclip\tclip_soft\tscale\tsum_stat\tstrand_pair\tdescription\n"


def _tf():
    return pytest.importorskip("tensorflow")


def _example(seq_bytes: bytes, target: np.ndarray) -> bytes:
    tf = _tf()
    feats = {
        "sequence": tf.train.Feature(bytes_list=tf.train.BytesList(value=[seq_bytes])),
        "target": tf.train.Feature(bytes_list=tf.train.BytesList(value=[target.astype(np.float16).tobytes()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


def _write_tfr(path: Path, records: list[bytes]) -> None:
    tf = _tf()
    opts = tf.io.TFRecordOptions(compression_type="ZLIB")
    with tf.io.TFRecordWriter(str(path), opts) as w:
        for r in records:
            w.write(r)


def _make_dir(tmp_path: Path, seqs_idx: np.ndarray, targets: np.ndarray, files: dict[str, list[int]],
              seq_1hot: bool = True, stats_extra: dict | None = None, n_target_rows: int | None = None) -> Path:
    """A Baskerville data directory; `files` maps file name -> record indexes it holds."""
    d = tmp_path / "data"
    (d / "tfrecords").mkdir(parents=True)
    N, L = seqs_idx.shape
    _, P, T = targets.shape
    stats = {"seq_length": L, "target_length": P, "num_targets": T, "pool_width": 4, "crop_bp": 0,
             "seq_1hot": seq_1hot, "test_seqs": N}
    stats.update(stats_extra or {})
    (d / "statistics.json").write_text(json.dumps(stats))
    rows = T if n_target_rows is None else n_target_rows
    (d / "targets.txt").write_text(
        TARGETS_HEADER + "".join(f"{i}\tid{i}\tf\t384\t64\t1\tsum\t{i}\tdesc {i}\n" for i in range(rows))
    )
    for name, idxs in files.items():
        recs = []
        for i in idxs:
            if seq_1hot:
                sb = seqs_idx[i].astype(np.uint8).tobytes()
            else:
                oh = np.zeros((L, 4), np.uint8)
                ok = seqs_idx[i] < 4
                oh[np.flatnonzero(ok), seqs_idx[i][ok]] = 1
                sb = oh.tobytes()
            recs.append(_example(sb, targets[i]))
        _write_tfr(d / "tfrecords" / name, recs)
    return d


def _expected_onehot(idx: np.ndarray) -> np.ndarray:
    x = np.zeros(idx.shape + (4,), np.float32)
    for i in np.ndindex(idx.shape):
        if idx[i] < 4:
            x[i + (idx[i],)] = 1.0
    return x


@pytest.fixture
def small_set():
    rng = np.random.default_rng(0)
    N, L, P, T = 5, 16, 4, 3
    idx = rng.integers(0, 5, size=(N, L)).astype(np.uint8)  # includes N (4)
    idx[0, :3] = 4
    targets = rng.gamma(1.0, 2.0, size=(N, P, T)).astype(np.float16).astype(np.float32)
    return idx, targets


@pytest.mark.parametrize("seq_1hot", [True, False])
def test_tfrecord_dir_reads_back_exactly_in_natural_file_order(tmp_path, small_set, seq_1hot):
    idx, targets = small_set
    # natural order: test-2 before test-10 (lexicographic order would put test-10 first)
    d = _make_dir(tmp_path, idx, targets, {"test-2.tfr": [0, 1], "test-10.tfr": [2, 3, 4]}, seq_1hot=seq_1hot)
    ts = open_dataset(d)
    assert (ts.format, ts.split, ts.num_seqs, ts.seq_length, ts.target_length, ts.num_targets) == (
        "tfrecord", "test", 5, 16, 4, 3)
    assert ts.target_ids == ("id0", "id1", "id2") and ts.target_labels[2] == "desc 2"
    assert ts.pool_width == 4 and ts.crop_bp == 0
    got = list(ts.batches(2))
    assert [x.shape[0] for x, _ in got] == [2, 2, 1]
    x = np.concatenate([b[0] for b in got])
    y = np.concatenate([b[1] for b in got])
    assert x.dtype == np.float32 and y.dtype == np.float32
    np.testing.assert_array_equal(x, _expected_onehot(idx))
    np.testing.assert_array_equal(y, targets)
    assert np.all(x[0, :3] == 0)  # N is an all-zero row
    # start/stop and head() select the same rows
    xs = np.concatenate([b[0] for b in ts.batches(3, start=1, stop=4)])
    np.testing.assert_array_equal(xs, _expected_onehot(idx[1:4]))
    assert sum(b[0].shape[0] for b in ts.head(2).batches(5)) == 2


def test_tfrecord_split_count_when_statistics_omit_it(tmp_path, small_set):
    idx, targets = small_set
    d = _make_dir(tmp_path, idx, targets, {"valid-0.tfr": [0, 1, 2]}, stats_extra={"test_seqs": 0})
    stats = json.loads((d / "statistics.json").read_text())
    del stats["test_seqs"]
    (d / "statistics.json").write_text(json.dumps(stats))
    ts = open_dataset(d, split="valid")
    assert ts.num_seqs == 3 and ts.split == "valid"


def test_real_tiny_hg38_tfrecords_have_documented_shapes():
    d = shared_path("datasets", "baskerville-tiny-hg38")
    ts = open_dataset(d)
    assert (ts.num_seqs, ts.seq_length, ts.target_length, ts.num_targets) == (10, 131072, 2048, 74)
    assert ts.target_ids[0] == "CNhs10752+" and ts.target_labels[0].startswith("CAGE:")
    n = 0
    for x, y in ts.batches(4):
        assert x.shape[1:] == (131072, 4) and y.shape[1:] == (2048, 74)
        assert x.dtype == np.float32 and y.dtype == np.float32
        assert set(np.unique(x)) <= {0.0, 1.0} and np.all(x.sum(-1) <= 1)
        assert np.all(np.isfinite(y)) and y.min() >= 0
        n += x.shape[0]
    assert n == 10


def test_basenji_hdf5_fixture_reads_back_exactly(tmp_path, small_set):
    idx, targets = small_set
    x_bool = _expected_onehot(idx).astype(bool)
    y16 = targets.astype(np.float16)
    p = tmp_path / "basenji.h5"
    with h5py.File(p, "w") as h5:
        h5.create_dataset("test_in", data=x_bool)
        h5.create_dataset("test_out", data=y16)
        h5.create_dataset("valid_in", data=x_bool[:2])
        h5.create_dataset("valid_out", data=y16[:2])
        h5.create_dataset("target_labels", data=np.array([b"CAGE:a", b"DNASE:b", b"RNA:c"]))
    ts = open_dataset(p)
    assert (ts.format, ts.num_seqs, ts.seq_length, ts.target_length, ts.num_targets) == ("basenji_h5", 5, 16, 4, 3)
    assert ts.target_labels == ("CAGE:a", "DNASE:b", "RNA:c") and ts.pool_width == 4
    x = np.concatenate([b[0] for b in ts.batches(2)])
    y = np.concatenate([b[1] for b in ts.batches(2)])
    np.testing.assert_array_equal(x, x_bool.astype(np.float32))
    np.testing.assert_array_equal(y, y16.astype(np.float32))
    assert open_dataset(p, split="valid").num_seqs == 2


def test_plain_hdf5_round_trip(tmp_path, small_set):
    idx, targets = small_set
    x = _expected_onehot(idx)
    p = write_plain_hdf5(tmp_path / "plain.h5", x, targets, target_ids=["a", "b", "c"])
    ts = open_dataset(p)
    assert (ts.format, ts.split, ts.num_seqs, ts.num_targets) == ("plain_h5", "", 5, 3)
    assert ts.target_ids == ("a", "b", "c") and ts.target_labels == ("a", "b", "c")
    np.testing.assert_array_equal(np.concatenate([b[0] for b in ts.batches(3)]), x)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in ts.batches(3)]), targets)


# ---- errors: every user-fixable problem is an InputError naming the file ------------------


def test_missing_paths_and_layouts(tmp_path):
    with pytest.raises(InputError, match="not found"):
        open_dataset(tmp_path / "nope")
    with pytest.raises(InputError, match="statistics.json"):
        open_dataset(tmp_path)
    (tmp_path / "statistics.json").write_text(json.dumps({"seq_length": 8, "target_length": 2, "num_targets": 1}))
    with pytest.raises(InputError, match=r"test-\*\.tfr"):
        open_dataset(tmp_path)
    (tmp_path / "statistics.json").write_text("{not json")
    with pytest.raises(InputError, match="statistics.json"):
        open_dataset(tmp_path)
    (tmp_path / "statistics.json").write_text(json.dumps({"seq_length": 8}))
    with pytest.raises(InputError, match="target_length"):
        open_dataset(tmp_path)


def test_corrupt_tfrecord_is_input_error_naming_file(tmp_path, small_set):
    idx, targets = small_set
    d = _make_dir(tmp_path, idx, targets, {"test-0.tfr": [0, 1, 2, 3, 4]})
    f = d / "tfrecords" / "test-0.tfr"
    raw = f.read_bytes()
    f.write_bytes(raw[: len(raw) // 2])  # truncated
    with pytest.raises(InputError, match="test-0.tfr"):
        list(open_dataset(d).batches(2))
    f.write_bytes(b"this is not a zlib tfrecord at all" * 10)
    with pytest.raises(InputError, match="test-0.tfr"):
        list(open_dataset(d).batches(2))
    # valid ZLIB stream, but the record is not a tf.train.Example with the expected features
    _write_tfr(f, [b"garbage"])
    with pytest.raises(InputError, match="test-0.tfr"):
        list(open_dataset(d).batches(2))


def test_tfrecord_record_shape_errors(tmp_path, small_set):
    idx, targets = small_set
    d = _make_dir(tmp_path, idx, targets, {"test-0.tfr": [0, 1, 2, 3, 4]}, stats_extra={"num_targets": 2},
                  n_target_rows=2)
    with pytest.raises(InputError, match="target bytes"):
        list(open_dataset(d).batches(2))
    d2 = _make_dir(tmp_path / "b", idx, targets, {"test-0.tfr": [0, 1]}, stats_extra={"seq_length": 20})
    with pytest.raises(InputError, match="seq_length"):
        list(open_dataset(d2).batches(2))
    d3 = _make_dir(tmp_path / "c", idx, targets, {"test-0.tfr": [0, 1]})  # statistics promise 5
    with pytest.raises(InputError, match="promises 5"):
        list(open_dataset(d3).batches(2))
    d4 = _make_dir(tmp_path / "d", idx, targets, {"test-0.tfr": [0]}, n_target_rows=2)
    with pytest.raises(InputError, match="targets.txt lists 2"):
        open_dataset(d4)


def test_hdf5_errors(tmp_path):
    bad = tmp_path / "not.h5"
    bad.write_bytes(b"plain text, not HDF5")
    with pytest.raises(InputError, match="not.h5"):
        open_dataset(bad)
    p = tmp_path / "x.h5"
    with h5py.File(p, "w") as h5:
        h5.create_dataset("something", data=np.zeros(3))
    with pytest.raises(InputError, match="sequences"):
        open_dataset(p)
    with h5py.File(p, "w") as h5:
        h5.create_dataset("test_in", data=np.zeros((2, 8, 4), bool))
    with pytest.raises(InputError, match="test_out"):
        open_dataset(p)
    with h5py.File(p, "w") as h5:
        h5.create_dataset("sequences", data=np.zeros((2, 8, 5)))
        h5.create_dataset("targets", data=np.zeros((2, 2, 1)))
    with pytest.raises(InputError, match=r"\(N, L, 4\)"):
        open_dataset(p)
    with h5py.File(p, "w") as h5:
        h5.create_dataset("sequences", data=np.zeros((2, 8, 4)))
        h5.create_dataset("targets", data=np.zeros((3, 2, 1)))
    with pytest.raises(InputError, match="holds 2 sequences"):
        open_dataset(p)
    with h5py.File(p, "w") as h5:
        h5.create_dataset("sequences", data=np.zeros((2, 8, 4)))
        h5.create_dataset("targets", data=np.zeros((2, 2, 1)))
        h5.create_dataset("target_labels", data=np.array([b"a", b"b"]))
    with pytest.raises(InputError, match="target_labels"):
        open_dataset(p)


def test_corrupt_hdf5_chunk_is_input_error(tmp_path):
    p = tmp_path / "c.h5"
    x = np.ones((4, 64, 4), np.float32)
    y = np.arange(4 * 8 * 2, dtype=np.float32).reshape(4, 8, 2)
    with h5py.File(p, "w") as h5:
        h5.create_dataset("sequences", data=x, chunks=(1, 64, 4), compression="gzip")
        h5.create_dataset("targets", data=y, chunks=(1, 8, 2), compression="gzip")
        off = h5["sequences"].id.get_chunk_info(2).byte_offset
    raw = bytearray(p.read_bytes())
    raw[off: off + 16] = b"\xff" * 16  # damage one compressed chunk
    p.write_bytes(bytes(raw))
    ts = open_dataset(p)
    with pytest.raises(InputError, match="c.h5"):
        list(ts.batches(1))


def test_batch_size_and_limit_validation(tmp_path, small_set):
    idx, targets = small_set
    p = write_plain_hdf5(tmp_path / "plain.h5", _expected_onehot(idx), targets)
    ts = open_dataset(p)
    with pytest.raises(InputError, match="batch size"):
        list(ts.batches(0))
    with pytest.raises(InputError, match="limit"):
        ts.head(0)
    assert ts.head(99).num_seqs == 5
