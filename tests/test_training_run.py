"""A short training run through the CLI leaves every artefact the dashboard and a predictor need."""

from __future__ import annotations

import csv
import json
import pickle
import socket
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from lightning_module.__main__ import main as cli
from lightning_module.data.imaging import load_square
from lightning_module.models.baseline import collapse_check, majority_baseline
from lightning_module.models.checkpoints import CheckpointError
from lightning_module.evaluation.predictor import load_predictor
from lightning_module.models.classifier import LikelihoodOfFailureClassifier
from lightning_module.training.run_files import validate_run_name


def _fit(photo_folder: Path, runs: Path, *extra: str, epochs: int = 2) -> Path:
    cli(
        [
            "fit",
            f"--data.source={photo_folder}",
            "--data.image_size=32",
            "--data.batch_size=8",
            f"--trainer.max_epochs={epochs}",
            "--trainer.enable_progress_bar=false",
            f"--trainer.logger.init_args.save_dir={runs}",
            "--trainer.logger.init_args.name=tiny",
            *extra,
        ]
    )
    versions = sorted((runs / "tiny").glob("version_*"))
    return versions[-1]


@pytest.fixture(scope="module")
def finished_run(photo_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _fit(photo_folder, tmp_path_factory.mktemp("runs"), "--data.cache_dir=null")


def test_fit_writes_every_artefact(finished_run: Path) -> None:
    for name in ("run.json", "config.yaml", "hparams.yaml", "metrics.csv", "data_report.json",
                 "checkpoints/best.ckpt", "checkpoints/last.ckpt", "confusion/epoch_0.json", "confusion/epoch_1.json",
                 "predictions/val_epoch_1.csv"):
        assert (finished_run / name).is_file(), name
    assert not list(finished_run.rglob("*.tmp")), "no temporary files left behind"


def test_run_json_tells_the_whole_story(finished_run: Path) -> None:
    record = json.loads((finished_run / "run.json").read_text())
    assert record["status"] == "finished"
    assert [h["status"] for h in record["status_history"]] == ["running", "finished"]
    assert record["classes"] == ["Improbable", "Possible", "Probable"]
    assert record["scenario"] == "Pr_Po_Im" and record["image_size"] == 32 and record["color_mode"] == "grayscale"
    assert sum(record["split_sizes"]["train"].values()) + sum(record["split_sizes"]["val"].values()) + sum(
        record["split_sizes"]["test"].values()) == 34
    baseline = record["majority_baseline"]
    assert baseline["class"] == "Improbable"
    val = record["split_sizes"]["val"]
    assert baseline["acc"] == pytest.approx(val["Improbable"] / sum(val.values()), abs=1e-6)
    assert baseline["bal_acc"] == pytest.approx(1 / 3, abs=1e-6)
    assert record["best"]["val/bal_acc"] == max(record["best"]["val/bal_acc"], record["last"]["val/bal_acc"])
    epoch_times = record["timings"]["epoch_seconds"]
    assert len(epoch_times) == 2 and record["current_epoch"] == 1, "one time per epoch"
    assert isinstance(record["collapsed"], bool)
    # Where it trained and when it last said so: how a dashboard on another machine tells running from crashed.
    assert record["host"] == socket.gethostname()
    assert datetime.fromisoformat(record["heartbeat"]) >= datetime.fromisoformat(record["timings"]["started"])


def test_metrics_csv_has_one_row_per_epoch_with_baseline(finished_run: Path) -> None:
    rows = list(csv.DictReader((finished_run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    for column in ("train/loss", "train/bal_acc", "train/macro_f1", "val/loss", "val/acc", "val/bal_acc",
                   "val/macro_f1", "val/macro_precision", "val/macro_recall", "val/f1/Probable",
                   "val/precision/Possible", "val/recall/Improbable", "baseline/bal_acc"):
        assert all(r[column] != "" for r in rows), column


def test_confusion_matrix_and_predictions_agree(finished_run: Path) -> None:
    confusion = json.loads((finished_run / "confusion" / "epoch_1.json").read_text())
    matrix = np.array(confusion["matrix"])
    predictions = list(csv.DictReader((finished_run / "predictions" / "val_epoch_1.csv").open()))
    assert matrix.sum() == len(predictions) == sum(json.loads((finished_run / "run.json").read_text())["split_sizes"]["val"].values())
    classes = confusion["classes"]
    for row in predictions:
        assert Path(row["path"]).is_file() and 0 <= float(row["confidence"]) <= 1
    rebuilt = np.zeros_like(matrix)
    for row in predictions:
        rebuilt[classes.index(row["true"]), classes.index(row["pred"])] += 1
    assert (rebuilt == matrix).all()


def test_saved_config_reproduces_the_run_directory(finished_run: Path) -> None:
    config = yaml.safe_load((finished_run / "config.yaml").read_text())
    assert config["trainer"]["logger"]["init_args"]["version"] == int(finished_run.name.split("_")[1])


def test_predictor_round_trip_matches_the_module(finished_run: Path, photo_folder: Path) -> None:
    checkpoint = finished_run / "checkpoints" / "best.ckpt"
    predictor = load_predictor(checkpoint)
    assert predictor.classes == ["Improbable", "Possible", "Probable"]
    assert (predictor.image_size, predictor.color_mode, predictor.backbone) == (32, "grayscale", "seed_cnn")
    photo = next((photo_folder / "Probable").glob("*.jpg"))
    probabilities = predictor.predict_proba(photo)
    assert probabilities.shape == (3,) and probabilities.sum() == pytest.approx(1, abs=1e-5)
    module = LikelihoodOfFailureClassifier.load_from_checkpoint(checkpoint, weights_only=True).eval()
    image = torch.from_numpy(load_square(photo, 32).as_array())[None, None]
    with torch.no_grad():
        assert np.allclose(module(image)[0].numpy(), probabilities, atol=1e-6)
    assert predictor.info.get("status") == "finished", "the run's record travels with the predictor"


def test_validate_test_and_predict_commands(finished_run: Path, photo_folder: Path, tmp_path: Path) -> None:
    config = str(finished_run / "config.yaml")
    best = str(finished_run / "checkpoints" / "best.ckpt")
    cli(["validate", f"--config={config}", f"--ckpt_path={best}", "--trainer.enable_progress_bar=false"])
    cli(["test", f"--config={config}", f"--ckpt_path={best}", "--trainer.enable_progress_bar=false"])
    record = json.loads((finished_run / "run.json").read_text())
    assert 0 <= record["test"]["test/bal_acc"] <= 1 and "test_baseline/acc" in record["test"]
    assert (finished_run / "confusion" / "test.json").is_file()
    assert record["status"] == "finished", "evaluating a run does not change its training status"

    photos = tmp_path / "to_rate"
    photos.mkdir()
    for path in list((photo_folder / "Probable").glob("*.jpg"))[:3]:
        (photos / path.name).write_bytes(path.read_bytes())
    (photos / "broken.jpg").write_bytes(b"nope")
    output = tmp_path / "rated.csv"
    output.write_text("the user's own file\n")
    cli(["predict", f"--config={config}", f"--ckpt_path={best}", f"--data.predict_source={photos}",
         f"--trainer.callbacks+=lightning_module.training.prediction_writer.PredictionWriter",
         f"--trainer.callbacks.output={output}", "--trainer.enable_progress_bar=false"])
    assert output.read_text() == "the user's own file\n", "an existing file is never overwritten"
    rows = list(csv.DictReader((tmp_path / "rated-1.csv").open()))
    assert len(rows) == 4
    broken = next(r for r in rows if r["path"].endswith("broken.jpg"))
    assert broken["predicted"] == "" and "not an image" in broken["error"]
    assert all(r["predicted"] in ("Improbable", "Possible", "Probable") for r in rows if r is not broken)


def test_second_run_gets_its_own_directory(finished_run: Path, photo_folder: Path) -> None:
    runs = finished_run.parent.parent
    second = _fit(photo_folder, runs, "--data.cache_dir=null", epochs=1)
    assert second != finished_run and second.name == "version_1"
    assert json.loads((finished_run / "run.json").read_text())["current_epoch"] == 1, "the first run is untouched"


def test_invalid_checkpoints_get_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_predictor(tmp_path / "missing.ckpt")
    (tmp_path / "empty.ckpt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_predictor(tmp_path / "empty.ckpt")
    (tmp_path / "text.ckpt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="Not a valid checkpoint"):
        load_predictor(tmp_path / "text.ckpt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="no model weights"):
        load_predictor(tmp_path / "other.ckpt")


class _RunsACommand:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/treerisk-pwned",))


def test_a_crafted_pickle_is_refused_without_running(tmp_path: Path) -> None:
    marker = Path("/tmp/treerisk-pwned")
    marker.unlink(missing_ok=True)
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {}, "payload": _RunsACommand()}, path)
    with pytest.raises(CheckpointError, match="Refused to load"):
        load_predictor(path)
    assert not marker.exists()
    with path.open("wb") as handle:
        pickle.dump(_RunsACommand(), handle)
    with pytest.raises(CheckpointError):
        load_predictor(path)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["../escape", "/etc", "a/b", "..", "", "x" * 65, ".hidden"])
def test_run_names_cannot_escape_the_runs_folder(name: str) -> None:
    with pytest.raises(ValueError, match="not allowed"):
        validate_run_name(name)


def test_majority_baseline_and_collapse_rules() -> None:
    baseline = majority_baseline([0, 0, 0, 1, 2], [0, 0, 1, 2], 3)
    assert baseline["class_index"] == 0 and baseline["acc"] == 0.5
    assert baseline["bal_acc"] == pytest.approx(1 / 3)
    assert baseline["macro_f1"] == pytest.approx((2 * 0.5 / 1.5) / 3)
    assert collapse_check([95, 3, 2]) == (True, 0, 0.95)
    assert collapse_check([94, 4, 2])[0] is False
