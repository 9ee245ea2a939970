"""How far raters agree, and how far a model agrees with them: kappas with bootstrap intervals, and confusions.

Raw agreement flatters: two raters who both say "Improbable" to 70 % of photos agree half the time by chance.
Kappa counts only the agreement beyond chance, ``(p_observed - p_chance) / (1 - p_chance)``: 1 is perfect, 0 is
chance, below 0 is worse than chance. Three kinds, each with a bootstrap 95 % interval and the number of photos
it rests on:

* **Cohen's kappa** for each pair of raters (scikit-learn's ``cohen_kappa_score``).
* **Weighted (quadratic) kappa** for each pair: the classes are ordered, so calling a Probable tree Possible is a
  smaller disagreement than calling it Improbable; quadratic weights charge the squared class distance.
* **Fleiss' kappa** across all chosen raters at once (statsmodels' ``fleiss_kappa``), on the photos every one of
  them rated with a class (Fleiss' statistic needs the same number of ratings per photo).

"cannot tell" is a rating but not a class: a pair's figures rest on the photos both gave a class, and the
cannot-tell counts are reported beside them. The point estimates come from scikit-learn and statsmodels; the
bootstrap (photos resampled with replacement, :data:`RESAMPLES` times, percentile interval) recomputes the same
formulas from resampled confusion matrices with NumPy, because calling the libraries thousands of times would
keep a page waiting; ``tests/test_labelling_agreement.py`` checks that both give the same numbers.

A model is compared as one more rater: its most likely class per photo, against each rater, with the same
statistics (:func:`model_agreement`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from lightning_module.data.categories import ISA_CATEGORIES, isa_category_of

from .database import CANNOT_TELL

RESAMPLES = 1000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0
# An interval needs this share of resamples to give a kappa at all (a resample of one class has none).
_MIN_DEFINED_SHARE = 0.5

# photo id → label, per rater name
LabelsByRater = Mapping[str, Mapping[int, str]]


@dataclass(frozen=True)
class Estimate:
    """A kappa, its bootstrap interval (None when it cannot be told) and the number of photos it rests on."""

    value: float | None
    low: float | None
    high: float | None
    photos: int

    def text(self, digits: int = 2) -> str:
        if self.value is None:
            return f"– (n = {self.photos})"
        interval = f" [{self.low:.{digits}f}, {self.high:.{digits}f}]" if self.low is not None else ""
        return f"{self.value:.{digits}f}{interval} (n = {self.photos})"


@dataclass(frozen=True)
class PairAgreement:
    """Two raters (or a rater and the model) on the photos both gave a class."""

    first: str
    second: str
    kappa: Estimate
    weighted_kappa: Estimate
    raw_agreement: float | None
    confusion: np.ndarray  # rows: first's class, columns: second's, in ``classes`` order
    classes: tuple[str, ...]
    cannot_tell: int  # photos both rated where at least one said "cannot tell"


@dataclass(frozen=True)
class GroupAgreement:
    """Fleiss' kappa across ``raters`` on the photos every one of them gave a class."""

    raters: tuple[str, ...]
    kappa: Estimate


@dataclass(frozen=True)
class PhotoDisagreement:
    photo_id: int
    labels: dict[str, str]  # rater → label (cannot tell included)
    spread: float  # mean squared class distance over pairs of raters, scaled to [0, 1]


@dataclass(frozen=True)
class AgreementReport:
    classes: tuple[str, ...]
    pairs: tuple[PairAgreement, ...]
    group: GroupAgreement | None
    rated: dict[str, int] = field(default_factory=dict)  # rater → photos rated
    cannot_tell: dict[str, int] = field(default_factory=dict)  # rater → "cannot tell" ratings


# ------------------------------------------------------------------------------------------------ the formulas
def disagreement_weights(k: int, weights: str | None) -> np.ndarray:
    """Weights of the disagreement in each cell, as scikit-learn uses them: 0/1, or squared class distance."""
    i, j = np.indices((k, k))
    if weights is None:
        return (i != j).astype(float)
    if weights == "quadratic":
        return (i - j).astype(float) ** 2
    raise ValueError(f"weights must be None or 'quadratic', got {weights!r}")


def kappa_from_confusion(confusion: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Cohen's kappa of each confusion matrix in ``confusion`` (shape (..., k, k)); NaN where chance is perfect."""
    confusion = np.asarray(confusion, dtype=float)
    total = confusion.sum(axis=(-2, -1))
    expected = confusion.sum(axis=-1)[..., :, None] * confusion.sum(axis=-2)[..., None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = expected / total[..., None, None]
        return 1.0 - (weights * confusion).sum(axis=(-2, -1)) / (weights * expected).sum(axis=(-2, -1))


def fleiss_from_counts(counts: np.ndarray) -> np.ndarray:
    """Fleiss' kappa of each (photos, classes) table of rating counts in ``counts`` (shape (..., n, k))."""
    counts = np.asarray(counts, dtype=float)
    raters = counts.sum(axis=-1)  # per photo; the same for every photo
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = (((counts**2).sum(axis=-1) - raters) / (raters * (raters - 1))).mean(axis=-1)
        shares = counts.sum(axis=-2) / raters.sum(axis=-1)[..., None]
        chance = (shares**2).sum(axis=-1)
        return (observed - chance) / (1.0 - chance)


def _interval(resampled: np.ndarray) -> tuple[float | None, float | None]:
    finite = resampled[np.isfinite(resampled)]
    if finite.size < _MIN_DEFINED_SHARE * resampled.size or finite.size == 0:
        return None, None
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


# ------------------------------------------------------------------------------------------------ pairs
def cohen_kappa(first: Sequence[str], second: Sequence[str], classes: Sequence[str], weights: str | None = None,
                resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> Estimate:
    """Cohen's kappa of two raters' labels of the same photos (scikit-learn), with its bootstrap interval."""
    from sklearn.metrics import cohen_kappa_score

    n = len(first)
    if n == 0:
        return Estimate(None, None, None, 0)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one class only: kappa is undefined, and we say so (None) instead
        point = cohen_kappa_score(list(first), list(second), labels=list(classes), weights=weights)
    if not np.isfinite(point):
        return Estimate(None, None, None, n)
    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    codes = np.array([index[a] * k + index[b] for a, b in zip(first, second)])
    picks = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    flat = (np.arange(resamples)[:, None] * k * k + codes[picks]).ravel()
    confusions = np.bincount(flat, minlength=resamples * k * k).reshape(resamples, k, k)
    low, high = _interval(kappa_from_confusion(confusions, disagreement_weights(k, weights)))
    return Estimate(float(point), low, high, n)


def confusion_matrix(first: Sequence[str], second: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    from sklearn.metrics import confusion_matrix as sklearn_confusion

    if not first:
        return np.zeros((len(classes), len(classes)), dtype=int)
    return sklearn_confusion(list(first), list(second), labels=list(classes))


def pair_agreement(first: str, second: str, labels: LabelsByRater, classes: Sequence[str],
                   resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> PairAgreement:
    """Everything about one pair, on the photos both rated with one of ``classes``."""
    shared = sorted(set(labels[first]) & set(labels[second]))
    both = [p for p in shared if labels[first][p] in classes and labels[second][p] in classes]
    a = [labels[first][p] for p in both]
    b = [labels[second][p] for p in both]
    raw = float(np.mean([x == y for x, y in zip(a, b)])) if both else None
    return PairAgreement(
        first, second,
        cohen_kappa(a, b, classes, None, resamples, seed),
        cohen_kappa(a, b, classes, "quadratic", resamples, seed),
        raw, confusion_matrix(a, b, classes), tuple(classes),
        cannot_tell=sum(1 for p in shared if CANNOT_TELL in (labels[first][p], labels[second][p])),
    )


# ------------------------------------------------------------------------------------------------ all raters
def rating_counts(labels: LabelsByRater, raters: Sequence[str], classes: Sequence[str]) -> tuple[list[int], np.ndarray]:
    """(photo ids, (photos, classes) counts) over the photos every rater in ``raters`` gave a class."""
    common = set.intersection(*(set(labels[r]) for r in raters)) if raters else set()
    photos = sorted(p for p in common if all(labels[r][p] in classes for r in raters))
    index = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(photos), len(classes)), dtype=int)
    for row, photo in enumerate(photos):
        for r in raters:
            counts[row, index[labels[r][photo]]] += 1
    return photos, counts


def fleiss_kappa(labels: LabelsByRater, raters: Sequence[str], classes: Sequence[str],
                 resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> GroupAgreement:
    """Fleiss' kappa (statsmodels) across ``raters``, with its bootstrap interval."""
    from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss

    photos, counts = rating_counts(labels, raters, classes)
    n = len(photos)
    if len(raters) < 2 or n == 0:
        return GroupAgreement(tuple(raters), Estimate(None, None, None, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        point = statsmodels_fleiss(counts, method="fleiss")
    if not np.isfinite(point):
        return GroupAgreement(tuple(raters), Estimate(None, None, None, n))
    picks = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    low, high = _interval(fleiss_from_counts(counts[picks]))
    return GroupAgreement(tuple(raters), Estimate(float(point), low, high, n))


def classes_used(labels: LabelsByRater) -> tuple[str, ...]:
    """The ISA classes any rater gave, in order (a class nobody gave changes no kappa, and only pads the tables)."""
    given = {label for rated in labels.values() for label in rated.values()}
    return tuple(c for c in ISA_CATEGORIES if c in given) or ISA_CATEGORIES


def agreement_report(labels: LabelsByRater, classes: Sequence[str] | None = None, resamples: int = RESAMPLES,
                     seed: int = BOOTSTRAP_SEED) -> AgreementReport:
    """Every pair's figures and the group's, for the raters in ``labels`` (in that order), over ``classes``
    (default: the ISA classes any of them gave)."""
    names = list(labels)
    classes = tuple(classes) if classes is not None else classes_used(labels)
    pairs = tuple(pair_agreement(a, b, labels, classes, resamples, seed) for a, b in combinations(names, 2))
    group = fleiss_kappa(labels, names, classes, resamples, seed) if len(names) > 2 else None
    return AgreementReport(
        tuple(classes), pairs, group,
        rated={r: len(labels[r]) for r in names},
        cannot_tell={r: sum(1 for v in labels[r].values() if v == CANNOT_TELL) for r in names},
    )


# ------------------------------------------------------------------------------------------------ the model
def class_holding(label: str, classes: Sequence[str]) -> str | None:
    """The model class that holds the ISA ``label`` (``Probable+Possible`` holds both), or None."""
    for name in classes:
        if label in {part.strip() for part in name.split("+")}:
            return name
    return None


def ordered_classes(classes: Sequence[str]) -> tuple[str, ...]:
    """A model's classes from least to most likely to fail (merged classes by their most severe member)."""
    def rank(name: str) -> int:
        category = isa_category_of(name)
        return ISA_CATEGORIES.index(category) if category else len(ISA_CATEGORIES)

    return tuple(sorted(classes, key=rank))


def in_model_classes(labels: LabelsByRater, classes: Sequence[str]) -> dict[str, dict[int, str]]:
    """Raters' labels translated into the model's classes; a label no class holds counts as "cannot tell"."""
    return {r: {p: (class_holding(v, classes) or CANNOT_TELL) if v != CANNOT_TELL else CANNOT_TELL
                for p, v in rated.items()} for r, rated in labels.items()}


def model_agreement(labels: LabelsByRater, model_name: str, model_labels: Mapping[int, str],
                    model_classes: Sequence[str], resamples: int = RESAMPLES,
                    seed: int = BOOTSTRAP_SEED) -> AgreementReport:
    """The model against each rater, and Fleiss' kappa of raters and model together, in the model's classes."""
    classes = ordered_classes(model_classes)
    translated = in_model_classes(labels, classes)
    pairs = tuple(pair_agreement(model_name, r, {model_name: model_labels, r: translated[r]}, classes, resamples, seed)
                  for r in translated)
    everyone = {**translated, model_name: dict(model_labels)}
    group = fleiss_kappa(everyone, list(everyone), classes, resamples, seed) if len(translated) >= 2 else None
    return AgreementReport(classes, pairs, group, rated={model_name: len(model_labels)})


# ------------------------------------------------------------------------------------------------ photos
def disagreements(labels: LabelsByRater, classes: Sequence[str] = ISA_CATEGORIES) -> list[PhotoDisagreement]:
    """Photos rated by two raters or more, most disagreed-on first.

    The spread is the mean squared class distance over pairs of raters that gave a class (the quadratic weights
    of the weighted kappa), scaled to [0, 1]; among equal spreads, more "cannot tell" ratings come first.
    """
    index = {c: i for i, c in enumerate(classes)}
    photos: dict[int, dict[str, str]] = {}
    for rater, rated in labels.items():
        for photo, label in rated.items():
            photos.setdefault(photo, {})[rater] = label
    found = []
    for photo, by_rater in photos.items():
        if len(by_rater) < 2:
            continue
        positions = [index[v] for v in by_rater.values() if v in index]
        pairs = list(combinations(positions, 2))
        spread = float(np.mean([(a - b) ** 2 for a, b in pairs])) / max(1, len(classes) - 1) ** 2 if pairs else 0.0
        found.append(PhotoDisagreement(photo, dict(by_rater), spread))
    unsure = {d.photo_id: sum(v == CANNOT_TELL for v in d.labels.values()) for d in found}
    return sorted(found, key=lambda d: (-d.spread, -unsure[d.photo_id], d.photo_id))
