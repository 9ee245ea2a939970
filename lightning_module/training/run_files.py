"""The run directory on disk: its name rules, claiming it, and writing ``run.json`` so that it is never half-written.

Only run-directory rules live here; the generic helpers (atomic writes, reading JSON, process liveness) are in
:mod:`lightning_module.files`, which every layer may use.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lightning_module.files import atomic_write_json, pid_alive, read_json, remove_stale_temporaries

RUN_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
STATUSES = ("starting", "running", "finished", "failed", "stopped")
ACTIVE_STATUSES = ("starting", "running")
# What the training process alone writes into its run directory: sub-folders whose every file is its own.
TRAINING_FOLDERS = ("checkpoints", "confusion", "predictions")
# run.json is also written by the process that started the run (its pid, just after starting it), so a temporary
# file of run.json is left alone until nobody can still be writing it.
RUN_JSON_QUIET_SECONDS = 60.0
# A training process on another machine (a cluster node writing to shared storage) cannot be asked by its pid from
# here: it writes a heartbeat into run.json this often while it trains, and one older than the stale limit means it
# died without saying so. The limit is long because nothing beats while the data are read before the first epoch.
RUN_HEARTBEAT_SECONDS = 30.0
RUN_HEARTBEAT_STALE_SECONDS = 600.0


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def parse_iso(value: object) -> datetime | None:
    """A time written by :func:`now_iso` (a naive one is taken as UTC); None when missing or unreadable."""
    try:
        moment = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def on_this_machine(host: object) -> bool:
    """Whether a process recorded with ``host`` (None: recorded before hosts were) ran on this machine."""
    return host is None or host == socket.gethostname()


def heartbeat_age(record: Mapping[str, Any], key: str = "heartbeat") -> float | None:
    """Seconds since the heartbeat time ``record[key]``, or None when there is none."""
    beat = parse_iso(record.get(key))
    return None if beat is None else (datetime.now(timezone.utc) - beat).total_seconds()


def writer_alive(record: Mapping[str, Any], key: str = "heartbeat",
                 stale_after: float = RUN_HEARTBEAT_STALE_SECONDS) -> bool:
    """Whether the process ``record`` names (``pid``, ``host``) still runs: asked by pid when it ran here, else
    judged by its heartbeat ``record[key]``, which must be younger than ``stale_after`` seconds."""
    if on_this_machine(record.get("host")):
        return pid_alive(record.get("pid"))
    age = heartbeat_age(record, key)
    return age is not None and age < stale_after


def validate_run_name(name: str) -> str:
    """A run name is one plain folder name: letters, digits, '.', '_' and '-', starting with a letter or digit."""
    if not isinstance(name, str) or not RUN_NAME_PATTERN.fullmatch(name) or name in (".", ".."):
        raise ValueError(
            f"Run name {name!r} is not allowed: use up to 64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (no slashes, no '..')"
        )
    return name


def claim_next_version(root: Path) -> int:
    """Create ``root/version_<n>`` for the smallest free n; ``mkdir`` is atomic, so two runs never share one."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    taken = [int(m.group(1)) for p in root.iterdir() if (m := re.fullmatch(r"version_(\d+)", p.name))]
    version = max(taken, default=-1) + 1
    while True:
        try:
            (root / f"version_{version}").mkdir()
            return version
        except FileExistsError:
            version += 1


def update_run_json(run_dir: Path, status: str | None = None, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into ``run_dir/run.json``; a new ``status`` is appended to its history with a time."""
    path = Path(run_dir) / "run.json"
    record = read_json(path) or {"status_history": []}
    record.update(fields)
    if status is not None:
        if status not in STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        record["status"] = status
        record.setdefault("status_history", []).append({"status": status, "time": now_iso()})
    atomic_write_json(path, record)
    return record


def remove_run_leftovers(run_dir: Path) -> list[Path]:
    """Remove what a killed training process left half-written in ``run_dir``; returns the files removed.

    Called by the training process when it starts a fit, once it knows no other live process writes here: the
    temporary files of its atomic writes (checkpoints, confusion matrices, predictions, data_report.json and,
    once quiet for :data:`RUN_JSON_QUIET_SECONDS`, run.json). Nothing else is touched: not the finished files,
    not a user's own files, not another writer's temporary files.
    """
    run_dir = Path(run_dir)
    removed = [*remove_stale_temporaries(run_dir, "data_report.json"),
               *remove_stale_temporaries(run_dir, "run.json", older_than=RUN_JSON_QUIET_SECONDS)]
    for folder in TRAINING_FOLDERS:
        removed += remove_stale_temporaries(run_dir / folder)
    return removed
