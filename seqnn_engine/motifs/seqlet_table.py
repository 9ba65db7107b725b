"""The seqlet table: one row per seqlet called by :func:`seqnn_engine.motifs.seqlets.call_seqlets`, with its
input and genome coordinates, score and p-values, its best motif matches (:class:`MotifMatches`, filled by
:func:`seqnn_engine.motifs.annotate.annotate_seqlets`) and, after knock-out verification
(:func:`seqnn_engine.motifs.verify.knockout_seqlets`), the knock-out columns; and its TSV and BED text.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

import numpy as np

from ..errors import InputError

TSV_COLUMNS = ("seq", "start", "end", "chrom", "genome_start", "genome_end", "sign", "score", "p_value", "p_adj",
               "strand", "name", "motif_ids", "motif_names", "match_p", "match_q", "targets", "objective")
KNOCKOUT_COLUMNS = ("ko_effect", "ko_p", "ko_q", "verified")   # TSV columns after knock-out verification


@dataclass
class MotifMatches:
    """The best motif matches of each of N queries (K = number kept, missing entries are empty).

    ids, names: (N, K) object arrays of str ('' when fewer than K matches pass);
    p_value, q_value: (N, K) float64 (NaN when missing); strand: (N, K) '<U1' ('+' the motif reads
    on the query's forward strand, '-' its reverse complement; '' missing); offset: (N, K) int64
    (TOMTOM's alignment offset of the target against the query).
    database: the motif set's source; max_q: the q-value bound a match had to meet.
    """

    ids: np.ndarray
    names: np.ndarray
    p_value: np.ndarray
    q_value: np.ndarray
    strand: np.ndarray
    offset: np.ndarray
    database: str = ""
    max_q: float = 1.0

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def take(self, idx) -> "MotifMatches":
        idx = np.asarray(idx, dtype=np.int64)
        return replace(self, ids=self.ids[idx], names=self.names[idx], p_value=self.p_value[idx],
                       q_value=self.q_value[idx], strand=self.strand[idx], offset=self.offset[idx])


@dataclass
class SeqletTable:
    """Seqlets called from one attribution (one objective), one row each.

    seq: (N,) int64 index of the sequence (row of the attribution);
    start, end: (N,) int64 input positions, half-open ``[start, end)`` within the sequence;
    sign: (N,) int8 +1 (positive contribution) or -1 (negative);
    score: (N,) float64 summed contribution over ``[start, end)``;
    p_value: (N,) float64 the p-value of the seqlet's core window against the null; p_adj: (N,) float64 its
    Bonferroni-adjusted p-value within its sequence, ``min(1, p * tests per sequence)``;
    chrom, genome_start, genome_end: (N,) genome coordinates (object str, int64, int64) when the
    sequences have them (:meth:`place`), else None;
    strand: (N,) '<U1' strand of the best motif match ('.' without one);
    core_start, core_end: (N,) int64 the significant window a seqlet grew from: its span before
    opposite-sign neighbours joined it (widened by ``flank`` like the seqlet; equal to start/end when
    nothing joined); motif names are matched on it (:func:`~seqnn_engine.motifs.annotate.seqlet_queries`);
    matches: :class:`MotifMatches` of the rows, or None before annotation;
    ko_effect, ko_p, ko_q: (N,) float64 and verified: (N,) bool, the knock-out verification
    (:func:`~seqnn_engine.motifs.verify.knockout_seqlets`, :meth:`with_knockout`), or None before it:
    the change of the objective when the span is replaced by random bases, its empirical p-value, its
    BH q-value, and whether the seqlet is verified;
    targets: the track(s) the objective is built from (e.g. 'CTCF'); objective: how (e.g.
    'sum of bins 0:64'); method: the attribution method; settings: the caller's parameters.
    """

    seq: np.ndarray
    start: np.ndarray
    end: np.ndarray
    sign: np.ndarray
    score: np.ndarray
    p_value: np.ndarray
    p_adj: np.ndarray
    chrom: Optional[np.ndarray] = None
    genome_start: Optional[np.ndarray] = None
    genome_end: Optional[np.ndarray] = None
    strand: Optional[np.ndarray] = None
    core_start: Optional[np.ndarray] = None
    core_end: Optional[np.ndarray] = None
    matches: Optional[MotifMatches] = None
    ko_effect: Optional[np.ndarray] = None
    ko_p: Optional[np.ndarray] = None
    ko_q: Optional[np.ndarray] = None
    verified: Optional[np.ndarray] = None
    targets: str = ""
    objective: str = ""
    method: str = ""
    settings: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.strand is None:
            self.strand = np.full(len(self.seq), ".", dtype="<U1")
        if self.core_start is None:
            self.core_start = np.asarray(self.start, np.int64).copy()
        if self.core_end is None:
            self.core_end = np.asarray(self.end, np.int64).copy()

    def __len__(self) -> int:
        return int(len(self.seq))

    @property
    def length(self) -> np.ndarray:
        """(N,) int64 seqlet widths."""
        return self.end - self.start

    def take(self, idx) -> "SeqletTable":
        """The rows ``idx`` (indices or a boolean mask), in that order."""
        idx = np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        opt = lambda a: None if a is None else a[idx]  # noqa: E731
        return replace(self, seq=self.seq[idx], start=self.start[idx], end=self.end[idx], sign=self.sign[idx],
                       score=self.score[idx], p_value=self.p_value[idx], p_adj=self.p_adj[idx],
                       chrom=opt(self.chrom), genome_start=opt(self.genome_start), genome_end=opt(self.genome_end),
                       strand=self.strand[idx], core_start=self.core_start[idx], core_end=self.core_end[idx],
                       matches=None if self.matches is None else self.matches.take(idx),
                       ko_effect=opt(self.ko_effect), ko_p=opt(self.ko_p), ko_q=opt(self.ko_q),
                       verified=opt(self.verified))

    @property
    def has_knockout(self) -> bool:
        """True after :meth:`with_knockout` (the knock-out columns are set)."""
        return self.verified is not None

    def with_knockout(self, knockout) -> "SeqletTable":
        """A copy holding the knock-out columns of ``knockout`` (a
        :class:`~seqnn_engine.motifs.verify.KnockoutTable` of these rows, in order)."""
        if len(knockout) != len(self):
            raise InputError(f"{len(knockout)} knock-out rows for {len(self)} seqlets")
        settings = dict(self.settings, knockout=dict(alpha=knockout.alpha, min_effect=knockout.min_effect,
                                                     min_fraction=knockout.min_fraction,
                                                     min_share=float(getattr(knockout, "min_share", 0.0)),
                                                     n_shuffles=knockout.n_shuffles, seed=knockout.seed,
                                                     n_null=int(len(knockout.null_effect))))
        return replace(self, ko_effect=np.asarray(knockout.effect, np.float64),
                       ko_p=np.asarray(knockout.p_value, np.float64), ko_q=np.asarray(knockout.q_value, np.float64),
                       verified=np.asarray(knockout.verified, bool), settings=settings)

    def verified_only(self) -> "SeqletTable":
        """The verified rows (InputError before :meth:`with_knockout`)."""
        if self.verified is None:
            raise InputError("these seqlets were not verified: run seqnn_engine.motifs.verify.knockout_seqlets "
                             "and SeqletTable.with_knockout first")
        return self.take(self.verified)

    @property
    def columns(self) -> tuple:
        """The TSV columns: :data:`TSV_COLUMNS`, then :data:`KNOCKOUT_COLUMNS` after verification."""
        return TSV_COLUMNS + (KNOCKOUT_COLUMNS if self.has_knockout else ())

    def place(self, chroms: Sequence[str], starts: Sequence[int], strands: Optional[Sequence[str]] = None,
              chrom_sizes: Optional[dict] = None) -> "SeqletTable":
        """Genome coordinates: sequence ``i`` starts at ``chroms[i]:starts[i]`` (0-based).

        ``strands[i] == '-'`` means sequence ``i`` is the reverse complement of the genome
        (position 0 at the window's genome end); the default is '+' for every sequence.
        Seqlets reaching past a chromosome end (``chrom_sizes``) are clipped.
        Returns a new table with ``chrom``/``genome_start``/``genome_end`` set.
        """
        chroms = np.asarray(list(chroms), dtype=object)
        starts = np.asarray(list(starts), dtype=np.int64)
        if self.seq.size and self.seq.max() >= len(chroms):
            raise InputError(f"seqlets refer to sequence {int(self.seq.max())} but only {len(chroms)} "
                             "coordinates were given")
        c = chroms[self.seq]
        s0 = starts[self.seq]
        gs, ge = s0 + self.start, s0 + self.end
        if strands is not None:
            rev = np.asarray([st == "-" for st in strands], dtype=bool)[self.seq]
            L = int(self.settings.get("seq_length", 0))
            if rev.any() and not L:
                raise InputError("placing reverse-strand sequences needs the sequence length")
            gs = np.where(rev, s0 + L - self.end, gs)
            ge = np.where(rev, s0 + L - self.start, ge)
        if chrom_sizes:
            size = np.array([int(chrom_sizes.get(ch, np.iinfo(np.int64).max)) for ch in c], dtype=np.int64)
            gs, ge = np.clip(gs, 0, size), np.clip(ge, 0, size)
        return replace(self, chrom=c, genome_start=gs.astype(np.int64), genome_end=ge.astype(np.int64))

    def with_matches(self, matches: MotifMatches) -> "SeqletTable":
        """A copy holding ``matches`` (one row per seqlet); ``strand`` becomes the best match's strand."""
        if len(matches) != len(self):
            raise InputError(f"{len(matches)} match rows for {len(self)} seqlets")
        best = matches.strand[:, 0] if matches.strand.shape[1] else np.full(len(self), "")
        strand = np.where(best == "", ".", best).astype("<U1")
        return replace(self, matches=matches, strand=strand)

    # -- tabular views -----------------------------------------------------------------------------------
    def _match_cols(self, i: int, k: int = 3) -> tuple[str, str, str, str, str]:
        m = self.matches
        if m is None:
            return ".", ".", ".", ".", "."
        keep = [j for j in range(min(k, m.ids.shape[1])) if m.ids[i, j]]
        if not keep:
            return ".", ".", ".", ".", "."
        return (str(m.names[i, keep[0]]), ",".join(str(m.ids[i, j]) for j in keep),
                ",".join(str(m.names[i, j]) for j in keep),
                ",".join(f"{m.p_value[i, j]:.3g}" for j in keep), ",".join(f"{m.q_value[i, j]:.3g}" for j in keep))

    def records(self) -> list[dict]:
        """One dict per seqlet with the :attr:`columns` keys (strings '.' where absent; ``verified`` 1/0)."""
        out = []
        for i in range(len(self)):
            name, ids, names, mp, mq = self._match_cols(i)
            has_g = self.chrom is not None
            out.append({"seq": int(self.seq[i]), "start": int(self.start[i]), "end": int(self.end[i]),
                        "chrom": str(self.chrom[i]) if has_g else ".",
                        "genome_start": int(self.genome_start[i]) if has_g else -1,
                        "genome_end": int(self.genome_end[i]) if has_g else -1,
                        "sign": int(self.sign[i]), "score": float(self.score[i]),
                        "p_value": float(self.p_value[i]), "p_adj": float(self.p_adj[i]),
                        "strand": str(self.strand[i]), "name": name, "motif_ids": ids, "motif_names": names,
                        "match_p": mp, "match_q": mq, "targets": self.targets, "objective": self.objective})
            if self.has_knockout:
                out[-1].update(ko_effect=float(self.ko_effect[i]), ko_p=float(self.ko_p[i]), ko_q=float(self.ko_q[i]),
                               verified=int(bool(self.verified[i])))
        return out

    def to_dataframe(self):
        """A pandas DataFrame with the :data:`TSV_COLUMNS` (pandas is imported here)."""
        import pandas as pd

        return pd.DataFrame(self.records(), columns=list(self.columns))

    def to_tsv(self) -> str:
        """TSV text: a header row of :attr:`columns`, then one row per seqlet."""
        cols = self.columns
        buf = io.StringIO()
        buf.write("\t".join(cols) + "\n")
        for r in self.records():
            buf.write("\t".join(_fmt(r[c]) for c in cols) + "\n")
        return buf.getvalue()

    def to_bed(self, names: Optional[Sequence[str]] = None) -> str:
        """BED text with a header line (``#chrom start end name score strand p_value motif_ids match_q``).

        Coordinates are genome coordinates when the table has them (:meth:`place`), else the
        sequence name (``names[seq]``, default ``seq<i>``) and input positions. ``name`` is the best
        match's name ('.' without one), ``score`` the summed contribution, ``strand`` the best
        match's strand, ``motif_ids`` up to 3 matching IDs (comma-separated), ``match_q`` their
        q-values. Rows in input order (sequence, then start).
        """
        lines = ["#chrom\tstart\tend\tname\tscore\tstrand\tp_value\tmotif_ids\tmatch_q"]
        for i in range(len(self)):
            if self.chrom is not None:
                chrom, s, e = str(self.chrom[i]), int(self.genome_start[i]), int(self.genome_end[i])
            else:
                chrom = names[int(self.seq[i])] if names is not None else f"seq{int(self.seq[i])}"
                s, e = int(self.start[i]), int(self.end[i])
            if any(c.isspace() for c in chrom) or not chrom:
                raise InputError(f"sequence name {chrom!r} cannot be written to BED; use names without spaces")
            name, ids, _, _, mq = self._match_cols(i)
            lines.append(f"{chrom}\t{s}\t{e}\t{name}\t{self.score[i]:.6g}\t{self.strand[i]}\t"
                         f"{self.p_value[i]:.3g}\t{ids}\t{mq}")
        return "\n".join(lines) + "\n"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)
