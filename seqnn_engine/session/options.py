"""Requests to a session: an input sequence plus options (ensemble, targets, objective, method),
and the session's defaults (one value for every surface)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Optional

from ..genomics.genes import TSS_RADIUS  # the one TSS radius of every surface

Progress = Optional[Callable[[int, int], None]]


def chain_progress(progress: Progress, i: int, n: int) -> Progress:
    """The progress callback of part ``i`` of ``n`` equal parts of one piece of work reporting to ``progress``."""
    if progress is None:
        return None
    return lambda done, total: progress(i * max(total, 1) + done, n * max(total, 1))

#: above this many targets only the chosen targets are predicted (Borzoi-size heads)
ALL_TARGETS_LIMIT = 512
#: large heads are predicted and cached per block of this many consecutive output indexes: a block
#: is computed once and any later choice of targets inside computed blocks is a cache hit
#: (128 targets x 16,352 bins x 4 B = 8.4 MB per array per block)
TARGET_BLOCK = 128

#: options of seqlet calls (seqnn_engine.motifs.seqlets.call_seqlets / annotate)
SEQLET_OPTIONS = {"alpha": 0.05, "min_len": 4, "max_len": 30, "flank": 0, "merge_gap": 5, "n_matches": 3}
MATCH_K = 3
FIMO_THRESHOLD = 1e-4
VARIANT_STATS = ("SUM", "logSUM", "D2")
EVAL_METRICS = ("pearsonr", "r2", "spearmanr", "var_explained", "poisson")


# ======================================================================================
# requests


@dataclass(frozen=True)
class Ensemble:
    """Ensemble options: reverse complement, shifts (bp), MC-dropout samples and their seed, N encoding."""

    rc: bool = False
    shifts: tuple = (0,)
    mc_n: int = 0
    n_value: float = 0.0
    mc_seed: int = 0

    def options(self) -> dict:
        """The options of a store key (mc_seed only where MC samples are drawn)."""
        o = {"rc": bool(self.rc), "shifts": [int(s) for s in self.shifts], "mc_n": int(self.mc_n),
             "n_value": float(self.n_value)}
        if self.mc_n:
            o["mc_seed"] = int(self.mc_seed)
        return o

    def members(self) -> list:
        """The engine's ensemble members, in the order of ``Prediction.members``."""
        from ..model.ensemble import members
        return members(self.rc, tuple(self.shifts), self.mc_n)

    @property
    def n_members(self) -> int:
        return len(self.shifts) * (2 if self.rc else 1) * max(1, self.mc_n)


@dataclass(frozen=True)
class Request:
    """What to compute on one window.

    sequence: exactly ``seq_length`` bases (an :class:`~seqnn_engine.genomics.windows.InputWindow`'s
        ``sequence``). ensemble: :class:`Ensemble`. targets: chosen output indexes (() = all).
    positions: objective bins: None (all), 'center', or bin indexes. statistic: 'sum' | 'log' |
        'mean' (input attributions). method: attribution method. mean_center: ACGT-centred scores.
    window: (start, end) window positions of ISM (None: the whole window). options: further
        method options (e.g. n_samples), kept in the key.
    """

    sequence: str
    ensemble: Ensemble = Ensemble()
    targets: tuple = ()
    positions: object = None
    statistic: str = "sum"
    method: str = "saliency"
    mean_center: bool = True
    window: Optional[tuple] = None
    options: tuple = ()

    def with_(self, **kw) -> "Request":
        return replace(self, **kw)

    #: options of a batch task that say how, not what, is computed (never part of a request's identity)
    HOW = ("batch_size", "ism_engine", "diagnostics")

    @classmethod
    def from_options(cls, options, sequence: str = "") -> "Request":
        """The request of a batch task's option dict (the CLI's: rc, shifts, mc_n, mc_seed, n_value,
        targets, positions, statistic, method, mean_center, window and method options); the
        options in :attr:`HOW` are left out."""
        o = dict(options or {})
        for k in cls.HOW:
            o.pop(k, None)
        ens = Ensemble(rc=bool(o.pop("rc", False)), shifts=tuple(int(v) for v in (o.pop("shifts", None) or (0,))),
                       mc_n=int(o.pop("mc_n", 0) or 0), n_value=float(o.pop("n_value", 0.0)),
                       mc_seed=int(o.pop("mc_seed", 0) or 0))
        t = o.pop("targets", None)
        pos = o.pop("positions", None)
        w = o.pop("window", None)
        return cls(sequence, ens, () if t is None else tuple(int(v) for v in t),
                   pos if pos is None or isinstance(pos, str) else tuple(int(b) for b in pos),
                   str(o.pop("statistic", "sum")), str(o.pop("method", "saliency")), bool(o.pop("mean_center", True)),
                   None if w is None else (int(w[0]), int(w[1])), tuple(sorted(o.items())))

    @property
    def target_list(self) -> Optional[list]:
        return sorted({int(t) for t in self.targets}) if self.targets else None

    @property
    def position_arg(self):
        p = self.positions
        return p if p is None or isinstance(p, str) else [int(b) for b in p]


