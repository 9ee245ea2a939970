"""Where the dashboard finds runs and data: resolved from this file, never from the working directory."""

from __future__ import annotations

import os
from pathlib import Path

from lightning_module.runs.store import runs_dir as _runs_dir

REPO_ROOT = Path(__file__).resolve().parents[3]
DATA_DIR_ENV = "TREERISK_DATA_DIR"
# How often live views re-read a running run's files.
REFRESH = "2s"


def runs_dir() -> Path:
    """``$TREERISK_RUNS_DIR``, else ``runs/`` in the project."""
    return _runs_dir(REPO_ROOT / "runs")


def data_dir() -> Path:
    """``$TREERISK_DATA_DIR``, else ``data/`` in the project (where the synthetic set is generated)."""
    return Path(os.environ.get(DATA_DIR_ENV) or REPO_ROOT / "data")
