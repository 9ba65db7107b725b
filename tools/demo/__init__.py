"""The bundled demo: a seeded synthetic genome with planted JASPAR motifs and exact targets.

- :mod:`.motifs`: the vendored JASPAR 2024 matrices and their log-odds scoring;
- :mod:`.genome_gen`: the seeded generator (``python -m tools.demo.genome_gen``);
- :mod:`.tracks`: the exact target tracks (``compute_tracks``) and ``targets.txt``.
"""
from __future__ import annotations

from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parents[2] / "assets" / "demo"


def demo_dir() -> Path:
    """The shipped demo directory (``assets/demo`` at the repository root)."""
    return DEMO_DIR
