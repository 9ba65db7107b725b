"""seqnn_engine: Basenji-family sequence models on Keras 3 (no Streamlit here).

``from seqnn_engine import load_model, InputError``; ``from seqnn_engine import Session, Request``
(the engine session every surface goes through, see :mod:`seqnn_engine.session`). TensorFlow is imported only
when a model-room name is first used, so the light rooms (sequences, genes,
store, exports) import fast.
"""
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .errors import InputError  # noqa: E402

_LAZY = {"load_model": "model", "SeqModel": "model", "Prediction": "model", "load_model_dir": "model.modeldir",
         "ModelDir": "model.modeldir", "find_model_dirs": "model.modeldir", "Session": "session",
         "Request": "session", "Ensemble": "session"}

__all__ = ["InputError", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib
        mod = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(mod, name)
    raise AttributeError(f"module 'seqnn_engine' has no attribute {name!r}")
