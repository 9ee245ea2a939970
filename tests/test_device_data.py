"""The on-device data path (``data.on_device true``): batch-wide augmentation with per-photo parameters, and
batches that cover the data like the CPU loaders do. Run on the CPU here; the code is device-agnostic."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from lightning_module.data.datamodule import TreeRiskDataModule
from lightning_module.data.device_data import AugmentationRanges, DeviceBatches, augment_batch
from lightning_module.models.classifier import LikelihoodOfFailureClassifier

NO_CHANGE = AugmentationRanges(scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=0.0, brightness=0.0, contrast=0.0)


def _photos(n: int = 6, size: int = 16, channels: int = 1) -> torch.Tensor:
    return torch.randint(0, 256, (n, channels, size, size), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


def test_augmentation_without_randomness_returns_the_photos() -> None:
    photos = _photos()
    out = augment_batch(photos, torch.Generator().manual_seed(1), NO_CHANGE)
    assert out.dtype == torch.float32 and out.shape == photos.shape
    assert torch.allclose(out, photos.float() / 255, atol=1e-5)


def test_a_forced_flip_mirrors_each_photo_exactly() -> None:
    photos = _photos(channels=3)
    flip_only = AugmentationRanges(scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=1.0, brightness=0.0, contrast=0.0)
    out = augment_batch(photos, torch.Generator().manual_seed(1), flip_only)
    assert torch.allclose(out, photos.flip(-1).float() / 255, atol=1e-5)


def test_every_photo_gets_its_own_random_crop_flip_and_jitter() -> None:
    same_photo = _photos(1, size=32).repeat(8, 1, 1, 1)
    out = augment_batch(same_photo, torch.Generator().manual_seed(3))
    assert out.min() >= 0 and out.max() <= 1
    distinct = {tuple(torch.round(o.flatten()[:64] * 1e4).tolist()) for o in out}
    assert len(distinct) == 8
    again = augment_batch(same_photo, torch.Generator().manual_seed(3))
    assert torch.equal(out, again), "the same seed must give the same batch"


def test_training_batches_cover_every_photo_once_per_epoch_and_change_order() -> None:
    photos, labels = _photos(10), torch.arange(10)
    epoch = {"value": 0}
    batches = DeviceBatches(photos, labels, batch_size=4, device="cpu", train=True, epoch=lambda: epoch["value"])
    assert len(batches) == 3
    first = torch.cat([index for _, _, index in batches])
    assert sorted(first.tolist()) == list(range(10))
    epoch["value"] = 1
    second = torch.cat([index for _, _, index in batches])
    assert sorted(second.tolist()) == list(range(10)) and not torch.equal(first, second)
    for images, batch_labels, index in batches:
        assert torch.equal(images, photos[index]) and torch.equal(batch_labels, labels[index])


def test_processes_share_training_photos_evenly_and_validation_photos_without_repeats() -> None:
    photos, labels = _photos(7), torch.arange(7)
    train = [DeviceBatches(photos, labels, 2, "cpu", train=True, rank=r, world_size=2) for r in range(2)]
    assert len(train[0]) == len(train[1])  # equal step counts, or DDP would wait forever
    seen = Counter(i for shard in train for _, _, index in shard for i in index.tolist())
    assert set(seen) == set(range(7)) and sum(seen.values()) == 8  # one photo repeated to even out, like DistributedSampler
    val = [DeviceBatches(photos, labels, 2, "cpu", train=False, rank=r, world_size=2) for r in range(2)]
    shared = [i for shard in val for _, _, index in shard for i in index.tolist()]
    assert sorted(shared) == list(range(7))


def test_sampler_balance_draws_rare_classes_more_often() -> None:
    labels = torch.tensor([0] * 90 + [1] * 10)
    weights = 1.0 / torch.bincount(labels)[labels].float()
    batches = DeviceBatches(_photos(100, size=8), labels, 50, "cpu", train=True, weights=weights)
    drawn = torch.cat([batch_labels for _, batch_labels, _ in batches])
    assert 25 <= int((drawn == 1).sum()) <= 75


def test_fit_with_on_device_data(photo_folder: Path) -> None:
    data = TreeRiskDataModule(source=str(photo_folder), image_size=32, batch_size=8, cache_dir=None, on_device=True)
    model = LikelihoodOfFailureClassifier(data.classes, image_size=32)
    trainer = pl.Trainer(
        max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(model, datamodule=data)
    assert isinstance(trainer.train_dataloader, DeviceBatches)
    assert trainer.global_step == 2 * len(trainer.train_dataloader)
    assert model.last_val_confusion.sum() == len(data.val_set)
    assert sorted(model.last_val_predictions[:, 0].astype(int).tolist()) == list(range(len(data.val_set)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_photos_stay_on_the_gpu() -> None:
    batches = DeviceBatches(_photos(), torch.arange(6), 4, "cuda", train=True, augment=True)
    images, labels, index = next(iter(batches))
    assert images.is_cuda and labels.is_cuda and index.is_cuda
    assert batches._tensors()[0].is_cuda
