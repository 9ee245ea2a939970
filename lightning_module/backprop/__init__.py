"""The teaching engine behind the backprop visualizer: small dense networks in the course notation.

Modules, each with one job:

- ``network``: forward pass, backward pass and update, keeping every z, a, δ, ∂C/∂W, ∂C/∂b, ΔW
  (neurons are rows, examples are columns; lists are indexed by layer, ``W[l]`` is W^l).
- ``activations``, ``costs``: f, f′, C and ∇_a C; which output/cost pairs make sense.
- ``stepper``: the forward-one-layer / backward-one-layer / apply-update state machine.
- ``gradcheck``: two-sided finite differences against backprop.
- ``datasets``, ``presets``, ``config``: toy data and CSV parsing, the course's networks, the
  page configuration and its URL round trip.
- ``expression``: safe scalar expressions as micrograd-style graphs, stepped backward node by node.
- ``formulas``, ``plots``, ``export``, ``diagnosis``: LaTeX with numbers, plotly figures, JSON and
  PyTorch export, and plain-language explanations of a network that does not learn.
"""

from .network import Network, Pass
from .stepper import Stepper

__all__ = ["Network", "Pass", "Stepper"]
