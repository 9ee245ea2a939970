"""Starting, stopping and resuming training as a separate process (``python -m lightning_module fit``).

Training never runs inside the dashboard's process: multi-device training relaunches ``sys.argv``, which there
would be Streamlit itself, and the page must stay responsive. The process gets its own session (so Stop reaches
its DDP workers too) and writes everything to its run directory; closing the browser loses nothing.

Choices are checked before anything starts, so a missing folder, a folder without photos or a class the
scenario needs but the data lacks is refused with a message rather than a failed run.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import lightning_module
from lightning_module import processes
from lightning_module.data.categories import SCENARIO_NAMES, scenario_mapping
from lightning_module.data.sources import DataSourceError, discover_folder, read_manifest
from lightning_module.files import Timeout, exclusive_lock, read_json
from lightning_module.models.backbones import backbone_problems
from lightning_module.runs.store import RunInfo, read_run
from lightning_module.training.command_line import OptionValue, fit_command
from lightning_module.training.run_files import (
    ACTIVE_STATUSES,
    claim_next_version,
    on_this_machine,
    update_run_json,
    validate_run_name,
)

DataKind = Literal["synthetic", "folder", "manifest"]
# Each class needs this many photos for a train/validation/test split (the data module's own rule).
MIN_PHOTOS_PER_CLASS = 3
REPO_ROOT = Path(lightning_module.__file__).resolve().parent.parent
LOG_NAME = "train.log"
LAUNCH_LOCK_NAME = ".launch.lock"


class LaunchError(ValueError):
    """Training was not started (or stopped, or resumed); ``problems`` lists every reason, in the user's words."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class TrainingRequest:
    """What the Train page asks for. ``data_path`` is the folder or manifest (unused for synthetic data)."""

    run_name: str
    data_kind: DataKind = "synthetic"
    data_path: str = ""
    synthetic_size: int = 458
    scenario: str = "Pr_Po_Im"
    backbone: str = "seed_cnn"
    pretrained: Literal["none", "imagenet"] = "none"
    image_size: int = 108
    color_mode: Literal["grayscale", "rgb"] = "grayscale"
    max_epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    accelerator: Literal["cpu", "gpu"] = "cpu"
    devices: int = 1

    @property
    def source(self) -> str:
        """The value of ``--data.source``."""
        if self.data_kind == "synthetic":
            return "synthetic"
        return str(Path(self.data_path.strip()).expanduser().resolve())


@dataclass(frozen=True)
class StartedRun:
    run_dir: Path
    pid: int
    command: list[str]

    @property
    def run_id(self) -> str:
        return f"{self.run_dir.parent.name}/{self.run_dir.name}"


# ------------------------------------------------------------------------------------------------ checking
def check_request(request: TrainingRequest) -> list[str]:
    """Every reason ``request`` cannot be trained, as messages a user can act on; empty when it can."""
    problems: list[str] = []
    try:
        validate_run_name(request.run_name)
    except ValueError as error:
        problems.append(str(error))
    if request.scenario not in SCENARIO_NAMES:
        problems.append(f"Unknown scenario {request.scenario!r}: choose one of {', '.join(SCENARIO_NAMES)}.")
    if request.pretrained not in ("none", "imagenet"):
        problems.append(f"Pretrained must be 'none' or 'imagenet', not {request.pretrained!r}.")
    choice = (request.backbone, request.pretrained == "imagenet", request.image_size, request.color_mode)
    problems.extend(str(problem) for problem in backbone_problems(*choice))  # the weights file is looked for too
    if request.max_epochs < 1:
        problems.append(f"Epochs must be at least 1; got {request.max_epochs}.")
    if request.batch_size < 1:
        problems.append(f"Batch size must be at least 1; got {request.batch_size}.")
    if not 0 < request.lr < 10:
        problems.append(f"Learning rate must be above 0 and below 10; got {request.lr}.")
    problems.extend(_hardware_problems(request))
    problems.extend(_data_problems(request))
    return problems


def _data_problems(request: TrainingRequest) -> list[str]:
    if request.data_kind == "synthetic":
        if request.synthetic_size < 10:
            return [f"The synthetic dataset needs at least 10 photos; got {request.synthetic_size}."]
        return []
    if request.data_kind not in ("folder", "manifest"):
        return [f"Unknown kind of data {request.data_kind!r}: choose synthetic, folder or manifest."]
    if not request.data_path.strip():
        return [f"Give the path of the {'folder' if request.data_kind == 'folder' else 'manifest (.csv)'} to train on."]
    path = Path(request.source)
    try:
        if request.data_kind == "folder":
            if path.is_file():
                return [f"{path} is a file, not a folder: choose 'Manifest (.csv)' for a manifest, or give the folder."]
            records, _ = discover_folder(path)
        else:
            if path.suffix.lower() != ".csv":
                return [f"A manifest is a .csv file with columns path,label[,group]; {path} is not a .csv file."]
            records = read_manifest(path)
    except DataSourceError as error:
        return [str(error)]
    if not records:
        return [f"No photos found in {path}."]
    counts = Counter(r.label for r in records)
    try:
        mapping = scenario_mapping(request.scenario, counts)
    except ValueError as error:
        return [str(error)]
    per_target: Counter[str] = Counter()
    for label, target in mapping.items():
        per_target[target] += counts[label]
    if request.scenario == "all" and len(per_target) < 2:
        return [f"Training needs at least two classes; {path} has only {', '.join(per_target) or 'none'}."]
    few = [f"{name} ({n})" for name, n in per_target.items() if n < MIN_PHOTOS_PER_CLASS]
    if few:
        return [f"Too few photos to split class(es) {', '.join(few)}: each class needs at least {MIN_PHOTOS_PER_CLASS}."]
    return []


def _hardware_problems(request: TrainingRequest) -> list[str]:
    if request.accelerator not in ("cpu", "gpu"):
        return [f"Hardware must be cpu or gpu, not {request.accelerator!r}."]
    if request.devices < 1:
        return [f"Devices must be at least 1; got {request.devices}."]
    if request.accelerator == "gpu":
        available = gpu_count()
        if request.devices > available:
            return [f"{request.devices} GPU(s) asked for, but this machine has {available}."]
    elif request.devices > (os.cpu_count() or 1):
        return [f"{request.devices} CPU processes asked for, but this machine has {os.cpu_count()} cores."]
    return []


def gpu_count() -> int:
    """CUDA devices visible to training (0 on a CPU-only machine)."""
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # a broken CUDA install must not break the Train page
        return 0


# ------------------------------------------------------------------------------------------------ commands
def build_command(request: TrainingRequest, runs_root: Path, version: int) -> list[str]:
    """The ``fit`` command line for ``request``, writing into ``runs_root/<name>/version_<version>``."""
    options: dict[str, OptionValue] = {"data.source": request.source}
    if request.data_kind == "synthetic":
        options["data.synthetic_size"] = request.synthetic_size
    options.update({
        "data.scenario": request.scenario,
        "data.image_size": request.image_size,
        "data.color_mode": request.color_mode,
        "data.batch_size": request.batch_size,
        "model.backbone": request.backbone,
        "model.pretrained": request.pretrained,
        "model.lr": float(request.lr),
        "trainer.max_epochs": request.max_epochs,
        "trainer.accelerator": request.accelerator,
        "trainer.devices": request.devices,
        "trainer.logger.init_args.save_dir": Path(runs_root).resolve(),
        "trainer.logger.init_args.name": request.run_name,
        "trainer.logger.init_args.version": version,
    })  # fmt: skip
    return fit_command(options)


def resume_command(run: RunInfo) -> list[str]:
    options: dict[str, OptionValue] = {"config": (run.path / "config.yaml").resolve(), "ckpt_path": "last"}
    if run.version is not None:  # the saved config names it too; say it again so nothing else is ever claimed
        options["trainer.logger.init_args.version"] = run.version
    return fit_command(options)


# ------------------------------------------------------------------------------------------------ start
def start_training(request: TrainingRequest, runs_root: Path | str) -> StartedRun:
    """Check ``request``, claim a fresh run directory and start training there in the background.

    Raises:
        LaunchError: the request cannot be trained; nothing was created.
    """
    problems = check_request(request)
    if problems:
        raise LaunchError(problems)
    runs_root = Path(runs_root).resolve()
    name_dir = runs_root / request.run_name
    if name_dir.exists() and not name_dir.resolve().is_relative_to(runs_root):
        raise LaunchError([f"The run folder {name_dir} leads outside the runs folder {runs_root}; choose another run name."])
    try:
        version = claim_next_version(name_dir)  # atomic: two starts never share a directory
    except OSError as error:
        raise LaunchError([f"Cannot write to the runs folder {runs_root}: {error.strerror or error}"]) from None
    run_dir = name_dir / f"version_{version}"
    command = build_command(request, runs_root, version)
    update_run_json(
        run_dir,
        status="starting",
        name=request.run_name,
        version=version,
        dir=str(run_dir),
        pid=None,
        command=command,
        max_epochs=request.max_epochs,
        scenario=request.scenario,
        backbone=request.backbone,
        pretrained=request.pretrained,
        image_size=request.image_size,
        color_mode=request.color_mode,
        data={"source": request.source},
    )
    return _spawn(run_dir, command, header=None)


def resume_training(run_dir: Path | str) -> StartedRun:
    """Continue a stopped, crashed or failed run from its last checkpoint, in the same directory.

    Raises:
        LaunchError: the run is still going, finished, or has no saved config to resume from.
    """
    run_dir = Path(run_dir)
    with _launch_lock(run_dir):
        run = read_run(run_dir)
        if run.status in ACTIVE_STATUSES:
            raise LaunchError(f"{run.run_id} is still {run.status} (pid {run.record.get('pid')}): stop it before resuming.")
        if run.status == "finished":
            raise LaunchError(f"{run.run_id} has finished all its epochs; start a new run to train more.")
        if run.status == "unreadable":
            raise LaunchError(f"{run.run_id} cannot be resumed: {run.problem}.")
        if not (run_dir / "config.yaml").is_file():
            raise LaunchError(
                f"{run.run_id} cannot be resumed: it stopped before saving its config.yaml. Start a new run instead."
            )
        if not (run_dir / "checkpoints" / "last.ckpt").is_file():
            note = "no checkpoint was saved yet, so it starts again from epoch 1"
        else:
            note = "continuing from checkpoints/last.ckpt"
        command = resume_command(run)
        _stopping.discard(run_dir.resolve())  # the stop asked for is over: a crash of the new process is a failure
        update_run_json(run_dir, status="starting", pid=None, error=None, resume_command=command)
        return _spawn(run_dir, command, header=f"=== resumed {time.strftime('%Y-%m-%d %H:%M:%S')}: {note} ===")


def _spawn(run_dir: Path, command: list[str], header: str | None) -> StartedRun:
    try:
        process = processes.start(
            command,
            run_dir / LOG_NAME,
            header=f"\n{header}\n" if header else None,
            cwd=REPO_ROOT,  # relative defaults (data/, .cache/) land in the project, whoever started the app
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )  # its own session: Stop reaches DDP workers; Ctrl-C on the app does not
    except OSError as error:
        update_run_json(run_dir, status="failed", error=f"could not start training: {error}", pid=None)
        raise LaunchError(f"Could not start training: {error}") from error
    update_run_json(run_dir, pid=process.pid)
    processes.reap_in_background(process, lambda code: _record_end(run_dir, process.pid, code))
    return StartedRun(run_dir, process.pid, command)


# The runs this process is stopping; the reaper records them as stopped rather than failed.
_stopping: set[Path] = set()


def _record_end(run_dir: Path, pid: int, code: int) -> None:
    """Record an end the training process (``pid``, exit status ``code``) could not record itself."""
    record = read_json(run_dir / "run.json") or {}
    # Only while run.json still names this process (``_spawn`` writes its pid before starting this reaper). A run
    # resumed meanwhile is marked "starting" with no pid until its own process is spawned: a late reaper of the
    # stopped process must not record "stopped" over it (it once did, and the resumed run showed as stopped).
    if record.get("status") not in ACTIVE_STATUSES or record.get("pid") != pid:
        return
    if run_dir.resolve() in _stopping:
        _stopping.discard(run_dir.resolve())
        update_run_json(run_dir, status="stopped", pid=None)
        return
    how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
    last_line = _last_error_line(run_dir / LOG_NAME)
    update_run_json(
        run_dir,
        status="failed",
        pid=None,
        error=f"training {how} without recording why" + (f"; last log line: {last_line}" if last_line else " (see train.log)"),
    )


def _last_error_line(log: Path) -> str:
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    for line in reversed(lines):
        if "error" in line.lower() or "exception" in line.lower():
            return line[:300]
    return lines[-1][:300] if lines else ""


# ------------------------------------------------------------------------------------------------ stop
def stop_training(run_dir: Path | str, timeout: float = 30.0) -> str:
    """Ask a run to stop (SIGTERM to its process group) and wait up to ``timeout`` seconds for it to end.

    Lightning finishes the current step, records the run as "stopped" and keeps its checkpoints. Returns the
    run's status afterwards ("stopped", or still "running" when it needs longer than ``timeout``).

    Raises:
        LaunchError: the run is not running.
    """
    run_dir = Path(run_dir)
    run = read_run(run_dir)
    pid = run.record.get("pid")
    if not run.active or not pid:
        raise LaunchError(f"{run.run_id} is not running (status: {run.status}); there is nothing to stop.")
    host = run.record.get("host")
    if not on_this_machine(host):
        raise LaunchError(f"{run.run_id} trains on {host} (pid {pid}), not on this machine: stop it there, or "
                          "through the scheduler that started it (scancel for a Slurm job, ray job stop for Ray).")
    pid = int(pid)
    _stopping.add(run_dir.resolve())
    try:
        # Started by start_training, it leads its own group: DDP workers included. Started from a shell, it is
        # signalled alone. False (it ended on its own meanwhile) needs nothing more.
        processes.terminate(pid, with_group=True)
    except PermissionError as error:
        raise LaunchError(f"Not allowed to stop pid {pid}: {error}") from error
    if not processes.wait_until_ended(pid, timeout):
        return read_run(run_dir).status
    # Stopped before Lightning installed its handler (while importing): nobody recorded it, so record it here.
    record = read_json(run_dir / "run.json") or {}
    if record.get("status") in ACTIVE_STATUSES:
        update_run_json(run_dir, status="stopped", pid=None)
    return read_run(run_dir).status


# ------------------------------------------------------------------------------------------------ locking
@contextmanager
def _launch_lock(run_dir: Path) -> Iterator[None]:
    """Only one resume of a run at a time, across processes (two browser tabs clicking Resume together).

    Never waits: the second click is told at once that the run is being started.
    """
    if not Path(run_dir).is_dir():  # checked first: taking the lock would create the folder
        raise LaunchError(f"Cannot use {run_dir}: there is no such run folder.")
    lock = exclusive_lock(Path(run_dir) / LAUNCH_LOCK_NAME)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise LaunchError(f"{run_dir} is being started by someone else right now; try again in a moment.") from None
    except OSError as error:
        raise LaunchError(f"Cannot use {run_dir}: {error}") from error
    try:
        yield
    finally:
        lock.release()
