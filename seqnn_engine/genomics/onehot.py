"""One-hot DNA encoding (ACGT channel order, length before channels).

Arrays are float32 ``(L, 4)`` for one sequence or ``(S, L, 4)`` for a batch.
``N`` (and any other IUPAC ambiguity code) is an all-zero row by default (the
Baskerville convention) or 0.25 in every channel with ``n_value=0.25`` (the TF1
Basenji convention).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

ALPHABET = "ACGT"
IUPAC_AMBIGUOUS = set("NRYSWKMBDHV")

# byte -> channel index; 4 = N/ambiguous, 5 = invalid
_LUT = np.full(256, 5, dtype=np.uint8)
for _i, _b in enumerate(ALPHABET):
    _LUT[ord(_b)] = _i
    _LUT[ord(_b.lower())] = _i
for _b in IUPAC_AMBIGUOUS:
    _LUT[ord(_b)] = 4
    _LUT[ord(_b.lower())] = 4
_LUT[ord("U")] = 3  # RNA uracil reads as T
_LUT[ord("u")] = 3


@dataclass(frozen=True)
class EncodedSequence:
    """Result of :func:`encode_with_report`.

    onehot: (L, 4) float32.
    n_ambiguous: count of positions that became N (N and other IUPAC codes).
    n_iupac: count of IUPAC codes other than N converted to N.
    """

    onehot: np.ndarray
    n_ambiguous: int
    n_iupac: int


def indices(seq: str) -> np.ndarray:
    """Map a DNA string to uint8 indices (A0 C1 G2 T3, 4 for N/IUPAC).

    Raises InputError naming the first invalid character and its 0-based position.
    """
    raw = np.frombuffer(seq.encode("latin-1", errors="replace"), dtype=np.uint8)
    idx = _LUT[raw]
    bad = np.flatnonzero(idx == 5)
    if bad.size:
        p = int(bad[0])
        raise InputError(
            f"invalid character {seq[p]!r} at position {p + 1} (1-based): a DNA "
            "sequence may contain only A, C, G, T, N and IUPAC ambiguity codes"
        )
    return idx


def from_indices(idx: np.ndarray, n_value: float = 0.0) -> np.ndarray:
    """Indices (..., L) uint8 (A0 C1 G2 T3, >=4 as N) -> one-hot (..., L, 4) float32."""
    idx = np.asarray(idx)
    out = np.zeros(idx.shape + (4,), dtype=np.float32)
    valid = idx < 4
    np.put_along_axis(out, np.where(valid, idx, 0)[..., None].astype(np.int64), 1.0, axis=-1)
    out[~valid] = n_value
    return out


def encode(seq: str, n_value: float = 0.0) -> np.ndarray:
    """DNA string of length L -> (L, 4) float32 one-hot. Lower case is accepted."""
    return from_indices(indices(seq), n_value=n_value)


def encode_with_report(seq: str, n_value: float = 0.0) -> EncodedSequence:
    """Like :func:`encode`, also counting ambiguous positions."""
    idx = indices(seq)
    n_amb = int(np.count_nonzero(idx == 4))
    n_N = seq.count("N") + seq.count("n")
    return EncodedSequence(from_indices(idx, n_value), n_amb, n_amb - n_N)


def encode_batch(seqs: list[str], n_value: float = 0.0) -> np.ndarray:
    """Equal-length strings -> (S, L, 4) float32."""
    if not seqs:
        raise InputError("no sequences given: provide at least one sequence")
    lengths = {len(s) for s in seqs}
    if len(lengths) != 1:
        raise InputError(f"sequences differ in length ({sorted(lengths)}): fit them to one length first")
    return np.stack([encode(s, n_value) for s in seqs])


def decode(onehot: np.ndarray) -> str:
    """(L, 4) one-hot -> string; rows that are not a clear single base become N."""
    x = np.asarray(onehot)
    if x.ndim != 2 or x.shape[-1] != 4:
        raise InputError(f"expected a (L, 4) one-hot array, got shape {x.shape}")
    best = x.argmax(axis=-1)
    clear = (x.max(axis=-1) > 0.5) & (np.isclose(x.sum(axis=-1), 1.0))
    chars = np.frombuffer(b"ACGT", dtype=np.uint8)[best]
    chars = np.where(clear, chars, ord("N")).astype(np.uint8)
    return chars.tobytes().decode("ascii")


def reverse_complement(onehot: np.ndarray) -> np.ndarray:
    """Reverse complement of (..., L, 4): reverse length and channel axes (A<->T, C<->G)."""
    return np.ascontiguousarray(np.asarray(onehot)[..., ::-1, ::-1])


def reverse_complement_str(seq: str) -> str:
    """Reverse complement of a DNA string (IUPAC-aware for N; case preserved)."""
    table = str.maketrans("ACGTNacgtnRYKMrykmSWswBDHVbdhv", "TGCANtgcanYRMKyrmkSWswVHDBvhdb")
    return seq.translate(table)[::-1]
