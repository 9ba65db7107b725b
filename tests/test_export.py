"""Exports: bigWig, BED, MoDISco npz, HDF5/npz/CSV round trips, atomic writes, and the
resumable scores file of batch jobs."""
from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pyBigWig
import pytest

from seqnn_engine.io.atomic import atomic_write, write_bytes_atomic
from seqnn_engine.errors import InputError
from seqnn_engine.io.export import (ScoresWriter, bigwig_bytes, hdf5_bytes, modisco_zip_bytes, read_hdf5,
                                    read_scores, to_csv_text, to_npz_bytes, top_positions_bed,
                                    track_bigwig_bytes, track_to_bigwig, write_bigwig, write_hdf5,
                                    write_modisco_npz)

REPO = Path(__file__).resolve().parents[1]


def _no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


def _assert_arrays_equal(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        assert x.dtype == y.dtype, (k, x.dtype, y.dtype)
        assert x.shape == y.shape, k
        np.testing.assert_array_equal(x, y, err_msg=k)


# ================================================================ atomic writes


def test_atomic_write_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write(b"x" * 10000)
            raise RuntimeError("disk full, say")
    assert not target.exists()
    assert _no_temp_files(tmp_path)
    # an existing file is left untouched by a failed rewrite
    write_bytes_atomic(target, b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write(b"new but incomplete")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert _no_temp_files(tmp_path)
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_write_killed_process_leaves_no_final_file(tmp_path):
    target = tmp_path / "killed.bin"
    code = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        from seqnn_engine.io.atomic import atomic_write
        with atomic_write({str(target)!r}) as f:
            f.write(b"half of the data")
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    r = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert r.returncode == -signal.SIGKILL
    assert not target.exists()


class _Exploding:
    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("array computation failed mid-export")


def test_hdf5_failure_mid_write_leaves_no_file(tmp_path):
    target = tmp_path / "result.h5"
    arrays = {"first": np.arange(10000.0), "second": _Exploding()}
    with pytest.raises(RuntimeError, match="mid-export"):
        write_hdf5(target, arrays, {"a": 1})
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_bigwig_failure_leaves_previous_file(tmp_path):
    target = tmp_path / "t.bw"
    track_to_bigwig(target, "chr1", 0, np.ones(10), chrom_sizes={"chr1": 100})
    before = target.read_bytes()
    with pytest.raises(InputError, match="outside"):
        write_bigwig(target, {"chr1": 100}, [("chr1", 90, 110, 1.0)])
    assert target.read_bytes() == before
    assert _no_temp_files(tmp_path)


# ================================================================ bigWig


def test_write_bigwig_reads_back_at_same_coordinates(tmp_path):
    sizes = {"chr2": 5000, "chr1": 3000}
    intervals = [("chr1", 100, 110, 2.5), ("chr2", 0, 1, -1.25), ("chr1", 10, 20, 0.5),
                 ("chr2", 4990, 5000, 7.0), ("chr1", 20, 21, float("nan"))]
    path = write_bigwig(tmp_path / "x.bw", sizes, intervals)
    bw = pyBigWig.open(str(path))
    try:
        assert bw.chroms() == sizes
        assert bw.intervals("chr1") == ((10, 20, 0.5), (100, 110, 2.5))  # sorted, NaN dropped
        assert bw.intervals("chr2") == ((0, 1, -1.25), (4990, 5000, 7.0))
        assert np.isnan(bw.values("chr1", 20, 21)[0])
    finally:
        bw.close()


def test_write_bigwig_rejects_bad_intervals(tmp_path):
    with pytest.raises(InputError, match="overlap"):
        write_bigwig(tmp_path / "o.bw", {"chr1": 100}, [("chr1", 0, 10, 1.0), ("chr1", 5, 15, 2.0)])
    with pytest.raises(InputError, match="chrX"):
        write_bigwig(tmp_path / "o.bw", {"chr1": 100}, [("chrX", 0, 10, 1.0)])
    with pytest.raises(InputError, match="sizes"):
        write_bigwig(tmp_path / "o.bw", {}, [])
    assert not (tmp_path / "o.bw").exists()


def test_track_to_bigwig_per_base_values_exact(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.standard_normal(2000).astype(np.float32)
    values[500:510] = np.nan  # e.g. masked positions -> no data
    start = 1_000_000
    sizes = {"chr1": 2_000_000, "chr7": 10}
    path = track_to_bigwig(tmp_path / "attr.bw", "chr1", start, values, chrom_sizes=sizes)
    bw = pyBigWig.open(str(path))
    try:
        assert bw.chroms() == sizes
        got = np.array(bw.values("chr1", start, start + 2000), dtype=np.float32)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(values))
        ok = ~np.isnan(values)
        np.testing.assert_array_equal(got[ok], values[ok])
        # nothing outside the window
        assert np.isnan(bw.values("chr1", start - 5, start)).all()
        assert bw.intervals("chr1", start + 1999, start + 2000) == ((start + 1999, start + 2000, float(values[-1])),)
    finally:
        bw.close()


def test_track_to_bigwig_bins_and_chromosome_edges(tmp_path):
    # binned track of stride 32 whose window starts before the chromosome (padded with N)
    values = np.arange(8, dtype=np.float32) + 0.5
    path = track_to_bigwig(tmp_path / "bins.bw", "chrM", -64, values, step=32, chrom_sizes={"chrM": 150})
    bw = pyBigWig.open(str(path))
    try:
        # bins 0,1 are before position 0; bin 6 (128-160) crosses the end; bin 7 is past it
        assert bw.intervals("chrM") == ((0, 32, 2.5), (32, 64, 3.5), (64, 96, 4.5), (96, 128, 5.5))
    finally:
        bw.close()


def test_bigwig_bytes_variants(tmp_path):
    values = np.linspace(-1, 1, 300).astype(np.float32)
    data = track_bigwig_bytes("chr3", 50, values, chrom_sizes={"chr3": 1000})
    assert data[:4] == bytes.fromhex("26fc8f88")  # bigWig magic 0x888FFC26, little-endian
    p = tmp_path / "dl.bw"
    p.write_bytes(data)
    bw = pyBigWig.open(str(p))
    np.testing.assert_array_equal(np.array(bw.values("chr3", 50, 350), dtype=np.float32), values)
    bw.close()
    data2 = bigwig_bytes({"chr3": 1000}, [("chr3", 5, 6, 4.0)])
    p.write_bytes(data2)
    bw = pyBigWig.open(str(p))
    assert bw.intervals("chr3") == ((5, 6, 4.0),)
    bw.close()


# ================================================================ BED


def test_top_positions_bed_hand_computed():
    scores = np.array([0.1, -3.0, 2.0, 3.0, np.nan, 0.0])
    bed = top_positions_bed(scores, "chr5", 1000, k=3, strand="-", name_prefix="g")
    rows = [line.split("\t") for line in bed.splitlines()]
    # |-3| ties with |3|: lower position first; then 2.0
    assert rows == [
        ["chr5", "1001", "1002", "g1", "1000", "-", "-3"],
        ["chr5", "1003", "1004", "g2", "1000", "-", "3"],
        ["chr5", "1002", "1003", "g3", "667", "-", "2"],
    ]
    # k beyond the finite count: NaN never selected
    assert len(top_positions_bed(scores, "chr5", 0, k=100).splitlines()) == 5


def test_top_positions_bed_matches_argsort():
    rng = np.random.default_rng(1)
    scores = rng.standard_normal(5000).astype(np.float32)
    k = 50
    bed = top_positions_bed(scores, "chr1", 20_000, k=k, width=2)
    rows = list(csv.reader(io.StringIO(bed), delimiter="\t"))
    assert len(rows) == k
    expected = np.argsort(-np.abs(scores.astype(np.float64)), kind="stable")[:k]
    starts = np.array([int(r[1]) for r in rows])
    ends = np.array([int(r[2]) for r in rows])
    np.testing.assert_array_equal((starts - 20_000) // 2, expected)
    np.testing.assert_array_equal(ends - starts, 2)
    np.testing.assert_array_equal(np.array([float(r[6]) for r in rows], dtype=np.float32), scores[expected])
    bed_scores = np.array([int(r[4]) for r in rows])
    assert bed_scores[0] == 1000 and np.all(np.diff(bed_scores) <= 0) and bed_scores.min() >= 0
    assert [r[3] for r in rows[:2]] == ["top1", "top2"] and {r[5] for r in rows} == {"."}


def test_top_positions_bed_errors():
    with pytest.raises(InputError, match=">= 1"):
        top_positions_bed(np.ones(3), "chr1", 0, k=0)
    with pytest.raises(InputError, match="strand"):
        top_positions_bed(np.ones(3), "chr1", 0, k=1, strand="x")
    with pytest.raises(InputError, match="shape"):
        top_positions_bed(np.ones((3, 4)), "chr1", 0, k=1)


# ================================================================ MoDISco


def _onehot(rng, s, length):
    idx = rng.integers(0, 4, size=(s, length))
    return np.eye(4, dtype=np.float32)[idx]


def test_modisco_npz_layout(tmp_path):
    rng = np.random.default_rng(2)
    x = _onehot(rng, 5, 600)
    hyp = rng.standard_normal((5, 600, 4)).astype(np.float32)
    coords = {"chrom": ["chr1"] * 5, "start": np.arange(5) * 1000, "end": np.arange(5) * 1000 + 600,
              "name": [f"gene{i}" for i in range(5)]}
    files = write_modisco_npz(tmp_path / "run1.npz", x, hyp, coords)
    assert files.sequences.name == "run1.ohe.npz" and files.attributions.name == "run1.hyp.npz"
    # what `modisco motifs -s ... -a ...` does: np.load(...)["arr_0"] of shape (N, 4, L)
    with np.load(files.sequences, allow_pickle=False) as z:
        assert z.files == ["arr_0"]
        ohe = z["arr_0"]
    with np.load(files.attributions, allow_pickle=False) as z:
        att = z["arr_0"]
    assert ohe.shape == (5, 4, 600) and att.shape == (5, 4, 600)
    assert ohe.dtype == np.float32 and att.dtype == np.float32
    np.testing.assert_array_equal(ohe.transpose(0, 2, 1), x)
    np.testing.assert_array_equal(att.transpose(0, 2, 1), hyp)
    # modisco's windowing: centre 400 bp of length axis 2
    c = ohe.shape[2] // 2
    assert ohe[:, :, c - 200:c + 200].transpose(0, 2, 1).shape == (5, 400, 4)
    rows = list(csv.DictReader(files.coords.open(), delimiter="\t"))
    assert [r["index"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert rows[3] == {"index": "3", "chrom": "chr1", "start": "3000", "end": "3600", "name": "gene3", "strand": "."}
    assert _no_temp_files(tmp_path)


def test_modisco_zip_and_errors():
    rng = np.random.default_rng(3)
    x = _onehot(rng, 2, 50)
    hyp = rng.standard_normal((2, 50, 4))
    z = zipfile.ZipFile(io.BytesIO(modisco_zip_bytes(x, hyp, name="m")))
    assert sorted(z.namelist()) == ["README.txt", "m.coords.tsv", "m.hyp.npz", "m.ohe.npz"]
    a = np.load(io.BytesIO(z.read("m.hyp.npz")))["arr_0"]
    np.testing.assert_array_equal(a, hyp.astype(np.float32).transpose(0, 2, 1))
    assert "modisco motifs -s m.ohe.npz -a m.hyp.npz" in z.read("README.txt").decode()
    with pytest.raises(InputError, match="shape"):
        modisco_zip_bytes(x, hyp[:, :10])
    bad = hyp.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        modisco_zip_bytes(x, bad)
    with pytest.raises(InputError, match="rows"):
        modisco_zip_bytes(x, hyp, coords={"chrom": ["chr1"]})


# ================================================================ HDF5 / npz / CSV


def _mixed_arrays():
    rng = np.random.default_rng(4)
    return {
        "preds": rng.standard_normal((2, 96, 4)).astype(np.float32),
        "var": rng.random((2, 96, 4)),
        "grads": rng.standard_normal((4096, 4)).astype(np.float16),
        "seqs": rng.random((3, 100, 4)) > 0.5,
        "bins": np.arange(96, dtype=np.int32),
        "target_ids": np.array(["CNhs11760", "DNASE:K562", "ünï"], dtype="<U12"),
        "chr": np.array([b"chr1", b"chrX"]),
        "layers/conv1": rng.standard_normal((8, 16)).astype(np.float32),
        "scalar": np.float64(3.25),
        "empty": np.zeros((0, 4), np.float32),
    }


def test_hdf5_round_trip_exact(tmp_path):
    arrays = _mixed_arrays()
    attrs = {"model": "demo", "head": np.int64(0), "targets": (0, 2), "options": {"rc": True, "shifts": [0]},
             "pseudocount": 1.0, "note": None}
    path = write_hdf5(tmp_path / "r.h5", arrays, attrs)
    got = read_hdf5(path)
    _assert_arrays_equal(got.arrays, arrays)
    assert got.attrs == {"model": "demo", "head": 0, "targets": [0, 2], "options": {"rc": True, "shifts": [0]},
                         "pseudocount": 1.0, "note": None}
    got2 = read_hdf5(hdf5_bytes(arrays, attrs))
    _assert_arrays_equal(got2.arrays, arrays)
    assert got2.attrs == got.attrs
    with h5py.File(path, "r") as f:  # plain attributes for browsing in other tools
        assert f.attrs["model"] == "demo" and f["layers"]["conv1"].shape == (8, 16)


def test_read_hdf5_bad_input(tmp_path):
    p = tmp_path / "trunc.h5"
    p.write_bytes(hdf5_bytes(_mixed_arrays())[:1000])
    with pytest.raises(InputError, match="HDF5"):
        read_hdf5(p)
    with pytest.raises(InputError, match="HDF5"):
        read_hdf5(b"not hdf5 at all")
    with pytest.raises(InputError, match="object"):
        hdf5_bytes({"x": np.array([None, 1], dtype=object)})


def test_npz_bytes_round_trip():
    arrays = {k: v for k, v in _mixed_arrays().items() if "/" not in k}
    data = to_npz_bytes(arrays, meta={"model": "demo", "t": (1, 2)})
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        got = {k: z[k] for k in z.files}
    meta = got.pop("meta_json")
    _assert_arrays_equal(got, arrays)
    assert str(meta) == '{"model":"demo","t":[1,2]}'


def test_csv_text_round_trip():
    rng = np.random.default_rng(5)
    a = rng.standard_normal(300).astype(np.float32)
    b = rng.standard_normal(300)  # float64
    c = np.arange(300, dtype=np.int64)
    a[7] = np.nan
    text = to_csv_text({"CAGE, liver": a, "dnase": b, "count": c}, start=1000, step=32, chrom="chr2")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["chrom", "position", "CAGE, liver", "dnase", "count"]
    body = rows[1:]
    assert len(body) == 300 and {r[0] for r in body} == {"chr2"}
    np.testing.assert_array_equal([int(r[1]) for r in body], 1000 + 32 * np.arange(300))
    np.testing.assert_array_equal(np.array([float(r[2]) for r in body], dtype=np.float32), a)
    np.testing.assert_array_equal(np.array([float(r[3]) for r in body]), b)
    np.testing.assert_array_equal([int(r[4]) for r in body], c)
    with pytest.raises(InputError, match="values"):
        to_csv_text({"a": np.ones(3), "b": np.ones(4)})


# ================================================================ scores file


N, L, T, CHUNK = 11, 64, 3, 4  # 3 chunks, the last one partial


def _chunk_arrays(i0, i1):
    rng = np.random.default_rng(1000 + i0)
    n = i1 - i0
    return {
        "seqs": np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, L))],
        "grads": rng.standard_normal((n, L, 4)).astype(np.float32),
        "preds": rng.random((n, 8, T)).astype(np.float32),
    }


def _writer(path, resume=False, job=None):
    coords = {"chr": ["chr1"] * N, "start": np.arange(N) * 100, "end": np.arange(N) * 100 + L,
              "gene": [f"G{i}" for i in range(N)], "strand": ["+", "-"] * 5 + ["+"]}
    return ScoresWriter(path, N, L, datasets={"grads": ((L, 4), np.float16), "preds": ((8, T), np.float16)},
                        coords=coords, static={"target_ids": np.array([b"t0", b"t1", b"t2"])},
                        chunk_size=CHUNK, job=job or {"method": "saliency", "targets": [0, 1, 2]},
                        resume=resume)


def test_scores_writer_reference_layout(tmp_path):
    path = tmp_path / "scores.h5"
    with _writer(path) as w:
        assert w.pending_chunks() == [(0, 4), (4, 8), (8, 11)]
        for i0, i1 in w.pending_chunks():
            w.write_chunk(i0, _chunk_arrays(i0, i1))
    assert path.exists() and not w.partial_path.exists()
    with h5py.File(path, "r") as f:
        assert f["seqs"].dtype == bool and f["seqs"].shape == (N, L, 4)
        assert f["grads"].dtype == np.float16 and f["grads"].shape == (N, L, 4)
        assert f["preds"].dtype == np.float16 and f["preds"].shape == (N, 8, T)
        assert f["chr"].dtype.kind == "S" and f["chr"][0] == b"chr1"
        assert f["strand"][1] == b"-" and f["gene"][10] == b"G10"
        assert f["start"].dtype == np.int64 and f["end"][3] == 300 + L
    got = read_scores(path)
    want_grads = np.concatenate([_chunk_arrays(*b)["grads"] for b in [(0, 4), (4, 8), (8, 11)]])
    np.testing.assert_array_equal(got["grads"], want_grads.astype(np.float16))
    assert got["chunk_done"].all()


def test_scores_writer_resume_equals_one_shot(tmp_path):
    one = tmp_path / "one.h5"
    with _writer(one) as w:
        for i0, i1 in w.pending_chunks():
            w.write_chunk(i0, _chunk_arrays(i0, i1))

    two = tmp_path / "two.h5"
    w = _writer(two)
    w.write_chunk(4, _chunk_arrays(4, 8))  # out of order, as parallel workers finish
    w.close()  # interrupted: only the partial file exists
    assert not two.exists() and w.partial_path.exists()
    w = _writer(two, resume=True)
    assert w.pending_chunks() == [(0, 4), (8, 11)] and w.n_done == 1
    for i0, i1 in w.pending_chunks():
        w.write_chunk(i0, _chunk_arrays(i0, i1))
    assert w.finish() == two
    _assert_arrays_equal(read_scores(one), read_scores(two))
    assert read_hdf5(one).attrs == read_hdf5(two).attrs

    # resuming a finished file: nothing pending, file unchanged
    w = _writer(two, resume=True)
    assert w.pending_chunks() == [] and w.complete
    assert w.finish() == two
    _assert_arrays_equal(read_scores(one), read_scores(two))


def test_scores_writer_resume_refuses_other_job(tmp_path):
    path = tmp_path / "s.h5"
    w = _writer(path)
    w.write_chunk(0, _chunk_arrays(0, 4))
    w.close()
    with pytest.raises(InputError, match="different job.*job"):
        _writer(path, resume=True, job={"method": "ism"})
    # without resume the job starts afresh
    w = _writer(path, resume=False, job={"method": "ism"})
    assert w.n_done == 0
    w.close()


def test_scores_writer_rejects_bad_chunks(tmp_path):
    w = _writer(tmp_path / "s.h5")
    with pytest.raises(InputError, match="multiple"):
        w.write_chunk(2, _chunk_arrays(2, 6))
    with pytest.raises(InputError, match="shape"):
        w.write_chunk(8, _chunk_arrays(8, 12))
    arr = _chunk_arrays(0, 4)
    del arr["preds"]
    with pytest.raises(InputError, match="missing"):
        w.write_chunk(0, arr)
    with pytest.raises(InputError, match="not written"):
        w.finish()
    w.close()
    assert not (tmp_path / "s.h5").exists()


_KILL_CHILD = """
import sys, time
sys.path.insert(0, {repo!r}); sys.path.insert(0, {tests!r})
import numpy as np
import test_export as t
w = t._writer({path!r}, resume=True)
for i0, i1 in w.pending_chunks():
    w.write_chunk(i0, t._chunk_arrays(i0, i1))
    print(i0, flush=True)
    time.sleep(0.2)
w.finish()
"""


def test_scores_writer_survives_kill_and_resumes(tmp_path):
    ref = tmp_path / "ref.h5"
    with _writer(ref) as w:
        for i0, i1 in w.pending_chunks():
            w.write_chunk(i0, _chunk_arrays(i0, i1))
    path = tmp_path / "killed.h5"
    code = _KILL_CHILD.format(repo=str(REPO), tests=str(REPO / "tests"), path=str(path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    assert first.strip() == "0"
    proc.send_signal(signal.SIGKILL)  # during the sleep or the next chunk's write
    proc.wait(30)
    assert not path.exists()
    w = _writer(path, resume=True)
    assert 1 <= w.n_done < 3
    for i0, i1 in w.pending_chunks():
        w.write_chunk(i0, _chunk_arrays(i0, i1))
    w.finish()
    _assert_arrays_equal(read_scores(ref), read_scores(path))
