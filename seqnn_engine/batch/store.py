"""Content-addressed result store shared by the dashboard and the CLI.

One directory holds one ``.npz`` file per result. A result is a set of named numpy arrays
plus a small JSON metadata dict, addressed by a key derived from exactly what determines
it: the model (digest of its files and head), the input sequence (digest of its exact
string) and the options (canonical JSON). A batch run therefore pre-computes what the
dashboard later shows, and a repeat after a restart is a file read.

Layout::

    root/
      .lock                 flock(2) target; held exclusively while evicting
      v1/<key>.npz          one entry (arrays + "__meta__" JSON as uint8 bytes)
      v1/.<key>.npz.<pid>.<rand>.tmp   in-flight writes (ignored by readers)

Guarantees:

* Writes are atomic (temporary file in the same directory, then ``os.replace``): a
  reader sees a complete entry or none. No pickle anywhere (``allow_pickle=False``).
* Bounded size: after every ``put`` the least-recently-used entries are removed until the
  total file size is at most ``max_bytes``. "Used" is the file's mtime, set explicitly
  (nanoseconds) on ``put`` and on every successful ``get``.
* Safe under concurrent writers (threads or processes): puts never need a lock; eviction
  runs under an exclusive ``flock`` on ``root/.lock``. A reader that loses a race against
  eviction or a concurrent overwrite sees a miss, never an exception.
* A corrupt or unreadable entry is reported as a miss and removed.

Digests (all sha256, hex):

* :func:`sequence_digest` hashes the EXACT string (UTF-8), with no case folding or
  whitespace stripping: ``"acgt"`` and ``"ACGT"`` have different digests even though they
  encode to the same one-hot. Callers that want such inputs to share a cache entry must
  normalise the string first (e.g. ``seq.upper()``).
* :func:`array_digest` hashes an array's dtype, shape and bytes (for inputs that arrive as
  arrays rather than strings).
* :func:`file_digest` streams a file's bytes; :func:`model_digest` (the model's identity,
  ``SeqModel.digest``) combines the params, weights (or random-weight seed) and targets
  files with the head index and the precision.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from ..io.atomic import TMP_SUFFIX, temp_path_for
from ..errors import InputError

log = logging.getLogger(__name__)

KEY_SCHEMA = "seqnn-engine-store-v1"
_ENTRY_DIR = "v1"
_ENTRY_SUFFIX = ".npz"
_META_NAME = "__meta__"
_HEX = set("0123456789abcdef")
_STALE_TMP_SECONDS = 3600.0
DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB

# --------------------------------------------------------------------------------------
# digests


def sequence_digest(seq: str) -> str:
    """sha256 (hex) of the exact sequence string, UTF-8 encoded; no normalisation."""
    if not isinstance(seq, str):
        raise TypeError(f"sequence_digest expects a str, got {type(seq).__name__}")
    return hashlib.sha256(seq.encode("utf-8")).hexdigest()


def array_digest(arr: np.ndarray) -> str:
    """sha256 (hex) of an array's dtype, shape and C-order bytes."""
    a = np.ascontiguousarray(arr)
    if a.dtype.hasobject:
        raise TypeError("array_digest cannot hash object arrays")
    h = hashlib.sha256()
    h.update(f"{a.dtype.str}|{a.shape}|".encode())
    h.update(memoryview(a).cast("B"))
    return h.hexdigest()


_FILE_DIGEST_MEMO: dict[tuple, str] = {}
_FILE_DIGEST_LOCK = threading.Lock()


def file_digest(path: str | os.PathLike, *, chunk_bytes: int = 1 << 20) -> str:
    """sha256 (hex) of a file's bytes, read in chunks.

    Memoised per process on (real path, inode, size, mtime_ns), so re-hashing an unchanged
    multi-hundred-MB weights file on every dashboard interaction costs one ``stat``.
    Raises InputError when the file cannot be read.
    """
    p = Path(path)
    try:
        real = p.resolve(strict=True)
        st = real.stat()
    except OSError as e:
        raise InputError(f"cannot read {p} to compute its digest ({e.strerror or e}); check the path") from e
    memo_key = (str(real), st.st_ino, st.st_size, st.st_mtime_ns)
    with _FILE_DIGEST_LOCK:
        hit = _FILE_DIGEST_MEMO.get(memo_key)
    if hit is not None:
        return hit
    h = hashlib.sha256()
    try:
        with open(real, "rb") as f:
            while True:
                block = f.read(chunk_bytes)
                if not block:
                    break
                h.update(block)
    except OSError as e:
        raise InputError(f"cannot read {p} to compute its digest ({e.strerror or e}); check the path") from e
    digest = h.hexdigest()
    with _FILE_DIGEST_LOCK:
        if len(_FILE_DIGEST_MEMO) > 4096:
            _FILE_DIGEST_MEMO.clear()
        _FILE_DIGEST_MEMO[memo_key] = digest
    return digest


def model_digest(params_path: str | os.PathLike,
                 weights_paths: str | os.PathLike | Sequence[str | os.PathLike] | None,
                 head: int = 0,
                 targets_path: str | os.PathLike | None = None,
                 precision: str = "float32",
                 seed: int | None = None) -> str:
    """sha256 (hex) identifying a model: everything that changes one of its numbers.

    Covers the params file, the weights (in the given order) or, for random weights
    (``weights_paths`` None or empty), ``"random:<seed>"``, the head index, the targets.txt
    (its clip_soft / scale / sum_stat change untransformed objectives and its strand pairs
    RC ensembles) and the precision ('float32' | 'bfloat16'). File contents are hashed, not
    names, so a copied or renamed model directory keeps its digest. The order of
    ``weights_paths`` matters (replicate order can change float sums). This is the one
    definition of a model's identity: ``SeqModel.digest`` is this value, and store keys,
    the CLI and the dashboard read it from there.
    """
    if weights_paths is None:
        weights_paths = []
    elif isinstance(weights_paths, (str, os.PathLike)):
        weights_paths = [weights_paths]
    weights_paths = list(weights_paths)
    if weights_paths and seed is not None:
        raise InputError("a model has either weights files or a random-weight seed, not both")
    if not weights_paths and seed is None:
        raise InputError("model_digest needs at least one weights file, or the seed of random weights")
    parts = {
        "schema": "seqnn-engine-model-v2",
        "params": file_digest(params_path),
        "weights": [file_digest(w) for w in weights_paths] if weights_paths else f"random:{int(seed)}",
        "head": int(head),
        "targets": None if targets_path is None else file_digest(targets_path),
        "precision": str(precision),
    }
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()


# --------------------------------------------------------------------------------------
# canonical options -> key


def _normalise(value: Any, where: str) -> Any:
    """Turn ``value`` into plain JSON types deterministically (see :func:`canonical_json`)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            raise InputError(f"option {where} is {f}; use a finite number")
        return f
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if isinstance(k, (np.integer, int)) and not isinstance(k, bool):
                k = str(int(k))
            if not isinstance(k, str):
                raise InputError(f"option names must be strings; {where} has key {k!r}")
            out[k] = _normalise(v, f"{where}.{k}")
        return out
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise InputError(f"option {where} is an object array; pass numbers or strings")
        return [_normalise(v, f"{where}[{i}]") for i, v in enumerate(value.tolist())]
    if isinstance(value, (list, tuple)):
        return [_normalise(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        items = [_normalise(v, f"{where}{{}}") for v in value]
        return sorted(items, key=lambda x: json.dumps(x, sort_keys=True))
    raise InputError(f"option {where} has unsupported type {type(value).__name__}; "
                     "use numbers, strings, booleans, lists or dicts")


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, numpy scalars/arrays and tuples as
    plain numbers/lists, sets sorted, paths as strings; NaN/inf rejected.

    ``1`` and ``1.0`` stay distinct (int vs float), as do ``True`` and ``1``; integer dict
    keys become strings (so ``{1: x}`` equals ``{"1": x}``).
    """
    return json.dumps(_normalise(value, "options"), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False)


def result_key(model_digest: str, sequence_digest: str, options: Mapping[str, Any] | None = None) -> str:
    """Key (sha256 hex) of a result: model digest + sequence digest + canonical options."""
    payload = canonical_json({
        "schema": KEY_SCHEMA,
        "model": str(model_digest),
        "sequence": str(sequence_digest),
        "options": dict(options or {}),
    })
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------
# entries


@dataclass(frozen=True)
class StoredResult:
    """One store entry.

    arrays: name -> numpy array, exactly as stored (dtype and shape preserved).
    meta: the JSON metadata dict given to ``put``.
    Mapping-style access (``r["preds"]``, ``"preds" in r``, ``r.keys()``) reads ``arrays``.
    """

    key: str
    arrays: dict[str, np.ndarray]
    meta: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def __contains__(self, name: object) -> bool:
        return name in self.arrays

    def keys(self):
        return self.arrays.keys()


def _check_key(key: str) -> str:
    if not (isinstance(key, str) and len(key) == 64 and set(key) <= _HEX):
        raise InputError(f"store key must be 64 lower-case hex characters (from ResultStore.key), got {key!r}")
    return key


def _encode_entry(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None) -> bytes:
    payload: dict[str, np.ndarray] = {}
    for name, arr in arrays.items():
        if not isinstance(name, str) or not name or name.startswith("__") or "/" in name:
            raise InputError(f"array name {name!r} is not allowed in the store "
                             "(use a non-empty name without '/' that does not start with '__')")
        a = np.asarray(arr)
        if a.dtype.hasobject:
            raise InputError(f"array {name!r} has dtype object; the store keeps numeric, bool "
                             "and fixed-width string arrays only")
        payload[name] = a
    meta_text = json.dumps(_normalise(dict(meta or {}), "meta"), sort_keys=True,
                           separators=(",", ":"), allow_nan=False)
    payload[_META_NAME] = np.frombuffer(meta_text.encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **payload)
    return buf.getvalue()


def _decode_entry(key: str, f) -> StoredResult:
    with np.load(f, allow_pickle=False) as z:
        names = list(z.files)
        if _META_NAME not in names:
            raise ValueError("entry has no metadata")
        arrays = {n: z[n] for n in names if n != _META_NAME}
        meta = json.loads(z[_META_NAME].tobytes().decode("utf-8"))
    if not isinstance(meta, dict):
        raise ValueError("entry metadata is not a dict")
    return StoredResult(key=key, arrays=arrays, meta=meta)


class _Clock:
    """Strictly increasing nanosecond timestamps within this process (for LRU order)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        with self._lock:
            t = max(time.time_ns(), self._last + 1)
            self._last = t
            return t


_CLOCK = _Clock()


class ResultStore:
    """A bounded, content-addressed cache of results in one directory.

    ``root``: the directory (created if missing). Several processes may share it.
    ``max_bytes``: bound on the total size of entry files (bytes, ``st_size``).
    Entries larger than ``max_bytes`` are not stored (``put`` returns False).
    """

    def __init__(self, root: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if int(max_bytes) <= 0:
            raise InputError(f"store max_bytes must be positive, got {max_bytes}")
        self.root = Path(root)
        self.max_bytes = int(max_bytes)
        self._dir = self.root / _ENTRY_DIR
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"cannot create the result store at {self.root} ({e.strerror or e}); "
                             "choose a writable directory") from e
        self._lock_path = self.root / ".lock"

    # keys ---------------------------------------------------------------------------
    key = staticmethod(result_key)

    def path_for(self, key: str) -> Path:
        """The entry file of ``key`` (it may not exist)."""
        return self._dir / f"{_check_key(key)}{_ENTRY_SUFFIX}"

    # reads --------------------------------------------------------------------------
    def contains(self, key: str) -> bool:
        """True when an entry file exists for ``key`` (it is not validated or touched)."""
        return self.path_for(key).exists()

    __contains__ = contains

    def get(self, key: str) -> StoredResult | None:
        """The entry for ``key``, or None on a miss. Marks the entry as recently used.

        A corrupt entry counts as a miss and is removed.
        """
        path = self.path_for(key)
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            return None
        except OSError as e:
            log.warning("result store: cannot open %s (%s); treating as a miss", path, e)
            return None
        with f:
            try:
                result = _decode_entry(key, f)
            except Exception as e:  # any decoding failure (bad zip, bad header, bad JSON) is corruption
                log.warning("result store: removing corrupt entry %s (%s)", path.name, e)
                self._remove_if_same(path, os.fstat(f.fileno()))
                return None
        self._touch(path)
        return result

    def __getitem__(self, key: str) -> StoredResult:
        r = self.get(key)
        if r is None:
            raise KeyError(key)
        return r

    # writes -------------------------------------------------------------------------
    def put(self, key: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None) -> bool:
        """Store ``arrays`` (name -> array) and ``meta`` (JSON-able dict) under ``key``.

        Replaces any existing entry atomically, then evicts least-recently-used entries to
        keep the store within ``max_bytes``. Returns False (and stores nothing) when the
        entry alone exceeds ``max_bytes`` or the disk write fails; invalid arrays or
        metadata raise InputError.
        """
        final = self.path_for(key)
        data = _encode_entry(arrays, meta)
        if len(data) > self.max_bytes:
            log.info("result store: entry of %d bytes exceeds max_bytes=%d; not stored", len(data), self.max_bytes)
            return False
        tmp = temp_path_for(final)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            t = _CLOCK.now_ns()
            os.utime(tmp, ns=(t, t))
            os.replace(tmp, final)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            log.warning("result store: could not write %s (%s); result not cached", final.name, e)
            return False
        self.evict()
        return True

    def get_or_compute(self, key: str, compute) -> StoredResult:
        """The entry for ``key``; on a miss call ``compute()`` -> ``(arrays, meta)``, store
        it (best effort) and return it. Concurrent callers may both compute; the results
        are identical by construction of the key, and the last write wins."""
        hit = self.get(key)
        if hit is not None:
            return hit
        arrays, meta = compute()
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        meta = json.loads(canonical_json(dict(meta or {})))
        self.put(key, arrays, meta)
        return StoredResult(key=key, arrays=arrays, meta=meta)

    def delete(self, key: str) -> bool:
        """Remove the entry for ``key``; True when there was one."""
        try:
            os.unlink(self.path_for(key))
            return True
        except FileNotFoundError:
            return False

    def clear(self) -> None:
        """Remove every entry."""
        with self._locked():
            for entry in self._scan():
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry[2])

    # size and eviction -----------------------------------------------------------------
    def keys(self) -> list[str]:
        """Keys of the entries present now, least recently used first."""
        return [p.name[: -len(_ENTRY_SUFFIX)] for _, _, p in sorted(self._scan())]

    def __len__(self) -> int:
        return len(self._scan())

    def size_bytes(self) -> int:
        """Total size (bytes) of the entry files present now."""
        return sum(size for _, size, _ in self._scan())

    def evict(self, max_bytes: int | None = None) -> int:
        """Remove least-recently-used entries until the total is <= ``max_bytes``
        (default: the store's bound). Also removes temporary files abandoned by crashed
        writers. Returns the number of entries removed. Runs under the store's lock."""
        bound = self.max_bytes if max_bytes is None else int(max_bytes)
        removed = 0
        with self._locked():
            entries = self._scan(clean_stale_tmp=True)
            total = sum(size for _, size, _ in entries)
            if total <= bound:
                return 0
            for _, size, path in sorted(entries):
                if total <= bound:
                    break
                try:
                    os.unlink(path)
                    removed += 1
                except FileNotFoundError:
                    pass
                total -= size
        return removed

    # internals ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _scan(self, clean_stale_tmp: bool = False) -> list[tuple[int, int, Path]]:
        """(mtime_ns, size, path) of every entry file present now."""
        out = []
        now = time.time()
        try:
            it = os.scandir(self._dir)
        except FileNotFoundError:
            return out
        with it:
            for de in it:
                name = de.name
                try:
                    if name.endswith(_ENTRY_SUFFIX) and not name.startswith("."):
                        st = de.stat(follow_symlinks=False)
                        out.append((st.st_mtime_ns, st.st_size, Path(de.path)))
                    elif clean_stale_tmp and name.startswith(".") and name.endswith(TMP_SUFFIX):
                        st = de.stat(follow_symlinks=False)
                        if now - st.st_mtime > _STALE_TMP_SECONDS:
                            os.unlink(de.path)
                except FileNotFoundError:
                    continue
        return out

    def _touch(self, path: Path) -> None:
        t = _CLOCK.now_ns()
        with contextlib.suppress(OSError):
            os.utime(path, ns=(t, t))

    def _remove_if_same(self, path: Path, st_open: os.stat_result) -> None:
        """Unlink ``path`` only if it is still the file we read (not a fresh replacement)."""
        try:
            st_now = os.stat(path)
            if (st_now.st_ino, st_now.st_dev) == (st_open.st_ino, st_open.st_dev):
                os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            log.warning("result store: could not remove corrupt entry %s (%s)", path, e)

    def __repr__(self) -> str:
        return f"ResultStore({str(self.root)!r}, max_bytes={self.max_bytes})"
