"""The independent test protocol: figures checked by hand, bootstrap intervals, the same-seed refusal, the command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lightning_module.__main__ import main as command_line
from lightning_module.evaluation import model_quality
from lightning_module.evaluation.independent_set import (
    INDEPENDENT_SEED,
    IndependentSetError,
    check_independence,
    ensure_independent_set,
    training_data_of,
)
from lightning_module.evaluation.model_quality import (
    label_mapping,
    measure_checkpoint_quality,
    score_predictions,
    worst_defect,
)
from lightning_module.models.checkpoints import read_data_description
from lightning_module.models.networks import build_network
from lightning_module.training.bundle import bundle_run

CLASSES = ["Improbable", "Possible", "Probable"]


def _write_checkpoint(path: Path, data: dict | None = None, classes: list[str] = CLASSES, scenario: str = "Pr_Po_Im",
                      image_size: int = 32) -> Path:
    """An untrained TreeRisk checkpoint, with the data module's settings when ``data`` is given."""
    torch.manual_seed(0)
    network = build_network("seed_cnn", len(classes), "grayscale", image_size)
    content = {
        "state_dict": {f"network.{k}": v for k, v in network.state_dict().items()},
        "hyper_parameters": {"class_names": classes, "backbone": "seed_cnn", "image_size": image_size,
                             "color_mode": "grayscale", "scenario": scenario},
    }
    if data is not None:
        content["datamodule_hyper_parameters"] = data
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(content, path)
    return path


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 scenes of the independent seed at 64x48 (a few seconds)."""
    return ensure_independent_set(tmp_path_factory.mktemp("data"), n=40, width=64, height=48)


@pytest.fixture()
def seed0_checkpoint(tmp_path: Path) -> Path:
    return _write_checkpoint(tmp_path / "seed0.ckpt", {"source": "synthetic", "seed": 0, "synthetic_size": 458})


# ----------------------------------------------------------------------------------------- the figures by hand
def test_hand_computed_confusion_gives_the_expected_figures() -> None:
    truth = [0, 0, 0, 0, 1, 1, 2, 2]
    guess = [0, 0, 0, 1, 1, 0, 2, 1]
    worst = ["none", "none", "lean", "cavity", "lean", "lean", "cavity", "none"]
    report = score_predictions(CLASSES, truth, guess, baseline_class="Improbable", worst_defects=worst, resamples=50)

    assert report.confusion == ((3, 1, 0), (1, 1, 0), (0, 1, 1))
    # recalls 3/4, 1/2, 1/2; F1 = 2TP / (2TP + FP + FN): 6/8, 2/5, 2/3
    assert report.model.recall["Improbable"].value == pytest.approx(0.75)
    assert report.model.balanced_accuracy.value == pytest.approx((0.75 + 0.5 + 0.5) / 3)
    assert report.model.macro_f1.value == pytest.approx((0.75 + 0.4 + 2 / 3) / 3)
    assert report.model.probable_recall.value == pytest.approx(0.5)
    # always Improbable: recall 1, 0, 0; F1 8/12, 0, 0
    assert report.baseline.balanced_accuracy.value == pytest.approx(1 / 3)
    assert report.baseline.macro_f1.value == pytest.approx((8 / 12) / 3)
    assert report.ratio("balanced_accuracy") == pytest.approx(((0.75 + 0.5 + 0.5) / 3) / (1 / 3))

    rows = {row.defect: (row.photos, row.correct) for row in report.per_defect}
    assert rows["none"] == (3, 2) and rows["lean"] == (3, 2) and rows["cavity"] == (2, 1)
    assert rows["trunk_crack"] == (0, 0)
    not_met = [t.metric for t, _, met in report.targets() if not met]
    assert not_met == ["balanced_accuracy", "macro_f1", "probable_recall"]


def test_worst_defect_weighs_severity_by_the_defects_weight() -> None:
    # lean 0.55 x 0.5 = 0.275 < hanging branch 0.80 x 0.4 = 0.32
    assert worst_defect({"lean": 0.5, "hanging_branch": 0.4}) == "hanging_branch"
    assert worst_defect({"lean": 0.0, "cavity": 0.0}) == "none"


def test_bootstrap_interval_holds_the_estimate_and_is_deterministic() -> None:
    rng = np.random.default_rng(3)
    truth = rng.choice(3, size=300, p=[0.7, 0.18, 0.12])
    guess = np.where(rng.random(300) < 0.8, truth, rng.integers(0, 3, 300))
    first = score_predictions(CLASSES, truth, guess, baseline_class="Improbable", resamples=500, seed=0)
    again = score_predictions(CLASSES, truth, guess, baseline_class="Improbable", resamples=500, seed=0)
    assert first == again
    for estimate in (first.model.balanced_accuracy, first.model.macro_f1, *first.model.recall.values(),
                     first.baseline.macro_f1):
        assert estimate.low <= estimate.value <= estimate.high
    for estimate in (first.model.balanced_accuracy, first.model.macro_f1):  # 300 photos: a few points either side
        assert 0 < estimate.high - estimate.low < 0.2
    assert first.baseline.balanced_accuracy.low == pytest.approx(1 / 3)
    other = score_predictions(CLASSES, truth, guess, baseline_class="Improbable", resamples=500, seed=1)
    assert other.model.balanced_accuracy.value == first.model.balanced_accuracy.value
    assert other.model.balanced_accuracy.low != first.model.balanced_accuracy.low


# ----------------------------------------------------------------------------------------- classes and scenarios
def test_scenario_maps_labels_and_unscorable_classes_are_refused() -> None:
    labels = ["Improbable", "Possible", "Probable"]
    assert label_mapping(["Improbable", "Probable+Possible"], "PrPo_Im", labels) == {
        "Improbable": 0, "Probable": 1, "Possible": 1}
    assert label_mapping(["Improbable", "Probable"], "Pr_Im", labels) == {"Improbable": 0, "Probable": 1}
    assert label_mapping(CLASSES, "all", labels) == {"Improbable": 0, "Possible": 1, "Probable": 2}
    with pytest.raises(IndependentSetError, match="no photos of class"):
        label_mapping(["healthy", "sick"], "all", labels)
    with pytest.raises(IndependentSetError, match="Imminent"):
        label_mapping([*CLASSES, "Imminent"], "all", labels)


# ----------------------------------------------------------------------------------------- independence
def test_a_checkpoint_trained_on_the_sets_seed_is_refused(tmp_path: Path, tiny_set: Path) -> None:
    same = _write_checkpoint(tmp_path / "same.ckpt", {"source": "synthetic", "seed": INDEPENDENT_SEED,
                                                      "synthetic_size": 458})
    with pytest.raises(IndependentSetError, match=f"seed {INDEPENDENT_SEED}"):
        measure_checkpoint_quality(same, set_dir=tiny_set, resamples=20)
    # a folder made by `synth` with that seed is the same data under another name
    trained_on_the_set = _write_checkpoint(tmp_path / "folder.ckpt", {"source": str(tiny_set), "seed": 0})
    with pytest.raises(IndependentSetError, match="seed"):
        check_independence(training_data_of(trained_on_the_set))
    # an old model card that only names the data folder
    old_card = {"trained_on": "synthetic (data/synthetic-n458-seed9001)"}
    card = training_data_of(_write_checkpoint(tmp_path / "old.ckpt"), old_card)
    with pytest.raises(IndependentSetError):
        check_independence(card)


def test_unknown_training_data_is_a_warning_not_a_refusal(tmp_path: Path, tiny_set: Path,
                                                           seed0_checkpoint: Path) -> None:
    unknown = measure_checkpoint_quality(_write_checkpoint(tmp_path / "bare.ckpt"), set_dir=tiny_set, resamples=20)
    assert any("Could not tell which data" in w for w in unknown.warnings)
    assert "Could not tell" in unknown.format_text()

    known = measure_checkpoint_quality(seed0_checkpoint, set_dir=tiny_set, resamples=20, limit=25)
    assert not [w for w in known.warnings if "Could not tell" in w]
    assert known.training_data.seed == 0 and known.photos == 25 and known.data_seed == INDEPENDENT_SEED
    assert sum(map(sum, known.confusion)) == 25
    assert sum(row.photos for row in known.per_defect) == 25


def test_bundle_keeps_which_data_trained_the_model(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "demo" / "version_0"
    _write_checkpoint(run / "checkpoints" / "best.ckpt", {"source": "synthetic", "seed": 0, "synthetic_size": 6000,
                                                           "cache_dir": "/somewhere/local", "batch_size": 32})
    (run / "run.json").write_text(json.dumps({"status": "finished", "data": {"source": "synthetic"}}))
    out = bundle_run(run, tmp_path / "bundle.ckpt")
    assert read_data_description(out) == {"source": "synthetic", "seed": 0, "synthetic_size": 6000}
    assert json.loads(out.with_suffix(".json").read_text())["training_data"]["seed"] == 0
    assert training_data_of(out).seed == 0


# ----------------------------------------------------------------------------------------- the command
def test_quality_command_prints_the_tables_and_writes_json(tmp_path: Path, tiny_set: Path, seed0_checkpoint: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(model_quality, "ensure_independent_set", lambda root: tiny_set)  # not 1000 scenes in a test
    out = tmp_path / "quality.json"
    assert command_line(["quality", "--checkpoint", str(seed0_checkpoint), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    for heading in ("balanced accuracy", "macro F1", "majority baseline", "confusion", "recall per worst defect",
                    "Probable recall ≥ 0.95"):
        assert heading in printed
    report = json.loads(out.read_text())
    assert report["test_set"]["photos"] == 40 and report["baseline"]["class"] == "Improbable"
    assert set(report["model"]) == {"balanced_accuracy", "macro_f1", "recall", "probable_recall"}
    assert len(report["confusion"]["matrix"]) == 3 and report["bootstrap"]["resamples"] == 2000
    assert not math.isnan(report["model"]["balanced_accuracy"]["value"])


def test_quality_command_refuses_in_one_line(tmp_path: Path, tiny_set: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert command_line(["quality", "--checkpoint", str(tmp_path / "missing.ckpt")]) == 2
    assert capsys.readouterr().err.strip() == f"error: Checkpoint not found: {tmp_path / 'missing.ckpt'}"

    monkeypatch.setattr(model_quality, "ensure_independent_set", lambda root: tiny_set)
    same = _write_checkpoint(tmp_path / "same.ckpt", {"source": "synthetic", "seed": INDEPENDENT_SEED})
    assert command_line(["quality", "--checkpoint", str(same)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: This checkpoint was trained on synthetic scenes from seed 9001")
    assert "\n" not in error
