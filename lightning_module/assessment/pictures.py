"""The pictures an assessment shows: heatmap overlays, the model's crop on the photo, and inline JPEGs.

The Assess page and the one-page report draw the same pictures from the same functions, so what a user saw on screen
is what the printed report shows. A heatmap here is the one :func:`lightning_module.evaluation.explain.explain`
computes: (H, W) floats in [0, 1] at the model input's size, 1 the strongest evidence for the explained class.

Three images of one photo meet here and must line up: the upright original (``photo.original_size``), the copy shown
on screen (``shown``, any smaller size) and the square model input (``photo.image``). ``photo.crop_box`` is in the
original's pixels; :func:`scaled_crop_box` carries it to ``shown``.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image, ImageDraw

from lightning_module.data.imaging import PreparedPhoto

# ColorBrewer YlOrRd: pale yellow (weak) to dark red (strongest evidence); readable over green and brown trees.
_HEAT_ANCHORS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_HEAT_COLOURS = np.array([(255, 237, 160), (254, 178, 76), (253, 141, 60), (227, 26, 28), (128, 0, 38)], dtype=float)


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


def image_uri(image: Image.Image, max_side: int = 480, quality: int = 85) -> str:
    """``image`` as an inline ``data:`` JPEG URI no larger than ``max_side`` (tables, self-contained reports)."""
    picture = image.convert("RGB")
    picture.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
