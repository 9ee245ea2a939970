"""TreeRisk: rate a tree's ISA likelihood of failure from a photo.

Subpackages: ``data`` (photos to tensors, splits), ``models`` (networks and the Lightning system),
``training`` (CLI, run directories), ``evaluation`` (metrics, predictor, explanations),
``synthetic`` (built-in roadside-tree scenes), ``backprop`` (the teaching engine).
"""

__version__ = "0.1.0"
