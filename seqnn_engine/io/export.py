"""Exports for the next tool in a user's pipeline, and the resumable scores file of batch jobs.

Every function that writes a path writes atomically (temporary file in the same directory,
then ``os.replace``): an interrupted export never leaves a truncated file under the final
name. Each writer has a bytes/text twin for dashboard downloads.

* bigWig (genome browsers): :func:`write_bigwig`, :func:`track_to_bigwig`,
  :func:`bigwig_bytes`, :func:`track_bigwig_bytes`.
* BED of top-scoring positions: :func:`top_positions_bed`.
* TF-MoDISco-lite inputs: :func:`write_modisco_npz`, :func:`modisco_zip_bytes`.
* HDF5 / npz / CSV: :func:`write_hdf5`, :func:`read_hdf5`, :func:`hdf5_bytes`,
  :func:`to_npz_bytes`, :func:`to_csv_text`.
* The reference's "scores" HDF5 layout, written chunk by chunk with resume:
  :class:`ScoresWriter`, :func:`read_scores`.

Coordinates are 0-based half-open everywhere (BED, bigWig and the scores layout agree).
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import h5py
import numpy as np

from .atomic import atomic_path, atomic_write, write_text_atomic
from ..errors import InputError
from ..batch.store import canonical_json

log = logging.getLogger(__name__)

__all__ = [
    "write_bigwig", "track_to_bigwig", "bigwig_bytes", "track_bigwig_bytes",
    "top_positions_bed", "ModiscoFiles", "write_modisco_npz", "modisco_zip_bytes",
    "Hdf5Content", "write_hdf5", "read_hdf5", "hdf5_bytes", "to_npz_bytes", "to_csv_text",
    "ScoresWriter", "read_scores",
]

# ======================================================================================
# bigWig


def _pybigwig():
    try:
        import pyBigWig  # noqa: WPS433 (optional at import time of the engine)
    except ImportError as e:  # pragma: no cover - pyBigWig is a runtime requirement
        raise InputError("bigWig export needs the pyBigWig package (pip install pyBigWig)") from e
    return pyBigWig


def _check_chrom_sizes(chrom_sizes: Mapping[str, int]) -> list[tuple[str, int]]:
    if not chrom_sizes:
        raise InputError("bigWig export needs chromosome sizes (name -> length); none were given")
    header = []
    for name, size in chrom_sizes.items():
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise InputError(f"chromosome name {name!r} is not usable in a bigWig; use a non-empty name without spaces")
        if int(size) <= 0:
            raise InputError(f"chromosome {name} has length {size}; lengths must be positive")
        header.append((name, int(size)))
    return header


def _write_bigwig_file(path: Path, header: list[tuple[str, int]],
                       per_chrom: dict[str, list[tuple]]) -> None:
    """Write prepared blocks. ``per_chrom[chrom]`` holds, in position order, either
    ("bedgraph", starts, ends, values) or ("fixed", start, span, values)."""
    pbw = _pybigwig()
    bw = pbw.open(str(path), "w")
    if bw is None:  # pragma: no cover - pyBigWig returns None when it cannot create the file
        raise OSError(f"pyBigWig could not create {path}")
    try:
        bw.addHeader(header, maxZooms=10)
        for chrom, _ in header:
            for block in per_chrom.get(chrom, []):
                if block[0] == "bedgraph":
                    _, starts, ends, values = block
                    if len(starts):
                        bw.addEntries([chrom] * len(starts), starts.astype(np.int64).tolist(),
                                      ends=ends.astype(np.int64).tolist(),
                                      values=values.astype(np.float64).tolist())
                else:
                    _, start, span, values = block
                    if len(values):
                        bw.addEntries(chrom, int(start), values=values.astype(np.float64).tolist(),
                                      span=int(span), step=int(span))
    finally:
        bw.close()


def _intervals_by_chrom(chrom_sizes: Mapping[str, int], intervals) -> dict[str, list[tuple]]:
    """Validate (chrom, start, end, value) intervals; sort; drop NaN values; refuse overlaps."""
    rows: dict[str, list[tuple[int, int, float]]] = {}
    for n, item in enumerate(intervals):
        try:
            chrom, start, end, value = item
        except (TypeError, ValueError) as e:
            raise InputError(f"bigWig interval {n} must be (chrom, start, end, value), got {item!r}") from e
        if chrom not in chrom_sizes:
            raise InputError(f"bigWig interval {n} is on {chrom!r}, which is not in the chromosome sizes")
        start, end, value = int(start), int(end), float(value)
        if not 0 <= start < end <= int(chrom_sizes[chrom]):
            raise InputError(f"bigWig interval {n} {chrom}:{start}-{end} is empty or outside "
                             f"0-{int(chrom_sizes[chrom])}; use 0-based half-open coordinates on the chromosome")
        if math.isnan(value):
            continue
        rows.setdefault(chrom, []).append((start, end, value))
    out: dict[str, list[tuple]] = {}
    for chrom, items in rows.items():
        arr = np.array(items, dtype=np.float64)
        order = np.lexsort((arr[:, 1], arr[:, 0]))
        arr = arr[order]
        starts, ends = arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64)
        bad = np.nonzero(starts[1:] < ends[:-1])[0]
        if len(bad):
            i = int(bad[0])
            raise InputError(f"bigWig intervals overlap on {chrom}: {starts[i]}-{ends[i]} and "
                             f"{starts[i + 1]}-{ends[i + 1]}; a bigWig holds one value per base")
        out[chrom] = [("bedgraph", starts, ends, arr[:, 2])]
    return out


def write_bigwig(path: str | os.PathLike, chrom_sizes: Mapping[str, int],
                 intervals: Iterable[tuple[str, int, int, float]]) -> Path:
    """Write a bigWig of ``(chrom, start, end, value)`` intervals (0-based half-open).

    Intervals may come in any order (they are sorted by the header's chromosome order,
    then start); overlapping intervals and intervals outside a chromosome raise
    InputError; NaN values are left out (no data). ``chrom_sizes`` becomes the header
    in its given order. Values are stored as float32 (the bigWig format).
    """
    header = _check_chrom_sizes(chrom_sizes)
    blocks = _intervals_by_chrom(dict(header), intervals)
    with atomic_path(path) as tmp:
        _write_bigwig_file(tmp, header, blocks)
    return Path(path)


def _track_blocks(chrom: str, start: int, values: np.ndarray, step: int,
                  chrom_size: int) -> list[tuple]:
    """Fixed-step blocks for a track; bins not wholly on the chromosome and NaN bins are
    left out, and a NaN splits the track into separate blocks."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise InputError(f"a bigWig track must be one value per position or bin, shape (L,); got shape {v.shape}")
    if step < 1:
        raise InputError(f"bigWig bin width (step) must be >= 1, got {step}")
    bin_start = start + np.arange(len(v), dtype=np.int64) * step
    keep = (bin_start >= 0) & (bin_start + step <= chrom_size) & np.isfinite(v)
    blocks = []
    idx = np.nonzero(keep)[0]
    if len(idx) == 0:
        return blocks
    # split where consecutive kept bins are not adjacent
    breaks = np.nonzero(np.diff(idx) != 1)[0] + 1
    for run in np.split(idx, breaks):
        blocks.append(("fixed", int(bin_start[run[0]]), int(step), v[run]))
    return blocks


def track_to_bigwig(path: str | os.PathLike, chrom: str, start: int, values: np.ndarray,
                    step: int = 1, chrom_sizes: Mapping[str, int] | None = None) -> Path:
    """Write one track of a window to a bigWig in genome coordinates.

    values: (L,) — value ``i`` covers ``[start + i*step, start + (i+1)*step)``; ``step=1``
    for per-base attribution, ``step=stride`` for model output bins (then ``start`` is the
    window start + ``crop * stride``, the first output bin's position).
    chrom_sizes: the genome's chromosome lengths (all become the header, so the file
    overlays correctly on the genome); default: only ``chrom`` with the track's end as its
    length. Bins that are not wholly inside ``[0, chrom length)`` (windows padded past a
    chromosome end) and NaN values are left out.
    """
    sizes = dict(chrom_sizes) if chrom_sizes else {chrom: max(1, int(start) + len(values) * int(step))}
    header = _check_chrom_sizes(sizes)
    if chrom not in sizes:
        raise InputError(f"chromosome {chrom!r} is not in the chromosome sizes; check the genome build")
    blocks = {chrom: _track_blocks(chrom, int(start), values, int(step), sizes[chrom])}
    with atomic_path(path) as tmp:
        _write_bigwig_file(tmp, header, blocks)
    return Path(path)


def _bytes_via_tempfile(write) -> bytes:
    with tempfile.TemporaryDirectory(prefix="seqnn-export-") as d:
        p = Path(d) / "out.bin"
        write(p)
        return p.read_bytes()


def bigwig_bytes(chrom_sizes: Mapping[str, int], intervals: Iterable[tuple[str, int, int, float]]) -> bytes:
    """:func:`write_bigwig` to bytes (pyBigWig only writes paths, so via a temp file)."""
    return _bytes_via_tempfile(lambda p: write_bigwig(p, chrom_sizes, intervals))


def track_bigwig_bytes(chrom: str, start: int, values: np.ndarray, step: int = 1,
                       chrom_sizes: Mapping[str, int] | None = None) -> bytes:
    """:func:`track_to_bigwig` to bytes, for downloads."""
    return _bytes_via_tempfile(lambda p: track_to_bigwig(p, chrom, start, values, step, chrom_sizes))


# ======================================================================================
# BED of top positions


def top_positions_bed(scores: np.ndarray, chrom: str, start: int, k: int, strand: str = ".",
                      name_prefix: str = "top", width: int = 1) -> str:
    """BED text of the ``k`` positions with the largest ``|score|``.

    scores: (L,) — score ``i`` covers ``[start + i*width, start + (i+1)*width)`` (0-based
    half-open; ``width=1`` for per-base scores).
    Rows are sorted by rank: ``|score|`` descending, ties by position ascending (sort the
    file with ``sort -k1,1 -k2,2n`` for tools that need position order). Columns (BED6+1):
    chrom, start, end, name (``{name_prefix}{rank}``, rank from 1), score (integer
    0-1000: ``round(1000 * |score| / max |score|)``, as the BED spec requires), strand,
    and the signed raw score (``%.9g``). NaN scores are never selected; fewer than ``k``
    rows are returned when there are fewer finite scores.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise InputError(f"top positions need one score per position, shape (L,); got shape {s.shape}")
    if int(k) < 1:
        raise InputError(f"number of top positions must be >= 1, got {k}")
    if strand not in ("+", "-", "."):
        raise InputError(f"strand must be '+', '-' or '.', got {strand!r}")
    if width < 1:
        raise InputError(f"position width must be >= 1, got {width}")
    if not chrom or any(c.isspace() for c in chrom):
        raise InputError(f"chromosome name {chrom!r} cannot be written to BED; use a name without spaces")
    finite = np.nonzero(np.isfinite(s))[0]
    mag = np.abs(s[finite])
    order = finite[np.lexsort((finite, -mag))][: int(k)]
    top = float(np.max(mag)) if len(mag) else 0.0
    lines = []
    for rank, i in enumerate(order, start=1):
        b0 = int(start) + int(i) * int(width)
        bed_score = int(round(1000.0 * abs(s[i]) / top)) if top > 0 else 0
        lines.append(f"{chrom}\t{b0}\t{b0 + int(width)}\t{name_prefix}{rank}\t{bed_score}\t{strand}\t{s[i]:.9g}\n")
    return "".join(lines)


# ======================================================================================
# TF-MoDISco-lite


@dataclass(frozen=True)
class ModiscoFiles:
    """Paths written by :func:`write_modisco_npz`.

    sequences: npz with ``arr_0`` = one-hot (S, 4, L) float32 (``modisco motifs -s``).
    attributions: npz with ``arr_0`` = hypothetical scores (S, 4, L) float32 (``-a``).
    coords: TSV with a header: index, chrom, start, end, name, strand (row i = example i).
    """

    sequences: Path
    attributions: Path
    coords: Path


def _coords_table(coords: Mapping[str, Sequence] | None, n: int) -> list[tuple]:
    cols = {"chrom": None, "start": None, "end": None, "name": None, "strand": None}
    if coords is not None:
        unknown = set(coords) - set(cols) - {"chr"}
        if unknown:
            raise InputError(f"coordinate table has unknown columns {sorted(unknown)}; "
                             "use chrom, start, end, name, strand")
        for key, val in coords.items():
            col = "chrom" if key == "chr" else key
            vals = list(np.asarray(val).tolist()) if not isinstance(val, list) else list(val)
            if len(vals) != n:
                raise InputError(f"coordinate column {key!r} has {len(vals)} rows for {n} examples")
            cols[col] = [v.decode() if isinstance(v, bytes) else v for v in vals]
    rows = []
    for i in range(n):
        chrom = cols["chrom"][i] if cols["chrom"] is not None else "."
        start = int(cols["start"][i]) if cols["start"] is not None else -1
        end = int(cols["end"][i]) if cols["end"] is not None else -1
        name = cols["name"][i] if cols["name"] is not None else f"seq{i}"
        strand = cols["strand"][i] if cols["strand"] is not None else "."
        for field_name, text in (("chrom", chrom), ("name", name), ("strand", strand)):
            if any(c in str(text) for c in "\t\n\r"):
                raise InputError(f"coordinate {field_name} of example {i} contains a tab or newline")
        rows.append((i, str(chrom), start, end, str(name), str(strand)))
    return rows


def _coords_tsv(rows: list[tuple]) -> str:
    out = ["index\tchrom\tstart\tend\tname\tstrand\n"]
    out += [f"{i}\t{c}\t{s}\t{e}\t{n}\t{st}\n" for i, c, s, e, n, st in rows]
    return "".join(out)


def _modisco_arrays(onehot: np.ndarray, hyp_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(onehot)
    h = np.asarray(hyp_scores)
    if x.ndim == 2:
        x = x[None]
    if h.ndim == 2:
        h = h[None]
    if x.ndim != 3 or x.shape[-1] != 4:
        raise InputError(f"one-hot sequences must have shape (S, L, 4); got {np.asarray(onehot).shape}")
    if h.shape != x.shape:
        raise InputError(f"hypothetical scores shape {h.shape} must equal the one-hot shape {x.shape}")
    if not np.all(np.isfinite(h)):
        raise InputError("hypothetical scores contain NaN or inf; recompute them before exporting")
    # tfmodisco-lite's CLI loads arr_0 as (N, 4, L) and transposes to (N, L, 4) itself
    return (np.ascontiguousarray(x.transpose(0, 2, 1), dtype=np.float32),
            np.ascontiguousarray(h.transpose(0, 2, 1), dtype=np.float32))


def _npz_bytes_arr0(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, a)  # positional -> key "arr_0", what `modisco motifs` reads
    return buf.getvalue()


def write_modisco_npz(prefix: str | os.PathLike, onehot: np.ndarray, hyp_scores: np.ndarray,
                      coords: Mapping[str, Sequence] | None = None) -> ModiscoFiles:
    """Write inputs for ``modisco motifs -s {prefix}.ohe.npz -a {prefix}.hyp.npz -n N``.

    onehot: (S, L, 4) one-hot (the engine's layout); hyp_scores: (S, L, 4) hypothetical
    contribution scores (e.g. mean-centred gradients, all four bases at every position).
    Both are written length-last as tfmodisco-lite expects: ``arr_0`` of shape (S, 4, L),
    float32. coords: optional columns ``chrom`` (or ``chr``), ``start``, ``end``, ``name``,
    ``strand`` of length S, written to ``{prefix}.coords.tsv`` so example i maps back to
    the genome. A trailing ``.npz`` on ``prefix`` is dropped. Note that modisco's ``-w``
    window (default 400) must not exceed L.
    """
    ohe, hyp = _modisco_arrays(onehot, hyp_scores)
    rows = _coords_table(coords, ohe.shape[0])
    p = Path(prefix)
    if p.suffix == ".npz":
        p = p.with_suffix("")
    files = ModiscoFiles(p.with_name(p.name + ".ohe.npz"), p.with_name(p.name + ".hyp.npz"),
                         p.with_name(p.name + ".coords.tsv"))
    with atomic_write(files.sequences) as f:
        f.write(_npz_bytes_arr0(ohe))
    with atomic_write(files.attributions) as f:
        f.write(_npz_bytes_arr0(hyp))
    write_text_atomic(files.coords, _coords_tsv(rows))
    return files


def modisco_zip_bytes(onehot: np.ndarray, hyp_scores: np.ndarray,
                      coords: Mapping[str, Sequence] | None = None, name: str = "modisco") -> bytes:
    """A zip with ``{name}.ohe.npz``, ``{name}.hyp.npz``, ``{name}.coords.tsv`` and a
    README line with the modisco command (same contents as :func:`write_modisco_npz`)."""
    ohe, hyp = _modisco_arrays(onehot, hyp_scores)
    rows = _coords_tsv(_coords_table(coords, ohe.shape[0]))
    readme = (f"TF-MoDISco-lite inputs: {ohe.shape[0]} examples of {ohe.shape[2]} bp, arrays (S, 4, L).\n"
              f"modisco motifs -s {name}.ohe.npz -a {name}.hyp.npz -n 2000 -w {min(400, ohe.shape[2])} "
              f"-o {name}_results.h5\n"
              f"{name}.coords.tsv maps example index -> chrom, start, end (0-based half-open), name, strand.\n")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(f"{name}.ohe.npz", _npz_bytes_arr0(ohe))
        z.writestr(f"{name}.hyp.npz", _npz_bytes_arr0(hyp))
        z.writestr(f"{name}.coords.tsv", rows)
        z.writestr("README.txt", readme)
    return buf.getvalue()


# ======================================================================================
# HDF5 / npz / CSV

_META_ATTR = "meta_json"
_DTYPE_ATTR = "numpy_dtype"


@dataclass(frozen=True)
class Hdf5Content:
    """What :func:`read_hdf5` returns.

    arrays: dataset path (e.g. ``"preds"`` or ``"layers/conv1"``) -> numpy array, with the
    dtype and shape written (str arrays come back as numpy ``U`` arrays, bytes as ``S``).
    attrs: the JSON metadata dict given to :func:`write_hdf5` (numpy scalars and tuples
    normalised to numbers and lists).
    """

    arrays: dict[str, np.ndarray]
    attrs: dict

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]


def _write_h5(f: h5py.File, arrays: Mapping[str, np.ndarray], attrs: Mapping[str, Any] | None) -> None:
    meta = json.loads(canonical_json(dict(attrs or {})))
    f.attrs[_META_ATTR] = json.dumps(meta, sort_keys=True)
    for k, v in meta.items():  # browsable copies of simple values (HDFView, h5ls)
        if k != _META_ATTR and isinstance(v, (str, int, float, bool)) and not (isinstance(v, int) and abs(v) >= 2**63):
            f.attrs[k] = v
    for name, arr in arrays.items():
        if not isinstance(name, str) or not name.strip("/") or name.startswith("/"):
            raise InputError(f"HDF5 dataset name {name!r} is not allowed; use names like 'preds' or 'layers/conv1'")
        a = np.asarray(arr)
        if a.dtype.hasobject:
            raise InputError(f"array {name!r} has dtype object; export numeric, bool or string arrays")
        if a.dtype.kind == "U":
            ds = f.create_dataset(name, data=a.astype(object), dtype=h5py.string_dtype("utf-8"))
            ds.attrs[_DTYPE_ATTR] = a.dtype.str
        elif a.dtype.kind in "biufcS":
            compress = a.dtype.kind != "S" and a.ndim > 0 and a.size >= 4096
            f.create_dataset(name, data=a, **({"compression": "gzip", "compression_opts": 4, "shuffle": True}
                                              if compress else {}))
        else:
            raise InputError(f"array {name!r} has dtype {a.dtype}, which HDF5 export does not support")


def write_hdf5(path: str | os.PathLike, arrays: Mapping[str, np.ndarray],
               attrs: Mapping[str, Any] | None = None) -> Path:
    """Write named arrays (``"group/name"`` makes groups) and JSON-able ``attrs`` to HDF5.

    Numeric and bool arrays keep their dtype (large ones gzip-compressed, lossless);
    ``str`` arrays are stored as UTF-8 strings; ``bytes`` arrays as fixed-length strings.
    ``attrs`` is stored whole as JSON in the root attribute ``meta_json`` (and simple
    values also as plain root attributes for browsing). Exact round trip via
    :func:`read_hdf5`.
    """
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=True) as f:
            _write_h5(f, arrays, attrs)
    return Path(path)


def hdf5_bytes(arrays: Mapping[str, np.ndarray], attrs: Mapping[str, Any] | None = None) -> bytes:
    """:func:`write_hdf5` to bytes, in memory (for downloads)."""
    buf = io.BytesIO()
    with h5py.File(buf, "w", track_order=True) as f:
        _write_h5(f, arrays, attrs)
    return buf.getvalue()


def _read_dataset(ds: h5py.Dataset) -> np.ndarray:
    string_info = h5py.check_string_dtype(ds.dtype)
    if string_info is not None and string_info.length is None:  # variable-length strings
        raw = ds.asstr()[()]
        want = ds.attrs.get(_DTYPE_ATTR)
        if isinstance(raw, str):
            out = np.array(raw)
        else:
            out = np.array(raw.tolist(), dtype=str).reshape(ds.shape) if raw.size else np.zeros(ds.shape, dtype="U1")
        return out.astype(want) if want is not None else out
    return ds[()]


def read_hdf5(path_or_bytes: str | os.PathLike | bytes) -> Hdf5Content:
    """Read every dataset and the metadata of an HDF5 file (a path, or bytes).

    Raises InputError when the file is not readable HDF5.
    """
    src = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, (bytes, bytearray)) else path_or_bytes
    arrays: dict[str, np.ndarray] = {}
    try:
        with h5py.File(src, "r") as f:
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    arrays[name] = _read_dataset(obj)
            f.visititems(visit)
            if _META_ATTR in f.attrs:
                raw = f.attrs[_META_ATTR]
                attrs = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
            else:
                attrs = {k: (v.item() if isinstance(v, np.generic) else
                             v.tolist() if isinstance(v, np.ndarray) else
                             v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    except OSError as e:
        name = "the uploaded data" if src is not path_or_bytes else str(path_or_bytes)
        raise InputError(f"{name} is not a readable HDF5 file ({e}); check that the file is complete") from e
    return Hdf5Content(arrays=arrays, attrs=attrs)


def to_npz_bytes(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None) -> bytes:
    """Compressed npz of named arrays (no pickle needed to load). ``meta``, when given, is
    stored as JSON text in the 0-d string array ``meta_json``."""
    payload = {}
    for name, arr in arrays.items():
        a = np.asarray(arr)
        if a.dtype.hasobject:
            raise InputError(f"array {name!r} has dtype object; export numeric, bool or string arrays")
        payload[name] = a
    if meta is not None:
        if "meta_json" in payload:
            raise InputError("array name 'meta_json' is reserved for the metadata")
        payload["meta_json"] = np.array(canonical_json(dict(meta)))
    buf = io.BytesIO()
    np.savez_compressed(buf, **payload)
    return buf.getvalue()


def to_csv_text(tracks: Mapping[str, np.ndarray], start: int = 0, step: int = 1,
                chrom: str | None = None, position_name: str = "position") -> str:
    """CSV with a position column (and a chrom column when given), then one column per track.

    tracks: name -> (L,) values, all the same length. Row i is position ``start + i*step``
    (the bin's start, 0-based). Floats are written with enough digits to round-trip
    exactly (``%.9g`` for float16/float32, ``%.17g`` for float64); NaN as ``nan``.
    """
    if not tracks:
        raise InputError("CSV export needs at least one track")
    cols = {}
    length = None
    for name, v in tracks.items():
        a = np.asarray(v)
        if a.ndim != 1:
            raise InputError(f"track {name!r} must be one value per position, shape (L,); got {a.shape}")
        if length is None:
            length = len(a)
        elif len(a) != length:
            raise InputError(f"track {name!r} has {len(a)} values but the others have {length}")
        cols[str(name)] = a
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(([] if chrom is None else ["chrom"]) + [position_name] + list(cols))
    pos = int(start) + np.arange(length, dtype=np.int64) * int(step)
    columns = [list(map(str, pos.tolist()))]
    for name, a in cols.items():
        if a.dtype.kind == "f":
            fmt = "{:.17g}" if a.dtype.itemsize > 4 else "{:.9g}"
            columns.append(list(map(fmt.format, a.astype(np.float64).tolist())))
        elif a.dtype.kind == "b":
            columns.append(["1" if x else "0" for x in a.tolist()])
        elif a.dtype.kind in "iu":
            columns.append(list(map(str, a.tolist())))
        else:
            raise InputError(f"track {name!r} has dtype {a.dtype}; CSV tracks must be numbers")
    if chrom is not None:
        if any(c in chrom for c in ',"\n\r'):
            raise InputError(f"chromosome name {chrom!r} cannot be written to CSV unquoted")
        columns.insert(0, [chrom] * length)
    buf.write("".join(",".join(row) + "\n" for row in zip(*columns)))
    return buf.getvalue()


# ======================================================================================
# the reference "scores" layout, chunked and resumable

SCORES_FORMAT = "seqnn-engine-scores-v1"
_COORD_KINDS = {"chr": "S", "start": "i", "end": "i", "gene": "S", "strand": "S"}
_MAX_H5_CHUNK_BYTES = 4 << 20


def _h5_chunk_shape(item_shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """One row per HDF5 chunk (more rows for small items), halving the largest axis of
    very large items, so a chunk stays <= 4 MiB."""
    shape = [1, *item_shape]
    shape = [max(1, d) for d in shape]
    item_bytes = itemsize * int(np.prod(shape))
    if item_bytes <= _MAX_H5_CHUNK_BYTES:
        shape[0] = max(1, min(1024, _MAX_H5_CHUNK_BYTES // (4 * item_bytes)))
        return tuple(shape)
    while itemsize * int(np.prod(shape)) > _MAX_H5_CHUNK_BYTES:
        ax = int(np.argmax(shape[1:])) + 1
        if shape[ax] == 1:
            break
        shape[ax] = (shape[ax] + 1) // 2
    return tuple(shape)


def _encode_coords(coords: Mapping[str, Sequence] | None, n: int) -> dict[str, np.ndarray]:
    out = {}
    for key, vals in (coords or {}).items():
        if key not in _COORD_KINDS:
            raise InputError(f"scores file coordinate {key!r} is unknown; use chr, start, end, gene, strand")
        seq = list(vals.tolist() if isinstance(vals, np.ndarray) else vals)
        if len(seq) != n:
            raise InputError(f"coordinate {key!r} has {len(seq)} rows for {n} sequences")
        if _COORD_KINDS[key] == "S":
            out[key] = np.array([v if isinstance(v, bytes) else str(v).encode("utf-8") for v in seq], dtype="S")
            if n == 0:
                out[key] = np.zeros(0, dtype="S1")
        else:
            out[key] = np.array(seq, dtype=np.int64).reshape(n)
    return out


class ScoresWriter:
    """Write the reference's scores HDF5 layout chunk by chunk, with resume.

    Layout (compatible with the Calico scripts' ``scores.h5``): ``seqs`` bool (S, L, 4);
    one dataset per entry of ``datasets`` (e.g. ``grads`` float16 (S, L, 4), ``preds``
    (S, P, T)); coordinates ``chr``/``gene``/``strand`` (bytes) and ``start``/``end``
    (int64), (S,); optional ``static`` arrays written once (e.g. ``target_ids``); and
    ``chunk_done`` bool (n_chunks,), the resume mask. Root attribute ``layout_json``
    records the layout, chunk size, coordinates digest and the caller's ``job`` dict.

    Rows are written in chunks of ``chunk_size`` sequences: chunk ``c`` holds rows
    ``[c*chunk_size, min((c+1)*chunk_size, n_total))``. While a job runs the file is
    ``{path}.partial``; all storage is allocated when it is created, so writing a chunk
    changes no HDF5 metadata, and the file is flushed after each chunk's data and again
    after its done flag. A run killed at any point therefore leaves a partial file whose
    done chunks are complete. :meth:`finish` renames it to ``path`` once every chunk is
    done, so ``path`` never holds an incomplete result.

    ``resume=True`` reopens ``{path}.partial`` (or an already finished ``path``) when its
    layout, coordinates and ``job`` equal this call's, and :meth:`pending_chunks` lists
    what is left; a mismatch raises InputError. ``resume=False`` starts afresh. One
    process writes (in a Ray run, the driver merges results).
    """

    def __init__(self, path: str | os.PathLike, n_total: int, seq_length: int, *,
                 datasets: Mapping[str, tuple[Sequence[int], Any]] | None = None,
                 coords: Mapping[str, Sequence] | None = None,
                 static: Mapping[str, np.ndarray] | None = None,
                 chunk_size: int = 16, include_seqs: bool = True,
                 job: Mapping[str, Any] | None = None, resume: bool = False) -> None:
        self.path = Path(path)
        self.partial_path = self.path.with_name(self.path.name + ".partial")
        self.n_total = int(n_total)
        self.seq_length = int(seq_length)
        self.chunk_size = int(chunk_size)
        if self.n_total < 0 or self.seq_length < 1 or self.chunk_size < 1:
            raise InputError(f"scores file needs n_total >= 0, seq_length >= 1, chunk_size >= 1 "
                             f"(got {n_total}, {seq_length}, {chunk_size})")
        specs: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        if include_seqs:
            specs["seqs"] = ((self.seq_length, 4), np.dtype(bool))
        if datasets is None:
            datasets = {"grads": ((self.seq_length, 4), np.float16)}
        for name, (shape, dtype) in datasets.items():
            if name in specs or name in _COORD_KINDS or name == "chunk_done":
                raise InputError(f"scores dataset name {name!r} clashes with a built-in dataset")
            dt = np.dtype(dtype)
            if dt.kind not in "biuf":
                raise InputError(f"scores dataset {name!r} must be numeric or bool, not {dt}")
            specs[name] = (tuple(int(d) for d in shape), dt)
        self.specs = specs
        self.n_chunks = -(-self.n_total // self.chunk_size)
        self._coords = _encode_coords(coords, self.n_total)
        self._static = {k: np.asarray(v) for k, v in (static or {}).items()}
        for k, v in self._static.items():
            if k in specs or k in _COORD_KINDS or k == "chunk_done" or v.dtype.kind not in "biufS":
                raise InputError(f"static array {k!r} clashes with a dataset name or is not numeric/bytes")
        self.layout_json = self._layout_json(job)
        self._file: h5py.File | None = None
        self._done = np.zeros(self.n_chunks, dtype=bool)
        self._finished = False
        self._open(resume)

    # -- setup --------------------------------------------------------------------------
    def _layout_json(self, job) -> str:
        h = hashlib.sha256()
        for k in sorted(self._coords):
            h.update(k.encode() + b"\0" + self._coords[k].dtype.str.encode() + b"\0" + self._coords[k].tobytes())
        for k in sorted(self._static):
            h.update(k.encode() + b"\1" + self._static[k].dtype.str.encode()
                     + str(self._static[k].shape).encode() + self._static[k].tobytes())
        return canonical_json({
            "format": SCORES_FORMAT, "n_total": self.n_total, "seq_length": self.seq_length,
            "chunk_size": self.chunk_size,
            "datasets": {k: [list(s), dt.str] for k, (s, dt) in self.specs.items()},
            "coords_and_static_sha256": h.hexdigest(), "job": dict(job or {}),
        })

    def _check_layout(self, f: h5py.File, which: Path) -> None:
        stored = f.attrs.get("layout_json")
        if isinstance(stored, bytes):
            stored = stored.decode()
        if stored != self.layout_json:
            diff = "an unknown layout"
            if stored:
                a, b = json.loads(stored), json.loads(self.layout_json)
                keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                diff = "different " + ", ".join(keys)
            raise InputError(f"{which} was written by a different job ({diff}); "
                             "delete it or run without --resume")

    def _open(self, resume: bool) -> None:
        if resume and self.path.exists() and not self.partial_path.exists():
            try:
                with h5py.File(self.path, "r") as f:
                    self._check_layout(f, self.path)
                    done = f["chunk_done"][()]
            except OSError as e:
                raise InputError(f"cannot resume: {self.path} is not readable HDF5 ({e}); "
                                 "delete it or run without --resume") from e
            if done.all():
                self._done[:] = True
                self._finished = True
                return
        if resume and self.partial_path.exists():
            try:
                f = h5py.File(self.partial_path, "r+")
            except OSError as e:
                if "lock" in str(e).lower():
                    raise InputError(f"{self.partial_path} is open in another process; wait for that "
                                     "job to end or write to another output") from e
                log.warning("cannot reopen %s (%s); starting the job afresh", self.partial_path, e)
            else:
                try:
                    self._check_layout(f, self.partial_path)
                    self._done = f["chunk_done"][()].astype(bool)
                except BaseException:
                    f.close()
                    raise
                self._file = f
                return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.partial_path)
        with atomic_path(self.partial_path) as tmp:
            with h5py.File(tmp, "w", libver="earliest") as f:
                self._create_layout(f)
        self._file = h5py.File(self.partial_path, "r+")

    def _create_layout(self, f: h5py.File) -> None:
        f.attrs["layout_json"] = self.layout_json
        f.attrs["format"] = SCORES_FORMAT
        f.attrs["chunk_size"] = self.chunk_size
        for name, (shape, dt) in self.specs.items():
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)  # no metadata changes while writing chunks
            f.create_dataset(name, shape=(self.n_total, *shape), dtype=dt, maxshape=(None, *shape),
                             chunks=_h5_chunk_shape(shape, dt.itemsize), dcpl=dcpl)
        for name, arr in self._coords.items():
            f.create_dataset(name, data=arr)
        for name, arr in self._static.items():
            f.create_dataset(name, data=arr)
        f.create_dataset("chunk_done", data=np.zeros(self.n_chunks, dtype=bool))

    # -- progress -----------------------------------------------------------------------
    def chunk_bounds(self, c: int) -> tuple[int, int]:
        """Rows ``[i0, i1)`` of chunk ``c``."""
        return c * self.chunk_size, min((c + 1) * self.chunk_size, self.n_total)

    def pending_chunks(self) -> list[tuple[int, int]]:
        """``(i0, i1)`` row ranges of the chunks not written yet, in order."""
        return [self.chunk_bounds(c) for c in range(self.n_chunks) if not self._done[c]]

    def is_done(self, i0: int) -> bool:
        return bool(self._done[i0 // self.chunk_size])

    @property
    def n_done(self) -> int:
        """Number of finished chunks."""
        return int(self._done.sum())

    @property
    def complete(self) -> bool:
        return bool(self._done.all())

    # -- writing ------------------------------------------------------------------------
    def write_chunk(self, i0: int, arrays: Mapping[str, np.ndarray]) -> None:
        """Write the rows of the chunk starting at row ``i0`` and mark it done.

        arrays: every dataset of the layout (``seqs`` plus ``datasets``), each shaped
        (rows in this chunk, *item shape*); values are cast to the dataset's dtype
        (``seqs`` from a float one-hot becomes bool). Rewriting a finished chunk is allowed
        (same inputs give the same values).
        """
        if self._finished:
            raise InputError(f"{self.path} is already complete; nothing left to write")
        if self._file is None:
            raise InputError("the scores file is closed")
        i0 = int(i0)
        if i0 % self.chunk_size or not 0 <= i0 < self.n_total:
            raise InputError(f"chunk start {i0} is not a multiple of the chunk size {self.chunk_size} "
                             f"within 0..{self.n_total - 1}")
        c = i0 // self.chunk_size
        i1 = self.chunk_bounds(c)[1]
        missing = set(self.specs) - set(arrays)
        extra = set(arrays) - set(self.specs)
        if missing or extra:
            raise InputError(f"chunk arrays must be exactly {sorted(self.specs)}; "
                             f"missing {sorted(missing)}, unexpected {sorted(extra)}")
        cast = {}
        for name, (shape, dt) in self.specs.items():
            a = np.asarray(arrays[name])
            if a.shape != (i1 - i0, *shape):
                raise InputError(f"chunk array {name!r} has shape {a.shape}; expected {(i1 - i0, *shape)}")
            cast[name] = a.astype(dt, copy=False)
        f = self._file
        for name, a in cast.items():
            f[name][i0:i1] = a
        f.flush()
        f["chunk_done"][c] = True
        f.flush()
        self._done[c] = True

    def finish(self) -> Path:
        """Close the file and move it to its final name; every chunk must be done."""
        if self._finished:
            self.close()
            return self.path
        left = self.n_chunks - self.n_done
        if left:
            raise InputError(f"{left} of {self.n_chunks} chunks of {self.path} are not written yet")
        self.close()
        fd = os.open(self.partial_path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.partial_path, self.path)
        self._finished = True
        return self.path

    def close(self) -> None:
        """Close without finishing (the partial file stays for a later resume)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "ScoresWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and self.complete and not self._finished:
            self.finish()
        else:
            self.close()


def read_scores(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every dataset of a scores file (coordinates as bytes arrays, as written)."""
    return read_hdf5(path).arrays
