"""Motif databases in MEME text format: read (with validation), write, and the bundled JASPAR file.

The MEME "minimal motif format" (MEME suite documentation) is what JASPAR, HOCOMOCO and CIS-BP
distribute: a ``MEME version`` header, an optional ``ALPHABET= ACGT`` line, optional ``strands``
and ``Background letter frequencies`` lines, then for each motif a ``MOTIF <id> [<name>]`` line and a
``letter-probability matrix: alength= 4 w= W ...`` line followed by W rows of 4 probabilities
(columns A C G T). Other lines (``URL``, ``log-odds matrix`` blocks, comments) are skipped.

:func:`read_meme` / :func:`parse_meme` return a :class:`MotifSet`; every problem a user can fix
(no motif, a row with 3 numbers, negative or non-numeric values, rows that do not sum to 1, a
protein or RNA alphabet, duplicate IDs) raises :class:`~seqnn_engine.errors.InputError` naming the
file and line. :func:`jaspar` is the bundled JASPAR 2024 CORE vertebrates non-redundant set
(879 matrices; ``data/LICENSE_JASPAR.txt``: CC BY 4.0, cite Rauluseviciute et al., NAR 2024).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import InputError

DATA_DIR = Path(__file__).with_name("data")
JASPAR_FILE = DATA_DIR / "JASPAR2024_CORE_vertebrates_non-redundant.meme"
JASPAR_LICENSE = DATA_DIR / "LICENSE_JASPAR.txt"
JASPAR_CITATION = ("Rauluseviciute et al., JASPAR 2024: 20th anniversary of the open-access database of "
                   "transcription factor binding profiles, Nucleic Acids Res. 52(D1):D174-D182 (2024), "
                   "doi:10.1093/nar/gkad1059 (data: CC BY 4.0)")
MAX_MEME_BYTES = 64 << 20
ROW_SUM_TOLERANCE = 0.02   # rows are renormalised after this check (files print 3-6 decimals)

_W_RE = re.compile(r"\bw\s*=\s*(\S+)")
_ALEN_RE = re.compile(r"\balength\s*=\s*(\S+)")


@dataclass
class MotifSet:
    """Motifs of a MEME file (or built in code).

    ids: (M,) motif identifiers (the first word after ``MOTIF``, e.g. ``MA0139.2``);
    names: (M,) alternative names (the second word, e.g. ``CTCF``; the id when absent);
    probs: M arrays, each (W_m, 4) float64 letter probabilities, rows summing to 1, columns A C G T;
    background: (4,) float64 background letter frequencies (uniform when the file gives none);
    source: where the motifs came from (a path or a label).
    """

    ids: list
    names: list
    probs: list
    background: np.ndarray = field(default_factory=lambda: np.full(4, 0.25))
    source: str = ""

    def __post_init__(self):
        if not (len(self.ids) == len(self.names) == len(self.probs)):
            raise InputError("a motif set needs as many names and matrices as ids")
        seen = set()
        for i, (mid, p) in enumerate(zip(self.ids, self.probs)):
            if mid in seen:
                raise InputError(f"motif id {mid!r} appears twice in {self.source or 'the motif set'}; ids must be unique")
            seen.add(mid)
            a = np.asarray(p, dtype=np.float64)
            if a.ndim != 2 or a.shape[1] != 4 or a.shape[0] < 1:
                raise InputError(f"motif {mid} must be a (width, 4) matrix, got shape {a.shape}")
            self.probs[i] = a
        self.background = np.asarray(self.background, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, key: str) -> int:
        """Position of a motif given its id (``MA0139.2``), its id without version (``MA0139``) or its
        name (``CTCF``, case-insensitive); InputError when none or several match."""
        if key in self.ids:
            return self.ids.index(key)
        hits = [i for i, (m, n) in enumerate(zip(self.ids, self.names))
                if m.split(".")[0] == key or n.upper() == str(key).upper()]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            raise InputError(f"motif {key!r} is not in {self.source or 'the motif set'}; give an id such as "
                             f"{self.ids[0] if self.ids else 'MA0139.2'} or a name")
        raise InputError(f"motif {key!r} matches {len(hits)} motifs ({', '.join(self.ids[i] for i in hits[:5])}); "
                         "give the id")

    def subset(self, keys: Sequence[str]) -> "MotifSet":
        """The motifs named by ``keys`` (ids or names, see :meth:`index`), in that order."""
        idx = [self.index(k) for k in keys]
        return MotifSet([self.ids[i] for i in idx], [self.names[i] for i in idx],
                        [self.probs[i].copy() for i in idx], self.background.copy(), self.source)

    def label(self, i: int) -> str:
        """``"<id> <name>"`` (or the id when the name repeats it)."""
        return self.ids[i] if self.names[i] == self.ids[i] else f"{self.ids[i]} {self.names[i]}"


def _num(text: str, what: str, where: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise InputError(f"{where}: {what} {text[:20]!r} is not a number") from None
    if not np.isfinite(v):
        raise InputError(f"{where}: {what} {text!r} is not finite")
    return v


def parse_meme(text: str, source: str = "MEME text") -> MotifSet:
    """Parse MEME minimal-format ``text`` into a :class:`MotifSet` (see the module docstring);
    ``source`` names the file in error messages."""
    if not isinstance(text, str):
        raise InputError(f"{source}: expected MEME text")
    lines = text.splitlines()
    ids, names, probs = [], [], []
    background = np.full(4, 0.25)
    saw_header = False
    i = 0
    current: Optional[tuple[str, str, int]] = None   # (id, name, line) of a MOTIF without matrix yet

    def close_current():
        if current is not None:
            raise InputError(f"{source} line {current[2]}: motif {current[0]} has no letter-probability matrix "
                             "(expected 'letter-probability matrix: alength= 4 w= N' and N rows of 4 numbers)")

    while i < len(lines):
        raw = lines[i]
        line = raw.strip()
        lineno = i + 1
        i += 1
        if not line or line.startswith("#"):
            continue
        if line.startswith("MEME version"):
            saw_header = True
            continue
        if line.startswith("ALPHABET"):
            alpha = line.split("=", 1)[1].strip() if "=" in line else ""
            if alpha.upper() != "ACGT":
                raise InputError(f"{source} line {lineno}: alphabet {alpha[:30]!r} is not DNA; motifs must use "
                                 "ALPHABET= ACGT")
            continue
        if line.startswith("Background letter frequencies"):
            # the next non-empty line: "A 0.3 C 0.2 G 0.2 T 0.3"
            while i < len(lines) and not lines[i].strip():
                i += 1
            if i < len(lines):
                parts = lines[i].split()
                i += 1
                bg = dict(zip(parts[0::2], parts[1::2]))
                if all(b in bg for b in "ACGT"):
                    background = np.array([_num(bg[b], f"background {b}", f"{source} line {i}") for b in "ACGT"])
                    if np.any(background <= 0):
                        raise InputError(f"{source} line {i}: background frequencies must be positive")
                    background = background / background.sum()
            continue
        if line.startswith("MOTIF"):
            close_current()
            parts = line.split()
            if len(parts) < 2:
                raise InputError(f"{source} line {lineno}: MOTIF line without an identifier")
            current = (parts[1], parts[2] if len(parts) > 2 else parts[1], lineno)
            continue
        if line.startswith("letter-probability matrix"):
            if current is None:
                raise InputError(f"{source} line {lineno}: letter-probability matrix before any MOTIF line")
            where = f"{source} line {lineno}"
            m = _ALEN_RE.search(line)
            if m and int(_num(m.group(1), "alength", where)) != 4:
                raise InputError(f"{where}: alength= {m.group(1)}: only DNA motifs (alength= 4) are supported")
            m = _W_RE.search(line)
            width = None
            if m:
                w = _num(m.group(1), "w", where)
                if w < 1 or w != int(w):
                    raise InputError(f"{where}: motif width w= {m.group(1)} must be a positive whole number")
                width = int(w)
            rows = []
            while i < len(lines):
                row_line = lines[i].strip()
                if width is None and (not row_line or not (row_line[0].isdigit() or row_line[0] in ".-+")):
                    break
                if width is not None and len(rows) == width:
                    break
                i += 1
                if not row_line:
                    if width is not None:
                        continue
                    break
                rw = f"{source} line {i}"
                vals = row_line.split()
                if len(vals) != 4:
                    raise InputError(f"{rw}: motif {current[0]} row has {len(vals)} value(s); expected 4 "
                                     "probabilities (A C G T)")
                row = [_num(v, "probability", rw) for v in vals]
                if min(row) < 0:
                    raise InputError(f"{rw}: motif {current[0]} has a negative probability")
                if abs(sum(row) - 1.0) > ROW_SUM_TOLERANCE:
                    raise InputError(f"{rw}: motif {current[0]} row sums to {sum(row):.4g}, not 1: a "
                                     "letter-probability matrix holds probabilities (counts? divide by the total)")
                rows.append(row)
            if width is not None and len(rows) != width:
                raise InputError(f"{where}: motif {current[0]} declares w= {width} but has {len(rows)} row(s)")
            if not rows:
                raise InputError(f"{where}: motif {current[0]} has an empty matrix")
            a = np.array(rows, dtype=np.float64)
            a /= a.sum(1, keepdims=True)
            ids.append(current[0])
            names.append(current[1])
            probs.append(a)
            current = None
            continue
        # anything else (URL, strands, log-odds blocks, text) is not needed
    close_current()
    if not ids:
        hint = "" if saw_header else " (no 'MEME version' header either: is this a MEME file?)"
        raise InputError(f"{source} holds no motif with a letter-probability matrix{hint}")
    return MotifSet(ids, names, probs, background, source)


def read_meme(path) -> MotifSet:
    """Read a MEME file (JASPAR, HOCOMOCO, CIS-BP, ...) into a :class:`MotifSet`."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise InputError(f"motif file not found: {p}: check the path")
    if os.path.getsize(p) > MAX_MEME_BYTES:
        raise InputError(f"{p} is larger than {MAX_MEME_BYTES >> 20} MB; is it a MEME motif file?")
    with open(p, "rb") as fh:
        data = fh.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{p} is not a text file (MEME motif files are plain text)") from None
    return parse_meme(text, os.path.basename(p))


def meme_text(motifs: MotifSet, nsites: Optional[Sequence[int]] = None) -> str:
    """MEME version 4 text of ``motifs`` (probabilities with 6 decimals); ``nsites`` per motif
    (default 1) goes into each matrix line."""
    bg = motifs.background
    out = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "",
           "Background letter frequencies",
           " ".join(f"{b} {v:.6g}" for b, v in zip("ACGT", bg)), ""]
    for k, (mid, name, p) in enumerate(zip(motifs.ids, motifs.names, motifs.probs)):
        for word, what in ((mid, "id"), (name, "name")):
            if not word or any(c.isspace() for c in word):
                raise InputError(f"motif {what} {word!r} cannot be written to MEME; use a name without spaces")
        n = 1 if nsites is None else int(nsites[k])
        out.append(f"MOTIF {mid}" + ("" if name == mid else f" {name}"))
        out.append(f"letter-probability matrix: alength= 4 w= {p.shape[0]} nsites= {n} E= 0")
        out += [" ".join(f"{v:.6f}" for v in row) for row in p]
        out.append("")
    return "\n".join(out)


def write_meme(path, motifs: MotifSet, nsites: Optional[Sequence[int]] = None) -> Path:
    """Write ``motifs`` to ``path`` as MEME text (atomically)."""
    from ..io.atomic import write_text_atomic

    write_text_atomic(path, meme_text(motifs, nsites))
    return Path(path)


@lru_cache(maxsize=1)
def _jaspar() -> MotifSet:
    m = read_meme(JASPAR_FILE)
    m.source = "JASPAR 2024 CORE vertebrates non-redundant"
    return m


def jaspar() -> MotifSet:
    """The bundled JASPAR 2024 CORE vertebrates non-redundant motifs (879; a fresh copy each call)."""
    m = _jaspar()
    return MotifSet(list(m.ids), list(m.names), [p.copy() for p in m.probs], m.background.copy(), m.source)


def load_motifs(path=None) -> MotifSet:
    """``path`` (a MEME file) or, when None, the bundled JASPAR set."""
    return jaspar() if path is None else read_meme(path)
