"""A session over several replicates of one model directory (Borzoi ships 4 folds).

:class:`ReplicateSession` is a :class:`~seqnn_engine.session.core.Session` whose predictions and
input attributions combine the selected replicates, each computed (and cached, under its own
model identity) by a session of that replicate: the members are replicates x RC x shifts x MC.

- prediction: ``preds`` the mean over replicates of each replicate's ensemble mean, ``sd`` the
  spread across replicates (ddof 1; 0 for one), ``members`` every member of every replicate
  (labels ``r{r}/...``), ``replicate_preds`` (R, P, T') each replicate's mean, for drawing one
  replicate on request;
- attribution: ``scores``, ``grads`` and ``objective`` averaged over replicates, with
  ``scores_replicate_std`` (L, 4) the per-position spread.

Other requests (layer gradients, variants, test sets, ...) use the first selected replicate, the
session's own model. Replicate sessions load when first used and share the store.

Resident cap. Replicate models load lazily, within a memory share for resident models
(:func:`resident_budget_bytes`: ``SEQNN_RESIDENT_MODELS_MB``, default half of the engine's memory
limit ``SEQNN_MAX_MEMORY_MB``; the other half is the requests' working memory). Before a replicate
loads, its resident size is estimated (:func:`seqnn_engine.memory.resident_model_bytes`: weights +
graph, from a loaded replicate of the same architecture, else from its weights file), and the least
recently used replicates' models are dropped until the loaded ones and it fit. Only the model is
dropped: the replicate's session, its result cache and the shared store stay, so nothing computed
is lost, and an evicted replicate reloads (the same weights, the same numbers) when used again.
A replicate that alone exceeds the share raises InputError naming the estimate and the variables.
Combined results are remembered under their combined key, and the sub-jobs of recent requests
(their keys need each replicate's identity) are kept, so repeating a request loads nothing.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from collections import OrderedDict

import numpy as np

from ..errors import InputError
from ..model.replicates import replicate_spread
from .core import Job, Session
from .options import Progress, Request
from .results import Attribution, Prediction

COMBINED = ("predict", "attribute")
RESIDENT_ENV = "SEQNN_RESIDENT_MODELS_MB"
RESIDENT_SHARE = 0.5          # default share of SEQNN_MAX_MEMORY_MB for resident replicate models
_JOB_MEMO = 32                # combined requests whose sub-jobs are kept


def resident_budget_bytes() -> int:
    """Bytes the loaded replicate models of one ReplicateSession may take together:
    ``SEQNN_RESIDENT_MODELS_MB`` (MB) when set, else ``RESIDENT_SHARE`` (half) of the engine's
    memory limit (:func:`seqnn_engine.memory.limit_bytes`, ``SEQNN_MAX_MEMORY_MB``)."""
    v = os.environ.get(RESIDENT_ENV, "").strip()
    if not v:
        from .. import memory
        return int(memory.limit_bytes() * RESIDENT_SHARE)
    try:
        mb = float(v)
    except ValueError:
        raise InputError(f"{RESIDENT_ENV} must be a number of MB (the memory for resident replicate "
                         f"models), got {v!r}") from None
    if not mb > 0:
        raise InputError(f"{RESIDENT_ENV} must be a positive number of MB, got {v!r}")
    return int(mb * 2**20)


class _Replica(Session):
    """The session of one replicate of a :class:`ReplicateSession`: its model loads (and is
    dropped) through the owner's resident cap; its result cache and the store stay."""

    def __init__(self, owner: "ReplicateSession", model_dir, replicate: int, **kw):
        super().__init__(model_dir, replicate=replicate, **kw)
        self._owner = owner

    @property
    def model(self):
        return self._owner._resident_model(self)

    def job(self, kind: str, req: Request, **kw) -> Job:
        # a kept sub-job must not pin the model (Job.model only serves estimate_bytes' fallback)
        return dataclasses.replace(super().job(kind, req, **kw), model=None)


class ReplicateSession(Session):
    """Session over replicates ``replicates`` ('all', '0,2' or a list) of ``model_dir``."""

    def __init__(self, model_dir, replicates="all", *, precision: str = "float32", **kw):
        from ..model.modeldir import read_model_dir
        from ..model.replicates import parse_replicates

        md = read_model_dir(model_dir)
        self.replicate_indexes = parse_replicates(replicates, len(md.weights))
        self._weights_paths = list(md.weights)
        super().__init__(model_dir, replicate=self.replicate_indexes[0], precision=precision, **kw)
        self._kw = kw
        self._res_lock = threading.RLock()
        self._lru: OrderedDict = OrderedDict()    # replicate -> its session, loaded models, oldest first
        self._per_model = None                    # resident bytes of one replicate, once one has loaded
        self._jobs: OrderedDict = OrderedDict()
        self.loads = 0
        self.max_loaded = 0
        self._subs = {}

    # ------------------------------------------------------------------ the resident cap
    @property
    def model(self):
        """The first selected replicate's model (loaded within the resident cap)."""
        return self.replicate_session(self.replicate_indexes[0]).model

    @property
    def loaded(self) -> bool:
        return bool(self._lru)

    def resident(self) -> list:
        """Replicate indexes whose models are loaded now, least recently used first."""
        with self._res_lock:
            return list(self._lru)

    def resident_estimate(self, r: int) -> int:
        """Estimated resident bytes of replicate ``r``'s model (weights + graph): that of a loaded
        replicate (same architecture), else its weights file's size (before anything has loaded)."""
        if self._per_model is not None:
            return int(self._per_model)
        return int(os.path.getsize(self._weights_paths[r]))

    def _too_big(self, need: int, budget: int) -> InputError:
        from ..limits import human_bytes
        return InputError(f"one replicate of this model needs an estimated {human_bytes(need)} resident "
                          f"(weights + graph), more than the {human_bytes(budget)} for resident models: raise "
                          f"{RESIDENT_ENV} (default: half of SEQNN_MAX_MEMORY_MB) or SEQNN_MAX_MEMORY_MB, or "
                          "choose a single replicate")

    def _resident_model(self, sub: _Replica):
        """sub's model, loaded within the cap: least recently used models are dropped first."""
        with self._res_lock:
            m = sub._model
            if m is None:
                budget = resident_budget_bytes()
                need = self.resident_estimate(sub.replicate)
                if need > budget:
                    raise self._too_big(need, budget)
                while self._lru and (len(self._lru) + 1) * need > budget:
                    _, old = self._lru.popitem(last=False)
                    old._model = None               # its cache and the store keep every result
                m = sub._load()
                if self._per_model is None:
                    from ..memory import resident_model_bytes
                    self._per_model = resident_model_bytes(m)
                    if self._per_model > budget:
                        raise self._too_big(self._per_model, budget)
                sub._model = m
                self.loads += 1
            self._lru[sub.replicate] = sub
            self._lru.move_to_end(sub.replicate)
            self.max_loaded = max(self.max_loaded, len(self._lru))
            return m

    def replicate_session(self, r: int) -> Session:
        """The session of replicate ``r`` (created on first use, sharing this session's store; its
        model loads on first use within the resident cap)."""
        with self._res_lock:
            if r not in self._subs:
                if r not in self.replicate_indexes:
                    raise InputError(f"replicate {r} is not one of this session's {self.replicate_indexes}")
                kw = dict(self._kw)
                kw["store"] = self.cache.store
                self._subs[r] = _Replica(self, self.model_dir, r, precision=self.precision, **kw)
            return self._subs[r]

    def _sub_jobs(self, kind: str, req: Request, **kw) -> list:
        try:
            memo = (kind, req, tuple(sorted(kw.items())))
            hash(memo)
        except TypeError:
            memo = None
        with self._res_lock:
            if memo is not None and memo in self._jobs:
                self._jobs.move_to_end(memo)
                return self._jobs[memo]
        # keys need each replicate's identity: the loaded replicates first (most recently used
        # first, while they are loaded), then the others, so only those load
        recent = list(self._lru)[::-1]
        order = recent + [r for r in self.replicate_indexes if r not in recent]
        made = {r: self.replicate_session(r).job(kind, req, **kw) for r in order}
        subs = [made[r] for r in self.replicate_indexes]
        if memo is not None:
            with self._res_lock:
                self._jobs[memo] = subs
                while len(self._jobs) > _JOB_MEMO:
                    self._jobs.popitem(last=False)
        return subs

    def job(self, kind: str, req: Request, **kw) -> Job:
        if kind not in COMBINED:
            return super().job(kind, req, **kw)
        subs = self._sub_jobs(kind, req, **kw)
        key = hashlib.sha256(("replicates:" + ",".join(j.key for j in subs)).encode()).hexdigest()
        combine = self._combine_predictions if kind == "predict" else self._combine_attributions
        typed = Prediction if kind == "predict" else Attribution

        def remember(res):
            self.cache.get_or_compute(key, lambda: (dict(res.arrays), dict(res.meta)), persist=False)
            return res

        def peek():
            hit = self.cache.peek(key)
            if hit is not None:
                return self._typed(hit, typed)
            parts = [j.cached() for j in subs]
            return None if any(p is None for p in parts) else remember(combine(key, parts))

        def run(progress: Progress = None):
            hit = self.cache.peek(key)
            if hit is not None:
                return self._typed(hit, typed)
            parts = []
            n = len(subs)
            for i, j in enumerate(subs):
                cb = None if progress is None else \
                    (lambda done, total, i=i: progress(i * max(total, 1) + done, n * max(total, 1)))
                parts.append(j.run(cb))
            return remember(combine(key, parts))

        est = subs[0].estimate
        return Job(key, peek, run, subs[0].members * len(subs), estimate=est, kind=subs[0].kind)

    def predict(self, req: Request, progress: Progress = None) -> Prediction:
        return self.job("predict", req).run(progress)

    def _combine_predictions(self, key: str, parts) -> Prediction:
        reps = np.stack([np.asarray(p["preds"], np.float32) for p in parts])
        members = np.concatenate([np.asarray(p["members"], np.float32) for p in parts], axis=-1)
        labels = [f"r{r}/{lab}" for r, p in zip(self.replicate_indexes, parts)
                  for lab in p.meta.get("member_labels", [])]
        arrays = {"preds": reps.mean(axis=0), "sd": replicate_spread(reps), "members": members,
                  "target_index": np.asarray(parts[0]["target_index"]), "replicate_preds": reps}
        meta = {"member_labels": labels, "replicates": list(self.replicate_indexes)}
        return Prediction(key, arrays, meta, _source(parts))

    def _combine_attributions(self, key: str, parts) -> Attribution:
        scores = np.stack([np.asarray(p["scores"], np.float32) for p in parts])
        arrays = {"scores": scores.mean(axis=0),
                  "grads": np.stack([np.asarray(p["grads"], np.float32) for p in parts]).mean(axis=0),
                  "objective": np.asarray(np.mean([float(p["objective"]) for p in parts]), np.float32),
                  "scores_replicate_std": replicate_spread(scores)}
        meta = dict(parts[0].meta)
        meta["replicates"] = list(self.replicate_indexes)
        return Attribution(key, arrays, meta, _source(parts))


def _source(parts) -> str:
    srcs = {p.source for p in parts}
    return "computed" if "computed" in srcs else ("store" if "store" in srcs else "memory")


def open_session(model_dir, replicate=0, **kw) -> Session:
    """A Session of one replicate (int) or a ReplicateSession ('all' or a list of indexes)."""
    if isinstance(replicate, (int, np.integer)):
        return Session(model_dir, replicate=int(replicate), **kw)
    return ReplicateSession(model_dir, replicate, **kw)


__all__ = ["ReplicateSession", "open_session"]
