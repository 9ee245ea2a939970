"""Reading a grid's output folder: where each fold's run lives, what it scored, and how far the grid has got.

Layout of ``<output>/``::

    grid.yaml                                 the grid as last run (training settings must not change)
    progress.json                             the runner's status, progress and time-left estimate
    results.csv, results.md                   one row per cell: mean ± sd and 95 % CI over folds
    comparisons.csv                           Welch's t-tests between the values of each varying axis
    folds.csv                                 one row per cell × fold: the numbers the table is made from
    grid.log                                  console output when started from the dashboard
    stop.request                              asks the grid to stop (the page writes it; the grid removes it)
    runs/<cell-id>/fold_<k>/version_<n>/      each fold's ordinary run directory (docs/RUN_FORMAT.md)
    slurm/<n>/                                each Slurm job array the grid submitted (grid/executors/slurm.py)

A fold may have several attempts (``version_0`` crashed, ``version_1`` finished); the finished one counts.
Readers never raise for a missing or half-written file: a grid is readable while it runs.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from lightning_module.files import read_json
from lightning_module.grid.spec import Cell, GridSpec, GridSpecError, parse_grid_spec
from lightning_module.runs.store import GRID_PROGRESS_FILE, RunInfo, read_metrics, read_run
from lightning_module.training.run_files import writer_alive

SPEC_FILE = "grid.yaml"
PROGRESS_FILE = GRID_PROGRESS_FILE
TABLE_CSV = "results.csv"
REPORT_MD = "results.md"
TESTS_CSV = "comparisons.csv"
FOLDS_CSV = "folds.csv"
LOG_FILE = "grid.log"
LAUNCH_FILE = "launch.json"  # written by the dashboard when it starts a grid (its process id)
STOP_FILE = "stop.request"
# A running grid rewrites progress.json at least this often. A reader on another machine cannot look up the
# grid's process; a file older than HEARTBEAT_STALE_SECONDS means the grid died without saying so.
HEARTBEAT_SECONDS = 15.0
HEARTBEAT_STALE_SECONDS = 120.0
RUNS_DIR = "runs"
# The committed copy of the default grid's results (docs/).
PUBLISHED_CSV = "grid_results.csv"
PUBLISHED_MD = "grid_results.md"

# The metrics the table summarises, in run.json's ``last`` keys, and their names in the table.
METRICS: tuple[tuple[str, str], ...] = (
    ("acc", "Accuracy"),
    ("bal_acc", "Balanced accuracy"),
    ("macro_precision", "Macro precision"),
    ("macro_recall", "Macro recall"),
    ("macro_f1", "Macro F1"),
)
METRIC_LABELS = dict(METRICS)
HEADLINE = "bal_acc"
_VERSION = re.compile(r"^version_(\d+)$")
GRIDS_DIR_ENV = "TREERISK_GRIDS_DIR"


def grids_dir(default: Path | str = "grids") -> Path:
    """The folder holding grid outputs: ``$TREERISK_GRIDS_DIR`` when set, else ``default``."""
    return Path(os.environ.get(GRIDS_DIR_ENV) or default).expanduser()


# ---------------------------------------------------------------------------------------------- folds
def fold_root(output: Path | str, cell: Cell | str, fold: int) -> Path:
    """The folder holding every attempt at ``fold`` of ``cell`` (each attempt a ``version_<n>``)."""
    cell_id = cell.id if isinstance(cell, Cell) else str(cell)
    return Path(output) / RUNS_DIR / cell_id / f"fold_{fold}"


def fold_attempts(root: Path) -> list[RunInfo]:
    """Every attempt at one fold, oldest first."""
    if not root.is_dir():
        return []
    versions = sorted((int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _VERSION.match(p.name)))
    return [read_run(path) for _, path in versions]


def fold_run(root: Path) -> RunInfo | None:
    """The attempt that speaks for a fold: the newest finished one, else the newest of any status."""
    return _speaking_attempt(fold_attempts(root))


def _speaking_attempt(attempts: list[RunInfo]) -> RunInfo | None:
    finished = [a for a in attempts if a.status == "finished"]
    return (finished or attempts or [None])[-1]


def fold_record(output: Path | str, cell: Cell, fold: int) -> dict[str, Any]:
    """One row of ``folds.csv``: the fold's status and its last-epoch validation scores.

    The last epoch, not the best one: with no test split, picking the best epoch on the validation fold
    would report the fold's maximum of a noisy curve, an optimistic number.
    """
    attempts = fold_attempts(fold_root(output, cell, fold))
    run = _speaking_attempt(attempts)
    row: dict[str, Any] = {"cell": cell.id, **cell.as_dict(), "fold": fold, "status": "pending", "attempts": 0}
    if run is None:
        return row
    record = run.record
    last = record.get("last") or {}
    baseline = record.get("majority_baseline") or {}
    row.update(
        status=run.status,
        attempts=len(attempts),
        run_dir=str(run.path),
        classes=len(record.get("classes") or []) or None,
        epochs_done=run.epochs_done,
        seconds=_fold_seconds(run),
        cpu_seconds=_number(record.get("cpu_seconds")),
        error=run.problem,
        collapsed=bool(record.get("collapsed")) if last else None,
        baseline_class=baseline.get("class"),
        baseline_acc=_number(baseline.get("acc")),
        baseline_bal_acc=_number(baseline.get("bal_acc")),
        baseline_macro_f1=_number(baseline.get("macro_f1")),
    )
    finished = run.status == "finished"
    for key, _ in METRICS:
        # Only a finished fold counts: a stopped one's last epoch is not the epoch budget the grid promised.
        row[key] = _number(last.get(f"val/{key}")) if finished else None
    return row


def collect_folds(spec: GridSpec, output: Path | str | None = None) -> pd.DataFrame:
    """One row per planned cell × fold, in grid order (``status`` ``pending`` for folds not started)."""
    output = Path(output or spec.output)
    rows = [fold_record(output, cell, fold) for cell in spec.cells for fold in range(spec.folds)]
    frame = pd.DataFrame(rows)
    for key, _ in METRICS:
        if key not in frame.columns:
            frame[key] = math.nan
    return frame


def fold_curves(output: Path | str, cell_id: str) -> dict[int, pd.DataFrame]:
    """Each fold's ``metrics.csv`` (one row per epoch), by fold number, for the folds that have one."""
    curves: dict[int, pd.DataFrame] = {}
    cell_dir = Path(output) / RUNS_DIR / cell_id
    if not cell_dir.is_dir():
        return curves
    for fold_dir in sorted(cell_dir.glob("fold_*")):
        suffix = fold_dir.name.removeprefix("fold_")
        run = fold_run(fold_dir)
        if run is None or not suffix.isdigit():
            continue
        metrics = read_metrics(run.path)
        if not metrics.empty:
            curves[int(suffix)] = metrics
    return dict(sorted(curves.items()))


# ---------------------------------------------------------------------------------------------- the grid
def saved_spec(output: Path | str) -> GridSpec | None:
    """The grid last run into ``output`` (its ``grid.yaml``), or None when there is none or it is unreadable."""
    path = Path(output) / SPEC_FILE
    try:
        return parse_grid_spec(yaml.safe_load(path.read_text()), origin=str(path))
    except (OSError, yaml.YAMLError, GridSpecError):
        return None


@dataclass(frozen=True)
class GridProgress:
    """What ``progress.json`` says, with a grid whose process has died shown as ``stopped``."""

    status: str  # not started | running | finished | stopped | failed
    done: int
    total: int
    failed: int
    current: str | None
    eta_seconds: float | None
    elapsed_seconds: float | None
    record: dict[str, Any]

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def share(self) -> float:
        return self.done / self.total if self.total else 0.0


def read_progress(output: Path | str) -> GridProgress:
    record = read_json(Path(output) / PROGRESS_FILE) or {}
    status = str(record.get("status") or "not started")
    if status == "running" and not _grid_alive(record):
        status = "stopped"  # killed without a chance to say so; the next run resumes it
    return GridProgress(
        status=status,
        done=int(record.get("done") or 0),
        total=int(record.get("total") or 0),
        failed=int(record.get("failed") or 0),
        current=record.get("current") if status == "running" else None,
        eta_seconds=_number(record.get("eta_seconds")) if status == "running" else None,
        elapsed_seconds=_number(record.get("elapsed_seconds")),
        record=record,
    )


def _grid_alive(record: dict[str, Any]) -> bool:
    """Whether the grid that wrote ``record`` still runs: its process when it ran on this machine, else a
    recent heartbeat (a grid driven from a cluster's login node, read through shared storage)."""
    return writer_alive(record, key="updated", stale_after=HEARTBEAT_STALE_SECONDS)


@dataclass(frozen=True)
class GridFolder:
    """A folder with grid results: a grid's output folder, or the published copy in ``docs/``."""

    path: Path
    table: Path
    report: Path
    tests: Path | None
    has_runs: bool

    @property
    def label(self) -> str:
        return str(self.path)


def as_grid_folder(path: Path | str) -> GridFolder | None:
    """``path`` as a grid folder, or None when it holds no grid (neither a grid.yaml nor a results table)."""
    path = Path(path).expanduser()
    if (path / PUBLISHED_CSV).is_file() and not (path / SPEC_FILE).is_file():
        return GridFolder(path, path / PUBLISHED_CSV, path / PUBLISHED_MD, None, False)
    if any((path / name).is_file() for name in (SPEC_FILE, TABLE_CSV, LAUNCH_FILE)):
        return GridFolder(path, path / TABLE_CSV, path / REPORT_MD, path / TESTS_CSV, (path / RUNS_DIR).is_dir())
    return None


def find_grids(*roots: Path | str) -> list[GridFolder]:
    """Grid folders among ``roots`` and their direct sub-folders, newest first."""
    found: dict[Path, GridFolder] = {}
    for root in roots:
        root = Path(root).expanduser()
        if not root.is_dir():
            continue
        for candidate in [root, *sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))]:
            folder = as_grid_folder(candidate)
            if folder is not None:
                found.setdefault(candidate.resolve(), folder)
    return sorted(found.values(), key=lambda g: -_modified(g.path))


def read_table(path: Path | None) -> pd.DataFrame:
    """A results CSV (empty frame when missing or unreadable)."""
    if path is None:
        return pd.DataFrame()
    try:
        return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):
        return pd.DataFrame()


def _modified(path: Path) -> float:
    times = [p.stat().st_mtime for p in (path / PROGRESS_FILE, path / TABLE_CSV, path / PUBLISHED_CSV) if p.is_file()]
    return max(times, default=0.0)


def _fold_seconds(run: RunInfo) -> float:
    """Wall time of the attempt, set-up included (from the runner's "starting" mark), else the sum of its epochs."""
    timings = run.record.get("timings") or {}
    history = run.record.get("status_history") or [{}]
    try:
        started = datetime.fromisoformat((history[0] or {}).get("time") or timings["started"])
        ended = datetime.fromisoformat(timings["ended"])
        return round((ended - started).total_seconds(), 1)
    except (KeyError, TypeError, ValueError):
        return round(sum(run.epoch_seconds), 1)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(float(value)):
        return None
    return float(value)
