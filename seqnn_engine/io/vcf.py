"""VCF / BCF variants for scoring: CHROM POS ID REF ALT (+ FILTER), through pysam (htslib).

Readers:

* :class:`VcfReader` opens a file with ``pysam.VariantFile``: plain-text VCF, bgzipped VCF
  (``.vcf.gz``) and BCF. With an index beside it (``.tbi`` or ``.csi``, e.g. from
  ``tabix -p vcf x.vcf.gz`` / ``bcftools index x.bcf`` / ``pysam.tabix_index``)
  :meth:`VcfReader.fetch` reads one region without reading the rest of the file.
* :func:`read_vcf` reads a whole file (or one region, ``region=(chrom, start, end)``) into
  :class:`VcfVariants`.
* :func:`parse_vcf` reads contents held in memory (an upload: ``bytes`` or ``str``). pysam
  cannot read from memory: BCF bytes are written to a temporary file and read by htslib; text
  (plain or gzip) is read by the small line reader of this module, with the same rules.

The line reader also takes the files htslib refuses at their header, as before: the minimal
hand-written form (a ``#CHROM POS ID REF ALT`` header line of 5 columns, no
``##fileformat`` line), a leading byte-order mark, whole-file (not bgzip) gzip. It names
the line of any problem. When htslib stops inside a text file (a malformed record, blank
lines, comment lines between records), the line reader reads the file instead: it names the
offending line, or reads the file when its rules allow it (blank and comment lines).

Rules, the same on both paths (InputError names the file, the line or record, and what to fix):

* POS is a positive whole number (1-based, as in the VCF specification);
* REF and ALT are made of A, C, G, T, N (upper or lower case; stored upper case);
* several ALT alleles separated by commas become one :class:`Variant` each, in the order
  given (multi-allelic split);
* an ALT of ``.`` (no alternative allele) is skipped and counted in
  :attr:`VcfVariants.n_no_alt`; symbolic (``<DEL>``), breakend and ``*`` alleles are refused;
* ID ``.`` becomes ``CHROM:POS:REF:ALT``;
* FILTER: by default only records whose FILTER is ``PASS`` or ``.`` (or absent, in the
  5-column form) are kept; the others are counted in :attr:`VcfVariants.n_filtered`.
  ``keep_filtered=True`` keeps every record.

Regions are 0-based half-open ``(chrom, start, end)``, as BED and pysam; a record is in the
region when its REF span ``[POS - 1, POS - 1 + len(REF))`` overlaps it (what tabix returns).
"""
from __future__ import annotations

import contextlib
import gzip
import os
import re
import tempfile
import zlib
from dataclasses import dataclass
from typing import Iterable, Optional

from ..errors import InputError
from .textio import open_text, text_lines

__all__ = ["Variant", "VcfVariants", "VcfReader", "parse_vcf", "read_vcf", "KEEP_FILTERS"]

_ALLELE = re.compile(r"^[ACGTN]+$")
KEEP_FILTERS = ("PASS", ".")
_BCF_MAGIC = b"BCF\x02"


@dataclass(frozen=True)
class Variant:
    """One (bi-allelic) variant.

    chrom: chromosome name as written. pos: 1-based position of the first REF base.
    id: the ID column, or ``chrom:pos:ref:alt`` when it is ``.``.
    ref, alt: upper-case alleles. line: 1-based line number in the file (0 when unknown:
    BCF, region queries). filter: the FILTER column ('PASS', '.', or its values joined by ';').
    """

    chrom: str
    pos: int
    id: str
    ref: str
    alt: str
    line: int = 0
    filter: str = "."

    @property
    def pos0(self) -> int:
        """0-based position of the first REF base."""
        return self.pos - 1

    @property
    def is_substitution(self) -> bool:
        """True for SNVs and equal-length multi-base substitutions."""
        return len(self.ref) == len(self.alt)

    @property
    def where(self) -> str:
        """'line N' when the line is known, else 'CHROM:POS' (for messages)."""
        return f"line {self.line}" if self.line else f"{self.chrom}:{self.pos}"


@dataclass(frozen=True)
class VcfVariants:
    """Variants of a VCF in file order (multi-allelic records split), with counts.

    variants: tuple of :class:`Variant`. n_records: data records read.
    n_no_alt: records skipped because ALT was ``.``. n_filtered: records skipped because
    their FILTER was neither PASS nor ``.``.
    """

    variants: tuple
    n_records: int
    n_no_alt: int
    n_filtered: int = 0

    def __len__(self) -> int:
        return len(self.variants)

    def __iter__(self):
        return iter(self.variants)

    def __getitem__(self, i):
        return self.variants[i]


# ----------------------------------------------------------------------------- shared rules

class _Collector:
    """Applies the module's rules to records from either reader and collects the variants."""

    def __init__(self, source: str, keep_filtered: bool):
        self.source = source
        self.keep_filtered = bool(keep_filtered)
        self.out: list[Variant] = []
        self.n_records = self.n_no_alt = self.n_filtered = 0

    def add(self, chrom: str, pos: int, vid: str, ref: str, alts: list[str] | None, filters: list[str],
            where: str, line: int) -> None:
        """alts: None for ALT '.'; filters: FILTER values ([] for '.')."""
        at = f"{self.source} {where}"
        self.n_records += 1
        if not chrom:
            raise InputError(f"{at}: empty CHROM")
        if pos < 1:
            raise InputError(f"{at}: POS {pos} must be 1 or more (VCF is 1-based)")
        ref = ref.upper()
        if not _ALLELE.match(ref):
            raise InputError(f"{at}: REF {ref[:20]!r} must be made of A, C, G, T, N")
        if not self.keep_filtered and any(f not in KEEP_FILTERS for f in filters):
            self.n_filtered += 1
            return
        if alts is None:
            self.n_no_alt += 1
            return
        for alt in alts:
            alt = alt.strip().upper()
            if not _ALLELE.match(alt):
                raise InputError(
                    f"{at}: ALT {alt[:20]!r} is not a sequence of A, C, G, T, N "
                    "(symbolic, breakend and '*' alleles are not supported): remove the record")
            if alt == ref:
                raise InputError(f"{at}: ALT {alt!r} equals REF: remove the record")
            name = vid if vid and vid != "." else f"{chrom}:{pos}:{ref}:{alt}"
            self.out.append(Variant(chrom, pos, name, ref, alt, line, ";".join(filters) or "."))

    def result(self, *, require_records: bool = True) -> VcfVariants:
        if require_records and self.n_records == 0:
            raise InputError(f"{self.source} has no variant records: give a VCF with CHROM POS ID REF ALT lines")
        return VcfVariants(tuple(self.out), self.n_records, self.n_no_alt, self.n_filtered)


# ----------------------------------------------------------------------------- line reader

def _parse_lines(lines: Iterable[str], source: str, keep_filtered: bool) -> VcfVariants:
    """The text path: VCF lines (line ends optional) -> variants; see the module docstring."""
    c = _Collector(source, keep_filtered)
    for lineno, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < 5:
            cols = line.split()
        if len(cols) < 5:
            raise InputError(f"{source} line {lineno}: expected at least 5 tab-separated columns "
                             f"(CHROM POS ID REF ALT), found {len(cols)}")
        chrom, pos_text, vid, ref, alts = (x.strip() for x in cols[:5])
        try:
            pos = int(pos_text)
        except ValueError:
            raise InputError(f"{source} line {lineno}: POS {pos_text[:20]!r} is not a whole number") from None
        flt = cols[6].strip() if len(cols) > 6 else "."
        filters = [] if flt in ("", ".") else [f for f in flt.split(";") if f]
        c.add(chrom, pos, vid, ref, None if alts == "." else alts.split(","), filters, f"line {lineno}", lineno)
    return c.result()


def _read_text_file(path: str, source: str, keep_filtered: bool) -> VcfVariants:
    try:
        with open_text(path) as fh:
            return _parse_lines(fh, source, keep_filtered)
    except UnicodeDecodeError as e:
        raise InputError(f"{source} is not a text VCF (undecodable byte at offset {e.start}): "
                         "give a VCF, a bgzipped VCF or a BCF") from None
    except (OSError, EOFError, zlib.error) as e:
        raise InputError(f"{source}: the gzip-compressed VCF is corrupt or truncated ({e})") from None


def _header_lines(path: str) -> int:
    """Number of leading '#' lines of a text VCF (plain or bgzip), read until the first record."""
    n = 0
    with open_text(path) as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            n += 1
    return n


# ----------------------------------------------------------------------------- htslib reader

@contextlib.contextmanager
def _quiet_htslib():
    """htslib's own messages off while reading: the InputError says what is wrong."""
    import pysam

    old = pysam.set_verbosity(0)
    try:
        yield
    finally:
        pysam.set_verbosity(old)


def _is_bcf(path: str) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == _BCF_MAGIC:
        return True
    if head[:2] != b"\x1f\x8b":
        return False
    try:
        with gzip.open(path, "rb") as gz:
            return gz.read(4) == _BCF_MAGIC
    except (OSError, EOFError, zlib.error):
        return False


class _NotForHtslib(InputError):
    """htslib refuses the file at its header (read_vcf gives the file to the line reader)."""


class _HtslibStopped(Exception):
    """htslib stopped inside the records (the message names the last good one)."""


class VcfReader:
    """A VCF, bgzipped VCF or BCF file opened with ``pysam.VariantFile``.

    keep_filtered: keep records whose FILTER is not PASS / '.' (default: skip and count them).
    ``contigs``: chromosome names of the index (when indexed) or of the header.
    Use as a context manager or call :meth:`close`.
    """

    def __init__(self, path, *, keep_filtered: bool = False):
        import pysam

        self.path = os.fspath(path)
        self.source = os.path.basename(self.path)
        self.keep_filtered = bool(keep_filtered)
        if not os.path.isfile(self.path):
            raise InputError(f"VCF file not found: {self.path}: check the path")
        self.is_bcf = _is_bcf(self.path)
        try:
            with _quiet_htslib():
                self._vf = pysam.VariantFile(self.path)
        except NotImplementedError:
            raise _NotForHtslib(f"{self.source} is compressed with gzip, not bgzip: htslib needs bgzip "
                                "(gunzip it, then bgzip it; read_vcf reads it as it is)") from None
        except (ValueError, OSError) as e:
            if self.is_bcf:
                raise InputError(f"{self.source}: cannot read this BCF ({e}): check that the file is complete "
                                 "(re-create it with bcftools view -Ob)") from None
            raise _NotForHtslib(f"htslib cannot open {self.source} ({e}): give a VCF with a ##fileformat line "
                                "and 8 tab-separated columns, a bgzipped VCF or a BCF (read_vcf also reads the "
                                "minimal 5-column form)") from None
        self._header_lines = None

    # -------------------------------------------------------------- info
    @property
    def indexed(self) -> bool:
        return self._vf.index is not None

    @property
    def contigs(self) -> tuple:
        if self.indexed:
            return tuple(self._vf.index)
        return tuple(self._vf.header.contigs)

    # -------------------------------------------------------------- records
    def _collect(self, records, c: _Collector, numbered: bool) -> None:
        line0 = 0
        if numbered and not self.is_bcf:
            if self._header_lines is None:
                try:
                    self._header_lines = _header_lines(self.path)
                except (UnicodeDecodeError, OSError, EOFError, zlib.error):
                    self._header_lines = 0      # lines unknown: records are named by position
            line0 = self._header_lines
        last = None
        try:
            with _quiet_htslib():
                for k, r in enumerate(records, start=1):
                    line = line0 + k if line0 else 0
                    where = f"line {line}" if line else f"record {r.chrom}:{r.pos}"
                    c.add(r.chrom, int(r.pos), r.id or ".", r.ref or "", list(r.alts) if r.alts else None,
                          list(r.filter.keys()), where, line)
                    last = f"{r.chrom}:{r.pos}"
        except InputError:
            raise
        except (OSError, ValueError) as e:
            after = f" after record {last}" if last else " at the first record"
            raise _HtslibStopped(f"{self.source}: htslib cannot read the VCF{after} ({e}): check that record "
                                 "against the VCF specification (8 tab-separated columns)") from None

    def read(self) -> VcfVariants:
        """Every record in file order. InputError when there is none."""
        c = _Collector(self.source, self.keep_filtered)
        self._vf.reset()
        try:
            self._collect(self._vf, c, numbered=True)
        except _HtslibStopped as e:
            if self.is_bcf:
                raise InputError(str(e)) from None
            # a text VCF htslib stops in (e.g. blank lines): the line reader, with the same rules, reads
            # it or names the offending line
            return _read_text_file(self.path, self.source, self.keep_filtered)
        return c.result()

    def fetch(self, chrom: str, start: int, end: int) -> VcfVariants:
        """Records overlapping ``[start, end)`` (0-based half-open) on ``chrom``, through the index.

        A region without records gives an empty result; a chromosome the index does not know is an
        InputError listing the known ones.
        """
        start, end = int(start), int(end)
        if start < 0 or end <= start:
            raise InputError(f"region {chrom}:{start}-{end} is empty or negative (0-based half-open: "
                             "0 <= start < end)")
        if not self.indexed:
            raise InputError(
                f"{self.source} has no index: region queries need a bgzipped VCF with a .tbi/.csi index "
                f"(bgzip {self.source} && tabix -p vcf {self.source}.gz) or an indexed BCF (bcftools index)")
        known = self.contigs
        if chrom not in known:
            shown = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "")
            raise InputError(f"{self.source}: chromosome {chrom!r} is not in the index (it has {shown})")
        c = _Collector(self.source, self.keep_filtered)
        try:
            self._collect(self._vf.fetch(chrom, start, end), c, numbered=False)
        except _HtslibStopped as e:
            raise InputError(str(e)) from None
        return c.result(require_records=False)

    def close(self) -> None:
        self._vf.close()

    def __enter__(self) -> "VcfReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ----------------------------------------------------------------------------- entry points

def read_vcf(path, *, region: Optional[tuple] = None, keep_filtered: bool = False) -> VcfVariants:
    """Read a VCF / bgzipped VCF / BCF file, whole or one ``region=(chrom, start, end)``
    (0-based half-open; needs an index). InputError when missing or malformed."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise InputError(f"VCF file not found: {p}: check the path")
    if region is not None:
        try:
            chrom, start, end = region
            start, end = int(start), int(end)
        except (TypeError, ValueError):
            raise InputError(f"region must be (chrom, start, end), got {region!r}") from None
    try:
        reader = VcfReader(p, keep_filtered=keep_filtered)
    except _NotForHtslib:
        if region is not None:
            raise InputError(
                f"{os.path.basename(p)} is not a bgzipped, indexed VCF: region queries need one "
                f"(give the file a full VCF header, then bgzip it and run tabix -p vcf)") from None
        return _read_text_file(p, os.path.basename(p), keep_filtered)
    with reader:
        return reader.read() if region is None else reader.fetch(chrom, start, end)


def parse_vcf(data, *, source: str = "VCF", keep_filtered: bool = False) -> VcfVariants:
    """Parse VCF contents held in memory (``str`` or ``bytes``; text, gzip/bgzip, or BCF bytes).

    BCF bytes go to htslib through a temporary file; text goes to the line reader.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        head = raw[:4]
        if head[:2] == b"\x1f\x8b":
            try:
                head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw[:65536], 4)
            except zlib.error:
                head = b""
        if head == _BCF_MAGIC:
            fd, tmp = tempfile.mkstemp(suffix=".bcf", prefix="seqnn-upload-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(raw)
                with VcfReader(tmp, keep_filtered=keep_filtered) as r:
                    r.source = source
                    return r.read()
            finally:
                os.unlink(tmp)
    return _parse_lines(text_lines(data, "VCF", strict=True), source, keep_filtered)
