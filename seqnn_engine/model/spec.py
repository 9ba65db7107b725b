"""params.json -> a validated model specification (no Keras here)."""
from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

GLOBAL_KEYS = ("activation", "batch_norm", "bn_momentum", "norm_type", "l2_scale", "l1_scale", "padding",
               "kernel_initializer")
MODEL_KEYS = {"seq_length", "augment_rc", "augment_shift", "strand_pair", "trunk", "verbose",
              "diagonal_offset", *GLOBAL_KEYS}


class ParamsWarning(UserWarning):
    """A params.json entry the engine does not use (e.g. a training-only key)."""


def _natural_key(s: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


@dataclass
class ModelSpec:
    """The ``model`` section of params.json.

    seq_length: input length in bp. trunk: list of block dicts. heads: list (natural
    key order) of lists of block dicts. head_names: their keys. strand_pair: per head,
    a target permutation or None. globals: model-wide defaults flowing into blocks.
    """

    seq_length: int
    trunk: list
    heads: list
    head_names: list
    strand_pair: list
    globals: dict
    augment_rc: bool = False
    augment_shift: int = 0
    warnings: list = field(default_factory=list)

    def head_index(self, head) -> int:
        if isinstance(head, str):
            if head not in self.head_names:
                raise InputError(f"head {head!r} not in params.json; heads are {self.head_names}")
            return self.head_names.index(head)
        if not isinstance(head, int) or not 0 <= head < len(self.heads):
            raise InputError(f"head {head!r} out of range: this model has {len(self.heads)} head(s) "
                             f"{self.head_names} (use 0..{len(self.heads) - 1})")
        return head


def _check_block(b, where):
    if not isinstance(b, dict) or "name" not in b or not isinstance(b["name"], str):
        raise InputError(f"params.json: {where} must be a block object with a 'name' string, got {b!r:.80}")


def parse_params(source) -> ModelSpec:
    """Parse params.json (a path, a JSON string or a dict) into a :class:`ModelSpec`.

    Raises InputError for unreadable JSON, a missing ``model`` section, missing
    ``seq_length``/``trunk``/head, or malformed blocks.
    """
    if isinstance(source, dict):
        params = source
        label = "params"
    else:
        label = str(source)
        try:
            text = Path(source).read_text() if not str(source).lstrip().startswith("{") else str(source)
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"cannot read params file {label}: {e}") from None
        try:
            params = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"params file {label} is not valid JSON ({e.msg} at line {e.lineno} column "
                             f"{e.colno}): fix the JSON syntax") from None
    if not isinstance(params, dict):
        raise InputError(f"params file {label}: expected a JSON object with a 'model' section")
    model = params.get("model", params if "trunk" in params else None)
    if not isinstance(model, dict):
        raise InputError(f"params file {label} has no 'model' section: expected {{\"model\": {{...}}}}")
    if "seq_length" not in model:
        raise InputError(f"params file {label}: model.seq_length is missing (the input length in bp)")
    try:
        seq_length = int(model["seq_length"])
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"params file {label}: model.seq_length must be an integer, got "
                         f"{model['seq_length']!r}") from None
    if seq_length <= 0:
        raise InputError(f"params file {label}: model.seq_length must be positive")
    trunk = model.get("trunk")
    if not isinstance(trunk, list) or not trunk:
        raise InputError(f"params file {label}: model.trunk must be a non-empty list of blocks")
    for i, b in enumerate(trunk):
        _check_block(b, f"trunk[{i}]")
    head_names = sorted((k for k in model if k.startswith("head")), key=_natural_key)
    if not head_names:
        raise InputError(f"params file {label}: no head found (expected a 'head' or 'head_*' key in model)")
    heads = []
    for hn in head_names:
        h = model[hn]
        h = h if isinstance(h, list) else [h]
        for i, b in enumerate(h):
            _check_block(b, f"{hn}[{i}]")
        heads.append(h)
    sp = model.get("strand_pair", []) or []
    if not isinstance(sp, list) or not all(isinstance(p, list) for p in sp):
        raise InputError(f"params file {label}: strand_pair must be a list of lists (one per head)")
    strand_pair = [sp[i] if i < len(sp) else None for i in range(len(heads))]
    glob = {k: model[k] for k in GLOBAL_KEYS if k in model and model[k]}
    spec = ModelSpec(seq_length=seq_length, trunk=trunk, heads=heads, head_names=head_names,
                     strand_pair=strand_pair, globals=glob, augment_rc=bool(model.get("augment_rc", False)),
                     augment_shift=model.get("augment_shift", 0))
    for k in model:
        if k not in MODEL_KEYS and not k.startswith("head"):
            spec.warnings.append(f"params.json model key {k!r} is not used by the engine (ignored)")
    for w in spec.warnings:
        warnings.warn(w, ParamsWarning, stacklevel=2)
    return spec
