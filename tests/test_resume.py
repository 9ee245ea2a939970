"""A run killed with SIGKILL in the middle of an epoch, started again with ``--ckpt_path last``, finishes the run.

The kill is the hard case: no handler runs, so whatever is on disk at that moment is all there is. The restart
must continue in the same run directory from the last completed epoch to the configured final epoch, and keep
everything the killed attempt wrote (metrics rows, confusion matrices, the original config.yaml).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from conftest import make_photo_folder
from lightning_module.evaluation.predictor import load_predictor

pytestmark = pytest.mark.slow

MAX_EPOCHS = 4
TESTS_DIR = Path(__file__).resolve().parent


class SlowTrainingSteps(pl.Callback):
    """Makes each training step take a known minimum time, so the test can kill the run mid-epoch."""

    def __init__(self, seconds: float = 0.1) -> None:
        self.seconds = seconds

    def on_train_batch_end(self, *args: object) -> None:
        time.sleep(self.seconds)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS_DIR), env.get("PYTHONPATH")) if p)  # for SlowTrainingSteps
    return env


def _epochs_logged(metrics_csv: Path) -> list[int]:
    if not metrics_csv.is_file():
        return []
    with metrics_csv.open(newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle) if row.get("val/bal_acc")]


def _checkpoint_epoch(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])


def test_sigkill_mid_epoch_then_resume_reaches_the_final_epoch(tmp_path: Path) -> None:
    photos = make_photo_folder(tmp_path / "photos")
    command = [
        sys.executable, "-m", "lightning_module", "fit", "--data.source", str(photos),
        "--data.image_size", "32", "--data.batch_size", "4", "--trainer.accelerator", "cpu",
        "--trainer.max_epochs", str(MAX_EPOCHS), "--trainer.enable_progress_bar", "false",
        "--trainer.callbacks+=test_resume.SlowTrainingSteps",
        "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), "--trainer.logger.init_args.name", "resume",
    ]  # fmt: skip
    log = (tmp_path / "first.log").open("w")
    process = subprocess.Popen(command, cwd=tmp_path, env=_env(), stdout=log, stderr=subprocess.STDOUT)
    run_dir = tmp_path / "runs" / "resume" / "version_0"
    try:
        deadline = time.monotonic() + 240
        # Wait for the first checkpoint and the first finished epoch, then kill half-way through the next one
        # (an epoch is 6 steps of at least 100 ms).
        while not ((run_dir / "checkpoints" / "last.ckpt").is_file() and _epochs_logged(run_dir / "metrics.csv")):
            assert process.poll() is None, f"training ended early:\n{(tmp_path / 'first.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, "no checkpoint after 240 s"
            time.sleep(0.05)
        time.sleep(0.3)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        log.close()

    killed = json.loads((run_dir / "run.json").read_text())
    assert killed["status"] == "running", "a killed run cannot record its own end"
    epochs_before = _epochs_logged(run_dir / "metrics.csv")
    assert epochs_before and max(epochs_before) < MAX_EPOCHS - 1, f"the kill came too late: {epochs_before}"
    resumed_from = _checkpoint_epoch(run_dir / "checkpoints" / "last.ckpt")
    metrics_before = (run_dir / "metrics.csv").read_text()
    config_before = (run_dir / "config.yaml").read_text()

    resumed = subprocess.run(
        [sys.executable, "-m", "lightning_module", "fit", "--config", str(run_dir / "config.yaml"), "--ckpt_path", "last"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-4000:]

    assert sorted((tmp_path / "runs" / "resume").iterdir()) == [run_dir], "the resumed run must use the same directory"
    record = json.loads((run_dir / "run.json").read_text())
    assert [s["status"] for s in record["status_history"]] == ["running", "running", "finished"]
    assert record["attempts"] == 2 and record["current_epoch"] == MAX_EPOCHS - 1
    # Nothing from the killed attempt is lost: its metrics rows stay first, its config is untouched.
    metrics_after = (run_dir / "metrics.csv").read_text()
    assert metrics_after.startswith(metrics_before)
    epochs_after = _epochs_logged(run_dir / "metrics.csv")
    assert epochs_after[: len(epochs_before)] == epochs_before
    assert epochs_after[len(epochs_before) :] == list(range(resumed_from + 1, MAX_EPOCHS)), "resume must continue, not restart"
    assert (run_dir / "config.yaml").read_text() == config_before
    assert (run_dir / "config.resume-1.yaml").is_file()
    assert all((run_dir / "confusion" / f"epoch_{k}.json").is_file() for k in range(MAX_EPOCHS))
    leftovers = [p.name for p in run_dir.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == [], f"half-written files left behind: {leftovers}"
    assert _checkpoint_epoch(run_dir / "checkpoints" / "last.ckpt") == MAX_EPOCHS - 1
    for name in ("best", "last"):
        predictor = load_predictor(run_dir / "checkpoints" / f"{name}.ckpt")
        assert predictor.classes == ["Improbable", "Possible", "Probable"]
        probabilities = predictor.predict_proba(next(photos.glob("Possible/*.jpg")))
        assert probabilities.shape == (3,) and abs(float(probabilities.sum()) - 1.0) < 1e-5
