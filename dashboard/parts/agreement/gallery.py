"""The photos the raters disagree on most, with every rater's label.

This shows raters' labels photo by photo, so a rater who has photos of this set still to rate must not see it
first. When the session has a rater signed in (the Label page), the photos that rater has not rated yet are left
out of the gallery; without one, the gallery says who should not look.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.parts.label.rater import RATER_KEY
from dashboard.parts.shared.ratings import rater_name, screen_photo
from lightning_module.labelling.agreement import LabelsByRater, disagreements
from lightning_module.labelling.ratings import Photo, Rater

COLUMNS = 4


def disagreement_gallery(labels: LabelsByRater, photos: dict[int, Photo], simulated: set[str], limit: int = 12) -> None:
    viewer: Rater | None = st.session_state.get(RATER_KEY)
    found = [d for d in disagreements(labels) if d.spread > 0 or len(set(d.labels.values())) > 1]
    if viewer is not None:
        hidden = [d for d in found if d.photo_id not in labels.get(viewer.name, {})]
        found = [d for d in found if d.photo_id in labels.get(viewer.name, {})]
        if hidden:
            st.caption(f"{len(hidden)} disagreed-on photo(s) you, {viewer.name}, have not rated yet are hidden, so "
                       "that you rate them without knowing what others said.")
    else:
        st.caption(":material/visibility_off: Raters who still have photos of this set to rate should not look "
                   "below (or should sign in on the Label page first: their unrated photos are then hidden).")
    if not found:
        st.info("No photo with disagreeing ratings to show.", icon=":material/info:")
        return
    shown = found[:limit]
    st.caption(f"The {len(shown)} most disagreed-on of {len(found)} photos rated differently, by the spread of their "
               "classes (mean squared class distance between raters).")
    for start in range(0, len(shown), COLUMNS):
        for column, item in zip(st.columns(COLUMNS), shown[start:start + COLUMNS]):
            photo = photos[item.photo_id]
            picture = screen_photo(photo.path)
            with column.container(border=True):
                if picture is not None:
                    st.image(picture, width="stretch")
                st.caption(Path(photo.relative).name)
                st.markdown("  \n".join(f"{rater_name(r, r in simulated)}: **{label}**"
                                        for r, label in sorted(item.labels.items())))
