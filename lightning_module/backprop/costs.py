"""Cost functions C(a, y) per example, their gradient ∇_a C, and which output layers they pair with.

Arrays follow the engine's layout: neurons are rows, examples are columns, so ``a`` and ``y`` are
(n_L, m). ``per_example`` returns one cost per column; the engine averages them over the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

Array = np.ndarray

# log(0) would give −inf (and a NaN gradient); clipping at the smallest normal float keeps a
# hopeless prediction finite (≈ 708 nats) without changing any value a healthy network produces.
_TINY = np.finfo(float).tiny


def _log(x: Array) -> Array:
    return np.log(np.clip(x, _TINY, None))


@dataclass(frozen=True)
class Cost:
    name: str
    label: str
    per_example: Callable[[Array, Array], Array]  # (a, y) -> (m,)
    grad_a: Callable[[Array, Array], Array]  # (a, y) -> (n_L, m): ∇_a C for one example per column
    latex: str


def _quadratic(a: Array, y: Array) -> Array:
    return 0.5 * ((a - y) ** 2).sum(axis=0)


def _quadratic_grad(a: Array, y: Array) -> Array:
    return a - y


def _cross_entropy(a: Array, y: Array) -> Array:
    return -(y * _log(a) + (1.0 - y) * _log(1.0 - a)).sum(axis=0)


def _cross_entropy_grad(a: Array, y: Array) -> Array:
    return (a - y) / np.clip(a * (1.0 - a), _TINY, None)


def _log_likelihood(a: Array, y: Array) -> Array:
    return -(y * _log(a)).sum(axis=0)


def _log_likelihood_grad(a: Array, y: Array) -> Array:
    return -y / np.clip(a, _TINY, None)


COSTS: dict[str, Cost] = {
    "quadratic": Cost("quadratic", "quadratic ½‖a − y‖²", _quadratic, _quadratic_grad,
                      r"C = \tfrac{1}{2}\lVert a^L - y \rVert^2"),
    "cross_entropy": Cost("cross_entropy", "binary cross-entropy", _cross_entropy, _cross_entropy_grad,
                          r"C = -\sum_j \left[y_j \ln a^L_j + (1 - y_j)\ln(1 - a^L_j)\right]"),
    "log_likelihood": Cost("log_likelihood", "softmax log-likelihood", _log_likelihood, _log_likelihood_grad,
                           r"C = -\sum_j y_j \ln a^L_j"),
}

# Which (output activation, cost) pairs make sense, and why the others do not. The engine refuses
# the others with this message instead of producing NaNs.
INCOMPATIBLE: dict[tuple[str, str], str] = {
    ("linear", "cross_entropy"): "Binary cross-entropy takes ln a and ln(1 − a), so it needs outputs between 0 "
                                 "and 1: use a sigmoid (or softmax) output layer, or the quadratic cost.",
    ("linear", "log_likelihood"): "The log-likelihood cost takes ln a of a probability: it needs a softmax "
                                  "output layer. With a linear output use the quadratic cost.",
    ("sigmoid", "log_likelihood"): "The log-likelihood cost −Σ y ln a only rewards the true class; it is "
                                   "meant for softmax outputs, which sum to 1. With sigmoid outputs use "
                                   "binary cross-entropy.",
}

# Pairs where δ^L simplifies to a^L − y: f′ cancels the cost's denominator (the notes' point about
# why cross-entropy does not suffer the learning slow-down of the quadratic cost).
SIMPLE_OUTPUT_ERROR: set[tuple[str, str]] = {("sigmoid", "cross_entropy"), ("softmax", "log_likelihood")}


def check_pair(output: str, cost: str) -> None:
    """Raise ValueError with a user-facing reason when the output layer and the cost do not pair."""
    reason = INCOMPATIBLE.get((output, cost))
    if reason:
        raise ValueError(reason)
