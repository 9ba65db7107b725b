"""Predict a whole test set into an HDF5 file (chunked, resumable) and evaluate models on test sets.

Output layout of :func:`predict_to_hdf5`:

``preds``
    ``(N, P, T)`` float16 (default, as the reference's ``hound_eval --save``) or float32, chunked
    one sequence per chunk. float16 saturates above 65504: ask for float32 for such tracks.
``done``
    ``(N,)`` bool; row ``i`` is set only after ``preds[i]`` was written and flushed, so a run that
    is interrupted and started again with ``resume=True`` predicts exactly the rows still missing.
``target_ids``, ``target_labels``
    ``(T,)`` strings copied from the test set.
attributes
    ``layout`` (``seqnn_engine.predictions/1``), ``source``, ``split``, ``num_seqs``, ``rc``,
    ``shifts``, ``dtype``, ``model_id``: a resumed run must match all of them.

The model is anything following the engine's model contract: ``seq_length``, ``target_length``,
``num_targets`` and ``predict(x, rc=, shifts=, batch_size=) -> result`` with ``result.mean``
``(S, P, T)``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .datasets import TestSet
from ..errors import InputError
from .metrics import DEFAULT_SPEARMAN_BUDGET, Accuracy, AccuracyAccumulator

LAYOUT = "seqnn_engine.predictions/1"

Progress = Callable[[int, int], None]  # (sequences finished, total)


@dataclass(frozen=True)
class PredictionRun:
    """Result of :func:`predict_to_hdf5`.

    path: the HDF5 file.
    num_seqs: N rows in ``preds``.
    predicted: rows predicted by this call.
    reused: rows found already done (resumed).
    """

    path: Path
    num_seqs: int
    predicted: int
    reused: int


def _shifts(shifts: Sequence[int] | int | None) -> tuple[int, ...]:
    if shifts is None:
        return (0,)
    if isinstance(shifts, (int, np.integer)):
        return (int(shifts),)
    out = tuple(int(s) for s in shifts)
    if not out:
        raise InputError("shifts must list at least one integer (use 0 for no shift)")
    return out


def check_geometry(model, testset: TestSet) -> None:
    """Raise InputError unless the model's input and output shapes match the test set's."""
    problems = []
    if int(model.seq_length) != testset.seq_length:
        problems.append(f"input length {model.seq_length} bp vs {testset.seq_length} bp")
    if int(model.target_length) != testset.target_length:
        problems.append(f"{model.target_length} output bins vs {testset.target_length} target bins")
    if int(model.num_targets) != testset.num_targets:
        problems.append(f"{model.num_targets} targets vs {testset.num_targets}")
    if problems:
        raise InputError(
            f"model and test set {testset.path} do not match ({'; '.join(problems)}): check the "
            "params file, the head index and the data directory"
        )


def _model_id(model) -> str:
    for name in ("digest", "model_id", "id"):
        v = getattr(model, name, None)
        if isinstance(v, str) and v:
            return v
    return ""


def _predict_mean(model, x: np.ndarray, rc: bool, shifts: tuple[int, ...], batch_size: int) -> np.ndarray:
    res = model.predict(x, rc=rc, shifts=shifts, batch_size=batch_size)
    mean = np.asarray(getattr(res, "mean", res), dtype=np.float32)
    want = (x.shape[0], int(model.target_length), int(model.num_targets))
    if mean.shape != want:
        raise RuntimeError(f"model returned predictions of shape {mean.shape}; expected {want}")
    return mean


def _fingerprint(model, testset: TestSet, rc: bool, shifts: tuple[int, ...], dtype: str) -> dict:
    return {
        "layout": LAYOUT,
        "source": str(Path(testset.path).resolve()),
        "split": testset.split,
        "num_seqs": int(testset.num_seqs),
        "rc": bool(rc),
        "shifts": json.dumps(list(shifts)),
        "dtype": dtype,
        "model_id": _model_id(model),
    }


def _attr(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def predict_to_hdf5(
    model,
    testset: TestSet,
    out_path: str | os.PathLike,
    batch_size: int = 2,
    rc: bool = False,
    shifts: Sequence[int] = (0,),
    resume: bool = True,
    progress: Progress | None = None,
    dtype: str = "float16",
) -> PredictionRun:
    """Predict every sequence of ``testset`` into ``out_path`` (layout in the module docstring).

    resume: reuse rows of an existing file made with the same options (else it is overwritten).
    progress: called as ``progress(finished, total)`` after every batch.
    """
    import h5py

    if dtype not in ("float16", "float32"):
        raise InputError(f"prediction dtype must be float16 or float32, got {dtype!r}")
    check_geometry(model, testset)
    shifts = _shifts(shifts)
    N, P, T = testset.num_seqs, testset.target_length, testset.num_targets
    out = Path(out_path)
    want = _fingerprint(model, testset, rc, shifts, dtype)

    h5 = None
    if resume and out.exists():
        try:
            h5 = h5py.File(out, "r+")
        except OSError as e:
            raise InputError(
                f"cannot reopen {out} to resume ({str(e).splitlines()[0] if str(e) else e}): delete it "
                "or run without resume"
            ) from None
        have = {k: _attr(h5.attrs.get(k)) for k in want}
        ok = (
            have == want
            and "preds" in h5 and h5["preds"].shape == (N, P, T)
            and "done" in h5 and h5["done"].shape == (N,)
        )
        if not ok:
            h5.close()
            diff = [k for k in want if have.get(k) != want[k]] or ["array shapes"]
            raise InputError(
                f"{out} was written by a different run ({', '.join(diff)} differ): delete it, choose "
                "another output path or run without resume"
            )
    if h5 is None:
        out.parent.mkdir(parents=True, exist_ok=True)
        h5 = h5py.File(out, "w")
        for k, v in want.items():
            h5.attrs[k] = v
        h5.create_dataset("preds", shape=(N, P, T), dtype=dtype, chunks=(1, P, T) if N else None)
        h5.create_dataset("done", shape=(N,), dtype=bool, data=np.zeros(N, bool))
        sdt = h5py.string_dtype("utf-8")
        h5.create_dataset("target_ids", data=np.array(testset.target_ids, dtype=object), dtype=sdt)
        h5.create_dataset("target_labels", data=np.array(testset.target_labels, dtype=object), dtype=sdt)
        h5.flush()

    predicted = 0
    with h5:
        done = np.asarray(h5["done"][()], dtype=bool)
        reused = int(done.sum())
        finished = reused
        if progress is not None:
            progress(finished, N)
        todo_idx = np.flatnonzero(~done)
        if todo_idx.size:
            start = int(todo_idx[0])
            a = start
            for x, _y in testset.batches(batch_size, start=start):
                b = a + x.shape[0]
                todo = ~done[a:b]
                if todo.any():
                    pred = _predict_mean(model, x[todo], rc, shifts, batch_size)
                    rows = np.flatnonzero(todo) + a
                    if todo.all():
                        h5["preds"][a:b] = pred.astype(dtype)
                    else:
                        for r, row in zip(pred, rows):
                            h5["preds"][row] = r.astype(dtype)
                    h5.flush()
                    done[rows] = True
                    h5["done"][a:b] = done[a:b]
                    h5.flush()
                    predicted += rows.size
                    finished += rows.size
                    if progress is not None:
                        progress(finished, N)
                a = b
    return PredictionRun(path=out, num_seqs=N, predicted=predicted, reused=reused)


def accuracy_from_hdf5(
    preds_path: str | os.PathLike,
    testset: TestSet,
    batch_size: int = 8,
    log: bool = False,
    pseudocount: float = 1.0,
    clip: float | None = None,
    spearman_budget: int = DEFAULT_SPEARMAN_BUDGET,
) -> Accuracy:
    """Stream ``preds`` of a finished :func:`predict_to_hdf5` file against the test set's targets."""
    import h5py

    p = Path(preds_path)
    try:
        h5 = h5py.File(p, "r")
    except OSError as e:
        raise InputError(f"cannot open predictions {p}: {str(e).splitlines()[0] if str(e) else e}") from None
    with h5:
        if "preds" not in h5:
            raise InputError(f"{p} has no 'preds' dataset")
        dp = h5["preds"]
        want = (testset.num_seqs, testset.target_length, testset.num_targets)
        if dp.shape[0] < want[0] or dp.shape[1:] != want[1:]:
            raise InputError(f"{p}: 'preds' has shape {dp.shape}; the test set needs {want}")
        if "done" in h5 and not bool(np.all(h5["done"][: want[0]])):
            raise InputError(f"{p} is incomplete (some rows were never predicted): resume the prediction first")
        acc = AccuracyAccumulator(testset.num_targets, log=log, pseudocount=pseudocount, clip=clip,
                                  spearman_budget=spearman_budget)
        a = 0
        for _x, y in testset.batches(batch_size):
            b = a + y.shape[0]
            acc.update(np.asarray(dp[a:b], dtype=np.float32), y)
            a = b
    return acc.result()


def evaluate(
    model,
    testset: TestSet,
    batch_size: int = 2,
    rc: bool = False,
    shifts: Sequence[int] = (0,),
    progress: Progress | None = None,
    log: bool = False,
    pseudocount: float = 1.0,
    clip: float | None = None,
    spearman_budget: int = DEFAULT_SPEARMAN_BUDGET,
    preds_path: str | os.PathLike | None = None,
    resume: bool = True,
) -> Accuracy:
    """Predict the test set with the model (ensemble over ``rc``/``shifts``) and measure accuracy.

    Without ``preds_path`` predictions stream straight into the accumulator (float32, nothing
    written). With it, predictions go to that file first (float32, resumable, see
    :func:`predict_to_hdf5`) and the accuracy is streamed from the file.
    """
    check_geometry(model, testset)
    shifts = _shifts(shifts)
    if preds_path is not None:
        predict_to_hdf5(model, testset, preds_path, batch_size=batch_size, rc=rc, shifts=shifts,
                        resume=resume, progress=progress, dtype="float32")
        return accuracy_from_hdf5(preds_path, testset, batch_size=batch_size, log=log,
                                  pseudocount=pseudocount, clip=clip, spearman_budget=spearman_budget)
    acc = AccuracyAccumulator(testset.num_targets, log=log, pseudocount=pseudocount, clip=clip,
                              spearman_budget=spearman_budget)
    finished = 0
    if progress is not None:
        progress(0, testset.num_seqs)
    for x, y in testset.batches(batch_size):
        acc.update(_predict_mean(model, x, rc, shifts, batch_size), y)
        finished += x.shape[0]
        if progress is not None:
            progress(finished, testset.num_seqs)
    return acc.result()
