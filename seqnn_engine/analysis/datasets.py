"""Held-out test sets: Baskerville TFRecord directories, TF1 Basenji HDF5 and a plain HDF5.

:func:`open_dataset` inspects a path, checks its layout and returns a :class:`TestSet` whose
:meth:`TestSet.batches` streams ``(x, y)`` pairs without loading the whole set:

* ``x``: ``(B, L, 4)`` float32 one-hot (A, C, G, T; N is an all-zero row),
* ``y``: ``(B, P, T)`` float32 targets (P = target_length bins, T = num_targets).

Formats (detected from the path):

``tfrecord``
    A Baskerville data directory: ``statistics.json`` (``seq_length``, ``target_length``,
    ``num_targets``, ``pool_width``, ``crop_bp``, ``seq_1hot``, ``{split}_seqs``), ``targets.txt``
    and ``tfrecords/{split}-*.tfr`` (read in natural file-name order). Each record is a
    ZLIB-compressed ``tf.train.Example`` with ``sequence`` (uint8 indices A0 C1 G2 T3 N4 when
    ``seq_1hot`` is true, otherwise ``(L, 4)`` uint8) and ``target`` (float16 bytes of shape
    ``(target_length, num_targets)``).
``basenji_h5``
    A TF1 Basenji HDF5 file: ``{split}_in`` ``(N, L, 4)`` bool, ``{split}_out`` ``(N, P, T)``
    float16, optional ``target_labels`` (and ``target_ids``).
``plain_h5``
    An HDF5 file with ``sequences`` ``(N, L, 4)`` and ``targets`` ``(N, P, T)`` (any numeric
    dtype), optional ``target_ids``/``target_labels``. :func:`write_plain_hdf5` writes one.

Every problem the user can fix (missing files or keys, wrong shapes, unreadable or corrupt
records) raises :class:`~seqnn_engine.errors.InputError` naming the file.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from ..errors import InputError
from ..genomics.onehot import from_indices
from ..model.targets import read_targets

FORMATS = ("tfrecord", "basenji_h5", "plain_h5")

Batch = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class TestSet:
    """An opened test set (nothing but its description is held in memory).

    path: the directory (``tfrecord``) or HDF5 file.
    format: one of :data:`FORMATS`.
    split: the split label (``test``, ``valid``, ``train``); the plain HDF5 has none (``""``).
    num_seqs: N, the number of sequences served by :meth:`batches` (after any :meth:`head`).
    seq_length: L, input length in bp.
    target_length: P, target bins per sequence.
    num_targets: T.
    target_index: (T,) the index column of targets.txt (0..T-1 when the set has none).
    target_ids: (T,) identifiers.
    target_labels: (T,) descriptions (identifiers again when the set has none).
    pool_width: bp per target bin when known (statistics.json, or L // P without crop), else None.
    crop_bp: bp cropped from each side before binning when known, else None.
    """

    __test__ = False  # not a pytest test class despite the name

    path: Path
    format: str
    split: str
    num_seqs: int
    seq_length: int
    target_length: int
    num_targets: int
    target_index: tuple[int, ...] = field(repr=False)
    target_ids: tuple[str, ...] = field(repr=False)
    target_labels: tuple[str, ...] = field(repr=False)
    pool_width: int | None = None
    crop_bp: int | None = None
    _reader: Callable[[int, int, int], Iterator[Batch]] | None = field(
        default=None, repr=False, compare=False
    )

    def batches(self, batch_size: int = 2, start: int = 0, stop: int | None = None) -> Iterator[Batch]:
        """Yield ``(x (B, L, 4) float32, y (B, P, T) float32)`` for sequences ``[start, stop)``.

        Batches hold ``batch_size`` sequences except possibly the last one. ``stop`` defaults to
        :attr:`num_seqs`.
        """
        if int(batch_size) < 1:
            raise InputError(f"batch size must be at least 1, got {batch_size}")
        stop = self.num_seqs if stop is None else min(int(stop), self.num_seqs)
        start = max(0, int(start))
        if start >= stop:
            return iter(())
        assert self._reader is not None
        return self._reader(int(batch_size), start, stop)

    def head(self, n: int | None) -> "TestSet":
        """The first ``n`` sequences only (``None`` keeps all)."""
        if n is None:
            return self
        if int(n) < 1:
            raise InputError(f"the sequence limit must be at least 1, got {n}")
        return dataclasses.replace(self, num_seqs=min(int(n), self.num_seqs))


# ----------------------------------------------------------------------------------------
# entry point


def open_dataset(path: str | os.PathLike, split: str = "test") -> TestSet:
    """Open a test set, detecting its format (see the module docstring).

    A directory is read as a Baskerville data directory; a file as HDF5 (TF1 Basenji when it
    holds ``{split}_in``/``{split}_out``, plain when it holds ``sequences``/``targets``).
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"test set not found: {p} (give a Baskerville data directory or an HDF5 file)")
    if p.is_dir():
        return _open_tfrecord_dir(p, split)
    return _open_hdf5(p, split)


def _natural_key(s: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


# ----------------------------------------------------------------------------------------
# Baskerville TFRecords


def _open_tfrecord_dir(d: Path, split: str) -> TestSet:
    stats_path = d / "statistics.json"
    if not stats_path.is_file():
        raise InputError(
            f"{d} is a directory without statistics.json: give a Baskerville data directory "
            "(statistics.json, targets.txt, tfrecords/) or an HDF5 file"
        )
    try:
        stats = json.loads(stats_path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read {stats_path}: {e}") from None
    if not isinstance(stats, dict):
        raise InputError(f"{stats_path} must hold a JSON object")
    need = ("seq_length", "target_length", "num_targets")
    missing = [k for k in need if k not in stats]
    if missing:
        raise InputError(f"{stats_path} lacks {', '.join(missing)}")
    L, P, T = (_stat_int(stats, k, stats_path, 1) for k in need)
    seq_1hot = bool(stats.get("seq_1hot", False))

    files = sorted(glob.glob(str(d / "tfrecords" / f"{glob.escape(split)}-*.tfr")), key=_natural_key)
    if not files:
        raise InputError(f"no TFRecord files match {d / 'tfrecords' / (split + '-*.tfr')} (is the split name right?)")

    targets_path = d / "targets.txt"
    if targets_path.is_file():
        table = read_targets(targets_path)
        index = [int(i) for i in table.index]
        ids = list(table.identifier)
        descs = [d or i for d, i in zip(table.description, table.identifier)]
        if len(ids) != T:
            raise InputError(f"{targets_path} lists {len(ids)} targets but {stats_path} says num_targets={T}")
    else:
        index, ids, descs = list(range(T)), [f"t{i}" for i in range(T)], [f"t{i}" for i in range(T)]

    n_key = f"{split}_seqs"
    if n_key in stats:
        n = _stat_int(stats, n_key, stats_path, 0)
    else:
        n = _count_records(files)

    def reader(batch_size: int, start: int, stop: int) -> Iterator[Batch]:
        return _tfr_batches(files, stats_path, n, L, P, T, seq_1hot, batch_size, start, stop)

    pool = _stat_int(stats, "pool_width", stats_path, 1) if stats.get("pool_width") is not None else None
    crop = _stat_int(stats, "crop_bp", stats_path, 0) if stats.get("crop_bp") is not None else None
    return TestSet(
        path=d, format="tfrecord", split=split, num_seqs=n, seq_length=L, target_length=P,
        num_targets=T, target_index=tuple(index), target_ids=tuple(ids), target_labels=tuple(descs),
        pool_width=int(pool) if pool is not None else None,
        crop_bp=int(crop) if crop is not None else None, _reader=reader,
    )


def _stat_int(stats: dict, key: str, path: Path, minimum: int) -> int:
    """statistics.json entry ``key`` as an integer >= minimum (InputError naming the entry otherwise)."""
    v = stats[key]
    try:
        if isinstance(v, bool) or float(v) != int(v):
            raise ValueError
        v = int(v)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{path}: {key} must be an integer, got {v!r:.40}") from None
    if v < minimum:
        raise InputError(f"{path}: {key} must be at least {minimum}, got {v}")
    return v


def _tf():
    import tensorflow as tf  # imported lazily: HDF5 sets never pay for it

    return tf


def _count_records(files: Sequence[str]) -> int:
    tf = _tf()
    n = 0
    for f in files:
        try:
            for _ in tf.data.TFRecordDataset(f, compression_type="ZLIB"):
                n += 1
        except tf.errors.OpError as e:
            raise InputError(f"cannot read TFRecord file {f}: {_tf_message(e)}") from None
    return n


def _tf_message(e: Exception) -> str:
    msg = getattr(e, "message", None) or str(e)
    return msg.strip().splitlines()[0] if msg.strip() else type(e).__name__


def _iter_records(files: Sequence[str]) -> Iterator[tuple[str, bytes, bytes]]:
    """(file, sequence bytes, target bytes) for every record, in order."""
    tf = _tf()
    spec = {
        "sequence": tf.io.FixedLenFeature([], tf.string),
        "target": tf.io.FixedLenFeature([], tf.string),
    }
    for f in files:
        ds = tf.data.TFRecordDataset(f, compression_type="ZLIB").map(
            lambda r: tf.io.parse_single_example(r, spec)
        )
        it = iter(ds)
        while True:
            try:
                ex = next(it)
            except StopIteration:
                break
            except tf.errors.OpError as e:
                raise InputError(
                    f"corrupt or unreadable TFRecord file {f}: {_tf_message(e)} (records must be "
                    "ZLIB-compressed tf.train.Example with 'sequence' and 'target' bytes)"
                ) from None
            yield f, ex["sequence"].numpy(), ex["target"].numpy()


def _tfr_batches(files, stats_path, n, L, P, T, seq_1hot, batch_size, start, stop) -> Iterator[Batch]:
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    count = 0
    for i, (f, sb, tb) in enumerate(_iter_records(files)):
        if i >= stop:
            break
        count = i + 1
        if i < start:
            continue
        xs.append(_decode_sequence(sb, f, i, L, seq_1hot))
        ys.append(_decode_target(tb, f, i, P, T))
        if len(xs) == batch_size:
            yield np.stack(xs), np.stack(ys)
            xs, ys = [], []
    if xs:
        yield np.stack(xs), np.stack(ys)
    if count < stop:
        names = ", ".join(Path(f).name for f in files)
        raise InputError(
            f"{stats_path} promises {n} sequences but the TFRecord files ({names}) hold only "
            f"{count}: a file may be truncated, or the statistics are wrong"
        )


def _decode_sequence(b: bytes, f: str, i: int, L: int, seq_1hot: bool) -> np.ndarray:
    raw = np.frombuffer(b, dtype=np.uint8)
    if seq_1hot:
        if raw.size != L:
            raise InputError(f"{f}: record {i} has a sequence of {raw.size} bytes; seq_length is {L}")
        if raw.size and raw.max() > 4:
            raise InputError(f"{f}: record {i} has sequence codes above 4 (expected A0 C1 G2 T3 N4)")
        return from_indices(raw)
    if raw.size != 4 * L:
        raise InputError(
            f"{f}: record {i} has a sequence of {raw.size} bytes; expected {4 * L} for a ({L}, 4) "
            "uint8 one-hot (statistics.json says seq_1hot is false)"
        )
    return raw.reshape(L, 4).astype(np.float32)


def _decode_target(b: bytes, f: str, i: int, P: int, T: int) -> np.ndarray:
    if len(b) != 2 * P * T:
        raise InputError(
            f"{f}: record {i} has {len(b)} target bytes; expected {2 * P * T} (float16 of "
            f"shape ({P}, {T}) from statistics.json)"
        )
    return np.frombuffer(b, dtype=np.float16).reshape(P, T).astype(np.float32)


# ----------------------------------------------------------------------------------------
# HDF5 layouts


def _open_hdf5(p: Path, split: str) -> TestSet:
    import h5py

    try:
        h5 = h5py.File(p, "r")
    except _H5_ERRORS as e:
        raise InputError(
            f"cannot open {p} as HDF5 ({_first_line(e)}): give a Baskerville data directory or an "
            "HDF5 test set"
        ) from None
    with h5, _h5_damage(p):
        keys = set(h5.keys())
        if f"{split}_in" in keys or f"{split}_out" in keys:
            fmt, kx, ky = "basenji_h5", f"{split}_in", f"{split}_out"
        elif "sequences" in keys or "targets" in keys:
            fmt, kx, ky = "plain_h5", "sequences", "targets"
            split = ""
        else:
            splits = sorted({k[:-3] for k in keys if k.endswith("_in")})
            hint = f" (it has splits {', '.join(splits)})" if splits else ""
            raise InputError(
                f"{p} is neither a TF1 Basenji HDF5 with '{split}_in'/'{split}_out'{hint} nor a plain "
                "HDF5 with 'sequences'/'targets'"
            )
        for k in (kx, ky):
            if k not in keys or not isinstance(h5[k], h5py.Dataset):
                raise InputError(f"{p} lacks the dataset '{k}' (needs both '{kx}' and '{ky}')")
        xs, ys = h5[kx].shape, h5[ky].shape
        if len(xs) != 3 or xs[2] != 4:
            raise InputError(f"{p}: '{kx}' has shape {xs}; expected (N, L, 4)")
        if len(ys) != 3:
            raise InputError(f"{p}: '{ky}' has shape {ys}; expected (N, P, T)")
        if xs[0] != ys[0]:
            raise InputError(f"{p}: '{kx}' holds {xs[0]} sequences but '{ky}' holds {ys[0]}")
        for k in (kx, ky):
            if h5[k].dtype.kind not in "biuf":
                raise InputError(f"{p}: '{k}' has dtype {h5[k].dtype}; expected numbers or booleans")
        N, L, P, T = xs[0], xs[1], ys[1], ys[2]
        if min(L, P, T) < 1:
            raise InputError(f"{p}: empty sequence or target axes ({kx} {xs}, {ky} {ys})")
        ids = _h5_strings(h5, "target_ids", T, p)
        labels = _h5_strings(h5, "target_labels", T, p)
    if ids is None:
        ids = labels if labels is not None else [f"t{i}" for i in range(T)]
    if labels is None:
        labels = ids

    def reader(batch_size: int, start: int, stop: int) -> Iterator[Batch]:
        return _h5_batches(p, kx, ky, batch_size, start, stop)

    return TestSet(
        path=p, format=fmt, split=split, num_seqs=int(N), seq_length=int(L), target_length=int(P),
        num_targets=int(T), target_index=tuple(range(T)), target_ids=tuple(ids),
        target_labels=tuple(labels), pool_width=int(L // P) if L % P == 0 else None, crop_bp=None,
        _reader=reader,
    )


# what h5py raises for damaged files besides OSError (bad heap signatures, cache ring mismatches, ...)
_H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError)


@contextmanager
def _h5_damage(p: Path):
    """Turn h5py's errors on a damaged file into an InputError naming it (InputErrors pass through)."""
    try:
        yield
    except InputError:
        raise
    except _H5_ERRORS as e:
        raise InputError(f"{p} is damaged or not a readable HDF5 test set ({_first_line(e)}): "
                         "re-download or re-create the file") from None


def _first_line(e: Exception) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def _h5_strings(h5, key: str, T: int, p: Path) -> list[str] | None:
    if key not in h5:
        return None
    try:
        vals = h5[key][()]
    except OSError as e:
        raise InputError(f"{p}: cannot read '{key}' ({_first_line(e)})") from None
    vals = np.atleast_1d(vals)
    if vals.shape != (T,):
        raise InputError(f"{p}: '{key}' has shape {vals.shape}; expected ({T},), one per target")
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in vals]


def _h5_batches(p: Path, kx: str, ky: str, batch_size: int, start: int, stop: int) -> Iterator[Batch]:
    import h5py

    try:
        h5 = h5py.File(p, "r")
    except _H5_ERRORS as e:
        raise InputError(f"cannot open {p} as HDF5 ({_first_line(e)})") from None
    with h5, _h5_damage(p):
        dx, dy = h5[kx], h5[ky]
        for a in range(start, stop, batch_size):
            b = min(a + batch_size, stop)
            try:
                x = np.asarray(dx[a:b], dtype=np.float32)
                y = np.asarray(dy[a:b], dtype=np.float32)
            except OSError as e:
                raise InputError(f"corrupt or unreadable HDF5 data in {p} (sequences {a}..{b - 1}): {_first_line(e)}") from None
            yield x, y


def write_plain_hdf5(
    path: str | os.PathLike,
    sequences: np.ndarray,
    targets: np.ndarray,
    target_ids: Sequence[str] | None = None,
    target_labels: Sequence[str] | None = None,
) -> Path:
    """Write a plain-layout HDF5 test set.

    sequences: (N, L, 4) one-hot, stored as bool when it holds only 0/1, else float32.
    targets: (N, P, T), stored as float32 (exact for the float16/float32 inputs seen here).
    """
    import h5py

    x = np.asarray(sequences)
    y = np.asarray(targets)
    if x.ndim != 3 or x.shape[2] != 4:
        raise InputError(f"sequences must have shape (N, L, 4), got {x.shape}")
    if y.ndim != 3 or y.shape[0] != x.shape[0]:
        raise InputError(f"targets must have shape (N, P, T) with N={x.shape[0]}, got {y.shape}")
    binary = bool(np.all((x == 0) | (x == 1)))
    from ..io.atomic import atomic_path
    out = Path(path)
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:   # no half-written file under the final name
        h5.create_dataset("sequences", data=x.astype(bool if binary else np.float32),
                          chunks=(1,) + x.shape[1:] if x.shape[0] else None)
        h5.create_dataset("targets", data=y.astype(np.float32), chunks=(1,) + y.shape[1:] if y.shape[0] else None)
        str_dt = h5py.string_dtype("utf-8")
        if target_ids is not None:
            h5.create_dataset("target_ids", data=np.array(list(target_ids), dtype=object), dtype=str_dt)
        if target_labels is not None:
            h5.create_dataset("target_labels", data=np.array(list(target_labels), dtype=object), dtype=str_dt)
    return out


def find_datasets(roots, max_depth: int = 4) -> list[tuple[str, str]]:
    """Test sets under allow-listed roots: (label, absolute path) of Baskerville data directories
    (statistics.json + tfrecords/) and HDF5 test sets (``{split}_in``/``{split}_out`` or
    ``sequences``/``targets``); files reached through symlinks out of a root are skipped."""
    import h5py

    from ..model.modeldir import is_allowed, walk_roots
    out = []
    for base, d, filenames in walk_roots(roots, max_depth):
        if "statistics.json" in filenames and (d / "tfrecords").is_dir() \
                and is_allowed(d / "tfrecords", [base]) and is_allowed(d / "statistics.json", [base]):
            out.append((f"{d.name} (TFRecords)", str(d)))
        if "params.json" in filenames:
            continue
        for f in sorted(filenames):
            if not f.endswith((".h5", ".hdf5")) or not is_allowed(d / f, [base]):
                continue
            try:
                with h5py.File(d / f, "r") as h5:
                    keys = set(h5.keys())
            except OSError:
                continue
            if any(k.endswith("_in") for k in keys) or {"sequences", "targets"} <= keys:
                out.append((f"{f} (HDF5)", str(d / f)))
    return out
