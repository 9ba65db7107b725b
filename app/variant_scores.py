"""Variant effect scores SUM, logSUM and D2 from reference and alternative predictions.

NOTE (integrator): this is a stop-gap pure function kept in app/ because
``seqnn_engine.variants`` did not exist when the dashboard was written; move it to the
engine (and import it from there) when the engine gains variant scoring.

Definitions (as in the reference's SNP scoring, with ensemble members in the role of the
reference's shifts): for member predictions ``ref`` and ``alt`` of shape (E, P, T)

* SUM    = mean_e  sum_p (alt - ref)
* logSUM = mean_e [ sum_p log2(alt + 1) - sum_p log2(ref + 1) ]
* D2     = mean_e  sqrt( sum_p (alt - ref)^2 )

each giving one value per target, shape (T,).
"""
from __future__ import annotations

import numpy as np

from seqnn_engine import InputError

STATS = ("SUM", "logSUM", "D2")


def variant_scores(ref_members: np.ndarray, alt_members: np.ndarray) -> dict[str, np.ndarray]:
    """ref_members, alt_members: (P, T, E) member predictions (the engine's ``members`` layout
    for one sequence). Returns {"SUM", "logSUM", "D2"} -> (T,) float64."""
    ref = np.moveaxis(np.asarray(ref_members, np.float64), -1, 0)
    alt = np.moveaxis(np.asarray(alt_members, np.float64), -1, 0)
    if ref.shape != alt.shape or ref.ndim != 3:
        raise InputError(f"reference and alternative predictions must both be (P, T, E); got "
                         f"{np.shape(ref_members)} and {np.shape(alt_members)}")
    diff = alt - ref
    log_ref = np.log2(np.maximum(ref, 0.0) + 1.0)
    log_alt = np.log2(np.maximum(alt, 0.0) + 1.0)
    return {
        "SUM": diff.sum(axis=1).mean(axis=0),
        "logSUM": (log_alt.sum(axis=1) - log_ref.sum(axis=1)).mean(axis=0),
        "D2": np.sqrt((diff ** 2).sum(axis=1)).mean(axis=0),
    }
