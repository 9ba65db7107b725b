"""Replicate ensembles: several weight files of one architecture (e.g. Borzoi's 4 folds) as members.

A model directory lists its replicates in ``manifest.json`` ``weights`` (or holds several
``*.h5``). :class:`Replicates` loads them lazily, one at a time unless the memory budget
allows more to stay resident, and runs every request on each replicate in turn. The
members of a request are replicates x RC x shifts x MC: each replicate runs the same
augmentation ensemble, and the results combine over replicates.

Combination (R replicates, each with its own ensemble mean ``m_r`` over its E members):

- ``mean`` = mean over r of ``m_r`` (the mean over all R x E members, every replicate
  having the same members);
- ``replicate_std`` = standard deviation over r of ``m_r`` (ddof 1; 0 for one replicate):
  the spread the band shows;
- ``per_replicate`` (R, ...): every ``m_r``, for drawing one replicate on request.

Attributions combine the same way per position: ``scores`` / ``hypothetical`` are the
replicate means and ``scores_std`` their spread. Every replicate keeps its own
identity (digest); the ensemble's digest covers all of them and the selection.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..errors import InputError

ProgressFn = Optional[Callable[[float, str], None]]


def parse_replicates(spec, n_available: int) -> list[int]:
    """Replicate indexes from 'all', an int, '0,2' or a sequence -> sorted unique list.

    InputError naming the valid range for an index that the model does not have.
    """
    if spec is None:
        return [0]
    if isinstance(spec, str):
        s = spec.strip().lower()
        if s == "all":
            return list(range(n_available))
        try:
            idx = [int(v) for v in s.split(",") if v.strip()]
        except ValueError:
            raise InputError(f"replicates must be 'all' or comma-separated indexes like 0,2; got {spec!r}") from None
    elif isinstance(spec, (int, np.integer)):
        idx = [int(spec)]
    else:
        idx = [int(v) for v in spec]
    if not idx:
        raise InputError("no replicate selected: give 'all' or at least one index")
    bad = [i for i in idx if not 0 <= i < n_available]
    if bad:
        raise InputError(f"replicate(s) {bad} out of range: the model has {n_available} weights file(s) "
                         f"(indexes 0-{n_available - 1})")
    return sorted(set(idx))


@dataclass
class ReplicatePrediction:
    """Predictions combined over replicates.

    mean: (S, P, T) float32 mean over replicates of each replicate's ensemble mean.
    replicate_std: (S, P, T) float32 spread over replicates (ddof 1; zeros for one).
    per_replicate: (R, S, P, T) float32 each replicate's ensemble mean.
    member_var: (S, P, T) float32 variance over all R x E members (law of total variance
    from each replicate's mean and member variance), or None when the replicates were run
    without member variances. replicates: (R,) the replicate indexes. target_indexes:
    (T,) as in :class:`~seqnn_engine.model.seqmodel.Prediction`.
    """

    mean: np.ndarray
    replicate_std: np.ndarray
    per_replicate: np.ndarray
    member_var: Optional[np.ndarray]
    replicates: np.ndarray
    target_indexes: Optional[np.ndarray] = None
    member_labels: list = field(default_factory=list)


@dataclass
class ReplicateAttribution:
    """Input attributions combined over replicates.

    method: the method name. scores, hypothetical: (S, L, 4) float32 means over
    replicates. scores_std, hypothetical_std: (S, L, 4) float32 spread over replicates
    (ddof 1; zeros for one). objective: (S,) mean objective; objective_per_replicate:
    (R, S). per_replicate_scores: (R, S, L, 4). replicates: (R,) indexes.
    """

    method: str
    scores: np.ndarray
    hypothetical: np.ndarray
    scores_std: np.ndarray
    hypothetical_std: np.ndarray
    objective: np.ndarray
    objective_per_replicate: np.ndarray
    per_replicate_scores: np.ndarray
    replicates: np.ndarray
    options: dict = field(default_factory=dict)

    def position_scores(self) -> np.ndarray:
        """(S, L) the mean contribution of each position (sum over bases of ``scores``)."""
        return self.scores.sum(axis=-1)


def replicate_spread(stack: np.ndarray) -> np.ndarray:
    """(...) float32 standard deviation over the replicate axis 0 of ``stack`` (R, ...) (ddof 1;
    zeros for one replicate): the spread every surface reports."""
    stack = np.asarray(stack, np.float32)
    if stack.shape[0] < 2:
        return np.zeros(stack.shape[1:], np.float32)
    return stack.std(axis=0, ddof=1).astype(np.float32)


class Replicates:
    """The replicates of one model directory, loaded lazily.

    model_dir: path of the directory (or a :class:`~seqnn_engine.model.modeldir.ModelDir`).
    replicates: 'all', an index, '0,2' or a list (default 0). head, precision: as
    :func:`~seqnn_engine.model.modeldir.load_model_dir`. max_resident: replicates kept
    loaded at once (default: as many as fit half the engine's memory limit beside the
    work of a request, at least 1). loader: ``loader(replicate) -> SeqModel`` (default:
    load_model_dir of the directory).
    """

    def __init__(self, model_dir, replicates="all", head: Optional[int] = None, precision: str = "float32",
                 max_resident: Optional[int] = None, loader: Optional[Callable] = None, **load_kw):
        from .modeldir import ModelDir, load_model_dir, read_model_dir

        self.dir = model_dir if isinstance(model_dir, ModelDir) else read_model_dir(model_dir)
        self.indexes = parse_replicates(replicates, len(self.dir.weights))
        self.head, self.precision = head, precision
        self._loader = loader or (lambda r: load_model_dir(self.dir.path, replicate=r, head=head,
                                                           precision=precision, **load_kw))
        self._resident: dict[int, object] = {}
        self._order: list[int] = []
        self.max_resident = max_resident
        self.loads = 0

    def __len__(self) -> int:
        return len(self.indexes)

    def _limit(self, first) -> int:
        if self.max_resident is not None:
            return max(1, int(self.max_resident))
        from ..memory import limit_bytes, weights_bytes
        per = max(weights_bytes(first), 1)
        return max(1, int(limit_bytes() // 2 // per))

    def model(self, r: int):
        """The SeqModel of replicate ``r`` (loads it; evicts the oldest beyond max_resident)."""
        if r not in self.indexes:
            raise InputError(f"replicate {r} is not in this ensemble's selection {self.indexes}")
        if r in self._resident:
            return self._resident[r]
        m = self._loader(r)
        self.loads += 1
        self._resident[r] = m
        self._order.append(r)
        while len(self._order) > self._limit(m):
            old = self._order.pop(0)
            self._resident.pop(old, None)
        return m

    def resident(self) -> list[int]:
        """Replicate indexes loaded now."""
        return list(self._order)

    @property
    def digest(self) -> str:
        """The ensemble's identity: every selected replicate's digest, in order."""
        h = hashlib.sha256()
        for r in self.indexes:
            h.update(f"{r}:{self.model(r).digest};".encode())
        return h.hexdigest()[:16]

    def _each(self, fn, progress: ProgressFn):
        out = []
        n = len(self.indexes)
        for i, r in enumerate(self.indexes):
            if progress:
                progress(i / n, f"replicate {r} ({i + 1}/{n})")
            out.append(fn(self.model(r)))
        if progress:
            progress(1.0, "replicates done")
        return out

    def predict(self, x, progress: ProgressFn = None, **kw) -> ReplicatePrediction:
        """Ensemble predictions of every replicate, combined. x: (S, L, 4); kw: SeqModel.predict's."""
        kw = dict(kw)
        kw["return_var"] = True
        preds = self._each(lambda m: m.predict(x, **kw), progress)
        means = np.stack([p.mean for p in preds]).astype(np.float32)
        mean = means.mean(axis=0).astype(np.float32)
        member_var = None
        if all(p.var is not None for p in preds):
            # total variance over all R x E members: within (mean of member variances, as
            # population variances) + between (population variance of the replicate means)
            e = max(len(preds[0].member_labels), 1)
            within = np.stack([p.var * (e - 1) / e for p in preds]).mean(axis=0)
            between = means.var(axis=0)
            n = e * len(preds)
            member_var = ((within + between) * n / max(n - 1, 1)).astype(np.float32)
        labels = [f"r{r}/{lab}" for r in self.indexes for lab in preds[0].member_labels]
        return ReplicatePrediction(mean=mean, replicate_std=replicate_spread(means), per_replicate=means,
                                   member_var=member_var, replicates=np.asarray(self.indexes),
                                   target_indexes=preds[0].target_indexes, member_labels=labels)

    def attribute(self, x, method: str = "saliency", progress: ProgressFn = None, **kw) -> ReplicateAttribution:
        """Input attributions of every replicate, combined. x: (S, L, 4); kw: attribute()'s."""
        res = self._each(lambda m: m.attribute(x, method=method, **kw), progress)
        scores = np.stack([a.scores for a in res]).astype(np.float32)
        hyp = np.stack([a.hypothetical for a in res]).astype(np.float32)
        obj = np.stack([np.asarray(a.objective, np.float64) for a in res])
        return ReplicateAttribution(method=method, scores=scores.mean(axis=0), hypothetical=hyp.mean(axis=0),
                                    scores_std=replicate_spread(scores), hypothetical_std=replicate_spread(hyp),
                                    objective=obj.mean(axis=0), objective_per_replicate=obj,
                                    per_replicate_scores=scores, replicates=np.asarray(self.indexes),
                                    options=dict(res[0].options))
