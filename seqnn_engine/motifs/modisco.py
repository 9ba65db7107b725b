"""TF-MoDISco (modisco-lite) patterns from hypothetical contributions, named by TOMTOM against JASPAR.

:func:`run_modisco` runs ``modiscolite.tfmodisco.TFMoDISco`` in-process on one-hot sequences and
hypothetical contributions (both (S, L, 4)) and saves modisco-lite's own HDF5 (``modisco.h5``,
readable by ``modisco report`` / ``modisco meme``). :func:`read_patterns` reads the patterns back
as :class:`Pattern` records; :func:`match_patterns` names them (TOMTOM of each trimmed pattern's
probability matrix against a motif database); :func:`write_outputs` writes ``motifs.meme``,
``matches.tsv``, ``seqlets.bed`` (every pattern seqlet in genome coordinates) and ``report.html``
(inline SVG logos of each pattern and its matches).

Trimming (before TOMTOM, the MEME file and the logos): a pattern keeps the span from the first to
the last position that is informative, information content >= ``trim_bits`` (0.2 bits, uniform
background, :func:`~.logos.information_content`), or contributes, summed |CWM| >= ``trim_contribution``
(0.3) of the largest (modisco-lite's report trims by the latter alone). Either alone loses part of a
motif on the demo ground truth: by contribution, the CEBPB pattern ATTGCGCAAT was cut to TTGCGCAA,
the core every C/EBP shares, and TOMTOM ranked CEBPD, CEBPA and CEBPG above the planted CEBPB; by
information, the fuzzier REST pattern lost its last 4 bases (benchmarks/RESULTS.md, section
"Seqlets and TF-MoDISco").
"""
from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from ..errors import InputError
from .meme import MotifSet, load_motifs
from .seqlet_table import MotifMatches

MIN_SEQUENCES = 1


@dataclass
class Pattern:
    """One TF-MoDISco pattern.

    name: ``pos_patterns.pattern_0`` style (metacluster, pattern); short: ``pos_0`` style;
    sign: +1 (positive metacluster) or -1; ppm, cwm, hcwm: (W, 4) float64 position probability
    matrix, contribution-weight matrix and hypothetical CWM (modisco-lite's ``sequence``,
    ``contrib_scores``, ``hypothetical_contribs``); seqlet_example, seqlet_start, seqlet_end: (n,)
    int64 the seqlets' sequence index and half-open positions (in the sequences given to modisco);
    seqlet_revcomp: (n,) bool whether the seqlet is aligned as the reverse complement;
    seqlet_score: (n,) float64 summed contribution of each seqlet; trim: (a, b) the trimmed span;
    matches: :class:`~.seqlet_table.MotifMatches` with one row, or None.
    """

    name: str
    sign: int
    ppm: np.ndarray
    cwm: np.ndarray
    hcwm: np.ndarray
    seqlet_example: np.ndarray
    seqlet_start: np.ndarray
    seqlet_end: np.ndarray
    seqlet_revcomp: np.ndarray
    seqlet_score: np.ndarray
    trim: tuple = (0, 0)
    matches: Optional[MotifMatches] = None

    @property
    def n_seqlets(self) -> int:
        return int(len(self.seqlet_example))

    @property
    def short(self) -> str:
        group, pat = self.name.split(".")
        return ("pos_" if group.startswith("pos") else "neg_") + pat.split("_")[-1]

    @property
    def trimmed_ppm(self) -> np.ndarray:
        return self.ppm[self.trim[0]:self.trim[1]]

    @property
    def trimmed_cwm(self) -> np.ndarray:
        return self.cwm[self.trim[0]:self.trim[1]]


TRIM_BITS = 0.2
TRIM_CONTRIBUTION = 0.3


def trim_span(ppm: np.ndarray, cwm: Optional[np.ndarray] = None, min_bits: float = TRIM_BITS,
              min_contribution: float = TRIM_CONTRIBUTION) -> tuple[int, int]:
    """(a, b): first and one-past-last position of a pattern that is informative or contributes.

    ppm: (W, 4) probability matrix; cwm: (W, 4) contribution-weight matrix or None. A position
    counts when its information content is >= ``min_bits`` (bits, uniform background) or, with
    ``cwm``, its summed |contribution| is >= ``min_contribution`` x the largest. The whole matrix
    when no position counts.
    """
    from .logos import information_content

    p = np.asarray(ppm, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 4:
        raise InputError(f"a probability matrix must be (W, 4), got shape {p.shape}")
    if p.shape[0] == 0:
        return 0, 0
    ok = information_content(p).sum(1) >= float(min_bits)
    if cwm is not None:
        c = np.abs(np.asarray(cwm, dtype=np.float64))
        if c.shape != p.shape:
            raise InputError(f"the CWM {c.shape} and the probability matrix {p.shape} differ in shape")
        score = c.sum(1)
        if score.max() > 0:
            ok |= score >= float(min_contribution) * score.max()
    keep = np.flatnonzero(ok)
    if keep.size == 0:
        return 0, int(p.shape[0])
    return int(keep[0]), int(keep[-1]) + 1


def run_modisco(onehot: np.ndarray, hypothetical: np.ndarray, out_h5, *, max_seqlets: int = 2000,
                n_leiden: int = 2, sliding_window_size: int = 21, flank_size: int = 10,
                trim_to_window_size: int = 20, initial_flank_to_add: int = 5, final_flank_to_add: int = 0,
                target_seqlet_fdr: float = 0.05, min_metacluster_size: int = 100,
                final_min_cluster_size: int = 20, verbose: bool = False) -> Path:
    """Run TF-MoDISco on ``onehot`` and ``hypothetical`` (both (S, L, 4) float, A C G T) and write
    modisco-lite's HDF5 to ``out_h5`` (atomically). Defaults follow ``modisco motifs`` except the
    window sizes (``trim_to_window_size`` 20, ``initial_flank_to_add`` 5: motifs of 6-21 bp).
    Returns the path."""
    import modiscolite
    from ..io.atomic import atomic_path

    x = np.asarray(onehot, dtype=np.float32)
    h = np.asarray(hypothetical, dtype=np.float32)
    if x.ndim != 3 or x.shape[-1] != 4 or h.shape != x.shape:
        raise InputError(f"one-hot and hypothetical scores must both be (S, L, 4); got {x.shape} and {h.shape}")
    if x.shape[1] < sliding_window_size + 2 * flank_size:
        raise InputError(f"sequences of {x.shape[1]} bp are shorter than the seqlet window "
                         f"({sliding_window_size} + 2 x {flank_size} bp)")
    if not np.all(np.isfinite(h)):
        raise InputError("the hypothetical scores hold NaN or inf; recompute them")
    if not np.any(h * x):
        raise InputError("every contribution is zero: nothing for TF-MoDISco to find")
    try:
        pos, neg = modiscolite.tfmodisco.TFMoDISco(
            one_hot=x, hypothetical_contribs=h, max_seqlets_per_metacluster=int(max_seqlets),
            sliding_window_size=int(sliding_window_size), flank_size=int(flank_size),
            trim_to_window_size=int(trim_to_window_size), initial_flank_to_add=int(initial_flank_to_add),
            final_flank_to_add=int(final_flank_to_add), target_seqlet_fdr=float(target_seqlet_fdr),
            min_metacluster_size=int(min_metacluster_size), final_min_cluster_size=int(final_min_cluster_size),
            n_leiden_runs=int(n_leiden), verbose=bool(verbose))
    except (ValueError, IndexError) as e:
        # modisco-lite fails inside its null model / clustering when the input has too little signal
        raise InputError(f"TF-MoDISco found too little signal to cluster ({type(e).__name__}: "
                         f"{' '.join(str(e).split())[:200]}); give more sequences or a stronger objective") from e
    with atomic_path(out_h5) as tmp:
        modiscolite.io.save_hdf5(str(tmp), pos, neg, int(sliding_window_size))
    return Path(out_h5)


def read_patterns(path, trim_bits: float = TRIM_BITS, trim_contribution: float = TRIM_CONTRIBUTION) -> list[Pattern]:
    """Patterns of a modisco-lite HDF5 (positive metacluster first, patterns in index order), each
    trimmed by :func:`trim_span` (its probability matrix and CWM)."""
    import h5py

    out = []
    with h5py.File(path, "r") as f:
        for group, sign in (("pos_patterns", 1), ("neg_patterns", -1)):
            if group not in f:
                continue
            items = sorted(f[group].items(), key=lambda kv: int(kv[0].split("_")[-1]))
            for pname, g in items:
                cwm = g["contrib_scores"][()].astype(np.float64)
                sq = g["seqlets"]
                contrib = sq["contrib_scores"][()] if "contrib_scores" in sq else np.zeros((0, 1, 4))
                out.append(Pattern(
                    name=f"{group}.{pname}", sign=sign, ppm=g["sequence"][()].astype(np.float64), cwm=cwm,
                    hcwm=g["hypothetical_contribs"][()].astype(np.float64),
                    seqlet_example=sq["example_idx"][()].astype(np.int64),
                    seqlet_start=sq["start"][()].astype(np.int64), seqlet_end=sq["end"][()].astype(np.int64),
                    seqlet_revcomp=sq["is_revcomp"][()].astype(bool),
                    seqlet_score=np.asarray(contrib, np.float64).sum(axis=(1, 2)) if len(contrib) else np.zeros(0),
                    trim=trim_span(g["sequence"][()], cwm, trim_bits, trim_contribution)))
    return out


def match_patterns(patterns: Sequence[Pattern], motifs: Optional[MotifSet] = None, top: int = 3,
                   max_q: float = 0.5) -> list[Pattern]:
    """Set each pattern's ``matches`` (TOMTOM of its trimmed probability matrix; see
    :func:`~.annotate.tomtom_matches`). Returns the same list."""
    from .annotate import tomtom_matches

    if not patterns:
        return list(patterns)
    m = tomtom_matches([p.trimmed_ppm for p in patterns], motifs, top=top, max_q=max_q)
    for i, p in enumerate(patterns):
        p.matches = m.take([i])
    return list(patterns)


# ------------------------------------------------------------------------------------------ outputs


@dataclass
class ModiscoOutputs:
    """Paths written by :func:`write_outputs` (all inside one directory)."""

    modisco_h5: Path
    report_html: Path
    motifs_meme: Path
    matches_tsv: Path
    seqlets_bed: Path
    extra: dict = field(default_factory=dict)


def _match_lists(p: Pattern, k: int = 3) -> tuple[list, list, list]:
    if p.matches is None:
        return [], [], []
    keep = [j for j in range(min(k, p.matches.ids.shape[1])) if p.matches.ids[0, j]]
    return ([str(p.matches.ids[0, j]) for j in keep], [str(p.matches.names[0, j]) for j in keep],
            [float(p.matches.q_value[0, j]) for j in keep])


def matches_tsv(patterns: Sequence[Pattern]) -> str:
    """Header ``pattern n_seqlets motif_ids motif_names q_values``; one row per pattern; lists are
    comma-separated (up to 3 best matches), '.' when none."""
    lines = ["pattern\tn_seqlets\tmotif_ids\tmotif_names\tq_values"]
    for p in patterns:
        ids, names, qs = _match_lists(p)
        lines.append(f"{p.short}\t{p.n_seqlets}\t{','.join(ids) or '.'}\t{','.join(names) or '.'}\t"
                     f"{','.join(f'{q:.3g}' for q in qs) or '.'}")
    return "\n".join(lines) + "\n"


def seqlets_bed(patterns: Sequence[Pattern], chroms: Sequence[str], starts: Sequence[int], offset: int = 0,
                chrom_sizes: Optional[dict] = None) -> str:
    """BED (header line ``#chrom start end name score strand``) of every pattern seqlet: sequence
    ``i`` starts at ``chroms[i]:starts[i]``; ``offset`` is the position in the sequence of modisco's
    position 0 (a central crop); name = pattern, score = summed contribution, strand '-' for
    reverse-complement seqlets. Sorted by chromosome order of appearance, then start."""
    rows = []
    for p in patterns:
        for e, a, b, rc, sc in zip(p.seqlet_example, p.seqlet_start, p.seqlet_end, p.seqlet_revcomp,
                                   p.seqlet_score if len(p.seqlet_score) else np.zeros(p.n_seqlets)):
            c = str(chroms[int(e)])
            s0 = int(starts[int(e)]) + int(offset)
            gs, ge = s0 + int(a), s0 + int(b)
            if chrom_sizes and c in chrom_sizes:
                gs, ge = max(0, gs), min(int(chrom_sizes[c]), ge)
            else:
                gs = max(0, gs)
            if ge <= gs:
                continue
            rows.append((c, gs, ge, p.short, float(sc), "-" if rc else "+"))
    order = {c: i for i, c in enumerate(dict.fromkeys(str(c) for c in chroms))}
    rows.sort(key=lambda r: (order.get(r[0], 0), r[1], r[2], r[3]))
    return "#chrom\tstart\tend\tname\tscore\tstrand\n" + "".join(
        f"{c}\t{s}\t{e}\t{n}\t{sc:.6g}\t{st}\n" for c, s, e, n, sc, st in rows)


def report_html(patterns: Sequence[Pattern], motifs: Optional[MotifSet], title: str = "TF-MoDISco patterns",
                notes: Sequence[str] = ()) -> str:
    """A standalone HTML page: per pattern its contribution logo (trimmed CWM), probability logo
    (information content), seqlet count and its best matches with their logos (oriented as matched)."""
    from .logos import information_content, logo_svg

    db = motifs
    out = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
           f"<title>{html.escape(title)}</title><style>body{{font-family:Arial,sans-serif;margin:20px}}"
           "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:middle}"
           "th{background:#f3f3f3}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    out += [f"<p>{html.escape(n)}</p>" for n in notes]
    if not patterns:
        out.append("<p>No pattern was found.</p>")
    out.append("<table><tr><th>pattern</th><th>seqlets</th><th>contribution logo (CWM)</th>"
               "<th>sequence logo (bits)</th><th>matches (TOMTOM)</th></tr>")
    for p in patterns:
        ids, names, qs = _match_lists(p)
        cells = []
        for j, (mid, nm, q) in enumerate(zip(ids, names, qs)):
            logo = ""
            if db is not None and mid in db.ids:
                pm = db.probs[db.ids.index(mid)]
                if p.matches is not None and p.matches.strand[0, j] == "-":
                    pm = pm[::-1, ::-1]
                logo = logo_svg(information_content(pm), height_px=40, title=f"{mid} {nm}", ymax=2.0)
            cells.append(f"<div>{html.escape(mid)} {html.escape(nm)} (q = {q:.2g}, strand "
                         f"{html.escape(str(p.matches.strand[0, j]))})<br>{logo}</div>")
        out.append(f"<tr><td>{html.escape(p.short)}<br><small>{html.escape(p.name)}</small></td><td>{p.n_seqlets}</td>"
                   f"<td>{logo_svg(p.trimmed_cwm, height_px=60, title=p.short)}</td>"
                   f"<td>{logo_svg(information_content(p.trimmed_ppm), height_px=60, ymax=2.0)}</td>"
                   f"<td>{''.join(cells) or 'no match'}</td></tr>")
    out.append("</table></body></html>")
    return "\n".join(out)


def write_outputs(out_dir, patterns: Sequence[Pattern], motifs: Optional[MotifSet], chroms: Sequence[str],
                  starts: Sequence[int], offset: int = 0, chrom_sizes: Optional[dict] = None,
                  notes: Sequence[str] = ()) -> ModiscoOutputs:
    """Write ``motifs.meme`` (trimmed probability matrices, ids = pattern short names),
    ``matches.tsv``, ``seqlets.bed`` and ``report.html`` into ``out_dir`` (``modisco.h5`` is written
    by :func:`run_modisco`)."""
    from ..io.atomic import write_text_atomic
    from .meme import MotifSet as _MS, write_meme

    d = Path(out_dir)
    files = ModiscoOutputs(d / "modisco.h5", d / "report.html", d / "motifs.meme", d / "matches.tsv",
                           d / "seqlets.bed")
    if patterns:
        ms = _MS([p.short for p in patterns], [p.short for p in patterns], [p.trimmed_ppm.copy() for p in patterns],
                 source="TF-MoDISco")
        write_meme(files.motifs_meme, ms, nsites=[p.n_seqlets for p in patterns])
    else:
        write_text_atomic(files.motifs_meme, "MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n"
                                             "Background letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n")
    write_text_atomic(files.matches_tsv, matches_tsv(patterns))
    write_text_atomic(files.seqlets_bed, seqlets_bed(patterns, chroms, starts, offset, chrom_sizes))
    write_text_atomic(files.report_html, report_html(patterns, motifs, notes=notes))
    return files


def central_window(length: int, window: Optional[int]) -> tuple[int, int]:
    """(a, b) of the central ``window`` bases of a sequence of ``length`` (the whole when None)."""
    if window is None or int(window) >= length:
        return 0, int(length)
    if int(window) < 1:
        raise InputError(f"--window must be >= 1, got {window}")
    a = (int(length) - int(window)) // 2
    return a, a + int(window)
