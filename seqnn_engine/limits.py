"""Configurable safety limits on what users can ask of the engine (one place for all of them).

Every limit has a default, a key in the ``[limits]`` table of a TOML config file and an
environment variable; later sources override earlier ones:

1. the defaults below;
2. the ``[limits]`` table of a TOML file: ``$SEQNN_LIMITS_FILE`` if set, else the dashboard's
   config file (``$SEQNN_DASHBOARD_CONFIG``, else ``~/.config/seqnn_dashboard/config.toml`` when
   it exists), e.g.::

       [limits]
       max_upload_mb = 64
       max_records = 10000
       max_sequence_bp = 5000000
       max_ism_bp = 20000
       gradient_memory_mb = 2048
       max_memory_mb = 16384

3. environment variables (see :data:`LIMITS`), e.g. ``SEQNN_MAX_SEQUENCE_BP=20000000``.

=====================  ===========================  =============================================
key                    environment variable         what it bounds
=====================  ===========================  =============================================
max_upload_mb          SEQNN_MAX_UPLOAD_MB          bytes of one FASTA upload / paste / file
                                                    (after gzip decompression)
max_records            SEQNN_MAX_RECORDS            FASTA records in one upload / file
max_sequence_bp        SEQNN_MAX_SEQUENCE_BP        bases in one FASTA record
max_ism_bp             SEQNN_MAX_ISM_BP             positions of one in-silico mutagenesis window
gradient_memory_mb     SEQNN_GRADIENT_MEMORY_MB     estimated memory of one layer-gradient job
                       (or SEQNN_MEMORY_BUDGET,     (targets x layer size x positions x sequences);
                       in bytes, the older name)    default: the max_memory_mb value (one memory
                                                    model), set it only for a tighter bound
max_memory_mb          SEQNN_MAX_MEMORY_MB          estimated peak memory of one operation (predict,
                                                    attributions, ISM, layer gradients, variants,
                                                    gene values; see seqnn_engine.memory);
                                                    default 75% of the machine's physical memory
=====================  ===========================  =============================================

A bad value in the file or the environment never stops the engine: the default is kept and the
problem is listed in :attr:`Limits.problems` (and issued once as a :class:`LimitsWarning`).
:func:`exceeded` builds the :class:`~seqnn_engine.errors.InputError` raised when a request goes
over a limit; its message names the limit, its value and how to change it.
"""
from __future__ import annotations

import os
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError

MB = 1 << 20


def physical_memory_bytes() -> int:
    """The machine's physical memory (os.sysconf, else /proc/meminfo, else 16 GiB)."""
    try:
        n = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        if n > 0:
            return int(n)
    except (ValueError, OSError, AttributeError):
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 16 << 30


DEFAULT_MEMORY_FRACTION = 0.75   # max_memory_mb defaults to this share of physical memory


@dataclass(frozen=True)
class FastaLimits:
    """Upper bounds applied while parsing (protects the app from huge uploads).

    The parsers' default is :func:`current` ``.fasta()`` (configurable
    with SEQNN_MAX_UPLOAD_MB / SEQNN_MAX_RECORDS / SEQNN_MAX_SEQUENCE_BP or the config file);
    the values below apply to an explicit ``FastaLimits()``.

    max_records: most records in one input.
    max_total_bytes: most bytes of input (after gzip decompression).
    max_sequence_length: most bases in one record.
    """

    max_records: int = 10_000
    max_total_bytes: int = 256 * 1024 * 1024
    max_sequence_length: int = 50_000_000


@dataclass(frozen=True)
class LimitSpec:
    """One configurable limit: config key, environment variable, default (in ``unit``), the
    multiplier from ``unit`` to the stored value, and a human description."""

    key: str
    env: str
    default: float
    unit: str
    scale: int
    what: str


LIMITS = {
    "upload_bytes": LimitSpec("max_upload_mb", "SEQNN_MAX_UPLOAD_MB", 64, "MB", MB,
                              "size of one FASTA upload, paste or file (after gzip decompression)"),
    "records": LimitSpec("max_records", "SEQNN_MAX_RECORDS", 10_000, "records", 1,
                         "FASTA records in one upload or file"),
    "sequence_bp": LimitSpec("max_sequence_bp", "SEQNN_MAX_SEQUENCE_BP", 5_000_000, "bp", 1,
                             "length of one FASTA record"),
    "ism_bp": LimitSpec("max_ism_bp", "SEQNN_MAX_ISM_BP", 20_000, "bp", 1,
                        "in-silico mutagenesis window"),
    # the default 2048 is never used: unset, gradient_bytes takes the resolved memory_bytes
    "gradient_bytes": LimitSpec("gradient_memory_mb", "SEQNN_GRADIENT_MEMORY_MB", 2048, "MB", MB,
                                "estimated memory of one layer-gradient job"),
    "memory_bytes": LimitSpec("max_memory_mb", "SEQNN_MAX_MEMORY_MB",
                              round(DEFAULT_MEMORY_FRACTION * physical_memory_bytes() / MB), "MB", MB,
                              "estimated peak memory of one operation"),
}
LEGACY_MEMORY_ENV = "SEQNN_MEMORY_BUDGET"   # bytes; read when SEQNN_GRADIENT_MEMORY_MB is not set


class LimitsWarning(UserWarning):
    """A limit in the config file or environment could not be used (the default is kept)."""


@dataclass(frozen=True)
class Limits:
    """Resolved limits (all in bytes, records or bp).

    upload_bytes, records, sequence_bp: FASTA input bounds. ism_bp: most positions of one ISM
    window. gradient_bytes: most estimated bytes of one layer-gradient job. memory_bytes: most
    estimated peak bytes of one operation (seqnn_engine.memory). source: where each
    value came from ('default', the config file path, or the environment variable).
    problems: messages about values that could not be used.
    """

    upload_bytes: int
    records: int
    sequence_bp: int
    ism_bp: int
    gradient_bytes: int
    memory_bytes: int
    source: dict = field(default_factory=dict, compare=False)
    gradient_set: bool = field(default=True, compare=False)   # False: gradient_bytes follows memory_bytes
    problems: tuple = field(default=(), compare=False)

    def fasta(self):
        """The FASTA parser's :class:`FastaLimits` for these limits."""
        return FastaLimits(max_records=self.records, max_total_bytes=self.upload_bytes,
                           max_sequence_length=self.sequence_bp)


def _config_file(env) -> Path | None:
    for var in ("SEQNN_LIMITS_FILE", "SEQNN_DASHBOARD_CONFIG"):
        if env.get(var):
            return Path(env[var]).expanduser()
    default = Path.home() / ".config" / "seqnn_dashboard" / "config.toml"
    return default if default.is_file() else None


_FILE_CACHE: dict = {}


def read_config(path) -> tuple[dict, str | None]:
    """The TOML config file at ``path`` -> (its tables as a dict, a problem message or None).

    The one reader of the config file (the dashboard's settings and the engine's ``[limits]``
    read the same file): cached by path, modification time and size; an absent file is
    ``({}, None)``; an unreadable or invalid one is ``({}, "config ... could not be read ...")``.
    Never raises.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        return {}, None
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _FILE_CACHE:
        try:
            value = (tomllib.loads(path.read_text()), None)
        except (OSError, UnicodeDecodeError, ValueError) as e:   # TOMLDecodeError is a ValueError
            value = ({}, f"config file {path} could not be read ({e}); using defaults")
        _FILE_CACHE.clear()
        _FILE_CACHE[key] = value
    data, problem = _FILE_CACHE[key]
    return dict(data), problem


def _read_table(path: Path, problems: list) -> dict:
    data, problem = read_config(path)
    if problem:
        problems.append(problem.replace("config file", "limits config", 1))
        return {}
    table = data.get("limits", {})
    if not isinstance(table, dict):
        problems.append(f"limits config {path} could not be read ([limits] must be a table); using defaults")
        return {}
    return dict(table)


def _positive(value, spec: LimitSpec, where: str, problems: list):
    try:
        v = float(value)
        if not v > 0 or v != v or v == float("inf"):
            raise ValueError
        return int(v * spec.scale)
    except (TypeError, ValueError):
        problems.append(f"limit {spec.key} from {where} must be a positive number of {spec.unit}, got "
                        f"{value!r}; using the default {spec.default:,} {spec.unit}")
        return None


_WARNED: set = set()


def load_limits(env=None) -> Limits:
    """Resolve the limits from defaults, the config file and the environment (``env`` defaults
    to ``os.environ``). Cheap: the config file is re-read only when it changes."""
    env = os.environ if env is None else env
    problems: list[str] = []
    values = {name: int(s.default * s.scale) for name, s in LIMITS.items()}
    source = {name: "default" for name in LIMITS}
    path = _config_file(env)
    table = _read_table(path, problems) if path is not None else {}
    known = {s.key for s in LIMITS.values()}
    for k in table:
        if k not in known:
            problems.append(f"unknown limit {k!r} in {path} (known: {', '.join(sorted(known))}); ignored")
    for name, s in LIMITS.items():
        if s.key in table:
            v = _positive(table[s.key], s, str(path), problems)
            if v is not None:
                values[name], source[name] = v, str(path)
        raw = env.get(s.env)
        if raw is None and name == "gradient_bytes" and env.get(LEGACY_MEMORY_ENV):
            legacy = LimitSpec(s.key, LEGACY_MEMORY_ENV, s.default, "bytes", 1, s.what)
            v = _positive(env[LEGACY_MEMORY_ENV], legacy, LEGACY_MEMORY_ENV, problems)
            if v is not None:
                values[name], source[name] = v, LEGACY_MEMORY_ENV
            continue
        if raw is not None and str(raw).strip():
            v = _positive(raw, s, s.env, problems)
            if v is not None:
                values[name], source[name] = v, s.env
    gradient_set = source["gradient_bytes"] != "default"
    if not gradient_set:        # one memory model: unset, the layer-gradient bound is max_memory_mb
        values["gradient_bytes"] = values["memory_bytes"]
        source["gradient_bytes"] = source["memory_bytes"]
    for p in problems:
        if p not in _WARNED:
            _WARNED.add(p)
            warnings.warn(p, LimitsWarning, stacklevel=2)
    return Limits(**values, source=source, problems=tuple(problems), gradient_set=gradient_set)


def current() -> Limits:
    """The limits in force now (from ``os.environ`` and the config file)."""
    return load_limits()


def how_to_change(name: str) -> str:
    """'set SEQNN_X=... or max_x in the [limits] table of the config file' for limit ``name``."""
    s = LIMITS[name]
    return (f"to change it, set the environment variable {s.env} (in {s.unit}) or {s.key} in the [limits] "
            "table of the config file ($SEQNN_LIMITS_FILE or $SEQNN_DASHBOARD_CONFIG)")


def describe(name: str, value: int) -> str:
    """The limit's value in its configuration unit, e.g. '64 MB' or '20,000 bp'."""
    s = LIMITS[name]
    v = value / s.scale
    v = int(v) if float(v).is_integer() else round(v, 2)
    return f"{v:,} {s.unit}"


def exceeded(name: str, got: str, fix: str, value: int | None = None) -> InputError:
    """The InputError for a request over limit ``name``.

    got: what the request has ("this upload is 300 MB"); fix: what the user can do instead;
    value: the limit in force (default: the current one).
    """
    s = LIMITS[name]
    if value is None:
        value = getattr(current(), name)
    return InputError(f"{got}: over the limit {s.key} = {describe(name, value)} ({s.what}); {fix}; "
                      f"{how_to_change(name)}")


def human_bytes(n: float) -> str:
    """'1.5 GiB', '12.0 MiB', '800 bytes'."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


def check(name: str, amount: int, got: str, fix: str, value: int | None = None) -> None:
    """Raise :func:`exceeded` when ``amount`` is over limit ``name`` (``value`` or the current one)."""
    limit = getattr(current(), name) if value is None else int(value)
    if int(amount) > limit:
        raise exceeded(name, got, fix, limit)
