"""Region access to bgzipped, tabix-indexed text files (GTF/GFF3, BED, ...) through pysam.TabixFile.

The index sits beside the file: ``FILE.tbi`` (``tabix -p gff FILE`` or ``pysam.tabix_index``)
or ``FILE.csi`` (``tabix --csi``). Only the blocks of the requested region are read and
decompressed, so a window query costs the same on a 1.5 GB annotation as on a small one.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator, Optional

from ..errors import InputError

__all__ = ["TabixRows", "index_path", "is_indexed", "open_tabix"]


def index_path(path) -> Optional[str]:
    """The ``.tbi`` or ``.csi`` index beside ``path`` (``.tbi`` first), or None."""
    p = os.fspath(path)
    for ext in (".tbi", ".csi"):
        if os.path.isfile(p + ext):
            return p + ext
    return None


def is_indexed(path) -> bool:
    """True when ``path`` is a file with a ``.tbi``/``.csi`` index beside it."""
    return os.path.isfile(os.fspath(path)) and index_path(path) is not None


class TabixRows:
    """An open indexed file: ``contigs`` (names in the index) and :meth:`rows` of a region."""

    def __init__(self, tbx, source: str):
        self._tbx = tbx
        self.source = source
        self.contigs = frozenset(tbx.contigs)

    def rows(self, chrom: str, start: int, end: int) -> list[str]:
        """Lines (without line ends) of the rows overlapping ``[start, end)`` (0-based half-open)
        on ``chrom``, in file order; [] for a chromosome the index does not know."""
        if chrom not in self.contigs:
            return []
        try:
            return list(self._tbx.fetch(chrom, max(0, int(start)), int(end)))
        except (OSError, ValueError) as e:
            raise InputError(f"{self.source}: cannot read region {chrom}:{start}-{end} through the index ({e}): "
                             "re-create the index (tabix -f) or the bgzipped file") from None
        except UnicodeDecodeError as e:
            raise InputError(f"{self.source}: region {chrom}:{start}-{end} is not UTF-8 text "
                             f"(undecodable byte at offset {e.start})") from None


@contextlib.contextmanager
def open_tabix(path, what: str = "file") -> Iterator[TabixRows]:
    """Open a bgzipped file with its index; InputError saying how to make them when either is missing."""
    import pysam

    p = os.fspath(path)
    name = os.path.basename(p)
    if not os.path.isfile(p):
        raise InputError(f"{what} file not found: {p}: check the path")
    idx = index_path(p)
    if idx is None:
        raise InputError(f"{name} has no tabix index ({name}.tbi or {name}.csi): sort the file, bgzip it and "
                         f"index it (tabix -p gff {name}, or pysam.tabix_index)")
    try:
        tbx = pysam.TabixFile(p, index=idx, encoding="utf-8")
    except (OSError, ValueError) as e:
        raise InputError(f"{name} cannot be opened with its index {os.path.basename(idx)} ({e}): the {what} "
                         "must be bgzip-compressed (bgzip, not gzip) and indexed with tabix") from None
    try:
        yield TabixRows(tbx, name)
    finally:
        tbx.close()
