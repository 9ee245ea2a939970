"""Thread pools for work that runs beside the caller within one answer, one pool per name and per process.

Pillow and torch release the GIL while they decode, resize or compute, so a thread uses another core. A pool is
made per process: one inherited through ``fork()`` has no threads in the child and would never run a task.

This module imports nothing from the project, so every layer may use it.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor

__all__ = ["process_pool"]


def process_pool(name: str) -> ThreadPoolExecutor:
    """This process's pool called ``name`` (its threads are named after it), with a thread per core."""
    return _pool(name, os.getpid())


@functools.cache
def _pool(name: str, pid: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix=name)
