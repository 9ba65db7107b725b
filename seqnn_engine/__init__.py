"""seqnn_engine: Basenji-family sequence models on Keras 3 (no Streamlit here)."""
from .errors import InputError

__all__ = ["InputError"]
