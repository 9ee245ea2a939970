"""Builders of fixture run directories (the format of docs/RUN_FORMAT.md) with known numbers.

Each builder writes ``root/<name>/version_0/`` and returns its path. The numbers are chosen so tests can assert
what a page shows: e.g. the finished run's best balanced accuracy is 0.71 at epoch 3 (index 2), its majority
baseline 0.33.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

CLASSES = ["Improbable", "Possible", "Probable"]
BASELINE = {"class": "Improbable", "acc": 0.6, "bal_acc": 1 / 3, "macro_f1": 0.25}
FINISHED_BAL_ACC = [0.45, 0.62, 0.71]
FAILED_ERROR = "RuntimeError: DataLoader worker (pid 4242) is killed by signal: Killed."


def _time(minutes_ago: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).isoformat(timespec="seconds")


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _metrics_row(epoch: int, bal_acc: float, classes: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "epoch": epoch,
        "step": (epoch + 1) * 10 - 1,
        "train/loss": round(1.1 - 0.2 * epoch, 4),
        "train/acc": round(0.5 + 0.1 * epoch, 4),
        "train/bal_acc": round(bal_acc + 0.05, 4),
        "train/macro_f1": round(bal_acc, 4),
        "val/loss": round(1.0 - 0.15 * epoch, 4),
        "val/acc": round(0.55 + 0.08 * epoch, 4),
        "val/bal_acc": bal_acc,
        "val/macro_f1": round(bal_acc - 0.05, 4),
        "val/macro_precision": round(bal_acc - 0.02, 4),
        "val/macro_recall": bal_acc,
        "baseline/acc": BASELINE["acc"],
        "baseline/bal_acc": BASELINE["bal_acc"],
        "baseline/macro_f1": BASELINE["macro_f1"],
    }
    for index, name in enumerate(classes):
        row[f"val/precision/{name}"] = round(0.5 + 0.1 * index, 4)
        row[f"val/recall/{name}"] = round(0.4 + 0.2 * index, 4)
        row[f"val/f1/{name}"] = round(0.45 + 0.15 * index, 4)
    return row


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("val/bal_acc", "val/acc", "val/macro_f1", "val/macro_precision", "val/macro_recall", "val/loss")
    return {"epoch": row["epoch"], **{k: row[k] for k in keys}}


def _photo(path: Path, shade: int) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((40, 40, 3), shade, dtype=np.uint8)).save(path)
    return str(path)


def build_run(
    root: Path,
    name: str,
    *,
    status: str,
    bal_accs: list[float],
    max_epochs: int,
    pid: int | None = None,
    error: str | None = None,
    collapsed_class: str | None = None,
    classes: list[str] | None = None,
    started_minutes_ago: float = 60,
    version: int = 0,
    skipped: list[dict[str, str]] | None = None,
) -> Path:
    """A run directory with ``len(bal_accs)`` finished epochs (one metrics row, confusion, predictions each)."""
    classes = classes or list(CLASSES)
    run_dir = Path(root) / name / f"version_{version}"
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = [_metrics_row(epoch, value, classes) for epoch, value in enumerate(bal_accs)]
    if rows:
        with (run_dir / "metrics.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    images = run_dir.parent / "photos"
    for epoch in range(len(bal_accs)):
        if collapsed_class:
            matrix = np.zeros((len(classes), len(classes)), dtype=int)
            matrix[:, classes.index(collapsed_class)] = [6, 2, 2][: len(classes)]
        else:
            matrix = np.array([[4 + epoch, 2 - min(epoch, 2), 0], [1, 1, 0], [0, 1, 1]])[: len(classes), : len(classes)]
        (run_dir / "confusion").mkdir(exist_ok=True)
        (run_dir / "confusion" / f"epoch_{epoch}.json").write_text(
            json.dumps({"epoch": epoch, "classes": classes, "matrix": matrix.tolist()})
        )
        (run_dir / "predictions").mkdir(exist_ok=True)
        with (run_dir / "predictions" / f"val_epoch_{epoch}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "true", "pred", "confidence"])
            for t, true in enumerate(classes):
                for p, predicted in enumerate(classes):
                    for k in range(int(matrix[t, p])):
                        photo = _photo(images / true / f"tree{t}{p}{k}.png", 40 + 60 * t)
                        writer.writerow([photo, true, predicted, f"{0.5 + 0.1 * p + 0.01 * k:.4f}"])
    now_status = [{"status": "starting", "time": _time(started_minutes_ago)}, {"status": "running", "time": _time(started_minutes_ago)}]
    if status not in ("starting", "running"):
        now_status.append({"status": status, "time": _time(started_minutes_ago - 5)})
    best = max((_summary(r) for r in rows), key=lambda s: s["val/bal_acc"], default=None)
    record = {
        "name": name,
        "version": version,
        "dir": str(run_dir),
        "status": status,
        "status_history": now_status if status != "starting" else now_status[:1],
        "error": error,
        "pid": pid,
        "device": "cpu",
        "command": [sys.executable, "-m", "lightning_module", "fit"],
        "data": {"source": "/data/photos", "description": "/data/photos", "skipped": len(skipped or [])},
        "scenario": "Pr_Po_Im" if len(classes) == 3 else "all",
        "classes": classes,
        "backbone": "seed_cnn",
        "pretrained": "none",
        "image_size": 64,
        "color_mode": "grayscale",
        "max_epochs": max_epochs,
        "current_epoch": len(rows) - 1 if rows else None,
        "majority_baseline": dict(BASELINE),
        "best": best,
        "last": _summary(rows[-1]) if rows else None,
        "collapsed": bool(collapsed_class),
        "collapsed_class": collapsed_class,
        "collapsed_share": 1.0 if collapsed_class else 0.5,
        "timings": {"started": _time(started_minutes_ago), "ended": None, "epoch_seconds": [12.5 + e for e in range(len(rows))]},
        "checkpoints": {"best": "checkpoints/best.ckpt", "last": "checkpoints/last.ckpt"},
    }
    (run_dir / "run.json").write_text(json.dumps(record, indent=2))
    (run_dir / "config.yaml").write_text(
        "seed_everything: 0\n"
        f"trainer:\n  accelerator: cpu\n  devices: 1\n  max_epochs: {max_epochs}\n"
        "model:\n  backbone: seed_cnn\n  pretrained: none\n  lr: 0.002\n  weight_decay: 0.0\n"
        "data:\n  source: /data/photos\n  scenario: Pr_Po_Im\n  image_size: 64\n  color_mode: grayscale\n  batch_size: 16\n"
        "  balance: class_weights\n  augment: true\n"
    )
    if rows:
        (run_dir / "data_report.json").write_text(
            json.dumps(
                {
                    "source": "/data/photos",
                    "scenario": "Pr_Po_Im",
                    "classes": classes,
                    "found_per_class": {c: 10 for c in classes},
                    "used_per_class": {c: 10 for c in classes},
                    "split_sizes": {"train": {c: 7 for c in classes}, "val": {c: 2 for c in classes}, "test": {c: 1 for c in classes}},
                    "skipped": skipped or [],
                    "ignored": [],
                }
            )
        )
    (run_dir / "train.log").write_text("Seed set to 0\nEpoch 0: 100%|####| 3/3\rEpoch 1:  50%|##  | 1/3\n")
    return run_dir


def finished_run(root: Path, name: str = "finished") -> Path:
    return build_run(
        root,
        name,
        status="finished",
        bal_accs=FINISHED_BAL_ACC,
        max_epochs=3,
        started_minutes_ago=90,
        skipped=[{"path": "/data/photos/Possible/broken.jpg", "label": "Possible", "reason": "not a readable image (truncated file)"}],
    )


def running_run(root: Path, name: str = "running") -> Path:
    """Alive: its pid is the test process's own (so never press its Stop button in a test)."""
    return build_run(root, name, status="running", bal_accs=[0.5, 0.55], max_epochs=10, pid=os.getpid(), started_minutes_ago=5)


def failed_run(root: Path, name: str = "failed") -> Path:
    return build_run(root, name, status="failed", bal_accs=[0.4], max_epochs=5, error=FAILED_ERROR, started_minutes_ago=120)


def collapsed_run(root: Path, name: str = "collapsed") -> Path:
    return build_run(
        root, name, status="finished", bal_accs=[1 / 3, 1 / 3], max_epochs=2, collapsed_class="Improbable", started_minutes_ago=30
    )


def crashed_run(root: Path, name: str = "crashed") -> Path:
    """Says running, but its process is gone."""
    return build_run(root, name, status="running", bal_accs=[0.42], max_epochs=8, pid=dead_pid(), started_minutes_ago=200)


def starting_run(root: Path, name: str = "starting") -> Path:
    """Alive and still preparing: no epoch, no metrics yet."""
    return build_run(root, name, status="starting", bal_accs=[], max_epochs=4, pid=os.getpid(), started_minutes_ago=1)


def unreadable_run(root: Path, name: str = "broken") -> Path:
    run_dir = Path(root) / name / "version_0"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text('{"status": "runn')  # cut off mid-write by a full disk
    return run_dir


def all_runs(root: Path) -> dict[str, Path]:
    return {
        "finished": finished_run(root),
        "running": running_run(root),
        "failed": failed_run(root),
        "collapsed": collapsed_run(root),
        "crashed": crashed_run(root),
        "starting": starting_run(root),
        "broken": unreadable_run(root),
    }
