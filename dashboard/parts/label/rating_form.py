"""The rating form: the photo, the defects seen, the confidence, and one button per class (keys 1-4, 0).

A class button saves at once (in its callback, before the page is drawn again), so the next photo follows without
a second click. Defects and confidence are read from the widgets of *this* photo (their keys carry its id), so
nothing from the previous photo is carried over by mistake. Only the rater's own earlier rating of the photo is
ever shown here.
"""

from __future__ import annotations

import streamlit as st

from dashboard.parts.shared.ratings import screen_photo
from lightning_module.labelling.database import CANNOT_TELL, LabelDatabase
from lightning_module.labelling.ratings import (
    CLASS_LABELS, CONFIDENCE_LEVELS, Photo, Rater, Rating, RatingError, record_rating,
)
from lightning_module.synthetic.defects import DEFECT_LABELS, DEFECTS

LAST_KEY = "labelling_last"  # (photo id, photo number) of the rater's last rating, to offer changing it
AGAIN_KEY = "labelling_again"  # a photo id the rater asked to rate again
ERROR_KEY = "labelling_error"
SHORTCUTS = {label: str(i + 1) for i, label in enumerate(CLASS_LABELS)} | {CANNOT_TELL: "0"}


def _save(db: LabelDatabase, rater: Rater, photo: Photo, number: int, label: str) -> None:
    defects = st.session_state.get(f"labelling_defects_{photo.id}") or []
    confidence = st.session_state.get(f"labelling_confidence_{photo.id}")
    try:
        record_rating(db, photo.id, rater, label, confidence, defects)
    except RatingError as error:
        st.session_state[ERROR_KEY] = str(error)
        return
    st.session_state[LAST_KEY] = (photo.id, number)
    st.session_state.pop(AGAIN_KEY, None)
    st.session_state.pop(ERROR_KEY, None)


def rating_form(db: LabelDatabase, rater: Rater, photo: Photo, number: int, total: int, own: Rating | None) -> None:
    """Draw the form for ``photo`` (number ``number`` of ``total`` in the set)."""
    picture, form = st.columns([3, 2], gap="large")
    with picture:
        shown = screen_photo(photo.path)
        if shown is None:
            st.warning("This photo cannot be shown (missing or unreadable). Rate it **cannot tell**.",
                       icon=":material/broken_image:")
        else:
            st.image(shown, caption=f"Photo {number} of {total}", width="stretch")
    with form:
        if own is not None:
            st.info(f"You rated this photo **{own.label}** before; rating it again replaces that.", icon=":material/edit:")
        # wrap=True: in a column Streamlit keeps pills on one row that scrolls sideways, which showed three and a half
        # of the ten defects with nothing to say the rest were there.
        st.pills("Defects you see (optional)", list(DEFECTS), format_func=DEFECT_LABELS.get, selection_mode="multi",
                 key=f"labelling_defects_{photo.id}", default=list(own.defects) if own else None, wrap=True)
        st.segmented_control("How sure are you?", list(CONFIDENCE_LEVELS), format_func=CONFIDENCE_LEVELS.get,
                             default=own.confidence if own and own.confidence else 2,
                             key=f"labelling_confidence_{photo.id}")
        st.markdown("**ISA likelihood of failure** (keys 1–4; 0 for cannot tell)")
        for label in (*CLASS_LABELS, CANNOT_TELL):
            st.button(label.capitalize() if label == CANNOT_TELL else label, key=f"labelling_rate_{label}",
                      shortcut=SHORTCUTS[label], on_click=_save, args=(db, rater, photo, number, label),
                      type="primary" if own is not None and own.label == label else "secondary", width="stretch")
        if st.session_state.get(ERROR_KEY):
            st.error(st.session_state[ERROR_KEY], icon=":material/error:")


def last_rating_line(own: Rating | None, number: int) -> None:
    """The rater's last rating, with a button to rate that photo again."""
    if own is None:
        return
    text, again = st.columns([5, 1], vertical_alignment="center")
    confidence = CONFIDENCE_LEVELS.get(own.confidence or 0, "")
    text.caption(f"Your last rating: photo {number} → **{own.label}**{f', {confidence}' if confidence else ''}"
                 f"{' · ' + ', '.join(DEFECT_LABELS[d] for d in own.defects) if own.defects else ''}")
    if again.button("Change it", key="labelling_again_button", icon=":material/undo:"):
        st.session_state[AGAIN_KEY] = own.photo_id
        st.rerun()
