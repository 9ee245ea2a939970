"""Where a grid's folds train: this machine (``local``), a Ray cluster (``ray``) or a Slurm job array (``slurm``).

One small interface (``base.FoldExecutor``: submit folds, wait on their futures, cancel) and one module per
engine. Ray and Slurm are imported only when chosen, so the local grid needs neither.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lightning_module.grid.executors.base import ExecutorError, FoldExecutor
from lightning_module.grid.executors.local import LocalExecutor
from lightning_module.grid.folds import FitFunction
from lightning_module.grid.spec import GridSpec

__all__ = ["ExecutorError", "FoldExecutor", "LocalExecutor", "make_executor"]


def make_executor(spec: GridSpec, output: Path, folds: int, fit: FitFunction | None = None,
                  stop: Callable[[], bool] = lambda: False) -> FoldExecutor:  # fmt: skip
    """The executor ``spec.executor.kind`` for ``folds`` folds to run. With nothing to run, the local one: a
    grid that only rewrites its tables needs no cluster.

    Raises:
        ExecutorError: the engine is not installed, cannot be reached, or refuses (the message says why).
    """
    kind = spec.executor.kind if folds else "local"
    if kind == "ray":
        from lightning_module.grid.executors.ray_cluster import RayExecutor

        return RayExecutor(spec, fit)
    if kind == "slurm":
        if fit is not None:
            raise ExecutorError("a replacement fit function cannot travel to Slurm's nodes; use the local or Ray executor")
        from lightning_module.grid.executors.slurm import SlurmExecutor

        return SlurmExecutor(spec, output)
    return LocalExecutor(min(spec.workers, folds), fit, stop)
