"""Engine calls behind the dashboard's caches (no Streamlit, no science: only calls and keys).

Every function takes the model, the exact input window string (length ``seq_length``),
plain options and a :class:`app.cache.ResultCache`; it returns a cached
:class:`app.cache.Result` whose arrays are read-only. Keys come from
``seqnn_engine.batch.cache_keys`` (the CLI's keys: model digest + strand pairs, digest of the
canonical sequence string, canonical options), so a CLI batch run pre-computes what the
dashboard shows and the dashboard's results are readable by the CLI. Arrays are never hashed.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from seqnn_engine import InputError
from seqnn_engine.batch import cache_keys
from seqnn_engine.genomics.onehot import encode
from seqnn_engine.batch.store import result_key, sequence_digest

Progress = Optional[Callable[[int, int], None]]

# Above this many targets only the chosen targets are predicted (Borzoi-size heads).
ALL_TARGETS_LIMIT = 512


@dataclass(frozen=True)
class Ensemble:
    """Ensemble options: reverse complement, shifts (bp), MC-dropout samples, N encoding."""

    rc: bool = False
    shifts: tuple = (0,)
    mc_n: int = 0
    n_value: float = 0.0

    def options(self) -> dict:
        return {"rc": bool(self.rc), "shifts": [int(s) for s in self.shifts], "mc_n": int(self.mc_n),
                "n_value": float(self.n_value)}

    def members(self) -> list:
        """The engine's ensemble members, in the order of ``Prediction.members``."""
        from seqnn_engine.model import ensemble
        return ensemble.members(self.rc, tuple(self.shifts), self.mc_n)

    @property
    def n_members(self) -> int:
        return len(self.shifts) * (2 if self.rc else 1) * max(1, self.mc_n)


def onehot(sequence: str, n_value: float = 0.0) -> np.ndarray:
    """(1, L, 4) float32 one-hot of one sequence."""
    return encode(sequence, n_value=n_value)[None].astype(np.float32)


def predicted_targets(model, targets) -> Optional[list]:
    """Targets a prediction result holds: None (all) for ordinary heads, else the chosen ones."""
    if model.num_targets <= ALL_TARGETS_LIMIT:
        return None
    return sorted({int(t) for t in targets})


# Large heads are predicted and cached per block of TARGET_BLOCK consecutive output indexes:
# a block is computed once (one model call computes every missing block the chosen targets
# touch) and any later choice of targets inside computed blocks is a cache hit. Per-target
# entries would repeat the forward pass (the expensive part) for every added target; one
# entry of all 7,611 targets (16,352 bins: 0.5 GB per array, x members) does not fit the
# memory cache. 128 targets x 16,352 bins x 4 B = 8.4 MB per array per block.
TARGET_BLOCK = 128


def target_blocks(model, targets) -> list:
    """Sorted (start, stop) output-index blocks holding the chosen targets (large heads)."""
    T = model.num_targets
    out = sorted({int(t) // TARGET_BLOCK for t in targets})
    return [(b * TARGET_BLOCK, min(T, (b + 1) * TARGET_BLOCK)) for b in out]


# ----------------------------------------------------------------------------------- predictions

def prediction_key(model, sequence: str, ens: Ensemble, targets=()) -> str:
    return cache_keys.prediction_key(model, sequence, {**ens.options(),
                                                       "targets": predicted_targets(model, targets)})


def _block_key(model, sequence: str, ens: Ensemble, block) -> str:
    return cache_keys.prediction_key(model, sequence, {**ens.options(), "targets": list(range(*block))})


def _complete_prediction(r, ens: Ensemble) -> bool:
    """A store entry written by the CLI holds only ``preds``; with one member that is complete."""
    return "members" in r or ens.n_members == 1


def _run_predict(model, sequence: str, ens: Ensemble, tsel, progress):
    x = onehot(sequence, ens.n_value)
    p = model.predict(x, rc=ens.rc, shifts=tuple(ens.shifts), mc_n=ens.mc_n, target_indexes=tsel,
                      return_var=True, return_all=True, progress=progress)
    var = p.var if p.var is not None else np.zeros_like(p.mean)
    tidx = np.arange(model.num_targets) if tsel is None else np.asarray(tsel)
    return ({"preds": p.mean[0], "sd": np.sqrt(np.maximum(var[0], 0)).astype(np.float32),
             "members": p.members[0], "target_index": tidx.astype(np.int64)},
            {"member_labels": list(p.member_labels)})


def predict(cache, model, sequence: str, ens: Ensemble, targets=(), progress: Progress = None):
    """Ensemble prediction of one window.

    Result arrays: ``preds`` (P, T') float32 ensemble mean (the CLI's name), ``sd`` (P, T')
    (0 with one member), ``members`` (P, T', E), ``target_index`` (T',) int64 (T' = all
    targets for ordinary heads; the chosen targets, ascending, for large heads, assembled
    from the cached target blocks, see ``TARGET_BLOCK``). meta: member labels.
    """
    tsel = predicted_targets(model, targets)
    if tsel is not None:
        return _predict_blocks(cache, model, sequence, ens, tsel, progress)
    key = prediction_key(model, sequence, ens, targets)
    hit = cache.peek(key)
    if hit is not None and _complete_prediction(hit, ens):
        return with_prediction_defaults(hit, model, tsel)
    if hit is not None:
        cache.forget(key)
    return cache.get_or_compute(key, lambda: _run_predict(model, sequence, ens, tsel, progress))


def _block_hits(cache, model, sequence, ens, blocks) -> dict:
    out = {}
    for b in blocks:
        r = cache.peek(_block_key(model, sequence, ens, b))
        if r is not None and _complete_prediction(r, ens):
            out[b] = with_prediction_defaults(r, model, list(range(*b)))
    return out


def _assemble(model, sequence, ens, tsel, parts: dict, source: str):
    """The chosen targets' columns gathered from block results -> one Result."""
    from app.cache import Result
    names = ("preds", "sd", "members")
    cols = {n: [] for n in names}
    meta = {}
    for t in tsel:
        b = (t // TARGET_BLOCK * TARGET_BLOCK, min(model.num_targets, (t // TARGET_BLOCK + 1) * TARGET_BLOCK))
        r = parts[b]
        meta = r.meta
        j = t - b[0]
        for n in names:
            cols[n].append(np.asarray(r[n])[:, j])
    arrays = {n: np.stack(v, axis=1) for n, v in cols.items()}
    arrays["target_index"] = np.asarray(tsel, np.int64)
    for a in arrays.values():
        a.flags.writeable = False
    return Result(prediction_key(model, sequence, ens, tsel), arrays, dict(meta), source)


def _predict_blocks(cache, model, sequence, ens, tsel, progress):
    blocks = target_blocks(model, tsel)
    parts = _block_hits(cache, model, sequence, ens, blocks)
    missing = [b for b in blocks if b not in parts]
    if not missing:
        return _assemble(model, sequence, ens, tsel, parts, min(r.source for r in parts.values()))
    need = [t for b in missing for t in range(*b)]
    arrays, meta = _run_predict(model, sequence, ens, need, progress)
    off = 0
    for b in missing:
        n = b[1] - b[0]
        sub = {"preds": arrays["preds"][:, off:off + n], "sd": arrays["sd"][:, off:off + n],
               "members": arrays["members"][:, off:off + n], "target_index": np.arange(*b, dtype=np.int64)}
        key = _block_key(model, sequence, ens, b)
        cache.forget(key)
        parts[b] = cache.get_or_compute(key, lambda sub=sub: ({k: np.ascontiguousarray(v) for k, v in sub.items()},
                                                              meta))
        off += n
    return _assemble(model, sequence, ens, tsel, parts, "computed")


def peek_prediction(cache, model, sequence: str, ens: Ensemble, targets=()):
    """The cached prediction, or None."""
    tsel = predicted_targets(model, targets)
    if tsel is not None:
        blocks = target_blocks(model, tsel)
        parts = _block_hits(cache, model, sequence, ens, blocks)
        if len(parts) < len(blocks):
            return None
        return _assemble(model, sequence, ens, tsel, parts, min(r.source for r in parts.values()))
    hit = cache.peek(prediction_key(model, sequence, ens, targets))
    if hit is None or not _complete_prediction(hit, ens):
        return None
    return with_prediction_defaults(hit, model, tsel)


def with_prediction_defaults(r, model, tsel):
    """Fill ``sd``/``members``/``target_index`` of a single-member entry written by the CLI."""
    if "members" in r and "sd" in r and "target_index" in r:
        return r
    from app.cache import Result
    a = dict(r.arrays)
    p = np.asarray(a["preds"], np.float32)
    a.setdefault("sd", np.zeros_like(p))
    a.setdefault("members", p[..., None])
    a.setdefault("target_index", (np.arange(model.num_targets) if tsel is None else np.asarray(tsel))
                 .astype(np.int64))
    return Result(r.key, a, {"member_labels": ["fwd+0"], **r.meta}, r.source)


def target_columns(result, targets) -> np.ndarray:
    """Column of each chosen target in a prediction result."""
    tidx = [int(t) for t in result["target_index"]]
    try:
        return np.array([tidx.index(int(t)) for t in targets], dtype=np.int64)
    except ValueError:
        raise InputError("a chosen target is not in this prediction; pick the targets again") from None


def per_shift(members: np.ndarray, ens: Ensemble) -> np.ndarray:
    """(P, T, E) member predictions -> (H, P, T): each shift's members averaged (RC, MC)."""
    shifts = [m.shift for m in ens.members()]
    m = np.asarray(members)
    return np.stack([m[..., [i for i, s in enumerate(shifts) if s == h]].mean(-1) for h in ens.shifts])


def variant_scores(ref_members, alt_members, ens: Ensemble, stats=("SUM", "logSUM", "D2")) -> dict:
    """Per-target variant scores (seqnn_engine.analysis.variants.compute_scores) from member predictions."""
    from seqnn_engine.analysis.variants import compute_scores
    return compute_scores(per_shift(ref_members, ens), per_shift(alt_members, ens), stats)


# ----------------------------------------------------------------------------------- attributions

def attribution_available() -> bool:
    try:
        importlib.import_module("seqnn_engine.attribution.input_attr")
        return True
    except ImportError:
        return False


def layer_gradients_available() -> bool:
    try:
        importlib.import_module("seqnn_engine.attribution.layer_grads")
        return True
    except ImportError:
        return False


def _positions(positions):
    return positions if positions is None or isinstance(positions, str) else [int(b) for b in positions]


def attribution_key(model, sequence: str, method: str, targets, positions, statistic: str, ens: Ensemble,
                    window=None, mean_center: bool = True, diagnostics: bool = False) -> str:
    opts = {**ens.options(), "method": method, "targets": sorted(int(t) for t in targets),
            "positions": _positions(positions), "statistic": statistic, "mean_center": bool(mean_center),
            "window": None if window is None else [int(window[0]), int(window[1])]}
    if diagnostics:   # the key of a plain result (the CLI's) stays as it was
        opts["diagnostics"] = True
    return cache_keys.attribution_key(model, sequence, opts)


def position_scores(method: str, scores: np.ndarray, hypothetical: np.ndarray) -> np.ndarray:
    """(L,) per-position summary, as the engine's ``Attribution.position_scores``."""
    from seqnn_engine.attribution.input_attr import Attribution
    a = Attribution(method=method, scores=np.asarray(scores)[None], hypothetical=np.asarray(hypothetical)[None],
                    objective=np.zeros(1, np.float32))
    return np.asarray(a.position_scores()[0], np.float32)


def attribute(cache, model, sequence: str, method: str, targets, positions, statistic: str, ens: Ensemble,
              window=None, progress: Progress = None, mean_center: bool = True, diagnostics: bool = False):
    """Input attribution for one objective.

    positions: None (all bins), 'center', or a list of bins. Result arrays (the CLI's names):
    ``scores`` (L, 4), ``grads`` (L, 4) hypothetical scores, ``objective`` (), plus each
    engine diagnostic as ``diag_<name>`` when computed (``diagnostics=True`` asks for all of
    them, e.g. ``grad_vs_ism`` for ISM; otherwise only those the method gets for free).
    meta: method, window.
    """
    pos = _positions(positions)
    tsel = sorted(int(t) for t in targets)

    def run():
        x = onehot(sequence, ens.n_value)
        a = model.attribute(x, method=method, targets=tsel,
                            positions=None if pos is None else (pos if isinstance(pos, str) else np.asarray(pos)),
                            statistic=statistic, mean_center=mean_center, rc=ens.rc,
                            shifts=tuple(ens.shifts), mc_n=ens.mc_n,
                            window=None if window is None else (int(window[0]), int(window[1])),
                            progress=progress, diagnostics=diagnostics)
        arrays = {"scores": a.scores[0], "grads": a.hypothetical[0],
                  "objective": np.asarray(a.objective[0], np.float32)}
        for k, v in (a.diagnostics or {}).items():
            arrays[f"diag_{k}"] = np.asarray(v)[0] if np.ndim(v) else np.asarray(v)
        return arrays, {"method": method, "window": list(map(int, a.window))}
    key = attribution_key(model, sequence, method, targets, positions, statistic, ens, window, mean_center,
                          diagnostics)
    return cache.get_or_compute(key, run)


def gradient_diagnostics(cache, model, sequence: str, targets, positions, statistic: str, ens: Ensemble):
    """Forward and reverse-complement saliency maps of one objective (two gradient passes).

    Arrays: ``rc_consistency`` () their Pearson r (ACGT-centred); ``grad_fwd`` (L, 4) the
    centred forward map (for :func:`grad_vs_ism`).
    """
    pos = _positions(positions)
    tsel = sorted(int(t) for t in targets)

    def run():
        from seqnn_engine.attribution.input_attr import center_acgt, gradient_diagnostics as diag
        from seqnn_engine.attribution.objective import make_objective
        x = onehot(sequence, ens.n_value)
        obj = make_objective(model, 1, tsel, pos if pos is None or isinstance(pos, str) else np.asarray(pos),
                             statistic)
        known = {}
        d = diag(model, x, obj, known=known)
        return ({"rc_consistency": np.asarray(d["rc_consistency"][0], np.float32),
                 "grad_fwd": center_acgt(known[False])[0].astype(np.float32)}, {"kind": "gradient_diagnostics"})
    key = cache_keys.attribution_key(model, sequence, {
        "kind": "gradient_diagnostics", "n_value": float(ens.n_value), "targets": tsel, "positions": pos,
        "statistic": statistic})
    return cache.get_or_compute(key, run)


def grad_vs_ism(diag, ism, window) -> float:
    """Pearson r of the centred forward saliency map (``diag`` of :func:`gradient_diagnostics`)
    and the centred ISM deltas (``ism`` of :func:`attribute`) on ``window`` = (start, end)."""
    from seqnn_engine.attribution.input_attr import pearson_rows
    a, b = int(window[0]), int(window[1])
    return float(pearson_rows(np.asarray(diag["grad_fwd"])[None, a:b], np.asarray(ism["grads"])[None, a:b])[0])


def layers_key(model, sequence: str, layers, targets, positions, ens: Ensemble) -> str:
    opts = {**ens.options(), "kind": "layer_gradients", "layers": [int(i) for i in layers],
            "targets": sorted(int(t) for t in targets), "positions": _positions(positions),
            "strand_pair": None if model.strand_pair is None else [int(v) for v in model.strand_pair]}
    return result_key(model.digest, sequence_digest(cache_keys.canonical_sequence(sequence)), opts)


def layer_gradients(cache, model, sequence: str, layers, targets, positions, ens: Ensemble,
                    progress: Progress = None):
    """Layer gradients and representations.

    Result arrays per chosen tap ``i``: ``grads_<i>`` (T, P_l, U_l) and ``reprs_<i>`` (P_l, U_l),
    T = the chosen targets in ascending order.
    """
    layers = [int(i) for i in layers]
    pos = _positions(positions)
    tsel = sorted(int(t) for t in targets)

    def run():
        x = onehot(sequence, ens.n_value)
        kw = dict(layers=layers, targets=tsel,
                  positions=None if pos is None else (pos if isinstance(pos, str) else np.asarray(pos)),
                  rc=ens.rc, shifts=tuple(ens.shifts), mc_n=ens.mc_n)
        if progress is not None:
            kw["progress"] = progress
        try:
            g = model.gradients(x, **kw)
        except TypeError:
            kw.pop("progress", None)
            g = model.gradients(x, **kw)
        arrays = {}
        for i, gi, ri in zip(layers, g.grads, g.reprs):
            arrays[f"grads_{i}"] = np.asarray(gi[0], np.float32)
            arrays[f"reprs_{i}"] = np.asarray(ri[0], np.float32)
        return arrays, {"layers": layers, "targets": tsel}
    return cache.get_or_compute(layers_key(model, sequence, layers, targets, positions, ens), run)


def mutate(sequence: str, position: int, alt: str) -> str:
    """The window with base ``alt`` at window position ``position`` (0-based)."""
    alt = (alt or "").upper()
    if alt not in ("A", "C", "G", "T"):
        raise InputError(f"alternative base must be A, C, G or T, got {alt!r}")
    if not 0 <= int(position) < len(sequence):
        raise InputError(f"variant position {position} is outside the {len(sequence)} bp window")
    p = int(position)
    return sequence[:p] + alt + sequence[p + 1:]


# ----------------------------------------------------------------------------------- seqlets and motifs

#: options of the dashboard's seqlet calls (seqnn_engine.motifs.seqlets.call_seqlets / annotate)
SEQLET_OPTIONS = {"alpha": 0.05, "min_len": 4, "max_len": 30, "flank": 0, "merge_gap": 5, "n_matches": 3}
MATCH_K = 3


def motifs_available() -> bool:
    try:
        importlib.import_module("seqnn_engine.motifs.seqlets")
        importlib.import_module("seqnn_engine.motifs.annotate")
        return True
    except ImportError:
        return False


def fimo_available() -> bool:
    try:
        importlib.import_module("seqnn_engine.motifs.fimo")
        return True
    except ImportError:
        return False


@dataclass(frozen=True)
class MotifDatabase:
    """A motif set and the exact digest of its source (the bundled JASPAR file's bytes, or an
    uploaded file's bytes), which keys every result computed with it."""

    motifs: object        # seqnn_engine.motifs.meme.MotifSet
    digest: str
    label: str


def jaspar_database() -> MotifDatabase:
    """The bundled JASPAR 2024 CORE vertebrates non-redundant set."""
    from seqnn_engine.motifs import meme
    from seqnn_engine.batch.store import file_digest
    return MotifDatabase(meme.jaspar(), file_digest(meme.JASPAR_FILE), "JASPAR 2024 CORE vertebrates")


def parse_database(data: bytes, file_name: str) -> MotifDatabase:
    """A user's MEME file (bytes as uploaded); InputError (naming the file and line) when malformed."""
    import hashlib

    from seqnn_engine.motifs import meme
    if len(data) > meme.MAX_MEME_BYTES:
        raise InputError(f"{file_name} is larger than {meme.MAX_MEME_BYTES >> 20} MB; is it a MEME motif file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{file_name} is not a text file (MEME motif files are plain text)") from None
    ms = meme.parse_meme(text, file_name)
    return MotifDatabase(ms, hashlib.sha256(data).hexdigest(), file_name)


def seqlets_key(attr_key: str, db: MotifDatabase, options: dict | None = None) -> str:
    opts = {**SEQLET_OPTIONS, **(options or {})}
    return result_key("seqlets", attr_key, {"kind": "seqlets", "database": db.digest, **opts})


def _str_array(a) -> np.ndarray:
    return np.asarray([str(v) for v in np.ravel(a)], dtype=str).reshape(np.shape(a)) if np.size(a) else \
        np.zeros(np.shape(a), dtype="<U1")


def seqlets(cache, attr, attr_key: str, method: str, sequence: str, db: MotifDatabase, targets: str = "",
            objective: str = "", options: dict | None = None):
    """Seqlets of one attribution, annotated with their best motif matches (cached).

    attr: the attribution :class:`app.cache.Result` (``scores`` (L, 4), ``grads`` (L, 4)).
    Contribution methods' scores are used as they are; for gradient methods the contribution of
    a base is its hypothetical score at the present base (``onehot`` given to the caller).
    Result arrays (N seqlets, K = 3 matches): ``start``, ``end`` (N,) int64 window positions,
    ``sign`` (N,) int8, ``score``, ``p_value``, ``p_adj`` (N,) float64, ``strand`` (N,) str,
    ``match_ids``, ``match_names``, ``match_strand`` (N, K) str, ``match_p``, ``match_q``
    (N, K) float64, ``match_offset`` (N, K) int64. meta: the caller's settings, database, max_q.
    """
    from seqnn_engine.motifs import annotate
    from seqnn_engine.motifs.seqlets import call_seqlets, position_contributions
    opts = {**SEQLET_OPTIONS, **(options or {})}

    def run():
        scores = np.asarray(attr["scores"], np.float32)[None]
        hyp = np.asarray(attr["grads"], np.float32)[None]
        x = onehot(sequence, 0.0)
        contrib_method = method in ("grad_x_input", "integrated_gradients")
        contrib = position_contributions(scores, None if contrib_method else x)      # (1, L)
        tab = call_seqlets(contrib, alpha=opts["alpha"], min_len=opts["min_len"], max_len=opts["max_len"],
                           flank=opts["flank"], merge_gap=opts["merge_gap"], targets=targets, objective=objective, method=method)
        tab = annotate.annotate_seqlets(tab, x, hypothetical=hyp, contributions=contrib, motifs=db.motifs,
                                        top=opts["n_matches"])
        return seqlet_arrays(tab), {"settings": tab.settings, "database": db.label, "targets": targets,
                                    "objective": objective, "method": method,
                                    "max_q": float(tab.matches.max_q) if tab.matches is not None else 1.0}
    return cache.get_or_compute(seqlets_key(attr_key, db, opts), run)


def seqlet_arrays(tab) -> dict:
    """Named arrays of an annotated SeqletTable (no object arrays, so the result store keeps them)."""
    n = len(tab)
    m = tab.matches
    k = MATCH_K

    def pad(a, fill, dtype):
        out = np.full((n, k), fill, dtype=dtype)
        if m is not None and a.size:
            w = min(k, a.shape[1])
            out[:, :w] = a[:, :w]
        return out
    return {"start": np.asarray(tab.start, np.int64), "end": np.asarray(tab.end, np.int64),
            "sign": np.asarray(tab.sign, np.int8), "score": np.asarray(tab.score, np.float64),
            "p_value": np.asarray(tab.p_value, np.float64), "p_adj": np.asarray(tab.p_adj, np.float64),
            "strand": _str_array(tab.strand),
            "match_ids": _str_array(pad(m.ids if m else np.zeros((n, 0)), "", object)),
            "match_names": _str_array(pad(m.names if m else np.zeros((n, 0)), "", object)),
            "match_strand": _str_array(pad(m.strand if m else np.zeros((n, 0)), "", object)),
            "match_p": pad(m.p_value if m else np.zeros((n, 0)), np.nan, np.float64),
            "match_q": pad(m.q_value if m else np.zeros((n, 0)), np.nan, np.float64),
            "match_offset": pad(m.offset if m else np.zeros((n, 0)), 0, np.int64)}


def seqlet_table(result, chrom: str, start: int, chrom_sizes: dict | None = None):
    """The engine's SeqletTable of a cached seqlet result, placed at ``chrom:start`` (the display
    coordinate of window position 0: genome coordinates for genome inputs, the position in the
    user's sequence under its record name for FASTA inputs)."""
    from seqnn_engine.motifs.seqlets import MotifMatches, SeqletTable
    a = result.arrays
    meta = result.meta
    n = len(a["start"])
    obj = lambda v: np.asarray(v, dtype=object)  # noqa: E731
    matches = MotifMatches(ids=obj(a["match_ids"]), names=obj(a["match_names"]), p_value=np.array(a["match_p"]),
                           q_value=np.array(a["match_q"]), strand=np.array(a["match_strand"], dtype="<U1"),
                           offset=np.array(a["match_offset"]), database=meta.get("database", ""),
                           max_q=float(meta.get("max_q", 1.0)))
    tab = SeqletTable(seq=np.zeros(n, np.int64), start=np.array(a["start"]), end=np.array(a["end"]),
                      sign=np.array(a["sign"]), score=np.array(a["score"]), p_value=np.array(a["p_value"]),
                      p_adj=np.array(a["p_adj"]), targets=meta.get("targets", ""),
                      objective=meta.get("objective", ""), method=meta.get("method", ""),
                      settings=dict(meta.get("settings", {})))
    tab = tab.with_matches(matches)
    return tab.place([chrom], [int(start)], chrom_sizes=chrom_sizes)


FIMO_THRESHOLD = 1e-4


def fimo_key(sequence: str, db: MotifDatabase, motif_ids, threshold: float = FIMO_THRESHOLD) -> str:
    return result_key("fimo", sequence_digest(cache_keys.canonical_sequence(sequence)),
                      {"kind": "fimo", "database": db.digest, "motifs": sorted(str(m) for m in motif_ids),
                       "threshold": float(threshold)})


def fimo(cache, sequence: str, db: MotifDatabase, motif_ids, threshold: float = FIMO_THRESHOLD):
    """FIMO hits of the chosen motifs in the window (cached).

    Result arrays (N hits): ``motif`` (N,) int64 index into ``motif_ids`` sorted, ``start``,
    ``end`` (N,) int64 window positions (half-open), ``strand`` (N,) str, ``score``,
    ``p_value`` (N,) float64; ``ids``, ``names`` (M,) str: the scanned motifs.
    """
    from seqnn_engine.motifs.fimo import fimo_scan
    ids = sorted(str(m) for m in motif_ids)

    def run():
        sub = db.motifs.subset(ids)
        hits = fimo_scan(onehot(sequence, 0.0), sub, threshold=float(threshold))
        row = {mid: i for i, mid in enumerate(sub.ids)}
        return ({"motif": np.array([row[str(m)] for m in hits.motif_id], np.int64),
                 "start": np.asarray(hits.start, np.int64), "end": np.asarray(hits.end, np.int64),
                 "strand": _str_array(hits.strand), "score": np.asarray(hits.score, np.float64),
                 "p_value": np.asarray(hits.p_value, np.float64),
                 "ids": _str_array(sub.ids), "names": _str_array(sub.names)}, {"threshold": float(threshold)})
    return cache.get_or_compute(fimo_key(sequence, db, ids, threshold), run)
