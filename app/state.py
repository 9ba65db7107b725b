"""The dashboard's state: one engine session per model (process-wide), the page's context and
the widgets' state. No computation and no cache keys here: every result comes from
:class:`seqnn_engine.session.Session`, which keys, caches and computes it.

``st.cache_resource`` objects are shared by every browser session and are never mutated by the
app: the sessions (each holds its model, genome, genes and result cache, which has its own lock).
"""
from __future__ import annotations

import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from app.config import Settings, load_settings
from seqnn_engine import InputError
from seqnn_engine.session import Request, Session, open_session
from seqnn_engine.genomics.windows import InputWindow

PLOTLY_CONFIG = {"displaylogo": False, "scrollZoom": False,
                 "toImageButtonOptions": {"format": "svg", "scale": 2},
                 "modeBarButtonsToRemove": ["lasso2d", "autoScale2d"]}


# ----------------------------------------------------------------------------------- resources

def settings() -> Settings:
    """Current settings (environment and config file; cheap to read on every run)."""
    return load_settings()


@st.cache_resource(show_spinner=False, max_entries=4)
def _store(store_dir: str, store_max_bytes: int):
    from seqnn_engine.batch.store import ResultStore
    try:
        return ResultStore(store_dir, max_bytes=store_max_bytes)
    except InputError:
        return None  # read-only home etc.: run without persistence


@st.cache_data(ttl=60, show_spinner=False)
def model_dirs(roots: tuple) -> list:
    """Model directories under the roots: list of (display name, absolute path str, number of
    weight files = replicates)."""
    return Session.model_dirs([Path(r) for r in roots])


_LOADED: set = set()


def model_loaded(path: str, replicate: int = 0, precision: str = "float32") -> bool:
    """Whether this process has loaded the model already (then :func:`session` is instant)."""
    return (path, replicate, precision) in _LOADED


@st.cache_resource(show_spinner=False, max_entries=4)
def _session(path: str, replicate, precision: str, store_dir: str, store_max_bytes: int,
             memory_bytes: int) -> Session:
    s = settings()
    # replicate: one weights file (int) or "all" (a ReplicateSession: replicates as ensemble members)
    ses = open_session(path, replicate, precision=precision, store=_store(store_dir, store_max_bytes),
                       memory_bytes=memory_bytes, allowed_roots=s.model_roots)
    ses.model          # only models under the configured roots (InputError otherwise)
    # The compiled prediction and the default attribution are traced once here, so a session's
    # first result is not slowed by tracing (one-time cost per server process).
    ses.warm_up()
    _LOADED.add((path, replicate, precision))
    return ses


def session(path: str, replicate=0, precision: str = "float32") -> Session:
    """The engine session of one model (shared by every browser session of this server process);
    ``replicate`` "all" combines the directory's replicates."""
    s = settings()
    return _session(path, replicate if replicate == "all" else int(replicate), str(precision), str(s.store_dir), int(s.store_max_bytes),
                    int(s.memory_cache_bytes))


def model(path: str, replicate: int = 0, precision: str = "float32"):
    """The loaded model of :func:`session` (shared, never mutated)."""
    return session(path, replicate, precision).model


# ----------------------------------------------------------------------------------- session

PERSISTENT_KEYS = (
    "model_path", "replicate", "precision", "input_mode", "gene", "gene_query", "interval", "fasta_text", "fasta_record", "targets",
    "target_group", "target_query", "target_strand",
    "ens_rc", "ens_shifts", "ens_mc", "ens_n", "attr_method", "attr_objective", "attr_stat", "layers", "gene_centre",
    "view", "var_pos", "var_alt", "var_source", "var_attr_flank", "page", "dataset", "eval_limit", "eval_rc", "fimo_motifs", "motif_db",
)


def keep_widget_state() -> None:
    """Re-assign widget values so they survive runs where their widget is not drawn
    (switching the input kind or the page must not lose what the user typed)."""
    for k in PERSISTENT_KEYS:
        if k in st.session_state:
            st.session_state[k] = st.session_state[k]


def show_error(e: Exception, where=None) -> None:
    """Show an input error without stopping the page."""
    (where or st).error(str(e) if isinstance(e, InputError) else f"{type(e).__name__}: {e}")


@contextmanager
def progress(label: str, cancel_key: str, where=None):
    """Progress bar with counts and a Cancel button for long work.

    Yields a callback ``cb(done, total)``. Pressing Cancel stops the running script at the
    next progress update (Streamlit interrupts a run when a widget changes) and records
    ``cancel_key`` in ``st.session_state["cancelled"]`` so the work is not restarted
    automatically.
    """
    slot = (where or st).empty()
    box = slot.container()
    bar = box.progress(0.0, text=f"{label}: starting")
    box.button("Cancel", key=f"cancel_{cancel_key}",
               on_click=lambda: st.session_state.__setitem__("cancelled", cancel_key))
    last = [0.0]

    def cb(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < 0.1:
            return
        last[0] = now
        frac = 0.0 if total <= 0 else min(1.0, done / total)
        bar.progress(frac, text=f"{label}: {done:,} / {total:,}")

    try:
        yield cb
    finally:
        slot.empty()


def was_cancelled(cancel_key: str) -> bool:
    return st.session_state.get("cancelled") == cancel_key


def clear_cancel() -> None:
    st.session_state.pop("cancelled", None)


def _eta_text(seconds) -> str:
    if seconds is None:
        return "time not known yet"
    return f"about {seconds:,.0f} s" if seconds < 120 else f"about {seconds / 60:,.1f} min"


def result(job, label: str, *, again: str | None = None, start: bool = True, where=None):
    """The result of an engine :class:`~seqnn_engine.session.Job`, the one peek / cancel / progress
    block of the dashboard: a cached result is returned at once; with ``start`` False a miss gives
    None; work cancelled earlier shows a warning and a button to run it again (None); a light job
    (``job.queued()`` False: its memory estimate is below the engine's queue threshold) runs here
    with a progress bar and a Cancel button; a heavy one goes to the engine's work queue (admitted
    by its memory estimate; the same request from several sessions is computed once) and the page
    shows its place in the queue, the estimated time, progress and a Cancel button until it is
    done. Other sessions keep browsing meanwhile: the computation runs in the queue's worker."""
    hit = job.cached()
    if hit is not None or not start:
        return hit
    if was_cancelled(job.key):
        st.warning(f"{label} cancelled.")
        if st.button(again or f"Run {label} again", key=f"again_{job.key[-16:]}"):
            clear_cancel()
            st.rerun()
        return None
    if not job.queued():
        with progress(label, job.key, where) as cb:
            return job.run(cb)
    ticket = job.submit(label)

    def cancel():
        st.session_state["cancelled"] = job.key
        ticket.cancel()

    slot = (where or st).empty()
    box = slot.container()
    bar = box.progress(0.0, text=f"{label}: queued")
    box.button("Cancel", key=f"cancel_{job.key}", on_click=cancel)
    try:
        while not ticket.wait(0.25):
            if ticket.status == "queued":
                ahead = ticket.position
                bar.progress(0.0, text=f"{label}: queued, {ahead} request(s) ahead; {_eta_text(ticket.eta_seconds)}")
            else:
                msg = ticket.message or "running"
                bar.progress(min(ticket.progress, 1.0), text=f"{label}: {msg}; {_eta_text(ticket.eta_seconds)} left")
    finally:
        slot.empty()
    if ticket.status == "cancelled":
        st.session_state["cancelled"] = job.key
        st.warning(f"{label} cancelled.")
        return None
    return ticket.result()


# ----------------------------------------------------------------------------------- page context

@dataclass
class Ctx:
    """What every detail view receives: the session, the input, the options, the prediction, the
    selected display range and the target labels."""

    session: Session
    inp: InputWindow
    opts: object                 # app.inputs.Options
    pred: object                 # seqnn_engine.session.Prediction
    rng: tuple                   # selected display range [lo, hi)
    short: list                  # short target names (all targets)
    long: list                   # long target labels (all targets)
    cols: np.ndarray             # prediction columns of the chosen targets

    @property
    def model(self):
        return self.session.model

    @property
    def geo(self):
        return self.session.geometry

    @property
    def L(self) -> int:
        return self.geo.seq_length

    @property
    def targets(self) -> list:
        return list(self.opts.targets)

    def target_names(self) -> list:
        return [self.short[t] for t in self.opts.targets]

    def request(self, **kw) -> Request:
        """The engine request of the current input and options (``kw`` overrides)."""
        o = self.opts
        base = dict(sequence=self.inp.sequence, ensemble=o.ensemble, targets=tuple(o.targets),
                    statistic=o.statistic, method=o.method)
        if o.objective in ("tss", "exons") and getattr(self.inp, "gene_window", None) is not None \
                and "positions" not in kw:
            # gene objectives: the gene's TSS or exon bins, the chosen targets read on its strand
            base["positions"], base["targets"] = self.session.gene_objective(self.inp, o.objective, o.targets)
        base.update(kw)
        if "positions" not in base:
            base["positions"] = self.objective_positions()
        return Request(**base)

    def objective_positions(self):
        """Bins of the attribution objective: None (all), 'center', TSS bins, exon bins or the range's bins."""
        o = self.opts.objective
        if o == "window":
            return None
        if o == "center":
            return "center"
        if o == "tss":
            if not self.inp.tss_bins:
                raise InputError("this input has no TSS in the model output: choose another objective")
            return tuple(sorted(set(int(b) for b in self.inp.tss_bins)))
        if o == "exons":
            if not getattr(self.inp, "exon_bins", ()):
                raise InputError("this input has no exon in the model output: choose another objective")
            return tuple(int(b) for b in self.inp.exon_bins)
        bins = self.range_bins()
        if bins.size == 0:
            raise InputError("the selected range does not overlap the model output bins: select a range inside "
                             "the predicted tracks, or choose another objective")
        return tuple(int(b) for b in bins)

    def bin_x(self) -> np.ndarray:
        return self.geo.bin_centres(self.inp.start)

    def base_x(self) -> np.ndarray:
        return self.geo.positions(self.inp.start)

    def positions(self, rng=None) -> tuple[int, int]:
        return self.geo.range_positions(rng or self.rng, self.inp.start)

    def range_bins(self, rng=None) -> np.ndarray:
        return self.geo.range_bins(rng or self.rng, self.inp.start)

    def ref_name(self) -> str:
        """Sequence name for coordinate-bearing exports (bigWig, BED, CSV): the chromosome for
        genome inputs, else the FASTA record name made safe for those formats."""
        if self.inp.genomic:
            return self.inp.chrom
        return re.sub(r"[^A-Za-z0-9_.:|-]+", "_", self.inp.label).strip("_") or "sequence"

    def chrom_sizes(self) -> dict:
        """Header of bigWig exports: the genome's chromosomes, or the user's sequence alone."""
        if not self.inp.genomic:
            return {self.ref_name(): int(self.inp.source_length)}
        return dict(self.session.genome.chrom_lengths)

    def meta(self, **extra) -> dict:
        m = self.model
        e = self.opts.ensemble
        d = {"model_name": m.name, "model_digest": m.digest, "seq_length": m.seq_length, "stride": m.stride,
             "crop": m.crop, "target_length": m.target_length, "input_label": self.inp.label,
             "input_source": self.inp.source, "chrom": self.inp.chrom or "", "sequence_name": self.ref_name(),
             "window_start": int(self.inp.start),
             "coordinates": "genome, 0-based" if self.inp.genomic else "user sequence, 0-based",
             "targets": [int(t) for t in self.opts.targets], "target_names": self.target_names(),
             "rc": e.rc, "shifts": [int(s) for s in e.shifts], "mc_n": e.mc_n, "n_value": e.n_value,
             "selected_range": [int(self.rng[0]), int(self.rng[1])]}
        d.update(extra)
        return d

    def stem(self) -> str:
        return self.inp.label.split(" ")[0]


# ----------------------------------------------------------------------------------- timing

_log = None


@contextmanager
def timed(name: str):
    """Record how long a phase of this run took (``st.session_state['timings']``; logged to the
    server's stderr when SEQNN_DASHBOARD_TIMING=1)."""
    import logging
    import os
    global _log
    t0 = time.perf_counter()
    try:
        yield
    finally:
        dt = time.perf_counter() - t0
        st.session_state.setdefault("timings", {})[name] = dt
        if os.environ.get("SEQNN_DASHBOARD_TIMING") == "1":
            if _log is None:
                _log = logging.getLogger("seqnn_dashboard")
                _log.setLevel(logging.INFO)
            _log.warning("timing %s %.3f s", name, dt)
