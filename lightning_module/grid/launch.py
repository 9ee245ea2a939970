"""Starting and stopping a grid in the background (for the dashboard): ``python -m lightning_module grid ...``.

The grid never runs inside the dashboard's process: it takes many minutes and must survive a closed browser.
It gets its own session, its console goes to ``<output>/grid.log``, and everything else it writes is in its
output folder, so the page only reads files. Stop sends SIGTERM: the fold in progress marks itself stopped
and the grid ends; starting again resumes. Stop also leaves a ``stop.request`` file in the output folder, which
the grid reads: a grid driven from another machine (a cluster's login node, the folder on shared storage) stops
the same way, cancelling its Ray tasks or Slurm jobs.
"""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import lightning_module
from lightning_module import processes
from lightning_module.files import atomic_write_json, atomic_write_text, lock_held, read_json
from lightning_module.grid.results import LAUNCH_FILE, LOG_FILE, PROGRESS_FILE, STOP_FILE, read_progress
from lightning_module.grid.runner import LOCK_FILE, check_compatible
from lightning_module.grid.spec import GridSpec, GridSpecError, load_grid_spec
from lightning_module.training.run_files import now_iso

REPO_ROOT = Path(lightning_module.__file__).resolve().parent.parent


@dataclass(frozen=True)
class StartedGrid:
    output: Path
    pid: int
    command: list[str]


def grid_configs(folder: Path | str = REPO_ROOT / "configs") -> list[Path]:
    """The grid files in ``folder`` (``grid*.yaml``), default grid first."""
    return sorted(Path(folder).glob("grid*.yaml"), key=lambda p: (p.name != "grid.yaml", p.name))


def resolve_spec(config: Path | str, output: Path | str | None = None, executor: str | None = None,
                 ray_address: str | None = None) -> GridSpec:  # fmt: skip
    """The grid in ``config`` with its output made absolute (relative paths are relative to the repository), run
    by ``executor`` (None: the file's) at ``ray_address`` (None: the file's)."""
    spec = load_grid_spec(config).with_executor(executor, ray_address)
    target = Path(output or spec.output).expanduser()
    return spec.with_output(target if target.is_absolute() else REPO_ROOT / target)


def is_busy(output: Path | str) -> bool:
    """Whether a grid process holds ``output`` (its lock), or one was just launched into it and is starting."""
    output = Path(output)
    if lock_held(output / LOCK_FILE):
        return True
    launched = read_json(output / LAUNCH_FILE) or {}
    return processes.running(launched.get("pid"))


def start_grid(config: Path | str, output: Path | str | None = None, executor: str | None = None,
               ray_address: str | None = None) -> StartedGrid:  # fmt: skip
    """Check the grid and start it in the background, its folds trained by ``executor`` (None: the file's).

    Raises:
        GridSpecError: the grid file is unusable, its output holds other settings, or a grid runs there already.
    """
    spec = resolve_spec(config, output, executor, ray_address)
    target = Path(spec.output)
    if is_busy(target):
        raise GridSpecError(f"A grid is already running into {target}; stop it first or choose another output folder.")
    check_compatible(spec, target)
    target.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "lightning_module", "grid", "--config", str(Path(config).resolve()),
               "--output", str(target)]  # fmt: skip
    if executor:
        command += ["--executor", executor]
    if ray_address:
        command += ["--ray-address", ray_address]
    # Its own session: it survives the dashboard. Reaped here, so a finished grid leaves no zombie behind.
    process = processes.start(command, target / LOG_FILE, header=f"\n===== {now_iso()} {' '.join(command)}\n", cwd=REPO_ROOT)
    processes.reap_in_background(process)
    atomic_write_json(target / LAUNCH_FILE, {"pid": process.pid, "command": command, "started": now_iso()})
    return StartedGrid(target, process.pid, command)


def stop_grid(output: Path | str) -> bool:
    """Ask the grid running into ``output`` to stop: SIGTERM when it runs on this machine, and a ``stop.request``
    file for one that runs elsewhere (it looks for the file every second). False when none is running."""
    output = Path(output)
    if not grid_running(output):
        return False
    atomic_write_text(output / STOP_FILE, f"Stop requested {now_iso()} by the Grid study page.\n")
    progress, launched = read_json(output / PROGRESS_FILE) or {}, read_json(output / LAUNCH_FILE) or {}
    for record in (progress, launched):
        # Only a process of this machine: the same number on a cluster's login node is someone else's process.
        if record is progress and progress.get("host") not in (None, socket.gethostname()):
            continue
        pid = record.get("pid")
        # The grid alone, not its group: it stops its folds itself, each after marking itself stopped.
        if processes.running(pid) and processes.terminate(int(pid)):
            return True
    return True


def grid_running(output: Path | str) -> bool:
    return read_progress(output).running or is_busy(output)
