"""Simulated raters: arborists who label synthetic scenes the way people do, wrong now and then, wrong most at edges.

A synthetic scene's class is exact (its noisy-OR risk score cut at :data:`.scoring.CLASS_THRESHOLDS`), but two
real arborists looking at the same photo agree less than that. To show the labelling and agreement pages working
on a fresh machine, each simulated rater labels a scene by one documented noise model:

1. Start from the clean label (the manifest's ``label_clean``, the class the score gives).
2. Move it to a neighbouring class with chance ``move + edge_move * closeness``. ``closeness`` is 1 for a tree
   whose risk score sits on a class threshold and falls linearly to 0 at :data:`EDGE_WIDTH` from the nearest one,
   so a rater errs most on the trees that are truly borderline, as people do. A tree near an edge moves across
   that edge; any other moves to a random neighbour (:func:`.scoring.neighbour_label`).
3. Independently, with chance ``cannot_tell``, the rater gives no class at all ("cannot tell").
4. The confidence (1 unsure, 2 fairly sure, 3 sure) falls as the tree nears an edge; the defects named are those
   drawn at a severity of at least ``defect_threshold`` (a less experienced eye misses slight ones).

Every draw is seeded by the rater and the photo's path, so the same rater gives the same label to the same photo
in every process and on every machine. These are **simulated** opinions: nothing here is a person's judgement,
and every page and export that shows them says so.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from .defects import DEFECTS
from .scoring import CLASS_THRESHOLDS, class_names, neighbour_label

# Within this distance (on the 0..1 risk score) of a class threshold a tree counts as borderline. The generator
# draws scores at least 0.05 from every threshold and most within 0.15 of one, so this spreads the extra errors
# over the Possible trees and the edges of their neighbours instead of piling them on a handful.
EDGE_WIDTH = 0.15
# Confidence falls at these closeness values: sure below the first, fairly sure below the second, unsure above.
_CONFIDENCE_STEPS = (0.2, 0.6)


@dataclass(frozen=True)
class SimulatedRater:
    """One simulated rater's noise model (module docstring, steps 2 to 4)."""

    name: str
    move: float  # chance of naming a neighbouring class for a tree far from every edge
    edge_move: float  # extra chance for a tree right on an edge, fading to 0 at EDGE_WIDTH from it
    cannot_tell: float  # chance of giving no class
    defect_threshold: float  # slightest severity the rater notices
    seed: int

    def describe(self) -> str:
        return (f"simulated: names a neighbouring class {self.move:.0%} of the time, up to "
                f"{self.move + self.edge_move:.0%} on a class edge; 'cannot tell' {self.cannot_tell:.0%}; notices "
                f"defects of severity {self.defect_threshold:.2f} and more")


@dataclass(frozen=True)
class SimulatedRating:
    """What a simulated rater says about one photo; ``label`` None means "cannot tell"."""

    label: str | None
    confidence: int
    defects: tuple[str, ...]


# The demo's three raters, from a careful senior arborist to a newcomer. Names say "simulated" wherever shown.
SIMULATED_RATERS: tuple[SimulatedRater, ...] = (
    SimulatedRater("Rater A (simulated)", move=0.04, edge_move=0.25, cannot_tell=0.01, defect_threshold=0.15, seed=1),
    SimulatedRater("Rater B (simulated)", move=0.08, edge_move=0.35, cannot_tell=0.02, defect_threshold=0.25, seed=2),
    SimulatedRater("Rater C (simulated)", move=0.14, edge_move=0.45, cannot_tell=0.04, defect_threshold=0.35, seed=3),
)


def inner_thresholds(include_imminent: bool = False) -> list[float]:
    """The risk scores where one class ends and the next begins (0.30, 0.55, and 0.80 with Imminent)."""
    return [CLASS_THRESHOLDS[name] for name in class_names(include_imminent)[1:]]


def closeness(score: float, include_imminent: bool = False) -> tuple[float, float]:
    """(closeness to the nearest class edge in [0, 1], that edge's threshold)."""
    edge = min(inner_thresholds(include_imminent), key=lambda t: abs(score - t))
    return max(0.0, 1.0 - abs(score - edge) / EDGE_WIDTH), edge


def simulate_rating(rater: SimulatedRater, row: Mapping[str, object], include_imminent: bool = False) -> SimulatedRating:
    """``rater``'s rating of the manifest ``row`` (needs ``path``, ``label_clean``, ``risk_score``, severities)."""
    rng = random.Random(f"treerisk-raters/{rater.seed}/{row['path']}")
    clean = str(row["label_clean"])
    score = float(row["risk_score"])  # type: ignore[arg-type]
    near, edge = closeness(score, include_imminent)
    label: str | None = clean
    if rng.random() < rater.move + rater.edge_move * near:
        names = class_names(include_imminent)
        if near > 0:  # borderline: mistaken for the class across the nearest edge
            step = 1 if edge > score else -1
            label = names[min(len(names) - 1, max(0, names.index(clean) + step))]
        else:
            label = neighbour_label(clean, rng, include_imminent)
    if rng.random() < rater.cannot_tell:
        label = None
    confidence = 3 if near < _CONFIDENCE_STEPS[0] else 2 if near < _CONFIDENCE_STEPS[1] else 1
    severity = {d: float(row.get(f"severity_{d}", 0) or 0) for d in DEFECTS}  # type: ignore[arg-type]
    seen = tuple(d for d in DEFECTS if severity[d] >= rater.defect_threshold)
    return SimulatedRating(label, confidence, seen)
