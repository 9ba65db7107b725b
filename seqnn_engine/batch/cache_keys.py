"""Store keys for per-sequence results, shared by the CLI and the dashboard.

A key is :func:`seqnn_engine.batch.store.result_key` of three parts:

* the model: ``model.digest`` (params + weights + head) -- plus, in the options, the
  model's ``strand_pair`` (it may come from targets.txt rather than the weights, and it
  changes reverse-complement ensembles);
* the sequence: :func:`~seqnn_engine.batch.store.sequence_digest` of the *canonical* window
  string (:func:`canonical_sequence`: upper case, anything but A/C/G/T written ``N``), so
  inputs that encode to the same one-hot share an entry;
* the options: the caller's options merged over the defaults of the operation
  (:data:`PREDICTION_DEFAULTS`, :data:`ATTRIBUTION_DEFAULTS`), so ``{}`` and
  ``{"rc": False}`` give the same key. The N encoding (``n_value``: 0.0 all-zero rows,
  0.25 uniform) is part of the options. Options not listed in the defaults (for example
  a method's sample count) are kept as given. ``mc_seed`` is kept only when ``mc_n`` > 0,
  and MC keys also name the mask scheme (:data:`MC_MASKS`), so entries written by an engine
  whose MC masks followed the batch are never served.
  How a result is computed is left out: the batch size, the ISM engine and chunk size do
  not change the numbers (MC-dropout samples have fixed masks per (mc_seed, sample,
  layer), whatever the batching: see seqnn_engine.model.mc_dropout), so callers drop them.

What is stored under each key (names of the arrays, per sequence):

* prediction: ``preds`` (P, T) float32, the ensemble mean of the selected targets;
* attribution: ``scores`` (L, 4), ``grads`` (L, 4) hypothetical scores, ``objective`` ().
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..errors import InputError
from .store import result_key, sequence_digest

__all__ = [
    "PREDICTION_DEFAULTS", "ATTRIBUTION_DEFAULTS", "MC_MASKS", "canonical_sequence", "prediction_options",
    "attribution_options", "prediction_key", "attribution_key", "layer_gradients_key", "variant_key",
    "seqlets_key", "fimo_key",
]

#: options of a prediction and their defaults (what ``SeqModel.predict`` uses)
PREDICTION_DEFAULTS: dict[str, Any] = {
    "rc": False, "shifts": [0], "mc_n": 0, "mc_seed": 0, "targets": None, "n_value": 0.0,
    "down_sample": 1,
}

#: options of an input attribution and their defaults (what ``SeqModel.attribute`` uses)
ATTRIBUTION_DEFAULTS: dict[str, Any] = {
    "method": "saliency", "targets": None, "positions": None, "statistic": "sum",
    "mean_center": True, "rc": False, "shifts": [0], "mc_n": 0, "mc_seed": 0, "window": None,
    "n_value": 0.0,
}

#: the MC-dropout mask scheme (seqnn_engine.model.mc_dropout): one fixed mask per (mc_seed,
#: sample, layer). Part of every key with mc_n > 0; change it when the masks change.
MC_MASKS = "per-sample-stateless-v1"

_ACGT = frozenset("ACGT")


def canonical_sequence(seq: str) -> str:
    """Upper case, with every character other than A, C, G, T replaced by ``N``."""
    if not isinstance(seq, str):
        raise InputError(f"a sequence key needs a DNA string, got {type(seq).__name__}")
    s = seq.upper()
    if set(s) <= _ACGT:
        return s
    return "".join(c if c in _ACGT else "N" for c in s)


def _int_list(value, what: str):
    if value is None:
        return None
    arr = np.atleast_1d(np.asarray(value))
    if arr.dtype.kind not in "iu":
        raise InputError(f"option {what} must be integers, got {value!r}")
    return [int(v) for v in arr.reshape(-1)]


def _merge(defaults: Mapping[str, Any], opts: Mapping[str, Any] | None) -> dict[str, Any]:
    out = dict(defaults)
    out.update(dict(opts or {}))
    out["rc"] = bool(out["rc"])
    out["shifts"] = _int_list(out["shifts"], "shifts") or [0]
    out["mc_n"] = int(out["mc_n"] or 0)
    out["mc_seed"] = int(out["mc_seed"]) if out["mc_n"] else 0  # the seed matters only with MC samples
    if out["mc_n"]:
        out["mc_masks"] = MC_MASKS
    out["targets"] = _int_list(out["targets"], "targets")
    out["n_value"] = float(out["n_value"])
    return out


def prediction_options(opts: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``opts`` merged over :data:`PREDICTION_DEFAULTS`, with types normalised."""
    out = _merge(PREDICTION_DEFAULTS, opts)
    out["down_sample"] = int(out["down_sample"])
    return out


def attribution_options(opts: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``opts`` merged over :data:`ATTRIBUTION_DEFAULTS`, with types normalised.

    ``positions`` may be None (all bins), ``"center"`` or a list of bin indexes;
    ``window`` None or ``[start, end]`` in bp (ISM); ``targets`` are sorted (the objective
    is their mean, so ``[7, 6]`` and ``[6, 7]`` name one result).
    """
    out = _merge(ATTRIBUTION_DEFAULTS, opts)
    if out["targets"] is not None:
        out["targets"] = sorted(out["targets"])  # the objective averages over them: order is irrelevant
    out["method"] = str(out["method"])
    out["statistic"] = str(out["statistic"])
    out["mean_center"] = bool(out["mean_center"])
    pos = out["positions"]
    if pos is not None and not isinstance(pos, str):
        out["positions"] = np.asarray(pos).tolist()
    if out["window"] is not None:
        out["window"] = _int_list(out["window"], "window")
    return out


def _model_part(model) -> tuple[str, Any]:
    digest = getattr(model, "digest", None)
    if not isinstance(digest, str) or not digest:
        raise InputError("the model has no digest: load it with seqnn_engine.load_model or load_model_dir")
    sp = getattr(model, "strand_pair", None)
    return digest, (None if sp is None else [int(v) for v in np.asarray(sp).reshape(-1)])


def _key(kind: str, model, seq: str, opts: dict[str, Any]) -> str:
    digest, strand_pair = _model_part(model)
    payload = {"kind": kind, "strand_pair": strand_pair, **opts}
    return result_key(digest, sequence_digest(canonical_sequence(seq)), payload)


def prediction_key(model, seq: str, opts: Mapping[str, Any] | None = None) -> str:
    """Store key of the prediction of window ``seq`` (exactly ``model.seq_length`` bases)."""
    return _key("prediction", model, seq, prediction_options(opts))


def attribution_key(model, seq: str, opts: Mapping[str, Any] | None = None) -> str:
    """Store key of the input attribution of window ``seq``."""
    return _key("attribution", model, seq, attribution_options(opts))


def layer_gradients_key(model, seq: str, opts: Mapping[str, Any]) -> str:
    """Store key of the layer gradients of window ``seq`` (opts: ensemble, layers, targets, positions)."""
    o = dict(opts)
    o["targets"] = None if o.get("targets") is None else sorted(_int_list(o["targets"], "targets"))
    o["layers"] = _int_list(o.get("layers"), "layers")
    return _key("layer_gradients", model, seq, o)


def variant_key(model, ref_seq: str, alt_seq: str, opts: Mapping[str, Any]) -> str:
    """Store key of one variant's scores: the REF and ALT windows and the scoring options."""
    digest, strand_pair = _model_part(model)
    seqs = sequence_digest(canonical_sequence(ref_seq) + ">" + canonical_sequence(alt_seq))
    return result_key(digest, seqs, {"kind": "variant", "strand_pair": strand_pair, **dict(opts)})


def seqlets_key(attribution_key: str, database_digest: str, opts: Mapping[str, Any]) -> str:
    """Store key of the seqlets of an attribution result, named with one motif database."""
    return result_key("seqlets", attribution_key, {"kind": "seqlets", "database": database_digest, **dict(opts)})


def fimo_key(seq: str, database_digest: str, motif_ids, threshold: float) -> str:
    """Store key of the FIMO hits of the chosen motifs in window ``seq``."""
    return result_key("fimo", sequence_digest(canonical_sequence(seq)),
                      {"kind": "fimo", "database": database_digest, "motifs": sorted(str(m) for m in motif_ids),
                       "threshold": float(threshold)})
