"""Overview: what TreeRisk does, the photos on hand, and how the latest runs compare with the majority baseline."""

from __future__ import annotations

import streamlit as st


import pandas as pd

from dashboard.parts.shared import widgets
from dashboard.parts.shared.paths import data_dir, runs_dir
from lightning_module.data.categories import ISA_CATEGORIES
from lightning_module.runs import store
from lightning_module.runs.datasets import datasets_on_hand

LATEST = 10

st.title(":material/park: TreeRisk")
st.markdown(
    "TreeRisk rates a tree's **ISA likelihood of failure** — *Improbable, Possible, Probable* or *Imminent* — "
    "from a photo. Train convolutional networks on your photos or on the built-in synthetic trees, watch them "
    "learn, and judge them honestly: every score is shown beside the **majority baseline**, the score of always "
    "guessing the commonest class, and **balanced accuracy** leads because plain accuracy rewards that guess."
)
st.page_link(widgets.TRAIN_PAGE, label="Train a model", icon=":material/model_training:")

runs = store.list_runs(runs_dir())
best = max((r for r in runs if store.headline(r).value is not None), key=lambda r: store.headline(r).value, default=None)
counts = st.columns(3)
counts[0].metric("Training runs", len(runs), border=True)
counts[1].metric("Training now", sum(r.active for r in runs), border=True)
if best is not None:
    top = store.headline(best)
    counts[2].metric(
        "Best balanced accuracy", widgets.fmt(top.value), delta=f"{top.margin:+.2f}" if top.margin is not None else None,
        delta_description=f"vs majority baseline {widgets.fmt(top.baseline)}", border=True,
        help=f"Best validation balanced accuracy of any run: {best.run_id}, epoch {(top.epoch or 0) + 1}.",
    )
else:
    counts[2].metric("Best balanced accuracy", "–", delta_description="no finished epoch yet", border=True)

st.subheader("Photos on hand")
datasets = datasets_on_hand(data_dir())
if datasets:
    found = {c for d in datasets for c in d.per_class}
    classes = [c for c in ISA_CATEGORIES if c in found] + sorted(found - set(ISA_CATEGORIES))
    table = pd.DataFrame(
        [{"dataset": d.name, "kind": d.kind, "photos": d.photos, **{c: d.per_class.get(c, 0) for c in classes}} for d in datasets]
    )
    st.dataframe(table, hide_index=True, key="datasets")
else:
    st.info(
        f"No photos in `{data_dir()}` yet. The built-in synthetic set is generated there the first time you train on it; "
        "or point the Train page at a folder with one sub-folder per class, or at a CSV manifest.",
        icon=":material/photo_library:",
    )

st.subheader("Latest runs")
if not runs:
    st.info("No training runs yet.", icon=":material/info:")
    st.stop()
rows = [{**store.run_summary_row(r), "verdict": widgets.verdict(r)} for r in runs[:LATEST]]
st.dataframe(
    pd.DataFrame(rows),
    hide_index=True,
    key="latest-runs",
    placeholder="–",
    column_order=["run", "status", "best bal. acc", "majority baseline", "verdict", "macro F1", "epochs", "scenario", "backbone", "started"],
    column_config={
        "best bal. acc": st.column_config.NumberColumn("best bal. acc.", format="%.2f", help="Best validation balanced accuracy"),
        "majority baseline": st.column_config.NumberColumn("majority baseline", format="%.2f", help="Balanced accuracy of always guessing the commonest class"),
        "macro F1": st.column_config.NumberColumn("macro F1", format="%.2f"),
    },
)
st.page_link(widgets.RUNS_PAGE, label=f"Open the latest run ({runs[0].run_id})", icon=":material/monitoring:", query_params={"run": runs[0].run_id})
