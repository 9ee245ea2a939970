"""Assess one photo: decode, predict, explain (the default method's heatmap), check familiarity and read its GPS.

:func:`assess_photo` is what the Assess page shows for one tree and what batch screening does for each photo
(without the heatmap, which costs a backward pass). It raises :class:`~lightning_module.data.imaging.PhotoError`
with a reason a user can read for a file that is not a usable photo, and nothing else for a bad file.

The ISA rating is not stored: it depends on the target and consequences the user picks, which may change after the
photo was assessed, so :meth:`PhotoAssessment.rating` computes it on demand from the stored probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from lightning_module.assessment import risk
from lightning_module.assessment.archives import display_name
from lightning_module.data.imaging import UPLOAD_MAX_PIXELS, PreparedPhoto
from lightning_module.data.photo_gps import gps_position
from lightning_module.evaluation.explain import Explanation, explain
from lightning_module.evaluation.familiarity import Familiarity, FamiliarityReference, check, read_photo

# The dashboard's torch threads per process (dashboard/app.py sets it): one photo at a time per session answers
# fastest when sessions, or a training process started from the Train page, share the CPU (two threads waiting on
# each other cost 10x on a loaded 2-core machine). The display copy's resize runs meanwhile on another core.
DASHBOARD_TORCH_THREADS = 1
DISPLAY_SIDE = 720  # the upright photo shown beside the heatmap: a 1/4-scale JPEG decode at phone sizes


@dataclass
class PhotoAssessment:
    """Everything the dashboard shows for one photo (the risk rating is computed from it on demand)."""

    name: str
    photo: PreparedPhoto  # the model input and how it was cut from the original
    shown: Image.Image  # the upright photo, small enough to show
    classes: list[str]
    probabilities: np.ndarray
    predicted_class: str
    familiarity: Familiarity
    explanation: Explanation | None  # None when screening without heatmaps
    gps: tuple[float, float] | None  # (latitude, longitude) from EXIF

    def rating(self, likelihood_of_impact: str, consequences: str) -> risk.RiskAssessment:
        """The ISA rating for the chosen target and consequences (raises ``risk.RatingUnavailable``)."""
        return risk.assess(self.classes, self.probabilities, likelihood_of_impact, consequences)


def assess_photo(
    predictor: Any,
    data: bytes,
    name: str = "photo",
    reference: FamiliarityReference | None = None,
    with_heatmap: bool = True,
    display_side: int = DISPLAY_SIDE,
) -> PhotoAssessment:
    """Decode, predict, explain and check one photo. Raises ``PhotoError`` with the reason for a bad file.

    An uploaded photo over the upload pixel budget (``imaging.UPLOAD_MAX_PIXELS``) is refused from its header,
    before anything is decoded, so that one person's huge or forged files cannot starve the dashboard's others.
    The photo is decoded once, for the model's input and the display copy alike.
    """
    # The display copy is still being made, on the other core, while the model runs (imaging.load_views_overlapped).
    photo, display_copy = predictor.prepare_views_overlapped(data, display_side, UPLOAD_MAX_PIXELS)
    # One plain forward pass gives the logits and the features the unfamiliar-photo check reads; the explanation
    # takes the logits from it rather than running its own.
    reading = read_photo(predictor, photo)
    if with_heatmap:
        explanation = explain(predictor, photo, logits=reading.logits)
        probabilities = explanation.probabilities
    else:
        explanation = None
        probabilities = torch.softmax(torch.from_numpy(reading.logits), 0).numpy()
    top = int(np.argmax(probabilities))
    return PhotoAssessment(
        name=display_name(name),
        photo=photo,
        shown=display_copy.result(),
        classes=list(predictor.classes),
        probabilities=np.asarray(probabilities, dtype=np.float64),
        predicted_class=predictor.classes[top],
        familiarity=check(probabilities, photo, predictor.image_size, reference, reading),
        explanation=explanation,
        gps=gps_position(data),
    )
