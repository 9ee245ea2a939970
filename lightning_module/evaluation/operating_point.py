"""The operating point: how far to favour the costly class, chosen on validation photos when a model is bundled.

Why: missing a probable failure costs far more than a second look at a sound tree, so the deployed model should
rate a tree "Probable" as soon as the evidence makes that likely enough, not only when Probable is the single most
probable class. The standard way (a cost-sensitive decision rule) is an offset added to each class's logit, the
same as changing the classes' priors. On the run's validation photos (never seen in training, never the
independent test set) we take

1. the smallest bias on the costly class's logit that lifts its recall to :data:`TARGET_RECALL`, capped at
   :data:`MAX_BIAS` so that a weak model is not turned into one that calls everything Probable; then
2. offsets on the other classes' logits (the first of them stays at zero: only differences matter), each within
   ±:data:`MAX_BIAS`, that raise the balanced accuracy most while the costly class keeps that recall. Raising
   Probable alone takes its photos mostly from the neighbouring class (Possible); a small offset for that class wins
   back those it should keep. Each offset is searched on a :data:`BIAS_STEP` grid jointly with the costly class's,
   ties going to the smaller offsets.

The offsets live in the network (``TreeRiskNetwork.decision_bias``), so every consumer rates with the same rule;
the model card records them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lightning_module.data.imaging import PhotoError

COSTLY_CLASS = "Probable"
# Validation recall to reach: above the 0.95 the product promises on new data, to leave room for the difference
# between the validation photos and photos the model has never seen.
TARGET_RECALL = 0.97
MAX_BIAS = 2.0  # at most e^2 ≈ 7.4 times the costly class's odds
BIAS_STEP = 0.05


@dataclass(frozen=True)
class OperatingPoint:
    """The chosen offsets and what they did on the validation photos."""

    costly_class: str
    bias: float
    photos: int
    recall_before: float
    recall_after: float
    balanced_accuracy_before: float
    balanced_accuracy_after: float
    source: str = "validation photos of the run"
    offsets: dict[str, float] | None = None  # every class's logit offset (``bias`` is the costly class's)

    def to_json(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _recalls(logits: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    predicted = logits.argmax(1)
    return np.array([(predicted[truth == c] == c).mean() if (truth == c).any() else np.nan for c in range(k)])


def choose_bias(logits: np.ndarray, truth: np.ndarray, costly: int, target: float = TARGET_RECALL,
                cap: float = MAX_BIAS) -> float:
    """The smallest bias (in :data:`BIAS_STEP` steps, at most ``cap``) giving class ``costly`` recall ≥ ``target``."""
    offsets = np.zeros(logits.shape[1])
    for bias in np.arange(0.0, cap + 1e-9, BIAS_STEP):
        offsets[costly] = bias
        if _recalls(logits + offsets, truth, logits.shape[1])[costly] >= target:
            return round(float(bias), 4)
    return float(cap)


def choose_offsets(logits: np.ndarray, truth: np.ndarray, costly: int, target: float = TARGET_RECALL,
                   cap: float = MAX_BIAS, passes: int = 4) -> np.ndarray:
    """Per-class logit offsets: class ``costly`` reaches ``target`` recall as in :func:`choose_bias`; then the
    other classes' offsets (the first of them fixed at zero) that give the highest balanced accuracy while it keeps
    it."""
    k = logits.shape[1]
    offsets = np.zeros(k)
    offsets[costly] = choose_bias(logits, truth, costly, target, cap)
    floor = _recalls(logits + offsets, truth, k)[costly]  # the recall to keep (below target only at the cap)

    def score(candidate: np.ndarray) -> tuple[float, float] | None:
        recalls = _recalls(logits + candidate, truth, k)
        if recalls[costly] < floor:
            return None
        return float(np.nanmean(recalls)), -float(np.abs(candidate).sum())  # then the smaller offsets

    # Each other class's offset is searched jointly with the costly class's: lowering a neighbour's offset is what
    # lets the costly bias come down while its recall holds, which one coordinate at a time would never find.
    # With three classes this is the whole two-dimensional grid.
    best = score(offsets)
    costly_grid = np.arange(0.0, cap + 1e-9, BIAS_STEP)
    for _ in range(passes):
        improved = False
        for c in [c for c in range(k) if c != costly][1:]:
            for value in np.arange(-cap, cap + 1e-9, BIAS_STEP):
                for bias in costly_grid:
                    candidate = offsets.copy()
                    candidate[c], candidate[costly] = round(float(value), 4), round(float(bias), 4)
                    found = score(candidate)
                    if found is not None and found > best:  # type: ignore[operator]
                        best, offsets, improved = found, candidate, True
        if not improved:
            break
    return offsets


def calibrate_operating_point(predictor: Any, photos: Sequence[Path], labels: Sequence[str],
                              costly_class: str = COSTLY_CLASS) -> OperatingPoint | None:
    """Choose the offsets on ``photos`` (with their true ``labels``) and set them in ``predictor.network``.

    None (and nothing changed) when the model has no such class or no photo of it could be read.
    """
    classes = list(predictor.classes)
    if costly_class not in classes or predictor.network.decision_bias is None:
        return None
    kept_logits, kept_truth = [], []
    predictor.network.decision_bias.zero_()
    with torch.inference_mode():
        for path, label in zip(photos, labels):
            if label not in classes:
                continue
            try:
                tensor = predictor.input_tensor(predictor.prepare(path))
            except PhotoError:
                continue
            kept_logits.append(predictor.network(tensor)[0].float().numpy())
            kept_truth.append(classes.index(label))
    truth = np.array(kept_truth)
    costly = classes.index(costly_class)
    if not (truth == costly).any():
        return None
    logits = np.stack(kept_logits)
    offsets = choose_offsets(logits, truth, costly)
    before, after = _recalls(logits, truth, len(classes)), _recalls(logits + offsets, truth, len(classes))
    predictor.network.decision_bias.copy_(torch.as_tensor(offsets, dtype=predictor.network.decision_bias.dtype))
    return OperatingPoint(costly_class, float(offsets[costly]), len(truth), float(before[costly]), float(after[costly]),
                          float(np.nanmean(before)), float(np.nanmean(after)),
                          offsets={name: round(float(value), 4) for name, value in zip(classes, offsets)})


def labelled_validation_photos(checkpoint: Path) -> list[tuple[Path, str]]:
    """(path, true class) of the validation photos listed by the run that wrote ``checkpoint`` (those found here)."""
    import csv

    folder = Path(checkpoint).parent.parent / "predictions"
    files = sorted(folder.glob("val_epoch_*.csv"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    if not files:
        return []
    try:
        with files[-1].open(newline="") as handle:
            rows = [(row.get("path") or "", row.get("true") or "") for row in csv.DictReader(handle)]
    except (OSError, csv.Error, UnicodeDecodeError):
        return []
    return [(Path(path), label) for path, label in rows if path and Path(path).is_file()]
