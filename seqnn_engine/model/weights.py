"""Load weights into a built network, whatever the file is named.

Formats (detected from the file's content, never its name):
- legacy Keras 2 HDF5, full save (``model_weights`` group) or weights only
  (``layer_names`` attribute at the root): matched by ORDER of weight-bearing
  layers, checking every array's shape;
- Keras 3 ``.weights.h5`` (``layers/<name>/vars/<i>``): matched by the
  deterministic per-model layer names the builder gives.
Only arrays are read: no model config or code in the file is ever deserialized.
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ..errors import InputError


# what h5py raises for damaged or odd files besides OSError (bad heap signatures, wrong object kinds, ...)
_H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, AttributeError, IndexError)


def _s(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def weighted_layers(layers):
    """Layers holding variables, in creation order."""
    return [lyr for lyr in layers if lyr.weights]


def legacy_variables(layer):
    """A layer's variables in legacy Keras 2 order."""
    return layer.legacy_weights() if hasattr(layer, "legacy_weights") else list(layer.weights)


def keras3_variables(layer):
    """(path relative to the layer group, variable) pairs in the Keras 3 layout."""
    if hasattr(layer, "keras3_weights"):
        return layer.keras3_weights()
    return [(f"vars/{i}", v) for i, v in enumerate(layer.weights)]


def detect_format(path) -> str:
    """'legacy' or 'keras3'; InputError when the file is not a readable weights HDF5."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"weights file not found: {p}")
    if p.stat().st_size == 0:
        raise InputError(f"weights file {p.name} is empty (0 bytes): re-download or re-export it")
    try:
        with h5py.File(p, "r") as f:
            if "model_weights" in f and "layer_names" in f["model_weights"].attrs:
                return "legacy"
            if "layer_names" in f.attrs:
                return "legacy"
            if "layers" in f:
                return "keras3"
    except _H5_ERRORS as e:
        raise InputError(f"weights file {p.name} is not a readable HDF5 file ({e}); it may be truncated or "
                         "not a Keras weights file") from None
    raise InputError(f"weights file {p.name} is HDF5 but holds no Keras weights (no 'model_weights' group, "
                     "'layer_names' attribute or 'layers' group)")


def _assign(var, arr, where):
    if tuple(var.shape) != tuple(arr.shape):
        raise InputError(f"weights do not match params.json at {where}: the model expects shape "
                         f"{tuple(var.shape)}, the file has {tuple(arr.shape)}")
    var.assign(arr.astype(var.dtype.name if hasattr(var.dtype, "name") else var.dtype))


def _load_legacy(layers, path):
    name = Path(path).name
    try:
        with h5py.File(path, "r") as f:
            g = f["model_weights"] if "model_weights" in f else f
            file_layers = []
            for ln in g.attrs["layer_names"]:
                ln = _s(ln)
                wn = [_s(w) for w in g[ln].attrs.get("weight_names", [])]
                if wn:
                    file_layers.append((ln, [np.asarray(g[ln][w]) for w in wn], wn))
    except InputError:
        raise
    except _H5_ERRORS as e:
        raise InputError(f"weights file {name} is damaged or truncated ({e}): re-download or re-export it") from None
    mine = weighted_layers(layers)
    n_mine_w = sum(len(legacy_variables(lyr)) for lyr in mine)
    n_file_w = sum(len(a) for _, a, _ in file_layers)
    first_diff = None
    for i in range(max(len(mine), len(file_layers))):
        if i >= len(mine) or i >= len(file_layers):
            first_diff = i
            break
        mv = legacy_variables(mine[i])
        _, arrs, _ = file_layers[i]
        if len(mv) != len(arrs) or any(tuple(v.shape) != a.shape for v, a in zip(mv, arrs)):
            first_diff = i
            break
    if first_diff is not None:
        def describe(seq, i, kind):
            if i >= len(seq):
                return f"(no {kind} layer #{i})"
            if kind == "model":
                lyr = seq[i]
                return f"{lyr.name} {[tuple(v.shape) for v in legacy_variables(lyr)]}"
            ln, arrs, _ = seq[i]
            return f"{ln} {[a.shape for a in arrs]}"
        raise InputError(
            f"weights file {name} does not match params.json: params.json builds {len(mine)} layers with "
            f"{n_mine_w} weight arrays, the file has {len(file_layers)} layers with {n_file_w} weight "
            f"arrays; first difference at weight-bearing layer #{first_diff}: model expects "
            f"{describe(mine, first_diff, 'model')}, file has {describe(file_layers, first_diff, 'file')}. "
            "Check that the weights were trained with this params.json (and this head).")
    for lyr, (ln, arrs, _) in zip(mine, file_layers):
        for v, a in zip(legacy_variables(lyr), arrs):
            _assign(v, a, f"layer {lyr.name} (file {ln})")


def _load_keras3(layers, path):
    name = Path(path).name
    mine = weighted_layers(layers)
    try:
        with h5py.File(path, "r") as f:
            g = f["layers"]
            file_names = [k for k in g.keys() if _has_vars(g[k])]
            n_file_w = sum(_count_vars(g[k]) for k in file_names)
            n_mine_w = sum(len(keras3_variables(lyr)) for lyr in mine)
            missing = [lyr.name for lyr in mine if lyr.name not in g]
            extra = sorted(set(file_names) - {lyr.name for lyr in mine})
            if missing or extra or n_file_w != n_mine_w:
                raise InputError(
                    f"weights file {name} does not match params.json: params.json builds {len(mine)} layers "
                    f"with {n_mine_w} weight arrays, the file has {len(file_names)} layers with {n_file_w}; "
                    f"first layer that differs: "
                    f"{('model layer ' + missing[0] + ' is missing from the file') if missing else ('file layer ' + extra[0] + ' is not in the model') if extra else 'weight counts differ'}. "
                    "Check that the weights were trained with this params.json (and this head).")
            for lyr in mine:
                for rel, v in keras3_variables(lyr):
                    key = f"{lyr.name}/{rel}"
                    if key not in g:
                        raise InputError(f"weights file {name} lacks {key}: it does not match params.json")
                    _assign(v, np.asarray(g[key]), f"layer {lyr.name} ({rel})")
    except InputError:
        raise
    except _H5_ERRORS as e:
        raise InputError(f"weights file {name} is damaged or truncated ({e}): re-download or re-export it") from None


def _has_vars(g):
    return _count_vars(g) > 0


def _count_vars(g):
    if not isinstance(g, h5py.Group):
        return 0
    n = 0
    for k, v in g.items():
        if k == "vars" and isinstance(v, h5py.Group):
            n += len(v.keys())
        elif isinstance(v, h5py.Group):
            n += _count_vars(v)
    return n


def load_weights(layers, path):
    """Load ``path`` into ``layers`` (creation order). Raises InputError on any mismatch."""
    fmt = detect_format(path)
    if fmt == "legacy":
        _load_legacy(layers, path)
    else:
        _load_keras3(layers, path)
    return fmt


def save_weights(layers, path):
    """Write the Keras 3 ``layers/<name>/vars/<i>`` layout (atomically)."""
    import os
    import tempfile
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            g = f.create_group("layers")
            f.create_group("vars")
            for lyr in weighted_layers(layers):
                for rel, v in keras3_variables(lyr):
                    g.create_dataset(f"{lyr.name}/{rel}", data=np.asarray(v.numpy()))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
