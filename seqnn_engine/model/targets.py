"""targets.txt: the table describing a model's output tracks, and undoing the
training-data transform.

File format (Baskerville / Basenji): tab-separated, first line a header. The
first column is the *index* (header ``''`` or ``index``) holding each target's
position in the model output; a file without it numbers rows 0, 1, ... Known
columns (case-insensitive, any order, unknown ones ignored):

=============  =========================================  =====================
column         meaning                                    default when missing
=============  =========================================  =====================
identifier     short name, e.g. ``CNhs10752+``            required
file           source coverage file                       ``''``
clip           hard clip applied to the data              ``inf`` (none)
clip_soft      soft-clip threshold                        ``inf`` (none)
scale          scale factor                               ``1.0``
sum_stat       pooling statistic (sum, mean, sum_sqrt..)  ``'sum'``
strand_pair    index of the opposite-strand partner       own index (unstranded)
description    free text                                  ``''``
=============  =========================================  =====================

Empty cells take the default. Blank lines and lines starting with ``#`` are
skipped. Any other problem raises InputError naming the line.

Strand (the reference rule): a target whose ``strand_pair`` is its own index is
unstranded (``'.'``); otherwise its strand is the last character of its
identifier (``'+'`` or ``'-'``; anything else counts as ``'.'``).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

__all__ = ["TargetTable", "read_targets", "parse_targets", "untransform"]

_COLUMNS = ("identifier", "file", "clip", "clip_soft", "scale", "sum_stat", "strand_pair", "description")


@dataclass(frozen=True)
class TargetTable:
    """Parsed targets.txt; every array has one entry per row (T rows, file order).

    index: (T,) int64, the index column (target position in the model output).
    identifier, file, sum_stat, description: tuples of T strings.
    clip, clip_soft, scale: (T,) float64 (``inf``/``inf``/``1.0`` when absent).
    strand_pair: (T,) int64, the partner's *index value* (own index = unstranded).
    """

    index: np.ndarray
    identifier: tuple
    file: tuple
    clip: np.ndarray
    clip_soft: np.ndarray
    scale: np.ndarray
    sum_stat: tuple
    strand_pair: np.ndarray
    description: tuple

    def __len__(self) -> int:
        return len(self.identifier)

    @classmethod
    def default(cls, num_targets: int) -> "TargetTable":
        """A table for a model without targets.txt: identifiers ``t0, t1, ...``."""
        n = int(num_targets)
        idx = np.arange(n, dtype=np.int64)
        return cls(
            idx, tuple(f"t{i}" for i in range(n)), ("",) * n, np.full(n, np.inf),
            np.full(n, np.inf), np.ones(n), ("sum",) * n, idx.copy(), ("",) * n,
        )

    @property
    def strand(self) -> np.ndarray:
        """(T,) '<U1' array of '+', '-' or '.' (see the module docstring)."""
        out = []
        for ident, i, p in zip(self.identifier, self.index, self.strand_pair):
            s = ident[-1:] if p != i else "."
            out.append(s if s in ("+", "-") else ".")
        return np.array(out, dtype="<U1")

    @property
    def pair_row(self) -> np.ndarray:
        """(T,) int64 row of each target's strand partner (own row when unstranded,
        -1 when the partner is not in this table)."""
        row_of = {int(v): r for r, v in enumerate(self.index)}
        return np.array([row_of.get(int(p), -1) for p in self.strand_pair], dtype=np.int64)

    def labels(self) -> list[str]:
        """Display labels: ``description (identifier)`` or the identifier alone."""
        return [f"{d} ({i})" if d else i for i, d in zip(self.identifier, self.description)]

    def gene_strand_rows(self, gene_strand: str) -> np.ndarray:
        """Rows to read for a gene on ``gene_strand``, one per strand-collapsed target.

        The collapsed targets are the rows whose strand is not '-' (the reference's
        ``targets_prep_strand``). For a '+' gene (or '.'), each is read from its own
        row; for a '-' gene, a '+' target is read from its '-' partner (the row named
        by ``strand_pair``), unstranded targets from their own row. Returns (T',)
        int64; a '+' target whose partner is missing from the table stays on its row.
        """
        if gene_strand not in ("+", "-", "."):
            raise InputError(f"gene strand must be '+', '-' or '.', got {gene_strand!r}")
        strand = self.strand
        pair = self.pair_row
        rows = np.flatnonzero(strand != "-")
        if gene_strand == "-":
            rows = np.array(
                [pair[r] if strand[r] == "+" and pair[r] >= 0 else r for r in rows], dtype=np.int64
            )
        return rows.astype(np.int64)


# ----------------------------------------------------------------------------- parsing


def read_targets(path) -> TargetTable:
    """Read a targets.txt file (see the module docstring)."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise InputError(f"targets file not found: {p}: check the path")
    with open(p, "rb") as fh:
        return parse_targets(fh.read(), source=os.path.basename(p))


def _number(text: str, default: float, what: str, lineno: int, src: str) -> float:
    t = text.strip()
    if t == "" or t.lower() in ("nan", "na", "none"):
        return default
    try:
        v = float(t)
    except ValueError:
        raise InputError(f"{src} line {lineno}: {what} {t[:40]!r} is not a number") from None
    if math.isnan(v):
        return default
    return v


def _integer(text: str, what: str, lineno: int, src: str) -> int:
    t = text.strip()
    try:
        v = float(t)
        if not math.isfinite(v) or v != int(v):
            raise ValueError
        return int(v)
    except ValueError:
        raise InputError(f"{src} line {lineno}: {what} {t[:40]!r} is not a whole number") from None


def parse_targets(data, *, source: str = "targets.txt") -> TargetTable:
    """Parse targets.txt contents (``str`` or ``bytes``) into a :class:`TargetTable`."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            data = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise InputError(f"{source} is not UTF-8 text (bad byte at offset {e.start})") from None
    if not isinstance(data, str):
        raise InputError(f"targets table must be text or bytes, got {type(data).__name__}")
    lines = data.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    numbered = [(n, line) for n, line in enumerate(lines, start=1)
                if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise InputError(f"{source} is empty: it needs a header line and one row per target")
    head_no, head = numbered[0]
    names = [h.strip().lower() for h in head.split("\t")]
    has_index = names[0] in ("", "index")
    if "identifier" not in names:
        raise InputError(
            f"{source} line {head_no}: the header has no 'identifier' column; expected a "
            "tab-separated header like '\\tidentifier\\tfile\\tclip\\tclip_soft\\tscale\\t"
            "sum_stat\\tstrand_pair\\tdescription'"
        )
    col = {}
    for j, nm in enumerate(names):
        if nm in _COLUMNS:
            if nm in col:
                raise InputError(f"{source} line {head_no}: column {nm!r} appears twice")
            col[nm] = j
    rows = numbered[1:]
    if not rows:
        raise InputError(f"{source} has a header but no targets: add one row per target")

    index, ident, files, clip, clip_soft, scale, stats, pair, desc, line_of = ([] for _ in range(10))
    for r, (lineno, line) in enumerate(rows):
        f = line.split("\t")
        if len(f) > len(names):
            raise InputError(
                f"{source} line {lineno}: {len(f)} tab-separated fields but the header has "
                f"{len(names)}: check for stray tabs"
            )
        f += [""] * (len(names) - len(f))

        def get(name):
            return f[col[name]].strip() if name in col else ""

        i = _integer(f[0], "index", lineno, source) if has_index else r
        if i < 0:
            raise InputError(f"{source} line {lineno}: index {i} is negative")
        idf = get("identifier")
        if not idf:
            raise InputError(f"{source} line {lineno}: empty identifier: give every target a name")
        sc = _number(get("scale"), 1.0, "scale", lineno, source)
        if not (math.isfinite(sc) and sc > 0):
            raise InputError(f"{source} line {lineno}: scale must be a positive number, got {sc}")
        sp = get("strand_pair")
        index.append(i)
        ident.append(idf)
        files.append(get("file"))
        clip.append(_number(get("clip"), math.inf, "clip", lineno, source))
        clip_soft.append(_number(get("clip_soft"), math.inf, "clip_soft", lineno, source))
        scale.append(sc)
        stats.append(get("sum_stat") or "sum")
        pair.append(i if sp == "" else _integer(sp, "strand_pair", lineno, source))
        desc.append(get("description"))
        line_of.append(lineno)

    seen = {}
    for i, ln in zip(index, line_of):
        if i in seen:
            raise InputError(f"{source} line {ln}: index {i} repeats line {seen[i]}: indexes must be unique")
        seen[i] = ln
    pair_of = dict(zip(index, pair))
    for i, p, ln in zip(index, pair, line_of):
        if p != i and p in pair_of and pair_of[p] != i:
            raise InputError(
                f"{source} line {ln}: target {i} names {p} as its strand pair but {p} names "
                f"{pair_of[p]}: strand pairs must name each other"
            )

    return TargetTable(
        index=np.array(index, dtype=np.int64),
        identifier=tuple(ident),
        file=tuple(files),
        clip=np.array(clip, dtype=np.float64),
        clip_soft=np.array(clip_soft, dtype=np.float64),
        scale=np.array(scale, dtype=np.float64),
        sum_stat=tuple(stats),
        strand_pair=np.array(pair, dtype=np.int64),
        description=tuple(desc),
    )


# ----------------------------------------------------------------------------- untransform


def untransform(
    preds,
    targets: TargetTable,
    *,
    legacy: bool = False,
    unscale: bool = False,
    unclip: bool = True,
) -> np.ndarray:
    """Undo the training-data transform of predictions ``(..., T)`` -> float32 ``(..., T)``.

    The last axis must match the table's rows. The input is not modified.

    ``legacy=False`` inverts Baskerville's current data transform
    (``hound_data_read``), which computes, per bin, ``x = pool(scale * coverage)``,
    then for ``*_sqrt`` statistics ``y = sqrt(x + 1) - 1`` (``*_exp75``:
    ``(x + 1) ** 0.75 - 1``), then above ``clip_soft`` ``cs - 1 + sqrt(y - cs + 1)``.
    The inverse, step by step:

    1. (``unclip``) where ``y > clip_soft``: ``y = cs - 1 + (y - cs + 1) ** 2``;
    2. ``*_sqrt``: ``y = (y + 1) ** 2 - 1``; ``*_exp75``: ``y = max(y + 1, 0) ** (4/3) - 1``;
    3. (``unscale``) ``y = y / scale``.

    ``legacy=True`` inverts the Borzoi-manuscript transform (``--transform_old``),
    which computed ``x = pool(coverage)``, ``*_sqrt``: ``x ** 0.75``, above
    ``clip_soft``: ``cs + sqrt(x - cs)``, then ``scale * x``. Inverse:

    1. ``y = y / scale``;
    2. (``unclip``) where ``y > clip_soft``: ``y = cs + (y - cs) ** 2``;
    3. ``*_sqrt``: ``y = max(y, 0) ** (4/3)``;
    4. unless ``unscale``: ``y = y * scale``.

    With the defaults (``unscale=False``) results match the reference's
    ``untransform_preds`` / ``untransform_preds1`` (coverage in scaled units);
    ``unscale=True`` divides the scale out (original coverage units). The hard
    ``clip`` cannot be undone. The reference's current inverse ignores
    ``*_exp75``; this one inverts it.
    """
    y = np.array(preds, dtype=np.float32, copy=True)
    if y.ndim == 0 or y.shape[-1] != len(targets):
        raise InputError(
            f"predictions have {y.shape[-1] if y.ndim else 0} targets on the last axis but the "
            f"targets table has {len(targets)} rows: use the table that belongs to the model"
        )
    cs = targets.clip_soft.astype(np.float32)
    sc = targets.scale.astype(np.float32)
    sqrt_mask = np.array(["_sqrt" in s for s in targets.sum_stat], dtype=bool)
    exp75_mask = np.array(["_exp75" in s for s in targets.sum_stat], dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        if legacy:
            y /= sc
            if unclip:
                y = np.where(y > cs, cs + (y - cs) ** 2, y)
            if sqrt_mask.any():
                y[..., sqrt_mask] = np.maximum(y[..., sqrt_mask], 0.0) ** (4.0 / 3.0)
            if not unscale:
                y *= sc
        else:
            if unclip:
                y = np.where(y > cs, cs - 1 + (y - cs + 1) ** 2, y)
            if sqrt_mask.any():
                y[..., sqrt_mask] = (y[..., sqrt_mask] + 1) ** 2 - 1
            if exp75_mask.any():
                y[..., exp75_mask] = np.maximum(y[..., exp75_mask] + 1, 0.0) ** (4.0 / 3.0) - 1
            if unscale:
                y /= sc
    return y.astype(np.float32, copy=False)
