"""Command-line entry point: ``python -m seqnn_engine <command> ...``.

Each command lives in its own module under this package and exposes two functions:

* ``add_parser(sub)``: ``sub`` is the ``argparse`` subparsers object; add a parser with
  ``sub.add_parser(name, help=...)`` and its options;
* ``run(args) -> int | None``: do the work; return the exit status (``None`` means 0).

To add a command, write the module and add one line to :data:`COMMANDS`. Modules are imported when
the parser is built, so keep their top-level imports light (import TensorFlow and the model inside
``run``).

Errors the user can fix (:class:`~seqnn_engine.errors.InputError`, and ``OSError`` such as a
missing file) print one line on stderr and exit with status 2, without a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from ..errors import InputError

#: command name -> module (relative to this package) with add_parser(sub) and run(args)
COMMANDS: dict[str, str] = {
    "predict": ".predict",
    "attribute": ".attribute",
    "ism": ".ism",
    "layers": ".layers",
    "genes": ".genes",
    "variants": ".variants",
    "evaluate": ".evaluate",
    "export": ".export",
    "seqlets": ".seqlets",
    "motifs": ".motifs",
}

EXIT_INPUT_ERROR = 2
EXIT_INTERRUPTED = 130

#: options whose value may start with '-' (argparse would take "-1,0,1" for an option)
DASH_VALUE_OPTIONS = {"--shifts"}


def _join_dash_values(argv: list[str]) -> list[str]:
    """``--shifts -1,0,1`` -> ``--shifts=-1,0,1`` so argparse accepts negative lists."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in DASH_VALUE_OPTIONS and i + 1 < len(argv):
            out.append(f"{a}={argv[i + 1]}")
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def import_tensorflow_quietly():
    """Import TensorFlow with the C++ start-up banner (written straight to fd 2) silenced.

    Commands call this before they touch the model so that stderr carries only progress and
    one-line errors. Python exceptions from the import are unaffected.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        import tensorflow as tf

        return tf
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        import tensorflow as tf
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return tf


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m seqnn_engine",
        description="Batch jobs for Basenji-family sequence models (Basenji, Baskerville, Borzoi).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module in COMMANDS.items():
        mod = importlib.import_module(module, __name__)
        before = set(sub.choices)
        mod.add_parser(sub)
        for added in set(sub.choices) - before:
            sub.choices[added].set_defaults(_run=mod.run)
    return parser


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        return f"{e.strerror}: {e.filename}"
    text = " ".join(str(e).split())
    return text or type(e).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(_join_dash_values(list(sys.argv[1:] if argv is None else argv)))
    try:
        rc = args._run(args)
    except InputError as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except OSError as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0 if rc is None else int(rc)
