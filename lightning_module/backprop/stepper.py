"""The layer-by-layer state machine the page drives: forward one layer, backward one layer, apply.

A training step goes through three phases:

    ready ─forward─▶ forward (layers 1, 2, …, L) ─backward─▶ backward (layers L, …, 1) ─apply─▶ ready

``phase`` and ``layer`` say where it is (the layer just computed), so the page can highlight it.
``current`` is the pass being computed, or after an update the pass that was just applied, so its
numbers stay inspectable. ``whole_step`` finishes whatever is left of the current step.
η, λ and the batch mode may change between steps; they apply from the next batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import Config
from .datasets import DATASETS, Dataset, make_dataset, n_outputs, predicted_class, targets
from .network import Network, Pass, empty_pass
from .presets import PRESETS, exercise_dataset

Array = np.ndarray
MAX_HISTORY = 20000  # older points are thinned, so a long play session keeps a bounded memory


@dataclass
class History:
    step: list[int] = field(default_factory=list)
    train_cost: list[float] = field(default_factory=list)
    test_cost: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)

    def add(self, step: int, train_cost: float, test_cost: float, train_acc: float, test_acc: float) -> None:
        self.step.append(step)
        self.train_cost.append(train_cost)
        self.test_cost.append(test_cost)
        self.train_accuracy.append(train_acc)
        self.test_accuracy.append(test_acc)
        if len(self.step) > MAX_HISTORY:  # keep the first point and every other one after it
            for name in ("step", "train_cost", "test_cost", "train_accuracy", "test_accuracy"):
                values = getattr(self, name)
                setattr(self, name, values[:1] + values[1::2])


class StepError(RuntimeError):
    """A control was used out of order (e.g. backward before the forward pass finished)."""


class Stepper:
    """Training state of one network on one data set, advanced a layer or a step at a time."""

    def __init__(self, net: Network, data: Dataset, learning_rate: float = 0.1, batch: str = "full",
                 batch_size: int = 16, seed: int = 0) -> None:
        self.net = net
        self.data = data
        self.learning_rate = float(learning_rate)
        self.batch = batch
        self.batch_size = int(batch_size)
        self.seed = seed
        self.x_train = data.X.T.copy()  # (2, m): examples as columns, like the engine
        self.y_train = targets(data.labels, data.n_classes, net.output)
        if self.y_train.shape[0] != net.sizes[-1]:
            raise ValueError(f"The data has {data.n_classes} classes, so the output layer needs "
                             f"{self.y_train.shape[0]} neuron(s); the network has {net.sizes[-1]}.")
        if data.has_test:
            self.x_test = data.X_test.T.copy()
            self.y_test = targets(data.labels_test, data.n_classes, net.output)
        else:
            self.x_test = self.y_test = None
        self._initial = net.copy()
        self.reset()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_config(cls, config: Config, data: Dataset | None = None) -> tuple["Stepper", list[str]]:
        """A stepper for a page configuration. ``data`` overrides the config's data set (an uploaded
        CSV, or points the user edited). Returns notes for the user alongside."""
        notes: list[str] = []
        if data is None:
            data = load_dataset(config.dataset, config.seed)
        sizes = [2, *config.hidden_layers, n_outputs(data.n_classes, config.output)]
        net = Network(sizes, config.activation, config.output, config.cost, config.weight_decay)
        net.init_weights(config.init, config.seed, config.epsilon)
        preset = PRESETS.get(config.preset)
        if preset is not None and preset.W is not None:
            if preset.sizes == sizes:
                net.set_weights(list(preset.W), list(preset.b))
            else:
                notes.append(f"The preset's hand weights are for a {'-'.join(map(str, preset.sizes))} network; "
                             f"this one is {'-'.join(map(str, sizes))}, so it starts from the "
                             f"{config.init} initialisation instead.")
        stepper = cls(net, data, config.learning_rate, config.batch, config.batch_size, config.seed)
        return stepper, notes

    def set_training(self, learning_rate: float, weight_decay: float, batch: str, batch_size: int) -> None:
        """New η, λ and batch mode; they take effect from the next batch."""
        changed_batch = (batch, batch_size) != (self.batch, self.batch_size)
        self.learning_rate, self.batch, self.batch_size = float(learning_rate), batch, int(batch_size)
        if self.phase == "ready":
            self.net.weight_decay = float(weight_decay)
        else:
            self._pending_decay = float(weight_decay)
        if changed_batch:
            self._cursor = len(self._order)  # start a fresh shuffled epoch with the new batch size

    def replace_weights(self, other: Network) -> None:
        """Start again from another network's weights (a loaded JSON file): it becomes what Reset returns
        to. Its layer sizes must match; raises ValueError saying what differs."""
        if other.sizes != self.net.sizes:
            raise ValueError(f"The file's network is {'-'.join(map(str, other.sizes))}; this page's is "
                             f"{'-'.join(map(str, self.net.sizes))}. Set the same hidden layers first.")
        self._initial = self.net.copy()
        self._initial.set_weights([other.W[l] for l in range(1, other.L + 1)],
                                  [other.b[l] for l in range(1, other.L + 1)])
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Back to the initial weights, step 0, with the history cleared."""
        decay = self.net.weight_decay
        self.net = self._initial.copy()
        self.net.weight_decay = decay
        self.phase = "ready"
        self.layer = 0
        self.current: Pass | None = None
        self.batch_indices: Array | None = None
        self.step = 0
        self.resets = getattr(self, "resets", -1) + 1  # with step, names the current weights (figure caching)
        self.examples_seen = 0
        self.diverged_at: int | None = None
        self._pending_decay: float | None = None
        self._rng = np.random.default_rng(self.seed)
        self._order = np.arange(0)
        self._cursor = 0
        self.history = History()
        self._record()

    @property
    def L(self) -> int:  # noqa: N802
        return self.net.L

    @property
    def epoch(self) -> float:
        """Passes over the training set so far (fractional with mini-batches and SGD)."""
        return self.examples_seen / self.x_train.shape[1]

    def can_forward(self) -> bool:
        return self.phase == "ready" or (self.phase == "forward" and self.layer < self.L)

    def can_backward(self) -> bool:
        return (self.phase == "forward" and self.layer == self.L) or (self.phase == "backward" and self.layer > 1)

    def can_update(self) -> bool:
        return self.phase == "backward" and self.layer == 1

    def describe(self) -> str:
        """Where the step is, in words."""
        if self.phase == "ready":
            if self.current is not None and self.current.applied:
                return f"Step {self.step} applied. Next: forward pass of step {self.step + 1}, layer 1."
            return f"Ready: step {self.step + 1} starts with the forward pass, layer 1."
        if self.phase == "forward":
            if self.layer == self.L:
                return (f"Forward pass done (cost {self.current.cost:.4g}). Next: backward pass, output layer "
                        f"δ^{self.L}.")
            return f"Forward pass: layer {self.layer} computed. Next: layer {self.layer + 1}."
        if self.layer == 1:
            return "Backward pass done: every gradient is known. Next: apply the update."
        return f"Backward pass: δ^{self.layer} computed. Next: δ^{self.layer - 1}."

    # ------------------------------------------------------------------ batches
    @property
    def batch_size_now(self) -> int:
        """Examples in the current pass, or in the next one when none is under way."""
        if self.current is not None:
            return self.current.batch_size
        m = self.x_train.shape[1]
        return m if self.batch == "full" else 1 if self.batch == "sgd" else max(1, min(self.batch_size, m))

    def _next_batch(self) -> Array:
        m = self.x_train.shape[1]
        if self.batch == "full":
            return np.arange(m)
        size = 1 if self.batch == "sgd" else max(1, min(self.batch_size, m))
        if self._cursor + size > len(self._order):
            self._order = self._rng.permutation(m)
            self._cursor = 0
        idx = self._order[self._cursor:self._cursor + size]
        self._cursor += size
        return idx

    def _start_pass(self) -> Pass:
        if self._pending_decay is not None:
            self.net.weight_decay, self._pending_decay = self._pending_decay, None
        idx = self._next_batch()
        self.batch_indices = idx
        x = self.x_train[:, idx]
        y = self.y_train[:, idx]
        return empty_pass(self.net, x, y, self.learning_rate)

    # ------------------------------------------------------------------ controls
    def forward_one_layer(self) -> int:
        """Compute z^l and a^l for the next layer; returns l."""
        if not self.can_forward():
            raise StepError("The forward pass is complete: go backward next.")
        if self.phase == "ready":
            self.current = self._start_pass()
            self.phase, self.layer = "forward", 0
        p, l = self.current, self.layer + 1
        p.z[l], p.a[l] = self.net.forward_layer(l, p.a[l - 1])
        self.layer = l
        if l == self.L:
            p.cost = self.net.data_cost(p.z[l], p.a[l], p.y) + self.net.decay_cost()
        return l

    def backward_one_layer(self) -> int:
        """Compute δ^l, ∂C/∂W^l, ∂C/∂b^l and the update for the next layer down; returns l."""
        if not self.can_backward():
            if self.phase in ("ready", "forward"):
                raise StepError("Finish the forward pass first: δ needs every z and a.")
            raise StepError("The backward pass is complete: apply the update next.")
        l = self.L if self.phase == "forward" else self.layer - 1
        self.phase = "backward"
        self.net.backward_layer(self.current, l)
        self.layer = l
        return l

    def apply_update(self) -> None:
        """W ← W + ΔW and b ← b + Δb for every layer; the step is done."""
        if not self.can_update():
            raise StepError("The update is known only when the backward pass has reached layer 1.")
        self.net.apply_update(self.current)
        self._finish_step()

    def whole_step(self) -> Pass:
        """Finish the current step (or do a full one); returns its pass."""
        if self.phase == "ready":
            self.current = self._start_pass()
            p = self.current
            p.z, p.a = self.net.forward(p.x)
            p.cost = self.net.data_cost(p.z[self.L], p.a[self.L], p.y) + self.net.decay_cost()
            for l in range(self.L, 0, -1):
                self.net.backward_layer(p, l)
            self.net.apply_update(p)
            self._finish_step()
            return p
        while self.can_forward():
            self.forward_one_layer()
        while self.can_backward():
            self.backward_one_layer()
        p = self.current
        self.apply_update()
        return p

    def run(self, n_steps: int) -> int:
        """Up to n whole steps; stops early when the cost stops being a number. Returns steps done."""
        done = 0
        for _ in range(n_steps):
            if self.diverged_at is not None:
                break
            self.whole_step()
            done += 1
        return done

    def _finish_step(self) -> None:
        self.step += 1
        self.examples_seen += self.current.batch_size
        self.phase, self.layer = "ready", 0
        self._record()

    def _record(self) -> None:
        train_cost, train_acc = self.evaluate(self.x_train, self.y_train)
        if self.x_test is not None:
            test_cost, test_acc = self.evaluate(self.x_test, self.y_test)
        else:
            test_cost = test_acc = float("nan")
        self.history.add(self.step, train_cost, test_cost, train_acc, test_acc)
        if not np.isfinite(train_cost) and self.diverged_at is None:
            self.diverged_at = self.step

    def evaluate(self, x: Array, y: Array) -> tuple[float, float]:
        """Total cost (data + L2) and accuracy of the current weights on a set."""
        with np.errstate(all="ignore"):  # a diverged network is reported in words, not as warnings
            z, a = self.net.forward(x)
            cost = self.net.data_cost(z[self.L], a[self.L], y) + self.net.decay_cost()
            truth = y[0] >= 0.5 if y.shape[0] == 1 else y.argmax(axis=0)
            acc = float(np.mean(predicted_class(a[self.L]) == truth))
        return cost, acc


def load_dataset(name: str, seed: int = 0) -> Dataset:
    """A built-in data set by name (including the course exercise's single example)."""
    if name == "exercise":
        return exercise_dataset()
    if name in DATASETS:
        return make_dataset(name, seed)
    raise ValueError(f"'{name}' is not a built-in data set.")
