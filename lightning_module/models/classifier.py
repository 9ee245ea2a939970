"""The LightningModule: loss, metrics, the majority baseline beside them, and the collapse flag.

Every hyper-parameter that prediction needs (classes, scenario, image size, colour mode, backbone) is an
``__init__`` argument, saved with ``save_hyperparameters``; the normalisation lives in the network's buffers.
So a checkpoint alone rebuilds the predictor.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from lightning_module.models.baseline import COLLAPSE_SHARE, collapse_check, majority_baseline
from lightning_module.models.checkpoints import read_checkpoint
from lightning_module.models.finetuning import HeadOnlyThenUnfreeze
from lightning_module.models.networks import build_network, head_module


LR_SCHEDULES = ("constant", "one_cycle")

# Every value logged at epoch end comes from a torchmetrics object, which already syncs its state across
# processes before computing; Lightning's advice to add sync_dist=True would only average equal numbers.
warnings.filterwarnings("ignore", message=r".*when logging on epoch level in distributed setting.*")


def _epoch_metrics(num_classes: int) -> MetricCollection:
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "bal_acc": MulticlassRecall(num_classes, average="macro"),
            "macro_precision": MulticlassPrecision(num_classes, average="macro"),
            "macro_recall": MulticlassRecall(num_classes, average="macro"),
            "macro_f1": MulticlassF1Score(num_classes, average="macro"),
        }
    )


class TrainingTally:
    """The training steps' loss and confusion counts for one epoch, kept on the model's device.

    Updating it never waits for the GPU. torchmetrics' per-step input checks and its bincount read values back
    to the host, and each such read stalls the CPU until the GPU has caught up, so it can no longer queue the
    next step's work ahead: a fast GPU fed by a slow CPU then idles between steps. The epoch's metrics come
    from the counts at the end, with torchmetrics' definitions (see :func:`metrics_from_confusion`).

    Deliberately not an ``nn.Module`` with buffers: DDP copies rank zero's buffers to every process at each
    forward pass, which would overwrite each process's own counts.
    """

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classes = torch.arange(num_classes)
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
        self.loss_sum = torch.zeros(())
        self.photos = 0

    @torch.no_grad()
    def update(self, loss: torch.Tensor, predicted: torch.Tensor, labels: torch.Tensor) -> None:
        if self.confusion.device != labels.device:
            device = labels.device
            self.classes, self.confusion, self.loss_sum = (t.to(device) for t in (self.classes, self.confusion, self.loss_sum))
        truth = labels[:, None, None] == self.classes[None, :, None]
        guess = predicted[:, None, None] == self.classes[None, None, :]
        self.confusion += (truth & guess).sum(0)
        self.loss_sum += loss.detach().float() * len(labels)
        self.photos += len(labels)

    def reset(self) -> None:
        self.confusion.zero_()
        self.loss_sum.zero_()
        self.photos = 0


def metrics_from_confusion(confusion: torch.Tensor) -> dict[str, torch.Tensor]:
    """acc, bal_acc, macro precision/recall/F1 from counts (rows true, columns predicted), as torchmetrics
    computes them: a zero denominator gives 0, and classes neither present nor predicted are left out of the
    macro means."""
    counts = confusion.double()
    tp = counts.diagonal()
    fn = counts.sum(1) - tp
    fp = counts.sum(0) - tp

    def ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
        return torch.where(denominator > 0, numerator / denominator.clamp(min=1), torch.zeros_like(numerator))

    recall, precision, f1 = ratio(tp, tp + fn), ratio(tp, tp + fp), ratio(2 * tp, 2 * tp + fp + fn)
    seen = (tp + fp + fn > 0).double()

    def macro(per_class: torch.Tensor) -> torch.Tensor:
        return (per_class * seen).sum() / seen.sum().clamp(min=1)

    values = {
        "acc": tp.sum() / counts.sum().clamp(min=1),
        "bal_acc": macro(recall),
        "macro_precision": macro(precision),
        "macro_recall": macro(recall),
        "macro_f1": macro(f1),
    }
    return {k: v.float() for k, v in values.items()}


def _per_class_metrics(num_classes: int) -> MetricCollection:
    return MetricCollection(
        {
            "precision": MulticlassPrecision(num_classes, average=None),
            "recall": MulticlassRecall(num_classes, average=None),
            "f1": MulticlassF1Score(num_classes, average=None),
        }
    )


class LikelihoodOfFailureClassifier(pl.LightningModule):
    """Classifies a tree photo into likelihood-of-failure classes.

    Args:
        class_names: class names in index order (linked from the data module).
        scenario, image_size, color_mode: how the data was prepared (linked; stored for prediction).
        backbone: ``seed_cnn``, ``efficientnet_lite0``, ``resnet18``, ``resnet50``, ``googlenet``, ``inception_v3``.
        pretrained: ``none``, ``imagenet``, or the path of one of our checkpoints to transfer from (its head
            is replaced when the classes differ).
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        class_weighted_loss: weight the loss by inverse class frequency in the training split.
        head_only_epochs: train only the head for this many epochs, then unfreeze the backbone (the
            ``HeadOnlyThenUnfreeze`` callback, added by the model itself).
        backbone_lr_factor: learning-rate multiplier for the backbone once it is unfrozen (used when
            ``head_only_epochs`` > 0).
        channels_last: keep the network and its inputs in channels-last (NHWC) memory order. On by default:
            on the CPU a training step takes 0.7x the time for seed_cnn and EfficientNet-Lite0 (oneDNN works in
            NHWC), and on a GPU convolutions are faster with mixed precision.
        collapse_share: share of validation predictions in one class that flags the model as collapsed.
        lr_schedule: ``constant`` (the lab's recipe: Adam at ``lr`` throughout) or ``one_cycle`` (warm up to
            ``lr`` over the first ``warmup_share`` of the steps, then cosine down to near zero: reaches a
            better optimum in the same number of epochs, which is what a CPU budget needs).
        warmup_share: share of all training steps spent warming up, with ``one_cycle``.
        label_smoothing: cross-entropy label smoothing (0 = none); keeps a long run from growing
            over-confident on the easy majority class.
        class_cost: extra loss weight per class name, on top of the class weighting (e.g. ``{Probable: 1.5}``):
            how much worse it is to miss that class. Missing a probable failure is the costly error; a
            cost above 1 trades a few false alarms for fewer misses of that class.
        compile: run the network through ``torch.compile`` for training, validation, testing and prediction
            (off by default: compiling takes minutes on a CPU and pays off only on long runs, mostly on a GPU).
            The network is compiled in place, so its parameter names, and the checkpoints, are the same.
    """

    def __init__(
        self,
        class_names: list[str],
        scenario: str = "Pr_Po_Im",
        image_size: int = 108,
        color_mode: str = "grayscale",
        backbone: str = "seed_cnn",
        pretrained: str = "none",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        class_weighted_loss: bool = True,
        head_only_epochs: int = 0,
        backbone_lr_factor: float = 0.1,
        collapse_share: float = COLLAPSE_SHARE,
        channels_last: bool = True,
        lr_schedule: str = "constant",
        warmup_share: float = 0.15,
        label_smoothing: float = 0.0,
        class_cost: dict[str, float] | None = None,
        compile: bool = False,
    ) -> None:
        super().__init__()
        if len(class_names) < 2:
            raise ValueError(f"model.class_names: need at least 2 classes, got {class_names}")
        if lr <= 0:
            raise ValueError(f"model.lr must be positive, got {lr}")
        if head_only_epochs < 0:
            raise ValueError(f"model.head_only_epochs must be 0 or more, got {head_only_epochs}")
        if backbone_lr_factor <= 0:
            raise ValueError(f"model.backbone_lr_factor must be positive, got {backbone_lr_factor}")
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"model.lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {lr_schedule!r}")
        if not 0.0 < warmup_share < 1.0:
            raise ValueError(f"model.warmup_share must be between 0 and 1, got {warmup_share}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"model.label_smoothing must be from 0 up to (not including) 1, got {label_smoothing}")
        unknown = set(class_cost or {}) - set(class_names)
        if unknown:
            raise ValueError(f"model.class_cost names classes the data does not have: {sorted(unknown)}")
        if any(not cost > 0 for cost in (class_cost or {}).values()):
            raise ValueError(f"model.class_cost values must be positive, got {class_cost}")
        if pretrained not in ("none", "imagenet") and not Path(pretrained).expanduser().is_file():
            raise ValueError(f"model.pretrained must be 'none', 'imagenet' or an existing checkpoint file, got {pretrained!r}")
        self.save_hyperparameters()
        self.class_names = list(class_names)
        num_classes = len(class_names)
        self.network = build_network(backbone, num_classes, color_mode, image_size, pretrained == "imagenet")
        if pretrained not in ("none", "imagenet"):
            self.transferred_from = transfer_weights(self.network, Path(pretrained).expanduser(), backbone)
        self.register_buffer("loss_weights", torch.ones(num_classes))
        self.train_tally = TrainingTally(num_classes)
        self.val_metrics = _epoch_metrics(num_classes)
        self.val_per_class = _per_class_metrics(num_classes)
        self.val_confusion = MulticlassConfusionMatrix(num_classes)
        self.val_loss = MeanMetric()
        self.test_metrics = _epoch_metrics(num_classes)
        self.test_per_class = _per_class_metrics(num_classes)
        self.test_confusion = MulticlassConfusionMatrix(num_classes)
        self.test_loss = MeanMetric()
        # Filled at each validation epoch end for the run recorder (rank zero writes them).
        self.val_outputs: list[torch.Tensor] = []
        self.last_val_confusion: np.ndarray | None = None
        self.last_val_predictions: np.ndarray | None = None  # (N, 3): dataset index, predicted class, confidence
        self.last_test_confusion: np.ndarray | None = None
        self.baseline: dict[str, float | int] = {}
        self.test_baseline: dict[str, float | int] = {}
        self.collapsed: tuple[bool, int, float] = (False, 0, 0.0)

    # ------------------------------------------------------------------------------------------ set-up
    def setup(self, stage: str) -> None:
        if self.hparams.get("compile") and not getattr(self, "_network_compiled", False):
            self.network.compile()  # nn.Module.compile: in place, so state_dict keys get no "_orig_mod." prefix
            self._network_compiled = True
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is None or getattr(datamodule, "train_labels", None) is None:
            return
        if list(datamodule.classes) != self.class_names:
            raise ValueError(f"The data's classes {datamodule.classes} differ from the model's {self.class_names}")
        weights = torch.ones(len(self.class_names))
        if self.hparams.class_weighted_loss and datamodule.balance == "class_weights":
            weights = datamodule.class_weights.clone()
        for name, cost in (self.hparams.get("class_cost") or {}).items():
            weights[self.class_names.index(name)] *= cost
        self.loss_weights.copy_(weights)  # set, not multiplied: setup runs once per stage
        self.baseline = majority_baseline(datamodule.train_labels, datamodule.val_labels, len(self.class_names))
        test_set = datamodule.test_set
        if test_set is not None:
            self.test_baseline = majority_baseline(datamodule.train_labels, test_set.labels.numpy(), len(self.class_names))

    @property
    def head(self) -> nn.Module:
        """The final classification layer (trained alone during ``head_only_epochs``)."""
        return head_module(self.network, self.hparams.backbone)

    def configure_callbacks(self) -> list[pl.Callback]:
        if self.hparams.head_only_epochs > 0:
            return [HeadOnlyThenUnfreeze(self.hparams.head_only_epochs)]
        return []

    def on_fit_start(self) -> None:
        # Checkpoints from before the option read as off: their hparams lack it.
        if self.hparams.get("channels_last"):
            self.network.to(memory_format=torch.channels_last)
            self.network.channels_last = True

    # ------------------------------------------------------------------------------------------ steps
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class probabilities for a batch of uint8 (or [0, 1] float) images."""
        return torch.softmax(self.network(images), dim=1)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(
            logits, labels, weight=self.loss_weights, label_smoothing=self.hparams.get("label_smoothing", 0.0)
        )

    def _update_epoch_loss(self, metric: MeanMetric, logits: torch.Tensor, labels: torch.Tensor) -> None:
        # Per photo, weighted by its class weight: the epoch value is then the weighted loss of the whole set,
        # whatever the batches (and however the photos are shared among DDP processes).
        per_photo = nn.functional.cross_entropy(logits.float(), labels, reduction="none")
        metric.update(per_photo, weight=self.loss_weights[labels])

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels, _ = batch
        logits = self.network(images)
        loss = self._loss(logits, labels)
        self.train_tally.update(loss, logits.detach().argmax(1), labels)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels, indices = batch
        logits = self.network(images)
        self._update_epoch_loss(self.val_loss, logits, labels)
        probabilities = torch.softmax(logits.float(), dim=1)
        confidence, predicted = probabilities.max(1)
        self.val_metrics.update(predicted, labels)
        self.val_per_class.update(predicted, labels)
        self.val_confusion.update(predicted, labels)
        self.val_outputs.append(torch.stack([indices.float(), predicted.float(), confidence], 1))

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels, _ = batch
        logits = self.network(images)
        self._update_epoch_loss(self.test_loss, logits, labels)
        predicted = logits.argmax(1)
        self.test_metrics.update(predicted, labels)
        self.test_per_class.update(predicted, labels)
        self.test_confusion.update(predicted, labels)

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        images, _, indices = batch
        return {"indices": indices, "probabilities": self(images)}

    # ------------------------------------------------------------------------------------------ epoch ends
    def on_validation_epoch_end(self) -> None:
        # Train and validation metrics of an epoch are logged together so metrics.csv gets one row per epoch.
        if not self.trainer.sanity_checking and self.train_tally.photos > 0:
            self._log_training_epoch()
        values = {f"val/{k}": v for k, v in self.val_metrics.compute().items()}
        values["val/loss"] = self.val_loss.compute()
        for metric, per_class in self.val_per_class.compute().items():
            values.update({f"val/{metric}/{name}": per_class[i] for i, name in enumerate(self.class_names)})
        if self.baseline:
            values.update({f"baseline/{k}": float(v) for k, v in self.baseline.items() if k != "class_index"})
        self.log_dict(values)
        confusion = self.val_confusion.compute().cpu().numpy()
        self.last_val_confusion = confusion
        self.collapsed = collapse_check(confusion.sum(0), self.hparams.collapse_share)
        self.log("val/collapsed", float(self.collapsed[0]))
        outputs = torch.cat(self.val_outputs) if self.val_outputs else torch.zeros(0, 3, device=self.device)
        self.last_val_predictions = self._gather_rows(outputs).cpu().numpy()
        self.val_outputs.clear()
        self.val_metrics.reset()
        self.val_per_class.reset()
        self.val_confusion.reset()
        self.val_loss.reset()

    def on_test_epoch_end(self) -> None:
        values = {f"test/{k}": v for k, v in self.test_metrics.compute().items()}
        values["test/loss"] = self.test_loss.compute()
        for metric, per_class in self.test_per_class.compute().items():
            values.update({f"test/{metric}/{name}": per_class[i] for i, name in enumerate(self.class_names)})
        if self.test_baseline:
            values.update({f"test_baseline/{k}": float(v) for k, v in self.test_baseline.items() if k != "class_index"})
        self.log_dict(values)
        self.last_test_confusion = self.test_confusion.compute().cpu().numpy()
        for metric in (self.test_metrics, self.test_per_class, self.test_confusion, self.test_loss):
            metric.reset()

    def _log_training_epoch(self) -> None:
        tally = self.train_tally
        confusion, loss_sum = tally.confusion, tally.loss_sum
        photos = torch.tensor(float(tally.photos), device=loss_sum.device)
        if self.trainer.world_size > 1:  # every process counted its own share of the batches
            strategy = self.trainer.strategy
            confusion, loss_sum, photos = (strategy.reduce(t.clone(), reduce_op="sum") for t in (confusion, loss_sum, photos))
        self.log("train/loss", loss_sum / photos)
        self.log_dict({f"train/{k}": v for k, v in metrics_from_confusion(confusion).items()})
        tally.reset()

    def _gather_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """Every process's rows, concatenated. Processes may hold different counts (the validation sampler
        does not pad), so rows are padded to the longest with index -1 for the gather and dropped after."""
        if self.trainer.world_size <= 1:
            return rows
        counts = self.all_gather(torch.tensor([len(rows)], device=rows.device)).reshape(-1)
        padded = torch.full((int(counts.max()), rows.shape[1]), -1.0, device=rows.device, dtype=rows.dtype)
        padded[: len(rows)] = rows
        gathered = self.all_gather(padded).reshape(-1, rows.shape[1])
        return gathered[gathered[:, 0] >= 0]

    # ------------------------------------------------------------------------------------------ optimiser
    def configure_optimizers(self) -> torch.optim.Optimizer | dict[str, Any]:
        head = self.head
        head_ids = {id(p) for p in head.parameters()}
        backbone_params = [p for p in self.network.parameters() if id(p) not in head_ids]
        groups = [{"params": list(head.parameters()), "lr": self.hparams.lr, "name": "head"}]
        if backbone_params:
            factor = self.hparams.backbone_lr_factor if self.hparams.head_only_epochs > 0 else 1.0
            groups.append({"params": backbone_params, "lr": self.hparams.lr * factor, "name": "backbone"})
        optimizer = torch.optim.Adam(groups, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        if self.hparams.get("lr_schedule", "constant") == "constant":
            return optimizer
        # One cycle per fit: the peak of each group is its own learning rate (the head's and the backbone's).
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=[group["lr"] for group in groups],
            total_steps=max(2, int(self.trainer.estimated_stepping_batches)),
            pct_start=self.hparams.warmup_share,
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def transfer_weights(network: nn.Module, checkpoint: Path, backbone: str) -> dict[str, Any]:
    """Load a TreeRisk checkpoint's network weights into ``network``; keep the new head if shapes differ."""
    state, hparams = read_checkpoint(checkpoint)
    if hparams.get("backbone") != backbone:
        raise ValueError(
            f"model.pretrained: {checkpoint} holds a {hparams.get('backbone')} network, but model.backbone is {backbone}"
        )
    prefix = "network."
    # The operating point (decision_bias) belongs to the source model's deployment, not to what it learnt.
    weights = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix) and k != prefix + "decision_bias"}
    own = network.state_dict()
    compatible = {k: v for k, v in weights.items() if k in own and own[k].shape == v.shape}
    dropped = sorted(set(weights) - set(compatible))
    network.load_state_dict(compatible, strict=False)
    return {"checkpoint": str(checkpoint), "classes": hparams.get("class_names"), "not_transferred": dropped}
