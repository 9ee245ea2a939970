"""The majority-class baseline and the collapsed-model test: the two numbers that keep a result honest."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score, multiclass_recall

COLLAPSE_SHARE = 0.95


def majority_baseline(train_labels: Sequence[int], eval_labels: Sequence[int], num_classes: int) -> dict[str, float | int]:
    """Scores of always predicting the training split's most common class, on ``eval_labels``.

    Computed with the same metric functions as the model's, so the two are comparable to the last digit.
    """
    train = np.asarray(train_labels, dtype=np.int64)
    target = torch.as_tensor(np.asarray(eval_labels, dtype=np.int64))
    majority = int(np.bincount(train, minlength=num_classes).argmax()) if len(train) else 0
    preds = torch.full_like(target, majority)
    if len(target) == 0:
        return {"class_index": majority, "acc": float("nan"), "bal_acc": float("nan"), "macro_f1": float("nan")}
    return {
        "class_index": majority,
        "acc": float(multiclass_accuracy(preds, target, num_classes, average="micro")),
        "bal_acc": float(multiclass_recall(preds, target, num_classes, average="macro")),
        "macro_f1": float(multiclass_f1_score(preds, target, num_classes, average="macro")),
    }


def collapse_check(predicted_per_class: Sequence[int], share: float = COLLAPSE_SHARE) -> tuple[bool, int, float]:
    """Whether at least ``share`` of all predictions fall in one class: ``(collapsed, that class, its share)``.

    ``predicted_per_class`` counts predictions per class (a confusion matrix's column sums).
    """
    counts = np.asarray(predicted_per_class, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return False, 0, 0.0
    top = int(counts.argmax())
    top_share = float(counts[top] / total)
    return top_share >= share, top, top_share
