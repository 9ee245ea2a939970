"""Head-only training for the first epochs, then the whole network with a lower backbone learning rate.

The classifier's optimiser already has two parameter groups, ``head`` and ``backbone`` (the backbone's at
``lr * backbone_lr_factor``). This callback only decides, at the start of every training epoch, whether the
backbone takes part: while frozen its parameters get no gradient (Adam leaves parameters without a gradient
untouched) and its batch-norm layers stay in eval mode, so the pretrained running statistics are not
overwritten by the new data before the head has learned anything.

The decision depends on the epoch number alone, so a run resumed from ``last.ckpt`` in the middle of the
schedule freezes or unfreezes exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.strategies import DDPStrategy
from pytorch_lightning.utilities import rank_zero_info
from torch import nn


def split_head_and_backbone(network: nn.Module, head: nn.Module) -> tuple[list[nn.Parameter], list[nn.Module]]:
    """The backbone's parameters and its modules (everything in ``network`` outside ``head``)."""
    head_parameters = {id(p) for p in head.parameters()}
    head_modules = {id(m) for m in head.modules()}
    parameters = [p for p in network.parameters() if id(p) not in head_parameters]
    modules = [m for m in network.modules() if id(m) not in head_modules and m is not network]
    return parameters, modules


def trainable_parameter_count(module: nn.Module) -> int:
    """Number of parameter values that the optimiser will change."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class HeadOnlyThenUnfreeze(pl.Callback):
    """Trains only the classification head for ``head_only_epochs`` epochs, then everything.

    The learning rates come from the model's optimiser groups (``backbone`` at ``lr * backbone_lr_factor``),
    so this callback never touches the optimiser and resuming needs no extra state.

    Args:
        head_only_epochs: epochs (counted from 0) during which the backbone is frozen.
    """

    def __init__(self, head_only_epochs: int) -> None:
        if head_only_epochs < 0:
            raise ValueError(f"model.head_only_epochs must be 0 or more, got {head_only_epochs}")
        self.head_only_epochs = head_only_epochs
        self.frozen: bool | None = None  # None until the first epoch decides

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # DDP registers the parameters that need gradients when it wraps the model (after this hook). Frozen
        # parameters then produce no gradient, which plain DDP reports as an error at the next step; with
        # find_unused_parameters it skips them, and after unfreezing it reduces their gradients again.
        strategy = trainer.strategy
        if stage == "fit" and self.head_only_epochs > 0 and isinstance(strategy, DDPStrategy):
            kwargs = getattr(strategy, "_ddp_kwargs", None)
            if isinstance(kwargs, dict) and not kwargs.get("find_unused_parameters"):
                kwargs["find_unused_parameters"] = True
                rank_zero_info("Head-only epochs under DDP: find_unused_parameters=True so frozen layers are skipped")

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.apply(pl_module, frozen=trainer.current_epoch < self.head_only_epochs)

    def apply(self, pl_module: pl.LightningModule, frozen: bool) -> None:
        """Freeze (``frozen=True``) or unfreeze the backbone of ``pl_module.network``."""
        parameters, modules = split_head_and_backbone(pl_module.network, pl_module.head)
        for parameter in parameters:
            parameter.requires_grad_(not frozen)
            if frozen:
                parameter.grad = None
        for module in modules:
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.train(not frozen)
        if frozen != self.frozen:
            state = "frozen: training the head only" if frozen else "unfrozen: training the whole network"
            rank_zero_info(f"Backbone {state} ({trainable_parameter_count(pl_module.network):,} trainable parameters)")
        self.frozen = frozen
