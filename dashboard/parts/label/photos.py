"""Which photos to rate, and in which order: a set already in the database, or a new folder or manifest; the
rater's own random order, or the photos a chosen model is least sure of first."""

from __future__ import annotations

import streamlit as st

from dashboard.parts.shared.ratings import SET_KEY, choose_model, choose_set, opinion_of
from lightning_module.labelling.database import LabelDatabase
from lightning_module.labelling.demo import register
from lightning_module.labelling.model_opinion import UNCERTAINTY_MEASURES
from lightning_module.labelling.photo_sources import PhotoSourceError, photos_to_rate
from lightning_module.labelling.ratings import PhotoSet

ORDER_TEXT = {"random": "Random (your own order)", "uncertain": "The photos the model is least sure of first"}
MEASURE_TEXT = {"entropy": "entropy of its class probabilities", "margin": "smallest gap between its top two classes"}


def _add_set(db: LabelDatabase) -> None:
    try:
        photo_set = register(db, photos_to_rate(st.session_state.get("labelling_new_source", "")))
    except PhotoSourceError as error:
        st.session_state["labelling_source_error"] = str(error)
    else:
        st.session_state[SET_KEY] = photo_set.id
        st.session_state.pop("labelling_source_error", None)


def chosen_photo_set(db: LabelDatabase) -> PhotoSet:
    """The set to rate: a select box over the database's sets, and a field to add a folder or manifest."""
    with st.container(border=True):
        photo_set = choose_set(db, label="Photos to rate")
        with st.expander("Add photos: a folder or a manifest", icon=":material/add_photo_alternate:"):
            st.text_input(
                "Folder or manifest (.csv)", key="labelling_new_source", placeholder="/path/to/photos",
                help="A folder: every photo under it, at any depth (class folders are not needed). A manifest: a CSV "
                     "with a path column (relative to the manifest) and, optionally, a group column; any label "
                     "column is ignored, so no rater sees one.",
            )
            st.button("Add these photos", key="labelling_add", on_click=_add_set, args=(db,), icon=":material/add:")
            if st.session_state.get("labelling_source_error"):
                st.error(st.session_state["labelling_source_error"], icon=":material/folder_off:")
    return photo_set


def chosen_order(db: LabelDatabase, photo_set: PhotoSet) -> tuple[str, dict[int, float] | None]:
    """(order, uncertainty per photo id or None) as the rater chose them."""
    order = st.radio("Rate next", list(ORDER_TEXT), format_func=ORDER_TEXT.get, horizontal=True, key="labelling_order",
                     help="Labelling the photos a model is least sure of first can teach the next model more per "
                          "label; bench/active_labelling.py measures whether it does (docs/BENCHMARKS.md).")
    if order == "random":
        return order, None
    model, measure = st.columns([3, 2])
    with model:
        choice = choose_model("labelling_model", "Model whose doubt orders the photos")
    how = measure.selectbox("Least sure by", UNCERTAINTY_MEASURES, format_func=MEASURE_TEXT.get, key="labelling_measure")
    opinion = opinion_of(choice, db, photo_set) if choice is not None else None
    if opinion is None:
        return "random", None
    return order, opinion.uncertainty(how)
