"""The consensus manifest (majority vote; ties and "cannot tell" reported), its downloads, and "train on it"."""

from __future__ import annotations

import streamlit as st

from dashboard.parts.shared.paths import data_dir
from dashboard.parts.shared.widgets import TRAIN_PAGE
from lightning_module.labelling.consensus import (
    consensus, consensus_manifest_text, left_out_text, rater_labels_text, summarise, write_consensus_manifest,
)
from lightning_module.labelling.ratings import Photo, PhotoSet, Rating

# The Train page's own widget keys (dashboard/parts/train/train_form.py): set before switching to it, they open the
# Train page on "Manifest (.csv)" with this manifest's path filled in.
TRAIN_DATA_KIND, TRAIN_MANIFEST = "data_kind", "data_manifest"


def _train_on(rows: list, photo_set: PhotoSet) -> None:
    manifest, _ = write_consensus_manifest(rows, data_dir() / f"consensus-set{photo_set.id}.csv")
    st.session_state[TRAIN_DATA_KIND] = "manifest"
    st.session_state[TRAIN_MANIFEST] = str(manifest)
    st.session_state["agreement_saved"] = str(manifest)


def consensus_section(photo_set: PhotoSet, photos: list[Photo], ratings: list[Rating], raters: list[str]) -> None:
    rows = consensus(photos, ratings, raters)
    summary = summarise(rows)
    st.markdown(f"**{summary.text()}.**")
    st.caption("A photo's label is the class most of the chosen raters gave it, when one class leads outright. Ties, "
               "and photos most raters could not tell, are left out and listed with their votes, never guessed.")
    slug = f"set{photo_set.id}"
    manifest, left_out, every = st.columns(3)
    manifest.download_button("Consensus manifest (.csv)", consensus_manifest_text(rows), f"consensus-{slug}.csv",
                             "text/csv", icon=":material/download:", key="agreement_download_manifest",
                             disabled=summary.labelled == 0, width="stretch")
    left_out.download_button(f"Left out ({summary.ties + summary.cannot_tell})", left_out_text(rows),
                             f"consensus-{slug}-left-out.csv", "text/csv", icon=":material/download:",
                             key="agreement_download_left_out", width="stretch")
    every.download_button("Every rating, per rater (.csv)", rater_labels_text([r for r in ratings if r.rater in raters]),
                          f"ratings-{slug}.csv", "text/csv", icon=":material/download:",
                          key="agreement_download_ratings", width="stretch",
                          help="path, rater, simulated, label, confidence (1 unsure – 3 sure), defects, rated_at: "
                               "to score a model against each rater, not only the consensus.")
    if st.button("Save the manifest in the data folder and train on it", key="agreement_train", type="primary",
                 icon=":material/model_training:", on_click=_train_on, args=(rows, photo_set),
                 disabled=summary.labelled == 0):
        st.switch_page(TRAIN_PAGE)
    if st.session_state.get("agreement_saved"):
        st.caption(f"Saved as `{st.session_state['agreement_saved']}` (also usable as "
                   f"`--data.source {st.session_state['agreement_saved']}`).")
