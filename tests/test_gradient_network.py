"""The gradient copy the per-pixel explanations run on: the same function and input gradient as the network,
batch norms folded, remade when the network's weights change; and SmoothGrad split over cores is captum's."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from lightning_module.data.imaging import load_square
from lightning_module.evaluation import explain_methods
from lightning_module.evaluation.explain import explain
from lightning_module.evaluation.gradient_network import faster_convolutions, fold_batch_norms, gradient_network
from lightning_module.evaluation.predictor import Predictor
from lightning_module.models.networks import build_network

SIZE = 40


def _trained_looking(backbone: str, color_mode: str) -> nn.Module:
    """A small network whose batch norms hold statistics far from the identity, as a trained one's do."""
    torch.manual_seed(0)
    network = build_network(backbone, 3, color_mode, SIZE, pretrained=False)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    return network.eval()


def _called_batch_norms(network: nn.Module, inputs: torch.Tensor) -> int:
    calls = []
    hooks = [m.register_forward_hook(lambda *_: calls.append(1)) for m in network.modules()
             if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        network(inputs)
    for hook in hooks:
        hook.remove()
    return len(calls)


def _input_gradient(network: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    inputs = inputs.clone().requires_grad_()
    return torch.autograd.grad(network(inputs)[:, 1].sum(), inputs)[0]


@pytest.mark.parametrize(("backbone", "color_mode"), [("seed_cnn", "grayscale"), ("efficientnet_lite0", "rgb")])
def test_the_copy_folds_every_batch_norm_and_keeps_the_function_and_its_input_gradient(backbone, color_mode) -> None:
    network = _trained_looking(backbone, color_mode)
    channels = 1 if color_mode == "grayscale" else 3
    inputs = torch.rand(4, channels, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    copy = gradient_network(network)
    assert _called_batch_norms(network, inputs) > 0
    assert _called_batch_norms(copy, inputs) == 0  # every one folded into its convolution (same-padding ones too)
    with torch.no_grad():
        torch.testing.assert_close(copy(inputs), network(inputs), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(_input_gradient(copy, inputs), _input_gradient(network, inputs), rtol=1e-3, atol=1e-6)
    assert not any(p.requires_grad for p in copy.parameters())
    assert all(p.requires_grad for p in network.parameters())  # the network itself is untouched
    assert gradient_network(network) is copy  # made once


def test_on_a_cpu_efficientnets_convolutions_become_plain_ones_with_the_same_input_gradient() -> None:
    network = _trained_looking("efficientnet_lite0", "rgb")
    copy = gradient_network(network)
    convolutions = [m for m in copy.modules() if isinstance(m, nn.Conv2d)]
    kinds = Counter(type(m).__name__ for m in convolutions)
    assert len(convolutions) == 49 and kinds["PointwiseConvolution"] == 32  # every 1x1: expansions, projections, head
    # What is left of the same-padding convolutions pads one side more than the other (stride 2 on an even size).
    kept = [m for m in convolutions if type(m).__name__ == "Conv2dStaticSamePadding"]
    assert kept and all(m.static_padding.padding[0] != m.static_padding.padding[1] for m in kept)
    assert kinds["Conv2d"] == 49 - 32 - len(kept)
    for batch in (1, 8):  # PyTorch's own kernel for one photo, oneDNN's for several
        inputs = torch.rand(batch, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(batch))
        torch.testing.assert_close(_input_gradient(copy, inputs), _input_gradient(network, inputs), rtol=1e-3, atol=1e-6)


def test_convolutions_that_have_no_plain_equivalent_are_left_alone() -> None:
    class Circular(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wrap = nn.Conv2d(3, 4, 3, padding=1, padding_mode="circular")
            self.point = nn.Conv2d(4, 4, 1)
            self.strided = nn.Conv2d(4, 4, 1, stride=2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.strided(self.point(self.wrap(x)))

    module = Circular()
    assert faster_convolutions(module) == 1
    assert [type(m).__name__ for m in (module.wrap, module.point, module.strided)] == ["Conv2d", "PointwiseConvolution",
                                                                                       "Conv2d"]
    assert module.wrap.padding_mode == "circular" and module.strided.stride == (2, 2)


def test_the_copy_is_remade_when_the_weights_change_or_move() -> None:
    network = _trained_looking("seed_cnn", "grayscale")
    inputs = torch.rand(2, 1, SIZE, SIZE)
    first = gradient_network(network)
    with torch.no_grad():
        network.decision_bias.copy_(torch.tensor([5.0, 0.0, 0.0]))  # the operating point is set after loading
        network.body.features[0].weight.mul_(2.0)  # a training step
    second = gradient_network(network)
    assert second is not first
    with torch.no_grad():
        torch.testing.assert_close(second(inputs), network(inputs), rtol=1e-4, atol=1e-5)
    network.to(torch.float64)  # moving the tensors (to a device or a dtype) also makes a new copy
    assert gradient_network(network) is not second


def test_a_copy_first_asked_for_under_inference_mode_still_takes_gradients() -> None:
    network = _trained_looking("seed_cnn", "grayscale")
    with torch.inference_mode():  # the batch paths predict under inference mode
        copy = gradient_network(network)
    inputs = torch.rand(2, 1, SIZE, SIZE)
    torch.testing.assert_close(_input_gradient(copy, inputs), _input_gradient(network, inputs), rtol=1e-3, atol=1e-6)


def test_folding_leaves_a_shared_convolution_and_a_branching_output_alone() -> None:
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.norm, self.other = nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2), nn.BatchNorm2d(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            return self.norm(y) + self.other(self.conv(y))  # the conv runs twice; its first output has two users

    module = Shared().eval()
    with torch.no_grad():
        for norm in (module.norm, module.other):
            norm.running_mean.fill_(0.3)
            norm.running_var.fill_(2.0)
    folded = fold_batch_norms(module)
    inputs = torch.rand(1, 2, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(folded(inputs), module(inputs))
    assert _called_batch_norms(folded, inputs) == 2


def _predictor(network: nn.Module, backbone: str, color_mode: str) -> Predictor:
    return Predictor(network, ["Improbable", "Possible", "Probable"], SIZE, color_mode, backbone, "Pr_Po_Im",
                     Path("test.ckpt"))


def _photo(color_mode: str):
    import io

    from PIL import Image

    pixels = np.random.default_rng(3).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return load_square(buffer.getvalue(), SIZE, color_mode)


def test_smoothgrad_split_over_cores_is_captums_noise_tunnel_on_the_network(monkeypatch) -> None:
    from captum.attr import NoiseTunnel, Saliency

    predictor = _predictor(_trained_looking("seed_cnn", "grayscale"), "seed_cnn", "grayscale")
    photo = _photo("grayscale")
    inputs = predictor.input_tensor(photo).float().div_(255.0).requires_grad_()
    with explain_methods.out_of_place(predictor.network), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        reference = NoiseTunnel(Saliency(predictor.network)).attribute(
            inputs, nt_type="smoothgrad", nt_samples=explain_methods.SMOOTHGRAD_SAMPLES,
            stdevs=explain_methods.SMOOTHGRAD_NOISE, target=2)
    expected = explain_methods._magnitude(reference)
    heatmaps = []
    for parts in (1, 2, 4):
        monkeypatch.setattr(explain_methods, "_idle_cores", lambda _inputs, parts=parts: parts)
        evidence, layer = explain_methods.EXPLANATION_METHODS["smoothgrad"].attribute(predictor, inputs, 2)
        torch.testing.assert_close(evidence, expected, rtol=1e-4, atol=1e-6)
        heatmaps.append(explain(predictor, photo, target=2, method="smoothgrad").heatmap)
    assert layer == "input"
    np.testing.assert_allclose(heatmaps[0], heatmaps[1], atol=1e-5)
    np.testing.assert_allclose(heatmaps[0], heatmaps[2], atol=1e-5)


def test_smoothgrad_uses_the_cores_torch_leaves_idle(monkeypatch) -> None:
    inputs = torch.zeros(1, 1, 8, 8)
    monkeypatch.setattr(explain_methods.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert explain_methods._idle_cores(inputs) == 2  # the dashboard: one torch thread on two cores
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert explain_methods._idle_cores(inputs) == 1  # torch already uses both
    monkeypatch.setattr(explain_methods.os, "cpu_count", lambda: 64)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert explain_methods._idle_cores(inputs) == explain_methods.MAX_PARTS
