"""Walking a model's Keras graph node by node (shared by incremental ISM and the batched
backward pass, which both recompute or differentiate one layer at a time)."""
from __future__ import annotations

from typing import Callable, Optional

import keras

MERGE = (keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply, keras.layers.Average,
         keras.layers.Maximum, keras.layers.Minimum, keras.layers.Concatenate)


def nodes(kmodel) -> list:
    """The model's layer calls in an order where every node follows the nodes it reads."""
    order = []
    for depth in sorted(kmodel._nodes_by_depth, reverse=True):
        for node in kmodel._nodes_by_depth[depth]:
            if node.operation is not None and not node.is_input:
                order.append(node)
    return order


def call(op, args):
    """Run one node's layer on its input values (a list for merge layers, else the one input)."""
    return op(args if isinstance(op, MERGE) else args[0], training=False)


def first_unsupported(model, reason: Callable[[object], Optional[str]]) -> Optional[str]:
    """The first reason(node) that is not None over ``model``'s graph, or None.

    A model with several inputs or outputs is refused outright, and so is a bfloat16 model
    (these paths recompute or differentiate layers one by one in float32).
    """
    if getattr(model, "precision", "float32") != "float32":
        return f"the model runs in {model.precision}"
    km = model.net.model
    if len(km.inputs) != 1 or len(km.outputs) != 1:
        return "the model has several inputs or outputs"
    for node in nodes(km):
        r = reason(node)
        if r is not None:
            return r
    return None
