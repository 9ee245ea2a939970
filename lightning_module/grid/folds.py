"""Training one fold: the ``fit`` arguments of a cell × fold, and running them in this process, in a fresh
``python -m lightning_module fit`` process, in a worker process of a grid that trains several folds at once,
or on a cluster's worker (a Ray task, a Slurm array task: :func:`run_fold`).

Whatever runs it, a fold writes an ordinary run directory; its console output goes to ``train.log`` there and
its CPU time to ``run.json`` (``cpu_seconds``). Its result is that directory and nothing else, so a fold that
finished on any machine is seen as finished by every later grid that reads the same output folder.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning_module import processes
from lightning_module.grid.spec import Cell, GridSpec
from lightning_module.training import command_line
from lightning_module.training.command_line import OptionValue
from lightning_module.training.run_files import now_iso, update_run_json

FOLD_LOG = "train.log"
INTERRUPTED = "interrupted by the user"
# (fit arguments after ``fit``, attempt directory) -> None; raises when the fit itself fails.
FitFunction = Callable[[list[str], Path], None]


def fit_arguments(spec: GridSpec, cell: Cell, fold: int, attempt_dir: Path) -> list[str]:
    """The ``fit`` arguments that train ``fold`` of ``cell`` into ``attempt_dir`` (``.../fold_<k>/version_<n>``)."""
    version = int(attempt_dir.name.removeprefix("version_"))
    options: dict[str, OptionValue] = {
        "seed_everything": spec.seed,
        "data.source": spec.source,
        "data.scenario": cell.scenario,
        "data.image_size": cell.image_size,
        "data.color_mode": cell.color_mode,
        "data.batch_size": spec.batch_size,
        "data.seed": spec.seed,
        "data.fold": fold,
        "data.n_folds": spec.folds,
        "model.backbone": cell.backbone,
        "model.pretrained": cell.pretrained,
        "model.lr": spec.lr,
        "trainer.max_epochs": spec.epochs,
        "trainer.accelerator": spec.accelerator,
        "trainer.devices": 1,
        "trainer.enable_progress_bar": False,
        "trainer.logger.init_args.save_dir": attempt_dir.parent.parent.resolve(),
        "trainer.logger.init_args.name": attempt_dir.parent.name,
        "trainer.logger.init_args.version": version,
    }
    if spec.source == "synthetic":
        options["data.synthetic_size"] = spec.synthetic_size
    if spec.group_regex:
        options["data.group_regex"] = spec.group_regex
    if spec.cache_dir != "auto":
        options["data.cache_dir"] = spec.cache_dir or None
    return command_line.fit_arguments(options)


# ---------------------------------------------------------------------------------------------- one fold
def fit_in_process(arguments: list[str], attempt_dir: Path, threads: int | None = None) -> None:
    """Train one fold in this process, its console output going to the attempt's ``train.log``.

    ``threads``: CPU threads for torch during the fold (None: torch's default, one per core).
    """
    import torch

    from lightning_module.training.cli import main as fit_main

    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    previous_sigint = signal.getsignal(signal.SIGINT)
    previous_argv = sys.argv
    cpu_started = time.process_time()
    quiet = [logging.getLogger(name) for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric")]
    levels = [logger.level for logger in quiet]
    try:
        with _console_to(attempt_dir / FOLD_LOG):
            for logger in quiet:
                logger.setLevel(logging.WARNING)
            sys.argv = sys.argv[:1]  # LightningCLI warns when it gets arguments and sees the grid's own too
            fit_main(["fit", *arguments])
    finally:
        _record_cpu(attempt_dir, time.process_time() - cpu_started)
        sys.argv = previous_argv
        torch.set_num_threads(previous_threads)
        for logger, level in zip(quiet, levels):
            logger.setLevel(level)
        # Lightning ignores SIGINT after a Ctrl+C during fit; give the grid its Ctrl+C back.
        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGINT, previous_sigint)
        gc.collect()


def fit_in_subprocess(arguments: list[str], attempt_dir: Path, stop: Callable[[], bool] | None = None,
                      threads: int | None = None) -> None:  # fmt: skip
    """Train one fold as ``python -m lightning_module fit ...``; a non-zero exit raises with the log's path."""
    command = command_line.fit_command(arguments=arguments)
    environment = dict(os.environ)
    if threads is not None:
        environment["OMP_NUM_THREADS"] = str(threads)  # read by torch when it starts
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # In the grid's own process group: a Ctrl+C in the grid's terminal reaches the fold too.
    process = processes.start(command, attempt_dir / FOLD_LOG, env=environment, own_session=False)
    try:
        while process.poll() is None:
            if stop is not None and stop():
                process.terminate()  # Lightning marks the run stopped and exits
            try:
                process.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
    except KeyboardInterrupt:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=60)
        raise
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    _record_cpu(attempt_dir, children.ru_utime + children.ru_stime - children_before.ru_utime - children_before.ru_stime)
    if process.returncode != 0:
        raise RuntimeError(f"training process exited with code {process.returncode} (see {attempt_dir / FOLD_LOG})")


def _record_cpu(attempt_dir: Path, seconds: float) -> None:
    """Add the fold's CPU time to its run.json: with one thread per fold it is what the fold would take alone
    on an idle core, whatever else the machine was doing (wall times on a shared machine are not)."""
    if (attempt_dir / "run.json").is_file():
        with contextlib.suppress(OSError):
            update_run_json(attempt_dir, cpu_seconds=round(seconds, 1))


@contextlib.contextmanager
def _console_to(path: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors too, for C-level output) to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with path.open("ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


# ---------------------------------------------------------------------------------------------- running folds
def call_fit(fit: FitFunction, arguments: list[str], attempt_dir: Path) -> str | None:
    """Run ``fit``: None when it returned, else what went wrong in words (it never raises)."""
    try:
        fit(arguments, attempt_dir)
    except KeyboardInterrupt:
        return INTERRUPTED
    except SystemExit as exit_:  # Lightning exits after Ctrl+C; the argument parser exits on bad arguments
        return f"exited with code {exit_.code} (see {attempt_dir / FOLD_LOG})"
    except Exception as exception:  # a crash in one fold is recorded, not fatal
        return f"{type(exception).__name__}: {exception}"
    return None


def pool_fit(arguments: list[str], attempt_dir: Path, threads: int | None, isolation: str) -> str | None:
    """One fold in a worker process of a grid that trains several folds at a time."""
    if isolation == "subprocess":
        return call_fit(lambda a, d: fit_in_subprocess(a, d, threads=threads), arguments, attempt_dir)
    return call_fit(lambda a, d: fit_in_process(a, d, threads), arguments, attempt_dir)


@dataclass(frozen=True)
class FoldJob:
    """One fold as it travels to whatever trains it: plain values, so it pickles (Ray) and fits in JSON (Slurm).

    ``workdir`` is the grid's working folder: relative paths in the fit (the synthetic dataset under ``data/``,
    the decode cache) mean the same on every worker only when the worker starts there.
    """

    arguments: tuple[str, ...]
    attempt_dir: str
    label: str
    threads: int | None
    isolation: str
    workdir: str


def run_fold(job: FoldJob, fit: FitFunction | None = None) -> str | None:
    """Train ``job`` here (a Ray task, a Slurm array task): None when it ran, else what went wrong in words.

    ``fit`` replaces training (tests); it must be importable where this runs.
    """
    attempt_dir = Path(job.attempt_dir)
    if not attempt_dir.is_dir():
        return (f"{attempt_dir} does not exist on {socket.gethostname()}: the grid's output folder must be on "
                "storage that every worker reaches at the same path (docs/SCALE_OUT.md)")  # fmt: skip
    previous = os.getcwd()
    try:
        os.chdir(job.workdir)
    except OSError as error:
        return f"cannot enter the grid's working folder on {socket.gethostname()} ({error}); see docs/SCALE_OUT.md"
    # Where and since when: the grid's time left counts a fold from here, not from its wait in a queue.
    update_run_json(attempt_dir, worker={"host": socket.gethostname(), "pid": os.getpid(), "started": now_iso()})
    try:
        if fit is not None:
            return call_fit(fit, list(job.arguments), attempt_dir)
        return pool_fit(list(job.arguments), attempt_dir, job.threads, job.isolation)
    finally:
        os.chdir(previous)


class InlineExecutor:
    """Runs each submitted call at once in this process: the one-worker grid, where Ctrl+C and SIGTERM reach
    the fit directly."""

    def submit(self, function: Callable[..., str | None], *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(function(*args))
        except BaseException as error:  # noqa: BLE001 - handed to the caller like a worker's error
            future.set_exception(error)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        return None


def future_result(future: Future) -> str | None:
    try:
        return future.result()
    except BaseException as error:  # a worker process that died (BrokenProcessPool) fails its fold, not the grid
        return f"{type(error).__name__}: {error}"
