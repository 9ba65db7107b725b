"""Indexed reference genomes (plain ``.fa`` or bgzip ``.fa.gz``) through pysam.

Coordinates are 0-based half-open everywhere (like BED): ``fetch("chr1", 0, 10)``
is the first ten bases of chr1.

Interval strings (:func:`parse_interval`) follow the same convention by default:
``"chr1:1,000-2,000"`` is ``("chr1", 1000, 2000)``, 1000 bases starting at the
1001st base. Pass ``one_based=True`` for strings copied from a genome browser
(UCSC/IGV display 1-based closed intervals): then ``"chr1:1,001-2,000"`` is the
same ``("chr1", 1000, 2000)``.

Windows that run past a chromosome end (``start < 0`` or ``end > length``) are
padded with ``N`` and the padding is reported in :class:`GenomeSequence`.
"""
from __future__ import annotations

import os
import re
import tempfile
import threading
from dataclasses import dataclass

import pysam

from ..errors import InputError

__all__ = ["Genome", "GenomeSequence", "parse_interval"]


@dataclass(frozen=True)
class GenomeSequence:
    """Bases of a genome window.

    chrom, start, end: the requested window (0-based half-open; start may be
        negative and end may exceed the chromosome length).
    sequence: upper-case string of length ``end - start``.
    pad_left: N bases added before the chromosome start (``max(0, -start)``).
    pad_right: N bases added after the chromosome end.
    """

    chrom: str
    start: int
    end: int
    sequence: str
    pad_left: int = 0
    pad_right: int = 0

    def __len__(self) -> int:
        return len(self.sequence)

    @property
    def padded(self) -> bool:
        """True when part of the window lies outside the chromosome."""
        return bool(self.pad_left or self.pad_right)


_INTERVAL_RE = re.compile(
    r"^\s*(?P<chrom>[^\s:]+)\s*[:\s]\s*(?P<start>[\d,_]+)\s*(?:[-\s.]+\s*(?P<end>[\d,_]+))?\s*$"
)


def parse_interval(text: str, *, one_based: bool = False) -> tuple[str, int, int]:
    """Parse ``"chrom:start-end"`` into ``(chrom, start, end)``, 0-based half-open.

    Accepted forms: ``chr1:1000-2000``, ``chr1:1,000-2,000``, ``chr1:1000..2000``,
    ``chr1 1000 2000`` (a BED line's first three fields), and ``chr1:1500`` (a
    single base). By default start/end are read as 0-based half-open (BED);
    ``one_based=True`` reads them as 1-based closed (genome browser display).
    Raises InputError for anything else or when end <= start.
    """
    if not isinstance(text, str):
        raise InputError(f"interval must be text like 'chr1:1000-2000', got {type(text).__name__}")
    m = _INTERVAL_RE.match(text)
    if not m:
        raise InputError(
            f"cannot read interval {text[:80]!r}: write it as chrom:start-end, "
            "for example chr1:1,000,000-1,131,072"
        )
    chrom = m.group("chrom")
    digits = [g.replace(",", "").replace("_", "") if g is not None else None
              for g in (m.group("start"), m.group("end"))]
    if not digits[0] or digits[1] == "":
        raise InputError(f"cannot read positions in interval {text[:80]!r}: write chrom:start-end")
    start = int(digits[0])
    if digits[1] is None:
        end = start if one_based else start + 1
    else:
        end = int(digits[1])
    if one_based:
        if start < 1:
            raise InputError(f"interval {text!r}: 1-based positions start at 1")
        start -= 1
    if end <= start:
        raise InputError(
            f"interval {text!r} is empty or reversed (end must be greater than start)"
        )
    return chrom, start, end


class Genome:
    """An indexed FASTA genome.

    ``Genome(path)`` opens a plain FASTA (building a missing ``.fai``) or a
    bgzip-compressed FASTA with its ``.fai`` and ``.gzi`` (built when missing).
    When the FASTA's folder is not writable the index is built in a temporary
    folder. Plain gzip (not bgzip) is rejected with instructions.

    Thread-safe: fetches are serialised with a lock, so one Genome can be shared
    (e.g. by ``st.cache_resource``). Use as a context manager or call
    :meth:`close`.
    """

    max_fetch_length = 50_000_000  # longest window fetch() returns

    def __init__(self, path):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise InputError(f"genome FASTA not found: {self.path}: check the path")
        self._lock = threading.Lock()
        self._tmpdir = None
        self._fasta = self._open()
        self.chrom_lengths: dict[str, int] = dict(
            zip(self._fasta.references, (int(n) for n in self._fasta.lengths))
        )

    # --------------------------------------------------------------- opening
    def _open(self) -> pysam.FastaFile:
        verbosity = pysam.set_verbosity(0)
        try:
            try:
                return pysam.FastaFile(self.path)
            except (OSError, ValueError) as first:
                if self._index_exists():
                    raise InputError(self._open_error(first)) from None
            # the index is missing and could not be written beside the file:
            # build it in a private temporary folder
            self._tmpdir = tempfile.TemporaryDirectory(prefix="seqnn_fai_")
            fai = os.path.join(self._tmpdir.name, "genome.fai")
            gzi = os.path.join(self._tmpdir.name, "genome.gzi")
            kw = {}
            try:
                if self._is_gzip():
                    pysam.faidx(self.path, "--fai-idx", fai, "--gzi-idx", gzi)
                    kw = dict(filepath_index=fai, filepath_index_compressed=gzi)
                else:
                    pysam.faidx(self.path, "--fai-idx", fai)
                    kw = dict(filepath_index=fai)
                return pysam.FastaFile(self.path, **kw)
            except (OSError, ValueError, pysam.SamtoolsError) as e:
                raise InputError(self._open_error(e)) from None
        finally:
            pysam.set_verbosity(verbosity)

    def _is_gzip(self) -> bool:
        with open(self.path, "rb") as fh:
            return fh.read(2) == b"\x1f\x8b"

    def _index_exists(self) -> bool:
        fai = os.path.isfile(self.path + ".fai")
        if self._is_gzip():
            return fai and os.path.isfile(self.path + ".gzi")
        return fai

    def _open_error(self, err) -> str:
        if self._is_gzip():
            return (
                f"cannot open genome {self.path}: a compressed genome must be bgzip-compressed "
                "(gzip is not indexable): run `bgzip -d` then `bgzip` and `samtools faidx` on it "
                f"({err})"
            )
        return (
            f"cannot open genome {self.path}: it is not a valid FASTA file or its .fai index "
            f"does not match (check the file; delete a stale .fai) ({err})"
        )

    def close(self) -> None:
        with self._lock:
            if self._fasta is not None:
                self._fasta.close()
                self._fasta = None
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"Genome({self.path!r}, {len(self.chrom_lengths)} chromosomes)"

    # --------------------------------------------------------------- lookup
    @property
    def chroms(self) -> list[str]:
        """Chromosome names in file order."""
        return list(self.chrom_lengths)

    def resolve_chrom(self, chrom: str) -> str:
        """Return the genome's name for ``chrom``.

        Exact names win; otherwise ``chr1`` <-> ``1`` and ``chrM`` <-> ``MT``
        aliases are tried. Unknown names raise InputError listing some known ones.
        """
        if chrom in self.chrom_lengths:
            return chrom
        if chrom.startswith("chr"):
            candidates = [chrom[3:]] + (["MT"] if chrom == "chrM" else [])
        else:
            candidates = ["chr" + chrom] + (["chrM"] if chrom == "MT" else [])
        for c in candidates:
            if c in self.chrom_lengths:
                return c
        known = self.chroms
        shown = ", ".join(known[:10]) + (f", ... ({len(known)} in all)" if len(known) > 10 else "")
        raise InputError(
            f"chromosome {chrom!r} is not in genome {os.path.basename(self.path)}; "
            f"known chromosomes: {shown}"
        )

    def chrom_length(self, chrom: str) -> int:
        return self.chrom_lengths[self.resolve_chrom(chrom)]

    # --------------------------------------------------------------- fetch
    def fetch(self, chrom: str, start: int, end: int) -> GenomeSequence:
        """Bases of ``[start, end)`` on ``chrom`` (0-based half-open), upper-case.

        Parts of the window outside the chromosome are N and reported as
        ``pad_left`` / ``pad_right``. A window entirely outside the chromosome
        is all N.
        """
        name = self.resolve_chrom(str(chrom))
        start, end = int(start), int(end)
        if end <= start:
            raise InputError(f"interval {chrom}:{start}-{end} is empty (end must be greater than start)")
        if end - start > self.max_fetch_length:
            raise InputError(
                f"interval {chrom}:{start}-{end} is {end - start:,} bases, more than the limit of "
                f"{self.max_fetch_length:,}: request a shorter interval"
            )
        length = self.chrom_lengths[name]
        lo, hi = max(0, start), min(length, end)
        pad_left = lo - start
        pad_right = end - hi
        if hi > lo:
            with self._lock:
                if self._fasta is None:
                    raise InputError("the genome has been closed: open it again")
                core = self._fasta.fetch(name, lo, hi).upper()
        else:
            core = ""
            pad_left, pad_right = end - start, 0
            if start >= length:
                pad_left, pad_right = 0, end - start
        seq = "N" * pad_left + core + "N" * pad_right
        return GenomeSequence(name, start, end, seq, pad_left, pad_right)

    def fetch_interval(self, text: str, *, one_based: bool = False) -> GenomeSequence:
        """Fetch an interval string (see :func:`parse_interval`)."""
        return self.fetch(*parse_interval(text, one_based=one_based))

    def window(self, chrom: str, center: int, length: int) -> GenomeSequence:
        """The ``length`` bases centred on ``center``: ``[center - length // 2, + length)``.

        With this convention base ``center`` sits at window position ``length // 2``.
        """
        length = int(length)
        if length <= 0:
            raise InputError(f"window length must be positive, got {length}")
        start = int(center) - length // 2
        return self.fetch(chrom, start, start + length)
