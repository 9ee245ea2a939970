"""Every explanation method: a finite heatmap at the model input's size, and the peak where the answer is known.

The page's method selector is tested with the rest of the Assess page in test_assess_page.py.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from lightning_module.data.imaging import load_square
from lightning_module.evaluation.explain import (
    DEFAULT_EXPLANATION_METHOD,
    EXPLANATION_METHODS,
    explain,
    explanation_method,
    heatmap_peak,
)
from lightning_module.evaluation.explain_methods import explained_layer, finer_stage, stage_layers
from lightning_module.evaluation.predictor import Predictor
from lightning_module.models.networks import TreeRiskNetwork, build_network

CLASSES = ["Improbable", "Possible", "Probable"]
METHODS = list(EXPLANATION_METHODS)


def _predictor(network: nn.Module, backbone: str, size: int, color_mode: str = "grayscale") -> Predictor:
    network.eval()
    return Predictor(network, CLASSES, size, color_mode, backbone, "Pr_Po_Im", Path("test.ckpt"))


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def test_the_default_is_registered_and_an_unknown_method_is_refused_by_name() -> None:
    assert DEFAULT_EXPLANATION_METHOD in EXPLANATION_METHODS
    assert len({m.label for m in EXPLANATION_METHODS.values()}) == len(EXPLANATION_METHODS)  # one label each
    with pytest.raises(ValueError, match="unknown explanation method 'lime'.*occlusion"):
        explanation_method("lime")


@pytest.fixture(scope="module", params=[("seed_cnn", "grayscale"), ("efficientnet_lite0", "rgb")], ids=lambda p: p[0])
def tiny_model(request: pytest.FixtureRequest) -> tuple[Predictor, object]:
    backbone, color_mode = request.param
    torch.manual_seed(0)
    size = 40
    predictor = _predictor(build_network(backbone, 3, color_mode, size, pretrained=False), backbone, size, color_mode)
    pixels = np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    return predictor, load_square(_png(pixels), size, color_mode)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_a_finite_normalised_heatmap_at_the_input_size(tiny_model, method: str) -> None:
    predictor, photo = tiny_model
    size = predictor.image_size
    in_place = [m for m in predictor.network.modules() if getattr(m, "inplace", False) is True]
    result = explain(predictor, photo, method=method)
    assert result.method == method and result.method_label == EXPLANATION_METHODS[method].label
    assert result.heatmap.shape == (size, size) and result.heatmap.dtype == np.float32
    assert np.isfinite(result.heatmap).all()
    assert 0.0 <= result.heatmap.min() and result.heatmap.max() <= 1.0
    assert result.flat or result.heatmap.max() == pytest.approx(1.0)
    np.testing.assert_allclose(result.probabilities, predictor.predict_proba(photo), rtol=1e-4, atol=1e-5)
    assert result.class_index == int(np.argmax(result.probabilities))
    assert explain(predictor, photo, target=2, method=method).class_name == "Probable"
    # Nothing is left behind on the shared network: no hook, and in-place activations are in place again.
    for module in predictor.network.modules():
        assert not module._forward_hooks and not module._backward_hooks and not module._forward_pre_hooks
    assert all(m.inplace is True for m in in_place)


def test_stages_are_the_last_convolution_of_each_resolution_coarsest_first(tiny_model) -> None:
    predictor, photo = tiny_model
    inputs = predictor.input_tensor(photo).float()
    stages = stage_layers(predictor, inputs)
    assert stages[0][1] is explained_layer(predictor)[1] is predictor.explained_layer
    sizes = []
    for _, layer in stages:
        captured: list[tuple[int, int]] = []
        hook = layer.register_forward_hook(lambda _m, _a, out: captured.append(tuple(out.shape[-2:])))
        with torch.no_grad():
            predictor.network(inputs)
        hook.remove()
        sizes.append(captured[-1][0] * captured[-1][1])
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)  # one per resolution, coarsest first
    assert finer_stage(predictor, inputs, 1) == stages[1]
    assert finer_stage(predictor, inputs, 99) == stages[-1]  # a shallow net: the finest there is


class _UpperLeft(nn.Module):
    """Class 1's logit is the brightness of the input's upper-left quadrant, seen through three convolutions (full,
    half and quarter resolution); everything else is multiplied away before the first one. The right answer to
    "where did the model look for class 1" is therefore known: in that quadrant, and nowhere else."""

    def __init__(self, size: int) -> None:
        super().__init__()
        mask = torch.zeros(1, 1, size, size)
        mask[..., : size // 2, : size // 2] = 1.0
        self.register_buffer("mask", mask)
        self.features = nn.Sequential(
            nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(2, 2, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(2, 2, 3, stride=2, padding=1), nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(2, 3)
        with torch.no_grad():
            for conv in self.features[::2]:
                conv.weight.fill_(1.0 / conv.weight[0].numel())
                conv.bias.zero_()
            self.head.weight.copy_(torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]]))
            self.head.bias.copy_(torch.tensor([0.0, 0.0, 0.05]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x * self.mask).mean(dim=(2, 3)))


@pytest.mark.parametrize("method", METHODS)
def test_the_peak_is_in_the_region_that_drives_the_score_not_on_an_equal_patch_outside(method: str) -> None:
    size = 32
    predictor = _predictor(TreeRiskNetwork(_UpperLeft(size), (0.0,), (1.0,), rgb_input=False), "custom", size)
    # 120x80 photo: the model sees its centre square x 20..100 (2.5 photo pixels per model pixel), whose upper-left
    # quadrant is x 20..60, y 0..40. Two equal bright patches: one in that quadrant, one far outside it.
    pixels = np.full((80, 120), 20, dtype=np.uint8)
    pixels[8:28, 28:48] = 250
    pixels[48:68, 72:92] = 250
    photo = load_square(_png(pixels), size, "grayscale")
    result = explain(predictor, photo, target=1, method=method)
    assert not result.flat
    x, y = heatmap_peak(result.heatmap, photo)
    assert 20 <= x <= 60 and 0 <= y <= 40, (method, x, y)
    assert result.heatmap[20:30, 20:30].max() < 0.2, method  # the patch outside, in model pixels, stays cold
