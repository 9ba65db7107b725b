"""Attribution: layer gradients, input attributions (saliency ... ISM), objectives, diagnostics."""
from .input_attr import METHODS, Attribution, attribute, make_baselines, center_acgt
from .layer_grads import LayerGradients, TSSGradients, estimate_bytes, layer_gradients, tss_gradients
from .objective import Objective, make_objective, position_mask

__all__ = ["attribute", "Attribution", "METHODS", "layer_gradients", "LayerGradients", "tss_gradients", "TSSGradients", "estimate_bytes",
           "make_objective", "Objective", "position_mask", "center_acgt", "make_baselines"]
