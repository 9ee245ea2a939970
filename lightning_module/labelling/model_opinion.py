"""A model's opinion of the photos being rated: its most likely class, and how unsure it is of each photo.

Two uses. The Agreement page compares the model's classes with the raters' (the model as one more rater). The
Label page can offer "rate next: the photos the model is least sure of", so that labelling effort goes where it
informs the next model most. Two measures of "unsure", both in [0, 1] with higher meaning less sure:

* **entropy** of the class probabilities, divided by its largest possible value ``log k``;
* **margin**: one minus the gap between the two most likely classes.

Whether ordering by either one helps is measured, not assumed: ``bench/active_labelling.py`` and
docs/BENCHMARKS.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lightning_module.data.imaging import PhotoError
from lightning_module.evaluation.independent_set import training_data_of
from lightning_module.evaluation.predictor import Predictor
from lightning_module.models.checkpoints import CheckpointError
from lightning_module.synthetic import read_config

from .ratings import Photo

UNCERTAINTY_MEASURES = ("entropy", "margin")
BATCH_SIZE = 32


@dataclass(frozen=True)
class ModelOpinion:
    """Class probabilities (rows in ``classes`` order) per photo id, and the photos the model could not read."""

    classes: tuple[str, ...]
    probabilities: dict[int, np.ndarray]
    unreadable: tuple[str, ...] = ()

    def labels(self) -> dict[int, str]:
        """photo id → the model's most likely class."""
        return {photo: self.classes[int(np.argmax(p))] for photo, p in self.probabilities.items()}

    def uncertainty(self, measure: str = "entropy") -> dict[int, float]:
        """photo id → how unsure the model is, in [0, 1] (module docstring)."""
        return {photo: float(value) for photo, value in
                zip(self.probabilities, uncertainty(np.array(list(self.probabilities.values())), measure))}


def uncertainty(probabilities: np.ndarray, measure: str = "entropy") -> np.ndarray:
    """Per row of class probabilities, how unsure: normalised entropy, or one minus the top-two margin."""
    if measure not in UNCERTAINTY_MEASURES:
        raise ValueError(f"Unknown uncertainty measure {measure!r}; choose one of {', '.join(UNCERTAINTY_MEASURES)}.")
    p = np.asarray(probabilities, dtype=float)
    if p.size == 0:
        return np.zeros(len(p))
    if measure == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > 0, -p * np.log(p), 0.0)
        return terms.sum(axis=1) / np.log(p.shape[1]) if p.shape[1] > 1 else np.zeros(len(p))
    top = np.sort(p, axis=1)[:, ::-1]
    return 1.0 - (top[:, 0] - top[:, 1]) if p.shape[1] > 1 else np.zeros(len(p))


@torch.inference_mode()
def model_opinion(predictor: Predictor, photos: Sequence[Photo], batch_size: int = BATCH_SIZE) -> ModelOpinion:
    """Rate every photo in batches, exactly as training prepared photos; unreadable ones are listed, not fatal."""
    parameter = next(predictor.network.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    found: dict[int, np.ndarray] = {}
    unreadable: list[str] = []
    for start in range(0, len(photos), batch_size):
        tensors, ids = [], []
        for photo in photos[start:start + batch_size]:
            try:
                tensors.append(predictor.input_tensor(predictor.prepare(photo.path)))
                ids.append(photo.id)
            except PhotoError as error:
                unreadable.append(f"{photo.relative}: {error}")
        if tensors:
            logits = predictor.network(torch.cat(tensors).to(device))
            for photo_id, row in zip(ids, torch.softmax(logits.float(), dim=1).cpu().numpy()):
                found[photo_id] = row
    return ModelOpinion(tuple(predictor.classes), found, tuple(unreadable))


def seen_warning(predictor: Predictor, set_root: Path) -> str | None:
    """A warning when the photos are a synthetic set drawn with the seed the model was trained on: it may have seen
    these very scenes, which flatters its agreement with the raters. None when that is not so or cannot be told."""
    options = (read_config(set_root) or {}).get("options") or {}
    seed = options.get("seed") if isinstance(options, dict) else None
    if not isinstance(seed, int):
        return None
    try:
        training = training_data_of(predictor.checkpoint, predictor.info)
    except CheckpointError:
        return None
    if training.seed != seed:
        return None
    return (f"This model was trained on synthetic scenes drawn with seed {seed}, the seed of these photos, so it may "
            "have been trained on these very scenes: its agreement with the raters is flattered. Compare models on "
            "photos they were not trained on.")
