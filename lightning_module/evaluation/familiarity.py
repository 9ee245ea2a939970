"""Is this photo like the ones the model learned from? Cheap checks with thresholds a user can be told.

Three checks, each with a sentence for the user when it fires:

* **Low confidence** (max softmax probability, Hendrycks & Gimpel 2017). With K classes the top probability lies
  between 1/K (no idea) and 1 (certain). We rescale it to ``(p_max - 1/K) / (1 - 1/K)`` so one threshold fits any
  K, and warn below :data:`LOW_CONFIDENCE`: 0.3, i.e. a top probability under 0.53 for 3 classes, 0.65 for 2,
  0.475 for 4.
* **Unfamiliar** (energy score, Liu et al. 2020): ``E(x) = -logsumexp(logits)``. Photos like the training data get
  low (more negative) energy; photos unlike it get higher energy, often even when the softmax is confident. The
  threshold is the 95th percentile of the energies of validation photos (so about 1 familiar photo in 20 is
  flagged), taken from the model card's ``"familiarity"`` entry or computed once from the run's own validation
  photos (``predictions/val_epoch_*.csv``) when they are on this machine. Without either, this check is reported
  as not available rather than guessed.
* **Too small**: the centre square the model uses has a shorter side than the model's input, so the photo was
  enlarged and fine defects (cracks, conks) cannot be seen. A photo where the square covers under half the picture
  gets a note to centre the tree.

All three cost nothing beyond the prediction itself (the energy reuses its logits).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import logsumexp

from lightning_module.data.imaging import PhotoError, PhotoSource, PreparedPhoto

LOW_CONFIDENCE = 0.3  # rescaled top probability below this: "low confidence"
ENERGY_PERCENTILE = 95.0  # energy threshold = this percentile of familiar (validation) photos' energies
MIN_REFERENCE_PHOTOS = 20  # fewer than this and a percentile means little: no energy check
MAX_REFERENCE_PHOTOS = 200  # enough for a stable 95th percentile; keeps calibration to a second or two
SMALL_CROP_SHARE = 0.5  # the model's square covers less than this share of the photo: tell the user


@dataclass(frozen=True)
class FamiliarityReference:
    """What "familiar" means for one model: the energy threshold and where it came from."""

    energy_threshold: float
    photos: int  # how many familiar photos the threshold was computed from
    source: str  # e.g. "model card" or "validation photos of the run"

    def as_dict(self) -> dict[str, Any]:
        """The ``"familiarity"`` entry to put in a model card JSON beside a bundled checkpoint."""
        return asdict(self)


@dataclass
class Familiarity:
    """The checks for one photo; ``warnings`` are ready to show."""

    confidence: float  # top class probability
    relative_confidence: float  # rescaled to 0 (uniform) .. 1 (certain)
    energy: float
    energy_threshold: float | None  # None: no reference for this model
    low_confidence: bool
    unfamiliar: bool | None  # None: could not be checked
    too_small: bool
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # milder remarks (crop share, no reference)

    @property
    def trustworthy(self) -> bool:
        """No check fired (an unavailable energy check does not count against the photo)."""
        return not (self.low_confidence or self.unfamiliar or self.too_small)


def energy_score(logits: Iterable[float]) -> float:
    """``-logsumexp(logits)``: lower for photos like the training data."""
    return -float(logsumexp(np.asarray(list(logits), dtype=np.float64)))


def relative_confidence(probabilities: Iterable[float]) -> float:
    """The top probability rescaled so 0 means uniform over the classes and 1 means certain."""
    values = np.asarray(list(probabilities), dtype=np.float64)
    chance = 1.0 / len(values)
    return float(np.clip((values.max() - chance) / (1.0 - chance), 0.0, 1.0)) if len(values) > 1 else 1.0


def check(
    probabilities: Iterable[float],
    logits: Iterable[float],
    photo: PreparedPhoto,
    image_size: int,
    reference: FamiliarityReference | None = None,
) -> Familiarity:
    """Run the three checks on one prediction of ``photo`` by a model with ``image_size`` inputs."""
    probabilities = np.asarray(list(probabilities), dtype=np.float64)
    energy = energy_score(logits)
    relative = relative_confidence(probabilities)
    confidence = float(probabilities.max())
    low = relative < LOW_CONFIDENCE
    unfamiliar = None if reference is None else energy > reference.energy_threshold
    left, top, right, bottom = photo.crop_box
    side = min(right - left, bottom - top)
    small = side < image_size
    result = Familiarity(confidence, relative, energy, None if reference is None else reference.energy_threshold,
                         low, unfamiliar, small)
    if small:
        result.warnings.append(
            f"Too small: the part of the photo the model used is only {side}x{side} pixels, smaller than the model's "
            f"{image_size}x{image_size} input, so it was enlarged and fine defects (cracks, fungal conks) cannot be "
            "seen. Use a larger, closer photo."
        )
    if unfamiliar:
        result.warnings.append(
            f"Unlike the training photos: this photo's energy score ({energy:.2f}) is above the level that 95% of the "
            f"model's validation photos stay under ({reference.energy_threshold:.2f}). The model may be guessing; "
            "check it is a whole tree, in daylight, roughly centred."  # type: ignore[union-attr]
        )
    if low:
        result.warnings.append(
            f"Low confidence: the most likely class has only {confidence:.0%} probability, close to an even spread over "
            f"{len(probabilities)} classes. Treat the rating as undecided and look at the tree yourself."
        )
    width, height = photo.original_size
    share = side * side / max(1, width * height)
    if share < SMALL_CROP_SHARE:
        result.notes.append(
            f"The model used only the centre square of the photo ({share:.0%} of it); make sure the tree is in the middle."
        )
    if reference is None:
        result.notes.append("The unfamiliar-photo check is not available for this model (no validation photos to compare with).")
    result.notes.extend(photo.notes)
    return result


def calibrate(predictor: Any, photos: Iterable[PhotoSource], limit: int = MAX_REFERENCE_PHOTOS,
              source: str = "validation photos") -> FamiliarityReference | None:
    """The energy threshold from photos the model should find familiar (its validation photos).

    Unreadable photos are skipped; with fewer than :data:`MIN_REFERENCE_PHOTOS` readable ones, returns None.
    """
    import torch

    energies: list[float] = []
    for item in photos:
        if len(energies) >= limit:
            break
        try:
            prepared = predictor.prepare(item)
        except PhotoError:
            continue
        with torch.inference_mode():
            logits = predictor.network(predictor.input_tensor(prepared))[0].float().numpy()
        energies.append(energy_score(logits))
    if len(energies) < MIN_REFERENCE_PHOTOS:
        return None
    return FamiliarityReference(float(np.percentile(energies, ENERGY_PERCENTILE)), len(energies), source)


def reference_from_info(info: Mapping[str, Any]) -> FamiliarityReference | None:
    """The reference stored in a model card's ``"familiarity"`` entry, if it has a usable one."""
    entry = info.get("familiarity") if isinstance(info, Mapping) else None
    if not isinstance(entry, Mapping):
        return None
    try:
        threshold = float(entry["energy_threshold"])
    except (KeyError, TypeError, ValueError):
        return None
    if not np.isfinite(threshold):
        return None
    return FamiliarityReference(threshold, int(entry.get("photos", 0) or 0), str(entry.get("source", "model card")))


def validation_photos(checkpoint: Path) -> list[Path]:
    """Paths of the validation photos listed by the run that wrote ``checkpoint`` (those that exist here)."""
    folder = Path(checkpoint).parent.parent / "predictions"
    files = sorted(folder.glob("val_epoch_*.csv"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    if not files:
        return []
    try:
        with files[-1].open(newline="") as handle:
            names = [row.get("path", "") for row in csv.DictReader(handle)]
    except (OSError, csv.Error, UnicodeDecodeError):
        return []
    return [Path(name) for name in names if name and Path(name).is_file()]


def reference_for(predictor: Any) -> FamiliarityReference | None:
    """The model card's reference, else one computed from the run's validation photos, else None."""
    stored = reference_from_info(predictor.info)
    if stored is not None:
        return stored
    photos = validation_photos(predictor.checkpoint)
    return calibrate(predictor, photos, source="validation photos of the run") if photos else None


def main(argv: list[str] | None = None) -> int:
    """``python -m lightning_module.evaluation.familiarity CHECKPOINT PHOTO_FOLDER``: print the model card entry.

    PHOTO_FOLDER should hold photos the model did not train on but that are like its training data (its
    validation or test split). The printed JSON goes under ``"familiarity"`` in the checkpoint's model card.
    """
    import argparse
    import json
    import random

    from lightning_module.data.imaging import SUPPORTED_SUFFIXES
    from lightning_module.evaluation.predictor import load_predictor

    parser = argparse.ArgumentParser(prog="python -m lightning_module.evaluation.familiarity", description=main.__doc__)
    parser.add_argument("checkpoint")
    parser.add_argument("photos", help="folder of familiar photos (searched recursively)")
    parser.add_argument("--limit", type=int, default=MAX_REFERENCE_PHOTOS)
    args = parser.parse_args(argv)
    files = sorted(p for p in Path(args.photos).rglob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES)
    random.Random(0).shuffle(files)  # class folders are sorted: take the limit from all of them, reproducibly
    reference = calibrate(load_predictor(args.checkpoint), files, args.limit, source=f"{Path(args.photos).name} photos")
    if reference is None:
        print(f"fewer than {MIN_REFERENCE_PHOTOS} readable photos in {args.photos}", flush=True)
        return 1
    print(json.dumps({"familiarity": reference.as_dict()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
