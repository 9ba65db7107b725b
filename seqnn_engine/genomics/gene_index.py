"""Genes of a large annotation without holding it: tabix window queries and a streamed name index.

:func:`open_genes` is how a surface (dashboard, CLI, notebook) opens an annotation:

* a bgzipped GTF/GFF3 with a ``.tbi``/``.csi`` index beside it gives a :class:`TabixGenes`:
  the genes of a window come from :meth:`GeneSet.read_region` (only the rows around the window
  are read), and names come from a compact name index, written once by streaming the file line
  by line (never holding it) and kept in a cache directory;
* any other file gives a :class:`~seqnn_engine.genomics.genes.GeneSet` (the whole file parsed once).

Both answer ``overlapping(chrom, start, end)`` (genes of a window, full :class:`Gene` objects),
``search(query, limit)`` (objects with ``gene_id``, ``gene_name``, ``chrom``, ``start``, ``end``,
``strand``: genes or :class:`GeneEntry` rows), ``get(key)`` (a full :class:`Gene`) and ``len``.

Name index file (TSV, one gene a line, 0-based half-open): ``gene_id gene_name chrom start end
strand``; its first line records the annotation's size and modification time, and a file that
no longer matches is rebuilt. Gene extents follow the parser's rules: the gene line when
present, else the union of its transcript and exon rows (GTF); GFF3 genes are their gene rows.
Directory: ``index_dir`` argument, else ``$SEQNN_CACHE_DIR/gene-index``, else
``~/.cache/seqnn-engine/gene-index``.
"""
from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from ..io.atomic import atomic_write
from ..errors import InputError
from .genes import (_GFF3_GENE_TYPES, Gene, GeneSet, NameLookup, _check_format, _gff3_attributes,
                    _gtf_attributes, _open_text, _strip_prefix, annotation_format)
from ..io.tabix import is_indexed

__all__ = ["GeneEntry", "TabixGenes", "build_name_index", "default_index_dir", "open_genes", "read_name_index"]

_MAGIC = "#seqnn-gene-index"
_VERSION = "1"


@dataclass(frozen=True)
class GeneEntry:
    """One gene of the name index: ids, place and strand (0-based half-open), no transcripts."""

    gene_id: str
    gene_name: str
    chrom: str
    start: int
    end: int
    strand: str

    @property
    def label(self) -> str:
        """'NAME (ID)' or the id alone when the name is the id."""
        return self.gene_id if self.gene_name == self.gene_id else f"{self.gene_name} ({self.gene_id})"


def default_index_dir() -> Path:
    base = os.environ.get("SEQNN_CACHE_DIR")
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "seqnn-engine"
    return root / "gene-index"


def _stamp(path: str, fmt: str) -> str:
    st = os.stat(path)
    return f"{_MAGIC}\t{_VERSION}\t{st.st_size}\t{st.st_mtime_ns}\t{fmt}"


def _stream_entries(path: str, fmt: str) -> list[GeneEntry]:
    """One pass over the file, line by line; holds one small record per gene."""
    source = os.path.basename(path)
    genes: dict[str, list] = {}   # gid -> [name, chrom, start, end, strand, explicit]
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if fmt == "gff3" and line.startswith("##FASTA"):
                break
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.rstrip("\r\n").split("\t")
            if len(cols) != 9:
                raise InputError(f"{source} line {lineno}: expected 9 tab-separated columns, found {len(cols)}")
            chrom, _src, feature, s, e, _score, strand, _frame, attrs = cols
            feature = feature.lower()
            if fmt == "gtf" and feature not in ("gene", "transcript", "exon"):
                continue
            if fmt == "gff3" and feature not in _GFF3_GENE_TYPES:
                continue
            try:
                start, end = int(s) - 1, int(e)
            except ValueError:
                raise InputError(f"{source} line {lineno}: start/end {s[:20]!r}/{e[:20]!r} are not whole numbers") \
                    from None
            if fmt == "gtf":
                a = _gtf_attributes(attrs)
                gid = a.get("gene_id", "")
                if not gid:
                    raise InputError(f"{source} line {lineno}: {feature} has no gene_id attribute")
                name = a.get("gene_name", "")
                explicit = feature == "gene"
            else:
                a = _gff3_attributes(attrs)
                if a.get("Parent") or not a.get("ID"):
                    continue
                gid = a.get("gene_id") or _strip_prefix(a["ID"], "gene:")
                name = a.get("Name") or a.get("gene_name", "")
                explicit = True
            g = genes.get(gid)
            if g is None:
                genes[gid] = [name, chrom, start, end, strand, explicit]
            elif explicit:
                g[:] = [name or g[0], chrom, start, end, strand, True]
            elif not g[5]:
                g[0] = g[0] or name
                g[2], g[3] = min(g[2], start), max(g[3], end)
    out = [GeneEntry(gid, v[0] or gid, v[1], v[2], v[3], v[4]) for gid, v in genes.items()]
    out.sort(key=lambda x: (x.chrom, x.start, x.end, x.gene_id))
    return out


def _write_index(index_file, stamp: str, entries) -> None:
    clean = lambda x: x.replace("\t", " ").replace("\n", " ")  # noqa: E731
    Path(index_file).parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(index_file, "w") as fh:
        fh.write(stamp + "\n")
        for g in entries:
            fh.write(f"{clean(g.gene_id)}\t{clean(g.gene_name)}\t{g.chrom}\t{g.start}\t{g.end}\t{g.strand}\n")


def build_name_index(path, index_file=None, *, format: Optional[str] = None) -> list[GeneEntry]:
    """Stream ``path`` once and return its entries, writing them to ``index_file`` (atomically)
    when given. A directory that cannot be written keeps the entries in memory only."""
    p = os.fspath(path)
    fmt = _check_format(annotation_format(p) if format is None else format)
    stamp = _stamp(p, fmt)
    try:
        entries = _stream_entries(p, fmt)
    except (OSError, EOFError) as e:
        raise InputError(f"cannot read annotation {p}: {e}") from None
    if index_file is not None:
        try:
            _write_index(index_file, stamp, entries)
        except OSError:
            pass
    return entries


def read_name_index(path, index_file, *, format: Optional[str] = None) -> Optional[list[GeneEntry]]:
    """The entries of ``index_file`` when it was built from ``path`` as it is now, else None."""
    p = os.fspath(path)
    fmt = _check_format(annotation_format(p) if format is None else format)
    try:
        with open(index_file, "r", encoding="utf-8") as fh:
            if fh.readline().rstrip("\n") != _stamp(p, fmt):
                return None
            out = []
            for line in fh:
                gid, name, chrom, s, e, strand = line.rstrip("\n").split("\t")
                out.append(GeneEntry(gid, name, chrom, int(s), int(e), strand))
            return out
    except (OSError, ValueError):
        return None


class TabixGenes:
    """A bgzipped, tabix-indexed GTF/GFF3: window queries through the index, names from the name index.

    Nothing is read on construction; the name index is loaded (or built, one streaming pass) on the
    first :meth:`search` / :meth:`get` / ``len``. Safe to share between threads.
    """

    def __init__(self, path, *, format: Optional[str] = None, index_dir=None):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise InputError(f"annotation file not found: {self.path}: check the path")
        if not is_indexed(self.path):
            raise InputError(f"{os.path.basename(self.path)} has no .tbi/.csi index: bgzip and index it "
                             "(tabix -p gff), or read it whole with GeneSet.read")
        self.format = _check_format(annotation_format(self.path) if format is None else format)
        digest = hashlib.sha256(os.path.abspath(self.path).encode()).hexdigest()[:12]
        d = Path(index_dir) if index_dir is not None else default_index_dir()
        self.index_file = d / f"{os.path.basename(self.path)}.{digest}.genes.tsv"
        self._lookup: Optional[NameLookup] = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TabixGenes({self.path!r})"

    # -------------------------------------------------------------- windows
    def overlapping(self, chrom: str, start: int, end: int) -> list[Gene]:
        """Genes overlapping ``[start, end)`` on ``chrom`` (see :meth:`GeneSet.read_region`)."""
        return list(GeneSet.read_region(self.path, chrom, start, end, format=self.format))

    # -------------------------------------------------------------- names
    def _names(self) -> NameLookup:
        with self._lock:
            if self._lookup is None:
                entries = read_name_index(self.path, self.index_file, format=self.format)
                if entries is None:
                    entries = build_name_index(self.path, self.index_file, format=self.format)
                self._lookup = NameLookup(entries)
            return self._lookup

    @property
    def entries(self) -> tuple:
        """Every gene as a :class:`GeneEntry`, in genome order."""
        return self._names().items

    def __len__(self) -> int:
        return len(self._names().items)

    def search(self, query: str, limit: int = 20) -> list[GeneEntry]:
        """Entries whose name or id starts with ``query`` (the rules of :meth:`GeneSet.search`)."""
        return self._names().search(query, limit)

    def get(self, key: str) -> Gene:
        """The full gene (transcripts, exons) of id or unique name ``key``, read by region."""
        e = self._names().get(key)
        for g in GeneSet.read_region(self.path, e.chrom, e.start, e.end, format=self.format):
            if g.gene_id == e.gene_id:
                return g
        raise InputError(f"gene {e.gene_id} of the name index {self.index_file} is not at {e.chrom}:{e.start}-"
                         f"{e.end} of {os.path.basename(self.path)}: delete the index file to rebuild it")


def open_genes(path, *, format: Optional[str] = None, index_dir=None) -> Union[TabixGenes, GeneSet]:
    """:class:`TabixGenes` for a file with a ``.tbi``/``.csi`` index beside it, else the whole
    file parsed into a :class:`GeneSet` (see the module docstring)."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise InputError(f"annotation file not found: {p}: check the path")
    if is_indexed(p):
        return TabixGenes(p, format=format, index_dir=index_dir)
    return GeneSet.read(p, format=format)
