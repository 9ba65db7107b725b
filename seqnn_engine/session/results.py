"""Typed results of a session (named read-only arrays over :class:`~seqnn_engine.batch.result_cache.Result`)
and the motif databases a request names."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..batch.result_cache import Result
from ..errors import InputError
from .options import MATCH_K

# ======================================================================================
# typed results (named read-only arrays; see result_cache.Result)


class Prediction(Result):
    """Ensemble prediction of one window: ``preds`` (P, T') mean, ``sd`` (P, T') (0 with one
    member), ``members`` (P, T', E), ``target_index`` (T',) int64 (all targets for ordinary
    heads, the chosen ones ascending for large heads); meta ``member_labels``."""

    def columns(self, targets) -> np.ndarray:
        """(k,) column of each chosen target."""
        tidx = [int(t) for t in self.arrays["target_index"]]
        try:
            return np.array([tidx.index(int(t)) for t in targets], dtype=np.int64)
        except ValueError:
            raise InputError("a chosen target is not in this prediction; pick the targets again") from None

    def per_shift(self, shifts: Sequence[int], members: list) -> np.ndarray:
        """(H, P, T') each shift's members averaged (RC and MC members of that shift)."""
        m = np.asarray(self.arrays["members"])
        labels = [mb.shift for mb in members]
        return np.stack([m[..., [i for i, s in enumerate(labels) if s == h]].mean(-1) for h in shifts])


class Attribution(Result):
    """Input attribution: ``scores`` (L, 4), ``grads`` (L, 4) hypothetical scores (also
    ``hypothetical``), ``objective`` (), and each engine diagnostic as ``diag_<name>``; meta
    method, window."""

    @property
    def hypothetical(self) -> np.ndarray:
        return self.arrays["grads"]

    @property
    def diagnostics(self) -> dict:
        return {k[5:]: np.asarray(v) for k, v in self.arrays.items() if k.startswith("diag_")}

    def position_scores(self) -> np.ndarray:
        """(L,) per-position summary (the engine's ``Attribution.position_scores``)."""
        from ..attribution.input_attr import Attribution as EngineAttribution
        a = EngineAttribution(method=self.meta.get("method", "saliency"), scores=np.asarray(self["scores"])[None],
                              hypothetical=np.asarray(self["grads"])[None], objective=np.zeros(1, np.float32))
        return np.asarray(a.position_scores()[0], np.float32)


class LayerGradients(Result):
    """Layer gradients: per tap ``i`` ``grads_<i>`` (T, P_l, U_l) and ``reprs_<i>`` (P_l, U_l),
    T = the chosen targets ascending; meta layers, targets."""

    def grads(self, i: int) -> np.ndarray:
        return self.arrays[f"grads_{int(i)}"]

    def reprs(self, i: int) -> np.ndarray:
        return self.arrays[f"reprs_{int(i)}"]


class GeneValues(Result):
    """Gene values of one gene window: ``values`` (T',) float32 per target (NaN for targets on the
    strand opposite to the gene), ``target_index`` (T',), ``tss_bins`` (K,), ``n_tss`` ()."""


class VariantEffect(Result):
    """One substitution scored on the window centred on it (seqnn_engine.analysis.variants): ``ref``,
    ``alt`` (H, P, T') predictions per shift, one (T',) array per statistic, ``target_index``;
    meta chrom, window_start, position (display coordinate), ref, alt, flipped, id. With several
    replicates every array is the mean over replicates and each statistic has ``<stat>_replicate_std``
    (T',); meta replicates."""


class VariantAttribution(Result):
    """The attribution of a variant's score on its REF and ALT windows (same window, alleles differ):
    ``ref_scores``, ``alt_scores`` (L, 4) scores, ``ref_grads``, ``alt_grads`` (L, 4) hypothetical scores,
    ``ref_objective``, ``alt_objective`` () the objective on each window (with replicates also
    ``ref_scores_replicate_std``, ``alt_scores_replicate_std``); meta window_start, seq_pos (window
    position of the variant's first REF base), ref, alt, method, targets."""

    def position_scores(self, side: str) -> np.ndarray:
        """(L,) per-position summary of side 'ref' or 'alt' (the engine's ``Attribution.position_scores``:
        the signed contribution for grad_x_input)."""
        from ..attribution.input_attr import Attribution as EngineAttribution
        a = EngineAttribution(method=self.meta.get("method", "grad_x_input"),
                              scores=np.asarray(self[f"{side}_scores"])[None],
                              hypothetical=np.asarray(self[f"{side}_grads"])[None], objective=np.zeros(1, np.float32))
        return np.asarray(a.position_scores()[0], np.float32)


class Seqlets(Result):
    """Seqlets with their best K motif matches (N seqlets): ``start``, ``end`` (N,) window
    positions, ``sign``, ``score``, ``p_value``, ``p_adj``, ``strand``, ``match_*`` (N, K)."""


class SeqletKnockout(Result):
    """Knock-out verification of N seqlets (rows in the order of their :class:`Seqlets`; see
    :mod:`seqnn_engine.session.motifs`): ``effect``, ``effect_sd``, ``p_value``, ``q_value``, ``share``
    (N,) float64, ``verified``, ``significant`` (N,) bool, ``base`` (1,) the window's objective,
    ``null_effect`` (M,) the null spans' effects; meta: the options, ``mc_ignored``, ``replicates``."""


class MotifHits(Result):
    """FIMO hits (N): ``motif`` index into ``ids``, ``start``, ``end`` window positions,
    ``strand``, ``score``, ``p_value``; ``ids``, ``names`` (M,) the scanned motifs."""


@dataclass(frozen=True)
class MotifDatabase:
    """A motif set and the exact digest of its source bytes (which keys every result computed with it)."""

    motifs: object        # seqnn_engine.motifs.meme.MotifSet
    digest: str
    label: str

    @classmethod
    def jaspar(cls) -> "MotifDatabase":
        """The bundled JASPAR 2024 CORE vertebrates non-redundant set."""
        from ..motifs import meme
        from ..batch.store import file_digest
        return cls(meme.jaspar(), file_digest(meme.JASPAR_FILE), "JASPAR 2024 CORE vertebrates")

    @classmethod
    def parse(cls, data: bytes, file_name: str) -> "MotifDatabase":
        """A user's MEME file (bytes as uploaded); InputError (naming the file and line) when malformed."""
        import hashlib

        from ..motifs import meme
        if len(data) > meme.MAX_MEME_BYTES:
            raise InputError(f"{file_name} is larger than {meme.MAX_MEME_BYTES >> 20} MB; is it a MEME motif file?")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{file_name} is not a text file (MEME motif files are plain text)") from None
        return cls(meme.parse_meme(text, file_name), hashlib.sha256(data).hexdigest(), file_name)


def onehot(sequence: str, n_value: float = 0.0) -> np.ndarray:
    """(1, L, 4) float32 one-hot of one window."""
    from ..genomics.onehot import encode
    return encode(sequence, n_value=n_value)[None].astype(np.float32)


def _str_array(a) -> np.ndarray:
    return np.asarray([str(v) for v in np.ravel(a)], dtype=str).reshape(np.shape(a)) if np.size(a) else \
        np.zeros(np.shape(a), dtype="<U1")


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


def seqlet_table(result: Result, chrom: str | None = None, start: int = 0, chrom_sizes: dict | None = None):
    """The engine's SeqletTable of a seqlet result (sequence 0, window positions), placed at
    ``chrom:start`` (the display coordinate of window position 0) when ``chrom`` is given."""
    from ..motifs.seqlet_table import MotifMatches, SeqletTable
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
    return tab if chrom is None else tab.place([chrom], [int(start)], chrom_sizes=chrom_sizes)


def knockout_table(result: Result):
    """The engine's :class:`~seqnn_engine.motifs.verify.KnockoutTable` of a :class:`SeqletKnockout` result
    (for :meth:`seqnn_engine.motifs.seqlet_table.SeqletTable.with_knockout`); the null spans are not kept."""
    from ..motifs.verify import KnockoutTable
    a, m = result.arrays, result.meta
    empty = np.zeros(0, np.int64)
    return KnockoutTable(effect=np.array(a["effect"]), effect_sd=np.array(a["effect_sd"]),
                         p_value=np.array(a["p_value"]), q_value=np.array(a["q_value"]),
                         verified=np.array(a["verified"], bool), significant=np.array(a["significant"], bool),
                         base=np.array(a["base"]), null_seq=empty, null_start=empty, null_end=empty,
                         null_effect=np.array(a["null_effect"]), share=np.array(a["share"]),
                         alpha=float(m["alpha"]), min_share=float(m["min_share"]), n_shuffles=int(m["n_shuffles"]),
                         seed=int(m["seed"]), objective=dict(m.get("objective", {})), seconds=float(m.get("seconds", 0)))
