"""Two-sided numerical gradient check: is backprop's ∂C/∂w what finite differences say it is?

    ∂C/∂w ≈ (C(w + ε) − C(w − ε)) / 2ε,   ε = 1e-4

compared with the analytic gradient by the relative error |g − ĝ| / max(|g| + |ĝ|, 1e-8) (the floor
stops gradients that are both ≈ 0 from looking wrong). Below 1e-5 the two agree; near a kink
(ReLU at z = 0) a larger error can be an artefact of the finite difference, not a bug.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .network import Network

Array = np.ndarray
EPSILON = 1e-4
AGREE = 1e-5  # relative error under which a layer is reported as agreeing


@dataclass
class LayerCheck:
    layer: int
    analytic_W: Array
    numeric_W: Array
    analytic_b: Array
    numeric_b: Array

    @property
    def max_relative_error(self) -> float:
        errs = [_relative_error(self.analytic_W, self.numeric_W), _relative_error(self.analytic_b, self.numeric_b)]
        return float(max(float(e.max()) if e.size else 0.0 for e in errs))

    @property
    def max_abs_difference(self) -> float:
        return float(max(np.abs(self.analytic_W - self.numeric_W).max(),
                         np.abs(self.analytic_b - self.numeric_b).max()))

    @property
    def agrees(self) -> bool:
        return self.max_relative_error < AGREE


def _relative_error(g: Array, g_hat: Array) -> Array:
    return np.abs(g - g_hat) / np.maximum(np.abs(g) + np.abs(g_hat), 1e-8)


def numerical_gradient(net: Network, x: Array, y: Array, epsilon: float = EPSILON) -> tuple[list, list]:
    """Finite-difference ∂C/∂W^l and ∂C/∂b^l of the total cost, for l = 1..L (index 0 is None)."""
    dW: list[Array | None] = [None]
    db: list[Array | None] = [None]
    for l in range(1, net.L + 1):
        for params, out in ((net.W, dW), (net.b, db)):
            P = params[l]
            g = np.zeros_like(P)
            for idx in np.ndindex(P.shape):
                original = P[idx]
                P[idx] = original + epsilon
                c_plus = net.total_cost(x, y)
                P[idx] = original - epsilon
                c_minus = net.total_cost(x, y)
                P[idx] = original  # leave the network exactly as it was
                g[idx] = (c_plus - c_minus) / (2.0 * epsilon)
            out.append(g)
    return dW, db


def gradient_check(net: Network, x: Array, y: Array, epsilon: float = EPSILON) -> list[LayerCheck]:
    """Backprop's gradients next to the numerical ones, layer by layer."""
    p = net.backprop(x, y)
    num_W, num_b = numerical_gradient(net, x, y, epsilon)
    return [LayerCheck(l, p.dW[l], num_W[l], p.db[l], num_b[l]) for l in range(1, net.L + 1)]
