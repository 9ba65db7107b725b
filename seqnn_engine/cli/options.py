"""Options shared by the batch commands, and their parsing into engine arguments.

Groups: model (``--model DIR`` or ``--params``/``--weights``, ``--head``, ``--targets-file``,
``--replicate``, ``--precision``, ``--random-weights`` with ``--seed``), inputs (``--fasta``; ``--bed`` / ``--gtf`` / ``--vcf`` with ``--genome``),
ensemble (``--targets``, ``--rc``, ``--shifts``, ``--mc``, ``--n-value``), job
(``--out``, ``--batch-size``, ``--chunk-size``, ``--resume``, ``--float32``, ``--quiet``),
store (``--store``, ``--store-max-gb``) and executor (``--executor``, ``--address``,
``--num-actors``). Parsers raise InputError with the option's name.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..errors import InputError

# --------------------------------------------------------------------------------------
# parsing helpers


def parse_index_list(text: str, what: str = "--targets") -> list[int]:
    """``"0,1"``, ``"0-3"``, ``"0-2,5"`` -> sorted-as-given list of ints (duplicates refused)."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                a, b = part.split("-", 1)
                lo, hi = int(a), int(b)
                if hi < lo:
                    raise ValueError
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise InputError(f"{what} must be indexes like 0,1 or ranges like 0-3, got {text!r}") from None
    if not out:
        raise InputError(f"{what} is empty: give indexes like 0,1 or 0-3")
    if any(i < 0 for i in out):
        raise InputError(f"{what} indexes must be 0 or more, got {text!r}")
    if len(set(out)) != len(out):
        raise InputError(f"{what} lists an index twice: {text!r}")
    return out


def parse_shifts(text: str) -> list[int]:
    parts = [s.strip() for s in str(text).split(",") if s.strip()]
    if not parts:
        raise InputError("--shifts needs at least one integer, e.g. 0 or -1,0,1")
    try:
        return [int(s) for s in parts]
    except ValueError:
        raise InputError(f"--shifts must be comma-separated integers such as -1,0,1, got {text!r}") from None


def parse_range(text: str, what: str) -> tuple[int, int]:
    """``"a:b"`` (or ``a-b``) -> (a, b) with 0 <= a < b."""
    t = str(text).strip().replace("-", ":", 1) if ":" not in str(text) else str(text).strip()
    try:
        a, b = (int(v) for v in t.split(":"))
    except ValueError:
        raise InputError(f"{what} must look like START:END (e.g. 100:300), got {text!r}") from None
    if not 0 <= a < b:
        raise InputError(f"{what} {text!r} must satisfy 0 <= START < END")
    return a, b


def parse_positions(text: str | None):
    """``all`` -> None; ``center`` -> "center"; ``bins a:b`` (or ``a:b``) -> [a, ..., b-1]."""
    if text is None:
        return None
    t = " ".join(str(text).split()).lower()
    if t in ("all", ""):
        return None
    if t in ("center", "centre"):
        return "center"
    if t.startswith("bins"):
        t = t[4:].strip()
    a, b = parse_range(t, "--positions bins")
    return list(range(a, b))


def parse_method_options(items) -> dict:
    """``["n_samples=16", "noise=0.1"]`` -> dict with numbers/booleans parsed as JSON."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"--method-option must be NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        k = k.strip()
        if not k.isidentifier():
            raise InputError(f"--method-option name {k!r} is not a valid option name")
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def out_path(text: str, what: str = "--out") -> Path:
    p = Path(text)
    if p.exists() and p.is_dir():
        raise InputError(f"{what} {p} is a directory: give a file name")
    if not p.parent.exists():
        raise InputError(f"{what} directory does not exist: {p.parent}")
    return p


# --------------------------------------------------------------------------------------
# argument groups


def add_model_options(p) -> None:
    m = p.add_argument_group("model (either --model or --params with --weights)")
    m.add_argument("--model", metavar="DIR", help="model directory: params.json, targets.txt, *.h5")
    m.add_argument("--params", metavar="JSON", help="params.json of the model")
    m.add_argument("--weights", metavar="H5", help="weights file (.h5)")
    m.add_argument("--head", type=int, default=None, help="model head index (default: the manifest's, else 0)")
    m.add_argument("--targets-file", metavar="TXT", help="targets.txt to use instead of the model directory's")
    m.add_argument("--replicate", type=int, default=0, metavar="N",
                   help="weights file of a model directory with several (default 0)")
    add_precision_options(m)


def add_precision_options(group) -> None:
    """--precision, --random-weights and --seed (every command that loads a model)."""
    from ..model.precision import PRECISIONS

    group.add_argument("--precision", default="float32", metavar="P",
                       help=f"numeric precision: {' or '.join(PRECISIONS)} (bf16 compute, float32 weights and "
                            "outputs; default float32)")
    group.add_argument("--random-weights", action="store_true",
                       help="seeded random weights instead of a weights file (untrained control, benchmarks)")
    group.add_argument("--seed", type=int, default=None, metavar="N",
                       help="seed of --random-weights (default 0; the same seed gives the same weights)")


def model_source(args):
    from ..batch.jobs import ModelSource

    return ModelSource(model_dir=args.model, params=args.params, weights=args.weights, head=args.head,
                       targets=args.targets_file, replicate=args.replicate, precision=args.precision,
                       random_weights=args.random_weights, seed=args.seed).check()


def add_sequence_inputs(p, genes: bool = True) -> None:
    i = p.add_argument_group("inputs (one of --fasta, --bed, --gtf; --bed and --gtf need --genome)")
    i.add_argument("--fasta", metavar="FA", help="FASTA of sequences (.gz accepted)")
    i.add_argument("--bed", metavar="BED", help="BED of regions: chrom, start, end[, name, score, strand]")
    if genes:
        i.add_argument("--gtf", metavar="GTF", help="gene annotation (GTF/GFF3): windows centred on TSSs")
        i.add_argument("--genes", metavar="NAMES", help="comma-separated gene names or ids (with --gtf)")
        i.add_argument("--all-genes", action="store_true", help="every gene of --gtf")
    i.add_argument("--genome", metavar="FA", help="indexed genome FASTA (default: the model directory's)")
    i.add_argument("--fit", choices=("crop", "tile"), default="crop",
                   help="sequences longer than the model: centre window (crop, default) or tiles (tile)")


def add_ensemble_options(p, targets_help: str = "target indexes, e.g. 0,1 or 0-3 (default all)") -> None:
    e = p.add_argument_group("targets and ensemble")
    e.add_argument("--targets", metavar="LIST", help=targets_help)
    e.add_argument("--rc", action="store_true", help="average forward and reverse-complement members")
    e.add_argument("--shifts", default="0", metavar="LIST", help="comma-separated shifts in bp, e.g. -1,0,1")
    e.add_argument("--mc", type=int, default=0, metavar="N", help="MC-dropout samples per member (default 0)")
    e.add_argument("--mc-seed", type=int, default=0, metavar="S", help="seed of the MC-dropout samples")
    e.add_argument("--n-value", type=float, default=0.0, choices=(0.0, 0.25),
                   help="one-hot value of N: 0 (Baskerville, default) or 0.25 (TF1 Basenji)")


def add_job_options(p, chunk_size: int = 16) -> None:
    j = p.add_argument_group("job")
    j.add_argument("--out", required=True, metavar="H5", help="output HDF5 (written as OUT.partial until done)")
    j.add_argument("--batch-size", type=int, default=4, metavar="N", help="sequences per model batch (default 4)")
    j.add_argument("--chunk-size", type=int, default=chunk_size, metavar="N",
                   help=f"rows per resumable chunk (default {chunk_size})")
    j.add_argument("--resume", action="store_true",
                   help="continue an interrupted run with the same options (skips finished chunks)")
    j.add_argument("--float32", action="store_true", help="store arrays as float32 instead of float16")
    j.add_argument("--quiet", action="store_true", help="no progress bar or summary on stderr")
    x = p.add_argument_group("executor")
    x.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local (this process, default) or ray (actors; pip install -r requirements-ray.txt)")
    x.add_argument("--address", metavar="ADDR", help="existing Ray cluster (e.g. auto); default: start a local one")
    x.add_argument("--num-actors", type=int, default=2, metavar="N", help="Ray actors (default 2)")


def add_store_options(p) -> None:
    s = p.add_argument_group("result store")
    s.add_argument("--store", metavar="DIR",
                   help="content-addressed result store shared with the dashboard: reuse and save per-sequence results")
    s.add_argument("--store-max-gb", type=float, default=1.0, metavar="GB", help="store size bound (default 1)")


def check_job_args(args) -> None:
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.chunk_size < 1:
        raise InputError(f"--chunk-size must be at least 1, got {args.chunk_size}")
    if getattr(args, "mc", 0) < 0:
        raise InputError(f"--mc must be 0 or more, got {args.mc}")
    if args.num_actors < 1:
        raise InputError(f"--num-actors must be at least 1, got {args.num_actors}")
    if args.executor == "local" and args.address:
        raise InputError("--address needs --executor ray")


def open_store(args):
    if not getattr(args, "store", None):
        return None
    if args.store_max_gb <= 0:
        raise InputError(f"--store-max-gb must be positive, got {args.store_max_gb}")
    from ..batch.store import ResultStore

    return ResultStore(args.store, max_bytes=int(args.store_max_gb * (1 << 30)))


def open_executor(args, source, quiet: bool = False):
    """Load the model into this process (local) or into Ray actors."""
    from ..batch.jobs import make_executor
    from . import import_tensorflow_quietly

    if args.executor == "local":
        import_tensorflow_quietly()
    elif not quiet:
        print(f"starting {args.num_actors} Ray actor(s)...", file=sys.stderr)
    return make_executor(args.executor, source, num_actors=args.num_actors, address=args.address)


def start_job(args, targets, with_store: bool = True):
    """Load the model (locally or into Ray actors) for a scoring command.

    Returns (executor, store or None, model info, checked target indexes); the executor
    is closed again when a check fails. The caller closes it when the job ends.
    """
    source = model_source(args)
    store = open_store(args) if with_store else None
    executor = open_executor(args, source, quiet=args.quiet)
    try:
        info = executor.info
        tidx = info.check_targets(targets)
        if getattr(args, "mc", 0) and not info.has_dropout:
            raise InputError("MC dropout needs dropout layers, and this model has none: drop --mc")
    except BaseException:
        executor.close()
        raise
    return executor, store, info, tidx


def request(args, targets=None, sequence: str = ""):
    """The engine session's :class:`~seqnn_engine.session.Request` of the ensemble options
    (``--rc``, ``--shifts``, ``--mc``, ``--mc-seed``, ``--n-value``) and ``targets``."""
    from ..session import Ensemble, Request

    ens = Ensemble(rc=bool(args.rc), shifts=tuple(parse_shifts(args.shifts)), mc_n=int(getattr(args, "mc", 0)),
                   n_value=float(args.n_value), mc_seed=int(getattr(args, "mc_seed", 0)))
    return Request(sequence, ens, () if targets is None else tuple(int(t) for t in targets))


def float_dtype(args):
    return np.float32 if args.float32 else np.float16


class Progress:
    """tqdm bar on stderr fed by ``(done, total)`` calls; silent with ``quiet``."""

    def __init__(self, desc: str, unit: str = "seq", quiet: bool = False):
        self.desc, self.unit, self.quiet = desc, unit, quiet
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, unit=self.unit, desc=self.desc, file=sys.stderr,
                            dynamic_ncols=True)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
