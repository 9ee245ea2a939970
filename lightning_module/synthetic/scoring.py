"""How defect severities become a likelihood-of-failure class, and how severities are drawn for a class.

The rule (documented in docs/SYNTHETIC_MODEL_CARD.md, tested for monotonicity):

1. Every defect ``d`` has a severity ``s_d`` in [0, 1] (0 = absent) and a weight ``w_d`` in (0, 1] saying how
   much that defect, at its worst, raises the chance the tree or a part of it fails.
2. The risk score is a "noisy OR": ``risk = 1 - prod_d (1 - w_d * s_d)``. Each defect independently "fails" with
   chance ``w_d * s_d``; risk is the chance at least one does. It is 0 for a sound tree, never above 1, and rises
   (never falls) when any one severity rises, so a worse defect can never lower the class.
3. Classes are thresholds on risk: Improbable < 0.30 <= Possible < 0.55 <= Probable, and, when Imminent is used,
   Probable < 0.80 <= Imminent (without Imminent, everything from 0.55 up is Probable).

To reproduce the lab's class shares exactly, the generator samples the label first and then draws severities
whose score falls inside that label's interval (:func:`sample_severities`); the label is always re-derived from
the final severities with :func:`classify`, so manifest labels and the rule can never disagree.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

from .defects import DEFECTS

# How much each defect, at severity 1, contributes (the chance it alone leads to failure in the rule's terms).
# Ordered roughly as arborists weigh them: a lifting root plate or a broken hanger is worse than wires in a crown.
DEFECT_WEIGHTS: dict[str, float] = {
    "lean": 0.55,
    "trunk_crack": 0.70,
    "cavity": 0.60,
    "dead_limbs": 0.45,
    "hanging_branch": 0.80,
    "crown_dieback": 0.50,
    "codominant_stems": 0.50,
    "root_plate_heave": 0.85,
    "fungal_conks": 0.55,
    "wire_contact": 0.35,
}

# Lower risk bound of each class, least to most likely to fail.
CLASS_THRESHOLDS: dict[str, float] = {"Improbable": 0.0, "Possible": 0.30, "Probable": 0.55, "Imminent": 0.80}

# Class shares: the lab's photo counts (Improbable : Possible : Probable = 322 : 80 : 56). The lab had no
# Imminent photos; when Imminent is asked for it gets a small share of our choosing (20, about 4%).
LAB_SHARES: dict[str, int] = {"Improbable": 322, "Possible": 80, "Probable": 56}
IMMINENT_SHARE = 20

# A severity below this is not drawn and counts as absent (stored as 0).
PRESENT_MIN = 0.05

# How often each defect is picked when a tree needs defects (relative); root-plate heave is rarer than lean.
_PREVALENCE: dict[str, float] = {
    "lean": 1.0,
    "trunk_crack": 0.8,
    "cavity": 1.0,
    "dead_limbs": 1.1,
    "hanging_branch": 0.8,
    "crown_dieback": 1.0,
    "codominant_stems": 0.7,
    "root_plate_heave": 0.5,
    "fungal_conks": 0.7,
    "wire_contact": 0.6,
}

# Which defect leads (is the worst) on a tree that has any: mostly the ones visible from the road at a glance
# (lean, bare top, hanger, cavity, dead limbs, crack), as in the lab's photos of risky trees.
_LEAD_PREVALENCE: dict[str, float] = {
    "lean": 1.3,
    "trunk_crack": 0.9,
    "cavity": 1.1,
    "dead_limbs": 1.0,
    "hanging_branch": 1.1,
    "crown_dieback": 1.3,
    "codominant_stems": 0.5,
    "root_plate_heave": 0.4,
    "fungal_conks": 0.5,
    "wire_contact": 0.3,
}

# How many defects a tree of each class carries: (count, probability) pairs. More defects go with riskier classes,
# as in the field; the score, not the count, decides the class.
_DEFECT_COUNTS: dict[str, tuple[tuple[int, float], ...]] = {
    "Improbable": ((1, 0.8), (2, 0.2)),
    "Possible": ((1, 0.45), (2, 0.45), (3, 0.10)),
    "Probable": ((2, 0.25), (3, 0.45), (4, 0.30)),
    "Imminent": ((3, 0.40), (4, 0.40), (5, 0.20)),
}
# Share of Improbable trees with no defect at all.
_SOUND_SHARE = 0.5
# Scores are drawn from these ranges: inside each class's interval and away from its edges, so that a tree's
# class is clear from its defects (set label_noise to add ambiguity). The upper end of Probable depends on
# whether Imminent exists.
_TARGETS: dict[str, tuple[float, float]] = {
    "Improbable": (0.06, 0.18),
    "Possible": (0.36, 0.50),
    "Probable": (0.62, 0.95),
    "Imminent": (0.86, 0.98),
}
_PROBABLE_WITH_IMMINENT = (0.62, 0.76)
# No defect of an Improbable tree is worse than this (its score then falls lower in the class, never out of it).
_IMPROBABLE_MAX = 0.2


def class_names(include_imminent: bool = False) -> list[str]:
    """Class names in order of rising likelihood of failure."""
    names = list(LAB_SHARES)
    return [*names, "Imminent"] if include_imminent else names


def risk_score(severities: Mapping[str, float]) -> float:
    """Noisy-OR risk in [0, 1] from defect severities (missing defects count as 0). Raises on unknown names."""
    unknown = set(severities) - set(DEFECT_WEIGHTS)
    if unknown:
        raise ValueError(f"Unknown defect(s) {sorted(unknown)}; known: {', '.join(DEFECTS)}.")
    survive = 1.0
    for name, severity in severities.items():
        if not 0.0 <= severity <= 1.0:
            raise ValueError(f"Severity of {name} must be in [0, 1], got {severity}.")
        survive *= 1.0 - DEFECT_WEIGHTS[name] * severity
    return 1.0 - survive


def classify(score: float, include_imminent: bool = False) -> str:
    """The likelihood-of-failure class of a risk score."""
    label = "Improbable"
    for name in class_names(include_imminent):
        if score >= CLASS_THRESHOLDS[name]:
            label = name
    return label


def class_interval(label: str, include_imminent: bool = False) -> tuple[float, float]:
    """[low, high) risk interval of ``label``."""
    names = class_names(include_imminent)
    if label not in names:
        raise ValueError(f"Unknown class {label!r}; choose one of {', '.join(names)}.")
    i = names.index(label)
    high = CLASS_THRESHOLDS[names[i + 1]] if i + 1 < len(names) else 1.0
    return CLASS_THRESHOLDS[label], high


def class_counts(n: int, include_imminent: bool = False) -> dict[str, int]:
    """Split ``n`` into per-class counts in the lab's shares (largest remainder; exact 322/80/56 for n=458)."""
    shares = dict(LAB_SHARES)
    if include_imminent:
        shares["Imminent"] = IMMINENT_SHARE
    total = sum(shares.values())
    raw = {k: n * v / total for k, v in shares.items()}
    counts = {k: math.floor(v) for k, v in raw.items()}
    by_remainder = sorted(shares, key=lambda k: (-(raw[k] - counts[k]), list(shares).index(k)))
    for k in by_remainder[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


def _pick_count(label: str, rng: random.Random) -> int:
    r, acc = rng.random(), 0.0
    for count, p in _DEFECT_COUNTS[label]:
        acc += p
        if r < acc:
            return count
    return _DEFECT_COUNTS[label][-1][0]


def _pick_defects(k: int, rng: random.Random, exclude: Sequence[str] = ()) -> list[str]:
    """``k`` different defects; the first by how often each leads, the rest by how common each is."""
    pool = [d for d in DEFECTS if d not in exclude]
    chosen: list[str] = []
    while len(chosen) < k and pool:
        prevalence = _LEAD_PREVALENCE if not chosen and not exclude else _PREVALENCE
        weights = [prevalence[d] for d in pool]
        pick = rng.choices(pool, weights)[0]
        pool.remove(pick)
        chosen.append(pick)
    return chosen


def _solve_scale(direction: dict[str, float], target: float) -> dict[str, float]:
    """Severities ``min(1, t * v)`` with risk == target (bisection on t; risk rises with t)."""
    lo, hi = 0.0, 1.0 / min(direction.values())
    for _ in range(50):
        mid = (lo + hi) / 2
        if risk_score({d: min(1.0, mid * v) for d, v in direction.items()}) < target:
            lo = mid
        else:
            hi = mid
    return {d: min(1.0, hi * v) for d, v in direction.items()}


def sample_severities(label: str, rng: random.Random, include_imminent: bool = False) -> dict[str, float]:
    """Severities for every defect (0 = absent) whose :func:`risk_score` classifies as ``label``.

    The score is drawn from a range well inside the class's interval (``_TARGETS``); the tree's first-picked
    defect leads (largest severity), the others are weaker. Severities are rounded to 3 decimals and those below
    :data:`PRESENT_MIN` are dropped; the margins keep the score inside the class interval.
    """
    class_interval(label, include_imminent)  # validates the label
    severities = dict.fromkeys(DEFECTS, 0.0)
    if label == "Improbable" and rng.random() < _SOUND_SHARE:
        return severities
    low, high = _TARGETS[label]
    if label == "Probable" and include_imminent:
        low, high = _PROBABLE_WITH_IMMINENT
    target = rng.uniform(low, high)
    chosen = _pick_defects(_pick_count(label, rng), rng)
    # A lifting root plate tilts the tree: most heaving trees lean too.
    if "root_plate_heave" in chosen and "lean" not in chosen and rng.random() < 0.7:
        chosen.append("lean")
    # The first-picked defect leads; the others are weaker, so a risky tree shows at least one severe defect.
    spread = (0.45, 0.85) if label in ("Probable", "Imminent") else (0.3, 0.75)
    direction = {d: (1.0 if i == 0 else rng.uniform(*spread)) for i, d in enumerate(chosen)}
    while True:
        if risk_score(dict.fromkeys(direction, 1.0)) < target:
            extra = _pick_defects(1, rng, exclude=list(direction))
            direction[extra[0]] = rng.uniform(*spread)
            continue
        solved = _solve_scale(direction, target)
        weak = [d for d, s in solved.items() if s < PRESENT_MIN + 0.01]
        if weak and len(direction) > 1:
            del direction[min(weak, key=lambda d: solved[d])]
            continue
        break
    if label == "Improbable":  # a sound-looking tree: its one or two defects stay slight whatever their weight
        solved = {d: min(s, _IMPROBABLE_MAX) for d, s in solved.items()}
    for d, s in solved.items():
        severities[d] = round(s, 3)
    final = classify(risk_score(severities), include_imminent)
    if final != label:  # cannot happen with the margins above; guard the invariant loudly
        raise AssertionError(f"sampled severities score as {final}, wanted {label}: {severities}")
    return severities


def neighbour_label(label: str, rng: random.Random, include_imminent: bool = False) -> str:
    """A neighbouring class (one step up or down), as when two raters disagree; used for label noise."""
    names = class_names(include_imminent)
    i = names.index(label)
    options = [names[j] for j in (i - 1, i + 1) if 0 <= j < len(names)]
    return rng.choice(options)
