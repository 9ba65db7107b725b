"""User DNA sequences: FASTA parsing and fitting to a model's input length.

Reading
-------
:func:`parse_fasta` takes the *contents* of a FASTA file (``bytes`` from an
upload, or pasted ``str``); :func:`read_fasta` takes a file *path* (``.gz``
accepted). Both return a list of :class:`FastaRecord`.

Rules (every violation raises :class:`~seqnn_engine.errors.InputError` with a
message saying what to fix):

- Records start with ``>name [description]``; the name is the first
  whitespace-separated word after ``>``. Names must be unique and non-empty.
- Text *before the first header* is accepted as one record named
  ``bare_name`` (default ``"pasted"``) when ``allow_bare=True`` (the default), so a
  bare pasted sequence just works; with ``allow_bare=False`` it is an error.
- Lower case (soft-masked) bases are accepted and upper-cased. Whitespace
  inside sequence lines is ignored. CRLF / CR line endings, a UTF-8 byte-order
  mark and gzip-compressed bytes are accepted. Lines starting with ``;`` are
  comments.
- ``N`` and the IUPAC ambiguity codes ``R Y S W K M B D H V`` become ``N``;
  each record reports ``n_iupac`` (codes other than N converted) and
  ``n_ambiguous`` (all N after conversion). RNA ``U`` becomes ``T``
  (``n_uracil``).
- Any other character (digits, ``-`` gaps, ``*``, ...) is an error naming the
  record, the 1-based position in its sequence and the line number.
- Empty input, a header with no sequence, and limits exceeded
  (:class:`FastaLimits`) are errors.

Fitting
-------
:func:`fit_sequence` turns one sequence of any length into one or more
windows of exactly the model's ``seq_length``:

- shorter: centred, padded with ``N`` (``pad_left = (seq_length - L) // 2``,
  the rest on the right);
- longer, ``mode="crop"``: the centre window, starting at
  ``(L - seq_length) // 2``;
- longer, ``mode="tile"``: windows starting at ``0, stride, 2*stride, ...``
  plus, when those miss the end, one last window ending exactly at ``L``
  (it overlaps its neighbour), so every base is covered and no padding is needed.

For window ``w``, ``offsets[w]`` is the user-sequence coordinate (0-based) of
window position 0, so window position ``p`` is user position
``offsets[w] + p`` (negative/too-large values are padding).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .. import limits as _limits
from ..io.textio import gunzip_limited
from ..limits import FastaLimits
from . import onehot as _onehot
from ..errors import InputError

__all__ = [
    "FastaLimits",
    "FastaRecord",
    "FittedSequence",
    "parse_fasta",
    "read_fasta",
    "fit_sequence",
]

# byte classes for sequence characters (after whitespace removal)
_BASE = np.zeros(256, dtype=np.uint8)  # 0 = invalid
for _c in "ACGT":
    _BASE[ord(_c)] = 1
    _BASE[ord(_c.lower())] = 1
for _c in "N":
    _BASE[ord(_c)] = 2
    _BASE[ord(_c.lower())] = 2
for _c in "RYSWKMBDHV":
    _BASE[ord(_c)] = 3
    _BASE[ord(_c.lower())] = 3
for _c in "U":
    _BASE[ord(_c)] = 4
    _BASE[ord(_c.lower())] = 4
_UPPER_IUPAC = bytearray(range(256))
for _c in b"acgtn":
    _UPPER_IUPAC[_c] = _c - 32
for _c in b"RYSWKMBDHVryswkmbdhv":
    _UPPER_IUPAC[_c] = ord("N")
_UPPER_IUPAC[ord("U")] = ord("T")
_UPPER_IUPAC[ord("u")] = ord("T")
_CLEAN = bytes(_UPPER_IUPAC)
_WHITESPACE = b" \t\v\f\r"


@dataclass(frozen=True)
class FastaRecord:
    """One FASTA record after cleaning.

    name: first word of the header (``bare_name`` for a header-less sequence).
    sequence: upper-case string over ``A C G T N``.
    description: rest of the header line ('' when none).
    n_ambiguous: number of ``N`` in ``sequence`` (given N plus converted IUPAC codes).
    n_iupac: IUPAC codes other than N that were converted to N.
    n_lowercase: soft-masked (lower-case) bases in the input.
    n_uracil: ``U`` converted to ``T``.
    """

    name: str
    sequence: str
    description: str = ""
    n_ambiguous: int = 0
    n_iupac: int = 0
    n_lowercase: int = 0
    n_uracil: int = 0

    def __len__(self) -> int:
        return len(self.sequence)


@dataclass(frozen=True)
class FittedSequence:
    """Windows of exactly ``seq_length`` bases cut from one user sequence.

    W = number of windows (1 unless ``mode="tile"`` on a longer sequence).

    name: the record name ('' for a plain string).
    windows: tuple of W strings, each of length ``seq_length``.
    offsets: (W,) int64, user coordinate (0-based) of window position 0;
        negative when the window starts with padding.
    pad_left, pad_right: (W,) int64, ``N`` padding at each window end.
    source_length: length of the user sequence.
    seq_length: the model's input length.
    mode: "pad", "crop" or "tile" (what was done).
    """

    name: str
    windows: tuple
    offsets: np.ndarray
    pad_left: np.ndarray
    pad_right: np.ndarray
    source_length: int
    seq_length: int
    mode: str

    def __len__(self) -> int:
        return len(self.windows)

    def onehot(self, n_value: float = 0.0) -> np.ndarray:
        """All windows one-hot encoded: (W, seq_length, 4) float32."""
        return _onehot.encode_batch(list(self.windows), n_value=n_value)

    def to_user(self, window: int, position) -> np.ndarray:
        """Window position(s) -> user-sequence coordinate(s) (0-based)."""
        return np.asarray(position) + self.offsets[window]

    def bin_starts(self, window: int, num_bins: int, stride: int, crop: int) -> np.ndarray:
        """User-sequence coordinate of the first base of each output bin of ``window``.

        Output bin ``b`` covers window positions ``[(crop + b) * stride, + stride)``,
        so it starts at user position ``offsets[window] + (crop + b) * stride``.
        Returns (num_bins,) int64 (values outside ``[0, source_length)`` are padding).
        """
        b = np.arange(int(num_bins), dtype=np.int64)
        return self.offsets[window] + (int(crop) + b) * int(stride)


# ----------------------------------------------------------------------------- parsing


def _to_text(data, limits: FastaLimits) -> str:
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        if raw[:2] == b"\x1f\x8b":
            raw = gunzip_limited(raw, limits.max_total_bytes, "FASTA input",
                                 "upload fewer or shorter sequences; " + _limits.how_to_change("upload_bytes"))
        if len(raw) > limits.max_total_bytes:
            raise InputError(
                f"FASTA input is {len(raw):,} bytes, more than the limit of "
                f"{limits.max_total_bytes:,}: upload fewer or shorter sequences; "
                + _limits.how_to_change("upload_bytes")
            )
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise InputError(
                f"FASTA input is not text (undecodable byte at offset {e.start}): "
                "upload a plain-text or gzip-compressed FASTA file"
            ) from None
    if isinstance(data, str):
        if len(data) > limits.max_total_bytes:
            raise InputError(
                f"FASTA input is {len(data):,} characters, more than the limit of "
                f"{limits.max_total_bytes:,}: paste fewer or shorter sequences; "
                + _limits.how_to_change("upload_bytes")
            )
        return data[1:] if data.startswith("\ufeff") else data
    raise InputError(
        f"FASTA input must be text or bytes, got {type(data).__name__}; "
        "use read_fasta(path) for files"
    )


def parse_fasta(
    data,
    *,
    limits: FastaLimits | None = None,
    allow_bare: bool = True,
    bare_name: str = "pasted",
) -> list[FastaRecord]:
    """Parse FASTA contents (``bytes`` upload or pasted ``str``) into records.

    See the module docstring for the rules. Raises InputError for anything the
    user must fix. Returns at least one record.
    """
    limits = limits or _limits.current().fasta()
    text = _to_text(data, limits)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")

    records: list[FastaRecord] = []
    seen: dict[str, int] = {}
    name = desc = None
    header_line = 0
    chunks: list[bytes] = []
    chunk_lines: list[int] = []
    length = 0

    def flush():
        nonlocal length
        if name is None:
            return
        if length == 0:
            where = f"record '{name}' (line {header_line})" if header_line else f"record '{name}'"
            raise InputError(f"{where} has no sequence: remove the header or add its sequence")
        if len(records) >= limits.max_records:
            raise InputError(
                f"more than {limits.max_records:,} FASTA records: split the input into smaller files; "
                + _limits.how_to_change("records")
            )
        records.append(_make_record(name, desc, chunks, chunk_lines))
        length = 0

    for lineno, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(";"):
            continue
        if stripped.startswith(">"):
            flush()
            header = stripped[1:].strip()
            parts = header.split(None, 1)
            if not parts:
                raise InputError(
                    f"line {lineno}: FASTA header '>' has no name: write a name after '>'"
                )
            name = parts[0]
            desc = parts[1] if len(parts) > 1 else ""
            if name in seen:
                raise InputError(
                    f"duplicate FASTA record name '{name}' (lines {seen[name]} and {lineno}): "
                    "give every record a unique name"
                )
            seen[name] = lineno
            header_line = lineno
            chunks, chunk_lines = [], []
            continue
        if name is None:
            if not allow_bare:
                raise InputError(
                    f"line {lineno}: sequence before any '>' header: start each record "
                    "with a line '>name'"
                )
            name, desc, header_line = bare_name, "", 0
            seen[name] = lineno
            chunks, chunk_lines = [], []
        try:
            b = stripped.encode("ascii")
        except UnicodeEncodeError:
            b = None
        if b is None:
            # locate the first non-ASCII character for the message
            pos_in_line = next(i for i, ch in enumerate(stripped) if ord(ch) > 127)
            before = stripped[:pos_in_line]
            pos = length + len(before) - sum(before.count(w) for w in " \t\v\f")
            raise InputError(
                f"record '{name}': invalid character {stripped[pos_in_line]!r} at sequence "
                f"position {pos + 1} (line {lineno}): use only A, C, G, T, N and IUPAC codes"
            )
        if any(w in b for w in _WHITESPACE):
            b = b.translate(None, _WHITESPACE)
        length += len(b)
        if length > limits.max_sequence_length:
            raise InputError(
                f"record '{name}' is longer than the limit of {limits.max_sequence_length:,} "
                "bases: use a shorter sequence or an indexed genome interval; "
                + _limits.how_to_change("sequence_bp")
            )
        chunks.append(b)
        chunk_lines.append(lineno)
    flush()
    if not records:
        raise InputError("no FASTA records found: the input is empty; give at least one sequence")
    return records


def _make_record(name, desc, chunks, chunk_lines) -> FastaRecord:
    raw = b"".join(chunks)
    arr = np.frombuffer(raw, dtype=np.uint8)
    cls = _BASE[arr]
    bad = np.flatnonzero(cls == 0)
    if bad.size:
        p = int(bad[0])
        # find the line holding position p
        ends = np.cumsum([len(c) for c in chunks])
        line = chunk_lines[int(np.searchsorted(ends, p, side="right"))]
        ch = chr(raw[p])
        # letters that occur in proteins but in no nucleotide code
        protein = " (it looks like a protein sequence: give the DNA sequence)" if ch in "EFILPQefilpq" else ""
        raise InputError(
            f"record '{name}': invalid character {ch!r} at sequence position {p + 1} "
            f"(line {line}){protein}: use only A, C, G, T, N and IUPAC ambiguity codes"
        )
    n_lower = int(np.count_nonzero(arr >= 97))
    seq = raw.translate(_CLEAN).decode("ascii")
    return FastaRecord(
        name=name,
        sequence=seq,
        description=desc or "",
        n_ambiguous=seq.count("N"),
        n_iupac=int(np.count_nonzero(cls == 3)),
        n_lowercase=n_lower,
        n_uracil=int(np.count_nonzero(cls == 4)),
    )


def read_fasta(
    path,
    *,
    limits: FastaLimits | None = None,
    allow_bare: bool = True,
    bare_name: str | None = None,
) -> list[FastaRecord]:
    """Read a FASTA file (plain or gzip/bgzip ``.gz``) from ``path``.

    The header-less fallback name defaults to the file name. Raises InputError
    when the file is missing, too large or malformed.
    """
    limits = limits or _limits.current().fasta()
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise InputError(f"FASTA file not found: {p}: check the path")
    size = os.path.getsize(p)
    if size > limits.max_total_bytes:
        raise InputError(
            f"FASTA file {p} is {size:,} bytes, more than the limit of "
            f"{limits.max_total_bytes:,}: use an indexed genome (Genome) for large files; "
            + _limits.how_to_change("upload_bytes")
        )
    with open(p, "rb") as fh:
        data = fh.read()
    return parse_fasta(
        data,
        limits=limits,
        allow_bare=allow_bare,
        bare_name=bare_name or os.path.basename(p),
    )


# ----------------------------------------------------------------------------- fitting


def fit_sequence(
    sequence,
    seq_length: int,
    *,
    mode: str = "crop",
    stride: int | None = None,
) -> FittedSequence:
    """Fit one sequence (str or :class:`FastaRecord`) to ``seq_length``.

    mode: what to do with a longer sequence: "crop" (centre window) or "tile"
        (windows every ``stride`` bases, default ``seq_length``; a last window
        ends exactly at the sequence end). A shorter sequence is always centred
        and padded with N (reported mode "pad"); an exact fit gives one window.
    """
    if isinstance(sequence, FastaRecord):
        name, seq = sequence.name, sequence.sequence
    elif isinstance(sequence, str):
        name, seq = "", sequence
    else:
        raise InputError(f"expected a DNA string or FastaRecord, got {type(sequence).__name__}")
    seq_length = int(seq_length)
    if seq_length <= 0:
        raise InputError(f"seq_length must be positive, got {seq_length}")
    if mode not in ("crop", "tile"):
        raise InputError(f"mode must be 'crop' or 'tile', got {mode!r}")
    L = len(seq)
    if L == 0:
        raise InputError(f"sequence {name!r} is empty: give at least one base")

    if L <= seq_length:
        left = (seq_length - L) // 2
        right = seq_length - L - left
        win = "N" * left + seq + "N" * right
        return FittedSequence(
            name, (win,), np.array([-left]), np.array([left]), np.array([right]),
            L, seq_length, "pad" if L < seq_length else "crop",
        )
    if mode == "crop":
        start = (L - seq_length) // 2
        return FittedSequence(
            name, (seq[start:start + seq_length],), np.array([start]), np.zeros(1, np.int64),
            np.zeros(1, np.int64), L, seq_length, "crop",
        )
    stride = seq_length if stride is None else int(stride)
    if stride <= 0:
        raise InputError(f"tile stride must be positive, got {stride}")
    starts = list(range(0, L - seq_length + 1, stride))
    if starts[-1] + seq_length < L:
        starts.append(L - seq_length)
    offsets = np.array(starts, dtype=np.int64)
    zeros = np.zeros(len(starts), np.int64)
    return FittedSequence(
        name, tuple(seq[s:s + seq_length] for s in starts), offsets, zeros, zeros.copy(),
        L, seq_length, "tile",
    )
