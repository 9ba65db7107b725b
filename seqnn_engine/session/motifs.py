"""The motif requests of a :class:`~seqnn_engine.session.core.Session` (a mixin): the seqlets of an
attribution named by TOMTOM, FIMO hits of chosen motifs, and the knock-out verification of seqlets.

Knock-out verification (:meth:`MotifJobs.seqlet_knockout_job`) asks which seqlets the prediction depends
on: :func:`seqnn_engine.motifs.verify.knockout_seqlets` on the window, with the objective and the
RC / shift ensemble of the attribution the seqlets came from (MC-dropout samples are not drawn: the
knock-out compares deterministic predictions; ``meta['mc_ignored']`` says so). The defaults are the
operating point measured on the demo's ground truth (``benchmarks/ground_truth_motifs.py``: random-base
replacements, a null of background spans, BH q <= 0.05, and a knock-out reproducing at least 0.3 of
the seqlet's summed contribution), with more null spans, because one window's null is all there is.
On a session over several replicates every replicate knocks out the same spans with the same bases
(one seed) and the verdict is taken on the effects averaged over replicates
(:func:`seqnn_engine.motifs.verify.verdict`), the replicate ensemble's own knock-out.
"""
from __future__ import annotations

import numpy as np

from ..batch import cache_keys
from ..batch.store import result_key
from ..errors import InputError
from .options import FIMO_THRESHOLD, SEQLET_OPTIONS, Request, chain_progress
from .results import (Attribution, MotifDatabase, MotifHits, SeqletKnockout, Seqlets, _str_array, onehot, seqlet_arrays,
                      seqlet_table)

#: knock-out options of the dashboard and the session (seqnn_engine.motifs.verify.knockout_seqlets)
KNOCKOUT_OPTIONS = {"n_shuffles": 2, "n_null": 100, "alpha": 0.05, "min_share": 0.3, "seed": 0}


def knockout_passes(n_seqlets: int, options: dict = KNOCKOUT_OPTIONS) -> int:
    """Forward passes of one window's knock-out verification per ensemble member and replicate."""
    return 1 + int(options["n_shuffles"]) * (int(n_seqlets) + int(options["n_null"]))


class MotifJobs:
    """Motif methods of Session (see the module docstring)."""

    # ------------------------------------------------------------------ seqlets and FIMO
    def seqlets(self, attr: Attribution, req: Request, db: MotifDatabase, targets_label: str = "",
                objective_label: str = "", options: dict | None = None) -> Seqlets:
        """Seqlets of attribution ``attr`` (of ``req``), annotated with their best motif matches
        (TOMTOM against ``db``). Contribution methods' scores are used as they are; for gradient
        methods the contribution of a base is its hypothetical score at the present base."""
        from ..motifs import annotate
        from ..motifs.seqlets import call_seqlets, position_contributions
        opts = {**SEQLET_OPTIONS, **(options or {})}
        method = req.method
        key = cache_keys.seqlets_key(attr.key, db.digest, opts)

        def run():
            scores = np.asarray(attr["scores"], np.float32)[None]
            hyp = np.asarray(attr["grads"], np.float32)[None]
            x = onehot(req.sequence, 0.0)
            contrib = position_contributions(scores, None if method in ("grad_x_input", "integrated_gradients")
                                             else x)                                                  # (1, L)
            tab = call_seqlets(contrib, alpha=opts["alpha"], min_len=opts["min_len"], max_len=opts["max_len"],
                               flank=opts["flank"], merge_gap=opts["merge_gap"], targets=targets_label,
                               objective=objective_label, method=method)
            tab = annotate.annotate_seqlets(tab, x, hypothetical=hyp, contributions=contrib, motifs=db.motifs,
                                            top=opts["n_matches"])
            return seqlet_arrays(tab), {"settings": tab.settings, "database": db.label, "targets": targets_label,
                                        "objective": objective_label, "method": method,
                                        "max_q": float(tab.matches.max_q) if tab.matches is not None else 1.0}
        return self._typed(self.cache.get_or_compute(key, run), Seqlets)

    def fimo(self, sequence: str, db: MotifDatabase, motif_ids, threshold: float = FIMO_THRESHOLD) -> MotifHits:
        """FIMO hits of the chosen motifs in the window (see :class:`MotifHits`)."""
        from ..motifs.fimo import fimo_scan
        ids = sorted(str(m) for m in motif_ids)
        key = cache_keys.fimo_key(sequence, db.digest, ids, threshold)

        def run():
            sub = db.motifs.subset(ids)
            hits = fimo_scan(onehot(sequence, 0.0), sub, threshold=float(threshold))
            row = {mid: i for i, mid in enumerate(sub.ids)}
            return ({"motif": np.array([row[str(m)] for m in hits.motif_id], np.int64),
                     "start": np.asarray(hits.start, np.int64), "end": np.asarray(hits.end, np.int64),
                     "strand": _str_array(hits.strand), "score": np.asarray(hits.score, np.float64),
                     "p_value": np.asarray(hits.p_value, np.float64),
                     "ids": _str_array(sub.ids), "names": _str_array(sub.names)}, {"threshold": float(threshold)})
        return self._typed(self.cache.get_or_compute(key, run), MotifHits)

    # ------------------------------------------------------------------ knock-out verification
    @staticmethod
    def knockout_options(options: dict | None = None) -> dict:
        """:data:`KNOCKOUT_OPTIONS` updated by ``options`` (InputError for an unknown name)."""
        extra = dict(options or {})
        unknown = sorted(set(extra) - set(KNOCKOUT_OPTIONS))
        if unknown:
            raise InputError(f"unknown knock-out option(s) {unknown}; the options are {sorted(KNOCKOUT_OPTIONS)}")
        return {**KNOCKOUT_OPTIONS, **extra}

    def seqlet_knockout_job(self, seqlets: Seqlets, req: Request, options: dict | None = None):
        """The :class:`Job` of the knock-out verification of ``seqlets`` (a :class:`Seqlets` result of the
        attribution of ``req``): a :class:`SeqletKnockout` with one row per seqlet (module docstring).
        Cached under the seqlets' key (which holds the attribution's, hence the model's, identity) and
        the options; estimated by the memory model of a prediction of the objective's targets."""
        from .. import memory
        from ..motifs.verify import knockout_seqlets, verdict
        opts = self.knockout_options(options)
        ens = req.ensemble
        key = result_key("seqlet-knockout", seqlets.key, {"kind": "knockout", **opts,
                                                          "request": self.attribution_options(req)})
        table = seqlet_table(seqlets)            # window positions, sequence 0
        sessions = self._score_sessions()
        reps = list(getattr(self, "replicate_indexes", None) or [])
        n_passes = knockout_passes(len(table), opts)

        def run_all(progress):
            x = onehot(req.sequence, ens.n_value)
            parts = [knockout_seqlets(s.model, x, table, targets=req.target_list, positions=req.position_arg,
                                      statistic=req.statistic, rc=ens.rc, shifts=tuple(ens.shifts),
                                      n_shuffles=opts["n_shuffles"], n_null=opts["n_null"], alpha=opts["alpha"],
                                      min_share=opts["min_share"], seed=opts["seed"],
                                      progress=chain_progress(progress, i, len(sessions)))
                     for i, s in enumerate(sessions)]
            k0 = parts[0]
            if len(parts) > 1:
                mean = lambda name: np.mean([getattr(p, name) for p in parts], axis=0)  # noqa: E731
                k0 = verdict(table, mean("effect"), np.std([p.effect for p in parts], axis=0, ddof=1),
                             mean("base"), mean("null_effect"), (k0.null_seq, k0.null_start, k0.null_end),
                             alpha=opts["alpha"], min_share=opts["min_share"], n_shuffles=opts["n_shuffles"],
                             seed=opts["seed"], objective=k0.objective, seconds=sum(p.seconds for p in parts))
            arrays = {"effect": k0.effect, "effect_sd": k0.effect_sd, "p_value": k0.p_value, "q_value": k0.q_value,
                      "share": np.asarray(k0.share, np.float64), "verified": np.asarray(k0.verified, bool),
                      "significant": np.asarray(k0.significant, bool), "base": np.asarray(k0.base[:1], np.float64),
                      "null_effect": k0.null_effect}
            meta = {**opts, "mc_ignored": bool(ens.mc_n), "replicates": reps,
                    "effect_sd_over": "replicates" if len(parts) > 1 else "replacements",
                    "objective": k0.objective, "seconds": float(k0.seconds)}
            return arrays, meta

        def estimate():
            t = req.target_list
            return memory.predict_plan(self.model, 1, n_members=ens.n_members // max(1, ens.mc_n),
                                       n_targets=None if t is None else len(t), batch_size=4).peak_bytes
        return self._new_job(key, lambda: self._typed(self.cache.peek(key), SeqletKnockout),
                             lambda cb: self._typed(self.cache.get_or_compute(key, lambda: run_all(cb)), SeqletKnockout),
                             n_passes * len(sessions), estimate=estimate, kind="knockout", model=self.model)

