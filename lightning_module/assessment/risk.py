"""The ISA tree risk rating: two lookup matrices, the path through them, and a rating's probabilities.

The International Society of Arboriculture's Tree Risk Assessment (TRAQ) rates risk in two steps:

1. *likelihood of failure and impact* = matrix 1 [likelihood of failure, likelihood of impacting a target];
2. *risk rating* = matrix 2 [that result, consequences of failure].

The model predicts only the likelihood of failure. The assessor supplies the target's likelihood of impact and the
consequences. Both matrices are data below (rows and columns in the order arborists read them), so a test can check
them cell by cell and the dashboard and the report draw them from the same source.

Merged classes. Some scenarios train on merged classes such as ``"Probable+Possible"``. A merged class is rated as
the *most severe* ISA category it contains (``categories.isa_category_of``): ``"Probable+Possible"`` is rated as
Probable and ``"Possible+Improbable"`` as Possible. This is the conservative choice: a screening aid that
under-rates a tree is worse than one that sends an arborist to a tree that turns out fine.

A class that is not an ISA category at all (a model trained on other labels) makes the rating unavailable:
:func:`failure_categories` raises :class:`RatingUnavailable` with a reason a user can read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from lightning_module.data.categories import ISA_CATEGORIES, isa_category_of

# Columns of matrix 1, least to most likely.
LIKELIHOOD_OF_IMPACT: tuple[str, ...] = ("Very low", "Low", "Medium", "High")
# Columns of matrix 2, least to most severe.
CONSEQUENCES: tuple[str, ...] = ("Negligible", "Minor", "Significant", "Severe")
# Rows of matrix 1 as arborists print them: most likely to fail first.
LIKELIHOOD_OF_FAILURE: tuple[str, ...] = tuple(reversed(ISA_CATEGORIES))  # Imminent, Probable, Possible, Improbable
# Results of matrix 1 = rows of matrix 2, most likely first.
FAILURE_AND_IMPACT: tuple[str, ...] = ("Very likely", "Likely", "Somewhat likely", "Unlikely")
# Results of matrix 2, least to most serious.
RISK_RATINGS: tuple[str, ...] = ("Low", "Moderate", "High", "Extreme")

# Matrix 1: likelihood of failure (row) x likelihood of impacting the target (column).
FAILURE_AND_IMPACT_MATRIX: dict[str, dict[str, str]] = {
    "Imminent": dict(zip(LIKELIHOOD_OF_IMPACT, ("Unlikely", "Somewhat likely", "Likely", "Very likely"))),
    "Probable": dict(zip(LIKELIHOOD_OF_IMPACT, ("Unlikely", "Unlikely", "Somewhat likely", "Likely"))),
    "Possible": dict(zip(LIKELIHOOD_OF_IMPACT, ("Unlikely", "Unlikely", "Unlikely", "Somewhat likely"))),
    "Improbable": dict(zip(LIKELIHOOD_OF_IMPACT, ("Unlikely",) * 4)),
}

# Matrix 2: likelihood of failure and impact (row) x consequences of failure (column).
RISK_MATRIX: dict[str, dict[str, str]] = {
    "Very likely": dict(zip(CONSEQUENCES, ("Low", "Moderate", "High", "Extreme"))),
    "Likely": dict(zip(CONSEQUENCES, ("Low", "Moderate", "High", "High"))),
    "Somewhat likely": dict(zip(CONSEQUENCES, ("Low", "Low", "Moderate", "Moderate"))),
    "Unlikely": dict(zip(CONSEQUENCES, ("Low",) * 4)),
}

# What each choice means, in the TRAQ manual's sense, for help texts in the dashboard and the report.
IMPACT_HELP: dict[str, str] = {
    "Very low": "the target is rarely there (a remote trail, a field visited a few times a year)",
    "Low": "the target is seldom there or mostly protected (a lightly used park path, a shed behind a fence)",
    "Medium": "the target is there some of the time (a residential street, a house out of the likely fall line)",
    "High": "the target is there most of the time and exposed (a busy road, a school yard, a house in the fall line)",
}
CONSEQUENCES_HELP: dict[str, str] = {
    "Negligible": "little damage: a lawn, a fence easily repaired; no injury likely",
    "Minor": "modest damage or minor injury: a parked bicycle, a garden structure",
    "Significant": "substantial damage or serious injury: a car, a roof, people on a path",
    "Severe": "death, serious injury or very costly damage: occupied buildings, busy roads, power lines",
}


class RatingUnavailable(ValueError):
    """The model's classes are not ISA likelihood-of-failure categories; ``str(error)`` says why."""


@dataclass(frozen=True)
class RatingPath:
    """One way through both matrices: the cells a user sees highlighted."""

    likelihood_of_failure: str  # ISA category (row of matrix 1)
    likelihood_of_impact: str  # column of matrix 1
    failure_and_impact: str  # cell of matrix 1 = row of matrix 2
    consequences: str  # column of matrix 2
    rating: str  # cell of matrix 2


@dataclass(frozen=True)
class RiskAssessment:
    """The rating of one photo: the path from the most likely class, and every rating's probability."""

    predicted_class: str
    path: RatingPath
    rating_probabilities: dict[str, float]  # over RISK_RATINGS, sums to 1
    failure_probabilities: dict[str, float]  # over ISA_CATEGORIES, the model's classes mapped to ISA
    merged_note: str | None  # says how a merged class was rated, when one is involved

    @property
    def rating(self) -> str:
        return self.path.rating


def _check_choice(value: str, options: Sequence[str], what: str) -> str:
    if value not in options:
        raise ValueError(f"{what} must be one of {', '.join(options)}; got {value!r}")
    return value


def failure_and_impact(likelihood_of_failure: str, likelihood_of_impact: str) -> str:
    """Matrix 1: ``failure_and_impact("Probable", "High") == "Likely"``."""
    _check_choice(likelihood_of_failure, LIKELIHOOD_OF_FAILURE, "likelihood of failure")
    _check_choice(likelihood_of_impact, LIKELIHOOD_OF_IMPACT, "likelihood of impacting a target")
    return FAILURE_AND_IMPACT_MATRIX[likelihood_of_failure][likelihood_of_impact]


def risk_rating(failure_and_impact_level: str, consequences: str) -> str:
    """Matrix 2: ``risk_rating("Likely", "Severe") == "High"``."""
    _check_choice(failure_and_impact_level, FAILURE_AND_IMPACT, "likelihood of failure and impact")
    _check_choice(consequences, CONSEQUENCES, "consequences")
    return RISK_MATRIX[failure_and_impact_level][consequences]


def rating_path(likelihood_of_failure: str, likelihood_of_impact: str, consequences: str) -> RatingPath:
    """Both lookups in a row: the path a user sees highlighted in the two matrices."""
    middle = failure_and_impact(likelihood_of_failure, likelihood_of_impact)
    return RatingPath(likelihood_of_failure, likelihood_of_impact, middle, consequences, risk_rating(middle, consequences))


def failure_categories(classes: Sequence[str]) -> dict[str, str]:
    """Each model class -> the ISA likelihood-of-failure category it is rated as (merged classes: most severe).

    Raises :class:`RatingUnavailable` when any class is not ISA, because the expectation over classes would then
    leave part of the probability without a rating.
    """
    mapping = {name: isa_category_of(name) for name in classes}
    foreign = [name for name, category in mapping.items() if category is None]
    if foreign:
        listed = ", ".join(repr(f) for f in foreign)
        verb = "are not ISA likelihood-of-failure categories" if len(foreign) > 1 else "is not an ISA likelihood-of-failure category"
        raise RatingUnavailable(
            f"No ISA risk rating for this model: its class{'es' if len(foreign) > 1 else ''} {listed} {verb} "
            f"({', '.join(ISA_CATEGORIES)})."
        )
    return mapping  # type: ignore[return-value]


def merged_class_note(classes: Sequence[str]) -> str | None:
    """A sentence on how merged classes are rated, or None when every class is a single ISA category."""
    merged = [name for name in classes if "+" in name]
    if not merged:
        return None
    parts = [f"'{name}' is rated as {isa_category_of(name)}" for name in merged]
    return "Merged classes are rated as their most severe category (the conservative choice): " + "; ".join(parts) + "."


def _normalised(probabilities: Sequence[float], count: int) -> list[float]:
    values = [float(p) for p in probabilities]
    if len(values) != count:
        raise ValueError(f"expected {count} class probabilities, got {len(values)}")
    if any(math.isnan(v) or v < 0 for v in values):
        raise ValueError("class probabilities must be non-negative numbers")
    total = sum(values)
    if total <= 0:
        raise ValueError("class probabilities sum to zero")
    return [v / total for v in values]


def rating_probabilities(
    classes: Sequence[str], probabilities: Sequence[float], likelihood_of_impact: str, consequences: str
) -> dict[str, float]:
    """P(rating) = sum over classes of P(class) * [rating of that class's path == rating].

    This is the expectation over the model's classes of the one-hot rating each class would get with the chosen
    target and consequences. Every rating in :data:`RISK_RATINGS` is a key, in that order; values sum to 1.
    """
    categories = failure_categories(classes)
    weights = _normalised(probabilities, len(classes))
    result = dict.fromkeys(RISK_RATINGS, 0.0)
    for name, weight in zip(classes, weights):
        result[rating_path(categories[name], likelihood_of_impact, consequences).rating] += weight
    return result


def assess(
    classes: Sequence[str], probabilities: Sequence[float], likelihood_of_impact: str, consequences: str
) -> RiskAssessment:
    """The full rating of one photo. Raises :class:`RatingUnavailable` for non-ISA classes.

    Ties between classes go to the more severe class, again the conservative choice.
    """
    categories = failure_categories(classes)
    weights = _normalised(probabilities, len(classes))
    best = max(range(len(classes)), key=lambda i: (weights[i], ISA_CATEGORIES.index(categories[classes[i]])))
    predicted = classes[best]
    failure = dict.fromkeys(ISA_CATEGORIES, 0.0)
    for name, weight in zip(classes, weights):
        failure[categories[name]] += weight
    return RiskAssessment(
        predicted_class=predicted,
        path=rating_path(categories[predicted], likelihood_of_impact, consequences),
        rating_probabilities=rating_probabilities(classes, weights, likelihood_of_impact, consequences),
        failure_probabilities=failure,
        merged_note=merged_class_note(classes),
    )

