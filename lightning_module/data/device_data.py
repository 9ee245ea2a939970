"""Batches served from the training device: the uint8 photos live on the GPU, augmentation runs there too.

A 108 px grayscale set of thousands of photos is a few MB, so after it is copied once there is nothing left
for the CPU to do per step: indices, the random crop/flip/jitter parameters and the images are all drawn
and transformed on the device, batch-wide, with no host synchronisation. This keeps a fast GPU fed from a
two-core machine, where the per-sample torchvision path (``data.on_device false``, the default) cannot.

The augmentation mirrors ``training_augmentation``: a random resized crop (area 75-100 %, aspect 0.9-1.1),
a horizontal flip, and brightness/contrast jitter of +-15 %, each with its own parameters per photo.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class AugmentationRanges:
    """The ranges of the per-photo random parameters (the CPU path's values by default)."""

    scale: tuple[float, float] = (0.75, 1.0)  # share of the photo's area kept by the crop
    ratio: tuple[float, float] = (0.9, 1.1)  # crop width / height
    flip: float = 0.5  # probability of a horizontal flip
    brightness: float = 0.15  # factor drawn from [1 - b, 1 + b]
    contrast: float = 0.15  # factor drawn from [1 - c, 1 + c]


def augment_batch(
    images: torch.Tensor, generator: torch.Generator | None = None, ranges: AugmentationRanges = AugmentationRanges()
) -> torch.Tensor:
    """Randomly crop, flip and jitter every photo of ``images`` (uint8 or [0, 1] float, N x C x H x W).

    Returns float images in [0, 1] of the same size, on the same device. Each photo gets its own crop box,
    flip and jitter factors, drawn from ``generator`` (which must live on the images' device).
    """
    n = images.shape[0]
    device = images.device
    x = images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()
    if n == 0:
        return x

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, device=device, generator=generator) * (high - low) + low

    area = uniform(*ranges.scale)
    log_ratio = uniform(math.log(ranges.ratio[0]), math.log(ranges.ratio[1]))
    aspect = torch.exp(log_ratio)
    # Crop width and height as fractions of the side (the photos are square), at most the whole photo.
    width = torch.sqrt(area * aspect).clamp(max=1.0)
    height = torch.sqrt(area / aspect).clamp(max=1.0)
    # Crop centre in grid coordinates [-1, 1], anywhere the box fits inside the photo.
    centre_x = (torch.rand(n, device=device, generator=generator) * 2 - 1) * (1 - width)
    centre_y = (torch.rand(n, device=device, generator=generator) * 2 - 1) * (1 - height)
    flip = torch.where(torch.rand(n, device=device, generator=generator) < ranges.flip, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0] = width * flip
    theta[:, 0, 2] = centre_x
    theta[:, 1, 1] = height
    theta[:, 1, 2] = centre_y
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    brightness = uniform(1 - ranges.brightness, 1 + ranges.brightness).view(n, 1, 1, 1)
    x = (x * brightness).clamp_(0.0, 1.0)
    contrast = uniform(1 - ranges.contrast, 1 + ranges.contrast).view(n, 1, 1, 1)
    gray = x.mean(dim=1, keepdim=True) if x.shape[1] == 1 else _luma(x)
    mean = gray.mean(dim=(2, 3), keepdim=True)
    return (contrast * x + (1 - contrast) * mean).clamp_(0.0, 1.0)


def _luma(x: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


class DeviceBatches:
    """An iterable of ``(images, labels, dataset indices)`` batches drawn from tensors held on ``device``.

    Args:
        images: uint8 photos, N x C x H x W (on the CPU; copied to ``device`` on first use, once).
        labels: class index per photo.
        batch_size: photos per batch (per process).
        device: where the photos are kept and the batches are made.
        train: shuffle (or sample by ``weights``) and pad so every process gets the same number of batches;
            otherwise keep the order and give each process its own share, without repeats.
        augment: apply :func:`augment_batch` (training only).
        weights: per-photo sampling weights (``data.balance sampler``); drawn with replacement.
        seed: seeds the order and the augmentation; combined with the epoch and the process rank.
        rank, world_size: this process's place among the DDP processes.
        epoch: returns the current epoch, so a resumed run draws what the uninterrupted one would have.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        device: torch.device | str,
        train: bool,
        augment: bool = False,
        weights: torch.Tensor | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        epoch: Callable[[], int] = lambda: 0,
        ranges: AugmentationRanges = AugmentationRanges(),
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.source_images, self.source_labels = images, labels
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.train, self.augment = train, augment
        self.weights = weights
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = epoch
        self.ranges = ranges
        self._on_device: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None = None

    @property
    def num_photos(self) -> int:
        """Photos this process sees per epoch."""
        total = len(self.source_labels)
        if self.train:
            return math.ceil(total / self.world_size)
        return len(range(self.rank, total, self.world_size))

    def __len__(self) -> int:
        return math.ceil(self.num_photos / self.batch_size)

    def _tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if self._on_device is None:
            weights = self.weights.to(self.device, torch.float32) if self.weights is not None else None
            self._on_device = (
                self.source_images.to(self.device).contiguous(),
                self.source_labels.to(self.device),
                weights,
            )
        return self._on_device

    def _order(self, generator: torch.Generator | None) -> torch.Tensor:
        images, _, weights = self._tensors()
        total = len(images)
        if not self.train:
            return torch.arange(self.rank, total, self.world_size, device=self.device)
        if weights is not None:
            order = torch.multinomial(weights, total, replacement=True, generator=generator)
        else:
            order = torch.randperm(total, device=self.device, generator=generator)
        padded = math.ceil(total / self.world_size) * self.world_size
        if padded > total:  # like DistributedSampler: repeat a few so every process runs the same steps
            order = torch.cat([order, order[: padded - total]])
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[Batch]:
        images, labels, _ = self._tensors()
        generator = None
        if self.train:
            # Every process draws the same order from the same seed and takes its own slice of it.
            generator = torch.Generator(device=self.device)
            generator.manual_seed(self.seed * 100_003 + self.epoch())
        order = self._order(generator)
        augmenter = None
        if self.train and self.augment:
            augmenter = torch.Generator(device=self.device)
            augmenter.manual_seed(self.seed * 100_003 + self.epoch() + 7_919 * (self.rank + 1))
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            batch = images.index_select(0, index)
            if augmenter is not None:
                batch = augment_batch(batch, augmenter, self.ranges)
            yield batch, labels.index_select(0, index), index
