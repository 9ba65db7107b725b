"""``layers``: layer gradients and representations of a few windows into HDF5 (the dashboard's layer view).

    python -m seqnn_engine layers --model DIR --fasta F --layers 12 --targets 0,6 --out layers.h5
    python -m seqnn_engine layers --model DIR --gtf genes.gtf --genes DMG129 --layers 3,12 \\
        --positions center --rc --out layers.h5 [--store DIR]

Every row is :meth:`seqnn_engine.session.Session.layer_gradients` of its window: the gradient of
each chosen target's prediction summed over the objective bins (``--positions``) w.r.t. each
chosen layer (indexes or names of ``model.taps``), with the layer's representation. Output:
``layer<i>/grads`` (R, T, P_l, U_l) and ``layer<i>/reprs`` (R, P_l, U_l) float16 (``--float32``),
``targets`` (T,) ascending, ``chr``/``start``/``end``/``gene``/``strand`` per row. One process, no
chunks: layer gradients are large, so this command is meant for a handful of windows.
"""
from __future__ import annotations

import sys

import numpy as np

from ..errors import InputError
from . import options as opt
from .inputs import check_one_input, collect_windows


def add_parser(sub) -> None:
    p = sub.add_parser("layers", help="layer gradients and representations of a few windows into HDF5",
                       description="Gradients of targets w.r.t. chosen layers, as the dashboard's layer view.")
    opt.add_model_options(p)
    opt.add_sequence_inputs(p)
    opt.add_ensemble_options(p, targets_help="targets whose gradients are taken, e.g. 0,1 or 0-3 (default all)")
    a = p.add_argument_group("layers")
    a.add_argument("--layers", required=True, metavar="LIST",
                   help="tap indexes or names (see the Model page / model.taps), comma-separated")
    a.add_argument("--positions", default="all", metavar="SPEC",
                   help="output bins summed per target: all (default), center, or 'bins A:B'")
    j = p.add_argument_group("output")
    j.add_argument("--out", required=True, metavar="H5", help="output HDF5")
    j.add_argument("--float32", action="store_true", help="store arrays as float32 instead of float16")
    j.add_argument("--quiet", action="store_true", help="no progress on stderr")
    opt.add_store_options(p)


def _layers(text: str) -> list:
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if part:
            out.append(int(part) if part.lstrip("-").isdigit() else part)
    if not out:
        raise InputError("--layers is empty: give tap indexes or names, e.g. 12 or trunk.output")
    return out


def run(args) -> int:
    from ..io.atomic import atomic_path
    from ..session import Session
    from . import import_tensorflow_quietly

    out = opt.out_path(args.out)
    kind = check_one_input(args)
    targets = opt.parse_index_list(args.targets) if args.targets else None
    if args.mc < 0:
        raise InputError(f"--mc must be 0 or more, got {args.mc}")
    args.fit = getattr(args, "fit", "crop")
    store = opt.open_store(args)
    import_tensorflow_quietly()
    ses = Session(source=opt.model_source(args), store=store)
    model = ses.model
    layers = model.tap_indexes(_layers(args.layers))
    tidx = sorted(int(t) for t in model.check_targets(targets))
    if args.mc and not model.has_dropout:
        raise InputError("MC dropout needs dropout layers, and this model has none: drop --mc")
    from ..batch.jobs import ModelInfo
    win = collect_windows(args, ModelInfo.from_model(model), kind)
    for note in win.notes:
        print(note, file=sys.stderr)
    req = opt.request(args, tidx).with_(positions=_positions(opt.parse_positions(args.positions)))
    dtype = opt.float_dtype(args)
    results = []
    for i, seq in enumerate(win.seqs):
        results.append(ses.layer_gradients(req.with_(sequence=seq), layers))
        if not args.quiet:
            print(f"layers: {i + 1}/{len(win)} windows", file=sys.stderr)
    import h5py

    def write(path):
        with h5py.File(path, "w") as f:
            for i in layers:
                f.create_dataset(f"layer{i}/grads", data=np.stack([r.grads(i) for r in results]).astype(dtype))
                f.create_dataset(f"layer{i}/reprs", data=np.stack([r.reprs(i) for r in results]).astype(dtype))
                f[f"layer{i}"].attrs["name"] = model.taps[i].name
            f.create_dataset("targets", data=np.asarray(tidx, np.int64))
            for k in ("chr", "gene", "strand"):
                f.create_dataset(k, data=np.array([str(v).encode("utf-8") for v in win.coords[k]], dtype="S"))
            for k in ("start", "end"):
                f.create_dataset(k, data=np.asarray(win.coords[k], np.int64))
            f.attrs["model_digest"] = model.digest
            f.attrs["store_keys"] = [r.key for r in results]
    with atomic_path(out) as tmp:
        write(tmp)
    if not args.quiet:
        print(f"{len(win)} rows -> {out}", file=sys.stderr)
    return 0


def _positions(pos):
    return pos if pos is None or isinstance(pos, str) else tuple(pos)
