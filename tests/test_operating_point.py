"""The operating point: the costly class's bias is the smallest that reaches its recall target, and it travels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lightning_module.evaluation.operating_point import MAX_BIAS, _recalls, choose_bias, choose_offsets
from lightning_module.evaluation.predictor import load_predictor
from lightning_module.models.classifier import LikelihoodOfFailureClassifier
from lightning_module.models.networks import build_network

CLASSES = ["Improbable", "Possible", "Probable"]


def test_the_smallest_bias_that_reaches_the_target_recall_is_chosen() -> None:
    # Four Probable photos; two are called Possible by margins of 0.3 and 0.7 logits.
    logits = np.array([[0, 1.0, 0.7], [0, 1.0, 0.3], [0, 0, 2.0], [0, 0, 2.0], [0, 2.0, 0]])
    truth = np.array([2, 2, 2, 2, 1])
    assert choose_bias(logits, truth, costly=2, target=0.75) == pytest.approx(0.35)  # 0.3 + the first step past it
    assert choose_bias(logits, truth, costly=2, target=1.0) == pytest.approx(0.75)
    assert choose_bias(logits, truth, costly=2, target=0.5) == 0.0  # already there: no bias
    assert choose_bias(logits * 100, truth, costly=2, target=1.0) == MAX_BIAS  # a weak model is not pushed further


def test_the_bias_is_added_to_the_logits_and_a_checkpoint_without_it_loads_with_zeros(tmp_path: Path) -> None:
    torch.manual_seed(0)
    network = build_network("seed_cnn", 3, "grayscale", 32).eval()
    images = torch.randint(0, 255, (2, 1, 32, 32), dtype=torch.uint8)
    plain = network(images)
    network.decision_bias[2] = 1.5
    assert torch.allclose(network(images) - plain, torch.tensor([0.0, 0.0, 1.5]))

    old_state = {f"network.{k}": v for k, v in network.state_dict().items() if k != "decision_bias"}
    path = tmp_path / "old.ckpt"
    torch.save({"state_dict": old_state, "hyper_parameters": {"class_names": CLASSES, "backbone": "seed_cnn",
                "image_size": 32, "color_mode": "grayscale", "scenario": "Pr_Po_Im"}}, path)
    assert torch.equal(load_predictor(path).network.decision_bias, torch.zeros(3))


@pytest.mark.parametrize(
    ("options", "setting"),
    [({"lr_schedule": "sometimes"}, "model.lr_schedule"), ({"label_smoothing": 1.0}, "model.label_smoothing"),
     ({"class_cost": {"Imminent": 2.0}}, "model.class_cost"), ({"class_cost": {"Probable": 0}}, "model.class_cost"),
     ({"warmup_share": 0.0}, "model.warmup_share")],
)
def test_bad_recipe_settings_are_refused_naming_the_setting(options: dict, setting: str) -> None:
    with pytest.raises(ValueError, match=setting):
        LikelihoodOfFailureClassifier(CLASSES, image_size=32, **options)


def test_a_neighbour_offset_wins_back_balanced_accuracy_while_the_costly_recall_holds() -> None:
    # Probable photos (class 2) sit just behind Improbable; Possible photos (class 1) just ahead of Probable. The
    # Probable bias that reaches full Probable recall also turns most Possible photos into Probable, unless Possible
    # is raised with it.
    rng = np.random.default_rng(0)
    probable = np.column_stack([rng.uniform(0.2, 0.8, 50), np.full(50, -3.0), np.zeros(50)])
    possible = np.column_stack([np.full(50, -3.0), np.zeros(50), rng.uniform(-1.0, -0.3, 50)])
    improbable = np.column_stack([np.full(50, 3.0), np.zeros(50), np.zeros(50)])
    logits, truth = np.vstack([probable, possible, improbable]), np.repeat([2, 1, 0], 50)

    bias = choose_bias(logits, truth, costly=2, target=1.0)
    alone = np.array([0.0, 0.0, bias])
    offsets = choose_offsets(logits, truth, costly=2, target=1.0)
    recall_alone, recall_both = _recalls(logits + alone, truth, 3), _recalls(logits + offsets, truth, 3)
    assert recall_both[2] == 1.0, "the costly class keeps its target recall"
    assert recall_both.mean() > recall_alone.mean() + 0.1, (alone, offsets, recall_alone, recall_both)
    assert offsets[0] == 0.0 and abs(offsets).max() <= MAX_BIAS


def test_offsets_stay_at_zero_when_the_model_already_separates_the_classes() -> None:
    logits = np.eye(3)[np.repeat([0, 1, 2], 10)] * 4.0
    truth = np.repeat([0, 1, 2], 10)
    assert np.array_equal(choose_offsets(logits, truth, costly=2), np.zeros(3))
