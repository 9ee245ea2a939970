"""Shared bits of the benchmarks: a data set to run on, timing helpers, and the one way they summarise times.

Medians and percentiles come from numpy (linear interpolation between the two nearest values), so every
benchmark's p50/p90/p95 means the same thing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

BENCH_DIR = Path(__file__).resolve().parent / "out"


def phone_photo(path: Path, seed: int, size: tuple[int, int] = (4032, 3024)) -> Path:
    """A phone-sized JPEG: the synthetic generator's scene when available, else a smooth textured image."""
    try:
        from lightning_module.synthetic import render_photo  # type: ignore[attr-defined]

        image = render_photo(seed=seed, width=size[0], height=size[1])
    except ImportError:
        rng = np.random.default_rng(seed)
        base = rng.integers(0, 255, (size[1] // 64, size[0] // 64, 3), dtype=np.uint8)
        image = Image.fromarray(base).resize(size, Image.Resampling.BICUBIC)
        noise = rng.normal(0, 6, (size[1], size[0], 3))
        image = Image.fromarray(np.clip(np.asarray(image) + noise, 0, 255).astype(np.uint8))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=90)
    return path


def timed(function: Callable[[], object], repeat: int = 1) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    return float(np.median(values))


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile of ``values``, ``q`` in percent (``percentile(times, 95)`` is p95)."""
    return float(np.percentile(values, q))
