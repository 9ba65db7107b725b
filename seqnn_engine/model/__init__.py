"""Model building: params.json -> Keras 3 network, weights, ensemble predictions.

TensorFlow is imported when a name that needs it is first used, so ``model.spec`` and
``model.precision`` stay light (the CLI checks options before loading TensorFlow).
"""

_LAZY = {"load_model": "seqmodel", "SeqModel": "seqmodel", "Prediction": "seqmodel", "ModelSpec": "spec",
         "ParamsWarning": "spec", "parse_params": "spec", "PRECISIONS": "precision"}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib
        if _LAZY[name] == "seqmodel":
            import tensorflow as _tf
            _tf.get_logger().setLevel("ERROR")
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'seqnn_engine.model' has no attribute {name!r}")
