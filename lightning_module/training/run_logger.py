"""A CSV logger for ``runs/<name>/version_<n>/`` that never deletes what an earlier attempt wrote.

Lightning's CSVLogger removes an existing ``metrics.csv`` when it opens a directory again; after a crash and
resume that would lose the killed attempt's epochs. This logger appends, flushes every epoch row at once,
and claims a fresh version directory atomically.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment
from pytorch_lightning.utilities import rank_zero_only

from lightning_module.training.run_files import claim_next_version, validate_run_name

# Set by the launching process so DDP workers (which re-run the command) use the same version directory.
VERSION_ENV = "TREERISK_RUN_VERSION"


class _AppendingWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if path.is_file():
            with path.open(newline="") as handle:
                self.metrics_keys = list(csv.DictReader(handle).fieldnames or [])


class RunLogger(CSVLogger):
    """Writes ``hparams.yaml`` and one ``metrics.csv`` row per epoch into ``save_dir/name/version_<n>``.

    Args:
        save_dir: folder that holds all runs.
        name: the run's name (a plain folder name).
        version: an existing version to continue (resume), or None for the next free one.
    """

    def __init__(self, save_dir: str = "runs", name: str = "default", version: int | None = None) -> None:
        super().__init__(save_dir, name=validate_run_name(name), version=version, flush_logs_every_n_steps=1)

    def _get_next_version(self) -> int:
        if rank_zero_only.rank != 0:  # DDP workers follow rank zero's directory; they never claim one
            inherited = os.environ.get(VERSION_ENV)
            return int(inherited) if inherited is not None else super()._get_next_version() - 1
        version = claim_next_version(Path(self.root_dir))
        os.environ[VERSION_ENV] = str(version)  # inherited by DDP workers started from this process
        return version

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment
