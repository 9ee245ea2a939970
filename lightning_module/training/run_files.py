"""The run directory on disk: claiming it, and writing ``run.json`` so that it is never half-written."""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RUN_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
STATUSES = ("starting", "running", "finished", "failed", "stopped")
ACTIVE_STATUSES = ("starting", "running")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def validate_run_name(name: str) -> str:
    """A run name is one plain folder name: letters, digits, '.', '_' and '-', starting with a letter or digit."""
    if not isinstance(name, str) or not RUN_NAME_PATTERN.fullmatch(name) or name in (".", ".."):
        raise ValueError(
            f"Run name {name!r} is not allowed: use up to 64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (no slashes, no '..')"
        )
    return name


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers see old or new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(handle.name, 0o644)  # temporary files are private (0600); the record is not
    os.replace(handle.name, path)


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when it is missing or unreadable."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


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


def pid_alive(pid: object) -> bool:
    """Whether ``pid`` is a live process (a zombie, i.e. exited but not yet reaped, counts as ended)."""
    try:
        pid = int(pid)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        # The state letter follows the parenthesised command name, which may itself contain spaces.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): kill(0) succeeding is all we know


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
