"""What the grid asks of whatever trains its folds: submit folds, learn when each ends, cancel the rest.

The runner (``grid/runner.py``) owns the grid: it claims each fold's attempt directory, writes the progress and
the tables, and decides from the fold's own ``run.json`` whether it finished. An executor only moves folds to
where they train and says when each has ended:

* :meth:`FoldExecutor.submit` takes folds and returns one ``concurrent.futures.Future`` per fold. A future's
  result is None when the fold's process ended normally, or a one-line reason when it did not (the worker died,
  the job was cancelled, the time limit struck). It never raises: the runner records the reason and goes on.
* The runner polls by waiting on those futures (``concurrent.futures.wait``).
* :meth:`FoldExecutor.cancel` stops every fold in flight or queued; their futures then end like any other.

A fold's result is its run directory in the grid's output folder, written by the fold itself, so a fold that
finished anywhere is skipped by every later run of the grid, whichever executor ran it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import Future

from lightning_module.grid.folds import FoldJob


class ExecutorError(RuntimeError):
    """The executor cannot be used here (not installed, unreachable, refused); the message says what to do."""


class FoldExecutor(ABC):
    """Trains folds somewhere. ``remote``: the folds run in processes this machine cannot signal or see."""

    kind: str = "local"
    remote: bool = False

    @property
    @abstractmethod
    def capacity(self) -> int:
        """How many folds may be submitted and not yet ended at once (a cluster's queue takes them all)."""

    @abstractmethod
    def parallel(self) -> int:
        """How many folds are expected to train at the same time, for the time left (at least 1)."""

    @abstractmethod
    def submit(self, jobs: Sequence[FoldJob]) -> list[Future]:
        """Start ``jobs``; one future per job, in order (see the module docstring)."""

    @abstractmethod
    def cancel(self, jobs: Sequence[FoldJob]) -> None:
        """Stop ``jobs`` (every fold submitted and not yet ended); safe to call again."""

    def describe(self) -> str:
        """Words for the grid's first log line, after the number of folds (empty for the plain local grid)."""
        return ""

    def problems(self) -> list[str]:
        """Reasons folds could wait forever (a fold asks for more than any node has); warnings, not errors."""
        return []

    def close(self) -> None:
        """Release what the executor holds (a pool, a connection); called once, after the last fold ended."""
