"""Model directories: params.json + targets.txt + weights (*.h5) + optional manifest.json.

manifest.json (all paths relative to the directory) may name: ``name``, ``params``,
``weights`` (list; several = replicates), ``targets``, ``genome``, ``genes``,
``motif_sites``, ``test_chroms``, ``head``. Manifest paths may not climb out of the
directory (``..``). When ``allowed_roots`` are given (the dashboard's allow-list),
every file, after following symlinks, must also lie inside one of those roots.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..errors import InputError


def check_allowed(path: Path, roots, what: str) -> Path:
    """``path`` with symlinks followed; InputError unless it lies inside one of ``roots``."""
    p = Path(path).resolve()
    for r in roots:
        r = Path(r).resolve()
        if p == r or r in p.parents:
            return p
    raise InputError(f"{what} {p.name} is outside the allowed folders: only files inside the configured "
                     "model roots can be used")


def _join_inside(d: Path, rel: str, what: str) -> Path:
    """``d / rel`` without following symlinks; InputError for absolute paths or '..' escapes."""
    if not isinstance(rel, str) or not rel.strip():
        raise InputError(f"manifest {what} must be a non-empty path string relative to {d}, got {rel!r:.80}")
    rel_p = Path(rel)
    if rel_p.is_absolute() or ".." in rel_p.parts:
        raise InputError(f"manifest {what} path {rel!r} points outside the model directory {d}: use a path "
                         "relative to the directory, without '..'")
    return d / rel_p


@dataclass
class ModelDir:
    """A resolved model directory (absolute paths; optional entries may be None)."""

    path: Path
    name: str
    params: Path
    weights: list
    targets: Optional[Path] = None
    genome: Optional[Path] = None
    genes: Optional[Path] = None
    motif_sites: Optional[Path] = None
    test_chroms: list = field(default_factory=list)
    head: int = 0
    manifest: dict = field(default_factory=dict)


def read_model_dir(path, allowed_roots=None, require_weights: bool = True) -> ModelDir:
    """Resolve the files of a model directory; InputError naming what is missing.

    allowed_roots: when given, every file (symlinks followed) must lie inside one of them.
    require_weights: False accepts a directory without weights files (``weights`` is then
    empty; for random weights, which must be asked for explicitly).
    """
    d = Path(path)
    if not d.is_dir():
        raise InputError(f"model directory not found: {d}")
    manifest = {}
    mf = d / "manifest.json"
    if mf.exists():
        try:
            manifest = json.loads(mf.read_text())
        except (OSError, ValueError) as e:
            raise InputError(f"{mf} is not valid JSON: {e}") from None
        if not isinstance(manifest, dict):
            raise InputError(f"{mf} must hold a JSON object")

    def opt(key, default=None):
        v = manifest.get(key, default)
        if v is None:
            return None
        p = _join_inside(d, v, key)
        if not p.exists():
            raise InputError(f"{mf.name} names {key} {v!r}, which does not exist in {d}")
        return p

    params = opt("params", "params.json")
    if params is None or not params.exists():
        raise InputError(f"model directory {d} has no params.json")
    if "weights" in manifest:
        w = manifest["weights"]
        w = [w] if isinstance(w, str) else w
        if not isinstance(w, list):
            raise InputError(f"{mf} 'weights' must be a file name or a list of file names, got {w!r:.80}")
        weights = [_join_inside(d, x, "weights") for x in w]
        for x in weights:
            if not x.exists():
                raise InputError(f"manifest weights file {x.name} does not exist in {d}")
    else:
        weights = sorted(p for p in d.glob("*.h5") if p.is_file())
    if not weights and require_weights:
        raise InputError(f"model directory {d} has no weights file (*.h5): add one, or ask for random "
                         "weights explicitly (random_weights=True, CLI --random-weights)")
    targets = opt("targets", "targets.txt" if (d / "targets.txt").exists() else None)
    try:
        head = int(manifest.get("head", 0))
        test_chroms = manifest.get("test_chroms", [])
        if not isinstance(test_chroms, list):
            raise TypeError
        test_chroms = [str(c) for c in test_chroms]
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{mf}: 'head' must be an integer and 'test_chroms' a list of chromosome names") from None
    if allowed_roots is not None:
        for what, p in [("params", params), ("targets", targets), ("genome", opt("genome")),
                        ("genes", opt("genes")), ("motif sites", opt("motif_sites"))] + \
                [("weights", w) for w in weights]:
            if p is not None:
                check_allowed(p, allowed_roots, what)
    return ModelDir(path=d.resolve(), name=str(manifest.get("name", d.name)), params=params, weights=weights,
                    targets=targets, genome=opt("genome"), genes=opt("genes"), motif_sites=opt("motif_sites"),
                    test_chroms=test_chroms, head=head,
                    manifest=manifest)


def load_model_dir(path, replicate: int = 0, head: Optional[int] = None, precision: str = "float32",
                   random_weights: bool = False, seed: Optional[int] = None, targets=None):
    """Load replicate ``replicate`` of a model directory -> SeqModel (with ``.model_dir`` set).

    precision: 'float32' | 'bfloat16'. random_weights: build with seeded random weights
    (``seed``, default 0) instead of loading a weights file; the directory then needs no
    ``*.h5``. targets: a targets.txt to use instead of the directory's.
    """
    from . import load_model
    if seed is not None and not random_weights:
        raise InputError("a seed is for random weights: ask for random_weights=True (CLI --random-weights)")
    md = read_model_dir(path, require_weights=not random_weights)
    if random_weights:
        weights = None
        seed = 0 if seed is None else seed
    else:
        if not 0 <= replicate < len(md.weights):
            raise InputError(f"replicate {replicate} out of range: {md.path} has {len(md.weights)} weights file(s)")
        weights = md.weights[replicate]
    m = load_model(md.params, weights, head=md.head if head is None else head,
                   targets_path=targets or md.targets,
                   name=md.name if weights is not None else f"{md.name} (random weights, seed {seed})",
                   precision=precision, seed=seed)
    m.model_dir = md
    return m


def walk_roots(roots, max_depth: int):
    """Yield (resolved root, directory, file names) under each root, depth-limited, hidden folders
    skipped, symlinked folders not followed."""
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        root_r = root.resolve()
        for dirpath, dirnames, filenames in os.walk(root_r, followlinks=False):
            depth = len(Path(dirpath).relative_to(root_r).parts)
            dirnames[:] = sorted(x for x in dirnames if not x.startswith(".")) if depth < max_depth else []
            yield root_r, Path(dirpath), filenames


def is_allowed(path: Path, roots) -> bool:
    """Whether ``path`` (symlinks followed) lies inside one of ``roots``."""
    try:
        check_allowed(path, roots, "file")
        return True
    except InputError:
        return False


def find_model_dirs(roots, max_depth: int = 3) -> list[ModelDir]:
    """Model directories (holding params.json) under allow-listed roots, not following symlinks out."""
    found = []
    for root_r, d, filenames in walk_roots(roots, max_depth):
        if "params.json" in filenames:
            try:
                found.append(read_model_dir(d, allowed_roots=[root_r]))
            except InputError:
                continue
    return found
