"""Assess one tree: photo in (upload, camera or example), prediction, heatmap, ISA rating and report out."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import streamlit as st
from blake3 import blake3
from streamlit.delta_generator import DeltaGenerator

from dashboard.parts.shared.progress import still_progress
from dashboard.parts.shared.models import REPO_ROOT, CheckpointChoice, cache_key, cached_predictor, cached_reference
from dashboard.parts.assess.style import (
    PHOTO_TYPES,
    limitations_box,
    muted,
    pictures_html,
    probability_bars,
    rating_badge,
)
from dashboard.parts.assess.without_defect import render_without_defect
from lightning_module.assessment import risk
from lightning_module.assessment.photo_assessment import PhotoAssessment, assess_photo
from lightning_module.assessment.pictures import crop_as_seen, model_view, outline_crop, overlay
from lightning_module.assessment.report import (
    LIMITATIONS,
    RATING_COLOURS,
    build_report,
    class_colours,
    matrices_html,
    model_summary,
)
from lightning_module.data.imaging import PhotoError, PreparedPhoto
from lightning_module.evaluation.explain import DEFAULT_EXPLANATION_METHOD, EXPLANATION_METHODS, Explanation, explain

EXAMPLES_DIR = REPO_ROOT / "docs" / "examples"


def example_photos() -> list[Path]:
    """The example photos shipped in docs/examples (a fresh clone has something to try)."""
    return sorted(p for p in EXAMPLES_DIR.glob("*.jpg") if p.is_file()) if EXAMPLES_DIR.is_dir() else []


def example_label(path: Path) -> str:
    """``example_2_probable.jpg`` -> ``Example 2 · labelled Probable``."""
    parts = path.stem.split("_")
    if len(parts) >= 3 and parts[0] == "example":
        return f"Example {parts[1]} · labelled {' '.join(parts[2:]).capitalize()}"
    return path.stem


@st.cache_data(max_entries=16, show_spinner=False)  # render_single shows a still message instead
def _assess(checkpoint: str, mtime: float, digest: str, name: str, _data: bytes) -> PhotoAssessment:
    # Keyed by the photo's digest (not its bytes) so the cache does not hash megabytes on every rerun.
    return assess_photo(cached_predictor(checkpoint, mtime), _data, name, cached_reference(checkpoint, mtime))


@st.cache_data(max_entries=64, show_spinner="Explaining the prediction…")
def _explain(checkpoint: str, mtime: float, digest: str, method: str, _photo: PreparedPhoto) -> Explanation:
    # Keyed by the model and the model input's digest: switching methods back and forth recomputes nothing.
    return explain(cached_predictor(checkpoint, mtime), _photo, method=method)


def _choose_example(path: str) -> None:
    st.session_state["assess_example"] = path


def _clear_example() -> None:
    st.session_state.pop("assess_example", None)


@dataclass(frozen=True)
class HeatmapSettings:
    method: str
    opacity: float


def heatmap_settings(where: DeltaGenerator) -> HeatmapSettings:
    """The one-tree heatmap's method and opacity, drawn in ``where``.

    Outside :func:`render_single`'s fragment on purpose: widgets drawn in it are mounted again in every browser with
    every answer (a replaced photo's first run takes the answer away); moving these two out took 7 % off what an
    answer costs a browser."""
    method_column, opacity_column = where.columns([3, 2])
    names = list(EXPLANATION_METHODS)
    method = method_column.selectbox(
        "Heatmap (one tree)", names, index=names.index(DEFAULT_EXPLANATION_METHOD), key="assess_explanation",
        format_func=lambda name: EXPLANATION_METHODS[name].label,
        help="How the heatmap of \"where the model looked\" is computed. The default points at drawn defects most "
             "often on synthetic test scenes (docs/BENCHMARKS.md); occlusion and Integrated Gradients take longer.")
    opacity = opacity_column.slider("Heatmap opacity", 0.0, 1.0, 0.6, 0.05, key="assess_opacity")
    return HeatmapSettings(method, opacity)


def _photo_source() -> tuple[str, bytes] | None:
    """The photo to assess: a camera shot, else an upload, else a chosen example."""
    left, right = st.columns([3, 2], gap="large")
    with left:
        uploaded = st.file_uploader(
            "Photo of one tree", type=PHOTO_TYPES, key="assess_upload", on_change=_clear_example,
            help="JPEG, PNG, WebP, HEIC (iPhone), GIF, BMP or TIFF. The whole tree, roughly centred, in daylight works best.",
        )
        use_camera = st.toggle("Take a photo with the camera instead", key="assess_camera_on")
        shot = st.camera_input("Camera", key="assess_camera") if use_camera else None
    with right:
        examples = example_photos()
        st.markdown("**No photo at hand?** Try one of the example trees:")
        if not examples:
            st.caption("No example photos in this copy (docs/examples/ is empty).")
        for index, path in enumerate(examples):
            st.button(example_label(path), key=f"assess_example_{index}", on_click=_choose_example, args=(str(path),),
                      icon=":material/park:", width="stretch")
    if shot is not None:
        return "camera photo", shot.getvalue()
    if uploaded is not None:
        return uploaded.name, uploaded.getvalue()
    chosen = st.session_state.get("assess_example")
    if chosen and Path(chosen).is_file():
        return Path(chosen).name, Path(chosen).read_bytes()
    return None


# A fragment: a new photo, a chosen example or the camera reruns only this tab, not the page around it (title, the
# settings box, the other tab), whose elements every browser would otherwise draw again with each answer: a fifth
# less of what an answer costs a browser (docs/RELIABILITY.md, "Load"). Streamlit's uploader reports a replaced photo
# as "removed", then "added" (two reruns); the first now redraws only this tab. The settings box's choices rerun
# the whole page, this tab with them.
@st.fragment
def render_single(choice: CheckpointChoice, impact: str, consequences: str, heatmap: HeatmapSettings) -> None:
    source = _photo_source()
    if source is None:
        st.info("Upload a photo, take one with the camera, or pick an example to see the model's rating, where it "
                "looked, and the ISA risk rating for the target you chose above.", icon=":material/photo_camera:")
        return
    name, data = source
    path, mtime = cache_key(choice.path)
    try:
        with still_progress("Assessing the photo…"):
            # BLAKE3 as the ingest cache's key: the upload is hashed on every rerun of the tab (0.4 ms, not 1.7).
            result = _assess(path, mtime, blake3(data).hexdigest(), name, data)
    except PhotoError as error:
        st.error(f"**{name}** cannot be assessed: {error}.", icon=":material/broken_image:")
        return
    st.divider()
    _show_result(result, choice, impact, consequences, heatmap)
    render_without_defect(name, data, choice, impact, consequences, EXAMPLES_DIR)


def _describe_photo(result: PhotoAssessment) -> str:
    width, height = result.photo.original_size
    left, _, right, _ = result.photo.crop_box
    model = result.photo.image
    mode = "grayscale" if model.mode == "L" else "colour"
    return f"{width}×{height} px photo · model used its centre {right - left}×{right - left} px square · model input {model.width}×{model.height} px {mode}"


def _show_result(result: PhotoAssessment, choice: CheckpointChoice, impact: str, consequences: str,
                 heatmap: HeatmapSettings) -> None:
    st.subheader(result.name, anchor=False)
    st.caption(_describe_photo(result))
    for warning in result.familiarity.warnings:
        st.warning(warning, icon=":material/warning:")
    for note in result.familiarity.notes:
        st.caption(f"ℹ️ {note}")

    seen = _pictures(result, choice, heatmap)

    try:
        rated: risk.RiskAssessment | None = result.rating(impact, consequences)
        unavailable = ""
    except risk.RatingUnavailable as error:
        rated, unavailable = None, str(error)

    st.markdown("### Likelihood of failure")
    left, right = st.columns([1, 1], gap="large")
    with left:
        probabilities = dict(zip(result.classes, map(float, result.probabilities)))
        note = html.escape(rated.merged_note) if rated is not None and rated.merged_note else ""
        st.html(probability_bars(probabilities, class_colours(result.classes), "Class probabilities") + muted(note))
    with right:
        if rated is None:
            st.markdown(rating_badge("No ISA"), unsafe_allow_html=True)
            st.error(unavailable)
        else:
            _rating_card(rated, probabilities, impact, consequences)

    # Text and picture in one st.html where they belong together: each element costs every browser a React render
    # with every answer (docs/RELIABILITY.md, "Load").
    st.markdown("### ISA risk rating")
    st.html(muted(f"Likelihood of impacting a target: <b>{html.escape(impact)}</b> · Consequences: "
                  f"<b>{html.escape(consequences)}</b> (change them at the top of the page). The highlighted cells are "
                  "the path from the most likely class.") + matrices_html(rated.path if rated else None, impact, consequences))
    chart, actions = st.columns([1, 1], gap="large")
    with chart:
        if rated is not None:
            st.html(probability_bars(rated.rating_probabilities, RATING_COLOURS, "Probability of each risk rating")
                    + muted("Each class's probability goes to the rating that class would get with this target and "
                            "these consequences (the expectation over classes)."))
    with actions:
        st.markdown("**Take it with you**")
        _report_button(seen, choice, impact, consequences, heatmap.opacity)  # the report shows the heatmap shown here
        st.html(limitations_box(LIMITATIONS))  # always open: a box costs a browser less than an expander


def _pictures(result: PhotoAssessment, choice: CheckpointChoice, heatmap: HeatmapSettings) -> PhotoAssessment:
    """The photo with the model's square, what the model sees and where it looked, side by side, as one element.

    One HTML element with the pictures inline rather than three ``st.image``: each of those is an element with a
    toolbar and a separate download, and together they were a sixth of what an answer costs a browser
    (bench/load_check.py). Returns ``result`` holding the heatmap shown (the report shows the same)."""
    size, mode = result.photo.image.width, "grayscale" if result.photo.image.mode == "L" else "colour"
    figures = [
        ("Your photo", outline_crop(result.photo, result.shown), "The framed square is what the model used; the rest "
         "is ignored.", "The uploaded photo, with the square the model used framed"),
        ("What the model sees", model_view(result.photo, side=360), f"{size}×{size} pixels, {mode}, enlarged.",
         "The model's input"),
    ]
    explanation = result.explanation
    if explanation is not None and explanation.method != heatmap.method:  # the assessment has the default's heatmap
        digest = blake3(result.photo.image.tobytes()).hexdigest()
        explanation = _explain(*cache_key(choice.path), digest, heatmap.method, result.photo)
        result = replace(result, explanation=explanation)
    if explanation is None:
        heat, caption = None, "No heatmap for this photo."
    else:
        label, summary = EXPLANATION_METHODS[heatmap.method].label, EXPLANATION_METHODS[heatmap.method].summary
        heat = overlay(crop_as_seen(result.photo, result.shown), explanation.heatmap, heatmap.opacity)
        caption = (f"{label} for “{explanation.class_name}”: {summary}." if not explanation.flat else
                   f"Flat heatmap ({label}): no region raised the predicted class's score.")
    figures.append(("Where the model looked", heat, caption, "Heatmap over the model's square"))
    st.html(pictures_html(figures))
    return result


def _rating_card(rated: risk.RiskAssessment, probabilities: dict[str, float], impact: str, consequences: str) -> None:
    path = rated.path
    likely = max(rated.rating_probabilities, key=rated.rating_probabilities.get)
    with st.container(border=True):  # one element: each Streamlit element costs every browser a React render
        st.markdown(
            '<span class="tr-muted">Risk rating for this target</span><br>'
            f'{rating_badge(rated.rating)}'
            f'<p class="tr-path">Most likely class <b>{rated.predicted_class}</b> ({probabilities[rated.predicted_class]:.0%})'
            f' → likelihood of failure <span class="tr-step">{path.likelihood_of_failure}</span>'
            f' × impact <span class="tr-step">{impact}</span> = <span class="tr-step">{path.failure_and_impact}</span>'
            f' × consequences <span class="tr-step">{consequences}</span> = <b>{path.rating}</b></p>'
            f'<p class="tr-muted">Counting every class by its probability: {rated.rating_probabilities[path.rating]:.0%} '
            f'chance of <b>{path.rating}</b>; most probable rating <b>{likely}</b>.</p>'
            '<p class="tr-muted">A screening aid, not a qualified arborist\'s assessment.</p>',
            unsafe_allow_html=True,
        )


def _report_button(result: PhotoAssessment, choice: CheckpointChoice, impact: str, consequences: str,
                   opacity: float) -> None:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(result.name).stem)[:60].strip("_") or "tree"
    summary = model_summary(cached_predictor(*cache_key(choice.path)), choice.label)

    def report() -> bytes:
        # Deferred: the page is built only when the user clicks, with the choices on screen at that moment.
        return build_report(result, summary, impact, consequences, opacity, datetime.now(timezone.utc)).encode("utf-8")

    st.download_button(
        "Download the one-page report (HTML)", data=report, file_name=f"treerisk_{stem}.html", mime="text/html",
        icon=":material/download:", type="primary", on_click="ignore", key="assess_report",
        help="A self-contained page with the photo, heatmap, probabilities, both matrices, the model and its "
             "limitations; print it to PDF from the browser.",
    )
