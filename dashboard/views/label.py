"""Label: rate photos one after another (ISA likelihood of failure, defects seen, confidence), as a named rater.

A rater sees only the photo and their own earlier rating of it, never another rater's: agreement is measured on
independent opinions (the Agreement page).
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # also when run on its own (AppTest, `streamlit run dashboard/views/label.py`)
    sys.path.insert(0, str(_ROOT))

from dashboard.parts.label.photos import chosen_order, chosen_photo_set  # noqa: E402
from dashboard.parts.label.rater import signed_in_rater  # noqa: E402
from dashboard.parts.label.rating_form import AGAIN_KEY, LAST_KEY, last_rating_line, rating_form  # noqa: E402
from dashboard.parts.shared.ratings import database  # noqa: E402
from lightning_module.labelling.ratings import next_photos, own_rating, photos_of, rated_by  # noqa: E402

st.title("Label photos")
st.caption("Rate each photo's ISA likelihood of failure as you would in the field. You never see anyone else's "
           "ratings here, so that the Agreement page measures independent opinions.")
db = database()
rater = signed_in_rater(db)
photo_set = chosen_photo_set(db)
order, uncertainty = chosen_order(db, photo_set)

photos = photos_of(db, photo_set)
numbers = {p.id: i + 1 for i, p in enumerate(photos)}
rated = rated_by(db, photo_set, rater)
st.progress(len(rated) / max(1, len(photos)), text=f"You have rated {len(rated)} of {len(photos)} photos")

again = st.session_state.get(AGAIN_KEY)
photo = next((p for p in photos if p.id == again), None)
if photo is None:
    upcoming = next_photos(photos, rated, rater.name, order, uncertainty)
    photo = upcoming[0] if upcoming else None
last = st.session_state.get(LAST_KEY)
if last is not None and last[0] != (photo.id if photo else None):
    last_rating_line(own_rating(db, last[0], rater), last[1])

if photo is None:
    st.success(f"You have rated every photo of this set ({len(photos)}). Thank you! See how raters agree on the "
               "Agreement page.", icon=":material/task_alt:")
    st.page_link(str(_ROOT / "dashboard" / "views" / "agreement.py"), label="Agreement", icon=":material/handshake:")
else:
    if order == "uncertain" and uncertainty is not None and photo.id in uncertainty:
        st.caption(f"How unsure the model is of this photo: {uncertainty[photo.id]:.2f} (0 sure, 1 no idea)")
    rating_form(db, rater, photo, numbers[photo.id], len(photos), own_rating(db, photo.id, rater))
