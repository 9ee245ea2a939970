"""Folds on a Ray cluster: each fold is one Ray task that asks for ``executor.cpus_per_fold`` CPUs and
``executor.gpus_per_fold`` GPUs, and Ray places it on whichever node has them free.

The same code runs on a laptop and on a cluster. With no address (and no ``$RAY_ADDRESS``), ``ray.init()``
starts a Ray on this machine for the length of the grid; ``auto`` or ``host:port`` joins the cluster this
machine belongs to; ``ray://host:10001`` connects from outside it through Ray Client.

What every worker needs (docs/SCALE_OUT.md): this package installed, and the grid's working folder and output
folder at the same paths as here (shared storage). The folds write their run directories straight into the
output folder; nothing comes back through Ray but a fold's "ended" or the reason it failed. Tasks are never
retried by Ray: a fold that dies is recorded as failed and the next run of the grid gives it a fresh attempt.

Stop: ``ray.cancel`` on every task not yet ended. A queued task is dropped; a running one gets a
KeyboardInterrupt, which the fit turns into "record the run as stopped and exit".
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from lightning_module.grid.executors.base import ExecutorError, FoldExecutor
from lightning_module.grid.folds import FOLD_LOG, FitFunction, FoldJob, run_fold
from lightning_module.grid.spec import GridSpec

# Environment variables that change where a fold reads or writes; a Ray worker started elsewhere gets this
# machine's values, so every fold reads the same data and cache as a local one would.
FORWARDED_PREFIXES = ("TREERISK_",)
INSTALL_HINT = "pip install 'ray[client]==2.60.0' (the version in requirements.txt)"


class RayExecutor(FoldExecutor):
    """Folds as Ray tasks. Raises :class:`ExecutorError` when Ray is missing or the cluster cannot be reached."""

    kind = "ray"
    remote = True

    def __init__(self, spec: GridSpec, fit: FitFunction | None = None) -> None:
        try:
            import ray
        except ImportError as error:
            raise ExecutorError(f"Ray is not installed in this Python ({error}): {INSTALL_HINT}") from None
        self._ray = ray
        self._fit = fit
        self.cpus, self.gpus, self.resources = spec.cpus_per_fold, spec.gpus_per_fold, spec.fold_resources
        self.address = spec.executor.ray_address or os.environ.get("RAY_ADDRESS") or None
        forwarded = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_PREFIXES)}
        try:
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False, configure_logging=False,
                     runtime_env={"env_vars": forwarded} if forwarded else None)  # fmt: skip
        except Exception as error:  # ConnectionError, TimeoutError, ValueError: Ray words them for people
            where = f"the Ray cluster at {self.address}" if self.address else "a Ray on this machine"
            raise ExecutorError(f"Could not connect to {where}: {type(error).__name__}: {error}") from None
        self._remote = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=0)(run_fold)
        self._refs: dict[str, Any] = {}  # attempt directory -> its task, while it has not ended
        self._cancelled: set[str] = set()

    @property
    def capacity(self) -> int:
        return 1_000_000  # Ray queues the tasks until a node has the resources they ask for

    def parallel(self) -> int:
        resources = self._cluster_resources()
        folds = resources.get("CPU", 0.0) // self.cpus
        if self.gpus:
            folds = min(folds, resources.get("GPU", 0.0) // self.gpus)
        return max(1, int(folds))

    def describe(self) -> str:
        resources = self._cluster_resources()
        cluster = f"{resources.get('CPU', 0):g} CPUs" + (f", {resources.get('GPU', 0):g} GPUs" if resources.get("GPU") else "")
        where = self.address or "a Ray started on this machine"
        return f" on Ray at {where} ({cluster}; each fold asks for {self.resources}: {self.parallel()} folds at a time)"

    def problems(self) -> list[str]:
        """Why folds would wait forever: a fold asks for more than any node of the cluster has."""
        nodes = [n.get("Resources", {}) for n in self._ray.nodes() if n.get("Alive")]
        if any(r.get("CPU", 0) >= self.cpus and r.get("GPU", 0) >= self.gpus for r in nodes):
            return []
        biggest = max(((r.get("CPU", 0), r.get("GPU", 0)) for r in nodes), default=(0, 0))
        return [f"each fold asks for {self.cpus} CPUs and {self.gpus} GPUs, but the largest node of the Ray cluster "
                f"has {biggest[0]:g} CPUs and {biggest[1]:g} GPUs: lower executor.cpus_per_fold / gpus_per_fold "
                "(or training.threads / accelerator), or add nodes"]  # fmt: skip

    def submit(self, jobs: Sequence[FoldJob]) -> list[Future]:
        futures = []
        for job in jobs:
            ref = self._remote.remote(job, self._fit)
            self._refs[job.attempt_dir] = ref
            futures.append(self._outcome(job, ref))
        return futures

    def cancel(self, jobs: Sequence[FoldJob]) -> None:
        for job in jobs:
            ref = self._refs.get(job.attempt_dir)
            if ref is not None and job.attempt_dir not in self._cancelled:
                self._cancelled.add(job.attempt_dir)
                self._ray.cancel(ref)  # queued: dropped; running: KeyboardInterrupt in the fold

    def close(self) -> None:
        self._ray.shutdown()  # a Ray started here stops with it; a cluster only loses this driver

    # ------------------------------------------------------------------------------------------ internals
    def _cluster_resources(self) -> dict[str, float]:
        try:
            return dict(self._ray.cluster_resources())
        except Exception:  # the cluster went away: say so through the folds, not here
            return {}

    def _outcome(self, job: FoldJob, ref: Any) -> Future:
        """A future with the fold's result in the runner's terms: None, or one line with where to look."""
        outcome: Future = Future()

        def done(ray_future: Future) -> None:
            self._refs.pop(job.attempt_dir, None)
            try:
                outcome.set_result(ray_future.result())
            except BaseException as error:  # noqa: BLE001 - every way a task can end is a fold's outcome
                outcome.set_result(self._reason(job, error))

        ref.future().add_done_callback(done)
        return outcome

    def _reason(self, job: FoldJob, error: BaseException) -> str:
        exceptions = self._ray.exceptions
        log = Path(job.attempt_dir) / FOLD_LOG
        if isinstance(error, exceptions.TaskCancelledError) or job.attempt_dir in self._cancelled:
            return "cancelled"
        if isinstance(error, (exceptions.WorkerCrashedError, exceptions.NodeDiedError)):
            return f"the Ray worker training it died ({type(error).__name__}: killed, or out of memory?); see {log}"
        if isinstance(error, exceptions.OutOfMemoryError):
            return f"Ray killed its worker for memory (OutOfMemoryError); see {log}"
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return f"{type(error).__name__}: {first_line} (see {log})"
