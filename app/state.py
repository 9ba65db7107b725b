"""Process-wide resources (cached once per server process) and per-session helpers.

``st.cache_resource`` objects are shared by every browser session and are never mutated
by the app: the model, genomes, gene sets and the result cache (which has its own lock).
"""
from __future__ import annotations

import bisect
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import streamlit as st

from app.cache import ResultCache
from app.config import Settings, load_settings
from seqnn_engine import InputError


# ----------------------------------------------------------------------------------- resources

def settings() -> Settings:
    """Current settings (environment and config file; cheap to read on every run)."""
    return load_settings()


@st.cache_resource(show_spinner=False, max_entries=4)
def _result_cache(store_dir: str, store_max_bytes: int, memory_bytes: int) -> ResultCache:
    from seqnn_engine.batch.store import ResultStore
    try:
        store = ResultStore(store_dir, max_bytes=store_max_bytes)
    except InputError:
        store = None  # read-only home etc.: run without persistence
    return ResultCache(max_bytes=memory_bytes, store=store)


def result_cache() -> ResultCache:
    """The in-process LRU backed by the persistent result store (one per store folder)."""
    s = settings()
    return _result_cache(str(s.store_dir), int(s.store_max_bytes), int(s.memory_cache_bytes))


@st.cache_data(ttl=60, show_spinner=False)
def model_dirs(roots: tuple) -> list:
    """Model directories under the roots: list of (display name, absolute path str, number of
    weight files = replicates)."""
    from seqnn_engine.model.modeldir import find_model_dirs
    out = []
    for md in find_model_dirs([Path(r) for r in roots]):
        out.append((md.name, str(md.path), len(md.weights)))
    return out


_LOADED: set = set()


def model_loaded(path: str, replicate: int = 0, precision: str = "float32") -> bool:
    """Whether this process has loaded the model already (then :func:`model` is instant)."""
    return (path, replicate, precision) in _LOADED


@st.cache_resource(show_spinner=False, max_entries=4)
def model(path: str, replicate: int = 0, precision: str = "float32"):
    """The loaded model (shared, never mutated), warmed up: the compiled prediction and the
    default attribution are traced once here, so a session's first result is not slowed by
    tracing (one-time cost per server process). Tracing in a background thread instead was
    measured slower: the page's own attribution then traced the same functions concurrently.
    precision: 'float32' | 'bfloat16' (part of the model's digest, so of every result key)."""
    from seqnn_engine import load_model_dir
    from seqnn_engine.model.modeldir import read_model_dir
    read_model_dir(path, allowed_roots=settings().model_roots)   # only models under the configured roots
    m = load_model_dir(path, replicate=replicate, precision=precision)
    warm_up(m)
    _LOADED.add((path, replicate, precision))
    return m


def warm_up(m) -> None:
    """Trace the default prediction and saliency functions on an all-N input (results unused)."""
    x = np.zeros((1, m.seq_length, 4), np.float32)
    try:
        m.predict(x)
        m.attribute(x, method="saliency", targets=[0])
    except Exception:  # warm-up is an optimisation only
        pass


@st.cache_resource(show_spinner=False, max_entries=8)
def genome(path: str):
    from seqnn_engine.genomics.genome import Genome
    return Genome(path)


class GeneIndex:
    """A GeneSet with a per-chromosome interval index (for genes overlapping a window)."""

    def __init__(self, geneset):
        self.geneset = geneset
        self.genes = list(geneset)
        self._by_chrom: dict = {}
        for i, g in enumerate(self.genes):
            self._by_chrom.setdefault(g.chrom, []).append((g.start, g.end, i))
        self._starts = {}
        self._max_len = {}
        for c, rows in self._by_chrom.items():
            rows.sort()
            self._starts[c] = [r[0] for r in rows]
            self._max_len[c] = max(r[1] - r[0] for r in rows)

    def overlapping(self, chrom: str, start: int, end: int) -> list:
        rows = self._by_chrom.get(chrom)
        if not rows:
            return []
        lo = bisect.bisect_left(self._starts[chrom], start - self._max_len[chrom])
        hi = bisect.bisect_left(self._starts[chrom], end)
        return [self.genes[r[2]] for r in rows[lo:hi] if r[1] > start and r[0] < end]


class IndexedGenes:
    """A bgzipped, tabix-indexed annotation: windows read by region, names from the streamed name index."""

    def __init__(self, tabix_genes):
        self.geneset, self.overlapping = tabix_genes, tabix_genes.overlapping

    @property
    def genes(self):
        return self.geneset.entries


@st.cache_resource(show_spinner=False, max_entries=8)
def genes(path: str):
    from seqnn_engine.genomics.gene_index import TabixGenes, open_genes
    ann = open_genes(path)
    return IndexedGenes(ann) if isinstance(ann, TabixGenes) else GeneIndex(ann)


# ----------------------------------------------------------------------------------- session

PERSISTENT_KEYS = (
    "model_path", "replicate", "precision", "input_mode", "gene", "gene_query", "interval", "fasta_text", "fasta_record", "targets",
    "target_group", "target_query", "target_strand",
    "ens_rc", "ens_shifts", "ens_mc", "ens_n", "attr_method", "attr_objective", "attr_stat", "layers",
    "view", "var_pos", "var_alt", "page", "dataset", "eval_limit", "eval_rc", "fimo_motifs", "motif_db",
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


def float32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


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
