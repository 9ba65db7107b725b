"""A minimal VCF reader for variant scoring: CHROM POS ID REF ALT.

Only the first five columns are read; everything else (QUAL, FILTER, INFO, samples) is
ignored. Lines starting with ``#`` are headers. Plain text and gzip/bgzip (``.gz``) files
are accepted.

Rules (InputError names the line and what to fix):

* at least 5 tab-separated columns (a line of spaces only is accepted too, as in hand
  written test files);
* POS is a positive whole number (1-based, as in the VCF specification);
* REF and ALT are made of A, C, G, T, N (upper or lower case; stored upper case);
* several ALT alleles separated by commas are split into one :class:`Variant` each, in
  the order given (multi-allelic split);
* an ALT of ``.`` (no alternative allele) is skipped and counted in
  :attr:`VcfVariants.n_no_alt`; symbolic (``<DEL>``), breakend and ``*`` alleles are
  refused;
* ID ``.`` becomes ``CHROM:POS:REF:ALT``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .errors import InputError
from .textio import text_lines

__all__ = ["Variant", "VcfVariants", "parse_vcf", "read_vcf"]

_ALLELE = re.compile(r"^[ACGTN]+$")


@dataclass(frozen=True)
class Variant:
    """One (bi-allelic) variant.

    chrom: chromosome name as written. pos: 1-based position of the first REF base.
    id: the ID column, or ``chrom:pos:ref:alt`` when it is ``.``.
    ref, alt: upper-case alleles. line: 1-based line number in the file.
    """

    chrom: str
    pos: int
    id: str
    ref: str
    alt: str
    line: int = 0

    @property
    def pos0(self) -> int:
        """0-based position of the first REF base."""
        return self.pos - 1

    @property
    def is_substitution(self) -> bool:
        """True for SNVs and equal-length multi-base substitutions."""
        return len(self.ref) == len(self.alt)


@dataclass(frozen=True)
class VcfVariants:
    """Variants of a VCF in file order (multi-allelic records split), with counts.

    variants: tuple of :class:`Variant`. n_records: data lines read.
    n_no_alt: records skipped because ALT was ``.``.
    """

    variants: tuple
    n_records: int
    n_no_alt: int

    def __len__(self) -> int:
        return len(self.variants)

    def __iter__(self):
        return iter(self.variants)

    def __getitem__(self, i):
        return self.variants[i]


def parse_vcf(data, *, source: str = "VCF") -> VcfVariants:
    """Parse VCF contents (``str`` or ``bytes``, gzip allowed); see the module docstring."""
    out: list[Variant] = []
    n_records = n_no_alt = 0
    for lineno, line in enumerate(text_lines(data, "VCF", strict=True), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.rstrip("\n").split("\t")
        if len(cols) < 5:
            cols = line.split()
        if len(cols) < 5:
            raise InputError(f"{source} line {lineno}: expected at least 5 tab-separated columns "
                             f"(CHROM POS ID REF ALT), found {len(cols)}")
        chrom, pos_text, vid, ref, alts = (c.strip() for c in cols[:5])
        n_records += 1
        if not chrom:
            raise InputError(f"{source} line {lineno}: empty CHROM")
        try:
            pos = int(pos_text)
        except ValueError:
            raise InputError(f"{source} line {lineno}: POS {pos_text[:20]!r} is not a whole number") from None
        if pos < 1:
            raise InputError(f"{source} line {lineno}: POS {pos} must be 1 or more (VCF is 1-based)")
        ref = ref.upper()
        if not _ALLELE.match(ref):
            raise InputError(f"{source} line {lineno}: REF {ref[:20]!r} must be made of A, C, G, T, N")
        if alts == ".":
            n_no_alt += 1
            continue
        for alt in alts.split(","):
            alt = alt.strip().upper()
            if not _ALLELE.match(alt):
                raise InputError(
                    f"{source} line {lineno}: ALT {alt[:20]!r} is not a sequence of A, C, G, T, N "
                    "(symbolic, breakend and '*' alleles are not supported): remove the record")
            if alt == ref:
                raise InputError(f"{source} line {lineno}: ALT {alt!r} equals REF: remove the record")
            name = vid if vid and vid != "." else f"{chrom}:{pos}:{ref}:{alt}"
            out.append(Variant(chrom, pos, name, ref, alt, lineno))
    if n_records == 0:
        raise InputError(f"{source} has no variant records: give a VCF with CHROM POS ID REF ALT lines")
    return VcfVariants(tuple(out), n_records, n_no_alt)


def read_vcf(path) -> VcfVariants:
    """Read a VCF file (plain or ``.gz``); InputError when missing or malformed."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise InputError(f"VCF file not found: {p}: check the path")
    with open(p, "rb") as fh:
        return parse_vcf(fh.read(), source=os.path.basename(p))
