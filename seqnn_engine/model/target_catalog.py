"""A searchable catalog of a model's output targets: assay groups, ranked search, the default
selection and strand-collapsed display tracks (for heads with thousands of targets).

Everything here is keyed by the *output index* of a target (its column in the model output),
not by its row in targets.txt.

Assay group (from the description's prefix, case-insensitive): ``RNA``, ``CAGE``, ``DNASE``,
``ATAC``, or ``CHIP:<mark>`` where the mark is the second ``:``-field up to the first space
(``"CHIP:H3K27ac:liver"`` -> ``"CHIP:H3K27ac"``, ``"ChIP:CTCF synthetic"`` -> ``"CHIP:CTCF"``);
anything else is ``"other"``.

Strand collapse: a target with a strand partner (``strand_pair`` naming another present
target) is stranded. A pair is one *display entry*, listed under its ``'+'`` member; the
``'-'`` member is drawn in its place when the shown strand is ``'-'``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import InputError

__all__ = ["ASSAYS", "assay_group", "TargetCatalog", "TrackSelection"]

ASSAYS = ("RNA", "CAGE", "DNASE", "ATAC", "CHIP")
OTHER = "other"


def assay_group(description: str) -> str:
    """The assay group of one target description (see the module docstring)."""
    d = (description or "").strip()
    head, _, rest = d.partition(":")
    a = head.strip().upper()
    if a not in ASSAYS or not _:
        return OTHER
    if a != "CHIP":
        return a
    mark = rest.split(":", 1)[0].strip().split()
    return f"CHIP:{mark[0]}" if mark else "CHIP"


@dataclass(frozen=True)
class TrackSelection:
    """Tracks to draw. indexes: (K,) int64 output indexes, in display order; labels: K strings;
    strands: (K,) '<U1' strand drawn ('+', '-' or '.')."""

    indexes: np.ndarray
    labels: tuple
    strands: np.ndarray


@dataclass(frozen=True)
class TargetCatalog:
    """Per output index ``i`` (T entries): identifier, description, group, strand ('+', '-', '.'),
    partner (output index of the strand partner; ``i`` itself when unstranded).

    identifier, description, group: tuples of T strings; strand: (T,) '<U1'; partner: (T,) int64.
    """

    identifier: tuple
    description: tuple
    group: tuple
    strand: np.ndarray
    partner: np.ndarray

    def __len__(self) -> int:
        return len(self.identifier)

    # ----------------------------------------------------------------------------- building

    @classmethod
    def from_table(cls, table, num_targets: int) -> "TargetCatalog":
        """From a :class:`seqnn_engine.model.targets.TargetTable` (or None: identifiers ``t0..``) for a
        head of ``num_targets`` outputs. Rows whose index is outside the head are ignored."""
        T = int(num_targets)
        ident = [f"t{i}" for i in range(T)]
        desc = [""] * T
        strand = np.full(T, ".", dtype="<U1")
        partner = np.arange(T, dtype=np.int64)
        if table is not None:
            st = table.strand
            for r, idx in enumerate(table.index):
                i = int(idx)
                if 0 <= i < T:
                    ident[i] = table.identifier[r]
                    desc[i] = table.description[r]
                    p = int(table.strand_pair[r])
                    if p != i and 0 <= p < T and st[r] in ("+", "-"):
                        partner[i] = p
                        strand[i] = st[r]
            # a pair needs both members stranded and opposite; else both count as unstranded
            for i in np.flatnonzero(partner != np.arange(T)):
                p = partner[i]
                if partner[p] != i or strand[p] == strand[i]:
                    partner[i], strand[i] = i, "."
        return cls(tuple(ident), tuple(desc), tuple(assay_group(d) for d in desc), strand, partner)

    @classmethod
    def for_model(cls, model) -> "TargetCatalog":
        return cls.from_table(getattr(model, "targets", None), model.num_targets)

    # ----------------------------------------------------------------------------- entries

    @property
    def entries(self) -> np.ndarray:
        """(E,) int64 output indexes of the display entries: every target except the '-' member
        of a stranded pair (whose '+' member stands for the pair)."""
        return np.flatnonzero(~((self.strand == "-") & (self.partner != np.arange(len(self)))))

    def entry_of(self, index: int) -> int:
        """The display entry standing for output index ``index`` (its '+' partner for a '-')."""
        i = int(index)
        return int(self.partner[i]) if self.strand[i] == "-" else i

    def stranded(self, index: int) -> bool:
        return int(self.partner[int(index)]) != int(index)

    def label(self, index: int) -> str:
        """``identifier - description`` of an entry; a pair reads ``id(+/-)`` once."""
        i = int(index)
        ident = self.identifier[i]
        if self.stranded(i):
            ident = f"{ident} / {self.identifier[int(self.partner[i])]}"
        d = self.description[i]
        return f"{ident} - {d}" if d else ident

    def groups(self) -> list[tuple[str, int]]:
        """(group, number of display entries), groups in order of first appearance."""
        counts: dict = {}
        for i in self.entries:
            g = self.group[i]
            counts[g] = counts.get(g, 0) + 1
        return list(counts.items())

    # ----------------------------------------------------------------------------- search

    def search(self, query: str = "", group: str | None = None, limit: int | None = None) -> np.ndarray:
        """Display entries matching ``query``, best first -> (M,) int64 output indexes.

        The query is split on whitespace; every word must occur (case-insensitive) in the
        entry's identifier (or its partner's), description or group. Rank (lower is better),
        summed over words: identifier equal 0, identifier prefix 1, identifier substring 2,
        group equal 3, a description/group word starting with it 4, any other occurrence 5;
        ties by output index. ``group`` restricts to one group; ``limit`` keeps the first M.
        An empty query lists the (group's) entries in index order.
        """
        words = [w.lower() for w in (query or "").split()]
        ent = self.entries
        if group is not None:
            ent = ent[np.array([self.group[i] == group for i in ent], dtype=bool)] if len(ent) else ent
        if not words:
            return ent[:limit] if limit is not None else ent
        ids_of, g_of, d_of, tok_of, hay = self._search_index
        pos = np.searchsorted(self.entries, ent)
        keep = np.ones(len(ent), dtype=bool)
        for w in words:   # vectorised pre-filter: every word occurs somewhere
            keep &= np.char.find(hay[pos], w) >= 0
        scored = []
        for i, k in zip(ent[keep], pos[keep]):
            ids, g, d, toks = ids_of[k], g_of[k], d_of[k], tok_of[k]
            total = 0
            for w in words:
                if any(x == w for x in ids):
                    s = 0
                elif any(x.startswith(w) for x in ids):
                    s = 1
                elif any(w in x for x in ids):
                    s = 2
                elif g == w:
                    s = 3
                elif any(t.startswith(w) for t in toks):
                    s = 4
                elif w in g or w in d:
                    s = 5
                else:
                    break
                total += s
            else:
                scored.append((total, int(i)))
        scored.sort()
        out = np.array([i for _, i in scored], dtype=np.int64)
        return out[:limit] if limit is not None else out

    @cached_property
    def _search_index(self):
        """Per display entry: lower-case identifiers (with the partner's), group, description,
        description/group words, and one searchable string (E,) for the vectorised filter."""
        ids_of, g_of, d_of, tok_of, hay = [], [], [], [], []
        for i in self.entries:
            ids = [self.identifier[i].lower()]
            if self.stranded(i):
                ids.append(self.identifier[int(self.partner[i])].lower())
            g, d = self.group[i].lower(), self.description[i].lower()
            ids_of.append(ids)
            g_of.append(g)
            d_of.append(d)
            tok_of.append([t for t in re.split(r"[\s:_,;()/\-]+", f"{g} {d}") if t])
            hay.append("\t".join(ids + [g, d]))
        return ids_of, g_of, d_of, tok_of, np.array(hay, dtype=str)

    # ----------------------------------------------------------------------------- defaults

    def default_selection(self, manifest: dict | None = None) -> list[int]:
        """Display entries chosen by default: ``manifest["default_targets"]`` (identifiers or
        output indexes; a '-' member stands for its pair), else the first entry of each group.

        Raises InputError naming every entry of ``default_targets`` that is not a target.
        """
        spec = (manifest or {}).get("default_targets")
        if spec is None:
            first: dict = {}
            for i in self.entries:
                first.setdefault(self.group[i], int(i))
            return list(first.values())
        if isinstance(spec, (str, int)) or not isinstance(spec, (list, tuple)) or not spec:
            raise InputError(f"manifest default_targets must be a non-empty list of target identifiers or "
                             f"indexes, got {spec!r:.80}")
        by_id = {}
        for i, s in enumerate(self.identifier):
            by_id.setdefault(s, i)
        out, bad = [], []
        for v in spec:
            if isinstance(v, bool):
                bad.append(repr(v))
            elif isinstance(v, int):
                if 0 <= v < len(self):
                    out.append(self.entry_of(v))
                else:
                    bad.append(repr(v))
            elif isinstance(v, str) and v in by_id:
                out.append(self.entry_of(by_id[v]))
            else:
                bad.append(repr(v))
        if bad:
            raise InputError(f"manifest default_targets: {', '.join(bad[:10])}{' ...' if len(bad) > 10 else ''} "
                             f"{'is' if len(bad) == 1 else 'are'} not targets of this model (use identifiers "
                             f"from targets.txt or indexes 0..{len(self) - 1})")
        return list(dict.fromkeys(out))

    # ----------------------------------------------------------------------------- strands

    def tracks(self, chosen, strand: str = "+") -> TrackSelection:
        """Output indexes to draw for the chosen targets, and their labels.

        chosen: output indexes (either member of a pair stands for the pair; repeats drop).
        strand: '+' or '.' (each pair drawn from its '+' member), '-' (from its '-' member) or
        'both' (both members, '+' first). Unstranded targets are drawn as they are. Labels:
        the identifier drawn, with ``(+)``/``(-)`` for a stranded track.
        """
        if strand not in ("+", "-", ".", "both"):
            raise InputError(f"strand must be '+', '-', '.' or 'both', got {strand!r}")
        idx, labels, strands = [], [], []
        T = len(self)
        for c in dict.fromkeys(self.entry_of(int(c)) for c in chosen if 0 <= int(c) < T):
            if not self.stranded(c):
                idx.append(c)
                labels.append(self.identifier[c])
                strands.append(".")
                continue
            plus, minus = c, int(self.partner[c])
            for s, i in (("+", plus), ("-", minus)):
                if strand == "both" or s == ("-" if strand == "-" else "+"):
                    idx.append(i)
                    labels.append(f"{self.identifier[i]} ({s})")
                    strands.append(s)
        bad = [int(c) for c in chosen if not 0 <= int(c) < T]
        if bad:
            raise InputError(f"target index {bad[0]} out of range: this head has {T} targets (0..{T - 1})")
        return TrackSelection(np.array(idx, dtype=np.int64), tuple(labels), np.array(strands, dtype="<U1"))
