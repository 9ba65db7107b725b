"""``evaluate``: accuracy of a model on a held-out test set, one TSV row per target.

    python -m seqnn_engine evaluate --params P --weights W [--head 0] --data DIR [--split test]
        [--rc] [--shifts -1,0,1] [--batch-size N] [--limit N] --out metrics.tsv
    python -m seqnn_engine evaluate --model MODEL_DIR --data DIR --out metrics.tsv

Columns: index, identifier, description, pearsonr, r2, var_explained, spearmanr, poisson
(pearsonr and r2 over all positions of all sequences, no log: the reference's evaluation; see
:mod:`seqnn_engine.analysis.metrics`). Progress goes to stderr.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="per-target accuracy (Pearson r, R2, Spearman, Poisson) of a model on a test set",
        description="Predict a held-out test set and write per-target accuracy as a TSV.",
    )
    m = p.add_argument_group("model (either --model or --params with --weights)")
    m.add_argument("--model", metavar="DIR", help="model directory: params.json, targets.txt, *.h5")
    m.add_argument("--params", metavar="JSON", help="params.json of the model")
    m.add_argument("--weights", metavar="H5", help="weights file (.h5)")
    m.add_argument("--head", type=int, default=0, help="model head index (default 0)")
    m.add_argument("--targets-file", "--targets", dest="targets", metavar="TXT",
                   help="targets.txt for strand pairs (default: the data directory's, else the model's)")
    from .options import add_precision_options
    add_precision_options(m)
    d = p.add_argument_group("data")
    d.add_argument("--data", required=True, metavar="PATH",
                   help="Baskerville data directory, TF1 Basenji HDF5 or plain HDF5 (sequences, targets)")
    d.add_argument("--split", default="test", help="split label (default test)")
    d.add_argument("--limit", type=int, default=None, metavar="N", help="evaluate only the first N sequences")
    e = p.add_argument_group("ensemble")
    e.add_argument("--rc", action="store_true", help="average forward and reverse-complement predictions")
    e.add_argument("--shifts", default="0", metavar="LIST",
                   help="comma-separated shifts in bp, e.g. -1,0,1 (default 0)")
    e.add_argument("--batch-size", type=int, default=2, metavar="N", help="sequences per batch (default 2)")
    o = p.add_argument_group("output")
    o.add_argument("--out", required=True, metavar="TSV", help="metrics table to write")
    o.add_argument("--preds-out", metavar="H5",
                   help="also write predictions (N, P, T) float32 here; resumable after an interruption")
    o.add_argument("--no-resume", action="store_true", help="with --preds-out, start over instead of resuming")
    o.add_argument("--spearman-budget", type=int, default=None, metavar="N",
                   help="values per array kept for Spearman before sampling (default 16777216)")
    o.add_argument("--quiet", action="store_true", help="no progress bar or summary on stderr")


def parse_shifts(text: str) -> tuple[int, ...]:
    parts = [s.strip() for s in str(text).split(",") if s.strip()]
    if not parts:
        raise InputError("--shifts needs at least one integer, e.g. 0 or -1,0,1")
    try:
        return tuple(int(s) for s in parts)
    except ValueError:
        raise InputError(f"--shifts must be comma-separated integers such as -1,0,1, got {text!r}") from None


def _apply_target_strand_pairs(model):
    """Use targets.txt strand pairs for RC members when params.json gives none.

    The reference evaluation (hound_eval) takes ``strand_pair`` from the data's targets.txt; a
    loader that reads it only from params.json would average a '+' track's forward prediction with
    its own (instead of its '-' partner's) reverse-complement prediction. Harmless once the loader
    does this itself: it only fills a missing ``strand_pair``.
    """
    table = getattr(model, "targets", None)
    if table is None or getattr(model, "strand_pair", None) is not None:
        return model
    import numpy as np

    pair = np.asarray(table.pair_row)
    if pair.shape == (int(model.num_targets),) and np.all(pair >= 0) and np.any(pair != np.arange(pair.size)):
        model.strand_pair = pair
    return model


def _load_model(args, default_targets: Path | None):
    """The model of --model DIR or --params/--weights, through the engine's loader."""
    return _apply_target_strand_pairs(_load_model_raw(args, default_targets))


def _load_model_raw(args, default_targets: Path | None):
    from ..batch.jobs import ModelSource

    extra = {"precision": getattr(args, "precision", "float32"),
             "random_weights": bool(getattr(args, "random_weights", False)), "seed": getattr(args, "seed", None)}

    if args.model:
        mdir = Path(args.model)
        if not mdir.is_dir():
            raise InputError(f"model directory not found: {mdir}")
        if args.params or args.weights:
            raise InputError("give either --model DIR or --params with --weights, not both")
        if args.targets and not Path(args.targets).is_file():
            raise InputError(f"--targets file not found: {args.targets}")
        if not extra["random_weights"]:
            from ..model.modeldir import read_model_dir
            n = len(read_model_dir(mdir).weights)
            if n > 1:
                raise InputError(f"model directory {mdir} holds {n} weight files: pick one with --params and "
                                 "--weights")
        targets = args.targets or None
        if targets is None and not (mdir / "targets.txt").is_file() and default_targets is not None:
            targets = str(default_targets)
        return ModelSource(model_dir=str(mdir), head=args.head, targets=targets, **extra).load()

    targets = Path(args.targets) if args.targets else default_targets
    if targets is not None and not targets.is_file():
        if args.targets:
            raise InputError(f"--targets file not found: {targets}")
        targets = None
    return ModelSource(params=args.params, weights=args.weights, head=args.head,
                       targets=None if targets is None else str(targets), **extra).load()


def run(args) -> int:
    from . import import_tensorflow_quietly
    from ..analysis.datasets import open_dataset
    from ..analysis.metrics import DEFAULT_SPEARMAN_BUDGET, write_accuracy_tsv
    from ..analysis.predict_file import check_geometry, evaluate

    shifts = parse_shifts(args.shifts)
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {args.batch_size}")
    out = Path(args.out)
    if out.exists() and out.is_dir():
        raise InputError(f"--out {out} is a directory: give a file name such as metrics.tsv")
    if not out.parent.exists():
        raise InputError(f"--out directory does not exist: {out.parent}")

    testset = open_dataset(args.data, split=args.split).head(args.limit)
    import_tensorflow_quietly()
    data_targets = Path(args.data) / "targets.txt" if Path(args.data).is_dir() else None
    model = _load_model(args, data_targets)
    check_geometry(model, testset)

    bar = None
    progress = None
    if not args.quiet:
        from tqdm import tqdm

        def progress(n: int, total: int) -> None:
            # the bar starts with the first report, after every input was checked
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, unit="seq", desc="evaluate", file=sys.stderr, dynamic_ncols=True)
            bar.update(n - bar.n)

    try:
        acc = evaluate(
            model, testset, batch_size=args.batch_size, rc=args.rc, shifts=shifts, progress=progress,
            spearman_budget=args.spearman_budget or DEFAULT_SPEARMAN_BUDGET,
            preds_path=args.preds_out, resume=not args.no_resume,
        )
    finally:
        if bar is not None:
            bar.close()

    write_accuracy_tsv(out, acc, testset.target_index, testset.target_ids, testset.target_labels)
    if not args.quiet:
        s = acc.summary()
        note = "" if acc.spearman_exact else f" (Spearman on {acc.spearman_positions} sampled positions)"
        print(
            f"{testset.num_seqs} sequences x {testset.num_targets} targets: "
            f"pearsonr mean {s['pearsonr']['mean']:.4f} median {s['pearsonr']['median']:.4f}, "
            f"r2 mean {s['r2']['mean']:.4f}, spearmanr mean {s['spearmanr']['mean']:.4f}, "
            f"poisson mean {s['poisson']['mean']:.4f}{note} -> {out}",
            file=sys.stderr,
        )
    return 0
