"""Shared fixtures: tiny photo sets made on the fly, CPU only, deterministic."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # the suite is a CPU suite, even where a GPU exists
os.environ.setdefault("PYTHONHASHSEED", "0")

CLASSES = ("Improbable", "Possible", "Probable")


def make_photo(path: Path, class_index: int, seed: int, size: tuple[int, int] = (64, 48)) -> Path:
    """A small 4:3 JPEG whose content depends on its class: a brighter, larger blob for riskier classes."""
    rng = np.random.default_rng(seed)
    width, height = size
    pixels = rng.normal(90, 12, (height, width, 3))
    yy, xx = np.mgrid[:height, :width]
    radius = (0.12 + 0.12 * class_index) * min(width, height)
    blob = (xx - width / 2) ** 2 + (yy - height / 2) ** 2 < radius**2
    pixels[blob] += 60 + 40 * class_index
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=92)
    return path


def make_photo_folder(root: Path, per_class: tuple[int, ...] = (18, 8, 8), photos_per_group: int = 1) -> Path:
    for class_index, (name, count) in enumerate(zip(CLASSES, per_class)):
        for i in range(count):
            group = i // photos_per_group
            make_photo(root / name / f"tree{group:03d}_{name}_crop{i % photos_per_group}.jpg", class_index, seed=class_index * 1000 + i)
    return root


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """34 photos in three ISA class folders, imbalanced like the lab's data."""
    return make_photo_folder(tmp_path_factory.mktemp("photos"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TREERISK_CACHE", str(tmp_path / "cache"))


@pytest.fixture(autouse=True)
def _restore_main_module():
    """AppTest runs page scripts as ``__main__``; spawned worker processes re-import ``__main__``, so put it back."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main
