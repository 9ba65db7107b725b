"""Result store: exact round trips, LRU eviction under a size bound, concurrent writers,
corrupt entries, and the digests/keys that address entries."""
from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from seqnn_engine.errors import InputError
from seqnn_engine.batch.store import ResultStore, array_digest, canonical_json, file_digest, model_digest, result_key, sequence_digest


def _key(i: int, opts: dict | None = None) -> str:
    return result_key("m" * 8, sequence_digest(f"ACGT{i}"), opts or {"i": i})


def _arrays(seed: int, n: int = 256) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "preds": rng.standard_normal((2, n, 3)).astype(np.float32),
        "grads": rng.standard_normal((n, 4)).astype(np.float16),
        "mask": rng.random(n) > 0.5,
        "idx": np.arange(n, dtype=np.int64) * seed,
        "labels": np.array(["CAGE:a", "DNase:b", "ünïcode"]),
        "scalar": np.float64(seed / 7),
    }


def _assert_same(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        assert x.dtype == y.dtype, k
        assert x.shape == y.shape, k
        np.testing.assert_array_equal(x, y, err_msg=k)


# ---------------------------------------------------------------- digests and keys


def test_sequence_digest_is_sha256_of_exact_string():
    assert sequence_digest("ACGT") == hashlib.sha256(b"ACGT").hexdigest()
    # exact string: case and whitespace matter (documented)
    assert sequence_digest("acgt") != sequence_digest("ACGT")
    assert sequence_digest("ACGT\n") != sequence_digest("ACGT")


def test_array_digest_sees_dtype_shape_and_one_element():
    x = np.zeros((131072, 4), np.float32)
    y = x.copy()
    y[65536, 2] = 1.0  # a single-base change in a long one-hot must change the digest
    assert array_digest(x) != array_digest(y)
    assert array_digest(x) != array_digest(x.astype(np.float64))
    assert array_digest(x) != array_digest(x.reshape(4, 131072))
    assert array_digest(x) == array_digest(x.copy())


def test_file_and_model_digest(tmp_path):
    p = tmp_path / "params.json"
    w1 = tmp_path / "m0.h5"
    w2 = tmp_path / "m1.h5"
    p.write_text('{"model": {}}')
    payload = os.urandom(3 << 20)  # > one read chunk
    w1.write_bytes(payload)
    w2.write_bytes(b"other")
    assert file_digest(w1) == hashlib.sha256(payload).hexdigest()
    d = model_digest(p, [w1, w2], head=0)
    assert d == model_digest(p, [w1, w2], head=0)
    assert d != model_digest(p, [w1, w2], head=1)
    assert d != model_digest(p, [w2, w1], head=0)
    assert d != model_digest(p, [w1], head=0)
    assert model_digest(p, w1) == model_digest(p, [w1])
    # content, not name: a renamed copy has the same digest
    w3 = tmp_path / "renamed.h5"
    w3.write_bytes(payload)
    assert model_digest(p, [w3, w2]) == d
    # a changed file changes the digest (memo keyed on size/mtime/inode)
    w2.write_bytes(b"changed!")
    assert model_digest(p, [w1, w2]) != d
    with pytest.raises(InputError, match="missing.h5"):
        file_digest(tmp_path / "missing.h5")


def test_canonical_options():
    a = {"targets": (0, 1, 2), "rc": np.bool_(True), "shifts": np.array([-1, 0, 1]),
         "pseudo": np.float64(0.5), "n": np.int32(3), "nested": {"b": 1, "a": [1, 2]}}
    b = {"nested": {"a": [1, 2], "b": 1}, "n": 3, "pseudo": 0.5, "shifts": [-1, 0, 1],
         "rc": True, "targets": [0, 1, 2]}
    assert canonical_json(a) == canonical_json(b)
    assert result_key("m", "s", a) == result_key("m", "s", b)
    assert canonical_json({"x": 1}) == '{"x":1}'
    assert result_key("m", "s", {"x": 1}) != result_key("m", "s", {"x": 2})
    assert result_key("m", "s", {"x": 1}) != result_key("m", "s2", {"x": 1})
    assert result_key("m", "s", {"x": 1}) != result_key("m2", "s", {"x": 1})
    assert result_key("m", "s", {"x": True}) != result_key("m", "s", {"x": 1})
    with pytest.raises(InputError, match="pseudo"):
        canonical_json({"pseudo": float("nan")})
    with pytest.raises(InputError, match="unsupported type"):
        canonical_json({"f": object()})
    k = result_key("m", "s", {})
    assert len(k) == 64 and set(k) <= set("0123456789abcdef")
    assert ResultStore.key("m", "s", {"x": 1}) == result_key("m", "s", {"x": 1})


# ---------------------------------------------------------------- round trip


def test_round_trip_exact(tmp_path):
    store = ResultStore(tmp_path / "store", max_bytes=10 << 20)
    k = _key(1)
    assert store.get(k) is None and not store.contains(k)
    arrays = _arrays(3)
    meta = {"model": "demo", "targets": [0, 1], "shape": (2, 256, 3), "rc": np.bool_(True)}
    assert store.put(k, arrays, meta)
    assert store.contains(k) and k in store and len(store) == 1
    r = store.get(k)
    _assert_same(r.arrays, arrays)
    assert r.meta == {"model": "demo", "targets": [0, 1], "shape": [2, 256, 3], "rc": True}
    assert r["preds"].dtype == np.float32 and "grads" in r
    # a second store object on the same directory (another process, say) sees it
    r2 = ResultStore(tmp_path / "store").get(k)
    _assert_same(r2.arrays, arrays)
    # overwrite replaces
    assert store.put(k, {"x": np.arange(3)}, {})
    _assert_same(store.get(k).arrays, {"x": np.arange(3)})
    assert store.size_bytes() == store.path_for(k).stat().st_size
    assert store.delete(k) and store.get(k) is None and not store.delete(k)


def test_get_or_compute_computes_once(tmp_path):
    store = ResultStore(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(4, dtype=np.int16)}, {"t": (1,)}

    k = _key(11)
    first = store.get_or_compute(k, compute)
    second = store.get_or_compute(k, compute)
    assert len(calls) == 1
    for r in (first, second):
        _assert_same(r.arrays, {"x": np.arange(4, dtype=np.int16)})
        assert r.meta == {"t": [1]}


def test_rejects_bad_keys_and_arrays(tmp_path):
    store = ResultStore(tmp_path)
    with pytest.raises(InputError, match="hex"):
        store.get("../../etc/passwd")
    with pytest.raises(InputError, match="hex"):
        store.put("ABC", {"x": np.zeros(2)})
    with pytest.raises(InputError, match="object"):
        store.put(_key(0), {"x": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(InputError, match="__meta__"):
        store.put(_key(0), {"__meta__": np.zeros(2)})
    assert len(store) == 0


def test_oversized_entry_not_stored(tmp_path):
    store = ResultStore(tmp_path, max_bytes=1000)
    assert store.put(_key(0), {"x": np.zeros(1000)}) is False
    assert len(store) == 0


# ---------------------------------------------------------------- eviction


def test_eviction_bound_and_lru_order(tmp_path):
    arrays = {"x": np.zeros(1000, np.float64)}
    probe = ResultStore(tmp_path / "probe", max_bytes=1 << 30)
    probe.put(_key(0), arrays, {"i": "000"})
    entry_size = probe.size_bytes()

    store = ResultStore(tmp_path / "s", max_bytes=int(entry_size * 4.5))  # room for 4
    for i in range(4):
        assert store.put(_key(i), arrays, {"i": f"{i:03d}"})
    assert len(store) == 4
    # use 0 and 1 so that 2 becomes least recently used, then 3
    assert store.get(_key(0)) is not None
    assert store.get(_key(1)) is not None
    assert store.keys() == [_key(2), _key(3), _key(0), _key(1)]
    store.put(_key(4), arrays, {"i": "004"})
    assert store.size_bytes() <= store.max_bytes
    assert not store.contains(_key(2))
    assert all(store.contains(_key(i)) for i in (0, 1, 3, 4))
    store.put(_key(5), arrays, {"i": "005"})
    assert not store.contains(_key(3))
    assert all(store.contains(_key(i)) for i in (0, 1, 4, 5))
    # many more puts: the bound always holds and the newest entries survive
    for i in range(6, 30):
        store.put(_key(i), arrays, {"i": f"{i:03d}"})
        assert store.size_bytes() <= store.max_bytes
    assert store.keys() == [_key(i) for i in range(26, 30)]
    # explicit smaller bound
    assert store.evict(max_bytes=entry_size * 2) == 2
    assert store.keys() == [_key(28), _key(29)]
    store.clear()
    assert len(store) == 0 and store.size_bytes() == 0


def test_stale_temp_files_cleaned(tmp_path):
    store = ResultStore(tmp_path, max_bytes=1 << 20)
    stale = store.path_for(_key(0)).with_name(".abandoned.npz.123.abc.tmp")
    fresh = store.path_for(_key(0)).with_name(".inflight.npz.124.abc.tmp")
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"partial")
    os.utime(stale, (1, 1))
    store.evict()
    assert not stale.exists() and fresh.exists()
    assert len(store) == 0  # temp files are never entries


# ---------------------------------------------------------------- corruption


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "npy_not_npz", "no_meta"])
def test_corrupt_entry_is_a_miss_and_removed(tmp_path, damage):
    store = ResultStore(tmp_path)
    k = _key(7)
    store.put(k, _arrays(7), {"a": 1})
    path = store.path_for(k)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "npy_not_npz":
        with open(path, "wb") as f:
            np.save(f, np.arange(5))
    else:
        np.savez(path, x=np.arange(3))  # valid npz but not a store entry
    assert store.get(k) is None
    assert not path.exists()
    # and the key works again afterwards
    store.put(k, {"x": np.ones(2)}, {})
    _assert_same(store.get(k).arrays, {"x": np.ones(2)})


def test_pickled_object_entry_never_unpickled(tmp_path):
    store = ResultStore(tmp_path)
    k = _key(8)
    np.savez(store.path_for(k), x=np.array([object()], dtype=object), __meta__=np.frombuffer(b"{}", np.uint8))
    assert store.get(k) is None


# ---------------------------------------------------------------- concurrency


def _expected(i: int, shared: bool) -> tuple[str, dict]:
    # same key -> same content (as in real use: identical inputs give identical results)
    j = i % 5 if shared else i
    return _key(j, {"kind": "shared" if shared else "own"}), _arrays(j, n=512)


def _writer(root: str, max_bytes: int, proc: int, n: int) -> None:
    store = ResultStore(root, max_bytes=max_bytes)
    for i in range(n):
        shared = i % 2 == 0
        idx = i if shared else proc * 1000 + i
        k, arrays = _expected(idx, shared)
        store.put(k, arrays, {"proc": "any"})
        store.get(_expected((i * 7) % 5, True)[0])  # readers racing writers/evictors


def _check_survivors(root: Path, store: ResultStore, expected: dict) -> None:
    keys = store.keys()
    assert keys, "every entry was evicted"
    for k in keys:
        r = store.get(k)
        assert r is not None
        _assert_same(r.arrays, expected[k])
    leftovers = [p.name for p in root.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    assert store.size_bytes() <= store.max_bytes


def _all_expected(n_proc: int, n: int) -> dict:
    out = {}
    for proc in range(n_proc):
        for i in range(n):
            shared = i % 2 == 0
            idx = i if shared else proc * 1000 + i
            k, arrays = _expected(idx, shared)
            out[k] = arrays
    return out


def test_concurrent_writer_processes(tmp_path):
    probe = ResultStore(tmp_path / "probe", max_bytes=1 << 30)
    k, arrays = _expected(0, True)
    probe.put(k, arrays, {"proc": "any"})
    max_bytes = probe.size_bytes() * 12  # forces constant eviction during the run
    root = tmp_path / "shared_store"
    # fork is fast; after TensorFlow has started its threads in this pytest process, fork
    # can deadlock, so spawn fresh interpreters then
    ctx = mp.get_context("spawn" if "tensorflow" in sys.modules else "fork")
    procs = [ctx.Process(target=_writer, args=(str(root), max_bytes, p, 20)) for p in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    store = ResultStore(root, max_bytes=max_bytes)
    _check_survivors(root, store, _all_expected(4, 20))


def test_concurrent_writer_threads(tmp_path):
    probe = ResultStore(tmp_path / "probe", max_bytes=1 << 30)
    k, arrays = _expected(0, True)
    probe.put(k, arrays, {"proc": "any"})
    max_bytes = probe.size_bytes() * 8
    root = tmp_path / "threads"
    errors = []

    def run(proc):
        try:
            _writer(str(root), max_bytes, proc, 20)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(p,)) for p in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    _check_survivors(root, ResultStore(root, max_bytes=max_bytes), _all_expected(4, 20))
