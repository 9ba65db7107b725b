"""``ism``: in-silico saturation mutagenesis of many sequences into a scores HDF5.

    python -m seqnn_engine ism --model DIR --fasta F --targets 0 --window 1000:1200 --out ism.h5

The same job as ``attribute --method ism``: for each base of ``--window`` (bp of the model
input; default the whole input, at most the engine's ISM limit) each of the 3 substitutions
is predicted and ``scores`` holds objective(mutant) - objective(reference) (0 at the present
base and outside the window); ``grads`` holds the ACGT-centred deltas.
"""
from __future__ import annotations

from .attribute import add_common, run_attribution


def add_parser(sub) -> None:
    p = sub.add_parser("ism", help="in-silico saturation mutagenesis of many sequences into HDF5",
                       description="ISM scores (objective change for every substitution) of many sequences.")
    add_common(p, method=False)


def run(args) -> int:
    return run_attribution(args, "ism", "ism")
