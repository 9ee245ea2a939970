"""Networks from the course notes, with their hand-set numbers.

Weights are given per layer as W^l (n_l × n_{l−1}) and b^l, in the engine's notation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .datasets import Dataset


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    description: str
    hidden_layers: tuple[int, ...]
    activation: str
    output: str
    cost: str
    learning_rate: float
    dataset: str
    W: tuple | None = None  # hand weights W^1..W^L, or None to use the initialisation
    b: tuple | None = None
    init: str = "xavier"
    seed: int = 0
    batch: str = "full"
    settings: dict = field(default_factory=dict)

    @property
    def sizes(self) -> list[int]:
        return [2, *self.hidden_layers, 1]


# The course exercise: 2 inputs, 3 sigmoid hidden neurons, 1 sigmoid output, C = ½(y − a)², η = 0.01.
# The notes' input is not stated with the weights; we use x = (1, 0) with target y = 0 and zero biases.
# With these large weights the output is saturated (a ≈ 1 − 3.8·10⁻¹⁰), so the error is large but
# δ = (a − y)σ′(z) is tiny: exactly the learning slow-down of the quadratic cost the notes go on to fix
# with cross-entropy. Change x, y in the page's point table to explore.
EXERCISE_X = (1.0, 0.0)
EXERCISE_Y = 0
EXERCISE_W1 = ((1.0, 2.0), (3.0, 4.0), (5.0, 6.0))
EXERCISE_W2 = ((7.0, 8.0, 9.0),)

PRESETS: dict[str, Preset] = {
    "and": Preset(
        "and", "AND neuron (−30, 20, 20)",
        "One sigmoid neuron computes AND: a = σ(−30 + 20x₁ + 20x₂). Only x = (1, 1) gets z = 10 > 0.",
        (), "sigmoid", "sigmoid", "cross_entropy", 0.1, "and",
        W=(((20.0, 20.0),),), b=((-30.0,),)),
    "or": Preset(
        "or", "OR neuron (−10, 20, 20)",
        "One sigmoid neuron computes OR: a = σ(−10 + 20x₁ + 20x₂). Any input at 1 gives z ≥ 10.",
        (), "sigmoid", "sigmoid", "cross_entropy", 0.1, "or",
        W=(((20.0, 20.0),),), b=((-10.0,),)),
    "xnor": Preset(
        "xnor", "XNOR network (AND, NOR → OR)",
        "Hidden neuron 1 is x₁ AND x₂ (−30, 20, 20), hidden neuron 2 is (NOT x₁) AND (NOT x₂) (10, −20, −20), "
        "and the output ORs them (−10, 20, 20): 1 when the inputs agree.",
        (2,), "sigmoid", "sigmoid", "cross_entropy", 0.1, "xnor",
        W=(((20.0, 20.0), (-20.0, -20.0)), ((20.0, 20.0),)), b=((-30.0, 10.0), (-10.0,))),
    "exercise": Preset(
        "exercise", "Course exercise (w¹ = [[1,2],[3,4],[5,6]], w² = [7,8,9])",
        "Sigmoid everywhere, C = ½(y − a)², η = 0.01, zero biases, one example x = (1, 0) with y = 0. "
        "The output saturates near 1, so δ is tiny even though the error is large: the quadratic cost's "
        "learning slow-down.",
        (3,), "sigmoid", "sigmoid", "quadratic", 0.01, "exercise",
        W=(EXERCISE_W1, EXERCISE_W2), b=((0.0, 0.0, 0.0), (0.0,)), batch="sgd"),
    "xor_learn": Preset(
        "xor_learn", "Learn XOR from scratch (2-3-1 tanh)",
        "Nobody sets the weights: a 2-3-1 tanh network with cross-entropy learns XOR from random "
        "Xavier weights in a few hundred steps.",
        (3,), "tanh", "sigmoid", "cross_entropy", 0.5, "xor", init="xavier", seed=1),
    "spiral_relu": Preset(
        "spiral_relu", "Spiral with ReLU (2-16-16-1)",
        "Two interleaved spirals need a deeper network: ReLU hidden layers with He initialisation.",
        (16, 16), "relu", "sigmoid", "cross_entropy", 0.3, "spiral", init="he", seed=0),
}


def exercise_dataset() -> Dataset:
    """The exercise's single training example."""
    return Dataset("exercise", np.array([EXERCISE_X]), np.array([EXERCISE_Y]), None, None, 2)
