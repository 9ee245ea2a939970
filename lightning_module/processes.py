"""Background processes: start one with its console in a log file, ask it to stop, tell whether it runs, reap it.

Training runs (``runs/launcher.py``) and grids (``grid/launch.py``) run as processes of their own, started by the
dashboard; a grid's folds may run as child processes of the grid (``grid/folds.py``). They all start, stop and end
the same way, written here once.

Contract:
* **Start** (:func:`start`): stdout and stderr appended to a log file (after an optional header), stdin from
  ``/dev/null``. By default the process gets a session of its own: it survives the process that started it (a
  closed dashboard), a Ctrl+C in that one's terminal does not reach it, and a signal to its process group reaches
  its own children (DDP workers) and nothing else.
* **Stop** (:func:`terminate`): one SIGTERM, which Lightning turns into "finish the step, record the run as
  stopped, exit". Nothing escalates to SIGKILL: a process that needs longer is left to finish stopping, and its
  checkpoints are kept.
* **Liveness** (:func:`running`) is :func:`lightning_module.files.pid_alive`: a zombie (ended, not yet reaped)
  counts as ended.
* **Reaping** (:func:`reap_in_background`): a daemon thread waits for the process, so one that ends leaves no
  zombie in a long-lived starter such as the dashboard, and hands its exit status to whoever must record it.

This module imports only :mod:`lightning_module.files`, so every layer may use it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from lightning_module.files import pid_alive

__all__ = ["reap_in_background", "running", "start", "terminate", "wait_until_ended"]

running = pid_alive  # whether a pid is a live process; a zombie counts as ended


def start(
    command: Sequence[str],
    log: Path | str,
    *,
    header: str | None = None,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    own_session: bool = True,
) -> subprocess.Popen:
    """Start ``command`` with its output appended to ``log``; returns at once.

    Args:
        header: text written to ``log`` (as is, UTF-8) before the process writes anything.
        cwd, env: its working directory and environment (None: this process's).
        own_session: a session and process group of its own (see the module docstring). False keeps it in this
            process's group, for a child that must end with its parent and share its Ctrl+C.

    Raises:
        OSError: it could not be started (no such program, no permission, no such ``cwd``).
    """
    with Path(log).open("ab") as handle:
        if header:
            handle.write(header.encode("utf-8"))
            handle.flush()  # before the child's first line, which goes straight to the file
        return subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=own_session,
        )  # the child holds its own copy of the log's descriptor; ours closes here


def reap_in_background(process: subprocess.Popen, on_exit: Callable[[int], None] | None = None) -> threading.Thread:
    """Wait for ``process`` in a daemon thread, then call ``on_exit`` with its exit status (negative: the signal
    that killed it). Without it, a process this one started stays a zombie until this one exits."""

    def wait() -> None:
        code = process.wait()
        if on_exit is not None:
            on_exit(code)

    thread = threading.Thread(target=wait, name=f"reap-{process.pid}", daemon=True)
    thread.start()
    return thread


def terminate(pid: int, *, with_group: bool = False) -> bool:
    """Send SIGTERM to ``pid``; False when it had already ended.

    With ``with_group``, the signal goes to its whole process group when ``pid`` leads a group of its own (it was
    started by :func:`start`: its DDP workers must stop too). A process that does not lead its group was started
    some other way (from a shell), and its group may hold the shell's other jobs, even the caller: it is signalled
    alone.

    Raises:
        PermissionError: the process belongs to someone else.
    """
    try:
        if with_group and os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGTERM)
        else:
            os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def wait_until_ended(pid: object, timeout: float, poll: float = 0.1) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` to end; whether it did."""
    deadline = time.monotonic() + timeout
    while running(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)
    return True
