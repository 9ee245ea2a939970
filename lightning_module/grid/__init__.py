"""The experiment grid: scenarios × image sizes × colour modes × backbones × pretrained, each cross-validated.

``python -m lightning_module grid --config configs/grid.yaml``; see the README, "Experiment grid".
"""
