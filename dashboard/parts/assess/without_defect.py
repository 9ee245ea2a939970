"""Assess, one tree: the same synthetic scene drawn again without one of its defects, both rated side by side.

Offered only for a photo the generator can draw again, which means one with a manifest row:

* an example photo (docs/examples/manifest.csv holds the rows they were generated from);
* a file whose name is a generated one (``synth_s0_t00042_p0.jpg``) listed in the manifest of a synthetic dataset
  in the dashboard's data folder (``$TREERISK_DATA_DIR``, default ``data/``).

The redrawn original is byte-identical to the generated file; when the photo on screen is not (edited, re-saved),
both sides of the comparison use the generator's original so that only the defect differs.
"""

from __future__ import annotations

import csv
from dataclasses import astuple
from pathlib import Path

import numpy as np
import streamlit as st

from dashboard.parts.shared.models import CheckpointChoice, cache_key, cached_predictor
from dashboard.parts.assess.style import rating_badge
from dashboard.parts.shared.paths import data_dir
from lightning_module.assessment import risk
from lightning_module.synthetic import DEFECT_DESCRIPTIONS, DEFECTS
from lightning_module.synthetic.redraw import RedrawError, Scene, redraw, scene_of_row

MANIFEST = "manifest.csv"
GENERATED_NAME = "synth_s"  # the generator's file names start so; anything else is not looked up in data folders


def _read_rows(manifest: Path) -> dict[str, dict[str, str]]:
    """The manifest's rows by file name (its last path part); {} when it cannot be read."""
    try:
        with manifest.open(newline="") as handle:
            return {Path(row["path"]).name: row for row in csv.DictReader(handle) if row.get("path")}
    except (OSError, KeyError, csv.Error, UnicodeDecodeError):
        return {}


@st.cache_data(max_entries=8, show_spinner=False)
def _rows(manifest: str, mtime: float) -> dict[str, dict[str, str]]:
    return _read_rows(Path(manifest))


def _manifests(name: str, examples: Path) -> list[Path]:
    """Where a row for ``name`` may be: the examples' manifest, and for generated names every data folder's."""
    found = [examples / MANIFEST]
    if Path(name).name.startswith(GENERATED_NAME):
        try:
            found += sorted(data_dir().glob(f"*/{MANIFEST}"))
        except OSError:
            pass
    return [m for m in found if m.is_file()]


def manifest_row(name: str, examples: Path) -> dict[str, str] | None:
    """The manifest row of the photo called ``name``, from the examples (in the folder ``examples``) or a synthetic
    dataset in the data folder; None if there is none."""
    for manifest in _manifests(name, examples):
        row = _rows(str(manifest), manifest.stat().st_mtime).get(Path(name).name)
        if row is not None:
            return row
    return None


@st.cache_data(max_entries=32, show_spinner="Drawing the scene again…")
def _drawing(scene_fields: tuple, defect: str | None) -> tuple[bytes, str, float]:
    drawn = redraw(Scene(*scene_fields), defect)
    return drawn.jpeg, drawn.label, drawn.risk_score


def render_without_defect(name: str, data: bytes, choice: CheckpointChoice, impact: str, consequences: str,
                          examples: Path) -> None:
    """The "without this defect" comparison for a re-drawable photo; nothing at all for any other photo.

    ``examples`` is the example photos' folder (its manifest.csv names them)."""
    row = manifest_row(name, examples)
    if row is None:
        return
    try:
        scene = scene_of_row(row)
    except RedrawError as error:
        st.caption(f"This photo has a manifest row but cannot be drawn again: {error}.")
        return
    present = [d for d in DEFECTS if float(row.get(f"severity_{d}") or 0) > 0]
    st.markdown("### Without this defect")
    if not present:
        st.caption("The generator drew this tree without any defect, so there is nothing to take away.")
        return
    st.caption("A synthetic scene can be drawn again exactly. Pick one of its defects to see the same scene without "
               "it (same street, light, framing and other defects) and how the model's rating changes.")
    defect = st.selectbox(
        "Defect to remove", present, key=f"assess_without_{scene.group}_p{scene.photo}",
        format_func=lambda d: f"{d.replace('_', ' ')} (severity {float(row[f'severity_{d}']):.2f})",
        help="  \n".join(f"**{d.replace('_', ' ')}**: {DEFECT_DESCRIPTIONS[d]}" for d in present),
    )
    fields = astuple(scene)
    original, label, score = _drawing(fields, None)
    without, label_without, score_without = _drawing(fields, defect)
    if original != data:
        st.caption("This photo is not byte for byte the generated one (edited or saved again?): both sides below use "
                   "the generator's original, so that only the defect differs.")
    predictor = cached_predictor(*cache_key(choice.path))
    before, after = predictor.predict_proba(original), predictor.predict_proba(without)
    left, right = st.columns(2, gap="large")
    with left:
        _panel("As generated", original, predictor.classes, before, label, score, impact, consequences)
    with right:
        _panel(f"Without the {defect.replace('_', ' ')}", without, predictor.classes, after, label_without,
               score_without, impact, consequences)
    top = int(np.argmax(before))
    st.caption(f"Without the {defect.replace('_', ' ')}, the model's probability of **{predictor.classes[top]}** goes "
               f"from {before[top]:.0%} to {after[top]:.0%}. The generator scores the tree "
               f"{'the same' if label == label_without else f'{label_without} instead of {label}'} "
               f"(risk score {score:.2f} → {score_without:.2f}).")


def _panel(title: str, jpeg: bytes, classes: list[str], probabilities: np.ndarray, label: str, score: float,
           impact: str, consequences: str) -> None:
    st.markdown(f"**{title}**")
    st.image(jpeg, width="stretch")
    top = int(np.argmax(probabilities))
    try:
        rating = risk.assess(classes, probabilities, impact, consequences).rating
        st.markdown(rating_badge(rating), unsafe_allow_html=True)
    except risk.RatingUnavailable:
        pass
    st.markdown(f"Model: **{classes[top]}** ({probabilities[top]:.0%}) · "
                + " · ".join(f"{c} {p:.0%}" for c, p in zip(classes, probabilities)))
    st.caption(f"Generator's class: {label} (risk score {score:.2f})")
