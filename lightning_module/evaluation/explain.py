"""Where the model looked: Grad-CAM heatmaps (captum ``LayerGradCam``) and pictures built from them.

One forward and one backward pass give both the class probabilities and the heatmap, so explaining costs little
more than predicting. The heatmap is the ReLU'd Grad-CAM of the predicted class (or a chosen one) at the explained
layer, upsampled bilinearly to the model input and divided by its maximum, so 1 is the strongest evidence *for*
that class and 0 is none. A heatmap that is zero everywhere (no region pushed the score up) is reported as ``flat``
rather than stretched into noise.

The explained layer is the predictor's (the network's last convolution), except for GoogLeNet and Inception v3,
whose last convolution sits inside one branch of the final inception block and sees only part of its channels:
for those the whole block is explained, as in the Grad-CAM paper.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

from lightning_module.data.imaging import PreparedPhoto
from lightning_module.evaluation.predictor import Predictor

# Backbones whose last Conv2d is one branch of a concatenating block: explain the block instead.
_BLOCK_LAYERS = {"googlenet": "body.inception5b", "inception_v3": "body.Mixed_7c"}

# captum attaches hooks to the shared (cached) network for the length of one call; two dashboard sessions
# explaining at once would see each other's activations. One lock keeps each call's hooks to itself.
_HOOK_LOCK = threading.Lock()

# ColorBrewer YlOrRd: pale yellow (weak) to dark red (strongest evidence); readable over green and brown trees.
_HEAT_ANCHORS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_HEAT_COLOURS = np.array([(255, 237, 160), (254, 178, 76), (253, 141, 60), (227, 26, 28), (128, 0, 38)], dtype=float)


@dataclass
class Explanation:
    """A prediction with the heatmap that explains it."""

    class_index: int  # the class explained (the predicted one unless asked otherwise)
    class_name: str
    probabilities: np.ndarray  # softmax over classes, from the same forward pass
    logits: np.ndarray
    heatmap: np.ndarray  # (H, W) float32 in [0, 1], H x W = the model input
    layer: str  # name of the explained layer, for the report
    flat: bool  # True when no region pushed the class score up (heatmap all zero)


def explained_layer(predictor: Predictor) -> tuple[str, torch.nn.Module]:
    """``(name, module)`` of the layer Grad-CAM explains for this predictor's backbone."""
    network = predictor.network
    name = _BLOCK_LAYERS.get(predictor.backbone)
    if name is not None:
        return name, network.get_submodule(name)
    layer = predictor.explained_layer
    found = next((n for n, m in network.named_modules() if m is layer), type(layer).__name__)
    return found, layer


def explain(predictor: Predictor, photo: PreparedPhoto, target: int | None = None) -> Explanation:
    """Probabilities and the Grad-CAM heatmap of ``target`` (default: the predicted class) for one photo."""
    from captum.attr import LayerAttribution, LayerGradCam

    inputs = predictor.input_tensor(photo)
    if target is not None and not 0 <= target < len(predictor.classes):
        raise ValueError(f"target class index {target} is out of range for {len(predictor.classes)} classes")
    name, layer = explained_layer(predictor)
    captured: dict[str, torch.Tensor] = {}

    def class_score(batch: torch.Tensor) -> torch.Tensor:
        # Returning the one score to explain (not all logits) lets captum run exactly one backward pass, and
        # keeping the logits here means the same forward pass also gives the probabilities.
        logits = predictor.network(batch)
        captured["logits"] = logits.detach()
        index = logits.argmax(dim=1, keepdim=True) if target is None else torch.full((len(logits), 1), target, dtype=torch.long)
        return logits.gather(1, index)

    predictor.network.eval()
    with _HOOK_LOCK, torch.inference_mode(False), torch.enable_grad():
        cam = LayerGradCam(class_score, layer).attribute(inputs, relu_attributions=True)
        cam = LayerAttribution.interpolate(cam.detach().float(), tuple(inputs.shape[-2:]), interpolate_mode="bilinear")
    heatmap = cam[0].sum(dim=0).clamp_min(0).numpy().astype(np.float32)
    peak = float(heatmap.max(initial=0.0))
    flat = not np.isfinite(peak) or peak <= 0.0
    heatmap = np.zeros_like(heatmap) if flat else heatmap / peak
    logits = captured["logits"][0].float()
    index = int(logits.argmax()) if target is None else target
    return Explanation(
        class_index=index,
        class_name=predictor.classes[index],
        probabilities=torch.softmax(logits, dim=0).numpy(),
        logits=logits.numpy(),
        heatmap=heatmap,
        layer=name,
        flat=flat,
    )


def heatmap_peak(heatmap: np.ndarray, photo: PreparedPhoto) -> tuple[float, float]:
    """The heatmap's hottest point in the upright original photo's pixel coordinates (x, y)."""
    rows, cols = heatmap.shape
    y, x = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    left, top, right, bottom = photo.crop_box
    return left + (x + 0.5) * (right - left) / cols, top + (y + 0.5) * (bottom - top) / rows


def heat_colours(heatmap: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 colours of a [0, 1] heatmap on the YlOrRd scale."""
    values = np.clip(np.nan_to_num(heatmap), 0.0, 1.0)
    channels = [np.interp(values, _HEAT_ANCHORS, _HEAT_COLOURS[:, c]) for c in range(3)]
    return np.rint(np.stack(channels, axis=-1)).astype(np.uint8)


def overlay(crop: Image.Image, heatmap: np.ndarray, opacity: float = 0.5) -> Image.Image:
    """The heatmap laid over ``crop`` (the photo's square the model saw, at any resolution).

    Each pixel's colour weight is ``opacity * sqrt(heat)``: cold areas keep the photo visible, hot areas are
    clearly coloured, and opacity 0 gives the photo back unchanged.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be between 0 and 1, got {opacity}")
    base = crop.convert("RGB")
    heat = Image.fromarray(np.asarray(heatmap, dtype=np.float32), mode="F").resize(base.size, Image.Resampling.BILINEAR)
    values = np.clip(np.asarray(heat), 0.0, 1.0)
    alpha = (opacity * np.sqrt(values))[..., None]
    blended = np.asarray(base, dtype=np.float32) * (1.0 - alpha) + heat_colours(values).astype(np.float32) * alpha
    return Image.fromarray(np.rint(blended).astype(np.uint8), "RGB")


def scaled_crop_box(photo: PreparedPhoto, shown: Image.Image) -> tuple[int, int, int, int]:
    """The model's crop box in the coordinates of ``shown``, a resized copy of the upright photo."""
    width, height = photo.original_size
    sx, sy = shown.width / width, shown.height / height
    left, top, right, bottom = photo.crop_box
    return round(left * sx), round(top * sy), round(right * sx), round(bottom * sy)


def crop_as_seen(photo: PreparedPhoto, shown: Image.Image) -> Image.Image:
    """The part of ``shown`` the model used (its centre square), at ``shown``'s resolution."""
    return shown.convert("RGB").crop(scaled_crop_box(photo, shown))


def outline_crop(photo: PreparedPhoto, shown: Image.Image) -> Image.Image:
    """``shown`` with what the model ignored dimmed and the crop it used outlined."""
    picture = shown.convert("RGB")
    box = scaled_crop_box(photo, shown)
    dimmed = Image.blend(picture, Image.new("RGB", picture.size, (255, 255, 255)), 0.55)
    dimmed.paste(picture.crop(box), box[:2])
    line = max(3, round(min(picture.size) / 100))
    ImageDraw.Draw(dimmed).rectangle(box, outline=(22, 101, 52), width=line)
    return dimmed


def model_view(photo: PreparedPhoto, side: int = 320) -> Image.Image:
    """The model input enlarged with nearest-neighbour so each of its pixels stays visible."""
    scale = max(1, side // photo.image.width)
    return photo.image.resize((photo.image.width * scale, photo.image.height * scale), Image.Resampling.NEAREST)
