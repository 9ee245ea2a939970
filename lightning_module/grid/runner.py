"""Running a grid: every cell × fold as an ordinary ``fit``, resumable, with progress and the time left.

Each fold is a normal run directory, ``<output>/runs/<cell-id>/fold_<k>/version_<n>/``, so everything the
dashboard shows for a run works for a fold too. A fold whose run says ``finished`` is never trained again; a
failed, stopped or crashed one gets a fresh attempt (``version_<n+1>``) next time, and the old attempt stays
for inspection. A fold that fails is recorded and the grid goes on; Ctrl+C or SIGTERM stops after the fold
in progress has marked itself stopped.

Folds run in this process by default (``training.isolation: in_process``): it saves the 7-8 s that starting
Python, torch and Lightning costs per fold on a small CPU. ``subprocess`` isolates each fold completely.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from lightning_module.grid.data_check import ScenarioData, check_grid_data
from lightning_module.grid.estimate import TimeLeft, duration_text, predict_cells
from lightning_module.grid.results import PROGRESS_FILE, SPEC_FILE, fold_attempts, fold_root, saved_spec
from lightning_module.grid.spec import Cell, GridSpec, GridSpecError
from lightning_module.grid.tables import GridTables, write_tables
from lightning_module.runs.store import read_run
from lightning_module.training.run_files import (
    atomic_write_json,
    atomic_write_text,
    claim_next_version,
    now_iso,
    read_json,
    update_run_json,
)

LOCK_FILE = ".grid.lock"
FOLD_LOG = "train.log"
# (fit arguments after ``fit``, attempt directory) -> None; raises when the fit itself fails.
FitFunction = Callable[[list[str], Path], None]
Log = Callable[[str], None]


class GridBusy(RuntimeError):
    """Another process is running a grid into the same output folder."""


class GridStopped(Exception):
    """The user asked the grid to stop (Ctrl+C or SIGTERM)."""


@dataclass(frozen=True)
class FoldTask:
    cell: Cell
    fold: int
    finished: bool
    attempts: int


@dataclass
class GridOutcome:
    """What one invocation did. ``status``: finished (every fold finished), incomplete (some failed) or stopped."""

    status: str
    output: Path
    ran: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    tables: GridTables | None = None


# ---------------------------------------------------------------------------------------------- planning
def plan(spec: GridSpec, output: Path | str | None = None) -> list[FoldTask]:
    """Every cell × fold of ``spec`` in running order, each marked finished or not from what is on disk."""
    output = Path(output or spec.output)
    tasks = []
    for cell in spec.cells:
        for fold in range(spec.folds):
            attempts = fold_attempts(fold_root(output, cell, fold))
            tasks.append(FoldTask(cell, fold, any(a.status == "finished" for a in attempts), len(attempts)))
    return tasks


def fit_arguments(spec: GridSpec, cell: Cell, fold: int, attempt_dir: Path) -> list[str]:
    """The ``fit`` arguments that train ``fold`` of ``cell`` into ``attempt_dir`` (``.../fold_<k>/version_<n>``)."""
    version = int(attempt_dir.name.removeprefix("version_"))
    arguments = [
        "--seed_everything", str(spec.seed),
        "--data.source", spec.source,
        "--data.scenario", cell.scenario,
        "--data.image_size", str(cell.image_size),
        "--data.color_mode", cell.color_mode,
        "--data.batch_size", str(spec.batch_size),
        "--data.seed", str(spec.seed),
        "--data.fold", str(fold),
        "--data.n_folds", str(spec.folds),
        "--model.backbone", cell.backbone,
        "--model.pretrained", cell.pretrained,
        "--model.lr", repr(spec.lr),
        "--trainer.max_epochs", str(spec.epochs),
        "--trainer.accelerator", spec.accelerator,
        "--trainer.devices", "1",
        "--trainer.enable_progress_bar", "false",
        "--trainer.logger.init_args.save_dir", str(attempt_dir.parent.parent.resolve()),
        "--trainer.logger.init_args.name", attempt_dir.parent.name,
        "--trainer.logger.init_args.version", str(version),
    ]  # fmt: skip
    if spec.source == "synthetic":
        arguments += ["--data.synthetic_size", str(spec.synthetic_size)]
    if spec.group_regex:
        arguments += ["--data.group_regex", spec.group_regex]
    if spec.cache_dir != "auto":
        arguments += ["--data.cache_dir", spec.cache_dir or "null"]
    return arguments


# ---------------------------------------------------------------------------------------------- one fold
def fit_in_process(arguments: list[str], attempt_dir: Path) -> None:
    """Train one fold in this process, its console output going to the attempt's ``train.log``."""
    from lightning_module.training.cli import main as fit_main

    previous_sigint = signal.getsignal(signal.SIGINT)
    previous_argv = sys.argv
    quiet = [logging.getLogger(name) for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric")]
    levels = [logger.level for logger in quiet]
    try:
        with _console_to(attempt_dir / FOLD_LOG):
            for logger in quiet:
                logger.setLevel(logging.WARNING)
            sys.argv = sys.argv[:1]  # LightningCLI warns when it gets arguments and sees the grid's own too
            fit_main(["fit", *arguments])
    finally:
        sys.argv = previous_argv
        for logger, level in zip(quiet, levels):
            logger.setLevel(level)
        # Lightning ignores SIGINT after a Ctrl+C during fit; give the grid its Ctrl+C back.
        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGINT, previous_sigint)
        gc.collect()


def fit_in_subprocess(arguments: list[str], attempt_dir: Path, stop: Callable[[], bool] | None = None) -> None:
    """Train one fold as ``python -m lightning_module fit ...``; a non-zero exit raises with the log's path."""
    command = [sys.executable, "-m", "lightning_module", "fit", *arguments]
    with (attempt_dir / FOLD_LOG).open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            while process.poll() is None:
                if stop is not None and stop():
                    process.terminate()  # Lightning marks the run stopped and exits
                try:
                    process.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    pass
        except KeyboardInterrupt:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=60)
            raise
    if process.returncode != 0:
        raise RuntimeError(f"training process exited with code {process.returncode} (see {attempt_dir / FOLD_LOG})")


@contextlib.contextmanager
def _console_to(path: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors too, for C-level output) to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with path.open("ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


# ---------------------------------------------------------------------------------------------- the grid
class GridRunner:
    """Runs the unfinished folds of ``spec`` into ``output`` (``spec.output`` unless given).

    Args:
        fit: trains one fold; default by ``spec.isolation``. Tests pass their own to count or fail folds.
        log: where progress lines go (``print`` by default).
        estimate: time a training step per cell shape to predict the time left before any fold finishes.
    """

    def __init__(self, spec: GridSpec, output: Path | str | None = None, fit: FitFunction | None = None,
                 log: Log = print, estimate: bool = True) -> None:  # fmt: skip
        self.spec = spec
        self.output = Path(output or spec.output)
        self.log = log
        self.estimate = estimate
        self._stop_requested = False
        self._started_at = now_iso()
        if fit is not None:
            self.fit = fit
        elif spec.isolation == "subprocess":
            self.fit = lambda arguments, attempt_dir: fit_in_subprocess(arguments, attempt_dir, lambda: self._stop_requested)
        else:
            self.fit = fit_in_process

    def run(self) -> GridOutcome:
        """Run every fold not yet finished; write the tables after each fold and at the end.

        Raises:
            GridSpecError: ``output`` holds a grid trained with other settings.
            GridDataError: the data cannot be split as the grid asks.
            GridBusy: another grid is running into ``output``.
        """
        self.output.mkdir(parents=True, exist_ok=True)
        with self._lock(), self._sigterm_sets_stop():
            check_compatible(self.spec, self.output)
            data = check_grid_data(self.spec)
            save_spec(self.spec, self.output)
            for scenario in data.values():
                for warning in scenario.warnings:
                    self.log(f"warning: {warning}")
            return self._run_tasks({s: d.photos for s, d in data.items()})

    def _run_tasks(self, photos: dict[str, int]) -> GridOutcome:
        spec, started = self.spec, time.monotonic()
        self._started_at = now_iso()
        tasks = plan(spec, self.output)
        todo = [t for t in tasks if not t.finished]
        outcome = GridOutcome("finished", self.output, skipped=len(tasks) - len(todo))
        self.log(f"Grid '{spec.name}': {len(spec.cells)} cells × {spec.folds} folds = {len(tasks)} folds; "
                 f"{outcome.skipped} already finished, {len(todo)} to run -> {self.output}")  # fmt: skip
        time_left = TimeLeft(predict_cells(spec, photos) if self.estimate and todo else {})
        if todo and self.estimate:
            self.log(f"Estimated time: {duration_text(time_left.seconds(t.cell.id for t in todo))} "
                     "(a rough guess until the first folds finish)")  # fmt: skip
        done = outcome.skipped
        self._progress("running", tasks, done, outcome, started, time_left, todo, current=None)
        for index, task in enumerate(todo):
            if self._stop_requested:
                outcome.status = "stopped"
                break
            label = f"{task.cell.label}, fold {task.fold + 1}/{spec.folds}"
            self._progress("running", tasks, done, outcome, started, time_left, todo[index:], current=label)
            fold_started = time.monotonic()
            try:
                status, message = self._run_fold(task)
            except (GridStopped, KeyboardInterrupt):
                outcome.status = "stopped"
                break
            seconds = time.monotonic() - fold_started
            outcome.ran += 1
            if status == "finished":
                done += 1
                time_left.observe(task.cell.id, seconds)
            else:
                outcome.failed.append(f"{task.cell.id} fold {task.fold}: {message}")
                message = f"FAILED ({message})"
            left = todo[index + 1 :]
            eta = f", about {duration_text(time_left.seconds(t.cell.id for t in left))} left" if left and self.estimate else ""
            self.log(f"[{done}/{len(tasks)}] {label}: {message} in {duration_text(seconds)}{eta}")
            write_tables(spec, self.output)
        if outcome.status != "stopped" and outcome.failed:
            outcome.status = "incomplete"
        outcome.seconds = time.monotonic() - started
        outcome.tables = write_tables(spec, self.output)
        self._progress(outcome.status, tasks, done, outcome, started, time_left, [], current=None)
        return outcome

    def _run_fold(self, task: FoldTask) -> tuple[str, str]:
        """Train one fold; returns (status, what to tell the user). Raises GridStopped when the user stopped it."""
        root = fold_root(self.output, task.cell, task.fold)
        attempt_dir = root / f"version_{claim_next_version(root)}"
        arguments = fit_arguments(self.spec, task.cell, task.fold, attempt_dir)
        update_run_json(
            attempt_dir,
            status="starting",
            name=root.name,
            dir=str(attempt_dir),
            pid=None,
            # The command that reproduces this fold on its own, whatever process ran it.
            command=[sys.executable, "-m", "lightning_module", "fit", *arguments],
            grid={"output": str(self.output), "cell": task.cell.id, "fold": task.fold, "folds": self.spec.folds},
            **task.cell.as_dict(),
            max_epochs=self.spec.epochs,
        )
        error: str | None = None
        try:
            self.fit(arguments, attempt_dir)
        except KeyboardInterrupt:
            self._mark_ended(attempt_dir, "stopped", None)
            raise GridStopped from None
        except SystemExit as exit_:  # Lightning exits after Ctrl+C; the argument parser exits on bad arguments
            error = f"exited with code {exit_.code} (see {attempt_dir / FOLD_LOG})"
        except Exception as exception:  # a crash in one fold is recorded, not fatal
            error = f"{type(exception).__name__}: {exception}"
        run = read_run(attempt_dir)
        if run.status == "finished" and error is None:
            last = run.last
            baseline = run.baseline.get("bal_acc")
            score = last.get("val/bal_acc")
            text = f"val bal. acc. {score:.3f}" if isinstance(score, (int, float)) else "finished"
            if isinstance(baseline, (int, float)):
                text += f" (baseline {baseline:.3f})"
            return "finished", text
        if run.status == "stopped" or self._stop_requested:
            self._mark_ended(attempt_dir, "stopped", None)
            raise GridStopped
        message = error or run.problem or f"ended as {run.status}"
        self._mark_ended(attempt_dir, "failed", message)
        return "failed", message

    @staticmethod
    def _mark_ended(attempt_dir: Path, status: str, error: str | None) -> None:
        record = read_json(attempt_dir / "run.json") or {}
        if record.get("status") in ("finished", status):
            return
        update_run_json(attempt_dir, status=status, error=error or record.get("error"), pid=None)

    def _progress(self, status: str, tasks: list[FoldTask], done: int, outcome: GridOutcome, started: float,
                  time_left: TimeLeft, remaining: list[FoldTask], current: str | None) -> None:  # fmt: skip
        eta = time_left.seconds(t.cell.id for t in remaining) if remaining and time_left.predicted else None
        atomic_write_json(self.output / PROGRESS_FILE, {
            "name": self.spec.name, "status": status, "pid": os.getpid() if status == "running" else None,
            "started": self._started_at, "updated": now_iso(), "total": len(tasks), "done": done,
            "ran": outcome.ran, "failed": len(outcome.failed), "failures": outcome.failed[-20:], "current": current,
            "eta_seconds": round(eta, 1) if eta is not None else None,
            "elapsed_seconds": round(time.monotonic() - started, 1),
        })  # fmt: skip

    @contextlib.contextmanager
    def _lock(self) -> Iterator[IO[str]]:
        handle = (self.output / LOCK_FILE).open("a+")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = (read_json(self.output / PROGRESS_FILE) or {}).get("pid")
                raise GridBusy(f"A grid is already running into {self.output} (pid {pid}); wait for it or stop it first.") from None
            yield handle
        finally:
            handle.close()  # releases the lock, also when this process dies

    @contextlib.contextmanager
    def _sigterm_sets_stop(self) -> Iterator[None]:
        # Only a flag: Lightning (which chains this handler during a fit) stops the fold at the next step, and
        # the loop stops before the next fold. Raising here could tear a checkpoint write in half.
        def handler(signum: int, frame: Any) -> None:
            self._stop_requested = True

        try:
            previous = signal.signal(signal.SIGTERM, handler)
        except ValueError:  # not the main thread: no signal handling
            yield
            return
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------------------------------------- the output folder
def check_compatible(spec: GridSpec, output: Path) -> None:
    """Refuse an output folder whose folds were trained with other settings: mixing them would corrupt the table.

    Changing the axes is fine (new cells are trained, finished ones kept); changing folds, epochs, data or any
    other training setting is not.
    """
    previous = saved_spec(output)
    if previous is None:
        if (output / SPEC_FILE).exists():
            raise GridSpecError(f"{output / SPEC_FILE} is unreadable; it describes the folds already in {output}. "
                                "Restore it or choose another output folder.")  # fmt: skip
        return
    old, new = previous.training_settings(), spec.training_settings()
    changed = [f"{key}: {old[key]!r} there, {new[key]!r} here" for key in new if old.get(key) != new[key]]
    if changed:
        raise GridSpecError(
            f"{output} holds a grid trained with other settings ({'; '.join(changed)}). Its folds would not be "
            "comparable with new ones: choose another output folder (--output), or the same settings."
        )


def save_spec(spec: GridSpec, output: Path) -> None:
    """Write ``grid.yaml``; an earlier one with other axes is kept as ``grid.before-<n>.yaml``."""
    path = output / SPEC_FILE
    text = f"# The grid last run into this folder ({now_iso()}).\n" + yaml.safe_dump(
        spec.with_output(str(output)).to_config(), sort_keys=False
    )
    previous = saved_spec(output)
    if previous is not None and previous.to_config()["grid"] != spec.to_config()["grid"]:
        index = 1
        while (output / f"grid.before-{index}.yaml").exists():
            index += 1
        os.replace(path, output / f"grid.before-{index}.yaml")
    atomic_write_text(path, text)


def run_grid(spec: GridSpec, output: Path | str | None = None, fit: FitFunction | None = None,
             log: Log = print, estimate: bool = True) -> GridOutcome:  # fmt: skip
    """Run ``spec`` into ``output``; see :class:`GridRunner`."""
    return GridRunner(spec, output, fit=fit, log=log, estimate=estimate).run()


@dataclass(frozen=True)
class GridEstimate:
    """What running ``spec`` now would do: folds left, their predicted time, and the data per scenario."""

    tasks: list[FoldTask]
    todo: list[FoldTask]
    seconds: float | None
    data: dict[str, ScenarioData]


def estimate_grid(spec: GridSpec, output: Path | str | None = None, time_steps: bool = True) -> GridEstimate:
    """Plan ``spec`` against what is on disk and predict the time of the folds left (nothing is trained).

    Raises:
        GridSpecError, GridDataError: as :meth:`GridRunner.run` would, before training anything.
    """
    output = Path(output or spec.output)
    check_compatible(spec, output)
    data = check_grid_data(spec, make_synthetic=False)
    tasks = plan(spec, output)
    todo = [t for t in tasks if not t.finished]
    seconds = None
    if todo and time_steps:
        seconds = TimeLeft(predict_cells(spec, {s: d.photos for s, d in data.items()})).seconds(t.cell.id for t in todo)
    return GridEstimate(tasks, todo, seconds, data)
