"""Dashboard settings: where models, test sets and the result store live, and display limits.

Sources, later ones adding to / overriding earlier ones:

1. built-in defaults: the bundled ``assets/`` folder is always a model root;
2. a TOML config file: ``$SEQNN_DASHBOARD_CONFIG`` if set, else
   ``~/.config/seqnn_dashboard/config.toml`` if it exists. Keys::

       model_roots = ["/data/models", "/shared/basenji"]   # extra roots (added)
       store_dir = "/var/cache/seqnn"                         # result store folder
       store_max_mb = 2048                                    # result store bound
       memory_cache_mb = 512                                  # in-process result cache bound

3. environment variables: ``SEQNN_MODEL_ROOTS`` (roots separated by ``os.pathsep``, added),
   ``SEQNN_STORE_DIR``, ``SEQNN_STORE_MAX_MB``.

A browser user only ever picks from the model directories found under these roots; no
server path is typed in the page.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from seqnn_engine.limits import read_config

REPO_ROOT = Path(__file__).resolve().parents[1]
ASSETS = REPO_ROOT / "assets"
DEMO_DIR = ASSETS / "demo"
DEMO_DEFAULT_GENE = "DMG129"  # an active promoter on the held-out chromosome of the demo genome

# display limits
MAX_LOGO_BP = 2000            # sequence logo of the selected range
MAX_HEATMAP_COLUMNS = 4000    # layer / ISM / hypothetical heatmaps are pooled to at most this
MAX_PLOT_POINTS = 200_000     # per-base line traces are pooled above this
DEFAULT_RANGE_BP = 200        # initial detail range, centred on the window
TOP_BED_POSITIONS = 100


@dataclass(frozen=True)
class Settings:
    """Resolved dashboard settings.

    model_roots: folders searched for model directories (and test sets), bundled assets first.
    store_dir: persistent result store folder. store_max_bytes: its size bound.
    memory_cache_bytes: bound of the in-process result cache.
    config_file: the TOML file read, or None.
    """

    model_roots: tuple = ()
    store_dir: Path = Path.home() / ".cache" / "seqnn_dashboard"
    store_max_bytes: int = 1 << 30
    memory_cache_bytes: int = 256 << 20
    config_file: Path | None = None
    problems: tuple = field(default_factory=tuple)


def _config_path(env) -> Path | None:
    p = env.get("SEQNN_DASHBOARD_CONFIG")
    if p:
        return Path(p).expanduser()
    default = Path.home() / ".config" / "seqnn_dashboard" / "config.toml"
    return default if default.exists() else None


def _split_roots(text: str) -> list[Path]:
    return [Path(x).expanduser() for x in text.split(os.pathsep) if x.strip()]


def _mb(value, what: str, problems: list, default: int) -> int:
    try:
        v = float(value)
        if v <= 0:
            raise ValueError
        return int(v * (1 << 20))
    except (TypeError, ValueError):
        problems.append(f"{what} must be a positive number of MB, got {value!r}; using the default")
        return default


def load_settings(env=None) -> Settings:
    """Read settings from the config file and environment (``env`` defaults to os.environ).

    Never raises for a bad config: problems are collected in ``Settings.problems`` so the
    page can show them and keep working with defaults.
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    roots: list[Path] = [ASSETS]
    base = Settings()
    store_dir, store_max, mem_max = base.store_dir, base.store_max_bytes, base.memory_cache_bytes
    cfg_path = _config_path(env)
    if cfg_path is not None:
        cfg, problem = read_config(cfg_path)
        if problem:
            problems.append(problem)
        extra = cfg.get("model_roots", [])
        if isinstance(extra, str):
            extra = [extra]
        roots += [Path(str(x)).expanduser() for x in extra]
        if "store_dir" in cfg:
            store_dir = Path(str(cfg["store_dir"])).expanduser()
        if "store_max_mb" in cfg:
            store_max = _mb(cfg["store_max_mb"], "store_max_mb", problems, store_max)
        if "memory_cache_mb" in cfg:
            mem_max = _mb(cfg["memory_cache_mb"], "memory_cache_mb", problems, mem_max)
    roots += _split_roots(env.get("SEQNN_MODEL_ROOTS", ""))
    if env.get("SEQNN_STORE_DIR"):
        store_dir = Path(env["SEQNN_STORE_DIR"]).expanduser()
    if env.get("SEQNN_STORE_MAX_MB"):
        store_max = _mb(env["SEQNN_STORE_MAX_MB"], "SEQNN_STORE_MAX_MB", problems, store_max)
    uniq: list[Path] = []
    for r in roots:
        if r not in uniq:
            uniq.append(r)
    for r in uniq[1:]:
        if not r.is_dir():
            problems.append(f"model root {r} is not a folder; it is ignored")
    return Settings(model_roots=tuple(uniq), store_dir=store_dir, store_max_bytes=store_max,
                    memory_cache_bytes=mem_max, config_file=cfg_path, problems=tuple(problems))
