"""Folds on this machine: one at a time in the grid's own process, or ``training.workers`` at a time in spawned
worker processes. The default executor, and the reference every other one must match.

One worker runs each fold inline, so Ctrl+C and SIGTERM reach the fit directly. Several workers run in a
``ProcessPoolExecutor`` of spawned processes; a worker that dies (killed for memory) fails its fold and the pool
is started afresh. Cancelling sends SIGTERM to each fold's training process (its pid is in its ``run.json``),
which Lightning turns into "record the run as stopped and exit".
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from lightning_module import processes
from lightning_module.files import read_json
from lightning_module.grid.executors.base import FoldExecutor
from lightning_module.grid.folds import (
    FitFunction,
    FoldJob,
    InlineExecutor,
    call_fit,
    fit_in_process,
    fit_in_subprocess,
    pool_fit,
)


class LocalExecutor(FoldExecutor):
    """``workers`` folds at a time on this machine. ``fit`` replaces training (tests); with several workers it
    must be a module-level function, since it is sent to the worker processes. ``stop`` tells an inline fold
    running as a subprocess to stop."""

    kind = "local"

    def __init__(self, workers: int, fit: FitFunction | None = None, stop: Callable[[], bool] = lambda: False) -> None:
        self.workers = max(1, workers)
        self._fit = fit
        self._stop = stop
        self._pool = self._new_pool()
        self._signalled: set[int] = set()

    @property
    def capacity(self) -> int:
        return self.workers

    def parallel(self) -> int:
        return self.workers

    def describe(self) -> str:
        return f" ({self.workers} folds at a time)" if self.workers > 1 else ""

    def submit(self, jobs: Sequence[FoldJob]) -> list[Future]:
        futures = []
        for job in jobs:
            try:
                futures.append(self._submit(job))
            except BrokenProcessPool:  # a worker died (killed for memory?): its fold failed; start afresh
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                futures.append(self._submit(job))
        return futures

    def cancel(self, jobs: Sequence[FoldJob]) -> None:
        """SIGTERM to the training process of each fold in flight in a worker process (once each)."""
        for job in jobs:
            pid = (read_json(Path(job.attempt_dir) / "run.json") or {}).get("pid")
            if isinstance(pid, int) and pid != os.getpid() and pid not in self._signalled and processes.running(pid):
                self._signalled.add(pid)
                processes.terminate(pid)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------------------------------------ internals
    def _new_pool(self) -> Any:
        if self.workers == 1:
            return InlineExecutor()
        # Spawned, not forked: a fork of a process that has run torch can deadlock in its thread pools.
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))

    def _submit(self, job: FoldJob) -> Future:
        arguments, attempt_dir = list(job.arguments), Path(job.attempt_dir)
        if isinstance(self._pool, InlineExecutor):
            return self._pool.submit(call_fit, lambda a, d: self._inline_fit(job, a, d), arguments, attempt_dir)
        if self._fit is not None:
            return self._pool.submit(call_fit, self._fit, arguments, attempt_dir)
        return self._pool.submit(pool_fit, arguments, attempt_dir, job.threads, job.isolation)

    def _inline_fit(self, job: FoldJob, arguments: list[str], attempt_dir: Path) -> None:
        if self._fit is not None:
            self._fit(arguments, attempt_dir)
        elif job.isolation == "subprocess":
            fit_in_subprocess(arguments, attempt_dir, self._stop, job.threads)
        else:
            fit_in_process(arguments, attempt_dir, job.threads)
