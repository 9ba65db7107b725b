"""Numeric precision of a model: float32, or bfloat16 compute with float32 variables.

``bfloat16`` is Keras 3 mixed precision: the trunk's matmul layers (convolutions, dense
layers, attention) are built with the ``mixed_bfloat16`` dtype policy: their variables
stay float32 (weights load unchanged) and they compute in bfloat16, which maps to the
device's bf16 units (AMX on recent x86 CPUs, tensor cores on GPUs). Norms, activations,
pooling, residual adds and dropout, the convolution on the one-hot input, the head (final
Dense and its softplus), the objective and every gradient returned stay float32. The
policy is given to each layer when it is built; no global policy is ever set.
"""
from __future__ import annotations

from ..errors import InputError

PRECISIONS = ("float32", "bfloat16")

_POLICY = {"float32": None, "bfloat16": "mixed_bfloat16"}


def check_precision(precision) -> str:
    """The precision name, or InputError listing the choices."""
    if precision is None:
        return "float32"
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    return precision


def dtype_policy(precision: str):
    """The Keras dtype policy for the trunk's layers (None for float32)."""
    name = _POLICY[check_precision(precision)]
    if name is None:
        return None
    import keras
    return keras.DTypePolicy(name)
