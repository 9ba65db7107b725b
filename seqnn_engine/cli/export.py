"""``export``: turn an attribution HDF5 (``attribute`` / ``ism`` output) into files for other tools.

    python -m seqnn_engine export --in attr.h5 --bigwig-out attr.bw
    python -m seqnn_engine export --in attr.h5 --bed-out top.bed --top 20
    python -m seqnn_engine export --in attr.h5 --modisco-out modisco/run1

* ``--bigwig-out``: one value per base (``--reduce``, below), placed at genome coordinates
  (``chr``, ``start`` of each row; FASTA rows on their record names); overlapping windows are
  averaged, padding outside a chromosome is left out. The header holds every chromosome of
  the genome (or every FASTA record).
* ``--bed-out``: the ``--top`` K positions of each row by absolute value (BED6 + raw score),
  named ``<row name>:<rank>``.
* ``--modisco-out PREFIX``: ``PREFIX.ohe.npz`` (one-hot) and ``PREFIX.hyp.npz`` (the ``grads``
  hypothetical scores), both (N, 4, L), plus ``PREFIX.coords.tsv`` mapping example index to
  coordinates (``modisco motifs -s PREFIX.ohe.npz -a PREFIX.hyp.npz``).

``--reduce`` (auto by method): ``observed`` (the value of the present base: grads x one-hot
summed; saliency, smoothgrad, grad_x_input), ``sum`` over ACGT (integrated gradients'
scores), ``l2``, ``ism`` (minus the mean ISM delta of the 3 substitutions). ``--dataset``
picks ``scores`` or ``grads`` (auto: ``scores`` for ISM and integrated gradients, else
``grads``). ``--rows`` selects rows (e.g. 0,2-5).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..errors import InputError
from . import options as opt
from .tracks import REDUCTIONS


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="attribution HDF5 -> bigWig, BED of top positions, MoDISco npz",
                       description="Convert an attribute/ism output into per-base bigWig, BED and "
                                   "TF-MoDISco inputs.")
    p.add_argument("--in", dest="input", required=True, metavar="H5", help="output of attribute or ism")
    p.add_argument("--rows", metavar="LIST", help="rows to export, e.g. 0,2-5 (default all)")
    p.add_argument("--dataset", choices=("auto", "scores", "grads"), default="auto",
                   help="array to export (default auto by method)")
    p.add_argument("--reduce", choices=("auto",) + REDUCTIONS, default="auto",
                   help="per-base value from the 4 channels (default auto by method)")
    p.add_argument("--bigwig-out", metavar="BW", help="per-base attribution bigWig")
    p.add_argument("--bed-out", metavar="BED", help="BED of the top positions of each row")
    p.add_argument("--top", type=int, default=20, metavar="K", help="positions per row in --bed-out (default 20)")
    p.add_argument("--modisco-out", metavar="PREFIX", help="TF-MoDISco-lite inputs PREFIX.ohe.npz/.hyp.npz/.coords.tsv")
    p.add_argument("--quiet", action="store_true", help="no summary on stderr")


class AttributionFile:
    """The arrays of an attribution scores file, for the selected rows."""

    def __init__(self, path, rows=None):
        import h5py

        p = Path(path)
        if not p.is_file():
            partial = p.with_name(p.name + ".partial")
            hint = " (an unfinished run left a .partial file: finish it with --resume)" if partial.exists() else ""
            raise InputError(f"input file not found: {p}{hint}")
        try:
            f = h5py.File(p, "r")
        except OSError as e:
            raise InputError(f"{p} is not a readable HDF5 file ({e})") from None
        with f:
            if "scores" not in f and "grads" not in f:
                raise InputError(f"{p} holds no 'scores' or 'grads' dataset: export works on attribute/ism outputs")
            n = f["scores" if "scores" in f else "grads"].shape[0]
            sel = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
            if sel.size and sel.max() >= n:
                raise InputError(f"--rows {int(sel.max())} is out of range: the file has {n} rows (0..{n - 1})")
            self.rows = sel
            get = lambda k: f[k][sel] if k in f and sel.size else None  # noqa: E731
            self.scores, self.grads, self.seqs = get("scores"), get("grads"), get("seqs")
            coord = lambda k: [x.decode() for x in f[k][()][sel]] if k in f else None  # noqa: E731
            self.chrom, self.gene, self.strand = coord("chr"), coord("gene"), coord("strand")
            self.start = f["start"][()][sel].astype(np.int64) if "start" in f else None
            self.end = f["end"][()][sel].astype(np.int64) if "end" in f else None
            self.static = {k: f[k][()] for k in ("chrom_names", "chrom_lengths") if k in f}
            raw = f.attrs.get("layout_json")
            layout = json.loads(raw.decode() if isinstance(raw, bytes) else raw) if raw else {}
        self.method = str(layout.get("job", {}).get("options", {}).get("method", ""))
        self.path = p

    def names(self) -> list[str]:
        return self.gene if self.gene is not None else [f"row{int(r)}" for r in self.rows]

    def chrom_sizes(self) -> dict:
        from .tracks import chrom_sizes_of

        data = dict(self.static)
        if self.chrom is not None:
            data["chr"] = np.array([c.encode() for c in self.chrom], dtype="S")
            data["end"] = self.end
        return chrom_sizes_of(data)

    def placement(self):
        """(chroms, starts) of the rows: genome coordinates, or row names from 0."""
        if self.chrom is not None and self.start is not None:
            return self.chrom, self.start
        return self.names(), np.zeros(len(self.rows), np.int64)

    def track(self, dataset: str = "auto", reduce: str = "auto") -> np.ndarray:
        """(R, L) per-base values."""
        from .tracks import reduce_attribution

        method = self.method
        if dataset == "auto":
            dataset = "scores" if method in ("ism", "integrated_gradients", "deep_lift_shap") else "grads"
        if reduce == "auto":
            reduce = {"ism": "ism", "integrated_gradients": "sum", "deep_lift_shap": "sum"}.get(method, "observed")
        values = self.scores if dataset == "scores" else self.grads
        if values is None:
            values = self.grads if dataset == "scores" else self.scores
        if values is None:
            raise InputError(f"{self.path} has no {dataset!r} dataset")
        return reduce_attribution(values, self.seqs, reduce)


def attribution_bigwig(path, out, rows=None, dataset="auto", reduce="auto") -> Path:
    from .tracks import write_track_bigwig

    af = AttributionFile(path, rows)
    chroms, starts = af.placement()
    sizes = af.chrom_sizes() if af.chrom is not None else {n: af.track(dataset, reduce).shape[1]
                                                            for n in chroms}
    return write_track_bigwig(out, chroms, starts, af.track(dataset, reduce), 1, sizes)


def run(args) -> int:
    from ..io.atomic import write_text_atomic
    from ..io.export import top_positions_bed, write_modisco_npz

    if not (args.bigwig_out or args.bed_out or args.modisco_out):
        raise InputError("nothing to export: give --bigwig-out, --bed-out and/or --modisco-out")
    for flag in ("bigwig_out", "bed_out"):
        if getattr(args, flag):
            opt.out_path(getattr(args, flag), "--" + flag.replace("_", "-"))
    if args.modisco_out and not Path(args.modisco_out).parent.exists():
        raise InputError(f"--modisco-out directory does not exist: {Path(args.modisco_out).parent}")
    if args.top < 1:
        raise InputError(f"--top must be at least 1, got {args.top}")
    rows = opt.parse_index_list(args.rows, "--rows") if args.rows else None
    af = AttributionFile(args.input, rows)
    if len(af.rows) == 0:
        raise InputError(f"{args.input} has no rows to export")
    done = []
    if args.bigwig_out:
        attribution_bigwig(args.input, args.bigwig_out, rows, args.dataset, args.reduce)
        done.append(args.bigwig_out)
    if args.bed_out:
        track = af.track(args.dataset, args.reduce)
        chroms, starts = af.placement()
        sizes = af.chrom_sizes() if af.chrom is not None else None
        strands = af.strand or ["."] * len(af.rows)
        parts = []
        for i, name in enumerate(af.names()):
            v = track[i].astype(np.float64)
            if sizes is not None:
                pos = starts[i] + np.arange(v.size)
                v = np.where((pos >= 0) & (pos < sizes[chroms[i]]), v, np.nan)
            parts.append(top_positions_bed(v, chroms[i], int(starts[i]), args.top,
                                           strand=strands[i] if strands[i] in "+-." else ".",
                                           name_prefix=f"{name}:"))
        write_text_atomic(args.bed_out, "".join(parts))
        done.append(args.bed_out)
    if args.modisco_out:
        if af.seqs is None or af.grads is None:
            raise InputError(f"{args.input} needs 'seqs' and 'grads' for MoDISco inputs")
        chroms, starts = af.placement()
        coords = {"chrom": list(chroms), "start": [int(s) for s in starts],
                  "end": [int(e) for e in af.end] if af.end is not None else [int(s) + af.seqs.shape[1] for s in starts],
                  "name": af.names(), "strand": af.strand or ["."] * len(af.rows)}
        files = write_modisco_npz(args.modisco_out, af.seqs.astype(np.float32), af.grads.astype(np.float32), coords)
        done.extend(str(p) for p in (files.sequences, files.attributions, files.coords))
    if not args.quiet:
        print(f"{len(af.rows)} rows of {args.input} -> {', '.join(map(str, done))}", file=sys.stderr)
    return 0
