"""The training metrics are counted on the device without host round-trips; they must still be exactly what
torchmetrics reports for the same predictions."""

from __future__ import annotations

import pytest
import torch
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score, MulticlassPrecision, MulticlassRecall

from lightning_module.models.classifier import LikelihoodOfFailureClassifier, TrainingTally, metrics_from_confusion


def _reference(predicted: torch.Tensor, labels: torch.Tensor, classes: int) -> dict[str, float]:
    return {
        "acc": float(MulticlassAccuracy(classes, average="micro")(predicted, labels)),
        "bal_acc": float(MulticlassRecall(classes, average="macro")(predicted, labels)),
        "macro_recall": float(MulticlassRecall(classes, average="macro")(predicted, labels)),
        "macro_precision": float(MulticlassPrecision(classes, average="macro")(predicted, labels)),
        "macro_f1": float(MulticlassF1Score(classes, average="macro")(predicted, labels)),
    }


@pytest.mark.parametrize("classes", [2, 3, 4])
def test_epoch_metrics_from_counts_equal_torchmetrics(classes: int) -> None:
    generator = torch.Generator().manual_seed(classes)
    for trial in range(40):
        n = int(torch.randint(1, 40, (1,), generator=generator))
        labels = torch.randint(0, classes, (n,), generator=generator)
        predicted = torch.randint(0, classes, (n,), generator=generator)
        if trial % 3 == 0:  # a class the model never predicts (a collapsed model)
            predicted = torch.where(predicted == classes - 1, torch.zeros_like(predicted), predicted)
        if trial % 4 == 0:  # a class absent from the batch
            labels = torch.where(labels == 1, torch.zeros_like(labels), labels)
        tally = TrainingTally(classes)
        half = n // 2  # counted over two steps, as in training
        tally.update(torch.tensor(0.0), predicted[:half], labels[:half])
        tally.update(torch.tensor(0.0), predicted[half:], labels[half:])
        ours = metrics_from_confusion(tally.confusion)
        for key, value in _reference(predicted, labels, classes).items():
            assert float(ours[key]) == pytest.approx(value, abs=1e-6), (trial, key)


def test_tally_weights_each_step_loss_by_its_photos_and_resets() -> None:
    tally = TrainingTally(3)
    tally.update(torch.tensor(1.0), torch.tensor([0, 1]), torch.tensor([0, 0]))
    tally.update(torch.tensor(4.0), torch.tensor([2]), torch.tensor([2]))
    assert tally.photos == 3 and float(tally.loss_sum / tally.photos) == pytest.approx(2.0)
    assert tally.confusion.tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 1]]
    tally.reset()
    assert tally.photos == 0 and int(tally.confusion.sum()) == 0


def test_the_counts_are_not_module_buffers_that_ddp_would_overwrite() -> None:
    # DDP broadcasts rank zero's buffers to every process before each forward pass; per-process counts kept
    # in buffers would be replaced by rank zero's and summed twice at the epoch's end.
    model = LikelihoodOfFailureClassifier(["a", "b", "c"], image_size=32)
    buffers = {id(b) for b in model.buffers()}
    tally = model.train_tally
    assert all(id(t) not in buffers for t in (tally.confusion, tally.loss_sum, tally.classes))
