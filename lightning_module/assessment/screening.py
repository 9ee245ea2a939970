"""Screen many photos into table rows: one row per file, a result or the reason there is none.

A batch comes from :func:`lightning_module.assessment.archives.batch_items` (loose uploads and the photos inside zip
archives). Each photo is assessed without its heatmap (:func:`~.photo_assessment.assess_photo`, one forward pass);
a file that cannot be read, or is refused on the way in, becomes a row that says why, so one bad file never stops
the batch. The rows keep class probabilities, not ratings: :func:`apply_rating` rates them for the target and
consequences the user picks, and can do so again when the user changes them, without screening anew.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lightning_module.assessment import risk
from lightning_module.assessment.archives import BatchItem
from lightning_module.assessment.photo_assessment import assess_photo
from lightning_module.assessment.pictures import image_uri
from lightning_module.data.imaging import PhotoError
from lightning_module.evaluation.familiarity import Familiarity, FamiliarityReference

THUMBNAIL_SIDE = 96  # the photo in a table row; screening decodes no larger copy, as it shows none
UNFAMILIAR_LABEL = "unfamiliar photo: rating not to be trusted"  # first among a row's labels: it voids the rating


@dataclass
class ScreeningRow:
    """One line of the batch table: a result, or the reason there is none."""

    index: int
    name: str
    ok: bool
    reason: str = ""
    predicted_class: str = ""
    confidence: float = float("nan")
    probabilities: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # short labels: UNFAMILIAR_LABEL, "too small", "low confidence"
    warning_text: list[str] = field(default_factory=list)  # the full sentences
    unfamiliar: bool | None = None  # not like the model's training photos: do not trust the rating; None: not checked
    latitude: float | None = None
    longitude: float | None = None
    thumbnail: str = ""  # data: URI of a small JPEG, "" for failed rows
    rating: str = ""  # filled by apply_rating
    rating_probabilities: dict[str, float] = field(default_factory=dict)


def _warning_labels(familiarity: Familiarity) -> list[str]:
    labels = []
    if familiarity.unfamiliar:
        labels.append(UNFAMILIAR_LABEL)
    if familiarity.too_small:
        labels.append("too small")
    if familiarity.low_confidence:
        labels.append("low confidence")
    return labels


def screen(
    predictor: Any,
    items: Sequence[BatchItem],
    reference: FamiliarityReference | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[ScreeningRow]:
    """One row per item. ``progress(done, total, name)`` is called after each. Bad files become error rows."""
    rows: list[ScreeningRow] = []
    total = len(items)
    for index, item in enumerate(items):
        rows.append(_screen_one(predictor, index, item, reference))
        if progress is not None:
            progress(index + 1, total, item.name)
    return rows


def _screen_one(predictor: Any, index: int, item: BatchItem, reference: FamiliarityReference | None) -> ScreeningRow:
    if item.read is None:
        return ScreeningRow(index, item.name, ok=False, reason=item.error or "not readable")
    try:
        result = assess_photo(predictor, item.read(), item.name, reference, with_heatmap=False,
                              display_side=THUMBNAIL_SIDE)
    except PhotoError as error:
        return ScreeningRow(index, item.name, ok=False, reason=str(error))
    except MemoryError:
        return ScreeningRow(index, item.name, ok=False, reason="too large to decode in the memory available")
    lat, lon = result.gps if result.gps else (None, None)
    return ScreeningRow(
        index=index,
        name=item.name,
        ok=True,
        predicted_class=result.predicted_class,
        confidence=float(result.probabilities.max()),
        probabilities={c: float(p) for c, p in zip(result.classes, result.probabilities)},
        warnings=_warning_labels(result.familiarity),
        warning_text=list(result.familiarity.warnings),
        unfamiliar=result.familiarity.unfamiliar,
        latitude=lat,
        longitude=lon,
        thumbnail=image_uri(result.shown, THUMBNAIL_SIDE, quality=80),
    )


def apply_rating(rows: Sequence[ScreeningRow], likelihood_of_impact: str, consequences: str) -> str | None:
    """Fill each good row's ISA rating for the chosen target and consequences.

    Returns None, or the reason no rating is possible (the model's classes are not ISA categories); the rows then
    read "n/a".
    """
    good = [row for row in rows if row.ok]
    try:
        if good:
            risk.failure_categories(list(good[0].probabilities))
    except risk.RatingUnavailable as error:
        for row in good:
            row.rating, row.rating_probabilities = "n/a", {}
        return str(error)
    for row in good:
        rated = risk.assess(list(row.probabilities), list(row.probabilities.values()), likelihood_of_impact, consequences)
        row.rating, row.rating_probabilities = rated.rating, rated.rating_probabilities
    return None
