"""How long a grid will take: a timed training step per cell shape, then corrected by the folds as they finish.

Before anything has run, each cell's fold time is predicted from a few training steps of its network on random
images of its size (the same machine, the same threads), scaled by the photos it trains and validates on and
by ``DATA_FACTOR`` (augmentation, loading, validation metrics and checkpoints cost about that much beyond the
bare steps on a small CPU; measured on the development machine). Once folds finish, the predictions are
rescaled by how far off they were so far, so the time left converges on the truth.

For planning cluster time, :func:`makespan` says how long a set of folds takes on N slots (GPUs, nodes) that each
take the next fold as soon as they are free, the way a Ray cluster or a Slurm queue drains a grid.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

from lightning_module.data.categories import SCENARIOS
from lightning_module.grid.spec import Cell, GridSpec

# Seconds a fold costs besides its epochs: starting the fit (and, for a subprocess, Python, torch, Lightning).
FOLD_OVERHEAD_SECONDS = {"in_process": 2.0, "subprocess": 10.0}
DATA_FACTOR = 1.6


@dataclass(frozen=True)
class StepTime:
    """Seconds per image: one training step (forward, backward, Adam) and one evaluation forward pass."""

    train: float
    evaluate: float


def time_step(cell: Cell, batch_size: int, repeats: int = 2) -> StepTime:
    """Time ``repeats`` training steps and evaluation passes of ``cell``'s network on random images."""
    import torch

    from lightning_module.models.networks import build_network

    classes = len(SCENARIOS[cell.scenario])
    network = build_network(cell.backbone, classes, cell.color_mode, cell.image_size, pretrained=False)
    channels = 1 if cell.color_mode == "grayscale" else 3
    batch = max(2, min(batch_size, 64))
    images = torch.randint(0, 256, (batch, channels, cell.image_size, cell.image_size), dtype=torch.uint8)
    labels = torch.randint(0, classes, (batch,))
    optimiser = torch.optim.Adam(network.parameters(), lr=1e-3)

    def train_step() -> None:
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(network(images), labels).backward()
        optimiser.step()

    network.train()
    train_step()  # warm-up: first calls allocate and pick kernels
    start = time.perf_counter()
    for _ in range(repeats):
        train_step()
    train = (time.perf_counter() - start) / (repeats * batch)
    network.eval()
    with torch.no_grad():
        network(images)
        start = time.perf_counter()
        for _ in range(repeats):
            network(images)
    evaluate = (time.perf_counter() - start) / (repeats * batch)
    return StepTime(train, evaluate)


def predict_fold_seconds(spec: GridSpec, cell: Cell, photos: int, step: StepTime) -> float:
    """Predicted seconds of one fold of ``cell`` trained on ``photos`` photos in all (k-1 folds train, 1 validates)."""
    train = photos * (spec.folds - 1) / spec.folds
    validate = photos / spec.folds
    per_epoch = (train * step.train + validate * step.evaluate) * DATA_FACTOR
    return FOLD_OVERHEAD_SECONDS[spec.isolation] + spec.epochs * per_epoch


def predict_cells(spec: GridSpec, photos_per_scenario: dict[str, int]) -> dict[str, float]:
    """Predicted seconds per fold for every cell, timing each distinct network shape once."""
    import torch

    steps: dict[tuple, StepTime] = {}
    predicted = {}
    previous_threads = torch.get_num_threads()
    if spec.threads is not None:
        torch.set_num_threads(spec.threads)  # time it as it will run
    try:
        for cell in spec.cells:
            shape = (cell.backbone, cell.color_mode, cell.image_size, len(SCENARIOS[cell.scenario]))
            if shape not in steps:
                steps[shape] = time_step(cell, spec.batch_size)
            photos = photos_per_scenario.get(cell.scenario) or spec.synthetic_size
            predicted[cell.id] = predict_fold_seconds(spec, cell, photos, steps[shape])
    finally:
        torch.set_num_threads(previous_threads)
    return predicted


class TimeLeft:
    """Predicted fold times, rescaled by the ratio of actual to predicted time over the folds observed so far."""

    def __init__(self, predicted: dict[str, float]) -> None:
        self.predicted = dict(predicted)
        self._actual = 0.0
        self._expected = 0.0

    def observe(self, cell_id: str, seconds: float) -> None:
        if cell_id in self.predicted and seconds > 0:
            self._actual += seconds
            self._expected += self.predicted[cell_id]

    @property
    def correction(self) -> float:
        return self._actual / self._expected if self._expected > 0 else 1.0

    def seconds(self, cell_ids: Iterable[str]) -> float:
        """Seconds left for one fold of each of ``cell_ids`` (a cell repeated once per remaining fold)."""
        return self.correction * sum(self.predicted.get(c, 0.0) for c in cell_ids)


def makespan(fold_seconds: Iterable[float], slots: int) -> float:
    """Seconds until the last of the folds ends, when ``slots`` workers each take the next fold (longest first)
    as soon as they are free. With one slot it is the sum; with as many slots as folds, the longest fold."""
    finish = [0.0] * max(1, slots)
    for seconds in sorted(fold_seconds, reverse=True):
        heapq.heappush(finish, heapq.heappop(finish) + seconds)
    return max(finish)


def duration_text(seconds: float | None) -> str:
    """``1 h 05 min``, ``12 min``, ``40 s``; ``unknown`` for None."""
    if seconds is None or math.isnan(seconds):
        return "unknown"
    seconds = max(0, int(round(seconds)))
    if seconds < 90:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
