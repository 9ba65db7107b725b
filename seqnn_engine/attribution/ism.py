"""In-silico saturation mutagenesis: every single-base substitution of a window, in chunks.

Four engines, all exact (the same numbers as predicting every mutant whole, up to float32
rounding), chosen by :func:`choose_ism_engine`:

- 'incremental': only the changed span of each layer is recomputed (incremental_ism.py;
  models made of local layers);
- 'subwindow': each mutant on a short sub-window covering the changed bins' receptive
  fields (local_ism.py; models made of local layers);
- 'hybrid': the local layers before the first attention / U-net layer on the changed
  span, the rest of the network at full length (incremental_ism.py, hybrid mode);
- 'full': every mutant at full length.

Every engine handles the mutants of a sequence and member in chunks of at most
``chunk`` mutants and reduces each chunk to its objectives at once, so memory is
O(chunk) (never mutants x length or mutants x bins x targets). :func:`ism_chunk_size`
sizes a chunk from a memory budget.

Shapes: x (S, L, 4); scores (S, L, 4) (objective(mutant) - objective(reference) at each
substituted base, 0 elsewhere); objective (S,).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .. import limits as _limits
from ..errors import InputError
from . import incremental_ism as _inc
from . import local_ism as _local

ISM_ENGINES = ("auto", "incremental", "subwindow", "hybrid", "full")
ISM_CHUNK_BYTES = 512 << 20          # default memory budget of one chunk of mutants
INCREMENTAL_CHUNK_BP = 64            # most consecutive positions per incremental / hybrid call


def ism_substitutions(x1: np.ndarray, start: int, end: int):
    """Every single-base substitution at positions [start, end) of one (L, 4) sequence.

    Returns (positions (M,), bases (M,)), position-major. Positions that are N (not a
    clear base) get all 4 bases; the identity substitution is skipped.
    """
    ref = x1[start:end]
    clear = np.isclose(ref.sum(-1), 1.0) & (ref.max(-1) > 0.5)
    keep = ~(clear[:, None] & (ref > 0.5))                                      # (W, 4)
    i, base = np.nonzero(keep)
    return (start + i).astype(np.int64), base.astype(np.int64)


def mutate(x1: np.ndarray, pos: np.ndarray, base: np.ndarray) -> np.ndarray:
    """(M, L, 4) copies of x1 (L, 4) with base[i] substituted at pos[i]."""
    muts = np.repeat(x1[None], pos.size, axis=0)
    muts[np.arange(pos.size), pos] = 0.0
    muts[np.arange(pos.size), pos, base] = 1.0
    return muts


def ism_mutants(x1: np.ndarray, start: int, end: int):
    """The substitutions of :func:`ism_substitutions` as sequences (all at once: for small windows).

    Returns (mutants (M, L, 4), positions (M,), bases (M,)).
    """
    pos, base = ism_substitutions(x1, start, end)
    return mutate(x1, pos, base), pos, base


def choose_ism_engine(model, members, start: int, end: int, requested: str = "auto") -> str:
    """The ISM engine used for a window: 'incremental', 'subwindow', 'hybrid' or 'full'.

    'auto' takes the first of incremental, subwindow, hybrid, full that the model and the
    ensemble allow (incremental and subwindow need local layers only; hybrid needs a local
    first layer; MC-dropout members run on every engine with their fixed masks). Raises
    InputError when a requested engine is not possible, saying what to choose instead.
    """
    if requested not in ISM_ENGINES:
        raise InputError(f"unknown ISM engine {requested!r}; choose one of {', '.join(ISM_ENGINES)}")
    if requested == "full":
        return "full"
    mc = any(m.mc >= 0 for m in members)
    why = _inc.unsupported_reason(model)
    if requested == "incremental" and why is not None:
        raise InputError(f"incremental ISM is not possible here ({why}): use ism_engine='auto' or 'full'")
    if why is None and requested in ("auto", "incremental"):
        return "incremental"
    if requested in ("auto", "subwindow"):
        if _local.plan(model, start, end, mc) is not None:
            return "subwindow"
        if requested == "subwindow":
            raise InputError("sub-window ISM is not possible here (a non-local layer, or a window too wide "
                             "for the receptive field): use ism_engine='auto' or 'full'")
    hy = _inc.hybrid_reason(model)
    if requested == "hybrid" and hy is not None:
        raise InputError(f"hybrid ISM is not possible here ({hy}): use ism_engine='auto' or 'full'")
    return "hybrid" if hy is None else "full"


def mutant_bytes(model, engine: str, start: int = 0, end: int = 1, width: int = INCREMENTAL_CHUNK_BP) -> int:
    """Upper bound (bytes) on the memory one mutant adds to a chunk of ``engine``.

    incremental / hybrid: see incremental_ism.mutant_bytes (``width`` positions per call);
    subwindow: its sub-window input and spliced predictions; full: its (L, 4) input (the
    model itself runs ``batch_size`` mutants per call, as for any prediction).
    """
    if engine in ("incremental", "hybrid"):
        return _inc.mutant_bytes(model, width, hybrid=engine == "hybrid")
    if engine == "subwindow":
        return _local.mutant_bytes(model, _local.plan(model, start, end)[0])
    return int(model.seq_length * 4 * 4)


def ism_chunk_size(model, engine: str, budget_bytes: int = ISM_CHUNK_BYTES, start: int = 0, end: int = 1,
                   width: int = INCREMENTAL_CHUNK_BP) -> int:
    """Mutants per chunk so that one chunk of ``engine`` stays within ``budget_bytes``
    (at least 1): budget_bytes // :func:`mutant_bytes`. It does not depend on the window
    size, so ISM memory does not grow with the window."""
    return max(1, int(budget_bytes) // max(1, mutant_bytes(model, engine, start, end, width)))


@dataclass
class IsmResult:
    """scores (S, L, 4) float32; objective (S,) float32 at x (ensemble mean); window (start, end);
    engine: the engine used; chunk: most mutants per chunk."""

    scores: np.ndarray
    objective: np.ndarray
    window: tuple
    engine: str
    chunk: int


def _resolve_chunk(model, engine, chunk, start, end, n_max):
    """(mutants per chunk, positions per incremental call) from ``chunk``: None (from the
    default budget), an int or 'all'. Incremental calls span INCREMENTAL_CHUNK_BP positions
    whatever the window (one traced function serves every window), fewer only when the
    budget fits fewer than 3 mutants per position, more for 'all' on a wider window."""
    w = int(min(INCREMENTAL_CHUNK_BP, model.seq_length))
    if isinstance(chunk, str):
        if chunk != "all":
            raise InputError(f"ism_chunk must be a positive number of mutants or 'all', got {chunk!r}")
        return max(1, n_max), max(w, end - start)
    if chunk is not None:
        if int(chunk) < 1:
            raise InputError(f"ism_chunk must be a positive number of mutants or 'all', got {chunk!r}")
        return int(chunk), w
    n = ism_chunk_size(model, engine, ISM_CHUNK_BYTES, start, end, w)
    if engine in ("incremental", "hybrid") and n < 3 * w:   # narrower spans when few mutants fit
        w = max(1, -(-n // 3))
        n = ism_chunk_size(model, engine, ISM_CHUNK_BYTES, start, end, w)
    return n, w


def ism_scores(runner, x: np.ndarray, idx: np.ndarray, window=None, max_bp: Optional[int] = None,
               progress: Optional[Callable[[int, int], None]] = None, ism_engine: str = "auto",
               chunk=None) -> IsmResult:
    """ISM of x (S, L, 4) for ``runner``'s objective and ensemble (an engine.MemberRunner).

    window: (start, end) bp (default the whole input; at most ``max_bp`` positions, default
    seqnn_engine.limits). Scores are the ensemble mean of objective(mutant) -
    objective(reference) per member, MC members with their fixed masks (runner.mc_seed), the
    same for the reference and every mutant in every chunk. chunk: most mutants per chunk
    (None: sized from ISM_CHUNK_BYTES; 'all': one chunk). progress(done, total) counts substitutions
    (over all sequences) and may raise to cancel.
    """
    S, L = x.shape[:2]
    start, end = (0, L) if window is None else (int(window[0]), int(window[1]))
    if not 0 <= start < end <= L:
        raise InputError(f"ISM window {window} must satisfy 0 <= start < end <= {L}")
    if max_bp is None:
        max_bp = _limits.current().ism_bp
    if end - start > max_bp:
        raise _limits.exceeded("ism_bp", f"the ISM window is {end - start:,} bp", "choose a smaller range",
                               int(max_bp))
    model, members = runner.model, runner.members
    engine = choose_ism_engine(model, members, start, end, ism_engine)
    subs = [ism_substitutions(x[s], start, end) for s in range(S)]
    n_total = int(sum(p.size for p, _ in subs))
    n_chunk, width = _resolve_chunk(model, engine, chunk, start, end, max(p.size for p, _ in subs))
    E = len(members)
    units = [0]                                        # mutant x member evaluations done

    def report(extra=0):
        if progress is not None:
            progress(min(n_total, (units[0] + extra) // E), n_total)

    f_ref, _, _ = runner.run(x, idx, need_grad=False)
    scores = np.zeros(x.shape, np.float32)
    local = _local.plan(model, start, end, any(m.mc >= 0 for m in members)) if engine == "subwindow" else None
    for s, (pos, base) in enumerate(subs):
        if engine == "full":
            for i in range(0, pos.size, n_chunk):
                sl = slice(i, i + n_chunk)
                muts = mutate(x[s], pos[sl], base[sl])
                f_mut, _, _ = runner.run(muts, np.full(muts.shape[0], idx[s]), need_grad=False,
                                         progress=lambda d, t: report(d))
                scores[s, pos[sl], base[sl]] = f_mut - f_ref[s]      # the runner returns the member mean
                units[0] += muts.shape[0] * E
                report()
            continue
        f_sum = np.zeros(pos.size)
        for mem in members:
            if engine == "subwindow":
                f_mut, f0 = _local.member_ism_objectives(model, runner.obj, x[s], idx[s], pos, base, mem, *local,
                                                         runner.batch_size, chunk=n_chunk,
                                                         progress=lambda d, t: report(d), mc_seed=runner.mc_seed)
            else:
                f_mut, f0 = _inc.member_objectives(model, runner.obj, idx[s], x[s], pos, base, mem,
                                                   hybrid=engine == "hybrid", chunk=n_chunk, chunk_bp=width,
                                                   progress=lambda d, t: report(d), mc_seed=runner.mc_seed)
            f_sum += f_mut - f0
            units[0] += pos.size
            report()
        scores[s, pos, base] = f_sum / E
    return IsmResult(scores=scores, objective=np.asarray(f_ref, np.float32), window=(start, end),
                     engine=engine, chunk=int(n_chunk))
