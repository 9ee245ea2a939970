"""Reading run directories (``runs/<name>/version_<n>/``, see docs/RUN_FORMAT.md) for display.

Every reader copes with what a real run directory can look like: a run that has not finished its first epoch
(no metrics yet), a run killed mid-write, a crashed run whose ``run.json`` still says "running", an unreadable
``run.json``. Readers return what exists (empty frames, ``None``) and never raise for a missing or broken file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lightning_module.files import pid_alive, read_json
from lightning_module.training.run_files import (
    ACTIVE_STATUSES,
    heartbeat_age,
    on_this_machine,
    parse_iso,
    writer_alive,
)

RUNS_DIR_ENV = "TREERISK_RUNS_DIR"
# A run launched from the dashboard is "starting" with no pid for the few milliseconds between writing run.json
# and spawning the process; if it stays like that this long, the launching process died in between.
STARTING_GRACE_SECONDS = 120
# The progress file a grid keeps in its output folder (lightning_module.grid.results reads it in full), here only
# to tell whether the grid that queued a fold is still there.
GRID_PROGRESS_FILE = "progress.json"
HEADLINE = "val/bal_acc"
# The metrics drawn and tabled, in the order they lead: balanced accuracy and macro F1 first, because plain
# accuracy rewards always predicting the commonest class.
METRICS: tuple[tuple[str, str], ...] = (
    ("bal_acc", "Balanced accuracy"),
    ("macro_f1", "Macro F1"),
    ("acc", "Accuracy"),
    ("loss", "Loss"),
)
METRIC_LABELS = dict(METRICS)

_VERSION_DIR = re.compile(r"^version_(\d+)$")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_TQDM_EPOCH = re.compile(r"Epoch (\d+):\s+(\d+)%")
# Lightning's validation and sanity-check bars: a terminal erases them (cursor up), a log file keeps them all.
_TRANSIENT_BAR = re.compile(r"^(Validation|Sanity Checking)( DataLoader \d+)?:\s.*\|")


def runs_dir(default: Path | str = "runs") -> Path:
    """The folder holding all runs: ``$TREERISK_RUNS_DIR`` when set, else ``default``."""
    return Path(os.environ.get(RUNS_DIR_ENV) or default).expanduser()


# ----------------------------------------------------------------------------------------------- one run
@dataclass(frozen=True)
class RunInfo:
    """One run directory: its ``run.json`` (``{}`` when unreadable) and its status as the user should see it.

    ``status`` is run.json's status, except ``crashed`` (it says running but its process is gone) and
    ``unreadable`` (no usable run.json); ``problem`` then says why.
    """

    path: Path
    name: str
    version: int | None
    record: dict[str, Any]
    status: str
    problem: str | None = None

    @property
    def run_id(self) -> str:
        """``name/version_<n>``: how runs are named in the dashboard."""
        return f"{self.name}/{self.path.name}"

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def resumable(self) -> bool:
        return self.status in ("stopped", "crashed", "failed") and (self.path / "config.yaml").is_file()

    @property
    def classes(self) -> list[str]:
        return list(self.record.get("classes") or [])

    @property
    def max_epochs(self) -> int | None:
        value = self.record.get("max_epochs")
        return int(value) if isinstance(value, (int, float)) and value > 0 else None

    @property
    def epochs_done(self) -> int:
        """Validation epochs finished so far."""
        current = self.record.get("current_epoch")
        return int(current) + 1 if isinstance(current, (int, float)) else 0

    @property
    def best(self) -> dict[str, Any]:
        return dict(self.record.get("best") or {})

    @property
    def last(self) -> dict[str, Any]:
        return dict(self.record.get("last") or {})

    @property
    def baseline(self) -> dict[str, Any]:
        """The majority-class baseline's scores on the validation split (``acc``, ``bal_acc``, ``macro_f1``, ``class``)."""
        return dict(self.record.get("majority_baseline") or {})

    @property
    def collapsed(self) -> bool:
        return bool(self.record.get("collapsed"))

    @property
    def started(self) -> datetime | None:
        timings = self.record.get("timings") or {}
        history = self.record.get("status_history") or [{}]
        return parse_iso(timings.get("started")) or parse_iso((history[0] or {}).get("time"))

    @property
    def epoch_seconds(self) -> list[float]:
        values = (self.record.get("timings") or {}).get("epoch_seconds") or []
        return [float(v) for v in values if isinstance(v, (int, float))]


@dataclass(frozen=True)
class Headline:
    """The headline metric (best validation balanced accuracy) beside the majority baseline's."""

    value: float | None
    baseline: float | None
    epoch: int | None

    @property
    def margin(self) -> float | None:
        if self.value is None or self.baseline is None:
            return None
        return self.value - self.baseline


def headline(run: RunInfo) -> Headline:
    best = run.best
    return Headline(_number(best.get(HEADLINE)), _number(run.baseline.get("bal_acc")), _int_or_none(best.get("epoch")))


def read_run(path: Path | str) -> RunInfo:
    """The run in ``path`` (a ``version_<n>`` folder), with crashed and unreadable runs recognised."""
    path = Path(path)
    match = _VERSION_DIR.match(path.name)
    version = int(match.group(1)) if match else None
    record = read_json(path / "run.json")
    if record is None:
        problem = "run.json is missing" if not (path / "run.json").exists() else "run.json cannot be read"
        return RunInfo(path, path.parent.name, version, {}, "unreadable", problem)
    status = str(record.get("status") or "unknown")
    problem = record.get("error") if status == "failed" else None
    if status in ACTIVE_STATUSES:
        problem = _why_crashed(record)
        if problem:
            status = "crashed"
    return RunInfo(path, str(record.get("name") or path.parent.name), version, record, status, problem)


def inside(path: Path, root: Path) -> bool:
    """Whether ``path``, with every symlink followed, still lies inside ``root``."""
    try:
        return path.resolve().is_relative_to(Path(root).resolve())
    except OSError:
        return False


def list_runs(root: Path | str) -> list[RunInfo]:
    """Every ``<name>/version_<n>`` run under ``root``, newest first (symlinks leading outside are ignored)."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = []
    for name_dir in root.iterdir():
        if not name_dir.is_dir() or name_dir.name.startswith(".") or not inside(name_dir, root):
            continue
        for version_dir in name_dir.iterdir():
            if version_dir.is_dir() and _VERSION_DIR.match(version_dir.name) and inside(version_dir, root):
                runs.append(read_run(version_dir))
    return sorted(runs, key=_newest_first_key)


def find_run(root: Path | str, run_id: str) -> RunInfo | None:
    """The run named ``name/version_<n>`` under ``root``, or None (also for ids that try to leave ``root``)."""
    parts = str(run_id).split("/")
    if len(parts) != 2 or not _VERSION_DIR.match(parts[1]) or parts[0] in ("", ".", ".."):
        return None
    path = Path(root) / parts[0] / parts[1]
    return read_run(path) if path.is_dir() and inside(path, Path(root)) else None


process_running = pid_alive  # the run store's name for it


def _why_crashed(record: dict[str, Any]) -> str | None:
    """Why a run that says it is starting or running is not, or None while it may well be."""
    pid, host = record.get("pid"), record.get("host")
    if pid and not on_this_machine(host):
        # A cluster node writing to shared storage: its pid means nothing here, its heartbeat does.
        if writer_alive(record):
            return None
        age = heartbeat_age(record)
        since = f"for {_minutes(age)}" if age is not None else "since it started"
        return (f"no heartbeat from its training process on {host} (pid {pid}) {since}; it ran on another machine, "
                "so this one cannot ask it directly")
    if pid:
        if process_running(pid):
            return None
        return f"its training process (pid {pid}) is no longer running; the run ended without recording why"
    grid = record.get("grid")
    if isinstance(grid, dict) and grid.get("output"):
        return _why_fold_waits_in_vain(record, Path(str(grid["output"])))
    history = record.get("status_history") or [{}]
    since = parse_iso((history[-1] or {}).get("time"))
    if since is not None and (datetime.now(timezone.utc) - since).total_seconds() > STARTING_GRACE_SECONDS:
        return "its training process never started"
    return None


def _why_fold_waits_in_vain(record: dict[str, Any], grid_output: Path) -> str | None:
    """A grid's fold before its training process starts: queued for a worker (a Slurm job, a Ray task) or
    reading its data on one. Fine while that worker runs (or, before one took it, while the grid runs)."""
    worker = record.get("worker")
    if isinstance(worker, dict) and on_this_machine(worker.get("host")):
        if process_running(worker.get("pid")):
            return None
        return f"its grid worker (pid {worker.get('pid')}) ended before the fold's training started"
    grid = read_json(grid_output / GRID_PROGRESS_FILE)
    if grid is None or grid.get("status") not in ACTIVE_STATUSES or writer_alive(grid, key="updated"):
        return None  # a grid that ended marks its unfinished folds itself; one still running will start this one
    return "the grid that queued it is no longer running"


def _minutes(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _newest_first_key(run: RunInfo) -> tuple[float, str]:
    started = run.started
    if started is None:
        try:
            stamp = run.path.stat().st_mtime
        except OSError:
            stamp = 0.0
    else:
        stamp = started.timestamp()
    return (-stamp, run.run_id)


# ----------------------------------------------------------------------------------------------- metrics
def read_metrics(path: Path | str) -> pd.DataFrame:
    """``metrics.csv`` as one row per epoch (index ``epoch``), sorted; empty when there is none yet.

    When an epoch appears more than once (a resumed run repeats the epoch it was killed in) the later row wins;
    a value the later row lacks is taken from the earlier one.
    """
    file = Path(path) / "metrics.csv"
    try:
        frame = pd.read_csv(file, on_bad_lines="skip")
    except (OSError, ValueError, pd.errors.ParserError):
        return pd.DataFrame()
    if "epoch" not in frame.columns or frame.empty:
        return pd.DataFrame()
    frame = frame.apply(pd.to_numeric, errors="coerce")
    frame = frame.dropna(subset=["epoch"])
    frame["epoch"] = frame["epoch"].astype(int)
    return frame.groupby("epoch", sort=True).last()


def metric_baseline(run: RunInfo, metrics: pd.DataFrame, metric: str) -> float | None:
    """The majority baseline for ``metric`` (``acc``, ``bal_acc``, ``macro_f1``); None for loss or when unknown."""
    value = _number(run.baseline.get(metric))
    if value is None and f"baseline/{metric}" in metrics.columns:
        column = metrics[f"baseline/{metric}"].dropna()
        value = float(column.iloc[-1]) if len(column) else None
    return value


def per_class_table(metrics: pd.DataFrame, epoch: int, classes: list[str], confusion: Confusion | None = None) -> pd.DataFrame:
    """Validation precision, recall and F1 of each class at ``epoch`` (and how many validation images it has)."""
    rows = []
    row = metrics.loc[epoch] if epoch in metrics.index else pd.Series(dtype=float)
    for index, name in enumerate(classes):
        entry: dict[str, Any] = {"class": name}
        for measure in ("precision", "recall", "f1"):
            entry[measure] = _number(row.get(f"val/{measure}/{name}"))
        if confusion is not None and name in confusion.classes:
            entry["images"] = int(confusion.matrix[confusion.classes.index(name)].sum())
        rows.append(entry)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------- confusion
@dataclass(frozen=True)
class Confusion:
    """A validation confusion matrix: rows are true classes, columns predicted, counts."""

    epoch: int | None
    classes: list[str]
    matrix: np.ndarray

    def row_normalised(self) -> np.ndarray:
        """Each row divided by its total (a class's recall on the diagonal); rows with no images stay 0."""
        totals = self.matrix.sum(axis=1, keepdims=True).astype(float)
        return np.divide(self.matrix, totals, out=np.zeros(self.matrix.shape, dtype=float), where=totals > 0)


def confusion_epochs(path: Path | str) -> list[int]:
    folder = Path(path) / "confusion"
    if not folder.is_dir():
        return []
    found = (re.fullmatch(r"epoch_(\d+)\.json", p.name) for p in folder.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def read_confusion(path: Path | str, epoch: int) -> Confusion | None:
    data = read_json(Path(path) / "confusion" / f"epoch_{int(epoch)}.json")
    if not data:
        return None
    try:
        matrix = np.asarray(data["matrix"], dtype=np.int64)
        classes = [str(c) for c in data["classes"]]
    except (KeyError, TypeError, ValueError):
        return None
    if matrix.ndim != 2 or matrix.shape != (len(classes), len(classes)):
        return None
    return Confusion(int(data.get("epoch", epoch)), classes, matrix)


# ----------------------------------------------------------------------------------------------- predictions
def prediction_epochs(path: Path | str) -> list[int]:
    folder = Path(path) / "predictions"
    if not folder.is_dir():
        return []
    found = (re.fullmatch(r"val_epoch_(\d+)\.csv", p.name) for p in folder.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def read_predictions(path: Path | str, epoch: int) -> pd.DataFrame:
    """``path, true, pred, confidence`` of every validation image at ``epoch``; empty when not written."""
    try:
        frame = pd.read_csv(Path(path) / "predictions" / f"val_epoch_{int(epoch)}.csv")
    except (OSError, ValueError, pd.errors.ParserError):
        return pd.DataFrame(columns=["path", "true", "pred", "confidence"])
    if not {"path", "true", "pred", "confidence"} <= set(frame.columns):
        return pd.DataFrame(columns=["path", "true", "pred", "confidence"])
    frame["confidence"] = pd.to_numeric(frame["confidence"], errors="coerce")
    return frame


def misclassified(predictions: pd.DataFrame) -> pd.DataFrame:
    """The wrongly classified images, most confidently wrong first."""
    if predictions.empty:
        return predictions
    wrong = predictions[predictions["true"].astype(str) != predictions["pred"].astype(str)]
    return wrong.sort_values("confidence", ascending=False, kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------------------------- other files
def read_data_report(path: Path | str) -> dict[str, Any] | None:
    return read_json(Path(path) / "data_report.json")


def read_config(path: Path | str) -> dict[str, Any]:
    """The run's saved LightningCLI config (``config.yaml``), or ``{}``."""
    import yaml

    try:
        value = yaml.safe_load((Path(path) / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return value if isinstance(value, dict) else {}


def hyperparameters(path: Path | str) -> dict[str, Any]:
    """The settings a user chose, in their words, from ``config.yaml`` (falling back to ``run.json``)."""
    config = read_config(path)
    data, model, trainer = (config.get(k) or {} for k in ("data", "model", "trainer"))
    record = read_json(Path(path) / "run.json") or {}
    source = data.get("source", (record.get("data") or {}).get("source"))
    settings: dict[str, Any] = {
        "data": source,
        "synthetic photos": data.get("synthetic_size") if source == "synthetic" else None,
        "scenario": data.get("scenario", record.get("scenario")),
        "backbone": model.get("backbone", record.get("backbone")),
        "pretrained": model.get("pretrained", record.get("pretrained")),
        "image size": data.get("image_size", record.get("image_size")),
        "colour mode": data.get("color_mode", record.get("color_mode")),
        "epochs": trainer.get("max_epochs", record.get("max_epochs")),
        "batch size": data.get("batch_size"),
        "learning rate": model.get("lr"),
        "weight decay": model.get("weight_decay"),
        "class balancing": data.get("balance"),
        "augmentation": data.get("augment"),
        "hardware": _hardware_text(trainer),
        "seed": config.get("seed_everything"),
    }
    return {k: v for k, v in settings.items() if v is not None}


def _hardware_text(trainer: dict[str, Any]) -> str | None:
    if not trainer:
        return None
    accelerator, devices = trainer.get("accelerator", "auto"), trainer.get("devices", 1)
    return f"{accelerator} × {devices}"


def read_log_tail(path: Path | str, max_lines: int = 30, max_bytes: int = 64_000) -> str:
    """The last lines of ``train.log`` as a terminal would show them (progress-bar redraws collapsed)."""
    raw = _read_end(Path(path) / "train.log", max_bytes)
    lines = []
    for line in _ANSI.sub("", raw).split("\n"):
        shown = line.rstrip("\r").rsplit("\r", 1)[-1].rstrip()  # a carriage return redraws the line
        if shown and not _TRANSIENT_BAR.match(shown):
            lines.append(shown)
    return "\n".join(lines[-max_lines:])


@dataclass(frozen=True)
class Progress:
    fraction: float
    text: str


def training_progress(run: RunInfo) -> Progress:
    """How far the run is, for a progress bar: finished epochs plus the current epoch's share (from the log)."""
    total = run.max_epochs
    done = run.epochs_done
    if run.status == "finished":
        return Progress(1.0, f"Finished: {done} epoch{'s' if done != 1 else ''}")
    if not total:
        return Progress(0.0, "Waiting for the first epoch…")
    within = 0.0
    current = done
    match = None
    if run.active:
        for match in _TQDM_EPOCH.finditer(_read_end(run.path / "train.log", 4_000)):
            pass
    if match and int(match.group(1)) == done:
        within = int(match.group(2)) / 100
    fraction = min(1.0, (done + within) / total)
    if not run.active:
        return Progress(min(1.0, done / total), f"{run.status.capitalize()} after {done} of {total} epochs")
    if run.status == "starting" or (done == 0 and match is None):
        return Progress(0.0, f"Preparing data and model… (0 of {total} epochs)")
    text = f"Epoch {min(current + 1, total)} of {total}"
    if within:
        text += f" · {int(within * 100)} % of this epoch"
    seconds = run.epoch_seconds
    if seconds and done < total:
        left = (total - done - within) * (sum(seconds) / len(seconds))
        text += f" · about {_duration_text(left)} left"
    return Progress(fraction, text)


# ----------------------------------------------------------------------------------------------- tables
def run_summary_row(run: RunInfo) -> dict[str, Any]:
    """One row of the runs tables: what was trained, how it went, and its headline beside the baseline."""
    top = headline(run)
    best = run.best
    return {
        "run": run.run_id,
        "status": run.status,
        "started": run.started.astimezone().strftime("%d %b %H:%M") if run.started else "",
        "scenario": run.record.get("scenario"),
        "backbone": run.record.get("backbone"),
        "epochs": f"{run.epochs_done}/{run.max_epochs}" if run.max_epochs else str(run.epochs_done),
        "best bal. acc": top.value,
        "majority baseline": top.baseline,
        "above baseline": top.margin,
        "macro F1": _number(best.get("val/macro_f1")),
        "collapsed": run.collapsed,
    }


def comparison_table(runs: list[RunInfo]) -> pd.DataFrame:
    """Runs side by side: their settings and best validation metrics (one row per run)."""
    rows = []
    for run in runs:
        settings = hyperparameters(run.path)
        best = run.best
        baseline = run.baseline
        rows.append(
            {
                "run": run.run_id,
                "status": run.status,
                **{k: settings.get(k) for k in ("data", "scenario", "backbone", "pretrained", "image size", "colour mode", "batch size", "learning rate", "epochs")},
                "best epoch": _int_or_none(best.get("epoch")),
                "best bal. acc": _number(best.get(HEADLINE)),
                "baseline bal. acc": _number(baseline.get("bal_acc")),
                "best macro F1": _number(best.get("val/macro_f1")),
                "baseline macro F1": _number(baseline.get("macro_f1")),
                "accuracy": _number(best.get("val/acc")),
                "baseline accuracy": _number(baseline.get("acc")),
                "collapsed": run.collapsed,
            }
        )
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------- helpers
def _read_end(file: Path, max_bytes: int) -> str:
    try:
        with file.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(number) else number


def _int_or_none(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _duration_text(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
