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
"""
from __future__ import annotations

import hashlib
import numpy as np

from ..errors import InputError
from ..model.replicates import replicate_spread
from .core import Job, Session
from .options import Progress, Request
from .results import Attribution, Prediction

COMBINED = ("predict", "attribute")


class ReplicateSession(Session):
    """Session over replicates ``replicates`` ('all', '0,2' or a list) of ``model_dir``."""

    def __init__(self, model_dir, replicates="all", *, precision: str = "float32", **kw):
        from ..model.modeldir import read_model_dir
        from ..model.replicates import parse_replicates

        self.replicate_indexes = parse_replicates(replicates, len(read_model_dir(model_dir).weights))
        super().__init__(model_dir, replicate=self.replicate_indexes[0], precision=precision, **kw)
        self._subs = {self.replicate_indexes[0]: self}
        self._kw = kw

    def replicate_session(self, r: int) -> Session:
        """The session of replicate ``r`` (created on first use, sharing this session's store)."""
        if r not in self._subs:
            if r not in self.replicate_indexes:
                raise InputError(f"replicate {r} is not one of this session's {self.replicate_indexes}")
            kw = dict(self._kw)
            kw["store"] = self.cache.store
            self._subs[r] = Session(self.model_dir, replicate=r, precision=self.precision, **kw)
        return self._subs[r]

    def _sub_jobs(self, kind: str, req: Request, **kw) -> list:
        return [Session.job(self.replicate_session(r), kind, req, **kw) for r in self.replicate_indexes]

    def job(self, kind: str, req: Request, **kw) -> Job:
        if kind not in COMBINED:
            return super().job(kind, req, **kw)
        subs = self._sub_jobs(kind, req, **kw)
        key = hashlib.sha256(("replicates:" + ",".join(j.key for j in subs)).encode()).hexdigest()
        combine = self._combine_predictions if kind == "predict" else self._combine_attributions

        def peek():
            parts = [j.cached() for j in subs]
            return None if any(p is None for p in parts) else combine(key, parts)

        def run(progress: Progress = None):
            parts = []
            n = len(subs)
            for i, j in enumerate(subs):
                cb = None if progress is None else \
                    (lambda done, total, i=i: progress(i * max(total, 1) + done, n * max(total, 1)))
                parts.append(j.run(cb))
            return combine(key, parts)

        est = subs[0].estimate
        return Job(key, peek, run, subs[0].members * len(subs), estimate=est, kind=subs[0].kind, model=self.model)

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
