"""Variant effect scores: predictions of the reference and the alternative sequence compared.

Window (as the reference's SNP scoring): a variant at 1-based position ``pos`` gets the
window ``[pos - seq_length // 2, + seq_length)`` (0-based half-open), so its first REF base
sits at window position ``seq_length // 2 - 1``. The REF window carries the REF allele there
and the ALT window the ALT allele. When the genome holds the ALT allele instead of REF the
variant is *flipped* (reported), and the scores are still ALT minus REF. A genome base that
matches neither allele is an InputError. Substitutions (SNVs and equal-length MNVs) are
supported; insertions and deletions are not.

Scores, per target, from predictions ``ref``, ``alt`` of shape ``(..., H, P, T)`` (H shifts,
each already averaged over the reverse complement when asked; P bins):

======== ==========================================================================
SUM      ``mean_h sum_p alt - mean_h sum_p ref`` (sum over bins, mean over shifts, as the reference)
logSUM   ``mean_h sum_p log2(alt + 1) - mean_h sum_p log2(ref + 1)``
sqrtSUM  ``mean_h sum_p sqrt(alt) - mean_h sum_p sqrt(ref)``
D2       ``mean_h sqrt(sum_p (alt - ref)^2)`` (L2 norm over bins, mean over shifts)
logD2    D2 of ``log2(x + 1)``
sqrtD2   D2 of ``sqrt(x)``
======== ==========================================================================

Stored as float16 the reference clips to the float16 range first (:func:`clip_float16`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..errors import InputError
from ..io.vcf import Variant

__all__ = ["SCORE_STATS", "VariantWindow", "variant_window", "variant_window_start", "allele_check",
           "compute_scores", "clip_float16", "score_windows", "check_substitutions"]

SCORE_STATS = ("SUM", "logSUM", "sqrtSUM", "D2", "logD2", "sqrtD2")


@dataclass(frozen=True)
class VariantWindow:
    """The model windows of one variant.

    chrom, start, end: the window, 0-based half-open on the genome (may pass the
        chromosome ends; the genome pads with N).
    seq_pos: window position of the variant's first REF base (``seq_length // 2 - 1``).
    ref_seq, alt_seq: the window with the REF allele and with the ALT allele.
    flipped: True when the genome holds ALT rather than REF at the variant.
    """

    variant: Variant
    chrom: str
    start: int
    end: int
    seq_pos: int
    ref_seq: str
    alt_seq: str
    flipped: bool


def check_substitutions(variants: Sequence[Variant]) -> None:
    """InputError naming the first insertion/deletion (they are not supported)."""
    for v in variants:
        if not v.is_substitution:
            raise InputError(
                f"variant {v.id} ({v.where}) is an insertion/deletion ({v.ref}>{v.alt}); only "
                "substitutions are scored: filter indels out of the VCF (or pass --skip-indels)")


def variant_window_start(variant: Variant, seq_length: int) -> int:
    """Start (0-based) of the window centred on ``variant``: ``pos - seq_length // 2`` (``pos`` 1-based),
    so its first REF base sits at window position ``seq_length // 2 - 1``."""
    return int(variant.pos) - int(seq_length) // 2


def allele_check(variant: Variant, genome_bases: str) -> str:
    """What the genome holds at the variant, given ``genome_bases`` = the genome's bases over the
    REF span: 'ref' (REF matches), 'flipped' (the genome holds ALT; substitutions only) or 'mismatch'."""
    if genome_bases == variant.ref:
        return "ref"
    if variant.is_substitution and genome_bases == variant.alt:
        return "flipped"
    return "mismatch"


def variant_window(variant: Variant, genome, seq_length: int) -> VariantWindow:
    """Cut the REF and ALT windows of ``variant`` from ``genome`` (a :class:`~seqnn_engine.genomics.genome.Genome`)."""
    if not variant.is_substitution:
        check_substitutions([variant])
    seq_length = int(seq_length)
    start = variant_window_start(variant, seq_length)
    win = genome.fetch(variant.chrom, start, start + seq_length)
    seq_pos = variant.pos0 - start
    k = len(variant.ref)
    if seq_pos + k > seq_length:
        raise InputError(f"variant {variant.id}: REF allele of {k} bases does not fit in the "
                         f"{seq_length} bp window around it; use a shorter allele")
    here = win.sequence[seq_pos:seq_pos + k]
    check = allele_check(variant, here)
    if check == "ref":
        flipped = False
    elif check == "flipped":
        flipped = True
    else:
        raise InputError(
            f"variant {variant.id} ({variant.where}): REF {variant.ref} does not match the genome "
            f"({here} at {win.chrom}:{variant.pos}); check the genome build and the VCF")
    seq = win.sequence
    ref_seq = seq[:seq_pos] + variant.ref + seq[seq_pos + k:]
    alt_seq = seq[:seq_pos] + variant.alt + seq[seq_pos + k:]
    return VariantWindow(variant, win.chrom, start, start + seq_length, seq_pos, ref_seq, alt_seq, flipped)


def _l2_over_bins(diff: np.ndarray) -> np.ndarray:
    """(..., H, P, T) -> (..., T): mean over shifts of the L2 norm over bins."""
    return np.sqrt(np.square(diff).sum(axis=-2)).mean(axis=-2)


def compute_scores(ref_preds, alt_preds, stats: Sequence[str] = ("SUM",)) -> dict[str, np.ndarray]:
    """Variant scores (see the module docstring).

    ref_preds, alt_preds: (..., H, P, T) non-negative predictions, H shifts, P bins.
    Returns stat -> (..., T) float32 (computed in float64).
    """
    ref = np.asarray(ref_preds, dtype=np.float64)
    alt = np.asarray(alt_preds, dtype=np.float64)
    if ref.shape != alt.shape or ref.ndim < 3:
        raise InputError(f"REF and ALT predictions must share a shape (..., shifts, bins, targets); "
                         f"got {ref.shape} and {alt.shape}")
    unknown = [s for s in stats if s not in SCORE_STATS]
    if unknown:
        raise InputError(f"unknown variant statistic {unknown[0]!r}: choose from {', '.join(SCORE_STATS)}")
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore"):
        transforms = {"": lambda a: a, "log": lambda a: np.log2(a + 1.0), "sqrt": lambda a: np.sqrt(a)}
        for stat in stats:
            prefix = stat[:-3] if stat.endswith("SUM") else stat[:-2]
            f = transforms[prefix]
            r, a = f(ref), f(alt)
            if stat.endswith("SUM"):
                val = (a.sum(axis=(-3, -2)) - r.sum(axis=(-3, -2))) / ref.shape[-3]   # mean over shifts
            else:
                val = _l2_over_bins(a - r)
            out[stat] = val.astype(np.float32)
    return out


def clip_float16(a) -> np.ndarray:
    """Clip to the finite float16 range (what the reference does before storing float16)."""
    info = np.finfo(np.float16)
    return np.clip(np.asarray(a, dtype=np.float32), float(info.min), float(info.max))


def _subset_targets(table, rows):
    """A TargetTable of the given rows (for untransforming selected targets)."""
    rows = np.asarray(rows, dtype=np.int64)
    changes = {}
    for f in dataclasses.fields(table):
        v = getattr(table, f.name)
        changes[f.name] = v[rows] if isinstance(v, np.ndarray) else tuple(v[int(r)] for r in rows)
    return dataclasses.replace(table, **changes)


def score_windows(model, ref_seqs: Sequence[str], alt_seqs: Sequence[str],
                  options: Mapping | None = None, progress=None) -> dict[str, np.ndarray]:
    """Score variants from their REF and ALT windows.

    options: ``stats`` (default ["SUM"]), ``rc``, ``shifts`` (each shift predicted
    separately, as the reference), ``mc_n``, ``mc_seed`` (MC-dropout samples averaged into
    each shift's prediction; REF and ALT windows are predicted in one call), ``targets`` (indexes or None), ``n_value``,
    ``batch_size``, ``untransform`` (undo the targets.txt transform first; needs the
    model's targets table), ``keep_preds`` (also return ``REF``/``ALT`` (V, H, P, T)).
    progress(done, total): after each model call (one per chunk of variants and shift).
    Returns stat -> (V, T) float32 (plus REF/ALT). The estimated peak
    (seqnn_engine.memory.variants_plan) is checked against SEQNN_MAX_MEMORY_MB first;
    variants are scored in chunks that fit.
    """
    from .. import memory

    o = dict(options or {})
    stats = list(o.get("stats") or ["SUM"])
    shifts = [int(s) for s in (o.get("shifts") or [0])]
    n = len(ref_seqs)
    if n != len(alt_seqs) or n == 0:
        raise InputError("give one ALT window per REF window (at least one)")
    sel = o.get("targets")
    n_t = model.num_targets if sel is None else len(model.check_targets(sel))
    chunk = memory.variants_plan(model, n, len(shifts), bool(o.get("rc", False)), n_t,
                                 int(o.get("batch_size", 4)), bool(o.get("keep_preds")), len(stats)).batch_size
    starts = range(0, n, chunk)
    calls = [0, len(starts) * len(shifts)]     # progress: (model calls done, total), one call per chunk and shift

    def step():
        calls[0] += 1
        if progress is not None:
            progress(calls[0], calls[1])
    parts = [_score_chunk(model, ref_seqs[c:c + chunk], alt_seqs[c:c + chunk], o, stats, shifts, step)
             for c in starts]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _score_chunk(model, ref_seqs, alt_seqs, o: dict, stats, shifts, step=None) -> dict:
    """:func:`score_windows` on one chunk of variants."""
    from ..genomics.onehot import encode_batch
    n = len(ref_seqs)
    x = encode_batch(list(ref_seqs) + list(alt_seqs), n_value=float(o.get("n_value", 0.0)))
    per_shift = []
    for s in shifts:
        p = model.predict(x, rc=bool(o.get("rc", False)), shifts=(s,), target_indexes=o.get("targets"),
                          batch_size=int(o.get("batch_size", 4)), mc_n=int(o.get("mc_n", 0)),
                          mc_seed=int(o.get("mc_seed", 0)))
        per_shift.append(np.asarray(p.mean, dtype=np.float32))
        if step is not None:
            step()
    preds = np.stack(per_shift, axis=1)  # (2V, H, P, T)
    if o.get("untransform"):
        from ..model.targets import untransform
        table = getattr(model, "targets", None)
        if table is None:
            raise InputError("--untransform needs the model's targets.txt (none was loaded)")
        sel = o.get("targets")
        rows = np.arange(len(table)) if sel is None else np.asarray(sel, dtype=np.int64)
        preds = untransform(preds, _subset_targets(table, rows))
    ref, alt = preds[:n], preds[n:]
    out = compute_scores(ref, alt, stats)
    if o.get("keep_preds"):
        out["REF"] = ref
        out["ALT"] = alt
    return out
