"""Which checkpoints the Assess page offers, and the cached models behind them.

Offered: the bundled default (``checkpoints/seed_cnn_synthetic.ckpt``) when this copy has it, and the best
checkpoint of every *finished* training run under the dashboard's runs folder (``$TREERISK_RUNS_DIR``, default
``<repo>/runs``), newest first.
Models are cached per checkpoint path and modification time, so retraining into the same file is picked up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from dashboard.parts.shared.paths import runs_dir
from lightning_module.evaluation.familiarity import FamiliarityReference, reference_for
from lightning_module.evaluation.predictor import Predictor, load_predictor
from lightning_module.runs.store import list_runs

REPO_ROOT = Path(__file__).resolve().parents[3]
BUNDLED_NAME = "seed_cnn_synthetic.ckpt"


@dataclass(frozen=True)
class CheckpointChoice:
    """One checkpoint the user may pick."""

    label: str
    path: Path
    bundled: bool


def bundled_checkpoint(root: Path = REPO_ROOT) -> Path:
    return root / "checkpoints" / BUNDLED_NAME


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
    """The bundled default first (when present), then finished runs."""
    choices = []
    bundled = bundled_checkpoint(root)
    if bundled.is_file():
        choices.append(CheckpointChoice("Bundled default · seed_cnn trained on synthetic trees", bundled, bundled=True))
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
