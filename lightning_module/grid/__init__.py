"""The experiment grid: scenarios × image sizes × colour modes × backbones × pretrained, each cross-validated.

``python -m lightning_module grid --config configs/grid.yaml``; see docs/GRID.md. Its folds train on this machine,
a Ray cluster or a Slurm job array (``executors/``, ``--executor``): docs/SCALE_OUT.md.
"""
