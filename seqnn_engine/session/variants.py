"""The variant requests of a :class:`~seqnn_engine.session.core.Session` (a mixin): a VCF upload, the
variants of a window, the window re-centred on one, its scores and the attribution of its score.

Scores are those of the CLI's ``variants`` (:func:`seqnn_engine.analysis.variants.score_windows` on
the window centred on the variant, :func:`~seqnn_engine.analysis.variants.variant_window`). On a
session over several replicates (:class:`~seqnn_engine.session.replicates.ReplicateSession`) each
replicate scores the variant (and caches it under its own model identity) and the result is the mean
over replicates of each replicate's scores and predictions, with ``<stat>_replicate_std``: the CLI's
``variants --replicates`` combination.

The attribution of the score (:meth:`VariantJobs.variant_attribution_job`) is the session's input
attribution (``job("attribute")``: RC, shifts, MC and replicates as for any attribution) of the
objective of the SUM score's terms, the chosen targets' prediction summed over every output bin
(statistic 'sum', mean over the targets), on the REF window and on the ALT window. Its
``alt_objective - ref_objective`` is the mean over the targets of the SUM score.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from ..batch import cache_keys
from ..errors import InputError
from .options import VARIANT_STATS, Progress, Request, chain_progress
from .results import VariantAttribution, VariantEffect

#: attribution method of the variant score: the (ACGT-centred) gradient of the objective as the
#: hypothetical scores, times the one-hot input as the contributions
VARIANT_ATTR_METHOD = "grad_x_input"
VCF_UPLOAD_SUFFIXES = (".vcf", ".vcf.gz", ".bcf")


def _combined_key(prefix: str, keys) -> str:
    return hashlib.sha256((prefix + ":" + ",".join(keys)).encode()).hexdigest()


class VariantJobs:
    """Variant methods of Session (see the module docstring)."""

    # ------------------------------------------------------------------ VCF
    @staticmethod
    def read_vcf_upload(data: bytes, name: str):
        """The variants (VcfVariants, every FILTER kept) of an uploaded VCF, bgzipped VCF or BCF: the bytes
        are written to a temporary file under the upload's name and read through pysam
        (seqnn_engine.io.vcf.read_vcf). InputError above the upload limit (SEQNN_MAX_UPLOAD_MB) or for a
        malformed file (the message names the file and the record)."""
        from .. import limits
        from ..io.vcf import read_vcf
        raw = bytes(data)
        base = os.path.basename(str(name or "upload.vcf")) or "upload.vcf"
        limits.check("upload_bytes", len(raw), f"{base} is {limits.human_bytes(len(raw))}",
                     "upload a smaller VCF (only the window's variants are listed)")
        if not raw:
            raise InputError(f"{base} is empty: upload a VCF with CHROM POS ID REF ALT records")
        if not base.lower().endswith(VCF_UPLOAD_SUFFIXES):
            base += ".vcf"
        with tempfile.TemporaryDirectory(prefix="seqnn-vcf-") as tmp:
            path = Path(tmp) / base
            path.write_bytes(raw)
            return read_vcf(path, keep_filtered=True)

    def window_variants(self, inp, vcf):
        """The variants of ``vcf`` (VcfVariants) in the window of ``inp`` (for a re-centred input, its
        ``origin``: the window the user chose), as WindowVariants (seqnn_engine.analysis.variant_sites)."""
        from ..analysis.variant_sites import variants_in_window
        base = inp.origin if getattr(inp, "origin", None) is not None else inp
        if not base.genomic or self.genome is None:
            raise InputError("a VCF lists genome variants: choose a gene or interval input (a FASTA record has no "
                             "genome coordinates)")
        return variants_in_window(vcf, self.genome, base.chrom, base.start, base.start + len(base.sequence))

    def variant_centred_input(self, inp, variant):
        """``inp`` moved to the window centred on ``variant`` (the window its scores use)."""
        from ..analysis.variant_sites import centred_input
        return centred_input(inp, variant, self.genome, self.genes, self.geometry)

    # ------------------------------------------------------------------ windows
    def vcf_variant_window(self, variant):
        """The REF/ALT windows (VariantWindow) of a VCF variant on the session's genome."""
        from ..analysis.variants import variant_window
        if self.genome is None:
            raise InputError("this model directory names no genome: a VCF needs the genome")
        return variant_window(variant, self.genome, self.model.seq_length)

    def typed_variant_window(self, inp, position: int, alt: str):
        """The REF/ALT windows of the substitution at display coordinate ``position`` of ``inp`` to base
        ``alt`` (REF = the window's base): the genome's, or the user's record (N outside it) for FASTA."""
        from ..analysis.variants import variant_window
        from ..genomics.windows import variant_position_check, variant_source
        from ..io.vcf import Variant
        alt = (alt or "").upper()
        if alt not in ("A", "C", "G", "T"):
            raise InputError(f"alternative base must be A, C, G or T, got {alt!r}")
        p = variant_position_check(inp, position)
        ref = inp.sequence[p]
        chrom = inp.chrom if inp.genomic else inp.label
        v = Variant(chrom, int(position) + 1, f"{chrom}:{int(position) + 1}:{ref}:{alt}", ref, alt)
        return variant_window(v, variant_source(inp, self.genome), self.model.seq_length)

    # ------------------------------------------------------------------ scores
    @staticmethod
    def variant_options(req: Request, stats=VARIANT_STATS, batch_size: int = 4, untransform: bool = False,
                        keep_preds: bool = True) -> dict:
        """Options of :func:`seqnn_engine.analysis.variants.score_windows` for ``req`` (the CLI's too)."""
        ens = req.ensemble
        return {"stats": list(stats), "rc": bool(ens.rc), "shifts": [int(s) for s in ens.shifts],
                "mc_n": int(ens.mc_n), "mc_seed": int(ens.mc_seed),
                "targets": [int(t) for t in req.targets] or None,       # in the given order
                "n_value": float(ens.n_value), "batch_size": int(batch_size), "untransform": bool(untransform),
                "keep_preds": bool(keep_preds)}

    def _score_sessions(self) -> list:
        """The sessions whose scores combine: each replicate's (a ReplicateSession), else this one."""
        idx = getattr(self, "replicate_indexes", None)
        return [self] if not idx else [self.replicate_session(r) for r in idx]

    def _one_variant_job(self, vw, opts: dict, meta: dict):
        """The scores of one VariantWindow with this session's own model (no replicate combination)."""
        from .. import memory
        from ..analysis.variants import score_windows
        key = cache_keys.variant_key(self.model, vw.ref_seq, vw.alt_seq,
                                     {k: v for k, v in opts.items() if k != "batch_size"})

        def run(progress):
            out = score_windows(self.model, [vw.ref_seq], [vw.alt_seq], opts, progress=progress)
            arrays = {k: np.asarray(val[0]) for k, val in out.items() if k not in ("REF", "ALT")}
            arrays["ref"] = np.asarray(out["REF"][0], np.float32)
            arrays["alt"] = np.asarray(out["ALT"][0], np.float32)
            arrays["target_index"] = np.asarray(self.model.check_targets(opts["targets"]), np.int64)
            return arrays, dict(meta)

        def estimate():
            t = opts["targets"]
            return memory.variants_plan(self.model, 1, len(opts["shifts"]), opts["rc"],
                                        None if t is None else len(t), int(opts["batch_size"]), True,
                                        len(opts["stats"])).peak_bytes
        n = len(opts["shifts"]) * (2 if opts["rc"] else 1) * max(1, opts["mc_n"])
        return self._new_job(key, lambda: self._typed(self.cache.peek(key), VariantEffect),
                   lambda cb: self._typed(self.cache.get_or_compute(key, lambda: run(cb)), VariantEffect),
                   n, estimate=estimate, kind="variant", model=self.model)

    def variant_window_job(self, vw, req: Request, stats=VARIANT_STATS, position=None):
        """The :class:`Job` of the scores of a VariantWindow ``vw`` (see the module docstring; ``position``:
        the display coordinate shown, default the genome position)."""
        opts = self.variant_options(req, stats)
        v = vw.variant
        meta = {"chrom": vw.chrom, "window_start": int(vw.start), "position": int(v.pos0 if position is None
                                                                                   else position),
                "ref": v.ref, "alt": v.alt, "flipped": bool(vw.flipped), "stats": list(stats)}
        subs = [s._one_variant_job(vw, opts, meta) for s in self._score_sessions()]
        if len(subs) == 1:
            return subs[0]
        reps = list(self.replicate_indexes)
        key = _combined_key("replicates-variant", [j.key for j in subs])

        def combine(parts) -> VariantEffect:
            arrays = {"target_index": np.asarray(parts[0]["target_index"])}
            from ..model.replicates import replicate_spread
            for k in list(stats) + ["ref", "alt"]:
                stack = np.stack([np.asarray(p[k], np.float32) for p in parts])
                arrays[k] = stack.mean(axis=0)
                if k in stats:
                    arrays[f"{k}_replicate_std"] = replicate_spread(stack)
            srcs = {p.source for p in parts}
            src = "computed" if "computed" in srcs else ("store" if "store" in srcs else "memory")
            return VariantEffect(key, arrays, {**meta, "replicates": reps}, src)

        def peek():
            parts = [j.cached() for j in subs]
            return None if any(p is None for p in parts) else combine(parts)

        def run(progress: Progress = None):
            return combine([j.run(chain_progress(progress, i, len(subs))) for i, j in enumerate(subs)])
        return self._new_job(key, peek, run, subs[0].members * len(subs), estimate=subs[0].estimate, kind="variant",
                   model=self.model)

    def variant_job(self, inp, position: int, alt: str, req: Request, stats=VARIANT_STATS):
        """The :class:`Job` of one substitution at display coordinate ``position`` of input ``inp`` (an
        InputWindow) to base ``alt``, scored on the window centred on it (as the CLI's ``variants``)."""
        return self.variant_window_job(self.typed_variant_window(inp, position, alt), req, stats, position)

    def vcf_variant_job(self, variant, req: Request, stats=VARIANT_STATS):
        """The :class:`Job` of a VCF variant's scores (REF and ALT as the VCF gives them; a flipped variant
        is still ALT minus REF), the numbers of the CLI's ``variants`` for that record."""
        return self.variant_window_job(self.vcf_variant_window(variant), req, stats)

    def variant(self, inp, position: int, alt: str, req: Request, stats=VARIANT_STATS,
                progress: Progress = None) -> VariantEffect:
        """One substitution scored on the window centred on it (see :meth:`variant_job`)."""
        return self.variant_job(inp, position, alt, req, stats).run(progress)

    # ------------------------------------------------------------------ attribution of the score
    @staticmethod
    def variant_attribution_requests(vw, req: Request, method: str = VARIANT_ATTR_METHOD) -> tuple:
        """(REF request, ALT request): ``req``'s ensemble, targets and centring on the REF and ALT windows,
        with the SUM score's objective (every output bin, statistic 'sum')."""
        base = req.with_(positions=None, statistic="sum", method=method, window=None)
        return base.with_(sequence=vw.ref_seq), base.with_(sequence=vw.alt_seq)

    def variant_attribution_job(self, vw, req: Request, method: str = VARIANT_ATTR_METHOD):
        """The :class:`Job` of the attribution of a variant's score on its REF and ALT windows
        (:class:`VariantAttribution`; see the module docstring). Both are ordinary attribution jobs of the
        session (keyed, cached, estimated and, on a ReplicateSession, combined over replicates like any)."""
        if not req.targets:
            raise InputError("the attribution of a variant score needs chosen targets: pick at least one")
        r_ref, r_alt = self.variant_attribution_requests(vw, req, method)
        subs = [self.job("attribute", r_ref), self.job("attribute", r_alt)]
        key = _combined_key("variant-attribution", [j.key for j in subs])
        v = vw.variant
        meta = {"window_start": int(vw.start), "seq_pos": int(vw.seq_pos), "ref": v.ref, "alt": v.alt, "id": v.id,
                "method": method, "targets": [int(t) for t in req.targets], "flipped": bool(vw.flipped)}

        def combine(parts) -> VariantAttribution:
            arrays = {}
            for side, p in zip(("ref", "alt"), parts):
                arrays[f"{side}_scores"] = np.asarray(p["scores"], np.float32)
                arrays[f"{side}_grads"] = np.asarray(p["grads"], np.float32)
                arrays[f"{side}_objective"] = np.asarray(p["objective"], np.float32)
                if "scores_replicate_std" in p:
                    arrays[f"{side}_scores_replicate_std"] = np.asarray(p["scores_replicate_std"], np.float32)
            srcs = {p.source for p in parts}
            src = "computed" if "computed" in srcs else ("store" if "store" in srcs else "memory")
            return VariantAttribution(key, arrays, dict(meta), src)

        def peek():
            parts = [j.cached() for j in subs]
            return None if any(p is None for p in parts) else combine(parts)

        def run(progress: Progress = None):
            return combine([j.run(chain_progress(progress, i, 2)) for i, j in enumerate(subs)])
        return self._new_job(key, peek, run, subs[0].members, estimate=subs[0].estimate, kind=subs[0].kind or method,
                   model=self.model)

