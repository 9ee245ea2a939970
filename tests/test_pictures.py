"""The pictures an assessment shows: the heatmap overlay, and the model's crop on a smaller display copy."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from lightning_module.assessment.pictures import crop_as_seen, image_uri, model_view, outline_crop, overlay
from lightning_module.data.imaging import load_square, load_upright


def _photo_bytes(size: tuple[int, int] = (96, 64), seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def test_overlay_keeps_the_photo_at_zero_opacity_and_colours_hot_areas() -> None:
    crop = Image.new("RGB", (64, 64), (0, 128, 0))
    heatmap = np.zeros((8, 8), dtype=np.float32)
    heatmap[:4, :4] = 1.0
    assert np.array_equal(np.asarray(overlay(crop, heatmap, 0.0)), np.asarray(crop))
    shown = np.asarray(overlay(crop, heatmap, 1.0)).astype(int)
    assert shown.shape == (64, 64, 3)
    hot, cold = shown[4, 4], shown[60, 60]
    assert hot[0] > 100 and hot[1] < 60  # dark red where the heatmap is 1
    assert tuple(cold) == (0, 128, 0)  # the photo untouched where it is 0
    with pytest.raises(ValueError):
        overlay(crop, heatmap, 1.5)


def test_crop_pictures_follow_the_crop_box_on_a_smaller_display_copy() -> None:
    data = _photo_bytes((400, 200))
    photo = load_square(data, 32, "grayscale")
    shown = load_upright(data, max_side=200)  # half size
    assert crop_as_seen(photo, shown).size == (100, 100)
    outlined = outline_crop(photo, shown)
    assert outlined.size == shown.size
    # Outside the crop is dimmed towards white; inside it is the photo.
    assert np.asarray(outlined)[100 // 2, 10].mean() > np.asarray(shown)[100 // 2, 10].mean() - 1
    assert np.array_equal(np.asarray(outlined)[60, 100], np.asarray(shown)[60, 100])
    assert model_view(photo, side=320).size == (320, 320)


def test_image_uri_is_a_bounded_inline_jpeg() -> None:
    uri = image_uri(Image.new("L", (400, 200), 90), max_side=96, quality=80)
    assert uri.startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as picture:
        assert picture.format == "JPEG" and picture.mode == "RGB" and picture.size == (96, 48)
