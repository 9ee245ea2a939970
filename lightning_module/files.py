"""Generic file and process helpers that every layer may use: atomic writes, file locks, process liveness.

Contract:
* **Atomic writes.** A file is written to a hidden temporary file beside it (``.<name>.<random>.tmp``),
  flushed and ``fsync``-ed, then renamed over the target. Readers see the old file or the new one, never half,
  even after a power cut. A writer killed mid-write leaves only its temporary file, which
  :func:`remove_stale_temporaries` deletes (the component that owns the file calls it when it starts).
* **Locks** are ``filelock`` locks on a separate ``.lock`` file, so they work the same on every platform and are
  released by the operating system when the holder dies.
* **Liveness** treats a zombie (exited, not yet reaped) as ended.

This module imports nothing from the rest of the package: it sits below every layer.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from filelock import FileLock, Timeout

__all__ = [
    "FileLock",
    "Timeout",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "exclusive_lock",
    "lock_held",
    "pid_alive",
    "read_json",
    "remove_stale_temporaries",
    "writing_atomically",
]


@contextmanager
def writing_atomically(path: Path | str, durable: bool = True) -> Iterator[IO[bytes]]:
    """A binary handle whose contents replace ``path`` in one rename when the block ends without an error.

    On an error the temporary file is removed and ``path`` is left as it was. ``durable=False`` skips the
    ``fsync``: still atomic for every reader while the machine runs, but after a power cut the new file may be
    empty or short. Only for files that are rebuilt when unreadable (a cache), where waiting for the disk would
    cost more than the work saved.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(handle.name, 0o644)  # temporary files are private (0600); the file they become is not
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring)."""
    with writing_atomically(path) as handle:
        handle.write(data)


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path | str, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def remove_stale_temporaries(folder: Path | str, name: str = "*", older_than: float | None = None) -> list[Path]:
    """Delete the temporary files that killed atomic writes of ``folder/name`` left behind; returns them.

    ``name`` is a file name, or ``"*"`` for every file in ``folder``. Call this where the caller is the single
    writer of those files (a run directory's recorder, a checkpoint's saver), or a live writer's temporary file
    could be removed under it. Where several processes may write (a shared cache), pass ``older_than`` (seconds):
    only temporary files nobody has written to for that long are removed. An atomic write keeps writing to its
    temporary file until it renames it, so one left that long has no live writer (a small file takes
    milliseconds).
    """
    pattern = f".{name if name == '*' else glob.escape(name)}.*.tmp"
    cutoff = None if older_than is None else time.time() - older_than
    removed = []
    for leftover in Path(folder).glob(pattern):
        try:
            if cutoff is not None and leftover.stat().st_mtime > cutoff:
                continue  # perhaps being written right now
            leftover.unlink()
            removed.append(leftover)
        except OSError:
            pass  # already gone, or not ours to remove: nothing to do
    return removed


def read_json(path: Path | str) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when it is missing, unreadable or not an object."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def exclusive_lock(path: Path | str) -> FileLock:
    """An inter-process lock on ``path`` (a dedicated lock file, created if needed).

    Use ``with exclusive_lock(p):`` to wait for it, or ``exclusive_lock(p).acquire(timeout=0)`` (raises
    :class:`Timeout` when another process holds it) to find out whether someone else holds it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path))


def lock_held(path: Path | str) -> bool:
    """Whether some process holds the :func:`exclusive_lock` on ``path`` now; never waits, never creates the file."""
    path = Path(path)
    if not path.is_file():
        return False
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


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
