"""TreeRisk dashboard: ``streamlit run dashboard/app.py``.

The entry point only configures the page and the navigation; each page is a short file in ``pages/``.

Streamlit treats a folder named ``pages/`` beside the entry script as an old-style multipage app until the
entry script has run once in the server: a first visitor arriving by a page's URL (a bookmark, a refresh
after the server restarted) would get that page without this frame. Each page therefore starts with a
three-line guard that switches the server to this navigation and re-runs through this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st
import torch

HERE = Path(__file__).resolve().parent
# `import dashboard.ui` and `import lightning_module` must work however the app is started (editable install or not).
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

# One photo at a time per session: a single thread answers fastest when sessions, or a training process started
# from the Train page, share the CPU (two threads waiting on each other cost 10x on a loaded 2-core machine).
torch.set_num_threads(1)

st.set_page_config(page_title="TreeRisk", layout="wide", page_icon="🌳")


def page(file: str, title: str, icon: str, default: bool = False) -> st.Page | None:
    """The page in ``pages/<file>``, or None while it does not exist (pages still being written)."""
    if not (HERE / "pages" / file).is_file():
        return None
    return st.Page(HERE / "pages" / file, title=title, icon=icon, default=default)


sections = {
    "TreeRisk": [page("overview.py", "Overview", ":material/home:", default=True)],
    "Train & monitor": [
        page("train.py", "Train", ":material/model_training:"),
        page("runs.py", "Runs", ":material/monitoring:"),
        page("compare.py", "Compare", ":material/compare_arrows:"),
    ],
    "Use": [page("assess.py", "Assess a tree", ":material/park:")],
    "Learn": [page("backprop.py", "Backprop", ":material/school:")],
}
navigation = {name: [p for p in pages if p is not None] for name, pages in sections.items()}
st.navigation({name: pages for name, pages in navigation.items() if pages}).run()
