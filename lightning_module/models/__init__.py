"""What a model is: the backbone catalogue (``backbones``, no torch), the networks built from it (``networks``),
the LightningModule (``classifier``), its fine-tuning schedule, the majority baseline and safe checkpoint reading.

This file imports nothing, so ``lightning_module.models.backbones`` answers questions about backbones without
loading torch (the Train page, the launcher and the grid rely on that).
"""
