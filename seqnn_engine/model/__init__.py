"""Model building: params.json -> Keras 3 network, weights, ensemble predictions."""
import tensorflow as _tf

_tf.get_logger().setLevel("ERROR")
from .seqmodel import Prediction, SeqModel, load_model
from .spec import ModelSpec, ParamsWarning, parse_params

__all__ = ["load_model", "SeqModel", "Prediction", "ModelSpec", "ParamsWarning", "parse_params"]
