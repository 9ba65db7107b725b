"""BED intervals: BED3+ files (name and strand optional) as :class:`BedRegion` rows.

Coordinates are BED's own: 0-based half-open ``[start, end)``. Rules (InputError names the
file, the line and what to fix):

* blank lines and lines starting with ``#``, ``track`` or ``browser`` are skipped;
* at least 3 tab-separated columns (whitespace-separated is accepted too);
* start and end are whole numbers with ``0 <= start < end``;
* name (column 4) defaults to ``chrom:start-end`` when absent or ``.``; strand (column 6) is
  ``+``, ``-`` or ``.``;
* at most :data:`MAX_BED_REGIONS` regions; plain text or gzip/bgzip (``.gz``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import InputError
from .textio import text_lines

__all__ = ["BedRegion", "MAX_BED_REGIONS", "parse_bed", "read_bed"]

MAX_BED_REGIONS = 10_000_000


@dataclass(frozen=True)
class BedRegion:
    """One BED interval. chrom: as written. start, end: 0-based half-open. name: column 4 or
    ``chrom:start-end``. strand: '+', '-' or '.'. line: 1-based line number in the file."""

    chrom: str
    start: int
    end: int
    name: str
    strand: str
    line: int


def parse_bed(data, *, source: str = "BED") -> list[BedRegion]:
    """BED contents (``str`` or ``bytes``, gzip allowed) -> regions in file order."""
    out: list[BedRegion] = []
    for lineno, line in enumerate(text_lines(data, "BED"), start=1):
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        cols = line.rstrip("\r\n").split("\t")
        if len(cols) < 3:
            cols = line.split()
        if len(cols) < 3:
            raise InputError(f"{source} line {lineno}: expected chrom, start, end (tab-separated), "
                             f"found {len(cols)} column(s)")
        chrom = cols[0].strip()
        try:
            start, end = int(cols[1]), int(cols[2])
        except ValueError:
            raise InputError(f"{source} line {lineno}: start/end {cols[1][:20]!r}/{cols[2][:20]!r} "
                             "are not whole numbers") from None
        if start < 0 or end <= start:
            raise InputError(f"{source} line {lineno}: interval {start}-{end} is empty or negative "
                             "(BED is 0-based half-open: 0 <= start < end)")
        name = cols[3].strip() if len(cols) > 3 and cols[3].strip() not in ("", ".") else f"{chrom}:{start}-{end}"
        strand = cols[5].strip() if len(cols) > 5 and cols[5].strip() in ("+", "-") else "."
        out.append(BedRegion(chrom, start, end, name, strand, lineno))
        if len(out) > MAX_BED_REGIONS:
            raise InputError(f"{source} has more than {MAX_BED_REGIONS:,} regions: split it")
    if not out:
        raise InputError(f"{source} has no regions: give chrom, start, end lines")
    return out


def read_bed(path) -> list[BedRegion]:
    """Read a BED file (plain or ``.gz``); InputError naming the line on malformed input."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise InputError(f"BED file not found: {p}: check the path")
    with open(p, "rb") as fh:
        return parse_bed(fh.read(), source=os.path.basename(p))
