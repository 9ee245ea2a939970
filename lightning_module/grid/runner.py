"""Running a grid: every cell × fold as an ordinary ``fit``, resumable, with progress and the time left.

Each fold is a normal run directory, ``<output>/runs/<cell-id>/fold_<k>/version_<n>/``, so everything the
dashboard shows for a run works for a fold too. A fold whose run says ``finished`` is never trained again; a
failed, stopped or crashed one gets a fresh attempt (``version_<n+1>``) next time, and the old attempt stays
for inspection. A fold that a process still trains (an earlier grid died, and its fold goes on in a process of this
machine or on a cluster node that still sends its heartbeat) is not trained twice: the grid waits for it and takes
its result. A fold that fails is recorded and the grid goes on; Ctrl+C or SIGTERM stops after the fold
in progress has marked itself stopped.

Where the folds train is the executor's business (``grid/executors/``): this machine by default, or a Ray
cluster, or a Slurm job array (``executor.kind`` in the grid file, ``--executor`` on the command line). The
runner is the same for all: it claims each fold's attempt directory, hands the fold over, and judges the
fold by what its own ``run.json`` says when it ended. Which machine ran a fold changes nothing in its result.

On this machine folds run in this process by default (``training.isolation: in_process``): it saves the 7-8 s
that starting Python, torch and Lightning costs per fold on a small CPU. ``subprocess`` isolates each fold
completely. ``training.workers: 2`` trains two folds at a time in two worker processes (with ``threads: 1``
each, the way to use both cores of a 2-core machine: one small network per core beats two threads fighting
over one).

Stop: SIGTERM or Ctrl+C to the grid process, or a ``stop.request`` file in the output folder (what the Grid
study page writes, so a grid driven from another machine stops too). The executor then cancels every fold in
flight or queued.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from lightning_module.files import (
    Timeout,
    atomic_write_json,
    atomic_write_text,
    exclusive_lock,
    pid_alive,
    read_json,
    remove_stale_temporaries,
)
from lightning_module.grid.data_check import ScenarioData, check_grid_data
from lightning_module.grid.estimate import TimeLeft, duration_text, makespan, predict_cells
from lightning_module.grid.executors import ExecutorError, FoldExecutor, make_executor
from lightning_module.grid.folds import INTERRUPTED, FitFunction, FoldJob, fit_arguments, future_result
from lightning_module.grid.results import (
    FOLDS_CSV,
    HEARTBEAT_SECONDS,
    PROGRESS_FILE,
    REPORT_MD,
    SPEC_FILE,
    STOP_FILE,
    TABLE_CSV,
    TESTS_CSV,
    fold_attempts,
    fold_root,
    saved_spec,
)
from lightning_module.grid.spec import Cell, GridSpec, GridSpecError
from lightning_module.grid.tables import GridTables, write_tables
from lightning_module.runs.store import RunInfo, read_run
from lightning_module.training.command_line import fit_command
from lightning_module.training.run_files import (
    ACTIVE_STATUSES,
    claim_next_version,
    now_iso,
    on_this_machine,
    update_run_json,
)

LOCK_FILE = ".grid.lock"
# How often the grid looks at the run.json of a fold another process trains (see FoldTask.training).
ADOPTED_POLL_SECONDS = 5.0
# What the runner writes into its output folder, always holding LOCK_FILE: it is their only writer (the folds'
# run directories clear their own leftovers; launch.json is the dashboard's).
OWN_FILES = (PROGRESS_FILE, SPEC_FILE, FOLDS_CSV, TABLE_CSV, TESTS_CSV, REPORT_MD)
Log = Callable[[str], None]


class GridBusy(RuntimeError):
    """Another process is running a grid into the same output folder."""


@dataclass(frozen=True)
class FoldTask:
    cell: Cell
    fold: int
    finished: bool
    attempts: int
    training: RunInfo | None = None  # an attempt a live process trains now (left by a grid that died)


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
            finished = any(a.status == "finished" for a in attempts)
            training = next((a for a in reversed(attempts) if _still_training(a)), None) if not finished else None
            tasks.append(FoldTask(cell, fold, finished, len(attempts), training))
    return tasks


def _still_training(attempt: RunInfo) -> bool:
    """Whether a process trains ``attempt`` now. ``read_run`` has already judged its training process (by pid
    here, by heartbeat on another host) and calls a dead one crashed; a fold still queued or reading its data
    counts only with a live worker process on this machine (a queue of a grid that died may never start it)."""
    if attempt.status not in ACTIVE_STATUSES:
        return False
    if attempt.record.get("pid"):
        return True
    worker = attempt.record.get("worker")
    return isinstance(worker, dict) and on_this_machine(worker.get("host")) and pid_alive(worker.get("pid"))


@dataclass(frozen=True)
class _InFlight:
    task: FoldTask
    job: FoldJob
    started: float
    adopted: bool = False  # trained by another process; this grid only waits for it (see _adopt)

    @property
    def attempt_dir(self) -> Path:
        return Path(self.job.attempt_dir)

    @property
    def label(self) -> str:
        return self.job.label


def current_tasks(running: dict[Future, _InFlight]) -> list[FoldTask]:
    return [flight.task for flight in running.values()]


# ---------------------------------------------------------------------------------------------- the grid
class GridRunner:
    """Runs the unfinished folds of ``spec`` into ``output`` (``spec.output`` unless given).

    Args:
        fit: trains one fold; default by ``spec.isolation``. Tests pass their own to count or fail folds.
        log: where progress lines go (``print`` by default).
        estimate: time a training step per cell shape to predict the time left before any fold finishes.
        executor: trains the folds; default :func:`~lightning_module.grid.executors.make_executor` of the spec.
    """

    def __init__(self, spec: GridSpec, output: Path | str | None = None, fit: FitFunction | None = None,
                 log: Log = print, estimate: bool = True, executor: FoldExecutor | None = None) -> None:  # fmt: skip
        self.spec = spec
        self.output = Path(output or spec.output)
        self.log = log
        self.estimate = estimate
        self._stop_requested = False
        self._started_at = now_iso()
        self._custom_fit = fit
        self._given_executor = executor
        self._executor_kind = "local"
        self._last_progress = 0.0

    def run(self) -> GridOutcome:
        """Run every fold not yet finished; write the tables after each fold and at the end.

        Raises:
            GridSpecError: ``output`` holds a grid trained with other settings.
            GridDataError: the data cannot be split as the grid asks.
            GridBusy: another grid is running into ``output``.
            ExecutorError: the executor cannot be used (not installed, unreachable, refused).
        """
        self.output.mkdir(parents=True, exist_ok=True)
        with self._lock(), self._sigterm_sets_stop():
            (self.output / STOP_FILE).unlink(missing_ok=True)  # a request left over from an earlier grid
            for name in OWN_FILES:  # what a killed grid left half-written
                remove_stale_temporaries(self.output, name)
            check_compatible(self.spec, self.output)
            data = check_grid_data(self.spec)
            save_spec(self.spec, self.output)
            for scenario in data.values():
                for warning in scenario.warnings:
                    self.log(f"warning: {warning}")
            tasks = plan(self.spec, self.output)
            todo = [t for t in tasks if not t.finished]
            executor = self._given_executor or make_executor(
                self.spec, self.output, len(todo), self._custom_fit, stop=lambda: self._stop_requested
            )
            try:
                with self._sigterm_sets_stop():  # again: connecting to Ray installs a handler of its own
                    return self._run_tasks(executor, tasks, todo, {s: d.photos for s, d in data.items()})
            finally:
                executor.close()

    def _run_tasks(self, executor: FoldExecutor, tasks: list[FoldTask], todo: list[FoldTask],
                   photos: dict[str, int]) -> GridOutcome:  # fmt: skip
        spec, started = self.spec, time.monotonic()
        self._started_at = now_iso()
        self._executor_kind = executor.kind
        outcome = GridOutcome("finished", self.output, skipped=len(tasks) - len(todo))
        self.log(f"Grid '{spec.name}': {len(spec.cells)} cells × {spec.folds} folds = {len(tasks)} folds; "
                 f"{outcome.skipped} already finished, {len(todo)} to run -> {self.output}" + executor.describe())  # fmt: skip
        for problem in executor.problems():
            self.log(f"warning: {problem}")
        time_left = TimeLeft(predict_cells(spec, photos) if self.estimate and todo else {})

        def eta(remaining: list[FoldTask]) -> float | None:
            return time_left.seconds(t.cell.id for t in remaining) / executor.parallel() if time_left.predicted else None

        if todo and self.estimate:
            self.log(f"Estimated time: {duration_text(eta(todo))} (a rough guess until the first folds finish)")
        done = outcome.skipped
        pending: deque[FoldTask] = deque(t for t in todo if t.training is None)
        running: dict[Future, _InFlight] = dict(self._adopt(t) for t in todo if t.training is not None)

        def own() -> int:  # folds this grid's executor runs: those it only waits for take none of its slots
            return sum(not flight.adopted for flight in running.values())

        while running or (pending and not self._stop_requested):
            if pending and own() < executor.capacity and not self._stop_requested:
                batch = []
                while pending and own() + len(batch) < executor.capacity:
                    batch.append(self._start_attempt(pending.popleft()))
                in_flight = [*running.values(), *batch]
                left = eta([*(f.task for f in in_flight), *pending])
                self._progress("running", tasks, done, outcome, started, left, self._current(executor, in_flight))
                try:
                    futures = executor.submit([flight.job for flight in batch])
                except ExecutorError as error:  # refused (sbatch): these attempts never ran; the next run retries
                    for flight in batch:
                        self._mark_ended(flight.attempt_dir, "failed", str(error))
                    executor.cancel([flight.job for flight in running.values() if not flight.adopted])
                    raise
                running.update(zip(futures, batch))
            if self._stop_requested:
                executor.cancel([flight.job for flight in running.values() if not flight.adopted])
                for future, flight in list(running.items()):
                    if flight.adopted:  # not this grid's to stop: it goes on, and counts when the grid next runs
                        running.pop(future)
                        self.log(f"{flight.label}: left to the process that trains it")
            try:
                finished, _ = wait(list(running), timeout=1.0, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:  # Ctrl+C reaches the workers too; collect their stopped folds
                self._stop_requested = True
                continue
            if (self.output / STOP_FILE).exists():
                self._stop_requested = True
            for future in finished:
                flight = running.pop(future)
                status, message = self._conclude(flight, future_result(future))
                seconds = self._fold_seconds(executor, flight)
                if status == "stopped":
                    self._stop_requested = True
                    self.log(f"[{done}/{len(tasks)}] {flight.label}: stopped")
                    continue
                outcome.ran += 1
                if status == "finished":
                    done += 1
                    if not flight.adopted:  # how long an adopted fold took is unknown: it started before this grid
                        time_left.observe(flight.task.cell.id, seconds)
                else:
                    outcome.failed.append(f"{flight.task.cell.id} fold {flight.task.fold}: {message}")
                    message = f"FAILED ({message})"
                left = eta([*current_tasks(running), *pending]) if (pending or running) else None
                after = f", about {duration_text(left)} left" if left is not None and not self._stop_requested else ""
                self.log(f"[{done}/{len(tasks)}] {flight.label}: {message} in {duration_text(seconds)}{after}")
                write_tables(spec, self.output)
                self._progress("running", tasks, done, outcome, started, left, self._current(executor, running.values()))
            if running and time.monotonic() - self._last_progress > HEARTBEAT_SECONDS:
                # A heartbeat: a dashboard on another machine cannot see this process, only that the file is fresh.
                left = eta([*current_tasks(running), *pending])
                self._progress("running", tasks, done, outcome, started, left, self._current(executor, running.values()))
        if self._stop_requested and done < len(tasks):
            outcome.status = "stopped"
        elif outcome.failed:
            outcome.status = "incomplete"
        outcome.seconds = time.monotonic() - started
        outcome.tables = write_tables(spec, self.output)
        self._progress(outcome.status, tasks, done, outcome, started, None, [])
        (self.output / STOP_FILE).unlink(missing_ok=True)
        return outcome

    def _label(self, task: FoldTask) -> str:
        return f"{task.cell.label}, fold {task.fold + 1}/{self.spec.folds}"

    def _adopt(self, task: FoldTask) -> tuple[Future, _InFlight]:
        """Wait for a fold another process trains, instead of training it twice: a future that completes when its
        run.json says it ended (or its process is found dead)."""
        assert task.training is not None
        attempt_dir = task.training.path
        record = task.training.record
        label = self._label(task)
        where = f"pid {record.get('pid')} on {record.get('host') or 'this machine'}" if record.get("pid") else "a worker"
        self.log(f"{label}: still training in {attempt_dir.name} ({where}), left by an earlier grid; waiting for it "
                 "instead of training it again")
        future: Future = Future()

        def watch() -> None:
            while read_run(attempt_dir).status in ACTIVE_STATUSES:
                time.sleep(ADOPTED_POLL_SECONDS)
            future.set_result(None)

        threading.Thread(target=watch, name=f"grid-adopted-{task.cell.id}-{task.fold}", daemon=True).start()
        job = FoldJob((), str(attempt_dir.resolve()), label, self.spec.threads, self.spec.isolation, os.getcwd())
        return future, _InFlight(task, job, time.monotonic(), adopted=True)

    def _start_attempt(self, task: FoldTask) -> _InFlight:
        """Claim a fresh attempt directory for ``task`` and mark it starting, with the command that reproduces it."""
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
            command=fit_command(arguments=arguments),
            grid={"output": str(self.output), "cell": task.cell.id, "fold": task.fold, "folds": self.spec.folds},
            **task.cell.as_dict(),
            max_epochs=self.spec.epochs,
        )
        label = self._label(task)
        job = FoldJob(tuple(arguments), str(attempt_dir.resolve()), label, self.spec.threads, self.spec.isolation,
                      os.getcwd())  # fmt: skip
        return _InFlight(task, job, time.monotonic())

    @staticmethod
    def _current(executor: FoldExecutor, flights: Any) -> list[str]:
        """What the progress calls "now": every fold in flight here; on a cluster, those its run.json says are
        training, and how many wait in the cluster's queue."""
        flights = list(flights)
        if not executor.remote:
            return [flight.label for flight in flights]
        training = [f.label for f in flights if (read_json(f.attempt_dir / "run.json") or {}).get("status") == "running"]
        waiting = len(flights) - len(training)
        return training + ([f"{waiting} waiting for the cluster"] if waiting else [])

    @staticmethod
    def _fold_seconds(executor: FoldExecutor, flight: _InFlight) -> float:
        """How long the fold took: here, since it was handed over; on a cluster, since its worker took it up (the
        time it waited in the queue says nothing about the folds still to run)."""
        waited = time.monotonic() - flight.started
        if not executor.remote:
            return waited
        record = read_json(flight.attempt_dir / "run.json") or {}
        try:
            started = datetime.fromisoformat((record.get("worker") or {})["started"])
            return (datetime.fromisoformat(record["timings"]["ended"]) - started).total_seconds()
        except (KeyError, TypeError, ValueError):
            return waited

    def _conclude(self, flight: _InFlight, error: str | None) -> tuple[str, str]:
        """The fold's outcome from its run.json and the error its fit raised: (status, what to tell the user)."""
        attempt_dir = flight.attempt_dir
        run = read_run(attempt_dir)
        if run.status == "finished" and error is None:
            baseline = run.baseline.get("bal_acc")
            score = run.last.get("val/bal_acc")
            text = f"val bal. acc. {score:.3f}" if isinstance(score, (int, float)) else "finished"
            if isinstance(baseline, (int, float)):
                text += f" (baseline {baseline:.3f})"
            return "finished", text
        if run.status == "stopped" or error == INTERRUPTED or self._stop_requested:
            self._mark_ended(attempt_dir, "stopped", None)
            return "stopped", "stopped"
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
                  eta: float | None, current: list[str]) -> None:  # fmt: skip
        self._last_progress = time.monotonic()
        atomic_write_json(self.output / PROGRESS_FILE, {
            "name": self.spec.name, "status": status, "pid": os.getpid() if status == "running" else None,
            "host": socket.gethostname(), "executor": self._executor_kind,
            "started": self._started_at, "updated": now_iso(), "total": len(tasks), "done": done,
            "ran": outcome.ran, "failed": len(outcome.failed), "failures": outcome.failed[-20:], "current": " · ".join(current) or None,
            "eta_seconds": round(eta, 1) if eta is not None else None,
            "elapsed_seconds": round(time.monotonic() - started, 1),
        })  # fmt: skip

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        lock = exclusive_lock(self.output / LOCK_FILE)
        try:
            lock.acquire(timeout=0)  # never wait: a second grid into the same folder is refused at once
        except Timeout:
            pid = (read_json(self.output / PROGRESS_FILE) or {}).get("pid")
            raise GridBusy(f"A grid is already running into {self.output} (pid {pid}); wait for it or stop it first.") from None
        try:
            yield
        finally:
            lock.release()  # the operating system releases it too when this process dies

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


def estimate_grid(spec: GridSpec, output: Path | str | None = None, time_steps: bool = True,
                  parallel: int | None = None) -> GridEstimate:  # fmt: skip
    """Plan ``spec`` against what is on disk and predict the time of the folds left (nothing is trained).

    ``parallel``: folds trained at a time (a cluster's GPUs or nodes); the time is then the :func:`makespan` of
    the folds left, each predicted and rescaled by the folds of this grid that already finished in ``output``
    (measured wherever they ran). Without it: ``training.workers`` at a time on this machine, as the runner
    predicts.

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
        predicted = TimeLeft(predict_cells(spec, {s: d.photos for s, d in data.items()}))
        if parallel:
            for cell_id, fold_seconds in measured_fold_seconds(spec, output):
                predicted.observe(cell_id, fold_seconds)
            seconds = makespan((predicted.seconds([t.cell.id]) for t in todo), parallel)
        else:
            seconds = predicted.seconds(t.cell.id for t in todo) / max(1, min(spec.workers, len(todo)))
    return GridEstimate(tasks, todo, seconds, data)


def measured_fold_seconds(spec: GridSpec, output: Path) -> list[tuple[str, float]]:
    """(cell id, seconds) of every finished fold of ``spec`` in ``output``: from its worker taking it up (or its
    fit starting) to its end, so time spent waiting in a queue is not counted."""
    measured = []
    for task in plan(spec, output):
        for attempt in fold_attempts(fold_root(output, task.cell, task.fold)):
            record = attempt.record
            started = (record.get("worker") or {}).get("started") or (record.get("timings") or {}).get("started")
            try:
                seconds = (datetime.fromisoformat(record["timings"]["ended"]) - datetime.fromisoformat(started)).total_seconds()
            except (KeyError, TypeError, ValueError):
                continue
            if attempt.status == "finished" and seconds > 0:
                measured.append((task.cell.id, seconds))
    return measured
