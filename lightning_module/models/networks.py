"""Backbones by name, each wrapped so it takes the data module's uint8 (or [0, 1] float) images directly.

What each backbone is (input size, RGB, weights, head, normalisation) is its entry in the torch-free catalogue
``models/backbones.py``; this module holds the torch half: one build function per catalogue name.

The wrapper owns what prediction must not get wrong: scaling to [0, 1], repeating grayscale to three
channels for ImageNet backbones, and the backbone's normalisation. These live in the network's buffers,
so a checkpoint carries them and a predictor needs nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lightning_module.models.backbones import (
    BACKBONES,
    GRAY_MEAN,
    GRAY_STD,
    backbone_problems,
    imagenet_weights_file,
)
from lightning_module.models.components.seed_cnn import SeedCNN

# (num_classes, in_channels, image_size, pretrained) -> the backbone's body with a ``num_classes`` head.
BuildFunction = Callable[[int, int, int, bool], nn.Module]


class TreeRiskNetwork(nn.Module):
    """``body`` with input conversion and normalisation in front; ``forward`` returns logits.

    ``decision_bias`` (one value per class, zero after training) is added to the logits: the model's operating
    point. Bundling sets the offsets on validation photos (``evaluation.operating_point``), so that
    every consumer (the Assess page, batch screening, the benches) rates with the same decision rule. Checkpoints
    written before it existed load with zeros.
    """

    def __init__(self, body: nn.Module, mean: tuple[float, ...], std: tuple[float, ...], rgb_input: bool,
                 num_classes: int | None = None) -> None:
        super().__init__()
        self.body = body
        self.rgb_input = rgb_input
        # Set by the classifier (its channels_last option); not saved: a predictor runs in any layout.
        self.channels_last = False
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        self.register_buffer("decision_bias", torch.zeros(num_classes) if num_classes else None)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        key = prefix + "decision_bias"
        if self.decision_bias is not None and key not in state_dict:  # a checkpoint from before the operating point
            state_dict[key] = torch.zeros_like(self.decision_bias)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

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
        logits = out.logits if hasattr(out, "logits") else out  # googlenet/inception return named tuples in training
        return logits if self.decision_bias is None else logits + self.decision_bias


def _seed_cnn(num_classes: int, in_channels: int, image_size: int, pretrained: bool) -> nn.Module:
    return SeedCNN(num_classes, in_channels, image_size)


def _torchvision(name: str) -> BuildFunction:
    def build(num_classes: int, in_channels: int, image_size: int, pretrained: bool) -> nn.Module:
        import torchvision.models as tvm

        extra = {"aux_logits": False, "init_weights": not pretrained} if name in ("googlenet", "inception_v3") else {}
        if pretrained:
            model = _load_torchvision_weights(name, extra)
        else:
            model = tvm.get_model(name, weights=None, **extra)
        _replace_head(model, BACKBONES[name].head, num_classes)
        return model

    return build


def _load_torchvision_weights(name: str, extra: dict) -> nn.Module:
    import torchvision.models as tvm

    state = torch.load(imagenet_weights_file(name), map_location="cpu", weights_only=True)
    extra = {k: v for k, v in extra.items() if k != "init_weights"}
    if name in ("googlenet", "inception_v3"):
        model = tvm.get_model(name, weights=None, aux_logits=True, init_weights=False)
        model.load_state_dict(state)
        model.aux_logits = False
        model.aux1 = model.aux2 = None  # type: ignore[assignment]
        if hasattr(model, "AuxLogits"):
            model.AuxLogits = None
        if name == "googlenet":
            model.transform_input = False  # our wrapper already normalises
        return model
    model = tvm.get_model(name, weights=None, **extra)
    model.load_state_dict(state)
    return model


def _efficientnet_lite0(num_classes: int, in_channels: int, image_size: int, pretrained: bool) -> nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0", num_classes=1000, image_size=image_size)
    if pretrained:
        state = torch.load(imagenet_weights_file("efficientnet_lite0"), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    _replace_head(model, BACKBONES["efficientnet_lite0"].head, num_classes)
    # The port keeps TensorFlow's batch-norm momentum (0.01 in PyTorch's terms), made for hundreds of thousands
    # of steps. Our runs are a few hundred steps: the running statistics would still be mostly ImageNet's (or
    # the initial 0 and 1) when validation uses them. PyTorch's usual 0.1 lets them follow the data.
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = 0.1
    return model


def _replace_head(model: nn.Module, path: str, num_classes: int) -> None:
    parent_path, _, attribute = path.rpartition(".")
    parent = model.get_submodule(parent_path)
    setattr(parent, attribute, nn.Linear(getattr(parent, attribute).in_features, num_classes))


# The torch half of each catalogue entry (models/backbones.py): how to build it. One per catalogue name.
BUILDERS: dict[str, BuildFunction] = {
    "seed_cnn": _seed_cnn,
    "efficientnet_lite0": _efficientnet_lite0,
    "resnet18": _torchvision("resnet18"),
    "resnet50": _torchvision("resnet50"),
    "googlenet": _torchvision("googlenet"),
    "inception_v3": _torchvision("inception_v3"),
}


def build_network(
    backbone: str, num_classes: int, color_mode: str = "grayscale", image_size: int = 108, pretrained: bool = False
) -> TreeRiskNetwork:
    """The named backbone with a ``num_classes`` head, ready for images of ``color_mode`` and ``image_size``.

    Raises:
        ValueError: the combination cannot be trained (see :func:`.backbones.backbone_problems`); the message
            starts with the setting at fault (``data.image_size: ...``).
        PretrainedWeightsMissing: ImageNet weights asked for but not on this machine.
    """
    problems = backbone_problems(backbone, pretrained, image_size, color_mode, check_weights=False)
    if problems:
        raise ValueError(f"{problems[0].setting}: {problems[0].message}")
    entry = BACKBONES[backbone]
    data_channels = 1 if color_mode == "grayscale" else 3
    in_channels = 3 if entry.rgb_input else data_channels
    if entry.rgb_input:
        mean, std = entry.mean, entry.std
    else:
        mean, std = GRAY_MEAN * in_channels, GRAY_STD * in_channels
    body = BUILDERS[backbone](num_classes, in_channels, image_size, pretrained)
    return TreeRiskNetwork(body, mean, std, entry.rgb_input, num_classes)


def head_module(network: TreeRiskNetwork, backbone: str) -> nn.Module:
    """The final classification layer (the one replaced when classes change)."""
    return network.body.get_submodule(BACKBONES[backbone].head)


def last_conv_layer(network: nn.Module) -> nn.Conv2d:
    """The last 2-D convolution: the layer Grad-CAM explains, for every backbone."""
    convs = [m for m in network.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("network has no convolution layer to explain")
    return convs[-1]
