"""Backprop, step by step: watch a small dense network learn, every number in its formula.

All maths lives in lightning_module.backprop; this page holds the controls and the layout, drawn from
``dashboard/parts/backprop/`` (sidebar, network mode with its inspector and views, graph mode). The
configuration lives in the URL (a link reproduces it), the training state in st.session_state.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# The page also runs on its own (`streamlit run dashboard/views/backprop.py`, from any folder): its parts import as
# `dashboard.parts…` all the same.
REPO_ROOT = str(Path(__file__).resolve().parents[2])
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from dashboard.parts.backprop.graph_mode import graph_mode  # noqa: E402
from dashboard.parts.backprop.network_mode import network_mode  # noqa: E402
from dashboard.parts.backprop.sidebar import init_session, sidebar, sync_url  # noqa: E402

state = st.session_state

init_session()
st.title("Backprop, step by step")
config = sidebar()
sync_url(config)
if config == state.bp_url_config:  # once the user changes something, the link's problems are history
    for warning in state.bp_url_warnings:
        st.warning(warning)
if config.mode == "graph":
    graph_mode()
else:
    network_mode(config)
