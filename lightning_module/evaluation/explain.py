"""Where the model looked: a heatmap computed beside the prediction, by any registered explanation method.

:func:`explain` gives the class probabilities (one plain forward pass) and the heatmap of the predicted class (or a
chosen one) by the named method of :mod:`.explain_methods` (Grad-CAM at the last convolution, at earlier stages,
Guided Grad-CAM, occlusion, Integrated Gradients, saliency, SmoothGrad). Every heatmap is non-negative, at the model
input's size, divided by its maximum, so 1 marks the strongest and 0 none: for Grad-CAM and occlusion, evidence *for*
that class; for the per-pixel gradient methods, how strongly a pixel sways that class's score, either way. A heatmap
that is zero everywhere (nothing pushed the score up) is reported as ``flat`` rather than stretched into noise.

:data:`DEFAULT_EXPLANATION_METHOD` is the one the batch paths, the report and a fresh Assess page use: the method
whose peak lands in a drawn defect box most often on the independent synthetic set
(``bench/explanation_pointing.py``, figures in docs/BENCHMARKS.md). Re-run the bench when the bundled model changes.

This module computes; it draws nothing. The pictures made from a heatmap (overlays, the crop outline) belong to the
assessment layer, ``lightning_module.assessment.pictures``.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

import numpy as np
import torch

from lightning_module.data.imaging import PreparedPhoto
from lightning_module.evaluation.explain_methods import (
    EXPLANATION_METHODS,
    ExplanationMethod,
    explained_layer,
    explanation_method,
    out_of_place,
)
from lightning_module.evaluation.predictor import Predictor, network_lock

__all__ = ["DEFAULT_EXPLANATION_METHOD", "EXPLANATION_METHODS", "Explanation", "ExplanationMethod", "explain",
           "explained_layer", "explanation_method", "heatmap_peak"]

# The method shown unless the user picks another: the best of bench/explanation_pointing.py's table for the default
# bundled model; re-run it when the model changes. With EfficientNet-Lite0 (128 px colour), SmoothGrad's peak fell in
# a severe defect's box for 60.1 % of the independent set's trees (78.8 % of Probable ones), against 19.8 % for
# last-layer Grad-CAM, 53.1 % for occlusion and 23.9 % for the crop centre (docs/BENCHMARKS.md). It must be a key of
# EXPLANATION_METHODS (tests/test_explain_methods.py).
DEFAULT_EXPLANATION_METHOD = "smoothgrad"

# captum attaches hooks to the shared (cached) network for the length of one call; two dashboard sessions
# explaining at once would see each other's activations. One lock keeps each call's hooks to itself.
_HOOK_LOCK = threading.Lock()


@dataclass
class Explanation:
    """A prediction with the heatmap that explains it."""

    class_index: int  # the class explained (the predicted one unless asked otherwise)
    class_name: str
    probabilities: np.ndarray  # softmax over classes, from a plain forward pass of the same input
    logits: np.ndarray
    heatmap: np.ndarray  # (H, W) float32 in [0, 1], H x W = the model input; 1 = strongest
    layer: str  # name of the explained layer, for the report ("input" for per-pixel methods)
    flat: bool  # True when no region pushed the class score up (heatmap all zero)
    method: str = DEFAULT_EXPLANATION_METHOD  # key of EXPLANATION_METHODS that made the heatmap

    @property
    def method_label(self) -> str:
        """The method's name for people ("Occlusion")."""
        return EXPLANATION_METHODS[self.method].label if self.method in EXPLANATION_METHODS else self.method


def explain(
    predictor: Predictor,
    photo: PreparedPhoto,
    target: int | None = None,
    method: str = DEFAULT_EXPLANATION_METHOD,
    logits: np.ndarray | None = None,
) -> Explanation:
    """Probabilities and the ``method`` heatmap of ``target`` (default: the predicted class) for one photo.

    ``logits``: the network's output for this photo when the caller already has it (the Assess page reads it with
    the photo's features for the familiarity check), which saves the plain forward pass here.
    Raises ``ValueError`` for a target class out of range or an unknown method.
    """
    chosen = explanation_method(method)
    if target is not None and not 0 <= target < len(predictor.classes):
        raise ValueError(f"target class index {target} is out of range for {len(predictor.classes)} classes")
    network = predictor.network
    # Gradients are needed even when the caller predicts under inference_mode; the input is made inside, so it is
    # an ordinary tensor that autograd may use. Floats in [0, 1] are what the network takes besides uint8, and
    # what the per-pixel methods need to take gradients with respect to.
    # Only methods that hook the network's layers need its activations out of place; the others run on its
    # gradient copy (explain_methods), made from the network as it is, in-place activations and all.
    activations = out_of_place(network) if chosen.hooks else contextlib.nullcontext()
    with _HOOK_LOCK, network_lock(predictor), torch.inference_mode(False), torch.enable_grad(), activations:
        network.eval()
        inputs = predictor.input_tensor(photo).float().div_(255.0).requires_grad_()
        if logits is None:
            with torch.no_grad():
                scores = network(inputs)[0].float()
        else:
            scores = torch.as_tensor(np.asarray(logits, dtype=np.float32))
        index = int(scores.argmax()) if target is None else target
        evidence, layer = chosen.attribute(predictor, inputs, index)
    heatmap = np.nan_to_num(evidence.detach().float().clamp_min(0).numpy().astype(np.float32), nan=0.0, posinf=0.0)
    peak = float(heatmap.max(initial=0.0))
    flat = not np.isfinite(peak) or peak <= 0.0
    heatmap = np.zeros_like(heatmap) if flat else heatmap / peak
    return Explanation(
        class_index=index,
        class_name=predictor.classes[index],
        probabilities=torch.softmax(scores, dim=0).numpy(),
        logits=scores.numpy(),
        heatmap=heatmap,
        layer=layer,
        flat=flat,
        method=chosen.name,
    )


def heatmap_peak(heatmap: np.ndarray, photo: PreparedPhoto) -> tuple[float, float]:
    """The heatmap's hottest point in the upright original photo's pixel coordinates (x, y)."""
    rows, cols = heatmap.shape
    y, x = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    left, top, right, bottom = photo.crop_box
    return left + (x + 0.5) * (right - left) / cols, top + (y + 0.5) * (bottom - top) / rows

