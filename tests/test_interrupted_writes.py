"""Every engine function that writes a file under a name the user chose is atomic: an interrupted write
(an exception while writing, or the final rename failing) leaves the previous file byte for byte and
no temporary file behind; a completed write reads back exactly.

Covered elsewhere: tests/test_export.py (atomic_write/atomic_path, a SIGKILLed writer process, HDF5 and
bigWig failures mid-write, HDF5/npz/CSV/bigWig/BED/MoDISco round trips, the resumable ScoresWriter
surviving a kill), tests/test_store.py (atomic store entries, corrupt entries are misses, concurrent
writers), tests/test_cli_batch.py (SIGKILL + --resume gives the uninterrupted file),
tests/test_evaluate_cli.py (an interrupted predict_to_hdf5 file is marked incomplete by its done mask
and refused by accuracy_from_hdf5 until resumed; that file is resumable by design, not atomic).
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

RNG = np.random.default_rng(0)


def _accuracy_tsv(path, version):
    from seqnn_engine.analysis.metrics import accuracy_in_memory, write_accuracy_tsv
    p = RNG.gamma(2, 1, (3, 8, 2)) + version
    t = RNG.gamma(2, 1, (3, 8, 2))
    write_accuracy_tsv(path, accuracy_in_memory(p, t), identifiers=["a", "b"], descriptions=["A", "B"])


def _read_tsv(path):
    return path.read_text()


def _plain_h5(path, version):
    from seqnn_engine.analysis.datasets import write_plain_hdf5
    x = np.eye(4, dtype=np.float32)[RNG.integers(0, 4, (2, 32))]
    write_plain_hdf5(path, x, np.full((2, 4, 3), version, np.float32), ["a", "b", "c"], ["A", "B", "C"])


def _read_plain_h5(path):
    from seqnn_engine.analysis.datasets import open_dataset
    ts = open_dataset(path)
    return [np.concatenate(a) for a in zip(*ts.batches(5))] + [ts.target_ids]


def _weights(path, version):
    import keras

    from seqnn_engine.model.build import build_network
    from seqnn_engine.model.spec import parse_params
    from seqnn_engine.model.weights import save_weights
    keras.utils.set_random_seed(version)
    net = build_network(parse_params({"model": {"seq_length": 64, "trunk": [
        {"name": "conv_dna", "filters": 4, "kernel_size": 3, "pool_size": 4}],
        "head": {"name": "final", "units": 2}}}), 0)
    save_weights(net.layers, path)


def _read_weights(path):
    import h5py
    out = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.append((n, np.asarray(o))) if hasattr(o, "shape") else None)
    return out


def _export_h5(path, version):
    from seqnn_engine.io.export import write_hdf5
    write_hdf5(path, {"preds": np.full((4, 2), version, np.float32), "g/ids": np.array(["x", "y"])},
               {"model": "m", "version": version})


def _read_export_h5(path):
    from seqnn_engine.io.export import read_hdf5
    c = read_hdf5(path)
    return [c["preds"], c["g/ids"], json.dumps(c.attrs, sort_keys=True, default=str)]


def _cli_tsv(path, version):
    from seqnn_engine.cli.tracks import write_tsv
    write_tsv(path, ["chr", "start", "value"], [["chr1", i, version * 0.5] for i in range(5)])


WRITERS = {
    "accuracy_tsv": (_accuracy_tsv, _read_tsv, ".tsv"),
    "plain_hdf5_testset": (_plain_h5, _read_plain_h5, ".h5"),
    "save_weights": (_weights, _read_weights, ".weights.h5"),
    "export_hdf5": (_export_h5, _read_export_h5, ".h5"),
    "cli_tsv": (_cli_tsv, _read_tsv, ".tsv"),
}


def _same(a, b):
    if isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, tuple) and a and isinstance(a[0], str) and len(a) == 2 and hasattr(a[1], "shape"):
        assert a[0] == b[0]
        np.testing.assert_array_equal(a[1], b[1])
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    else:
        assert a == b


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_failed_rename_keeps_previous_file(tmp_path, monkeypatch, name):
    write, read, ext = WRITERS[name]
    path = tmp_path / f"out{ext}"
    write(path, 1)
    before_bytes = path.read_bytes()
    before = read(path)
    real_replace = os.replace

    def failing_replace(src, dst, *a, **k):
        if os.fspath(dst) == os.fspath(path):
            raise OSError(28, "No space left on device (simulated)")
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        write(path, 2)
    monkeypatch.undo()
    assert path.read_bytes() == before_bytes
    _same(read(path), before)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name], "no temporary file left behind"
    # and a completed write of version 2 replaces it and reads back as version 2
    write(path, 2)
    after = read(path)
    with pytest.raises(AssertionError):
        _same(after, before)


@pytest.mark.parametrize("name", ["plain_hdf5_testset", "export_hdf5", "save_weights"])
def test_exception_while_writing_leaves_no_final_file(tmp_path, monkeypatch, name):
    """The HDF5 library fails half-way through the new file: nothing appears under the final name."""
    import h5py
    write, _, ext = WRITERS[name]
    path = tmp_path / f"new{ext}"
    real = h5py.Group.create_dataset
    calls = [0]

    def failing(self, *a, **k):
        calls[0] += 1
        if calls[0] == 2:
            raise OSError("disk failure after the first dataset (simulated)")
        return real(self, *a, **k)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(OSError, match="simulated"):
        write(path, 1)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []
