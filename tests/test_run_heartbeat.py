"""A training process says it is alive in run.json (host and heartbeat), so that a dashboard or another fit on a
different machine, reading the same run directory through shared storage, can tell a live run from a dead one."""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from lightning_module.training.run_files import RUN_HEARTBEAT_STALE_SECONDS, update_run_json
from lightning_module.training.run_recorder import RunDirectoryBusy, RunRecorder


def _trainer(run: Path, fn: str = "fit") -> SimpleNamespace:
    return SimpleNamespace(log_dir=str(run), is_global_zero=True, datamodule=None, state=SimpleNamespace(fn=fn))


def _heartbeat(run: Path) -> str | None:
    return json.loads((run / "run.json").read_text()).get("heartbeat")


def test_the_heartbeat_is_written_while_fitting_at_most_once_per_interval(tmp_path: Path) -> None:
    run = tmp_path / "version_0"
    run.mkdir()
    update_run_json(run, status="running", pid=1, heartbeat="marker")
    recorder = RunRecorder()
    recorder.run_dir = run
    recorder.on_train_batch_end(_trainer(run), None, None, None, 0)  # the first batch: a beat
    assert datetime.fromisoformat(_heartbeat(run)).tzinfo is not None  # a time, as now_iso writes it
    update_run_json(run, heartbeat="marker")
    recorder.on_train_batch_end(_trainer(run), None, None, None, 1)  # the next one: too soon
    assert _heartbeat(run) == "marker"
    recorder._last_heartbeat = float("-inf")  # as if an interval had passed
    recorder.on_validation_batch_end(_trainer(run), None, None, None, 0)  # validation batches beat too
    assert _heartbeat(run) != "marker"
    update_run_json(run, heartbeat="marker")
    recorder._last_heartbeat = float("-inf")
    recorder.on_validation_batch_end(_trainer(run, fn="validate"), None, None, None, 0)  # not a fit: not its run
    assert _heartbeat(run) == "marker"


def test_a_fit_is_refused_a_run_directory_a_live_process_on_another_machine_writes(tmp_path: Path) -> None:
    run = tmp_path / "version_0"
    run.mkdir()
    fresh = datetime.now(timezone.utc).isoformat()
    update_run_json(run, status="running", pid=4242, host="gpu-node-17", heartbeat=fresh)
    assert socket.gethostname() != "gpu-node-17"
    with pytest.raises(RunDirectoryBusy, match=r"another training process \(pid 4242 on gpu-node-17\)"):
        RunRecorder().setup(_trainer(run), None, "fit")
    stale = (datetime.now(timezone.utc) - timedelta(seconds=RUN_HEARTBEAT_STALE_SECONDS + 60)).isoformat()
    update_run_json(run, heartbeat=stale)
    RunRecorder().setup(_trainer(run), None, "fit")  # that process died without saying so: this fit may take over
