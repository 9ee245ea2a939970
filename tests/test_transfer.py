"""Fine-tuning: head-only epochs, then the whole network at a lower backbone rate; transfer from our own
checkpoint, keeping a fresh head when the new image set has other classes."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from conftest import make_photo_folder
from lightning_module.data.datamodule import TreeRiskDataModule
from lightning_module.models.checkpoints import CheckpointError
from lightning_module.evaluation.predictor import load_predictor
from lightning_module.models.classifier import LikelihoodOfFailureClassifier
from lightning_module.models.finetuning import HeadOnlyThenUnfreeze, trainable_parameter_count

HEAD = "body.classifier.7."  # seed_cnn's output layer


def _trainer(max_epochs: int, callbacks: list[pl.Callback] | None = None) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=max_epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, callbacks=callbacks or [],
    )  # fmt: skip


def _data(folder: Path, **kwargs) -> TreeRiskDataModule:
    return TreeRiskDataModule(source=str(folder), image_size=32, batch_size=8, cache_dir=None, **kwargs)


class Probe(pl.Callback):
    """Records, per epoch, what the optimiser may change and the network's tensors."""

    def __init__(self) -> None:
        self.trainable: dict[int, int] = {}
        self.batch_norm_training: dict[int, bool] = {}
        self.states: dict[int | str, dict[str, torch.Tensor]] = {}

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.states["start"] = {k: v.clone() for k, v in pl_module.network.state_dict().items()}

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        if batch_idx == 0:  # after every callback's on_train_epoch_start
            self.trainable[trainer.current_epoch] = trainable_parameter_count(pl_module.network)
            self.batch_norm_training[trainer.current_epoch] = pl_module.network.body.features[1].training

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.states[trainer.current_epoch] = {k: v.clone() for k, v in pl_module.network.state_dict().items()}


def test_head_only_epochs_then_the_whole_network_at_a_lower_rate(photo_folder: Path) -> None:
    data = _data(photo_folder)
    model = LikelihoodOfFailureClassifier(data.classes, image_size=32, head_only_epochs=1, backbone_lr_factor=0.1, lr=1e-3)
    assert any(isinstance(c, HeadOnlyThenUnfreeze) for c in model.configure_callbacks())
    probe = Probe()
    _trainer(2, [probe]).fit(model, datamodule=data)

    head_parameters = sum(p.numel() for p in model.head.parameters())
    all_parameters = sum(p.numel() for p in model.network.parameters())
    assert head_parameters == 64 * 3 + 3
    assert probe.trainable == {0: head_parameters, 1: all_parameters}
    assert probe.batch_norm_training == {0: False, 1: True}  # frozen BN keeps its running statistics

    start, after_head_only, after_unfrozen = probe.states["start"], probe.states[0], probe.states[1]
    backbone_keys = [k for k in start if not k.startswith(HEAD) and k not in ("mean", "std")]
    assert all(torch.equal(start[k], after_head_only[k]) for k in backbone_keys), "the frozen backbone changed"
    assert not torch.equal(start[HEAD + "weight"], after_head_only[HEAD + "weight"]), "the head did not learn"
    assert not torch.equal(after_head_only["body.features.0.weight"], after_unfrozen["body.features.0.weight"])
    assert not torch.equal(after_head_only["body.features.1.running_mean"], after_unfrozen["body.features.1.running_mean"])

    groups = {g["name"]: g["lr"] for g in model.optimizers().optimizer.param_groups}
    assert groups == {"head": pytest.approx(1e-3), "backbone": pytest.approx(1e-4)}


def test_without_head_only_epochs_everything_trains_from_the_start(photo_folder: Path) -> None:
    data = _data(photo_folder)
    model = LikelihoodOfFailureClassifier(data.classes, image_size=32)
    assert model.configure_callbacks() == []
    probe = Probe()
    _trainer(1, [probe]).fit(model, datamodule=data)
    assert probe.trainable == {0: sum(p.numel() for p in model.network.parameters())}


@pytest.fixture(scope="module")
def source_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seed_cnn trained for one epoch on three classes."""
    root = tmp_path_factory.mktemp("source")
    data = _data(make_photo_folder(root / "photos"))
    model = LikelihoodOfFailureClassifier(data.classes, image_size=32)
    trainer = _trainer(1)
    trainer.fit(model, datamodule=data)
    trainer.save_checkpoint(root / "source.ckpt")
    return root / "source.ckpt"


def test_transfer_to_fewer_classes_keeps_the_backbone_and_replaces_the_head(source_checkpoint: Path, tmp_path: Path) -> None:
    source = torch.load(source_checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    two_classes = make_photo_folder(tmp_path / "two", per_class=(10, 10, 0))
    data = _data(two_classes, scenario="all")
    assert data.classes == ["Improbable", "Possible"]

    model = LikelihoodOfFailureClassifier(data.classes, scenario="all", image_size=32, pretrained=str(source_checkpoint))
    own = model.network.state_dict()
    assert sorted(model.transferred_from["not_transferred"]) == [HEAD + "bias", HEAD + "weight"]
    assert model.transferred_from["classes"] == ["Improbable", "Possible", "Probable"]
    for key, value in own.items():
        if not key.startswith(HEAD) and key != "decision_bias":
            assert torch.equal(value, source["network." + key]), key
    assert torch.equal(own["decision_bias"], torch.zeros(2))  # the operating point is the new model's own, not copied
    assert own[HEAD + "weight"].shape == (2, 64) and source["network." + HEAD + "weight"].shape == (3, 64)

    # The transferred model trains on the new classes, head first, and its checkpoint predicts those classes.
    fine_tuned = LikelihoodOfFailureClassifier(
        data.classes, scenario="all", image_size=32, pretrained=str(source_checkpoint), head_only_epochs=1
    )
    trainer = _trainer(2)
    trainer.fit(fine_tuned, datamodule=data)
    trainer.save_checkpoint(tmp_path / "target.ckpt")
    predictor = load_predictor(tmp_path / "target.ckpt")
    assert predictor.classes == ["Improbable", "Possible"]
    assert predictor.predict_proba(next(two_classes.glob("Possible/*.jpg"))).shape == (2,)


def test_transfer_with_the_same_classes_keeps_the_head_too(source_checkpoint: Path) -> None:
    classes = ["Improbable", "Possible", "Probable"]
    model = LikelihoodOfFailureClassifier(classes, image_size=32, pretrained=str(source_checkpoint))
    assert model.transferred_from["not_transferred"] == []


def test_transfer_refuses_another_backbone_or_a_foreign_file(source_checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="holds a seed_cnn network, but model.backbone is resnet18"):
        LikelihoodOfFailureClassifier(["a", "b"], image_size=32, backbone="resnet18", pretrained=str(source_checkpoint))
    with pytest.raises(ValueError, match="existing checkpoint file"):
        LikelihoodOfFailureClassifier(["a", "b"], image_size=32, pretrained=str(tmp_path / "missing.ckpt"))
    not_a_checkpoint = tmp_path / "notes.ckpt"
    not_a_checkpoint.write_text("hello")
    with pytest.raises(CheckpointError, match="Not a valid checkpoint"):
        LikelihoodOfFailureClassifier(["a", "b"], image_size=32, pretrained=str(not_a_checkpoint))


def test_fine_tuning_options_are_checked() -> None:
    with pytest.raises(ValueError, match="head_only_epochs must be 0 or more"):
        LikelihoodOfFailureClassifier(["a", "b"], head_only_epochs=-1)
    with pytest.raises(ValueError, match="backbone_lr_factor must be positive"):
        LikelihoodOfFailureClassifier(["a", "b"], backbone_lr_factor=0)
