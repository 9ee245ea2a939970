"""Grad-CAM heatmaps: they work for every backbone, point at what drives the score, and map back onto the photo.

The pictures drawn from a heatmap are tested in test_pictures.py; the other explanation methods in
test_explain_methods.py.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from lightning_module.data.imaging import PreparedPhoto, load_square
from lightning_module.evaluation.explain import explain, explained_layer, heatmap_peak
from lightning_module.evaluation.predictor import Predictor
from lightning_module.models.backbones import BACKBONES
from lightning_module.models.networks import TreeRiskNetwork, build_network

CLASSES = ["Improbable", "Possible", "Probable"]


def _predictor(network: nn.Module, backbone: str, size: int, color_mode: str = "grayscale") -> Predictor:
    network.eval()
    return Predictor(network, CLASSES, size, color_mode, backbone, "Pr_Po_Im", Path("test.ckpt"))


def _photo_bytes(size: tuple[int, int] = (96, 64), seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


# Small sizes keep the big backbones fast on CPU; inception_v3 cannot go below 75 px.
SIZES = {"inception_v3": 75, "resnet50": 32, "googlenet": 32}


# The big ones are "slow" (CI still runs them): building inception_v3 alone takes seconds on a busy CPU.
BIG = {"resnet50", "googlenet", "inception_v3"}
BLOCKS = {"googlenet": "body.inception5b", "inception_v3": "body.Mixed_7c"}


@pytest.mark.parametrize("backbone", [pytest.param(b, marks=pytest.mark.slow) if b in BIG else b for b in BACKBONES])
def test_every_backbone_gets_a_normalised_heatmap_at_the_model_input_size(backbone: str) -> None:
    torch.manual_seed(0)
    size = SIZES.get(backbone, 40)
    color_mode = "rgb" if backbone == "efficientnet_lite0" else "grayscale"  # both colour modes are covered
    predictor = _predictor(build_network(backbone, 3, color_mode, size, pretrained=False), backbone, size, color_mode)
    photo = load_square(_photo_bytes(), size, color_mode)
    result = explain(predictor, photo, method="gradcam")
    assert result.heatmap.shape == (size, size)
    assert result.heatmap.dtype == np.float32
    assert 0.0 <= result.heatmap.min() and result.heatmap.max() <= 1.0
    assert result.flat or result.heatmap.max() == pytest.approx(1.0)
    # The probabilities come from the same forward pass and agree with a plain prediction.
    np.testing.assert_allclose(result.probabilities, predictor.predict_proba(photo), rtol=1e-4, atol=1e-5)
    assert result.class_index == int(np.argmax(result.probabilities))
    # Inception-style backbones explain their whole last block, the others the predictor's last convolution.
    name, layer = explained_layer(predictor)
    if backbone in BLOCKS:
        assert name == BLOCKS[backbone]
    else:
        assert layer is predictor.explained_layer
    # No captum hook is left on the shared network.
    assert not layer._forward_hooks and not layer._backward_hooks


class _Brightness(nn.Module):
    """Class 1 = how bright the image is; class 0 = how dark; class 2 = constant. Grad-CAM's answer is known."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)
        self.head = nn.Linear(1, 3)
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
            self.conv.bias.zero_()
            self.head.weight.copy_(torch.tensor([[-1.0], [1.0], [0.0]]))
            self.head.bias.copy_(torch.tensor([0.0, 0.0, 0.5]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def _brightness_predictor(size: int = 32) -> Predictor:
    network = TreeRiskNetwork(_Brightness(), (0.0,), (1.0,), rgb_input=False)
    return _predictor(network, "custom", size)


def _bright_square_photo(width: int = 120, height: int = 80) -> bytes:
    pixels = np.full((height, width), 20, dtype=np.uint8)
    # The centre square is x 20..100; put a bright patch in its upper-left corner: x 25..45, y 5..25.
    pixels[5:25, 25:45] = 250
    buffer = io.BytesIO()
    Image.fromarray(pixels, "L").save(buffer, "PNG")
    return buffer.getvalue()


def test_heatmap_peaks_on_the_region_that_drives_the_class_and_maps_back_to_the_photo() -> None:
    predictor = _brightness_predictor()
    data = _bright_square_photo()
    photo = load_square(data, 32, "grayscale")
    result = explain(predictor, photo, target=1, method="gradcam")
    assert result.class_name == "Possible" and not result.flat
    x, y = heatmap_peak(result.heatmap, photo)
    assert 25 <= x <= 45 and 5 <= y <= 25  # in the original photo's pixels, inside the bright patch
    # Away from the patch the heatmap is cold.
    assert result.heatmap[-8:, -8:].max() < 0.2


def test_a_class_nothing_supports_gives_a_flat_heatmap_not_noise() -> None:
    predictor = _brightness_predictor()
    photo = load_square(_bright_square_photo(), 32, "grayscale")
    darkness = explain(predictor, photo, target=0, method="gradcam")  # brighter pixels only lower "dark"'s score
    assert darkness.flat
    assert not darkness.heatmap.any()
    with pytest.raises(ValueError, match="out of range"):
        explain(predictor, photo, target=7)


def test_explain_works_inside_inference_mode() -> None:
    predictor = _brightness_predictor()
    photo = load_square(_bright_square_photo(), 32, "grayscale")
    with torch.inference_mode():
        result = explain(predictor, photo, target=1, method="gradcam")
    assert not result.flat


# ------------------------------------------------------------------------------------------ familiarity checks

from lightning_module.evaluation import familiarity  # noqa: E402


def _photo(width: int, height: int) -> PreparedPhoto:
    return load_square(_photo_bytes((width, height)), 32, "grayscale")


def test_energy_score_is_minus_logsumexp() -> None:
    assert familiarity.energy_score([0.0, 0.0]) == pytest.approx(-np.log(2))
    assert familiarity.energy_score([1000.0, 0.0]) == pytest.approx(-1000.0)  # no overflow


@pytest.mark.parametrize(("probabilities", "low"), [
    ([0.52, 0.24, 0.24], True),   # 3 classes: rescaled 0.28 < 0.3
    ([0.54, 0.23, 0.23], False),  # rescaled 0.31
    ([0.64, 0.36], True),         # 2 classes: rescaled 0.28
    ([0.66, 0.34], False),
])
def test_low_confidence_threshold_fits_any_number_of_classes(probabilities: list[float], low: bool) -> None:
    result = familiarity.check(probabilities, _photo(64, 64), 32)
    assert result.low_confidence is low
    assert any("Low confidence" in w for w in result.warnings) is low


def test_too_small_and_off_centre_photos_are_flagged() -> None:
    small = familiarity.check([0.9, 0.05, 0.05], _photo(40, 36), 108)
    assert small.too_small and "36x36 pixels" in small.warnings[0] and not small.trustworthy
    wide = familiarity.check([0.9, 0.05, 0.05], _photo(300, 100), 32)
    assert not wide.too_small and any("centre square" in n for n in wide.notes)


# The unfamiliar-photo check (Mahalanobis, calibration, storage) is tested in test_familiarity.py.
