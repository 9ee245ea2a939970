"""Keeps the run directory true at every moment: status, per-epoch confusion matrices, predictions, best metrics.

The dashboard reads only what this callback (and the logger) writes, so a run can be watched live, after a
crash, or after a reboot. Only global rank zero writes. When a fit starts and no other live process writes the
directory, the temporary files a killed writer left mid-write are removed (``run_files.remove_run_leftovers``).
"""

from __future__ import annotations

import csv
import io
import os
import socket
import sys
import time
from pathlib import Path
import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException

from lightning_module.files import atomic_write_json, atomic_write_text, read_json
from lightning_module.training.run_files import (
    ACTIVE_STATUSES,
    RUN_HEARTBEAT_SECONDS,
    now_iso,
    on_this_machine,
    remove_run_leftovers,
    update_run_json,
    writer_alive,
)

HEADLINE = "val/bal_acc"
SUMMARY_KEYS = ("val/bal_acc", "val/acc", "val/macro_f1", "val/macro_precision", "val/macro_recall", "val/loss")


class RunDirectoryBusy(RuntimeError):
    """Another live process is writing this run directory."""


class RunRecorder(pl.Callback):
    """Writes ``run.json``, ``data_report.json``, ``confusion/`` and ``predictions/`` into the run directory."""

    def __init__(self) -> None:
        self.run_dir: Path | None = None
        self._epoch_started = 0.0
        self._last_heartbeat = 0.0

    # ------------------------------------------------------------------------------ life cycle
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        log_dir = trainer.log_dir  # a broadcast in DDP: every rank must ask, or later broadcasts fall out of step
        if not trainer.is_global_zero or log_dir is None:
            return
        self.run_dir = Path(log_dir)
        if stage != "fit":
            return
        existing = read_json(self.run_dir / "run.json")
        if existing and existing.get("status") in ACTIVE_STATUSES and existing.get("pid") not in (None, os.getpid()):
            if writer_alive(existing):
                where = "" if on_this_machine(existing.get("host")) else f" on {existing['host']}"
                raise RunDirectoryBusy(
                    f"{self.run_dir} is being written by another training process (pid {existing['pid']}{where}); "
                    "wait for it to end or stop it first"
                )
        remove_run_leftovers(self.run_dir)  # this process is now the directory's writer: clear a killed one's debris
        datamodule = trainer.datamodule
        if datamodule is not None and getattr(datamodule, "data_report", None) is not None:
            atomic_write_json(self.run_dir / "data_report.json", datamodule.data_report.to_json())

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.run_dir is None:
            return
        datamodule = trainer.datamodule
        report = getattr(datamodule, "data_report", None)
        hparams = pl_module.hparams
        baseline = dict(getattr(pl_module, "baseline", {}) or {})
        if "class_index" in baseline:
            baseline["class"] = pl_module.class_names[int(baseline.pop("class_index"))]
        previous = read_json(self.run_dir / "run.json") or {}
        self._last_heartbeat = time.monotonic()
        update_run_json(
            self.run_dir,
            status="running",
            name=Path(self.run_dir).parent.name,
            version=_version_number(self.run_dir),
            dir=str(self.run_dir),
            error=None,
            pid=os.getpid(),
            host=socket.gethostname(),  # with the heartbeat, how a dashboard on another machine knows it runs
            heartbeat=now_iso(),
            device=_device_text(trainer),
            command=previous.get("command") or [sys.executable, *sys.argv],
            attempts=int(previous.get("attempts", 0)) + 1,
            data={
                "source": getattr(datamodule, "source", None),
                "description": getattr(report, "source", None),
                "skipped": len(getattr(report, "skipped", []) or []),
            },
            scenario=hparams.get("scenario"),
            classes=list(pl_module.class_names),
            backbone=hparams.get("backbone"),
            pretrained=hparams.get("pretrained"),
            image_size=hparams.get("image_size"),
            color_mode=hparams.get("color_mode"),
            split_sizes=getattr(report, "split_sizes", None),
            max_epochs=trainer.max_epochs,
            current_epoch=previous.get("current_epoch"),
            majority_baseline=baseline,
            best=previous.get("best"),
            last=previous.get("last"),
            collapsed=previous.get("collapsed", False),
            collapsed_class=previous.get("collapsed_class"),
            timings={
                "started": previous.get("timings", {}).get("started") or now_iso(),
                "ended": None,
                "epoch_seconds": previous.get("timings", {}).get("epoch_seconds", []),
            },
            checkpoints={"best": "checkpoints/best.ckpt", "last": "checkpoints/last.ckpt"},
        )

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_started = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object, **kwargs: object) -> None:
        self._heartbeat(trainer)

    def on_validation_batch_end(self, trainer: pl.Trainer, *args: object, **kwargs: object) -> None:
        self._heartbeat(trainer)

    def _heartbeat(self, trainer: pl.Trainer) -> None:
        """Say "still here" in run.json every RUN_HEARTBEAT_SECONDS: a pid cannot be checked from another machine."""
        now = time.monotonic()
        if self.run_dir is None or trainer.state.fn != "fit" or now - self._last_heartbeat < RUN_HEARTBEAT_SECONDS:
            return
        self._last_heartbeat = now
        update_run_json(self.run_dir, heartbeat=now_iso())

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.run_dir is None or trainer.sanity_checking or trainer.state.fn != "fit":
            return
        epoch = trainer.current_epoch
        seconds = round(time.perf_counter() - self._epoch_started, 3)
        classes = list(pl_module.class_names)
        confusion = getattr(pl_module, "last_val_confusion", None)
        if confusion is not None:
            atomic_write_json(
                self.run_dir / "confusion" / f"epoch_{epoch}.json",
                {"epoch": epoch, "classes": classes, "matrix": confusion.astype(int).tolist()},
            )
        self._write_predictions(trainer, pl_module, epoch)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        summary = {"epoch": epoch, **{k: metrics[k] for k in SUMMARY_KEYS if k in metrics}}
        record = read_json(self.run_dir / "run.json") or {}
        best = record.get("best")
        if best is None or summary.get(HEADLINE, float("-inf")) > best.get(HEADLINE, float("-inf")):
            best = summary
        collapsed, collapsed_index, share = getattr(pl_module, "collapsed", (False, 0, 0.0))
        timings = record.get("timings", {})
        epoch_seconds = list(timings.get("epoch_seconds", []))[:epoch] + [seconds]
        update_run_json(
            self.run_dir,
            current_epoch=epoch,
            last=summary,
            best=best,
            collapsed=bool(collapsed),
            collapsed_class=classes[collapsed_index] if collapsed else None,
            collapsed_share=round(share, 4),
            timings={**timings, "epoch_seconds": epoch_seconds},
        )

    def _write_predictions(self, trainer: pl.Trainer, pl_module: pl.LightningModule, epoch: int) -> None:
        predictions = getattr(pl_module, "last_val_predictions", None)
        paths = getattr(trainer.datamodule, "val_paths", None)
        labels = getattr(trainer.datamodule, "val_labels", None)
        if predictions is None or not paths or labels is None:
            return
        classes = list(pl_module.class_names)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["path", "true", "pred", "confidence"])
        seen: set[int] = set()
        for index, predicted, confidence in predictions:
            index = int(index)
            if index in seen or index >= len(paths):
                continue  # a padded duplicate from a distributed sampler
            seen.add(index)
            writer.writerow([paths[index], classes[int(labels[index])], classes[int(predicted)], f"{confidence:.4f}"])
        atomic_write_text(self.run_dir / "predictions" / f"val_epoch_{epoch}.csv", buffer.getvalue())

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.run_dir is None or not (self.run_dir / "run.json").is_file():
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(("test/", "test_baseline/"))}
        confusion = getattr(pl_module, "last_test_confusion", None)
        if confusion is not None:
            atomic_write_json(
                self.run_dir / "confusion" / "test.json",
                {"classes": list(pl_module.class_names), "matrix": confusion.astype(int).tolist()},
            )
        update_run_json(self.run_dir, test=metrics)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.run_dir is None:
            return
        record = read_json(self.run_dir / "run.json") or {}
        timings = {**record.get("timings", {}), "ended": now_iso()}
        interrupted = trainer.interrupted or trainer.received_sigterm
        update_run_json(self.run_dir, status="stopped" if interrupted else "finished", timings=timings, pid=None)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if self.run_dir is None or trainer.state.fn != "fit":
            return
        record = read_json(self.run_dir / "run.json") or {}
        timings = {**record.get("timings", {}), "ended": now_iso()}
        if isinstance(exception, (KeyboardInterrupt, SIGTERMException)):
            update_run_json(self.run_dir, status="stopped", timings=timings, pid=None)
        else:
            message = f"{type(exception).__name__}: {exception}"
            update_run_json(self.run_dir, status="failed", error=message, timings=timings, pid=None)


def _version_number(run_dir: Path) -> int | None:
    name = Path(run_dir).name
    return int(name.removeprefix("version_")) if name.startswith("version_") and name[8:].isdigit() else None


def _device_text(trainer: pl.Trainer) -> str:
    root = trainer.strategy.root_device
    if root.type == "cuda":
        import torch

        name = torch.cuda.get_device_name(root)
        return f"{trainer.world_size} x {name}" if trainer.world_size > 1 else name
    return f"cpu ({trainer.world_size} processes)" if trainer.world_size > 1 else "cpu"

