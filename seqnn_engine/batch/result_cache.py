"""Two-level result cache of a :class:`~seqnn_engine.session.Session`.

Level 1: a bounded in-process LRU (shared by every user of the session: the dashboard's browser
sessions, a notebook).
Level 2: the engine's persistent :class:`seqnn_engine.batch.store.ResultStore`, shared with the CLI,
so a result computed before a restart (or by a batch job) is a file read.

Entries are ``Result`` objects: named numpy arrays (read-only: the same object is handed
to every session, so nobody may modify it) plus a JSON metadata dict. Keys are
``seqnn_engine.batch.store.result_key`` strings built from exact digests (sequence string, model
files, canonical options); arrays are never hashed.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np


@dataclass(frozen=True)
class Result:
    """A cached result. arrays: name -> read-only numpy array; meta: JSON-able dict;
    source: where it came from this time ('memory', 'store' or 'computed')."""

    key: str
    arrays: Mapping[str, np.ndarray]
    meta: dict = field(default_factory=dict)
    source: str = "computed"

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def __contains__(self, name) -> bool:
        return name in self.arrays

    def __getattr__(self, name: str) -> np.ndarray:
        """The named array, as an attribute (``r.preds`` = ``r["preds"]``)."""
        arrays = object.__getattribute__(self, "arrays")
        if name in arrays:
            return arrays[name]
        raise AttributeError(f"{type(self).__name__} has no array or attribute {name!r}")

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self.arrays.values()))


def _freeze(arrays: Mapping[str, np.ndarray]) -> dict:
    out = {}
    for k, v in arrays.items():
        a = np.array(v, copy=True) if not isinstance(v, np.ndarray) or v.flags.writeable else v
        a.flags.writeable = False
        out[k] = a
    return out


class ResultCache:
    """Memory LRU (bounded by bytes) in front of an optional persistent ResultStore.

    Thread-safe. ``get_or_compute(key, compute)`` calls ``compute()`` -> ``(arrays, meta)``
    on a miss of both levels, stores the result in both and returns it.
    """

    def __init__(self, max_bytes: int = 256 << 20, store=None):
        self.max_bytes = int(max_bytes)
        self.store = store
        self._lru: OrderedDict[str, Result] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = {"memory": 0, "store": 0, "computed": 0}

    def __len__(self) -> int:
        return len(self._lru)

    def _remember(self, r: Result) -> None:
        with self._lock:
            old = self._lru.pop(r.key, None)
            if old is not None:
                self._bytes -= old.nbytes
            if r.nbytes > self.max_bytes:
                return
            self._lru[r.key] = r
            self._bytes += r.nbytes
            while self._bytes > self.max_bytes and self._lru:
                _, ev = self._lru.popitem(last=False)
                self._bytes -= ev.nbytes

    def peek(self, key: str) -> Result | None:
        """The result if cached at either level (no computation)."""
        with self._lock:
            r = self._lru.get(key)
            if r is not None:
                self._lru.move_to_end(key)
                self.hits["memory"] += 1
                return Result(r.key, r.arrays, r.meta, "memory")
        if self.store is not None:
            s = self.store.get(key)
            if s is not None:
                r = Result(key, _freeze(s.arrays), dict(s.meta), "store")
                self._remember(r)
                self.hits["store"] += 1
                return r
        return None

    def get_or_compute(self, key: str, compute: Callable[[], tuple], persist: bool = True,
                       accept: Callable[[Result], bool] | None = None) -> Result:
        """The cached result of ``key``, else ``compute()`` -> (arrays, meta) stored at both levels.
        ``accept(hit)`` False makes a cached entry count as a miss (it is recomputed and replaced)."""
        hit = self.peek(key)
        if hit is not None and (accept is None or accept(hit)):
            return hit
        arrays, meta = compute()
        r = Result(key, _freeze(arrays), dict(meta or {}), "computed")
        self.hits["computed"] += 1
        self._remember(r)
        if persist and self.store is not None:
            try:
                self.store.put(key, dict(r.arrays), r.meta)
            except Exception:  # the store is best effort: a full disk must not break the page
                pass
        return r

    def forget(self, key: str) -> None:
        """Drop ``key`` from memory (a recomputed entry then replaces the stored one)."""
        with self._lock:
            old = self._lru.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes

    def clear_memory(self) -> None:
        with self._lock:
            self._lru.clear()
            self._bytes = 0
