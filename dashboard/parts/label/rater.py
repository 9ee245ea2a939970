"""Who is rating: a name entered once per browser session. No passwords: serve behind the proxy (docs/SERVING.md)."""

from __future__ import annotations

import streamlit as st

from lightning_module.labelling.database import LabelDatabase
from lightning_module.labelling.ratings import Rater, RatingError, sign_in

RATER_KEY = "labelling_rater"


def _sign_out() -> None:
    st.session_state.pop(RATER_KEY, None)


def signed_in_rater(db: LabelDatabase) -> Rater:
    """The session's rater; until a name is given, the sign-in form, and the page stops there."""
    rater: Rater | None = st.session_state.get(RATER_KEY)
    if rater is not None:
        name, change = st.columns([5, 1], vertical_alignment="center")
        name.markdown(f":material/person: Rating as **{rater.name}**")
        change.button("Change rater", key="labelling_sign_out", on_click=_sign_out, icon=":material/logout:")
        return rater
    with st.form("labelling_sign_in", border=True):
        entered = st.text_input("Your name", key="labelling_name", max_chars=60,
                                help="Your ratings are stored under this name. Use the same name each time you "
                                     "come back, and a different one from every other rater.")
        started = st.form_submit_button("Start rating", type="primary", icon=":material/how_to_reg:")
    st.caption("There are no passwords: anyone who can open this dashboard can rate under any name. Serve it behind "
               "a proxy that asks who people are (docs/SERVING.md).")
    if started:
        try:
            st.session_state[RATER_KEY] = sign_in(db, entered)
        except RatingError as error:
            st.error(str(error), icon=":material/person_off:")
        else:
            st.rerun()
    st.stop()
