"""Which checkpoints the Assess, Label and Agreement pages offer, and the cached models behind them.

Offered: the bundled models (``lightning_module.evaluation.bundled_models``: the default first, then the lab's
reference network) when this copy has them, and the best checkpoint of every *finished* training run under the dashboard's runs folder (``$TREERISK_RUNS_DIR``, default
``<repo>/runs``), newest first.
Models are cached per checkpoint path and modification time, so retraining into the same file is picked up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from dashboard.parts.shared.paths import runs_dir
from lightning_module.evaluation.bundled_models import DEFAULT_MODEL, bundled_checkpoints
from lightning_module.evaluation.familiarity import FamiliarityReference, reference_for
from lightning_module.evaluation.predictor import Predictor, load_predictor
from lightning_module.runs.store import list_runs

REPO_ROOT = Path(__file__).resolve().parents[3]
BUNDLED_NAME = DEFAULT_MODEL.file_name


@dataclass(frozen=True)
class CheckpointChoice:
    """One checkpoint the user may pick."""

    label: str
    path: Path
    bundled: bool


def finished_runs(folder: Path) -> list[CheckpointChoice]:
    """``best.ckpt`` of every run under ``folder`` whose run.json says it finished, newest first."""
    choices = []
    for run in list_runs(folder):
        checkpoint = run.path / "checkpoints" / "best.ckpt"
        if run.status != "finished" or not checkpoint.is_file():
            continue
        parts = [f"Run {run.run_id}", str(run.record.get("backbone") or "?")]  # run_id is unique: labels are too
        score = run.best.get("val/bal_acc")
        if isinstance(score, (int, float)):
            parts.append(f"val. balanced accuracy {score:.2f}")
        ended = str((run.record.get("timings") or {}).get("ended") or "")[:16].replace("T", " ")
        if ended:
            parts.append(f"finished {ended}")
        choices.append(CheckpointChoice(" · ".join(parts), checkpoint, bundled=False))
    return choices


def available_checkpoints(root: Path = REPO_ROOT) -> list[CheckpointChoice]:
    """The bundled models first (when present, the default before the lab's reference), then finished runs."""
    choices = [CheckpointChoice(model.title, path, bundled=True) for model, path in bundled_checkpoints(root / "checkpoints")]
    return choices + finished_runs(runs_dir())


def cache_key(path: Path) -> tuple[str, float]:
    """(path, mtime): a checkpoint rewritten in place is loaded afresh."""
    try:
        return str(path), path.stat().st_mtime
    except OSError:
        return str(path), 0.0


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def cached_predictor(path: str, mtime: float) -> Predictor:
    return load_predictor(path)


@st.cache_resource(max_entries=4, show_spinner="Measuring what photos this model knows…")
def cached_reference(path: str, mtime: float) -> FamiliarityReference | None:
    return reference_for(cached_predictor(path, mtime))
