"""The Assess page's still progress message: nothing for a quick block, and nothing left behind by a slow one."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _page(block_s: float) -> AppTest:
    def script(seconds: float) -> None:
        import time

        import streamlit as st

        from dashboard.parts.shared import progress

        progress.SHOW_AFTER_S = 0.05
        with progress.still_progress("Working on it…"):
            time.sleep(seconds)
        st.write("answer")

    return AppTest.from_function(script, args=(block_s,), default_timeout=30)


def test_a_slow_block_leaves_no_message_behind() -> None:
    at = _page(0.4).run()  # the message is due at 0.05 s; it must be gone with the block, not stay on the answer
    assert not at.exception, at.exception
    assert not [c for c in at.caption if "Working on it" in c.value]
    assert [m.value for m in at.markdown] == ["answer"]


def test_a_quick_block_shows_nothing() -> None:
    at = _page(0.0).run()
    assert not at.exception, at.exception
    assert not at.caption
    assert [m.value for m in at.markdown] == ["answer"]
