"""Compare: runs side by side — their settings, best metrics beside the baseline, and overlaid curves."""

from __future__ import annotations

import streamlit as st


import pandas as pd

from dashboard.parts.shared import widgets
from dashboard.parts.shared.paths import runs_dir
from dashboard.parts.shared.run_picker import pick_runs
from lightning_module.runs import plots, store

st.title("Compare runs")
runs = store.list_runs(runs_dir())
if not runs:
    st.info("No training runs yet.", icon=":material/info:")
    st.page_link(widgets.TRAIN_PAGE, label="Train a model", icon=":material/model_training:")
    st.stop()
chosen = pick_runs(runs)
if not chosen:
    st.info("Choose one or more runs above.", icon=":material/info:")
    st.stop()

table = store.comparison_table(chosen)
st.subheader("Best validation scores")
scores = table[["run", "status", "best epoch", "best bal. acc", "baseline bal. acc", "best macro F1", "baseline macro F1", "accuracy", "baseline accuracy"]].copy()
scores["best epoch"] = scores["best epoch"].map(lambda e: None if pd.isna(e) else int(e) + 1)
scores.insert(2, "verdict", [widgets.verdict(r) for r in chosen])
# Each score is followed by its majority baseline; short headings keep all of them on screen.
headings = {
    "best bal. acc": "bal. acc.", "baseline bal. acc": "↳ baseline", "best macro F1": "macro F1",
    "baseline macro F1": "↳ baseline", "accuracy": "accuracy", "baseline accuracy": "↳ baseline",
}  # fmt: skip
config = {c: st.column_config.NumberColumn(label, format="%.2f", width="small") for c, label in headings.items()}
config["best epoch"] = st.column_config.NumberColumn("best epoch", width="small")
st.dataframe(scores, hide_index=True, column_config=config, key="scores", placeholder="–")

st.subheader("Settings")
settings = table.drop(columns=[c for c in table.columns if (c in scores.columns or c == "collapsed") and c != "run"]).set_index("run").T
only_differences = st.toggle("Only settings that differ", value=len(chosen) > 1, key="only_differences")
if only_differences and len(chosen) > 1:
    differs = settings.astype(str).nunique(axis=1) > 1
    settings = settings[differs] if differs.any() else settings
st.dataframe(settings.astype(str).replace({"None": "–", "nan": "–"}), key="settings")

st.subheader("Curves")
left, right = st.columns([1, 1])
metric = left.selectbox("Metric", [m for m, _ in store.METRICS], format_func=store.METRIC_LABELS.get, key="compare_metric")
split = right.radio("Split", ["val", "train"], horizontal=True, format_func={"val": "validation", "train": "training"}.get, key="compare_split")
curves = {r.run_id: store.read_metrics(r.path) for r in chosen}
baselines = {r.run_id: store.metric_baseline(r, curves[r.run_id], metric) if metric != "loss" else None for r in chosen}
st.plotly_chart(plots.comparison_curves(curves, metric, baselines, split), key="compare-curves", config={"displayModeBar": False})
st.caption("Dashed lines: each run's majority baseline (the score of always guessing its commonest class).")
