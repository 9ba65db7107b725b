"""Genes from GTF / GFF3 annotations, TSSs, gene-centred windows and gene values.

Coordinates: GTF/GFF3 columns 4-5 are 1-based closed; they are converted once,
on reading, to 0-based half-open (``start - 1``, ``end``). Everything after that
(``Transcript``, ``Gene``, ``GeneWindow``) is 0-based half-open.

TSS of a transcript: ``start`` on the '+' strand, ``end - 1`` on the '-' strand
(the first transcribed base). ``Gene.tss_list`` holds every transcript's TSS,
deduplicated, in genome order.

Primary TSS (what gene windows centre on), in this order:

1. the TSS of the first transcript tagged ``Ensembl_canonical``,
   ``MANE_Select`` or ``canonical`` (GTF ``tag`` attributes; GFF3 ``tag=``);
2. otherwise the TSS shared by the most transcripts;
3. ties broken by the most 5' one (smallest on '+', largest on '-').

Output bins (the model's geometry, see the project guide): the window
``[start, start + seq_length)`` gives ``seq_length // stride - 2 * crop`` output
bins; bin ``b`` covers ``[start + (crop + b) * stride, start + (crop + b + 1) * stride)``.
A position ``x`` falls in bin ``(x - start) // stride - crop``.

Reading rules (InputError names the line): 9 tab-separated columns; features
``gene``, ``transcript`` (GFF3: any feature whose Parent is a gene) and ``exon``
are used, others ignored. Missing gene or transcript lines are inferred from
the exons (a GTF with exon lines only works). Strand must be '+' or '-'.

Large annotations: :meth:`GeneSet.read` streams the file line by line (it holds the genes,
not the file); :meth:`GeneSet.read_region` reads only the rows around one window of a
bgzipped, tabix-indexed file. :func:`seqnn_engine.genomics.gene_index.open_genes` picks between them.
"""
from __future__ import annotations

import bisect
import gzip
import os
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import unquote

import numpy as np

from ..errors import InputError
from ..io.tabix import open_tabix
from ..io.textio import text_lines

__all__ = ["Transcript", "Gene", "GeneSet", "NameLookup", "GeneWindow", "annotation_format", "gene_window",
           "gene_values"]

CANONICAL_TAGS = ("Ensembl_canonical", "MANE_Select", "canonical")
_GFF3_GENE_TYPES = {"gene", "ncrna_gene", "pseudogene", "protein_coding_gene"}


@dataclass(frozen=True)
class Transcript:
    """One transcript (0-based half-open).

    exons: tuple of (start, end) pairs, sorted by start.
    tags: GTF/GFF3 ``tag`` values (e.g. 'basic', 'Ensembl_canonical').
    """

    transcript_id: str
    chrom: str
    start: int
    end: int
    strand: str
    exons: tuple = ()
    tags: tuple = ()

    @property
    def tss(self) -> int:
        """First transcribed base: ``start`` on '+', ``end - 1`` on '-'."""
        return self.start if self.strand == "+" else self.end - 1


@dataclass(frozen=True)
class Gene:
    """One gene (0-based half-open) with its transcripts."""

    gene_id: str
    gene_name: str
    chrom: str
    start: int
    end: int
    strand: str
    transcripts: tuple = ()
    gene_type: str = ""

    @property
    def tss_list(self) -> tuple:
        """Every transcript's TSS, deduplicated, in genome order."""
        return tuple(sorted({t.tss for t in self.transcripts}))

    @property
    def primary_tss(self) -> int:
        """The TSS gene windows centre on (see the module docstring)."""
        for t in self.transcripts:
            if any(tag in CANONICAL_TAGS for tag in t.tags):
                return t.tss
        counts = Counter(t.tss for t in self.transcripts)
        if not counts:
            return self.start if self.strand == "+" else self.end - 1
        best = max(counts.values())
        tied = [p for p, c in counts.items() if c == best]
        return min(tied) if self.strand == "+" else max(tied)

    @property
    def exons(self) -> tuple:
        """Union of all transcripts' exons as merged, sorted (start, end) pairs."""
        merged: list[list[int]] = []
        for s, e in sorted(ex for t in self.transcripts for ex in t.exons):
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        return tuple((s, e) for s, e in merged)

    @property
    def label(self) -> str:
        """'NAME (ID)' or the id alone when the name is the id."""
        return self.gene_id if self.gene_name == self.gene_id else f"{self.gene_name} ({self.gene_id})"


# ----------------------------------------------------------------------------- reading

def _gtf_attributes(text: str) -> dict:
    """``key "value"; key value; ...`` -> dict (repeated ``tag`` keys -> list)."""
    out: dict = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        key, _, val = part.partition(" ")
        val = val.strip()
        if len(val) >= 2 and val[0] == '"' and val[-1] == '"':
            val = val[1:-1]
        if key == "tag":
            out.setdefault("tag", []).append(val)
        elif key not in out:
            out[key] = val
    return out


def _gff3_attributes(text: str) -> dict:
    out: dict = {}
    for part in text.split(";"):
        if "=" not in part:
            continue
        key, _, val = part.partition("=")
        key = key.strip()
        vals = [unquote(v.strip()) for v in val.split(",")]
        out[key] = vals if key in ("Parent", "tag", "Alias", "Dbxref") else vals[0]
    return out


@dataclass
class _Acc:
    """Mutable accumulator for one gene/transcript while reading."""

    chrom: str
    strand: str
    start: int | None = None
    end: int | None = None
    name: str = ""
    gene_type: str = ""
    gene: str = ""
    line: int = 0
    exons: list = field(default_factory=list)
    tags: list = field(default_factory=list)
    explicit: bool = False

    def extend(self, s: int, e: int) -> None:
        self.start = s if self.start is None else min(self.start, s)
        self.end = e if self.end is None else max(self.end, e)


class _Builder:
    """Collects genes/transcripts/exons and checks their consistency."""

    def __init__(self, source: str, unit: str = "line"):
        self.source = source
        self.unit = unit
        self.genes: dict[str, _Acc] = {}
        self.tx: dict[str, _Acc] = {}

    def err(self, line: int, msg: str) -> InputError:
        return InputError(f"{self.source} {self.unit} {line}: {msg}")

    def gene(self, gid, chrom, strand, s, e, name, gtype, line):
        g = self.genes.get(gid)
        if g is None:
            g = self.genes[gid] = _Acc(chrom, strand, line=line)
        elif g.explicit:
            raise self.err(line, f"gene {gid!r} is defined twice (also {self.unit} {g.line}): gene ids must be "
                                 "unique")
        self._same_place(g, chrom, strand, line, f"gene {gid!r}")
        g.start, g.end, g.explicit, g.line = s, e, True, line
        g.name = name or g.name
        g.gene_type = gtype or g.gene_type

    def transcript(self, tid, gid, chrom, strand, s, e, tags, line, name="", gtype=""):
        t = self.tx.get(tid)
        if t is None:
            t = self.tx[tid] = _Acc(chrom, strand, gene=gid, line=line)
        elif t.explicit:
            raise self.err(line, f"transcript {tid!r} is defined twice (also {self.unit} {t.line})")
        self._same_place(t, chrom, strand, line, f"transcript {tid!r}")
        if t.gene != gid:
            raise self.err(line, f"transcript {tid!r} belongs to gene {t.gene!r} elsewhere, not {gid!r}")
        t.start, t.end, t.explicit, t.line = s, e, True, line
        t.tags.extend(tags)
        self._gene_for(gid, chrom, strand, s, e, name, gtype, line)

    def exon(self, tid, gid, chrom, strand, s, e, tags, line, name="", gtype=""):
        t = self.tx.get(tid)
        if t is None:
            t = self.tx[tid] = _Acc(chrom, strand, gene=gid, line=line)
        self._same_place(t, chrom, strand, line, f"transcript {tid!r}")
        if gid and t.gene != gid:
            raise self.err(line, f"exon of transcript {tid!r} names gene {gid!r}, the transcript has {t.gene!r}")
        t.exons.append((s, e))
        if not t.explicit:
            t.extend(s, e)
        for tag in tags:
            if tag not in t.tags:
                t.tags.append(tag)
        self._gene_for(t.gene, chrom, strand, s, e, name, gtype, line)

    def _gene_for(self, gid, chrom, strand, s, e, name, gtype, line):
        g = self.genes.get(gid)
        if g is None:
            g = self.genes[gid] = _Acc(chrom, strand, line=line)
        self._same_place(g, chrom, strand, line, f"gene {gid!r}")
        if not g.explicit:
            g.extend(s, e)
            g.name = g.name or name
            g.gene_type = g.gene_type or gtype

    def _same_place(self, acc, chrom, strand, line, what):
        if acc.chrom != chrom or acc.strand != strand:
            raise self.err(
                line,
                f"{what} is on {chrom} {strand} here but on {acc.chrom} {acc.strand} at {self.unit} "
                f"{acc.line}: one gene/transcript must keep its chromosome and strand",
            )

    def build(self) -> list[Gene]:
        by_gene: dict[str, list[Transcript]] = {gid: [] for gid in self.genes}
        for tid, t in self.tx.items():
            exons = sorted(set(t.exons)) or [(t.start, t.end)]
            by_gene.setdefault(t.gene, []).append(
                Transcript(tid, t.chrom, t.start, t.end, t.strand, tuple(exons), tuple(t.tags))
            )
        genes = []
        for gid, g in self.genes.items():
            txs = by_gene.get(gid, [])
            if not txs:
                # a gene line without transcripts: one transcript spanning the gene
                txs = [Transcript(gid, g.chrom, g.start, g.end, g.strand, ((g.start, g.end),))]
            genes.append(Gene(gid, g.name or gid, g.chrom, g.start, g.end, g.strand,
                              tuple(sorted(txs, key=lambda t: (t.start, t.end, t.transcript_id))),
                              g.gene_type))
        genes.sort(key=lambda x: (x.chrom, x.start, x.end, x.gene_id))
        return genes


def _open_text(path: str):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline=None)
    return open(path, "rt", encoding="utf-8", errors="replace", newline=None)


def _parse(lines, fmt: str, source: str, *, unit: str = "line", allow_empty: bool = False) -> list[Gene]:
    """Annotation lines -> genes sorted by (chrom, start, end, id). unit: how messages count the
    lines ('line' in a file; 'row' of a region read through the index). allow_empty: no rows is
    not an error (a region without genes)."""
    b = _Builder(source, unit)
    gff_features: dict[str, tuple] = {}
    gff_exons: list[tuple] = []
    n_rows = 0
    for lineno, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if fmt == "gff3" and line.startswith("##FASTA"):
            break
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 9:
            raise b.err(lineno, f"expected 9 tab-separated columns, found {len(cols)}: is this a "
                                f"{fmt.upper()} file?")
        n_rows += 1
        chrom, _src, feature, s, e, _score, strand, _frame, attrs = cols
        feature_l = feature.lower()
        if fmt == "gtf" and feature_l not in ("gene", "transcript", "exon"):
            continue
        try:
            start, end = int(s) - 1, int(e)
        except ValueError:
            raise b.err(lineno, f"start/end {s[:20]!r}/{e[:20]!r} are not whole numbers") from None
        if start < 0 or end <= start:
            raise b.err(lineno, f"start {s} and end {e} are not a 1-based closed interval (1 <= start <= end)")
        if not chrom.strip():
            raise b.err(lineno, "empty chromosome name")
        if fmt == "gtf":
            if strand not in ("+", "-"):
                raise b.err(lineno, f"strand {strand!r} must be '+' or '-' for a {feature}")
            a = _gtf_attributes(attrs)
            gid = a.get("gene_id", "")
            if not gid:
                raise b.err(lineno, f"{feature} has no gene_id attribute")
            name, gtype = a.get("gene_name", ""), a.get("gene_type", a.get("gene_biotype", ""))
            tags = a.get("tag", [])
            if feature_l == "gene":
                b.gene(gid, chrom, strand, start, end, name, gtype, lineno)
                continue
            tid = a.get("transcript_id", "")
            if not tid:
                raise b.err(lineno, f"{feature} has no transcript_id attribute")
            if feature_l == "transcript":
                b.transcript(tid, gid, chrom, strand, start, end, tags, lineno, name, gtype)
            else:
                b.exon(tid, gid, chrom, strand, start, end, tags, lineno, name, gtype)
        else:
            a = _gff3_attributes(attrs)
            fid = a.get("ID", "")
            if feature_l == "exon":
                gff_exons.append((lineno, chrom, strand, start, end, a.get("Parent", [])))
            elif fid:
                if fid in gff_features:
                    raise b.err(lineno, f"ID {fid!r} is used twice (also {unit} {gff_features[fid][0]})")
                gff_features[fid] = (lineno, feature_l, chrom, strand, start, end, a)
    if fmt == "gff3":
        _assemble_gff3(b, gff_features, gff_exons)
    if allow_empty:
        return b.build()
    if n_rows == 0:
        raise InputError(f"{source} has no annotation rows: upload a GTF or GFF3 file")
    genes = b.build()
    if not genes:
        raise InputError(f"{source} has no gene, transcript or exon rows")
    return genes


def _strip_prefix(x: str, prefix: str) -> str:
    return x[len(prefix):] if x.startswith(prefix) else x


def _assemble_gff3(b: _Builder, feats: dict, exons: list) -> None:
    def stranded(line, strand, what):
        if strand not in ("+", "-"):
            raise b.err(line, f"strand {strand!r} must be '+' or '-' for a {what}")

    gene_key = {}  # GFF3 ID -> gene id
    for fid, (line, ftype, chrom, strand, s, e, a) in feats.items():
        if ftype in _GFF3_GENE_TYPES and not a.get("Parent"):
            stranded(line, strand, ftype)
            gid = a.get("gene_id") or _strip_prefix(fid, "gene:")
            gene_key[fid] = gid
            b.gene(gid, chrom, strand, s, e, a.get("Name") or a.get("gene_name", ""),
                   a.get("biotype") or a.get("gene_type") or a.get("gene_biotype", ""), line)
    tx_key = {}  # GFF3 ID -> (transcript id, gene id)
    for fid, (line, ftype, chrom, strand, s, e, a) in feats.items():
        parents = [p for p in a.get("Parent", []) if p in gene_key]
        if not parents:
            continue
        stranded(line, strand, ftype)
        tid = a.get("transcript_id") or _strip_prefix(fid, "transcript:")
        gid = gene_key[parents[0]]
        tx_key[fid] = (tid, gid)
        b.transcript(tid, gid, chrom, strand, s, e, a.get("tag", []), line)
    for line, chrom, strand, s, e, parents in exons:
        for p in parents:
            if p in tx_key:
                stranded(line, strand, "exon")
                tid, gid = tx_key[p]
                b.exon(tid, gid, chrom, strand, s, e, [], line)


def annotation_format(path) -> str:
    """'gff3' for ``.gff``/``.gff3`` (optionally ``.gz``), else 'gtf'."""
    p = os.fspath(path)
    base = p[:-3] if p.endswith(".gz") else p
    return "gff3" if base.lower().endswith((".gff", ".gff3")) else "gtf"


def _check_format(format: str) -> str:
    if format not in ("gtf", "gff3"):
        raise InputError(f"annotation format must be 'gtf' or 'gff3', got {format!r}")
    return format


class NameLookup:
    """Name / id search over items with ``gene_id`` and ``gene_name`` (genes or index entries).

    :meth:`search`: items whose name or id starts with the query (case-insensitive); exact
    name/id matches first, then shorter names, then alphabetical. :meth:`get`: the item with
    id ``key`` (version suffix optional) or unique name ``key`` (case-insensitive).
    """

    def __init__(self, items):
        self.items = tuple(items)
        self._by_id = {g.gene_id: g for g in self.items}
        self._names = sorted((g.gene_name.lower(), i) for i, g in enumerate(self.items))
        self._ids = sorted((g.gene_id.lower(), i) for i, g in enumerate(self.items))
        self._name_keys = [k for k, _ in self._names]
        self._id_keys = [k for k, _ in self._ids]

    def search(self, query: str, limit: int = 20) -> list:
        q = (query or "").strip().lower()
        if not q or limit <= 0:
            return []
        hits: set[int] = set()
        for keys, pairs in ((self._name_keys, self._names), (self._id_keys, self._ids)):
            i = bisect.bisect_left(keys, q)
            while i < len(keys) and keys[i].startswith(q):
                hits.add(pairs[i][1])
                i += 1
        found = [self.items[i] for i in hits]

        def rank(g):
            exact = g.gene_name.lower() == q or g.gene_id.lower() == q or g.gene_id.lower().split(".")[0] == q
            return (not exact, len(g.gene_name), g.gene_name.lower(), g.gene_id)

        return sorted(found, key=rank)[:limit]

    def get(self, key: str):
        if key in self._by_id:
            return self._by_id[key]
        k = (key or "").strip().lower()
        matches = [g for g in self.items
                   if g.gene_id.lower() == k or g.gene_id.lower().split(".")[0] == k]
        if not matches:
            matches = [g for g in self.items if g.gene_name.lower() == k]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            ids = ", ".join(g.gene_id for g in matches[:5])
            raise InputError(f"gene name {key!r} matches {len(matches)} genes ({ids}): choose one by id")
        near = ", ".join(g.gene_name for g in self.search(k[:3], 5)) if k else ""
        hint = f" (similar: {near})" if near else ""
        raise InputError(f"gene {key!r} is not in the annotation{hint}")


class GeneSet:
    """Genes of one annotation, searchable by name or id, queryable by interval.

    Build with :meth:`read` (path; format from the extension, ``.gz`` allowed),
    :meth:`from_gtf` / :meth:`from_gff3` (paths), :meth:`parse` (contents) or
    :meth:`read_region` (the genes of one window of a bgzipped, tabix-indexed file).
    Immutable after construction; safe to share between sessions.
    """

    def __init__(self, genes):
        self.genes: tuple = tuple(genes)
        self._lookup = NameLookup(self.genes)
        self._intervals = None

    def __len__(self) -> int:
        return len(self.genes)

    def __iter__(self):
        return iter(self.genes)

    def __repr__(self) -> str:
        return f"GeneSet({len(self.genes)} genes)"

    # -------------------------------------------------------------- construct
    @classmethod
    def parse(cls, data, *, format: str = "gtf", source: str = "annotation") -> "GeneSet":
        """Parse annotation contents (``str`` or ``bytes``, gzip allowed); format 'gtf' or 'gff3'."""
        return cls(_parse(text_lines(data, "annotation"), _check_format(format), source))

    @classmethod
    def read(cls, path, *, format: str | None = None) -> "GeneSet":
        """Read a GTF or GFF3 file, streamed line by line; ``format`` defaults from the extension
        (``.gff``/``.gff3`` -> GFF3, anything else GTF)."""
        p = os.fspath(path)
        if not os.path.isfile(p):
            raise InputError(f"annotation file not found: {p}: check the path")
        format = _check_format(annotation_format(p) if format is None else format)
        try:
            with _open_text(p) as fh:
                return cls(_parse(fh, format, os.path.basename(p)))
        except (OSError, EOFError) as e:
            raise InputError(f"cannot read annotation {p}: {e}") from None

    @classmethod
    def read_region(cls, path, chrom: str, start: int, end: int, *, format: str | None = None) -> "GeneSet":
        """The genes overlapping ``[start, end)`` (0-based half-open) on ``chrom`` of a bgzipped,
        tabix-indexed GTF/GFF3 (``.tbi`` or ``.csi`` beside it), read through the index.

        Only the rows around the window are read: first the rows overlapping the window, then,
        until it stops growing, the span of every gene found there, so each gene comes with all
        its transcripts and exons. The genes equal those of :meth:`read` restricted to the window
        when every gene's rows lie within its gene line (or, without gene lines, its transcript
        rows chain across it), as in GENCODE and Ensembl files. A chromosome without rows gives
        an empty set. Rows are counted from the window in messages (``row N``).
        """
        start, end = int(start), int(end)
        if start < 0 or end <= start:
            raise InputError(f"region {chrom}:{start}-{end} is empty or negative (0 <= start < end)")
        p = os.fspath(path)
        format = _check_format(annotation_format(p) if format is None else format)
        with open_tabix(p, "annotation") as tbx:
            if chrom not in tbx.contigs:
                return cls(())
            source = f"{os.path.basename(p)} region {chrom}:{start}-{end}"
            lo, hi = start, end
            while True:
                rows = tbx.rows(chrom, lo, hi)
                genes = _parse(rows, format, source, unit="row", allow_empty=True)
                hits = [g for g in genes if g.chrom == chrom and g.start < end and g.end > start]
                need_lo = min([lo] + [g.start for g in hits])
                need_hi = max([hi] + [g.end for g in hits])
                if need_lo >= lo and need_hi <= hi:
                    return cls(hits)
                lo, hi = need_lo, need_hi

    @classmethod
    def from_gtf(cls, path) -> "GeneSet":
        return cls.read(path, format="gtf")

    @classmethod
    def from_gff3(cls, path) -> "GeneSet":
        return cls.read(path, format="gff3")

    # -------------------------------------------------------------- lookup
    def search(self, query: str, limit: int = 20) -> list[Gene]:
        """Genes whose name or id starts with ``query`` (case-insensitive).

        Exact name/id matches come first, then shorter names, then alphabetical.
        An empty query returns [].
        """
        return self._lookup.search(query, limit)

    def get(self, key: str) -> Gene:
        """The gene with id ``key`` (version suffix optional) or unique name ``key``
        (case-insensitive). Raises InputError when absent or ambiguous."""
        return self._lookup.get(key)

    def overlapping(self, chrom: str, start: int, end: int) -> list[Gene]:
        """Genes on ``chrom`` overlapping ``[start, end)`` (0-based half-open), in genome order."""
        if self._intervals is None:
            by_chrom: dict = {}
            for i, g in enumerate(self.genes):
                by_chrom.setdefault(g.chrom, []).append((g.start, g.end, i))
            index = {}
            for c, rows in by_chrom.items():
                rows.sort()
                index[c] = (rows, [r[0] for r in rows], max(r[1] - r[0] for r in rows))
            self._intervals = index
        got = self._intervals.get(chrom)
        if got is None:
            return []
        rows, starts, longest = got
        lo = bisect.bisect_left(starts, int(start) - longest)
        hi = bisect.bisect_left(starts, int(end))
        return [self.genes[r[2]] for r in rows[lo:hi] if r[1] > start and r[0] < end]


# ----------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class GeneWindow:
    """A model input window centred on a gene's TSS, with the gene mapped to bins.

    chrom, start, end: the input window, 0-based half-open (``end - start ==
        seq_length``; may run past the chromosome ends, the genome pads with N).
    strand: the gene's strand.
    center: genomic TSS the window is centred on (window position ``seq_length // 2``).
    stride, crop, target_length: the model's output geometry.
    tss: (K,) int64 genomic TSSs that fall inside the output, genome order.
    tss_bins: (K,) int64 output bin of each of those TSSs (may repeat when two
        TSSs share a bin).
    tss_outside: (M,) int64 genomic TSSs outside the output (dropped).
    exon_bins: (E,) int64 sorted output bins overlapping any exon of the gene.
    """

    gene_id: str
    gene_name: str
    chrom: str
    start: int
    end: int
    strand: str
    center: int
    stride: int
    crop: int
    target_length: int
    tss: np.ndarray
    tss_bins: np.ndarray
    tss_outside: np.ndarray
    exon_bins: np.ndarray

    @property
    def seq_length(self) -> int:
        return self.end - self.start

    def bin_interval(self, b: int) -> tuple[str, int, int]:
        """Genomic interval (chrom, start, end) covered by output bin ``b``."""
        s = int(self.geometry.bin_starts(self.start)[int(b)])
        return self.chrom, s, s + self.stride

    def position_bin(self, pos) -> np.ndarray:
        """Output bin(s) of genomic position(s) (may be outside [0, target_length))."""
        return self.geometry.bin_of(pos, self.start)

    @property
    def geometry(self):
        """The model's :class:`~seqnn_engine.model.geometry.BinGeometry`."""
        from ..model.geometry import BinGeometry
        return BinGeometry(self.seq_length, self.stride, self.crop, self.target_length)


def gene_window(gene: Gene, seq_length: int, stride: int, crop: int, *, center: int | None = None) -> GeneWindow:
    """Window of ``seq_length`` bases centred on ``center`` (default the gene's
    primary TSS): ``start = center - seq_length // 2``. Maps every TSS and exon
    of the gene to output bins (see the module docstring)."""
    from ..model.geometry import BinGeometry
    geo = BinGeometry.of(seq_length, stride, crop)
    seq_length, stride, crop, target_length = geo.seq_length, geo.stride, geo.crop, geo.target_length
    c = gene.primary_tss if center is None else int(center)
    start = geo.window_start(c)
    tss = np.array(gene.tss_list, dtype=np.int64)
    bins = geo.bin_of(tss, start)
    inside = geo.inside(bins)
    exon_bins: set[int] = set()
    for es, ee in gene.exons:
        span = geo.span_bins(es, ee, start)
        if span is not None:
            exon_bins.update(range(span[0], span[1] + 1))
    return GeneWindow(
        gene.gene_id, gene.gene_name, gene.chrom, start, start + seq_length, gene.strand, c,
        stride, crop, target_length, tss[inside], bins[inside], tss[~inside],
        np.array(sorted(exon_bins), dtype=np.int64),
    )


#: the project's one TSS radius: bins on each side of a TSS bin summed into a gene value and added to
#: the TSS objective, for the CLI ``genes`` command, ``gene_predict`` and the dashboard (0: the TSS
#: bin alone, as the dashboard's TSS objective and the CLI have always used)
TSS_RADIUS = 0


def gene_values(preds, tss_bins, tss_radius: int = TSS_RADIUS, target_strands=None, gene_strand: str | None = None) -> np.ndarray:
    """Gene value per target from binned predictions.

    preds: (..., P, T) predictions for one window (leading axes, e.g. sequences,
        are kept).
    tss_bins: (K,) output bins of the gene's TSSs (e.g. ``GeneWindow.tss_bins``).
        Each entry counts once, so two TSSs in one bin count that bin twice (the
        reference's "gene = sum over its TSSs"); pass ``np.unique(bins)`` to count
        each bin once. Every bin must lie in ``[0, P)``.
    tss_radius: r; each TSS contributes ``sum(preds[b - r : b + r + 1])``, the
        range clipped to ``[0, P)``.
    target_strands: optional (T,) strands ('+', '-', '.'), e.g. ``TargetTable.strand``.
    gene_strand: the gene's strand. When both strand arguments are given, targets
        on the opposite strand to the gene get NaN (a '-' gene keeps '-' and '.'
        targets); unstranded targets are always kept.

    Returns (..., T) float64. No TSS bins gives zeros. For the reference's
    strand-collapsed table (one column per +/- pair, read from the gene's strand)
    index the unmasked result with ``TargetTable.gene_strand_rows(gene.strand)``.
    """
    p = np.asarray(preds)
    if p.ndim < 2:
        raise InputError(f"predictions must be (..., bins, targets), got shape {p.shape}")
    P, T = p.shape[-2], p.shape[-1]
    bins = np.asarray(tss_bins, dtype=np.int64).reshape(-1)
    r = int(tss_radius)
    if r < 0:
        raise InputError(f"tss_radius must be >= 0, got {r}")
    if bins.size and (bins.min() < 0 or bins.max() >= P):
        raise InputError(f"TSS bins {bins.tolist()} fall outside the {P} output bins")
    out = np.zeros(p.shape[:-2] + (T,), dtype=np.float64)
    for b in bins:
        lo, hi = max(0, b - r), min(P, b + r + 1)
        out += p[..., lo:hi, :].sum(axis=-2, dtype=np.float64)
    if target_strands is not None and gene_strand is not None:
        strands = np.asarray(target_strands).astype(str)
        if strands.shape != (T,):
            raise InputError(f"target_strands has shape {strands.shape}, predictions have {T} targets")
        if gene_strand in ("+", "-"):
            opposite = "-" if gene_strand == "+" else "+"
            out[..., strands == opposite] = np.nan
        elif gene_strand != ".":
            raise InputError(f"gene strand must be '+', '-' or '.', got {gene_strand!r}")
    return out


def output_coverage(gene, window: GeneWindow) -> tuple[float, float]:
    """(share of the gene body, share of its exon bases) inside the window's output bins."""
    lo = window.start + window.crop * window.stride
    hi = lo + window.target_length * window.stride

    def inside(a, b):
        return max(0, min(b, hi) - max(a, lo))
    body = max(gene.end - gene.start, 1)
    ex = sum(e - s for s, e in gene.exons) or 1
    return inside(gene.start, gene.end) / body, sum(inside(s, e) for s, e in gene.exons) / ex


def coverage_note(gene, window: GeneWindow) -> str | None:
    """A message when the gene body reaches past the window's output bins, else None."""
    body, exons = output_coverage(gene, window)
    if body >= 1.0:
        return None
    return (f"{gene.gene_name or gene.gene_id} is {gene.end - gene.start:,} bp: {body:.0%} of its body and "
            f"{exons:.0%} of its exon bases lie inside the model output")
