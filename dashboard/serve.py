"""Start the dashboard in the background and wait until it answers: ``with running_dashboard() as app: app.url``.

Screenshot scripts, the load check and the real-browser tests all need a live dashboard. They start it here, one
way: ``python -m streamlit run dashboard/app.py --server.headless true`` from the project folder (so
``.streamlit/config.toml`` applies and ``import dashboard…`` works), on a free port, answering on
``/_stcore/health`` before anything is asked of it. On leaving the ``with`` block the dashboard's process group is
stopped (training runs started from its Train page have their own group and carry on). Its console goes to a log
file; when start-up or the body fails, the end of that log is in the error, because that is where the reason is.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
APP = REPO_ROOT / "dashboard" / "app.py"
# Importing torch and Lightning on a loaded 2-core machine takes tens of seconds; a dashboard that has not answered
# after three minutes will not.
START_TIMEOUT_S = 180.0
# Streamlit finishes its sessions on SIGTERM; this long is plenty, after that it is killed.
STOP_TIMEOUT_S = 10.0
LOG_TAIL_CHARS = 3000


class DashboardError(RuntimeError):
    """The dashboard did not start: it exited, or did not answer in time. The message ends with its log."""


@dataclass(frozen=True)
class RunningDashboard:
    """A dashboard started by ``running_dashboard``: where to reach it and where its console output goes."""

    url: str  # e.g. http://localhost:8765, without a trailing slash; pages are url + "/train"
    port: int
    log: Path
    pid: int

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        """The end of the dashboard's console output ("" when there is none yet)."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_dashboard(
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    *,
    script: Path | str = APP,
    address: str | None = "localhost",
    options: Sequence[str] = (),
    log: Path | None = None,
    timeout: float = START_TIMEOUT_S,
) -> Iterator[RunningDashboard]:
    """Run ``script`` (the whole app by default) headless until the block ends; yields once it answers.

    ``env`` is added to this process's environment (e.g. ``TREERISK_RUNS_DIR``). ``address=None`` leaves the listen
    address to ``.streamlit/config.toml``. ``options`` are further ``streamlit run`` flags. ``log`` keeps the console
    output where the caller wants it; by default it goes to a temporary file, removed when all went well.
    """
    port = port or free_port()
    keep_log = log is not None
    log = Path(log) if log is not None else Path(tempfile.mkdtemp(prefix="treerisk-dashboard-")) / "dashboard.log"
    command = [
        sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true", "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        *(["--server.address", address] if address else []), *options,
    ]  # fmt: skip
    log.parent.mkdir(parents=True, exist_ok=True)
    host = address if address and address not in ("0.0.0.0", "::") else "localhost"
    with log.open("w") as console:
        # Its own session, so stopping it reaches Streamlit and nothing of ours (and Ctrl-C here does not reach it).
        process = subprocess.Popen(command, cwd=REPO_ROOT, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
                                   stdout=console, stderr=subprocess.STDOUT, start_new_session=True)
    app = RunningDashboard(url=f"http://{host}:{port}", port=port, log=log, pid=process.pid)
    try:
        _wait_until_healthy(app, process, timeout)
        yield app
    except BaseException as error:
        if not isinstance(error, DashboardError):
            error.add_note(f"dashboard log ({log}):\n{app.log_tail()}")
        keep_log = True
        raise
    finally:
        _stop(process)
        if not keep_log:
            shutil.rmtree(log.parent, ignore_errors=True)


def _wait_until_healthy(app: RunningDashboard, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DashboardError(f"the dashboard exited with code {process.returncode} before it answered on port "
                                 f"{app.port}; its log ({app.log}) ends:\n{app.log_tail()}")
        try:
            with urllib.request.urlopen(f"{app.url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:  # not listening yet (or answering 503 while it starts)
            time.sleep(0.3)
    raise DashboardError(f"the dashboard did not answer on port {app.port} within {timeout:.0f} s; its log "
                         f"({app.log}) ends:\n{app.log_tail()}")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the dashboard's process group, SIGKILL if it has not gone after ``STOP_TIMEOUT_S``."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:  # it ended between the check and the signal
        process.wait()
