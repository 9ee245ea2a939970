"""Activation functions f and their derivatives f′, element-wise on arrays of pre-activations z.

Each activation knows its own derivative as a function of z (not of a), so the engine can write
δ^l = (W^(l+1))ᵀ δ^(l+1) ⊙ f′(z^l) exactly as in the notes. Softmax is the one activation whose
derivative is a Jacobian, not element-wise; it is handled by :func:`softmax_backward`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import erf, expit

Array = np.ndarray

LEAKY_SLOPE = 0.01  # torch.nn.LeakyReLU's default, so the autograd comparison needs no extra argument
_SQRT2 = np.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


@dataclass(frozen=True)
class Activation:
    """One activation: its name as the user sees it, f(z), f′(z) and LaTeX for the formulas."""

    name: str
    label: str
    f: Callable[[Array], Array]
    df: Callable[[Array], Array]
    latex: str  # the symbol used in formulas, e.g. \sigma
    definition: str  # LaTeX of f(z) = ...


def _sigmoid(z: Array) -> Array:
    return expit(z)  # numerically safe for large |z| (no overflow warning from exp)


def _dsigmoid(z: Array) -> Array:
    s = expit(z)
    return s * (1.0 - s)


def _tanh(z: Array) -> Array:
    return np.tanh(z)


def _dtanh(z: Array) -> Array:
    t = np.tanh(z)
    return 1.0 - t * t


def _relu(z: Array) -> Array:
    return np.maximum(z, 0.0)


def _drelu(z: Array) -> Array:
    # f′(0) = 0, as torch does; that is what makes all-zero initialisation freeze a ReLU layer.
    return (z > 0).astype(float)


def _leaky_relu(z: Array) -> Array:
    return np.where(z > 0, z, LEAKY_SLOPE * z)


def _dleaky_relu(z: Array) -> Array:
    return np.where(z > 0, 1.0, LEAKY_SLOPE)


def _gelu(z: Array) -> Array:
    # The exact GELU z·Φ(z) (torch's default, approximate='none'), not the tanh approximation.
    return 0.5 * z * (1.0 + erf(z / _SQRT2))


def _dgelu(z: Array) -> Array:
    return 0.5 * (1.0 + erf(z / _SQRT2)) + z * _INV_SQRT_2PI * np.exp(-0.5 * z * z)


def _linear(z: Array) -> Array:
    return z


def _dlinear(z: Array) -> Array:
    return np.ones_like(z)


def softmax(z: Array) -> Array:
    """Softmax over the neurons of a layer (axis 0: neurons are rows, examples are columns)."""
    shifted = z - z.max(axis=0, keepdims=True)  # same result, no overflow
    e = np.exp(shifted)
    return e / e.sum(axis=0, keepdims=True)


def softmax_backward(a: Array, grad_a: Array) -> Array:
    """δ = Jᵀ ∇_a C for softmax, whose Jacobian is J = diag(a) − a aᵀ, for every column at once."""
    return a * (grad_a - (a * grad_a).sum(axis=0, keepdims=True))


HIDDEN: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", "sigmoid", _sigmoid, _dsigmoid, r"\sigma",
                          r"\sigma(z) = \frac{1}{1 + e^{-z}}"),
    "tanh": Activation("tanh", "tanh", _tanh, _dtanh, r"\tanh", r"\tanh(z)"),
    "relu": Activation("relu", "ReLU", _relu, _drelu, r"\mathrm{ReLU}", r"\mathrm{ReLU}(z) = \max(0, z)"),
    "leaky_relu": Activation("leaky_relu", "leaky ReLU", _leaky_relu, _dleaky_relu, r"\mathrm{LReLU}",
                             r"\mathrm{LReLU}(z) = \max(0.01z, z)"),
    "gelu": Activation("gelu", "GELU", _gelu, _dgelu, r"\mathrm{GELU}", r"\mathrm{GELU}(z) = z\,\Phi(z)"),
    "linear": Activation("linear", "linear", _linear, _dlinear, r"\mathrm{id}", r"\mathrm{id}(z) = z"),
}

# The softmax entry's df is never used element-wise: the engine calls softmax_backward instead.
OUTPUTS: dict[str, Activation] = {
    "sigmoid": HIDDEN["sigmoid"],
    "softmax": Activation("softmax", "softmax", softmax, lambda z: np.full_like(z, np.nan), r"\mathrm{softmax}",
                          r"\mathrm{softmax}(z)_j = \frac{e^{z_j}}{\sum_k e^{z_k}}"),
    "linear": HIDDEN["linear"],
}
