"""Predict-to-HDF5 (chunked, resumable), evaluation and the ``evaluate`` command.

The file mechanics (rows, done-mask, resume) are exercised with a tiny deterministic stand-in that
follows the model contract; everything about the real model goes through ``load_model`` and the
tiny-hg38 data (skipped when absent).
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import REPO, shared_path
from seqnn_engine.analysis.datasets import open_dataset, write_plain_hdf5
from seqnn_engine.errors import InputError
from seqnn_engine.analysis.metrics import METRIC_NAMES, accuracy_in_memory
from seqnn_engine.analysis.predict_file import accuracy_from_hdf5, evaluate, predict_to_hdf5


class _Pred:
    def __init__(self, mean):
        self.mean = mean
        self.var = None
        self.members = None


class StandIn:
    """Contract-shaped stand-in for file mechanics only: base composition per bin x fixed weights."""

    def __init__(self, seq_length=64, stride=8, num_targets=3, seed=0):
        self.seq_length = seq_length
        self.stride = stride
        self.crop = 0
        self.target_length = seq_length // stride
        self.num_targets = num_targets
        self.w = np.random.default_rng(seed).uniform(0.5, 2.0, size=(4, num_targets)).astype(np.float32)
        self.calls: list[tuple] = []
        self.seqs_predicted = 0

    def predict(self, x, rc=False, shifts=(0,), mc_n=0, target_indexes=None, batch_size=2, progress=None):
        x = np.asarray(x, np.float32)
        self.calls.append((x.shape[0], rc, tuple(shifts)))
        self.seqs_predicted += x.shape[0]
        S = x.shape[0]
        comp = x.reshape(S, self.target_length, self.stride, 4).mean(axis=2)
        out = comp @ self.w + 0.1
        if rc:
            comp_rc = x[:, ::-1, ::-1].reshape(S, self.target_length, self.stride, 4).mean(axis=2)
            out = 0.5 * (out + (comp_rc @ self.w + 0.1)[:, ::-1])
        return _Pred(out.astype(np.float32))


@pytest.fixture
def plain_set(tmp_path):
    rng = np.random.default_rng(1)
    N, L, P, T = 7, 64, 8, 3
    idx = rng.integers(0, 4, size=(N, L))
    x = np.eye(4, dtype=np.float32)[idx]
    y = rng.gamma(1.0, 1.0, size=(N, P, T)).astype(np.float32)
    path = write_plain_hdf5(tmp_path / "set.h5", x, y, target_ids=["a", "b", "c"])
    return open_dataset(path), x, y


def test_predict_to_hdf5_writes_every_row(tmp_path, plain_set):
    ts, x, _ = plain_set
    model = StandIn()
    want = model.predict(x).mean
    run = predict_to_hdf5(model, ts, tmp_path / "p.h5", batch_size=3, dtype="float32")
    assert (run.num_seqs, run.predicted, run.reused) == (7, 7, 0)
    with h5py.File(run.path, "r") as h5:
        np.testing.assert_array_equal(h5["preds"][()], want)
        assert h5["done"][()].all() and h5["preds"].chunks == (1, 8, 3)
        assert [s.decode() for s in h5["target_ids"][()]] == ["a", "b", "c"]
    # default float16 storage
    run16 = predict_to_hdf5(model, ts, tmp_path / "p16.h5", batch_size=3)
    with h5py.File(run16.path, "r") as h5:
        assert h5["preds"].dtype == np.float16
        np.testing.assert_array_equal(h5["preds"][()], want.astype(np.float16))


def test_interrupted_run_resumes_without_lost_or_repeated_rows(tmp_path, plain_set):
    ts, _, _ = plain_set
    full = predict_to_hdf5(StandIn(), ts, tmp_path / "full.h5", batch_size=2, rc=True, shifts=(-1, 0, 1))

    class Stop(Exception):
        pass

    def stop_after_four(done, total):
        if done >= 4:
            raise Stop

    model = StandIn()
    out = tmp_path / "part.h5"
    with pytest.raises(Stop):
        predict_to_hdf5(model, ts, out, batch_size=2, rc=True, shifts=(-1, 0, 1), progress=stop_after_four)
    assert model.seqs_predicted == 4
    with h5py.File(out, "r") as h5:
        assert h5["done"][()].tolist() == [True] * 4 + [False] * 3
    seen = []
    run = predict_to_hdf5(model, ts, out, batch_size=2, rc=True, shifts=(-1, 0, 1),
                          progress=lambda d, t: seen.append((d, t)))
    assert (run.predicted, run.reused) == (3, 4)
    assert model.seqs_predicted == 7  # nothing predicted twice
    assert seen[0] == (4, 7) and seen[-1] == (7, 7)
    assert all(c[1:] == (True, (-1, 0, 1)) for c in model.calls)
    with h5py.File(out, "r") as a, h5py.File(full.path, "r") as b:
        np.testing.assert_array_equal(a["preds"][()], b["preds"][()])
        assert a["done"][()].all()
    # a finished file: resuming predicts nothing
    again = predict_to_hdf5(model, ts, out, batch_size=2, rc=True, shifts=(-1, 0, 1))
    assert (again.predicted, again.reused) == (0, 7)


def test_resume_refuses_a_file_from_other_options(tmp_path, plain_set):
    ts, _, _ = plain_set
    out = tmp_path / "p.h5"
    predict_to_hdf5(StandIn(), ts, out)
    with pytest.raises(InputError, match="rc"):
        predict_to_hdf5(StandIn(), ts, out, rc=True)
    with pytest.raises(InputError, match="num_seqs"):
        predict_to_hdf5(StandIn(), ts.head(3), out)
    run = predict_to_hdf5(StandIn(), ts, out, rc=True, resume=False)  # overwrite
    assert run.predicted == 7
    out.write_bytes(b"garbage")
    with pytest.raises(InputError, match="resume"):
        predict_to_hdf5(StandIn(), ts, out)


def test_evaluate_streams_the_same_numbers_as_in_memory(tmp_path, plain_set):
    ts, x, y = plain_set
    model = StandIn()
    ref = accuracy_in_memory(model.predict(x, rc=True).mean, y)
    direct = evaluate(model, ts, batch_size=3, rc=True)
    via_file = evaluate(model, ts, batch_size=2, rc=True, preds_path=tmp_path / "e.h5")
    for acc in (direct, via_file):
        for name in METRIC_NAMES:
            np.testing.assert_allclose(getattr(acc, name), getattr(ref, name), atol=1e-6, err_msg=name)
    with pytest.raises(InputError, match="incomplete"):
        with h5py.File(tmp_path / "e.h5", "r+") as h5:
            h5["done"][0] = False
        accuracy_from_hdf5(tmp_path / "e.h5", ts)


def test_round_trip_predictions_as_targets_give_r_one(tmp_path, plain_set):
    ts, x, _ = plain_set
    model = StandIn()
    run = predict_to_hdf5(model, ts, tmp_path / "p.h5", dtype="float32")
    with h5py.File(run.path, "r") as h5:
        preds = h5["preds"][()]
    self_set = open_dataset(write_plain_hdf5(tmp_path / "self.h5", x, preds))
    acc = evaluate(model, self_set, batch_size=4)
    np.testing.assert_allclose(acc.pearsonr, 1.0, atol=1e-9)
    np.testing.assert_allclose(acc.r2, 1.0, atol=1e-9)
    np.testing.assert_allclose(acc.spearmanr, 1.0, atol=1e-9)


def test_geometry_mismatch_is_input_error(plain_set):
    ts, _, _ = plain_set
    with pytest.raises(InputError, match="do not match"):
        evaluate(StandIn(num_targets=4), ts)
    with pytest.raises(InputError, match="input length"):
        evaluate(StandIn(seq_length=128, stride=16), ts)


# ---- the command line ---------------------------------------------------------------------


def _cli(*args, cwd=None, timeout=120):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "seqnn_engine", *args], cwd=cwd or REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_cli_bad_input_is_one_line_exit_2(tmp_path):
    r = _cli("evaluate", "--params", "p.json", "--weights", "w.h5", "--data", str(tmp_path / "none"),
             "--out", str(tmp_path / "m.tsv"))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("error: test set not found")
    r = _cli("evaluate", "--params", "p.json", "--weights", "w.h5", "--data", str(tmp_path),
             "--shifts", "a,b", "--out", str(tmp_path / "m.tsv"))
    assert r.returncode == 2 and r.stderr.strip() == "error: --shifts must be comma-separated integers such as -1,0,1, got 'a,b'"
    assert not (tmp_path / "m.tsv").exists()
    # a negative shift list is a value, not an option
    r = _cli("evaluate", "--params", "p.json", "--weights", "w.h5", "--shifts", "-1,0,1", "--data",
             str(tmp_path / "none"), "--out", str(tmp_path / "m.tsv"))
    assert r.returncode == 2 and r.stderr.startswith("error: test set not found")


def test_cli_lists_evaluate():
    r = _cli("--help")
    assert r.returncode == 0 and "evaluate" in r.stdout


def _load_model_or_skip():
    import seqnn_engine

    if getattr(seqnn_engine, "load_model", None) is None:
        pytest.skip("seqnn_engine.load_model is not available in this build")
    return seqnn_engine.load_model


def test_cli_end_to_end_on_tiny_hg38(tmp_path):
    d = shared_path("datasets", "baskerville-tiny-hg38")
    load_model = _load_model_or_skip()
    out = tmp_path / "metrics.tsv"
    r = _cli("evaluate", "--params", str(d / "params.json"), "--weights", str(d / "model.h5"),
             "--data", str(d), "--batch-size", "2", "--out", str(out), timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "10/10" in r.stderr  # the progress bar
    assert "oneDNN" not in r.stderr and "Traceback" not in r.stderr  # no TensorFlow start-up banner
    rows = list(csv.DictReader(out.open(), delimiter="\t"))
    assert len(rows) == 74
    assert {"index", "identifier", "description", "pearsonr", "r2", "spearmanr", "poisson"} <= set(rows[0])
    assert rows[0]["identifier"] == "CNhs10752+" and rows[0]["description"].startswith("CAGE:")
    # independent: the engine API's predictions of all 10 sequences, every metric from full arrays
    model = load_model(d / "params.json", d / "model.h5", head=0, targets_path=d / "targets.txt")
    ts = open_dataset(d)
    preds, trues = [], []
    for x, y in ts.batches(2):
        preds.append(model.predict(x, batch_size=2).mean)
        trues.append(y)
    ref = accuracy_in_memory(np.concatenate(preds), np.concatenate(trues))
    for name in ("pearsonr", "r2", "spearmanr", "poisson"):
        cli = np.array([float(row[name]) for row in rows])
        np.testing.assert_allclose(cli, getattr(ref, name), rtol=0, atol=1e-6, err_msg=name)
    assert np.nanmean(ref.pearsonr) > 0.2  # a trained model, not noise


def test_rc_members_swap_strand_pairs_from_targets_txt():
    # the CLI's model: reverse-complement members must read a '+' track from its '-' partner
    d = shared_path("datasets", "baskerville-tiny-hg38")
    _load_model_or_skip()
    from types import SimpleNamespace

    from seqnn_engine.cli.evaluate import _load_model
    from seqnn_engine.genomics.onehot import reverse_complement

    args = SimpleNamespace(model=None, params=str(d / "params.json"), weights=str(d / "model.h5"), head=0,
                           targets=None)
    model = _load_model(args, d / "targets.txt")
    x = next(open_dataset(d).batches(1))[0]
    pair = [int(line.split("\t")[7]) for line in (d / "targets.txt").read_text().splitlines()[1:]]
    assert pair[:4] == [1, 0, 3, 2]
    fwd = model.predict(x).mean
    rc_raw = model.predict(reverse_complement(x)).mean[:, ::-1, :]
    want = 0.5 * (fwd + rc_raw[..., pair])
    np.testing.assert_allclose(model.predict(x, rc=True).mean, want, rtol=1e-5, atol=1e-5)


def test_cli_model_directory_in_process(tmp_path, capsys):
    d = shared_path("datasets", "baskerville-tiny-hg38")
    _load_model_or_skip()
    from seqnn_engine.cli import main

    mdir = tmp_path / "model"
    mdir.mkdir()
    for name in ("params.json", "model.h5", "targets.txt"):
        (mdir / name).symlink_to(d / name)
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    assert main(["evaluate", "--model", str(mdir), "--data", str(d), "--limit", "2", "--out", str(a)]) == 0
    assert main(["evaluate", "--params", str(d / "params.json"), "--weights", str(d / "model.h5"),
                 "--data", str(d), "--limit", "2", "--quiet", "--out", str(b)]) == 0
    err = capsys.readouterr().err
    assert "2/2" in err and "2 sequences x 74 targets" in err
    assert a.read_text() == b.read_text() and len(a.read_text().splitlines()) == 75
    # mismatched head: one line, exit 2
    assert main(["evaluate", "--model", str(mdir), "--head", "5", "--data", str(d), "--out", str(a)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1
