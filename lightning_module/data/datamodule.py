"""The LightningDataModule: photos -> scenario classes -> decoded arrays -> group-wise splits -> loaders.

Splitting happens on whole source groups before any augmentation, and augmentation touches the training
split only. Images stay uint8 until the model: the network wrapper converts and normalises, so a loader
batch of 108 px grayscale photos is tiny and can live on the GPU.
"""

from __future__ import annotations

import os

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler
from torchvision.transforms import v2

from lightning_module.data.categories import SCENARIO_NAMES, canonical_class_name, scenario_classes, scenario_mapping
from lightning_module.data.device_data import DeviceBatches
from lightning_module.data.imaging import ColorMode
from lightning_module.data.ingest import IngestResult, default_cache_dir, ingest
from lightning_module.data.sources import DataSourceError, IgnoredFile, PhotoRecord, discover_folder, read_manifest
from lightning_module.data.splits import group_k_fold, group_train_val_test_split

SYNTHETIC = "synthetic"
Balance = Literal["class_weights", "sampler", "none"]


class PhotoDataset(Dataset):
    """Decoded photos held in memory as uint8; returns ``(image CxHxW uint8, label, index)``."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: v2.Transform | None = None) -> None:
        tensor = torch.from_numpy(np.ascontiguousarray(images))
        self.images = tensor.unsqueeze(1) if tensor.ndim == 3 else tensor.permute(0, 3, 1, 2).contiguous()
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, self.labels[index], index


def training_augmentation(image_size: int) -> v2.Transform:
    """Random resized crop, horizontal flip and a small brightness/contrast jitter, on uint8 tensors."""
    return v2.Compose(
        [
            v2.RandomResizedCrop(image_size, scale=(0.75, 1.0), ratio=(0.9, 1.1), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.ColorJitter(brightness=0.15, contrast=0.15),
        ]
    )


@dataclass
class DataReport:
    """What went into a run: written as ``data_report.json`` beside it."""

    source: str
    scenario: str
    classes: list[str]
    class_mapping: dict[str, str]
    found_per_class: dict[str, int]
    used_per_class: dict[str, int]
    split_sizes: dict[str, dict[str, int]] = field(default_factory=dict)
    split_groups: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    ignored: list[dict[str, str]] = field(default_factory=list)
    cache_hits: int = 0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class TreeRiskDataModule(pl.LightningDataModule):
    """Tree photos for likelihood-of-failure classification.

    Args:
        source: ``"synthetic"`` (the built-in generator, made on first use), a folder with one sub-folder
            per class, or a CSV manifest ``path,label[,group]``.
        scenario: class grouping: ``Pr_Im``, ``PrPo_Im``, ``Pr_PoIm``, ``Pr_Po_Im`` or ``all``.
        image_size: side of the square model input in pixels (the lab used 108; 64, 128, 224 are common).
        color_mode: ``grayscale`` or ``rgb``.
        batch_size: photos per training step.
        val_share, test_share: shares of the data (by group) for validation and test.
        seed: seeds the split, the sampler and the synthetic data.
        fold, n_folds: when ``fold`` is set, stratified group k-fold: fold ``fold`` of ``n_folds`` is the
            validation set, the rest train, and there is no test split.
        augment: augment the training split.
        balance: ``class_weights`` (weighted loss, default), ``sampler`` (weighted sampling) or ``none``.
        group_regex: regex on file names naming the source photo, for data with several crops per photo.
        synthetic_size, synthetic_root: size and parent folder of the built-in dataset.
        cache_dir: where decoded photos are remembered: ``auto`` ($TREERISK_CACHE or .cache/treerisk/ingest),
            a folder, or ``null`` to disable.
        num_workers: data-loader processes (0 is fastest for in-memory data on a small CPU).
        predict_source: folder or file of photos for ``predict``.
        on_device: keep the photos on the training device (GPU) and augment them there, batch-wide
            (``device_data.DeviceBatches``); the default ``false`` uses the CPU loaders.
    """

    def __init__(
        self,
        source: str = SYNTHETIC,
        scenario: str = "Pr_Po_Im",
        image_size: int = 108,
        color_mode: ColorMode = "grayscale",
        batch_size: int = 32,
        val_share: float = 0.15,
        test_share: float = 0.15,
        seed: int = 0,
        fold: int | None = None,
        n_folds: int = 5,
        augment: bool = True,
        balance: Balance = "class_weights",
        group_regex: str | None = None,
        synthetic_size: int = 458,
        synthetic_root: str = "data",
        cache_dir: str | None = "auto",
        num_workers: int = 0,
        predict_source: str | None = None,
        on_device: bool = False,
    ) -> None:
        super().__init__()
        self._check_options(scenario, image_size, color_mode, batch_size, fold, n_folds, balance, synthetic_size)
        self.save_hyperparameters()
        self.source = source
        self.scenario = scenario
        self.image_size = image_size
        self.color_mode: ColorMode = color_mode
        self.batch_size = batch_size
        self.val_share, self.test_share, self.seed = val_share, test_share, seed
        self.fold, self.n_folds = fold, n_folds
        self.augment, self.balance = augment, balance
        self.group_regex = group_regex
        self.synthetic_size, self.synthetic_root = synthetic_size, synthetic_root
        self.cache_dir = default_cache_dir() if cache_dir == "auto" else Path(cache_dir) if cache_dir else None
        self.num_workers = num_workers
        self.predict_source = predict_source
        self.on_device = on_device
        self.data_report: DataReport | None = None
        self.train_set: PhotoDataset | None = None
        self.val_set: PhotoDataset | None = None
        self.test_set: PhotoDataset | None = None
        self.predict_set: PhotoDataset | None = None
        self.val_paths: list[str] = []
        self.test_paths: list[str] = []
        self.predict_paths: list[str] = []
        self.predict_skipped: list[dict[str, str]] = []
        self.class_weights: torch.Tensor | None = None
        self.train_labels: np.ndarray | None = None
        self.val_labels: np.ndarray | None = None
        self._classes: list[str] | None = None

    @staticmethod
    def _check_options(scenario, image_size, color_mode, batch_size, fold, n_folds, balance, synthetic_size) -> None:
        if scenario not in SCENARIO_NAMES:
            raise ValueError(f"data.scenario: unknown scenario {scenario!r}; choose one of {', '.join(SCENARIO_NAMES)}")
        if not 8 <= image_size <= 1024:
            raise ValueError(f"data.image_size must be between 8 and 1024 pixels, got {image_size}")
        if color_mode not in ("grayscale", "rgb"):
            raise ValueError(f"data.color_mode must be 'grayscale' or 'rgb', got {color_mode!r}")
        if batch_size < 1:
            raise ValueError(f"data.batch_size must be at least 1, got {batch_size}")
        if fold is not None and not 0 <= fold < n_folds:
            raise ValueError(f"data.fold must be between 0 and n_folds - 1 = {n_folds - 1}, got {fold}")
        if balance not in ("class_weights", "sampler", "none"):
            raise ValueError(f"data.balance must be class_weights, sampler or none, got {balance!r}")
        if synthetic_size < 10:
            raise ValueError(f"data.synthetic_size must be at least 10, got {synthetic_size}")

    # ----------------------------------------------------------------------------------- where the data is
    @property
    def synthetic_dir(self) -> Path:
        return Path(self.synthetic_root) / f"synthetic-n{self.synthetic_size}-seed{self.seed}"

    def _ensure_synthetic(self) -> Path:
        from lightning_module.synthetic import ensure_synthetic_dataset

        # Every core: the files are byte-identical whatever the number of workers, and a first run waits on them.
        return ensure_synthetic_dataset(self.synthetic_dir, n=self.synthetic_size, seed=self.seed, workers=os.cpu_count() or 1)

    def _records(self) -> tuple[list[PhotoRecord], list[IgnoredFile], str]:
        if self.source == SYNTHETIC:
            root = self._ensure_synthetic()
            return read_manifest(root / "manifest.csv"), [], f"synthetic ({root})"
        path = Path(self.source).expanduser()
        if path.suffix.lower() == ".csv":
            return read_manifest(path, self.group_regex), [], str(path)
        records, ignored = discover_folder(path, self.group_regex)
        return records, ignored, str(path)

    @property
    def classes(self) -> list[str]:
        """Class names in index order; known before ``setup`` (the model is built from them)."""
        if self._classes is None:
            self._classes = scenario_classes(self.scenario, self._available_classes())
        return self._classes

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def _available_classes(self) -> list[str]:
        if self.source == SYNTHETIC:
            root = self._ensure_synthetic()
        else:
            path = Path(self.source).expanduser()
            if path.suffix.lower() == ".csv":
                return sorted({r.label for r in read_manifest(path, self.group_regex)})
            root = path
        if not root.exists():
            raise DataSourceError(f"Data folder not found: {root}")
        if not root.is_dir():
            raise DataSourceError(f"Not a folder: {root} (give a folder with one sub-folder per class, or a .csv manifest)")
        return [canonical_class_name(p.name) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]

    # ----------------------------------------------------------------------------------- Lightning hooks
    def prepare_data(self) -> None:
        if self.source == SYNTHETIC:
            self._ensure_synthetic()

    def setup(self, stage: str | None = None) -> None:
        if stage == "predict":
            self._setup_predict()
            return
        if self.train_set is not None:
            return
        records, ignored, source_text = self._records()
        mapping = scenario_mapping(self.scenario, {r.label for r in records})
        classes = self.classes
        used = [r for r in records if r.label in mapping]
        result = ingest(used, self.image_size, self.color_mode, self.cache_dir)
        labels = np.array([classes.index(mapping[r.label]) for r in result.records], dtype=np.int64)
        groups = [r.group for r in result.records]
        self._require_every_class(labels, classes, result)

        if self.fold is not None:
            train_idx, val_idx = group_k_fold(labels, groups, self.n_folds, self.seed)[self.fold]
            test_idx: list[int] = []
        else:
            train_idx, val_idx, test_idx = group_train_val_test_split(
                labels, groups, self.val_share, self.test_share, self.seed
            )
        if not train_idx or not val_idx:
            raise DataSourceError(
                f"Too few photos to split: {len(result.records)} usable, giving {len(train_idx)} for training and "
                f"{len(val_idx)} for validation"
            )
        augmentation = training_augmentation(self.image_size) if self.augment else None
        self.train_set = PhotoDataset(result.images[train_idx], labels[train_idx], augmentation)
        self.val_set = PhotoDataset(result.images[val_idx], labels[val_idx])
        self.test_set = PhotoDataset(result.images[test_idx], labels[test_idx]) if test_idx else None
        self.val_paths = [str(result.records[i].path) for i in val_idx]
        self.test_paths = [str(result.records[i].path) for i in test_idx]
        self.train_labels, self.val_labels = labels[train_idx], labels[val_idx]
        counts = np.bincount(labels[train_idx], minlength=len(classes)).astype(float)
        self.class_weights = torch.tensor(counts.sum() / (len(classes) * np.maximum(counts, 1)), dtype=torch.float32)

        def sizes(indices: list[int]) -> dict[str, int]:
            c = Counter(labels[i] for i in indices)
            return {name: int(c[k]) for k, name in enumerate(classes)}

        self.data_report = DataReport(
            source=source_text,
            scenario=self.scenario,
            classes=classes,
            class_mapping=mapping,
            found_per_class=dict(Counter(r.label for r in records)),
            used_per_class={name: int((labels == k).sum()) for k, name in enumerate(classes)},
            split_sizes={"train": sizes(train_idx), "val": sizes(val_idx), "test": sizes(test_idx)},
            split_groups={
                "train": len({groups[i] for i in train_idx}),
                "val": len({groups[i] for i in val_idx}),
                "test": len({groups[i] for i in test_idx}),
            },
            skipped=[{"path": str(s.path), "label": s.label, "reason": s.reason} for s in result.skipped],
            ignored=[{"path": str(i.path), "reason": i.reason} for i in ignored],
            cache_hits=result.cache_hits,
        )

    def _require_every_class(self, labels: np.ndarray, classes: list[str], result: IngestResult) -> None:
        counts = np.bincount(labels, minlength=len(classes))
        empty = [name for name, n in zip(classes, counts) if n == 0]
        if empty:
            reasons = f" ({len(result.skipped)} unreadable photos were skipped)" if result.skipped else ""
            raise DataSourceError(f"No usable photos for class(es) {', '.join(empty)}{reasons}")
        few = [f"{name} ({n})" for name, n in zip(classes, counts) if n < 3]
        if few:
            raise DataSourceError(f"Too few photos to split class(es) {', '.join(few)}: each class needs at least 3")

    def _setup_predict(self) -> None:
        if not self.predict_source:
            raise DataSourceError("predict needs data.predict_source: a photo or a folder of photos")
        source = Path(self.predict_source).expanduser()
        if source.is_dir():
            files = sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif source.is_file():
            files = [source]
        else:
            raise DataSourceError(f"predict_source not found: {source}")
        if not files:
            raise DataSourceError(f"No files in {source}")
        records = [PhotoRecord(p, "", p.name) for p in files]
        result = ingest(records, self.image_size, self.color_mode, self.cache_dir)
        self.predict_set = PhotoDataset(result.images, np.zeros(len(result.records), dtype=np.int64))
        self.predict_paths = [str(r.path) for r in result.records]
        self.predict_skipped = [{"path": str(s.path), "reason": s.reason} for s in result.skipped]

    # ----------------------------------------------------------------------------------- loaders
    def train_dataloader(self) -> DataLoader | DeviceBatches:
        assert self.train_set is not None, "setup('fit') first"
        sampler = None
        if self.on_device:
            return self._device_batches(self.train_set, train=True)
        if self.balance == "sampler":
            counts = np.bincount(self.train_set.labels.numpy(), minlength=self.num_classes)
            weights = 1.0 / counts[self.train_set.labels.numpy()]
            generator = torch.Generator().manual_seed(self.seed)
            sampler = WeightedRandomSampler(weights.tolist(), len(weights), replacement=True, generator=generator)
        return self._loader(self.train_set, shuffle=sampler is None, sampler=sampler, drop_last=False)

    def val_dataloader(self) -> DataLoader | DeviceBatches:
        assert self.val_set is not None, "setup('fit') first"
        if self.on_device:
            return self._device_batches(self.val_set, train=False)
        return self._loader(self.val_set, sampler=self._unpadded_sampler(self.val_set))

    def test_dataloader(self) -> DataLoader:
        if self.test_set is None:
            raise DataSourceError("There is no test split (k-fold runs hold out a validation fold only)")
        return self._loader(self.test_set, sampler=self._unpadded_sampler(self.test_set))

    def predict_dataloader(self) -> DataLoader:
        assert self.predict_set is not None, "setup('predict') first"
        return self._loader(self.predict_set)

    def _distributed(self) -> tuple[int, int]:
        """(rank, number of processes) of the trainer this module is attached to."""
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _unpadded_sampler(self, dataset: PhotoDataset) -> UnrepeatedDistributedSampler | None:
        # Lightning's default DistributedSampler pads with repeats, which would count some photos twice in
        # the validation metrics; this one gives each process its own share and repeats nothing.
        rank, world_size = self._distributed()
        if world_size <= 1:
            return None
        return UnrepeatedDistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=False)

    def _device_batches(self, dataset: PhotoDataset, train: bool) -> DeviceBatches:
        rank, world_size = self._distributed()
        trainer = self.trainer
        weights = None
        if train and self.balance == "sampler":
            counts = np.bincount(dataset.labels.numpy(), minlength=self.num_classes)
            weights = torch.as_tensor(1.0 / counts[dataset.labels.numpy()], dtype=torch.float32)
        return DeviceBatches(
            dataset.images,
            dataset.labels,
            self.batch_size,
            device=trainer.strategy.root_device if trainer is not None else "cpu",
            train=train,
            augment=train and self.augment,
            weights=weights,
            seed=self.seed,
            rank=rank,
            world_size=world_size,
            epoch=(lambda: trainer.current_epoch) if trainer is not None else (lambda: 0),
        )

    def _loader(self, dataset: Dataset, shuffle: bool = False, **kwargs: Any) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            **kwargs,
        )
