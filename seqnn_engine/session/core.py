"""The :class:`Session` and its :class:`Job` (a request's key, cached result and runner; the variant requests are in :mod:`.variants`): one model (lazily loaded), its genome and genes, the result cache and the
defaults; every surface's computation and store key goes through it (see :mod:`seqnn_engine.session`)."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from ..batch import cache_keys
from ..batch.result_cache import Result, ResultCache
from ..errors import InputError
from .options import (ALL_TARGETS_LIMIT, EVAL_METRICS, TARGET_BLOCK, TSS_RADIUS,
                      Ensemble, Progress, Request)
from .results import Attribution, GeneValues, LayerGradients, Prediction, onehot
from .motifs import MotifJobs
from .variants import VariantJobs


@dataclass
class Job:
    """A request bound to a session: its store ``key``, its cached result (``cached()``, no
    computation), ``run(progress)`` (cached or computed, in the caller's thread) and
    ``submit(label)`` (computed by the process's work queue, admitted by the memory model).

    estimate: a callable giving the request's estimated peak bytes (the memory model's plan;
    it raises InputError when the request cannot fit the limit at all), or None for the model's
    weights as a floor.
    """

    key: str
    _peek: Callable
    _run: Callable
    members: int = 1
    estimate: Optional[Callable[[], int]] = None
    kind: str = ""
    model: object = None

    def cached(self):
        return self._peek()

    def run(self, progress: Progress = None):
        return self._run(progress)

    def estimate_bytes(self) -> int:
        """The request's estimated peak (bytes) before it starts."""
        if self.estimate is not None:
            return int(self.estimate())
        if self.model is not None:
            from ..memory import weights_bytes
            return int(weights_bytes(self.model))
        return 0

    def queued(self) -> bool:
        """Whether the dashboard should queue this job: its estimate is above
        :func:`seqnn_engine.batch.queue.queue_above_bytes` (``SEQNN_QUEUE_ABOVE_MB``, default 512)."""
        from ..batch.queue import queue_above_bytes
        return self.estimate_bytes() > queue_above_bytes()

    def submit(self, label: str, queue=None):
        """Queue the computation (``queue`` default :func:`seqnn_engine.batch.queue.default_queue`):
        a :class:`~seqnn_engine.batch.queue.Ticket` with position, time estimate, progress and cancel.
        The same key already queued or running gives its ticket (one computation for every session)."""
        from ..batch.queue import default_queue
        q = queue or default_queue()

        def work(progress):
            return self._run(lambda done, total: progress(done / total if total else 0.0, f"{done:,} / {total:,}"))

        return q.submit(work, estimate_bytes=self.estimate_bytes(), label=label, kind=self.kind or label,
                        key=self.key)


# ======================================================================================
# the session


class Session(VariantJobs, MotifJobs):
    """Model, genome, genes, result cache and defaults behind every surface.

    model_dir: a model directory (params.json, targets.txt, *.h5[, manifest.json]); or source:
    a :class:`~seqnn_engine.batch.jobs.ModelSource`; or model: an already loaded SeqModel. replicate,
    precision: which weights and numeric precision. store: a ResultStore, a folder, or None (memory
    only). memory_bytes: bound of the memory cache. allowed_roots: model directories must lie
    under these folders (the dashboard's roots). The model loads on first use (thread-safe).
    """

    def __init__(self, model_dir=None, *, replicate: int = 0, precision: str = "float32", source=None,
                 model=None, store=None, memory_bytes: int = 256 << 20, allowed_roots=None,
                 genome=None, genes=None):
        self.model_dir = None if model_dir is None else str(model_dir)
        self.replicate, self.precision = int(replicate), str(precision)
        self.source = source
        self.allowed_roots = allowed_roots
        self._model = model
        self._genome_path, self._genes_path = genome, genes
        self._genome = self._genes = None
        self._lock = threading.RLock()
        if isinstance(store, (str, Path)):
            from ..batch.store import ResultStore
            store = ResultStore(store)
        self.cache = ResultCache(max_bytes=memory_bytes, store=store)

    # ------------------------------------------------------------------ resources
    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def model(self):
        """The SeqModel (loaded on first use)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        if self.source is not None:
            return self.source.load()
        if self.model_dir is None:
            raise InputError("a session needs a model directory, a ModelSource or a loaded model")
        from ..model.modeldir import load_model_dir, read_model_dir
        if self.allowed_roots is not None:
            read_model_dir(self.model_dir, allowed_roots=self.allowed_roots)
        return load_model_dir(self.model_dir, replicate=self.replicate, precision=self.precision)

    def warm_up(self, max_bytes: Optional[int] = None) -> bool:
        """Trace the default prediction and saliency functions on an all-N window (results unused).

        Only for a light model: when the memory estimate of one such prediction or saliency map
        is above ``max_bytes`` (default :func:`seqnn_engine.batch.queue.queue_above_bytes`, the
        dashboard's queue threshold) nothing runs, since a heavy model's first requests go
        through the work queue (admitted by memory, with progress) and their tracing is a small
        part of their time: a full-width Borzoi warm-up would be minutes of unqueued work.
        Returns whether it ran.
        """
        from .. import memory
        m = self.model
        if max_bytes is None:
            from ..batch.queue import queue_above_bytes
            max_bytes = queue_above_bytes()
        try:
            need = max(memory.predict_plan(m, 1, 1, batch_size=1).peak_bytes,
                       memory.attribution_plan(m, "saliency", 1, batch_size=1, n_targets=1).peak_bytes)
        except InputError:
            return False        # beyond the memory limit: the request says so when it is made
        if need > int(max_bytes):
            return False
        x = np.zeros((1, m.seq_length, 4), np.float32)
        try:
            m.predict(x)
            m.attribute(x, method="saliency", targets=[0])
        except Exception:  # warm-up is an optimisation only
            return False
        return True

    @property
    def geometry(self):
        return self.model.geometry

    def _md_path(self, which: str):
        given = self._genome_path if which == "genome" else self._genes_path
        if given is not None:
            return str(given)
        md = getattr(self.model, "model_dir", None)
        p = None if md is None else getattr(md, which)
        return None if p is None else str(p)

    @property
    def has_genome(self) -> bool:
        return self._md_path("genome") is not None

    @property
    def has_genes(self) -> bool:
        return self._md_path("genes") is not None

    @property
    def genome(self):
        """The model directory's genome (seqnn_engine.genomics.genome.Genome), or None."""
        if self._genome is None and self.has_genome:
            with self._lock:
                if self._genome is None:
                    from ..genomics.genome import Genome
                    self._genome = Genome(self._md_path("genome"))
        return self._genome

    @property
    def genes(self):
        """The model directory's genes (GeneSet, or TabixGenes for an indexed annotation), or None."""
        if self._genes is None and self.has_genes:
            with self._lock:
                if self._genes is None:
                    from ..genomics.gene_index import open_genes
                    self._genes = open_genes(self._md_path("genes"))
        return self._genes

    def gene_list(self) -> tuple:
        """Every gene of the annotation (Gene objects, or name-index rows of an indexed annotation)."""
        g = self.genes
        if g is None:
            return ()
        return tuple(g.entries) if hasattr(g, "entries") and not hasattr(g, "genes") else tuple(g.genes)

    @staticmethod
    def model_dirs(roots) -> list:
        """Model directories under ``roots``: (display name, absolute path str, number of weight files)."""
        from ..model.modeldir import find_model_dirs
        return [(md.name, str(md.path), len(md.weights)) for md in find_model_dirs([Path(r) for r in roots])]

    def target_catalog(self):
        """The model's :class:`~seqnn_engine.model.target_catalog.TargetCatalog` (built once)."""
        if getattr(self, "_catalog", None) is None:
            from ..model.target_catalog import TargetCatalog
            self._catalog = TargetCatalog.for_model(self.model)
        return self._catalog

    def target_labels(self) -> tuple[list, list]:
        """(short identifiers, long labels) of every output target."""
        m = self.model
        short = [f"t{i}" for i in range(m.num_targets)]
        long = list(short)
        tt = m.targets
        if tt is not None:
            for r, idx in enumerate(tt.index):
                i = int(idx)
                if 0 <= i < m.num_targets:
                    short[i] = tt.identifier[r]
                    d = tt.description[r]
                    long[i] = f"{tt.identifier[r]} - {d}" if d else tt.identifier[r]
        return short, long

    # ------------------------------------------------------------------ inputs
    @staticmethod
    def parse_fasta(data, name: str | None = None) -> list:
        """FASTA records of an upload (bytes, gzip allowed, ``name`` = the file name) or pasted text."""
        from ..genomics.sequences import parse_fasta
        return parse_fasta(data, bare_name=name) if name is not None else parse_fasta(data)

    def gene_input(self, gene, centre: str = "tss"):
        """The window of ``gene`` (a Gene, or a name/id) centred on its primary TSS (``centre``
        'tss') or on its body ('body')."""
        from ..genomics.windows import gene_input
        if self.genome is None or self.genes is None:
            raise InputError("this model directory names no genome and genes: use a FASTA input")
        g = self.genes.get(gene) if isinstance(gene, str) else gene
        return gene_input(self.genome, self.genes, g, self.geometry, centre)

    def gene_objective(self, inp, objective: str, targets) -> tuple:
        """(bins, targets) of a gene objective ('exons' | 'tss') on a gene input: the gene's exon or
        TSS bins and the chosen targets read on the gene's strand (the CLI's ``--objective``)."""
        from ..analysis.gene_predict import gene_objective
        if getattr(inp, "gene_window", None) is None:
            raise InputError(f"the {objective} objective needs a gene input: pick a gene")
        bins, tsel = gene_objective(inp.gene_window, objective, targets, self.target_catalog())
        return tuple(int(b) for b in bins), tuple(tsel)

    def interval_input(self, text: str):
        """The window centred on the interval ``chrom:start-end`` (0-based half-open)."""
        from ..genomics.windows import interval_input
        if self.genome is None:
            raise InputError("this model directory names no genome: use a FASTA input")
        return interval_input(self.genome, self.genes, text, self.geometry)

    def fasta_input(self, record):
        """The window of a FASTA record (seqnn_engine.genomics.sequences.FastaRecord)."""
        from ..genomics.windows import fasta_input
        return fasta_input(record, self.geometry)

    # ------------------------------------------------------------------ keys (the only place they are built)
    def predicted_targets(self, targets) -> Optional[list]:
        """Targets a prediction result holds: None (all) for ordinary heads, else the chosen ones."""
        if self.model.num_targets <= ALL_TARGETS_LIMIT:
            return None
        return sorted({int(t) for t in targets})

    def prediction_options(self, req: Request, targets="auto") -> dict:
        t = self.predicted_targets(req.targets) if targets == "auto" else targets
        return {**req.ensemble.options(), "targets": t}

    def prediction_key(self, req: Request, targets="auto") -> str:
        return cache_keys.prediction_key(self.model, req.sequence, self.prediction_options(req, targets))

    def attribution_options(self, req: Request, diagnostics: bool = False) -> dict:
        o = {**req.ensemble.options(), "method": req.method, "targets": req.target_list,
             "positions": req.position_arg, "statistic": req.statistic, "mean_center": bool(req.mean_center),
             "window": None if req.window is None else [int(req.window[0]), int(req.window[1])],
             **dict(req.options)}
        if diagnostics:   # the key of a plain result (the CLI's) stays as it was
            o["diagnostics"] = True
        return o

    def attribution_key(self, req: Request, diagnostics: bool = False) -> str:
        return cache_keys.attribution_key(self.model, req.sequence, self.attribution_options(req, diagnostics))

    def layers_key(self, req: Request, layers) -> str:
        return cache_keys.layer_gradients_key(self.model, req.sequence, {
            **req.ensemble.options(), "layers": [int(i) for i in layers], "targets": req.target_list,
            "positions": req.position_arg})

    # ------------------------------------------------------------------ predictions
    def _run_predict(self, seqs, req: Request, tsel, progress, batch_size: int = 4):
        from ..genomics.onehot import encode_batch
        m, ens = self.model, req.ensemble
        x = encode_batch(list(seqs), n_value=ens.n_value)
        p = m.predict(x, rc=ens.rc, shifts=tuple(ens.shifts), mc_n=ens.mc_n, target_indexes=tsel,
                      return_var=True, return_all=True, progress=progress, batch_size=batch_size,
                      mc_seed=ens.mc_seed)
        var = p.var if p.var is not None else np.zeros_like(p.mean)
        tidx = np.arange(m.num_targets) if tsel is None else np.asarray(tsel)
        return p, np.sqrt(np.maximum(var, 0)).astype(np.float32), tidx.astype(np.int64)

    def predict_windows(self, seqs: Sequence[str], req: Request, batch_size: int = 4, progress: Progress = None):
        """(S, P, T') float32 ensemble means of many windows (the CLI's batch rows; ``req.targets``:
        the targets computed in the given order, () = all). Not cached: the batch runner keys and
        stores rows itself."""
        p, _, _ = self._run_predict(seqs, req, [int(t) for t in req.targets] or None, progress, batch_size)
        return np.asarray(p.mean, np.float32)

    def _complete(self, r, ens: Ensemble) -> bool:
        """A store entry written by the CLI holds only ``preds``; with one member that is complete."""
        return r is not None and ("members" in r or ens.n_members == 1)

    def _with_defaults(self, r, tsel) -> Prediction:
        if "members" in r and "sd" in r and "target_index" in r:
            return Prediction(r.key, r.arrays, r.meta, r.source)
        a = dict(r.arrays)
        p = np.asarray(a["preds"], np.float32)
        a.setdefault("sd", np.zeros_like(p))
        a.setdefault("members", p[..., None])
        a.setdefault("target_index", (np.arange(self.model.num_targets) if tsel is None else np.asarray(tsel))
                     .astype(np.int64))
        for v in a.values():
            v.flags.writeable = False
        return Prediction(r.key, a, {"member_labels": ["fwd+0"], **r.meta}, r.source)

    def _blocks(self, tsel) -> list:
        T = self.model.num_targets
        return [(b * TARGET_BLOCK, min(T, (b + 1) * TARGET_BLOCK)) for b in sorted({int(t) // TARGET_BLOCK
                                                                                   for t in tsel})]

    def _block_hits(self, req, blocks) -> dict:
        out = {}
        for b in blocks:
            r = self.cache.peek(self.prediction_key(req, list(range(*b))))
            if self._complete(r, req.ensemble):
                out[b] = self._with_defaults(r, list(range(*b)))
        return out

    def _assemble(self, req, tsel, parts: dict, source: str) -> Prediction:
        names = ("preds", "sd", "members")
        cols = {n: [] for n in names}
        meta = {}
        for t in tsel:
            b = (t // TARGET_BLOCK * TARGET_BLOCK, min(self.model.num_targets, (t // TARGET_BLOCK + 1) * TARGET_BLOCK))
            r = parts[b]
            meta = r.meta
            for n in names:
                cols[n].append(np.asarray(r[n])[:, t - b[0]])
        arrays = {n: np.stack(v, axis=1) for n, v in cols.items()}
        arrays["target_index"] = np.asarray(tsel, np.int64)
        for a in arrays.values():
            a.flags.writeable = False
        return Prediction(self.prediction_key(req, tsel), arrays, dict(meta), source)

    def _peek_prediction(self, req: Request):
        tsel = self.predicted_targets(req.targets)
        if tsel is not None:
            blocks = self._blocks(tsel)
            parts = self._block_hits(req, blocks)
            if len(parts) < len(blocks):
                return None
            return self._assemble(req, tsel, parts, min(r.source for r in parts.values()))
        hit = self.cache.peek(self.prediction_key(req))
        return self._with_defaults(hit, None) if self._complete(hit, req.ensemble) else None

    def _predict(self, req: Request, progress: Progress = None) -> Prediction:
        hit = self._peek_prediction(req)
        if hit is not None:
            return hit
        complete = lambda r: self._complete(r, req.ensemble)  # noqa: E731
        tsel = self.predicted_targets(req.targets)
        if tsel is None:
            key = self.prediction_key(req)

            def run():
                p, sd, tidx = self._run_predict([req.sequence], req, None, progress)
                return ({"preds": p.mean[0], "sd": sd[0], "members": p.members[0], "target_index": tidx},
                        {"member_labels": list(p.member_labels)})
            # an incomplete entry (the CLI stores only the mean) is recomputed and replaced
            return self._with_defaults(self.cache.get_or_compute(key, run, accept=complete), None)
        blocks = self._blocks(tsel)
        parts = self._block_hits(req, blocks)
        missing = [b for b in blocks if b not in parts]
        need = [t for b in missing for t in range(*b)]
        p, sd, _ = self._run_predict([req.sequence], req, need, progress)
        off = 0
        for b in missing:
            n = b[1] - b[0]
            sub = {"preds": p.mean[0][:, off:off + n], "sd": sd[0][:, off:off + n],
                   "members": p.members[0][:, off:off + n], "target_index": np.arange(*b, dtype=np.int64)}
            key = self.prediction_key(req, list(range(*b)))
            parts[b] = self.cache.get_or_compute(key, lambda sub=sub: ({k: np.ascontiguousarray(v) for k, v in sub.items()},
                                                                       {"member_labels": list(p.member_labels)}),
                                                 accept=complete)
            off += n
        return self._assemble(req, tsel, parts, "computed")

    def job(self, kind: str, req: Request, **kw) -> Job:
        """The :class:`Job` of ``kind`` ('predict' | 'attribute' | 'layer_gradients') for ``req``."""
        if kind == "predict":
            return Job(self.prediction_key(req), lambda: self._peek_prediction(req),
                       lambda cb: self._predict(req, cb), req.ensemble.n_members,
                       estimate=lambda: self._estimate("predict", req), kind="predict", model=self.model)
        if kind == "attribute":
            diag = bool(kw.get("diagnostics", False))
            key = self.attribution_key(req, diag)
            return Job(key, lambda: self._typed(self.cache.peek(key), Attribution),
                       lambda cb: self._attribute(req, key, diag, cb), req.ensemble.n_members,
                       estimate=lambda: self._estimate("attribute", req), kind=req.method, model=self.model)
        if kind == "layer_gradients":
            layers = [int(i) for i in kw["layers"]]
            key = self.layers_key(req, layers)
            return Job(key, lambda: self._typed(self.cache.peek(key), LayerGradients),
                       lambda cb: self._layer_gradients(req, layers, key, cb), req.ensemble.n_members,
                       estimate=lambda: self._estimate("layer_gradients", req, layers=layers),
                       kind="layer_gradients", model=self.model)
        raise InputError(f"unknown job kind {kind!r}")

    def _estimate(self, kind: str, req: Request, layers=()) -> int:
        """Peak bytes of one request from the engine's memory model (InputError above the limit)."""
        from .. import memory
        m, ens = self.model, req.ensemble
        targets = req.target_list
        n_t = len(targets) if targets is not None else None
        mc = ens.mc_n > 0
        if kind == "predict":
            return memory.predict_plan(m, 1, ens.n_members, n_t, batch_size=1, return_var=True, mc=mc).peak_bytes
        if kind == "layer_gradients":
            return memory.layer_gradients_plan(m, 1, list(layers), n_t or m.num_targets, ens.n_members,
                                               batch_size=1, mc=mc).peak_bytes
        return memory.attribution_plan(m, req.method, 1, ens.n_members, batch_size=1, mc=mc,
                                       n_targets=n_t).peak_bytes

    @staticmethod
    def _new_job(*args, **kw) -> Job:
        """A :class:`Job` (for the mixins, which do not import this module)."""
        return Job(*args, **kw)

    @staticmethod
    def _typed(r, cls):
        return None if r is None else cls(r.key, r.arrays, r.meta, r.source)

    def predict(self, req: Request, progress: Progress = None) -> Prediction:
        """Ensemble prediction of ``req.sequence`` (cached; see :class:`Prediction`)."""
        return self._predict(req, progress)

    # ------------------------------------------------------------------ attributions
    def attribute_windows(self, seqs: Sequence[str], req: Request, batch_size: int = 4, progress: Progress = None,
                          ism_engine: str = "auto", diagnostics: bool = False):
        """The engine's attribution of many windows (the CLI's batch rows): the model's Attribution."""
        from ..genomics.onehot import encode_batch
        ens = req.ensemble
        x = encode_batch(list(seqs), n_value=ens.n_value)
        pos = req.position_arg
        kw = dict(req.options)
        if ism_engine != "auto":
            kw["ism_engine"] = ism_engine
        return self.model.attribute(
            x, method=req.method, targets=req.target_list, positions=None if pos is None else
            (pos if isinstance(pos, str) else np.asarray(pos)), statistic=req.statistic,
            mean_center=bool(req.mean_center), rc=ens.rc, shifts=tuple(ens.shifts), mc_n=ens.mc_n,
            mc_seed=ens.mc_seed,
            window=None if req.window is None else (int(req.window[0]), int(req.window[1])),
            progress=progress, diagnostics=diagnostics, batch_size=batch_size, **kw)

    def _attribute(self, req: Request, key: str, diagnostics: bool, progress) -> Attribution:
        def run():
            a = self.attribute_windows([req.sequence], req, progress=progress, diagnostics=diagnostics)
            arrays = {"scores": a.scores[0], "grads": a.hypothetical[0],
                      "objective": np.asarray(a.objective[0], np.float32)}
            for k, v in (a.diagnostics or {}).items():
                arrays[f"diag_{k}"] = np.asarray(v)[0] if np.ndim(v) else np.asarray(v)
            return arrays, {"method": req.method, "window": list(map(int, a.window))}
        return self._typed(self.cache.get_or_compute(key, run), Attribution)

    def attribute(self, req: Request, progress: Progress = None, diagnostics: bool = False) -> Attribution:
        """Input attribution of ``req`` (cached; ``diagnostics=True`` also computes every engine
        diagnostic, e.g. ``grad_vs_ism`` for ISM)."""
        return self.job("attribute", req, diagnostics=diagnostics).run(progress)

    def ism(self, req: Request, window=None, progress: Progress = None) -> Attribution:
        """In-silico mutagenesis on ``window`` = (start, end) window positions (default
        ``req.window``, else the whole window): scores (L, 4) deltas (alt - ref), 0 outside it.
        InputError beyond the engine's ISM limit (SEQNN_MAX_ISM_BP)."""
        w = req.window if window is None else (int(window[0]), int(window[1]))
        return self.attribute(req.with_(method="ism", window=w), progress)

    @staticmethod
    def max_ism_bp() -> int:
        """The engine's limit on one ISM window (seqnn_engine.limits: SEQNN_MAX_ISM_BP)."""
        from .. import limits
        return int(limits.current().ism_bp)

    def gradient_diagnostics(self, req: Request) -> Result:
        """Forward and reverse-complement saliency maps of the objective (two gradient passes):
        ``rc_consistency`` () their Pearson r (ACGT-centred); ``grad_fwd`` (L, 4) the centred forward map."""
        tsel = req.target_list
        pos = req.position_arg
        key = cache_keys.attribution_key(self.model, req.sequence, {
            "kind": "gradient_diagnostics", "n_value": float(req.ensemble.n_value), "targets": tsel,
            "positions": pos, "statistic": req.statistic})

        def run():
            from ..attribution.input_attr import center_acgt, gradient_diagnostics as diag
            from ..attribution.objective import make_objective
            x = onehot(req.sequence, req.ensemble.n_value)
            obj = make_objective(self.model, 1, tsel, pos if pos is None or isinstance(pos, str) else np.asarray(pos),
                                 req.statistic)
            known = {}
            d = diag(self.model, x, obj, known=known)
            return ({"rc_consistency": np.asarray(d["rc_consistency"][0], np.float32),
                     "grad_fwd": center_acgt(known[False])[0].astype(np.float32)}, {"kind": "gradient_diagnostics"})
        return self.cache.get_or_compute(key, run)

    @staticmethod
    def grad_vs_ism(diag: Result, ism: Attribution, window) -> float:
        """Pearson r of the centred forward saliency map and the ISM deltas on ``window``."""
        from ..attribution.input_attr import pearson_rows
        a, b = int(window[0]), int(window[1])
        return float(pearson_rows(np.asarray(diag["grad_fwd"])[None, a:b], np.asarray(ism["grads"])[None, a:b])[0])

    # ------------------------------------------------------------------ layers
    def _layer_gradients(self, req: Request, layers, key, progress) -> LayerGradients:
        tsel = req.target_list

        def run():
            ens = req.ensemble
            pos = req.position_arg
            g = self.model.gradients(onehot(req.sequence, ens.n_value), layers=layers, targets=tsel,
                                     positions=None if pos is None else (pos if isinstance(pos, str) else np.asarray(pos)),
                                     rc=ens.rc, shifts=tuple(ens.shifts), mc_n=ens.mc_n, mc_seed=ens.mc_seed,
                                     progress=progress)
            arrays = {}
            for i, gi, ri in zip(layers, g.grads, g.reprs):
                arrays[f"grads_{i}"] = np.asarray(gi[0], np.float32)
                arrays[f"reprs_{i}"] = np.asarray(ri[0], np.float32)
            return arrays, {"layers": list(layers), "targets": tsel}
        return self._typed(self.cache.get_or_compute(key, run), LayerGradients)

    def layer_gradients(self, req: Request, layers, progress: Progress = None) -> LayerGradients:
        """Gradients of each chosen target's prediction summed over the objective bins w.r.t. the
        chosen layers, and their representations (the original definition: no statistic)."""
        return self.job("layer_gradients", req, layers=layers).run(progress)

    # ------------------------------------------------------------------ genes
    def gene_values(self, gene, req: Request, tss_radius: int = TSS_RADIUS, strand_mask: bool = True,
                    progress: Progress = None) -> GeneValues:
        """Per-target gene value of ``gene`` (Gene or name/id): the prediction of its TSS-centred
        window (:meth:`gene_input`), summed over ``[b - r, b + r]`` around every TSS bin
        (:func:`seqnn_engine.genomics.genes.gene_values`); NaN for targets on the opposite strand when
        targets.txt marks strands (``strand_mask``). ``req.sequence`` is ignored."""
        from ..genomics.genes import gene_values
        from ..genomics.windows import gene_window_sequence
        g = self.genes.get(gene) if isinstance(gene, str) else gene
        gw, gs = gene_window_sequence(self.genome, g, self.geometry)
        r = req.with_(sequence=gs.sequence)
        pred = self.predict(r, progress)
        tidx = np.asarray(self.model.check_targets(req.target_list), np.int64)
        cols = pred.columns(tidx)
        strands = None
        if strand_mask and self.model.targets is not None:
            strands = np.asarray(self.model.targets.strand)[tidx]
        vals = gene_values(np.asarray(pred["preds"])[:, cols], gw.tss_bins, tss_radius, strands,
                           gw.strand if strands is not None else None).astype(np.float32)
        return GeneValues(pred.key, {"values": vals, "target_index": tidx,
                                     "tss_bins": np.asarray(gw.tss_bins, np.int64),
                                     "n_tss": np.asarray(len(gw.tss_bins), np.int64)},
                          {"gene_id": g.gene_id, "chrom": gw.chrom, "window_start": int(gw.start),
                           "tss_radius": int(tss_radius)}, pred.source)

    # ------------------------------------------------------------------ variants: see .variants (VariantJobs)

    # ------------------------------------------------------------------ motifs: see .motifs (MotifJobs)

    # ------------------------------------------------------------------ test sets
    def evaluation_job(self, testset, dataset_id: str, split: str, rc: bool, scatter_positions: int = 50_000) -> Job:
        """The job of the model's accuracy on a test set (seqnn_engine.analysis.predict_file.evaluate), cached
        under the test set's identity ``dataset_id``. Arrays: one (T,) float64 per metric of
        ``EVAL_METRICS``, ``sample_pred``, ``sample_obs`` (N, T) predicted and observed values of the
        first sequences (about ``scatter_positions`` positions)."""
        from ..batch.store import result_key
        key = result_key(self.model.digest, "dataset:" + dataset_id,
                         {"op": "evaluate", "split": split, "n": int(testset.num_seqs), "rc": bool(rc)})

        def run(progress):
            return self.cache.get_or_compute(key, lambda: self._evaluate(testset, rc, progress, scatter_positions))
        return Job(key, lambda: self.cache.peek(key), run)

    def _evaluate(self, testset, rc: bool, progress, scatter_positions: int):
        import tempfile

        import h5py

        from ..analysis.predict_file import evaluate
        with tempfile.TemporaryDirectory(prefix="seqnn-eval-") as tmp:
            preds_path = Path(tmp) / "preds.h5"
            acc = evaluate(self.model, testset, rc=rc, progress=progress, preds_path=preds_path, resume=False)
            with h5py.File(preds_path, "r") as f:
                n_keep = max(1, min(testset.num_seqs, -(-scatter_positions // testset.target_length)))
                pred = np.asarray(f["preds"][:n_keep], np.float32)
        obs = [np.asarray(y, np.float32) for _, y in testset.batches(2, 0, n_keep)]
        obs = np.concatenate(obs)[:n_keep]
        arrays = {m: np.asarray(getattr(acc, m), np.float64) for m in EVAL_METRICS}
        arrays["sample_pred"] = pred.reshape(-1, pred.shape[-1])
        arrays["sample_obs"] = obs.reshape(-1, obs.shape[-1])
        return arrays, {"num_positions": int(acc.num_positions), "num_seqs": int(testset.num_seqs)}


