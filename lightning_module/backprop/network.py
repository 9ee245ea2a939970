"""A dense network written in the course notation, with every intermediate array kept.

Layout (the one convention to remember): **neurons are rows, examples are columns.** A batch of m
examples with n_0 features is ``x`` of shape (n_0, m); layer l has

    W^l : (n_l, n_{l-1})      b^l : (n_l, 1)
    z^l = W^l a^{l-1} + b^l   a^l = f(z^l)           both (n_l, m)

Lists are indexed by layer number so the code reads like the notes: ``W[l]``, ``z[l]``, ``a[l]``,
``delta[l]``; index 0 is the input layer, which has activations (``a[0] = x``) but no weights
(``W[0]``, ``b[0]``, ``z[0]``, ``delta[0]`` are ``None``).

Backward pass, for a batch, every example a column:

    δ^L = ∇_a C ⊙ f′(z^L)                 (general case; softmax uses its Jacobian)
    δ^L = a^L − y                          (sigmoid + cross-entropy, softmax + log-likelihood)
    δ^l = (W^{l+1})ᵀ δ^{l+1} ⊙ f′(z^l)
    ∂C/∂W^l = (1/m) δ^l (a^{l-1})ᵀ + λ W^l  ∂C/∂b^l = (1/m) Σ_columns δ^l
    ΔW^l = −η ∂C/∂W^l                      Δb^l = −η ∂C/∂b^l

The cost is the batch mean of the per-example cost plus (λ/2) Σ_l ‖W^l‖² (L2 weight decay).
Biases are not decayed (the usual convention: they do not make the network more complex).
``delta`` is per example (not divided by m); the 1/m appears only in ∂C/∂W and ∂C/∂b.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from .activations import HIDDEN, OUTPUTS, Activation, softmax_backward
from .costs import COSTS, SIMPLE_OUTPUT_ERROR, Cost, check_pair

Array = np.ndarray

INITIALISATIONS: dict[str, str] = {
    "zeros": "all zeros (shows the symmetry problem)",
    "small_normal": "small normal N(0, ε²)",
    "xavier": "Xavier/Glorot uniform",
    "he": "He (Kaiming) normal",
}


@dataclass
class Pass:
    """What one forward and backward pass over a batch computed, layer by layer.

    Lists are indexed by layer l = 0..L (entry 0 is the input layer). Entries not computed yet
    are ``None``; the stepper fills them one layer at a time.
    """

    x: Array
    y: Array
    z: list[Array | None]
    a: list[Array | None]
    delta: list[Array | None]
    dW: list[Array | None]  # ∂C/∂W^l, averaged over the batch, including λW^l
    db: list[Array | None]  # ∂C/∂b^l, averaged over the batch
    dW_step: list[Array | None]  # ΔW^l = −η ∂C/∂W^l, the update
    db_step: list[Array | None]
    learning_rate: float
    W: list[Array | None] = field(default_factory=list)  # the weights this pass used (before its update)
    b: list[Array | None] = field(default_factory=list)
    cost: float | None = None
    applied: bool = False  # True once the update was added to the weights

    @property
    def batch_size(self) -> int:
        return self.x.shape[1]


def empty_pass(net: "Network", x: Array, y: Array, learning_rate: float) -> Pass:
    """A pass with nothing computed yet except a^0 = x.

    It keeps references to the current W and b: updates replace the arrays (W ← W + ΔW builds a new
    one), so these stay the weights the pass was computed with, at no copying cost.
    """
    none = [None] * (net.L + 1)
    a = list(none)
    a[0] = x
    return Pass(x, y, list(none), a, list(none), list(none), list(none), list(none), list(none),
                learning_rate, list(net.W), list(net.b))


@dataclass
class Network:
    """Weights, biases, activations and cost of a dense network (see the module docstring)."""

    sizes: list[int]
    hidden: str = "sigmoid"
    output: str = "sigmoid"
    cost: str = "quadratic"
    weight_decay: float = 0.0
    W: list[Array | None] = field(default_factory=list)
    b: list[Array | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.sizes) < 2 or any(int(n) < 1 for n in self.sizes):
            raise ValueError(f"A network needs an input and an output layer of at least one neuron each; "
                             f"got sizes {self.sizes}.")
        self.sizes = [int(n) for n in self.sizes]
        if self.hidden not in HIDDEN:
            raise ValueError(f"Unknown activation '{self.hidden}'; choose one of {', '.join(HIDDEN)}.")
        if self.output not in OUTPUTS:
            raise ValueError(f"Unknown output layer '{self.output}'; choose one of {', '.join(OUTPUTS)}.")
        if self.cost not in COSTS:
            raise ValueError(f"Unknown cost '{self.cost}'; choose one of {', '.join(COSTS)}.")
        check_pair(self.output, self.cost)
        if self.weight_decay < 0:
            raise ValueError("The weight decay λ cannot be negative.")
        if not self.W:
            self.init_weights("zeros")

    # ------------------------------------------------------------------ structure
    @property
    def L(self) -> int:  # noqa: N802 - the notes call the number of layers L
        """Number of layers with weights (hidden layers + the output layer)."""
        return len(self.sizes) - 1

    def f(self, l: int) -> Activation:
        """The activation of layer l: the hidden activation, or the output activation for l = L."""
        return OUTPUTS[self.output] if l == self.L else HIDDEN[self.hidden]

    @property
    def C(self) -> Cost:  # noqa: N802
        return COSTS[self.cost]

    def n_parameters(self) -> int:
        return sum(self.W[l].size + self.b[l].size for l in range(1, self.L + 1))

    def copy(self) -> Network:
        return copy.deepcopy(self)

    # ------------------------------------------------------------------ weights
    def init_weights(self, method: str = "xavier", seed: int = 0, epsilon: float = 0.01) -> None:
        """Fresh weights; biases start at 0 for every method."""
        if method not in INITIALISATIONS:
            raise ValueError(f"Unknown initialisation '{method}'; choose one of {', '.join(INITIALISATIONS)}.")
        rng = np.random.default_rng(seed)
        self.W, self.b = [None], [None]
        for l in range(1, self.L + 1):
            n_in, n_out = self.sizes[l - 1], self.sizes[l]
            if method == "zeros":
                W = np.zeros((n_out, n_in))
            elif method == "small_normal":
                W = rng.normal(0.0, epsilon, (n_out, n_in))
            elif method == "xavier":
                limit = np.sqrt(6.0 / (n_in + n_out))
                W = rng.uniform(-limit, limit, (n_out, n_in))
            else:  # he
                W = rng.normal(0.0, np.sqrt(2.0 / n_in), (n_out, n_in))
            self.W.append(W)
            self.b.append(np.zeros((n_out, 1)))

    def set_weights(self, W: list, b: list) -> None:
        """Set W^1..W^L and b^1..b^L from nested lists or arrays (no leading None needed)."""
        if len(W) != self.L or len(b) != self.L:
            raise ValueError(f"Expected {self.L} weight matrices and bias vectors, got {len(W)} and {len(b)}.")
        new_W, new_b = [None], [None]
        for l in range(1, self.L + 1):
            Wl = np.array(W[l - 1], dtype=float).reshape(self.sizes[l], self.sizes[l - 1])
            bl = np.array(b[l - 1], dtype=float).reshape(self.sizes[l], 1)
            new_W.append(Wl)
            new_b.append(bl)
        self.W, self.b = new_W, new_b

    # ------------------------------------------------------------------ forward
    def forward_layer(self, l: int, a_prev: Array) -> tuple[Array, Array]:
        """z^l = W^l a^{l-1} + b^l and a^l = f(z^l)."""
        z = self.W[l] @ a_prev + self.b[l]
        return z, self.f(l).f(z)

    def forward(self, x: Array) -> tuple[list[Array | None], list[Array]]:
        """All z^l and a^l for a batch x of shape (n_0, m)."""
        z: list[Array | None] = [None]
        a: list[Array] = [x]
        for l in range(1, self.L + 1):
            z_l, a_l = self.forward_layer(l, a[l - 1])
            z.append(z_l)
            a.append(a_l)
        return z, a

    def predict(self, x: Array) -> Array:
        """a^L for a batch x of shape (n_0, m)."""
        a = x
        for l in range(1, self.L + 1):
            a = self.f(l).f(self.W[l] @ a + self.b[l])
        return a

    # ------------------------------------------------------------------ cost
    def data_cost(self, z_L: Array, a_L: Array, y: Array) -> float:
        """Mean over the batch of the per-example cost (no weight decay)."""
        pair = (self.output, self.cost)
        if pair == ("sigmoid", "cross_entropy"):
            # From the logits: −[y ln σ(z) + (1−y) ln(1−σ(z))] = softplus(z) − y z, exact even when
            # σ(z) rounds to 0 or 1 (hand-weight presets like −30, 20, 20 do that).
            per_example = (np.logaddexp(0.0, z_L) - y * z_L).sum(axis=0)
        elif pair == ("softmax", "log_likelihood"):
            log_a = z_L - z_L.max(axis=0, keepdims=True)
            log_a = log_a - np.log(np.exp(log_a).sum(axis=0, keepdims=True))
            per_example = -(y * log_a).sum(axis=0)
        else:
            per_example = self.C.per_example(a_L, y)
        return float(per_example.mean())

    def decay_cost(self) -> float:
        """(λ/2) Σ_l ‖W^l‖²: the L2 part of the cost (biases are not decayed)."""
        if self.weight_decay == 0.0:
            return 0.0
        return 0.5 * self.weight_decay * sum(float((self.W[l] ** 2).sum()) for l in range(1, self.L + 1))

    def total_cost(self, x: Array, y: Array) -> float:
        z, a = self.forward(x)
        return self.data_cost(z[self.L], a[self.L], y) + self.decay_cost()

    # ------------------------------------------------------------------ backward
    def output_error(self, z_L: Array, a_L: Array, y: Array) -> Array:
        """δ^L, one column per example."""
        if (self.output, self.cost) in SIMPLE_OUTPUT_ERROR:
            return a_L - y
        grad_a = self.C.grad_a(a_L, y)
        if self.output == "softmax":
            return softmax_backward(a_L, grad_a)
        return grad_a * self.f(self.L).df(z_L)

    def hidden_error(self, l: int, z_l: Array, delta_next: Array) -> Array:
        """δ^l = (W^{l+1})ᵀ δ^{l+1} ⊙ f′(z^l)."""
        return (self.W[l + 1].T @ delta_next) * self.f(l).df(z_l)

    def gradients(self, l: int, delta_l: Array, a_prev: Array) -> tuple[Array, Array]:
        """∂C/∂W^l = (1/m) δ^l (a^{l-1})ᵀ + λW^l and ∂C/∂b^l = mean of δ^l over the batch."""
        m = delta_l.shape[1]
        dW = (delta_l @ a_prev.T) / m
        if self.weight_decay:
            dW = dW + self.weight_decay * self.W[l]
        db = delta_l.mean(axis=1, keepdims=True)
        return dW, db

    def backward_layer(self, p: Pass, l: int) -> None:
        """Fill δ^l, ∂C/∂W^l, ∂C/∂b^l and the update ΔW^l, Δb^l of pass p (layer l+1 must be done)."""
        if l == self.L:
            p.delta[l] = self.output_error(p.z[l], p.a[l], p.y)
        else:
            p.delta[l] = self.hidden_error(l, p.z[l], p.delta[l + 1])
        p.dW[l], p.db[l] = self.gradients(l, p.delta[l], p.a[l - 1])
        p.dW_step[l] = -p.learning_rate * p.dW[l]
        p.db_step[l] = -p.learning_rate * p.db[l]

    def backprop(self, x: Array, y: Array, learning_rate: float = 0.0) -> Pass:
        """Forward and backward pass over the batch (x: (n_0, m), y: (n_L, m)); weights unchanged."""
        _check_batch(self, x, y)
        p = empty_pass(self, x, y, learning_rate)
        p.z, p.a = self.forward(x)
        p.cost = self.data_cost(p.z[self.L], p.a[self.L], y) + self.decay_cost()
        for l in range(self.L, 0, -1):
            self.backward_layer(p, l)
        return p

    # ------------------------------------------------------------------ update
    def apply_update(self, p: Pass) -> None:
        """W^l ← W^l + ΔW^l and b^l ← b^l + Δb^l for every layer of a completed pass."""
        if p.applied:
            raise ValueError("This update was already applied.")
        for l in range(1, self.L + 1):
            if p.dW_step[l] is None:
                raise ValueError(f"The backward pass has not reached layer {l} yet.")
        for l in range(1, self.L + 1):
            self.W[l] = self.W[l] + p.dW_step[l]
            self.b[l] = self.b[l] + p.db_step[l]
        p.applied = True

    def train_step(self, x: Array, y: Array, learning_rate: float) -> Pass:
        """One gradient-descent step on the batch; returns the pass (cost is before the update)."""
        p = self.backprop(x, y, learning_rate)
        self.apply_update(p)
        return p


def _check_batch(net: Network, x: Array, y: Array) -> None:
    if x.ndim != 2 or x.shape[0] != net.sizes[0]:
        raise ValueError(f"Inputs must be ({net.sizes[0]}, m), one example per column; got {x.shape}.")
    if y.ndim != 2 or y.shape != (net.sizes[-1], x.shape[1]):
        raise ValueError(f"Targets must be ({net.sizes[-1]}, {x.shape[1]}) to match the output layer; "
                         f"got {y.shape}.")
