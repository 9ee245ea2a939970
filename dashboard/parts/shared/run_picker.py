"""Choosing runs: one (kept in the URL, so a refresh or a shared link shows the same run) or several."""

from __future__ import annotations

import streamlit as st

from dashboard.parts.shared.widgets import run_label
from lightning_module.runs.store import RunInfo

QUERY_KEY = "run"


def pick_run(runs: list[RunInfo], key: str = "picked_run") -> RunInfo | None:
    """A select box of ``runs`` (newest first); starts on the run named in the URL (``?run=name/version_n``)."""
    if not runs:
        return None
    by_id = {r.run_id: r for r in runs}
    wanted = st.query_params.get(QUERY_KEY)
    if wanted in by_id and st.session_state.get(f"{key}_from_url") != wanted:
        # A link (Train page, Overview) named a run: show it, once; later choices in the box win.
        st.session_state[key] = wanted
        st.session_state[f"{key}_from_url"] = wanted
    if st.session_state.get(key) not in by_id:
        st.session_state[key] = runs[0].run_id
    chosen = st.selectbox("Run", list(by_id), key=key, format_func=lambda i: run_label(by_id[i]))
    st.query_params[QUERY_KEY] = chosen
    st.session_state[f"{key}_from_url"] = chosen
    return by_id[chosen]


def pick_runs(runs: list[RunInfo], key: str = "picked_runs", default_count: int = 3) -> list[RunInfo]:
    """Several runs; by default the newest ones that have finished at least one epoch."""
    by_id = {r.run_id: r for r in runs}
    if key not in st.session_state:
        st.session_state[key] = [r.run_id for r in runs if r.epochs_done > 0][:default_count]
    st.session_state[key] = [i for i in st.session_state[key] if i in by_id]
    chosen = st.multiselect("Runs to compare", list(by_id), key=key, format_func=lambda i: run_label(by_id[i]))
    return [by_id[i] for i in chosen]
