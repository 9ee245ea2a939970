"""Is this photo like the ones the model learned from? Checks with thresholds a user can be told.

Three checks, each with a sentence for the user when it fires:

* **Unfamiliar photo**: the photo does not look like the tree photos the model learned from (a cat, a cup of
  coffee, a page of text, a room), so its rating means nothing. Mahalanobis distance in the network's own features
  (Lee et al., NeurIPS 2018), in :mod:`.unfamiliar`; the threshold flags about 3 familiar photos in 100. The
  statistics and threshold come from the checkpoint (``bundle`` stores them) or are computed once from
  the run's own validation photos (``predictions/val_epoch_*.csv``) when they are on this machine. Without either,
  this check is reported as not available rather than guessed.
* **Low confidence** (max softmax probability, Hendrycks & Gimpel 2017). With K classes the top probability lies
  between 1/K (no idea) and 1 (certain). We rescale it to ``(p_max - 1/K) / (1 - 1/K)`` so one threshold fits any
  K, and warn below :data:`LOW_CONFIDENCE`: 0.3, i.e. a top probability under 0.53 for 3 classes, 0.65 for 2,
  0.475 for 4.
* **Too small**: the centre square the model uses has a shorter side than the model's input, so the photo was
  enlarged and fine defects (cracks, conks) cannot be seen. A photo where the square covers under half the picture
  gets a note to centre the tree.

The energy score (Liu et al. 2020) was the unfamiliar-photo check before: it flagged about 1 in 10 photos that are
not trees with the old seed_cnn and none with the bundled models, and beside the Mahalanobis check it doubled the
false alarms on trees for a few more catches (docs/BENCHMARKS.md). No warning uses it now.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lightning_module.data.imaging import PhotoError, PhotoSource, PreparedPhoto
from lightning_module.evaluation.operating_point import labelled_validation_photos
from lightning_module.evaluation.unfamiliar import (
    FamiliarityReference,
    PhotoReading,
    energy_score,
    fit_reference,
    read_photo,
    read_photos,
)
from lightning_module.files import atomic_write_json, read_json
from lightning_module.models.checkpoints import CheckpointError, read_checkpoint_content

__all__ = [
    "CHECKPOINT_KEY", "Familiarity", "FamiliarityReference", "PhotoReading", "calibrate", "check", "energy_score",
    "read_photo", "reference_for", "relative_confidence", "store_reference", "stored_reference", "validation_photos",
]

LOW_CONFIDENCE = 0.3  # rescaled top probability below this: "low confidence"
MIN_REFERENCE_PHOTOS = 20  # fewer than this and a 95th percentile means little: no unfamiliar-photo check
MAX_REFERENCE_PHOTOS = 400  # enough for stable statistics of 1280 features; keeps calibration under half a minute
SMALL_CROP_SHARE = 0.5  # the model's square covers less than this share of the photo: tell the user
CHECKPOINT_KEY = "familiarity"  # where a checkpoint (and the model card beside it) keeps the calibration

UNFAMILIAR_WARNING = (
    "This photo does not look like the tree photos the model learned from, so do not trust its rating. "
    "It may not be a tree at all, or be a kind of photo the model never saw. Check that it is one whole tree, "
    "outdoors, in daylight, roughly centred."
)


@dataclass
class Familiarity:
    """The checks for one photo; ``warnings`` are ready to show."""

    confidence: float  # top class probability
    relative_confidence: float  # rescaled to 0 (uniform) .. 1 (certain)
    unfamiliarity: float | None  # the photo's distance from familiar photos; None: could not be checked
    unfamiliarity_threshold: float | None  # above this the photo is unfamiliar; None: no reference for this model
    low_confidence: bool
    unfamiliar: bool | None  # None: could not be checked
    too_small: bool
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # milder remarks (crop share, no reference)

    @property
    def trustworthy(self) -> bool:
        """No check fired (an unavailable unfamiliar-photo check does not count against the photo)."""
        return not (self.low_confidence or self.unfamiliar or self.too_small)


def relative_confidence(probabilities: Iterable[float]) -> float:
    """The top probability rescaled so 0 means uniform over the classes and 1 means certain."""
    values = np.asarray(list(probabilities), dtype=np.float64)
    chance = 1.0 / len(values)
    return float(np.clip((values.max() - chance) / (1.0 - chance), 0.0, 1.0)) if len(values) > 1 else 1.0


def check(
    probabilities: Iterable[float],
    photo: PreparedPhoto,
    image_size: int,
    reference: FamiliarityReference | None = None,
    reading: PhotoReading | None = None,
) -> Familiarity:
    """Run the three checks on one prediction of ``photo`` by a model with ``image_size`` inputs.

    The unfamiliar-photo check needs both the model's ``reference`` and the photo's ``reading``
    (:func:`read_photo`); without either it is reported as not available.
    """
    probabilities = np.asarray(list(probabilities), dtype=np.float64)
    relative = relative_confidence(probabilities)
    confidence = float(probabilities.max())
    low = relative < LOW_CONFIDENCE
    score = reference.score(reading) if reference is not None and reading is not None and reading.complete else None
    unfamiliar = None if score is None else bool(score > reference.threshold)  # type: ignore[union-attr]
    left, top, right, bottom = photo.crop_box
    side = min(right - left, bottom - top)
    small = side < image_size
    result = Familiarity(confidence, relative, score, None if reference is None else reference.threshold,
                         low, unfamiliar, small)
    if unfamiliar:
        result.warnings.append(UNFAMILIAR_WARNING)
    if small:
        result.warnings.append(
            f"Too small: the part of the photo the model used is only {side}x{side} pixels, smaller than the model's "
            f"{image_size}x{image_size} input, so it was enlarged and fine defects (cracks, fungal conks) cannot be "
            "seen. Use a larger, closer photo."
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
    if unfamiliar is None:
        result.notes.append("The unfamiliar-photo check is not available for this model (no validation photos to compare with).")
    result.notes.extend(photo.notes)
    return result


def calibrate(predictor: Any, photos: Iterable[PhotoSource], limit: int = MAX_REFERENCE_PHOTOS,
              source: str = "validation photos") -> FamiliarityReference | None:
    """The unfamiliar-photo statistics and threshold from photos the model should find familiar (its validation photos).

    Up to ``limit`` photos are used, drawn in a fixed random order so that a listing sorted by class gives every
    class its share. Unreadable photos are skipped; with fewer than :data:`MIN_REFERENCE_PHOTOS` readable ones,
    returns None. The same photos give the same reference, bit for bit.
    """
    candidates = list(photos)
    random.Random(0).shuffle(candidates)
    prepared: list[PreparedPhoto] = []
    for item in candidates:
        if len(prepared) >= limit:
            break
        try:
            prepared.append(predictor.prepare(item))
        except PhotoError:
            continue
    if len(prepared) < MIN_REFERENCE_PHOTOS:
        return None
    readings = read_photos(predictor, prepared)
    return fit_reference(readings, source) if all(r.complete for r in readings) else None


def stored_reference(predictor: Any) -> FamiliarityReference | None:
    """The reference the predictor's checkpoint carries (``bundle`` stores one), or None."""
    try:
        entry = read_checkpoint_content(predictor.checkpoint).get(CHECKPOINT_KEY)
    except CheckpointError:
        return None
    return FamiliarityReference.from_checkpoint_entry(entry)


def validation_photos(checkpoint: Path) -> list[Path]:
    """Paths of the validation photos listed by the run that wrote ``checkpoint`` (those that exist here)."""
    return [path for path, _ in labelled_validation_photos(checkpoint)]


def reference_for(predictor: Any) -> FamiliarityReference | None:
    """The checkpoint's reference, else one computed from the run's validation photos, else None."""
    stored = stored_reference(predictor)
    if stored is not None:
        return stored
    photos = validation_photos(predictor.checkpoint)
    return calibrate(predictor, photos, source="validation photos of the run") if photos else None


def store_reference(checkpoint: Path | str, reference: FamiliarityReference) -> None:
    """Put ``reference`` into ``checkpoint`` (and its summary into the model card beside it, when there is one).

    For bundled checkpoints: a run's own checkpoints have one writer, the run.
    """
    checkpoint = Path(checkpoint)
    content = read_checkpoint_content(checkpoint)
    content[CHECKPOINT_KEY] = reference.to_checkpoint_entry()
    tmp = checkpoint.with_name(f".{checkpoint.name}.tmp")
    torch.save(content, tmp)
    tmp.replace(checkpoint)
    card_path = checkpoint.with_suffix(".json")
    card = read_json(card_path)
    if card is not None:
        card[CHECKPOINT_KEY] = reference.summary()
        atomic_write_json(card_path, card)


def main(argv: list[str] | None = None) -> int:
    """``python -m lightning_module.evaluation.familiarity CHECKPOINT PHOTO_FOLDER [--write]``: calibrate a checkpoint.

    PHOTO_FOLDER should hold photos the model did not train on but that are like its training data (its
    validation split). Prints the model card entry; with ``--write`` also stores the statistics in the checkpoint
    and the entry in the model card beside it (for bundled checkpoints, whose validation photos ``bundle`` could not
    see).
    """
    import argparse
    import json

    from lightning_module.data.imaging import SUPPORTED_SUFFIXES
    from lightning_module.evaluation.predictor import load_predictor

    parser = argparse.ArgumentParser(prog="python -m lightning_module.evaluation.familiarity", description=main.__doc__)
    parser.add_argument("checkpoint")
    parser.add_argument("photos", help="folder of familiar photos (searched recursively), or a text file of paths")
    parser.add_argument("--limit", type=int, default=MAX_REFERENCE_PHOTOS)
    parser.add_argument("--source", default=None, help="how the card describes the photos (default: the folder's name)")
    parser.add_argument("--write", action="store_true", help="store the calibration in the checkpoint and its card")
    args = parser.parse_args(argv)
    listing = Path(args.photos)
    if listing.is_file():
        files = [Path(line.strip()) for line in listing.read_text().splitlines() if line.strip()]
    else:
        files = sorted(p for p in listing.rglob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES)
    reference = calibrate(load_predictor(args.checkpoint), files, args.limit,
                          source=args.source or f"{listing.stem} photos")
    if reference is None:
        print(f"fewer than {MIN_REFERENCE_PHOTOS} readable photos in {args.photos}", flush=True)
        return 1
    if args.write:
        store_reference(args.checkpoint, reference)
    print(json.dumps({CHECKPOINT_KEY: reference.summary()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
