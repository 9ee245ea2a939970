"""Folds on a Slurm cluster: the folds to run become one job array, one array task per fold, submitted with
``sbatch``; ``squeue`` says which have ended.

Each submission gets a folder ``<output>/slurm/<n>/`` holding what it ran, for inspection and by hand:

    folds.json        the folds, array task i trains folds[i]
    array.sbatch      the job script, resources from the grid file's ``executor`` section
    job.json          the array's job id, once submitted
    task-<i>.out      Slurm's console of task i (the fold's own console is its run directory's train.log)
    result-<i>.json   written by task i when its fold ended: None, or what went wrong

The grid process must stay up while the array runs (it writes the progress and the tables). When it was killed
and started again while tasks of an earlier submission still run, it refuses to start: training those folds
twice would waste the cluster's time. Stop: ``scancel`` of the array; Slurm sends each running task SIGTERM, which
the fit turns into "record the run as stopped and exit".
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import asdict
from pathlib import Path

from lightning_module.files import atomic_write_json, atomic_write_text, read_json
from lightning_module.grid.executors.base import ExecutorError, FoldExecutor
from lightning_module.grid.folds import FOLD_LOG, FoldJob
from lightning_module.grid.spec import GridSpec

SLURM_DIR = "slurm"
# squeue every few seconds: enough to see a fold end soon after, little for a controller serving a whole cluster.
POLL_SECONDS = 5.0
COMMAND_TIMEOUT = 60


class SlurmExecutor(FoldExecutor):
    """Folds as the tasks of Slurm job arrays. Raises :class:`ExecutorError` when Slurm's commands do not work
    here, or an earlier submission into the same output folder is still queued or running."""

    kind = "slurm"
    remote = True

    def __init__(self, spec: GridSpec, output: Path, poll_seconds: float = POLL_SECONDS) -> None:
        for command in ("sbatch", "squeue", "scancel"):
            if shutil.which(command) is None:
                raise ExecutorError(f"{command} not found: run the grid where Slurm's commands work (a login node)")
        self.spec = spec
        self.folder = Path(output) / SLURM_DIR
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._tasks: dict[str, tuple[FoldJob, Future, Path, int]] = {}  # "<job>_<i>" -> fold, future, folder, i
        self._arrays: list[str] = []
        self._cancelled = False
        self._most_running = 1
        self._closing = threading.Event()
        self._refuse_if_earlier_arrays_live()
        self._poller = threading.Thread(target=self._poll_forever, name="slurm-poll", daemon=True)
        self._poller.start()

    @property
    def capacity(self) -> int:
        return 1_000_000  # the whole grid goes to Slurm's queue at once, as one array

    def parallel(self) -> int:
        if self.spec.executor.max_parallel:
            return self.spec.executor.max_parallel
        return self._most_running  # Slurm decides; the most folds seen running at once is the best guess

    def describe(self) -> str:
        settings = self.spec.executor
        where = f"partition {settings.partition}" if settings.partition else "the default partition"
        return f" as a Slurm job array on {where} (each fold: {self.spec.fold_resources}, time limit {settings.time})"

    def submit(self, jobs: Sequence[FoldJob]) -> list[Future]:
        if not jobs:
            return []
        folder = self._new_submission_folder()
        atomic_write_json(folder / "folds.json", {"folds": [asdict(job) for job in jobs]})
        script = folder / "array.sbatch"
        atomic_write_text(script, self.job_script(folder, len(jobs)))
        array = f"0-{len(jobs) - 1}" + (f"%{self.spec.executor.max_parallel}" if self.spec.executor.max_parallel else "")
        result = _run(["sbatch", "--parsable", f"--array={array}", str(script)])
        if result.returncode != 0:
            raise ExecutorError(f"sbatch refused the job array ({(result.stderr or result.stdout).strip()}); "
                                f"the script is {script}")  # fmt: skip
        job_id = result.stdout.strip().split(";")[0]  # "<id>" or "<id>;<cluster>"
        atomic_write_json(folder / "job.json", {"job_id": job_id, "tasks": len(jobs)})
        futures = []
        with self._lock:
            self._arrays.append(job_id)
            for index, job in enumerate(jobs):
                future: Future = Future()
                self._tasks[f"{job_id}_{index}"] = (job, future, folder, index)
                futures.append(future)
        return futures

    def job_script(self, folder: Path, tasks: int) -> str:
        """The array's job script: resources from the grid file, then the fold of ``$SLURM_ARRAY_TASK_ID``."""
        settings, spec = self.spec.executor, self.spec
        options = [f"--job-name=treerisk-grid-{spec.name}", f"--cpus-per-task={spec.cpus_per_fold}",
                   "--ntasks=1", f"--time={settings.time}", f"--output={folder}/task-%a.out",
                   f"--chdir={Path.cwd()}"]  # fmt: skip
        if spec.gpus_per_fold:
            options.append(f"--gres=gpu:{spec.gpus_per_fold}")
        if settings.partition:
            options.append(f"--partition={settings.partition}")
        if settings.mem:
            options.append(f"--mem={settings.mem}")
        options += list(settings.sbatch_options)
        worker = [sys.executable, "-m", "lightning_module.grid.executors.slurm_worker", str(folder)]
        return "\n".join([
            "#!/bin/bash",
            f"# Grid '{spec.name}': {tasks} folds, one per array task (written by python -m lightning_module grid).",
            *[f"#SBATCH {option}" for option in options],
            "",
            f'exec {shlex.join(worker)} "$SLURM_ARRAY_TASK_ID"',
            "",
        ])  # fmt: skip

    def cancel(self, jobs: Sequence[FoldJob]) -> None:
        with self._lock:
            if self._cancelled or not self._arrays:
                return
            self._cancelled = True
            arrays = list(self._arrays)
        _run(["scancel", *arrays])  # queued tasks are dropped; running ones get SIGTERM

    def close(self) -> None:
        self._closing.set()
        self._poller.join(timeout=COMMAND_TIMEOUT)

    # ------------------------------------------------------------------------------------------ polling
    def _poll_forever(self) -> None:
        while not self._closing.wait(self.poll_seconds):
            with self._lock:
                arrays = list(self._arrays)
                waiting = dict(self._tasks)
            if not waiting:
                continue
            live = _live_tasks(arrays)
            if live is None:  # squeue failed this time (a busy controller): ask again next round
                continue
            self._most_running = max(self._most_running, sum(1 for state in live.values() if state == "RUNNING"))
            for task, (job, future, folder, index) in waiting.items():
                if task in live:
                    continue
                with self._lock:
                    self._tasks.pop(task, None)
                future.set_result(self._outcome(task, job, folder, index))

    def _outcome(self, task: str, job: FoldJob, folder: Path, index: int) -> str | None:
        """The fold's result as its task wrote it; else why the task ended without one, from Slurm."""
        result = read_json(folder / f"result-{index}.json")
        if result is not None:
            return result.get("error")
        if self._cancelled:
            return "cancelled"
        state = _final_state(task)
        return (f"Slurm task {task} ended {state or 'without a result'} before its fold finished (killed, out of "
                f"memory or out of time?); see {folder / f'task-{index}.out'} and {Path(job.attempt_dir) / FOLD_LOG}")  # fmt: skip

    # ------------------------------------------------------------------------------------------ the folder
    def _new_submission_folder(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        numbers = [int(p.name) for p in self.folder.iterdir() if p.is_dir() and p.name.isdigit()]
        folder = self.folder / str(max(numbers, default=-1) + 1)
        folder.mkdir()
        return folder

    def _refuse_if_earlier_arrays_live(self) -> None:
        if not self.folder.is_dir():
            return
        earlier = [str(r["job_id"]) for p in self.folder.iterdir() if (r := read_json(p / "job.json")) and r.get("job_id")]
        if not earlier:
            return
        live = _live_tasks(earlier)
        if live is None:
            raise ExecutorError("squeue failed: cannot tell whether this grid's earlier Slurm jobs still run")
        if live:
            arrays = sorted({task.split("_")[0] for task in live})
            raise ExecutorError(
                f"{len(live)} folds of an earlier submission of this grid are still queued or running on Slurm "
                f"(job {', '.join(arrays)}). Wait for them to end, or cancel them (scancel {' '.join(arrays)}), "
                "then run the grid again: folds that finished are kept."
            )


def _run(command: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as error:
        return subprocess.CompletedProcess(command, 1, "", str(error))


def _live_tasks(arrays: Sequence[str]) -> dict[str, str] | None:
    """``{"<job>_<i>": state}`` of the array tasks still queued or running; None when squeue fails."""
    if not arrays:
        return {}
    result = _run(["squeue", "--noheader", "--array", f"--jobs={','.join(arrays)}", "--format=%i %T"])
    if result.returncode != 0:
        # squeue refuses job ids it has forgotten; ask about each array alone to tell "gone" from "failed".
        if len(arrays) > 1:
            answers = [_live_tasks([array]) for array in arrays]
            return None if any(a is None for a in answers) else {k: v for a in answers for k, v in a.items()}
        return {} if "Invalid job id" in result.stderr else None
    live = {}
    for line in result.stdout.splitlines():
        task, _, state = line.strip().partition(" ")
        if task and "[" not in task:  # a pending remainder "<job>_[3-7]" has its tasks listed one by one too
            live[task] = state
    return live


def _final_state(task: str) -> str | None:
    """How Slurm says the task ended (FAILED, TIMEOUT, OUT_OF_MEMORY, ...), while the controller remembers it."""
    result = _run(["scontrol", "show", "job", "--oneliner", task])
    fields = dict(part.split("=", 1) for part in result.stdout.split() if "=" in part)
    state = fields.get("JobState")
    return f"{state} (exit code {fields['ExitCode']})" if state and "ExitCode" in fields else state
