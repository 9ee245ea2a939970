"""A progress message that stands still, for waits that every answer has."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx

SHOW_AFTER_S = 0.5  # as st.spinner: an answer quicker than this shows no message at all


@contextmanager
def still_progress(text: str) -> Iterator[None]:
    """Like ``st.spinner(text)``, with a still hourglass instead of a turning circle.

    A turning spinner costs a browser without graphics acceleration about 0.1 s of CPU for every second it turns:
    with four sessions assessing photos on one 2-core machine (bench/load_check.py) the spinners were a fifth of all
    the browsers' work, and on a field tablet they are battery. The message takes the place of an empty element
    where this is entered, appears once the block has run for :data:`SHOW_AFTER_S`, and goes when it ends."""
    slot = st.empty()
    lock = threading.Lock()
    state = {"running": True, "shown": False}

    def show() -> None:
        with lock:
            if state["running"]:
                slot.caption(f":material/hourglass_top: {text}")
                state["shown"] = True

    timer = threading.Timer(SHOW_AFTER_S, show)
    add_script_run_ctx(timer)  # the timer's thread sends the message into this session's page
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        with lock:
            state["running"] = False
            if state["shown"]:
                slot.empty()
