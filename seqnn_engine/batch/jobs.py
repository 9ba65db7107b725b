"""Chunked batch jobs: where the model comes from, who computes (executors), and the runner.

A job is a list of *rows* (one model window each, or a REF/ALT pair for variants) written to
a :class:`~seqnn_engine.io.export.ScoresWriter` in chunks of ``chunk_size`` rows. The runner
asks the writer which chunks are still missing (so ``resume`` skips finished chunks), sends
each missing chunk as a :class:`Task` to an executor, and writes the results back in chunk
order. Every executor computes a task with the same function (:func:`compute`) on the same
rows in the same batches, so the output does not depend on the executor.

Executors:

* :class:`LocalExecutor`: this process, one model.
* :class:`RayExecutor`: ``num_actors`` Ray actors, each loading the model once from a
  :class:`ModelSource` (paths, so the model is never pickled); a local cluster by default
  (``ray.init``) or an existing one (``address``). Ray is optional: without it
  :func:`make_executor` raises InputError saying how to install it.

With a :class:`~seqnn_engine.batch.store.ResultStore`, rows of ``predict`` and ``attribute`` jobs
are first looked up under their :mod:`~seqnn_engine.batch.cache_keys` key; only the misses are
computed, and computed rows are put in the store (by the driver, so the store needs no
shared file system).

Testing hook: when the environment variable ``SEQNN_ENGINE_TEST_KILL_AFTER_CHUNKS`` is N,
the process kills itself with SIGKILL right after writing its N-th chunk (to test resume
after a hard crash).
"""
from __future__ import annotations

import os
import signal
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence

import numpy as np

from ..errors import InputError

__all__ = [
    "ModelSource", "ModelInfo", "Task", "compute", "predict_windows", "attribute_windows",
    "LocalExecutor", "RayExecutor", "make_executor", "JobReport", "run_job", "RAY_INSTALL_HINT",
]

KILL_ENV = "SEQNN_ENGINE_TEST_KILL_AFTER_CHUNKS"
RAY_INSTALL_HINT = ("--executor ray needs the optional Ray package: "
                    "pip install -r requirements-ray.txt (or pip install 'ray>=2.50,<3')")


# ======================================================================================
# the model: where it comes from, and what the driver needs to know about it


@dataclass(frozen=True)
class ModelSource:
    """How to load a model: a model directory, or a params.json with a weights file.

    model_dir: directory (params.json, targets.txt, *.h5, optional manifest.json).
    params, weights: files, when there is no model directory.
    head: head index (None: the manifest's head, else 0).
    targets: targets.txt to use instead of the directory's (strand pairs, labels).
    replicate: which weights file of a directory with several.
    precision: 'float32' | 'bfloat16'. random_weights: seeded random weights (``seed``,
    default 0) instead of a weights file (then no weights file is needed).
    """

    model_dir: Optional[str] = None
    params: Optional[str] = None
    weights: Optional[str] = None
    head: Optional[int] = None
    targets: Optional[str] = None
    replicate: int = 0
    precision: str = "float32"
    random_weights: bool = False
    seed: Optional[int] = None

    def check(self) -> "ModelSource":
        """InputError unless exactly one way to find the model is given and its files exist."""
        from ..model.precision import check_precision

        check_precision(self.precision)
        if self.seed is not None and not self.random_weights:
            raise InputError("--seed is the seed of random weights: add --random-weights")
        if self.random_weights and self.weights:
            raise InputError("give either --weights or --random-weights, not both")
        if self.model_dir:
            if self.params or self.weights:
                raise InputError("give either --model DIR or --params with --weights, not both")
            if not Path(self.model_dir).is_dir():
                raise InputError(f"model directory not found: {self.model_dir}")
        else:
            if not self.params or not (self.weights or self.random_weights):
                raise InputError("give the model as --model DIR, or as --params params.json with --weights model.h5 "
                                 "(or --random-weights)")
            for flag, f in (("--params", self.params), ("--weights", self.weights)):
                if f and not Path(f).is_file():
                    raise InputError(f"{flag} file not found: {f}")
        if self.targets and not Path(self.targets).is_file():
            raise InputError(f"--targets-file not found: {self.targets}")
        if self.replicate < 0:
            raise InputError(f"--replicate must be 0 or more, got {self.replicate}")
        return self

    def load(self):
        """The :class:`~seqnn_engine.model.SeqModel` (imports TensorFlow)."""
        self.check()
        from ..model import load_model

        if self.model_dir:
            from ..model.modeldir import load_model_dir
            return load_model_dir(self.model_dir, replicate=self.replicate, head=self.head,
                                  precision=self.precision, random_weights=self.random_weights, seed=self.seed,
                                  targets=self.targets)
        seed = (0 if self.seed is None else self.seed) if self.random_weights else None
        return load_model(self.params, None if self.random_weights else self.weights,
                          head=0 if self.head is None else self.head, targets_path=self.targets,
                          precision=self.precision, seed=seed)


@dataclass(frozen=True)
class ModelInfo:
    """What the driver needs about a model without holding it (geometry, identity, targets).

    Has the attributes :mod:`~seqnn_engine.batch.cache_keys` reads (``digest``, ``strand_pair``).
    """

    name: str
    digest: str
    seq_length: int
    stride: int
    crop: int
    target_length: int
    num_targets: int
    strand_pair: Optional[tuple] = None
    has_dropout: bool = False
    targets: Any = None  # TargetTable or None
    genome: Optional[str] = None  # the model directory's genome FASTA, when it names one
    genes: Optional[str] = None   # the model directory's GTF, when it names one

    @classmethod
    def from_model(cls, model) -> "ModelInfo":
        sp = getattr(model, "strand_pair", None)
        md = getattr(model, "model_dir", None)
        return cls(
            name=str(getattr(model, "name", "")), digest=str(getattr(model, "digest", "")),
            seq_length=int(model.seq_length), stride=int(model.stride), crop=int(model.crop),
            target_length=int(model.target_length), num_targets=int(model.num_targets),
            strand_pair=None if sp is None else tuple(int(v) for v in np.asarray(sp).reshape(-1)),
            has_dropout=bool(getattr(model, "has_dropout", False)), targets=getattr(model, "targets", None),
            genome=str(md.genome) if md is not None and md.genome else None,
            genes=str(md.genes) if md is not None and md.genes else None,
        )

    @property
    def geometry(self):
        """The output-bin geometry (:class:`~seqnn_engine.model.geometry.BinGeometry`)."""
        from ..model.geometry import BinGeometry
        return BinGeometry(self.seq_length, self.stride, self.crop, self.target_length)

    def check_targets(self, targets) -> np.ndarray:
        """Target indexes (None = all) checked against the head: (T',) int64."""
        if targets is None:
            return np.arange(self.num_targets, dtype=np.int64)
        t = np.asarray(list(targets), dtype=np.int64)
        bad = t[(t < 0) | (t >= self.num_targets)]
        if t.size == 0:
            raise InputError("--targets selects no target")
        if bad.size:
            raise InputError(f"target index {int(bad[0])} out of range: this head has {self.num_targets} "
                             f"targets (0..{self.num_targets - 1})")
        return t


# ======================================================================================
# work: what one chunk computes


@dataclass(frozen=True)
class Task:
    """One chunk of work.

    kind: "predict", "attribute" or "variants".
    inputs: window strings (predict, attribute) or (REF window, ALT window) pairs (variants).
    options: the operation's options (see the work functions).
    """

    kind: str
    inputs: tuple
    options: Mapping[str, Any] = field(default_factory=dict)


def predict_windows(model, seqs: Sequence[str], options: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Ensemble predictions of windows -> ``{"preds": (S, P, T') float32}``, computed by
    :meth:`seqnn_engine.session.Session.predict_windows` (what every surface predicts with).

    options: rc, shifts, mc_n, mc_seed, targets (indexes or None), n_value, batch_size.
    """
    from ..session import Request, Session

    req = Request.from_options(options)
    return {"preds": Session(model=model).predict_windows(seqs, req, batch_size=int(options.get("batch_size", 4)))}


def attribute_windows(model, seqs: Sequence[str], options: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Input attributions of windows through :meth:`seqnn_engine.session.Session.attribute_windows`.

    Returns ``scores`` (S, L, 4), ``grads`` (S, L, 4) (the hypothetical scores) and
    ``objective`` (S,), float32. options: method, targets, positions, statistic,
    mean_center, rc, shifts, mc_n, mc_seed, window (ISM), n_value, batch_size, ism_engine, and any
    further method option (passed through). Batch jobs store scores only, without the extra
    diagnostic passes.
    """
    from ..session import Request, Session

    req = Request.from_options(options)
    a = Session(model=model).attribute_windows(seqs, req, batch_size=int(options.get("batch_size", 4)),
                                               ism_engine=str(options.get("ism_engine", "auto")))
    scores = np.asarray(a.scores, dtype=np.float32)
    return {"scores": scores, "grads": np.asarray(a.hypothetical, dtype=np.float32),
            "objective": np.asarray(a.objective, dtype=np.float32).reshape(scores.shape[0])}


def attribute_rows(model, rows: Sequence, options: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Attributions of windows that each bring their own objective: rows are (window, bins,
    targets) triples (gene objectives: a gene's exon or TSS bins and its strand-matched
    targets). Same outputs as :func:`attribute_windows`, one row per input."""
    from ..session import Request, Session

    ses, req = Session(model=model), Request.from_options(options)
    outs = [ses.attribute_windows([seq], req.with_(positions=tuple(bins), targets=tuple(targets)),
                                  batch_size=int(options.get("batch_size", 4)),
                                  ism_engine=str(options.get("ism_engine", "auto")))
            for seq, bins, targets in rows]
    return {"scores": np.concatenate([np.asarray(a.scores, np.float32) for a in outs]),
            "grads": np.concatenate([np.asarray(a.hypothetical, np.float32) for a in outs]),
            "objective": np.concatenate([np.asarray(a.objective, np.float32).reshape(1) for a in outs])}


def _variant_work(model, pairs, options):
    from ..analysis.variants import score_windows
    return score_windows(model, [p[0] for p in pairs], [p[1] for p in pairs], options)


#: arrays each kind returns per row (what the result store keeps for predict and attribute)
RESULT_NAMES: dict[str, tuple[str, ...]] = {
    "predict": ("preds",),
    "attribute": ("scores", "grads", "objective"),
}

WORK: dict[str, Callable] = {
    "predict": predict_windows,
    "attribute": attribute_windows,
    "attribute_rows": attribute_rows,
    "variants": _variant_work,
}


def compute(model, task: Task) -> dict[str, np.ndarray]:
    """Run one task on a loaded model; every array has one row per input."""
    if task.kind not in WORK:
        raise InputError(f"unknown job kind {task.kind!r}; choose from {', '.join(WORK)}")
    out = WORK[task.kind](model, task.inputs, task.options)
    n = len(task.inputs)
    for k, v in out.items():
        if np.asarray(v).shape[:1] != (n,):
            raise RuntimeError(f"{task.kind} returned {k!r} with {np.asarray(v).shape[:1]} rows for {n} inputs")
    return out


# ======================================================================================
# executors


class LocalExecutor:
    """Compute tasks in this process with one model (a loaded model, or a ModelSource)."""

    def __init__(self, model=None, source: ModelSource | None = None):
        if model is None:
            if source is None:
                raise InputError("LocalExecutor needs a model or a ModelSource")
            model = source.load()
        self.model = model
        self.info = ModelInfo.from_model(model)

    def map(self, items: Iterable[tuple[Any, Optional[Task]]]) -> Iterator[tuple[Any, Optional[dict]]]:
        """Yield ``(ctx, compute(task))`` in input order (None for a None task)."""
        for ctx, task in items:
            yield ctx, (None if task is None else compute(self.model, task))

    def close(self) -> None:
        pass


def _import_ray():
    try:
        import ray  # noqa: WPS433 (optional dependency)
    except ImportError:
        raise InputError(RAY_INSTALL_HINT) from None
    return ray


class _ChunkWorker:
    """Body of the Ray actor: loads the model once, then computes tasks."""

    def __init__(self, source: ModelSource, env: Mapping[str, str] | None = None):
        for k, v in (env or {}).items():
            os.environ.setdefault(k, v)
        self.model = source.load()

    def info(self) -> ModelInfo:
        return ModelInfo.from_model(self.model)

    def compute(self, task: Task) -> dict:
        return compute(self.model, task)


class RayExecutor:
    """Compute tasks on ``num_actors`` Ray actors that each load the model once.

    address: an existing cluster ("auto" or "ray://host:10001"); None starts a local one
    with ``num_cpus=max(num_actors, 1)`` CPUs. Tasks are sent to free actors with at
    most ``2 * num_actors`` in flight; results come back in task order.
    In a Ray session the caller started (``ray.init`` before this), the actors stay alive
    after :meth:`close` and serve the next executor on the same, unchanged model files.
    The actors must be able to import ``seqnn_engine``: on a local cluster this
    repository is put on their PYTHONPATH; on a remote cluster install the package there
    and make the model files readable at the same paths.
    """

    def __init__(self, source: ModelSource, num_actors: int = 2, address: str | None = None,
                 cpus_per_actor: float = 1.0):
        ray = _import_ray()
        from ray.util import ActorPool

        source.check()
        if int(num_actors) < 1:
            raise InputError(f"--num-actors must be at least 1, got {num_actors}")
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            repo = str(Path(__file__).resolve().parent.parent)
            pythonpath = os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH", "")) if p)
            kw: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False,
                                      configure_logging=True, logging_level="ERROR")
            if address:
                kw["address"] = address
            else:
                kw["num_cpus"] = max(int(num_actors * cpus_per_actor + 0.999), 1)
                kw["runtime_env"] = {"env_vars": {"PYTHONPATH": pythonpath}}
            try:
                ray.init(**kw)
            except (ConnectionError, RuntimeError, ValueError) as e:
                where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
                raise InputError(f"could not start or join {where}: {' '.join(str(e).split())[:300]}") from None
            self._started = True
        # in a Ray session the caller started, actors outlive this executor and serve the next
        # job on the same model files (they have loaded the model already)
        self._owned = self._started
        key = None if self._started else _actor_key(ray, source, cpus_per_actor)
        cached = _ACTORS.get(key, []) if key is not None else []
        self.actors = list(cached[:int(num_actors)])
        env = {"TF_CPP_MIN_LOG_LEVEL": "3"}
        actor_cls = ray.remote(num_cpus=cpus_per_actor)(_ChunkWorker)
        self.actors += [actor_cls.remote(source, env) for _ in range(int(num_actors) - len(self.actors))]
        try:
            infos = ray.get([a.info.remote() for a in self.actors])  # every actor has loaded the model
        except ray.exceptions.RayActorError as e:
            if key is not None:
                _ACTORS.pop(key, None)
            self._owned = True
            self.close()
            raise InputError(f"a Ray actor could not load the model: {_actor_error(e)}") from None
        self.info = infos[0]
        if key is not None and len(self.actors) > len(cached):
            _ACTORS[key] = list(self.actors)
        self._pool = ActorPool(self.actors)
        self._max_in_flight = 2 * len(self.actors)

    def map(self, items: Iterable[tuple[Any, Optional[Task]]]) -> Iterator[tuple[Any, Optional[dict]]]:
        """Yield ``(ctx, result)`` in input order while actors work ahead."""
        queue: deque = deque()
        in_flight = 0

        def pop():
            nonlocal in_flight
            ctx, submitted = queue.popleft()
            if not submitted:
                return ctx, None
            in_flight -= 1
            try:
                return ctx, self._pool.get_next()
            except self._ray.exceptions.RayTaskError as e:
                cause = e.as_instanceof_cause() if hasattr(e, "as_instanceof_cause") else e
                if isinstance(cause, InputError):
                    raise InputError(_actor_error(e)) from None
                raise

        for ctx, task in items:
            if task is not None:
                while in_flight >= self._max_in_flight:
                    yield pop()
                self._pool.submit(lambda actor, t: actor.compute.remote(t), task)
                in_flight += 1
            queue.append((ctx, task is not None))
            while queue and not queue[0][1]:
                yield pop()
        while queue:
            yield pop()

    def close(self) -> None:
        if getattr(self, "_owned", True):
            for a in getattr(self, "actors", []):
                try:
                    self._ray.kill(a)
                except Exception:  # noqa: BLE001 - best effort cleanup
                    pass
        self.actors = []
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
            self._started = False


#: actors kept for reuse in a Ray session started by the caller: key -> actor handles
_ACTORS: dict[tuple, list] = {}


def _actor_key(ray, source: ModelSource, cpus_per_actor: float) -> tuple:
    """Ray job + model source + the model files' sizes and times (new weights -> new actors)."""
    paths = []
    for p in (source.model_dir, source.params, source.weights, source.targets):
        if not p:
            continue
        p = Path(p)
        paths += sorted(p.iterdir()) if p.is_dir() else [p]
    stats = []
    for p in paths:
        try:
            st = p.stat()
            stats.append((str(p), st.st_size, st.st_mtime_ns))
        except OSError:
            continue
    job = ray.get_runtime_context().get_job_id()
    return (job, source, float(cpus_per_actor), tuple(stats))


def _actor_error(e: BaseException) -> str:
    text = " ".join(str(e).split())
    marker = "InputError:"
    if marker in text:
        return text[text.rindex(marker) + len(marker):].strip()[:300]
    return text[-300:]


def make_executor(kind: str, source: ModelSource, *, num_actors: int = 2, address: str | None = None,
                  model=None):
    """``"local"`` -> :class:`LocalExecutor`; ``"ray"`` -> :class:`RayExecutor`."""
    if kind == "local":
        return LocalExecutor(model=model, source=source)
    if kind == "ray":
        return RayExecutor(source, num_actors=num_actors, address=address)
    raise InputError(f"--executor must be 'local' or 'ray', got {kind!r}")


# ======================================================================================
# the runner


@dataclass(frozen=True)
class JobReport:
    """What :func:`run_job` did.

    rows: rows in the job. chunks: chunks in the job. chunks_before: chunks already done
    (resumed). chunks_written: chunks written by this call. rows_computed: rows computed
    by the executor. store_hits: rows taken from the result store.
    """

    rows: int
    chunks: int
    chunks_before: int
    chunks_written: int
    rows_computed: int
    store_hits: int


def _kill_after() -> int | None:
    v = os.environ.get(KILL_ENV)
    return int(v) if v and v.strip().isdigit() else None


def run_job(executor, writer, rows: Sequence, kind: str, options: Mapping[str, Any], *,
            finalize: Callable[[int, int, dict], dict] | None = None,
            store=None, store_key: Callable[[Any], str] | None = None,
            progress: Callable[[int, int], None] | None = None) -> JobReport:
    """Compute every chunk the writer still misses and write it.

    rows: per-row inputs (``len(rows) == writer.n_total``).
    finalize(i0, i1, result) -> the arrays the writer expects for rows ``[i0, i1)``
        (e.g. adds ``seqs``, derives gene values); default: the result itself.
    store, store_key: with a ResultStore, ``store_key(row)`` names each row's entry;
        hits are reused and misses are put after they are computed.
    progress(rows_done, rows_total): called once at the start and after each chunk.
    Leaves the writer open (call ``writer.finish()``).
    """
    if len(rows) != writer.n_total:
        raise ValueError(f"{len(rows)} rows for a writer of {writer.n_total}")
    pending = writer.pending_chunks()
    chunks_before = writer.n_done
    done_rows = writer.n_total - sum(i1 - i0 for i0, i1 in pending)
    if progress is not None:
        progress(done_rows, writer.n_total)
    stats = {"computed": 0, "hits": 0, "written": 0}
    kill_after = _kill_after()
    wanted = RESULT_NAMES.get(kind, ())
    if store is not None and not wanted:
        raise InputError(f"the result store keeps predict and attribute results, not {kind}")

    def items():
        for i0, i1 in pending:
            inputs = list(rows[i0:i1])
            keys: list[str | None] = [None] * len(inputs)
            hits: dict[int, dict] = {}
            if store is not None and store_key is not None:
                for j, r in enumerate(inputs):
                    keys[j] = store_key(r)
                    entry = store.get(keys[j])
                    if entry is not None and all(name in entry for name in wanted):
                        hits[j] = {name: entry[name] for name in wanted}
            miss = [j for j in range(len(inputs)) if j not in hits]
            task = Task(kind, tuple(inputs[j] for j in miss), dict(options)) if miss else None
            yield (i0, i1, keys, hits, miss), task

    for (i0, i1, keys, hits, miss), result in executor.map(items()):
        n = i1 - i0
        merged: dict[str, np.ndarray] = {}
        names = list(result) if result is not None else list(wanted)
        for name in names:
            proto = result[name][0] if result is not None else hits[next(iter(hits))][name]
            proto = np.asarray(proto)
            arr = np.empty((n, *proto.shape), dtype=proto.dtype)
            for j, h in hits.items():
                arr[j] = h[name]
            if result is not None:
                arr[miss] = result[name]
            merged[name] = arr
        if store is not None and store_key is not None and result is not None:
            for pos, j in enumerate(miss):
                store.put(keys[j], {name: np.asarray(result[name][pos]) for name in result},
                          {"kind": kind})
        arrays = finalize(i0, i1, merged) if finalize is not None else merged
        writer.write_chunk(i0, arrays)
        stats["computed"] += len(miss)
        stats["hits"] += len(hits)
        stats["written"] += 1
        done_rows += n
        if progress is not None:
            progress(done_rows, writer.n_total)
        if kill_after is not None and stats["written"] >= kill_after:
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    return JobReport(rows=writer.n_total, chunks=writer.n_chunks, chunks_before=chunks_before,
                     chunks_written=stats["written"], rows_computed=stats["computed"],
                     store_hits=stats["hits"])
