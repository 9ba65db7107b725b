"""Download files for each view, built lazily (only when the user clicks) with the engine's
exporters (seqnn_engine.io.export). No Streamlit here except :func:`render`.

Each view describes its data once as a :class:`ViewData`; :func:`downloads` turns it into
the list of :class:`Download` s: HDF5 (every array + metadata), npz, CSV (the view's tracks),
bigWig (tracks in genome coordinates, only for genome inputs), BED of the top positions
(per-base scores in genome coordinates), and the figure as a standalone HTML file. PNG/SVG
come from the chart's own camera button in the browser (no server-side image renderer).
"""
from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from seqnn_engine.io import export


@dataclass(frozen=True)
class Download:
    """One download: button label, file name, MIME type and a zero-argument builder."""

    kind: str
    label: str
    file_name: str
    mime: str
    make: Callable[[], bytes | str]


@dataclass
class ViewData:
    """What a view shows, for export.

    name: short view name used in file names ('predictions', 'attribution', ...).
    arrays: every array of the view (HDF5 and npz), read-only is fine.
    meta: JSON-able metadata (model, input, options, coordinates).
    tracks: name -> (N,) values for CSV and bigWig; value i covers
        ``[track_start + i * track_step, + track_step)`` in display coordinates.
    chrom: the sequence name of the coordinates (the chromosome for genome inputs, the FASTA record
        name otherwise); enables bigWig and BED. None: no coordinate-bearing exports.
    chrom_sizes: bigWig header (the genome's chromosome sizes, or the user sequence's length).
    bed_scores: (L,) per-base scores starting at ``bed_start`` for the top-positions BED.
    figure: the plotly figure of the view (HTML download).
    extra: further :class:`Download` s of the view, offered after the standard ones. A view
        without arrays offers no HDF5/npz.
    """

    name: str
    arrays: Mapping[str, np.ndarray]
    meta: dict
    tracks: Mapping[str, np.ndarray] = field(default_factory=dict)
    track_start: int = 0
    track_step: int = 1
    chrom: str | None = None
    chrom_sizes: Mapping[str, int] | None = None
    bed_scores: np.ndarray | None = None
    bed_start: int = 0
    bed_strand: str = "."
    bed_k: int = 100
    figure: object = None
    stem: str = "seqnn"
    position_name: str = "position"
    extra: tuple = ()      # further Download s of the view (e.g. seqlets as BED and TSV)


def safe_stem(text: str) -> str:
    """A file-name-safe stem."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.")
    return s[:80] or "seqnn"


def _bigwig(v: ViewData) -> bytes:
    items = list(v.tracks.items())
    if len(items) == 1:
        return export.track_bigwig_bytes(v.chrom, v.track_start, np.asarray(items[0][1]), v.track_step,
                                         v.chrom_sizes)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, vals in items:
            z.writestr(f"{safe_stem(name)}.bw", export.track_bigwig_bytes(
                v.chrom, v.track_start, np.asarray(vals), v.track_step, v.chrom_sizes))
    return buf.getvalue()


def _html(fig) -> str:
    return fig.to_html(include_plotlyjs=True, full_html=True)


def downloads(v: ViewData) -> list[Download]:
    """The downloads of one view (builders run only when called)."""
    stem = f"{safe_stem(v.stem)}_{v.name}"
    out = [
        Download("hdf5", "HDF5", f"{stem}.h5", "application/x-hdf5",
                 lambda: export.hdf5_bytes(dict(v.arrays), v.meta)),
        Download("npz", "npz", f"{stem}.npz", "application/octet-stream",
                 lambda: export.to_npz_bytes(dict(v.arrays), v.meta)),
    ] if v.arrays else []
    if v.tracks:
        out.append(Download("csv", "CSV", f"{stem}.csv", "text/csv",
                            lambda: export.to_csv_text(dict(v.tracks), start=v.track_start, step=v.track_step,
                                                       chrom=v.chrom, position_name=v.position_name)))
        if v.chrom is not None:
            multi = len(v.tracks) > 1
            out.append(Download("bigwig", "bigWig" + (" (zip)" if multi else ""),
                                f"{stem}.{'zip' if multi else 'bw'}",
                                "application/zip" if multi else "application/octet-stream", lambda: _bigwig(v)))
    if v.bed_scores is not None and v.chrom is not None:
        out.append(Download("bed", f"BED top {v.bed_k}", f"{stem}_top{v.bed_k}.bed", "text/plain",
                            lambda: export.top_positions_bed(np.asarray(v.bed_scores), v.chrom, v.bed_start,
                                                             v.bed_k, strand=v.bed_strand)))
    if v.figure is not None:
        out.append(Download("html", "Figure (HTML)", f"{stem}.html", "text/html", lambda: _html(v.figure)))
    return out + list(v.extra)


def render(v: ViewData, where=None) -> list[Download]:
    """Draw the download buttons of a view and register them in the session (``downloads``)."""
    import streamlit as st
    items = downloads(v)
    reg = st.session_state.setdefault("downloads", {})
    reg[v.name] = {d.kind: d for d in items}
    cols = (where or st).columns(len(items))
    for c, d in zip(cols, items):
        c.download_button(d.label, data=d.make, file_name=d.file_name, mime=d.mime, key=f"dl_{v.name}_{d.kind}",
                          on_click="ignore", icon=":material/download:")
    return items
