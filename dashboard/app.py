"""TreeRisk dashboard: ``streamlit run dashboard/app.py``.

The entry point only configures the page and the navigation; each page is a short file in ``views/``.
(Not ``pages/``: Streamlit would treat that folder as an old-style multipage app for a visitor who arrives by a
page's URL before this script has run once, and show the page without this frame.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st
import torch

HERE = Path(__file__).resolve().parent
# `import dashboard.parts` and `import lightning_module` must work however the app is started (editable install or not).
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from lightning_module.assessment.photo_assessment import DASHBOARD_TORCH_THREADS  # noqa: E402

torch.set_num_threads(DASHBOARD_TORCH_THREADS)  # why: see there

st.set_page_config(page_title="TreeRisk", layout="wide", page_icon="🌳")


def page(file: str, title: str, icon: str, default: bool = False) -> st.Page:
    return st.Page(HERE / "views" / file, title=title, icon=icon, default=default)


sections = {
    "TreeRisk": [page("overview.py", "Overview", ":material/home:", default=True)],
    "Train & monitor": [
        page("train.py", "Train", ":material/model_training:"),
        page("runs.py", "Runs", ":material/monitoring:"),
        page("compare.py", "Compare", ":material/compare_arrows:"),
        page("grid.py", "Grid study", ":material/grid_on:"),
    ],
    "Use": [page("assess.py", "Assess a tree", ":material/park:")],
    "Professional opinion": [
        page("label.py", "Label photos", ":material/rate_review:"),
        page("agreement.py", "Agreement", ":material/handshake:"),
    ],
    "Learn": [page("backprop.py", "Backprop", ":material/school:")],
}
st.navigation(sections).run()
