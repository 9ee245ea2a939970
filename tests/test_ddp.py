"""Two training processes (DDP over gloo, on the CPU) must report what one process reports for the same model.

The DDP run's validation metrics are compared with a single-process ``validate`` of the checkpoint it saved at
the same moment, and its confusion matrix with its own per-photo predictions: no photo counted twice (the
default distributed sampler pads with repeats) and none dropped.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import make_photo_folder

pytestmark = pytest.mark.slow

COMMON = [
    "--data.image_size", "32", "--data.batch_size", "4", "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
]  # fmt: skip


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "lightning_module", *args], cwd=cwd, capture_output=True, text=True, timeout=400
    )
    assert result.returncode == 0, f"{' '.join(args[:1])} failed:\n{result.stderr[-4000:]}"
    return result


def last_row(metrics_csv: Path) -> dict[str, float]:
    with metrics_csv.open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("val/bal_acc")]
    return {k: float(v) for k, v in rows[-1].items() if k.startswith("val/") and v != ""}


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ddp")
    # 44 photos: the validation split has an odd number of photos, which two processes cannot share evenly.
    photos = make_photo_folder(root / "photos", per_class=(22, 11, 11))
    run_cli(
        "fit", "--data.source", str(photos), *COMMON,
        "--trainer.devices", "2", "--trainer.strategy", "ddp", "--trainer.max_epochs", "2",
        "--model.head_only_epochs", "1",  # the freezing callback must work under DDP too
        "--trainer.logger.init_args.save_dir", str(root / "runs"), "--trainer.logger.init_args.name", "ddp",
        cwd=root,
    )  # fmt: skip
    runs = sorted((root / "runs" / "ddp").glob("version_*"))
    assert len(runs) == 1, f"DDP workers must share one run directory, found {runs}"
    return photos, runs[0]


def test_ddp_run_finishes_with_one_run_directory(ddp_run: tuple[Path, Path]) -> None:
    _, run_dir = ddp_run
    record = json.loads((run_dir / "run.json").read_text())
    assert [s["status"] for s in record["status_history"]] == ["running", "finished"]
    assert record["device"] == "cpu (2 processes)"
    assert (run_dir / "checkpoints" / "last.ckpt").is_file() and (run_dir / "checkpoints" / "best.ckpt").is_file()


def test_ddp_counts_every_validation_photo_exactly_once(ddp_run: tuple[Path, Path]) -> None:
    _, run_dir = ddp_run
    report = json.loads((run_dir / "data_report.json").read_text())
    val_size = sum(report["split_sizes"]["val"].values())
    assert val_size % 2 == 1, "the check needs an odd validation split"
    for epoch in (0, 1):
        confusion = json.loads((run_dir / "confusion" / f"epoch_{epoch}.json").read_text())
        assert sum(map(sum, confusion["matrix"])) == val_size
        with (run_dir / "predictions" / f"val_epoch_{epoch}.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len({row["path"] for row in rows}) == len(rows) == val_size
        classes = confusion["classes"]
        pairs = Counter((row["true"], row["pred"]) for row in rows)
        rebuilt = [[pairs[(t, p)] for p in classes] for t in classes]
        assert rebuilt == confusion["matrix"]


def test_ddp_validation_metrics_equal_a_single_process_run(ddp_run: tuple[Path, Path], tmp_path: Path) -> None:
    photos, run_dir = ddp_run
    # last.ckpt holds the weights (and rank zero's batch-norm statistics) the last validation epoch used.
    run_cli(
        "validate", "--data.source", str(photos), *COMMON, "--trainer.devices", "1",
        "--ckpt_path", str(run_dir / "checkpoints" / "last.ckpt"),
        "--trainer.logger.init_args.save_dir", str(tmp_path), "--trainer.logger.init_args.name", "single",
        cwd=tmp_path,
    )  # fmt: skip
    single = last_row(next((tmp_path / "single").glob("version_*")) / "metrics.csv")
    distributed = last_row(run_dir / "metrics.csv")
    assert set(single) == set(distributed) and "val/loss" in single and "val/recall/Possible" in single
    for key, value in single.items():
        assert distributed[key] == pytest.approx(value, abs=1e-6), key
    # The confusion matrix agrees with the single process's per-class recall (diagonal / row total).
    confusion = json.loads((run_dir / "confusion" / "epoch_1.json").read_text())
    for i, name in enumerate(confusion["classes"]):
        row = confusion["matrix"][i]
        assert row[i] / sum(row) == pytest.approx(single[f"val/recall/{name}"], abs=1e-6)
