"""Runs: one training run in detail, updating live while it trains."""

from __future__ import annotations

import streamlit as st


from dashboard.parts.runs import run_sections as sections
from dashboard.parts.runs.defect_reliance import defect_reliance_section
from dashboard.parts.shared import widgets
from dashboard.parts.shared.paths import runs_dir
from dashboard.parts.shared.run_picker import pick_run
from lightning_module.runs import store

st.title("Runs")
runs = store.list_runs(runs_dir())
if not runs:
    st.info(f"No training runs in `{runs_dir()}` yet.", icon=":material/info:")
    st.page_link(widgets.TRAIN_PAGE, label="Train a model", icon=":material/model_training:")
    st.stop()

chosen = pick_run(runs)


def run_view() -> None:
    run = store.read_run(chosen.path)
    if chosen.active and not run.active:
        st.rerun()  # it just ended: redraw the whole page, without the timer
    header, actions = st.columns([5, 1], vertical_alignment="center")
    with header:
        widgets.status_badge(run.status)
        st.caption(
            f"{run.record.get('scenario') or '?'} · {run.record.get('backbone') or '?'} · "
            f"{run.epochs_done} of {run.max_epochs or '?'} epochs · {run.record.get('device') or 'device not known yet'}"
            + widgets.where_it_trains(run)
        )
    with actions:
        if run.active:
            widgets.stop_button(run, key="stop")
        elif widgets.resume_button(run, key="resume"):
            st.rerun()
    if run.active or run.status in ("stopped", "crashed"):
        widgets.progress_bar(run)
    widgets.run_problem(run)
    widgets.log_tail(run, expanded=run.active or run.status in ("failed", "crashed"))
    widgets.collapsed_banner(run)
    widgets.headline_metrics(run)

    metrics = store.read_metrics(run.path)
    st.subheader("Learning curves")
    sections.curves(run, metrics)

    epochs = store.confusion_epochs(run.path) or list(metrics.index)
    st.subheader("Confusion matrix and per-class scores")
    if not epochs:
        st.info("Shown after the first validation epoch.", icon=":material/hourglass_top:")
        epoch = None
    else:
        epoch = sections.epoch_picker(epochs, key=f"epoch-{run.run_id}")
        sections.confusion_and_classes(run, metrics, epoch)

    st.subheader("Misclassified validation photos")
    if epoch is None:
        st.info("Shown after the first validation epoch.", icon=":material/hourglass_top:")
    else:
        sections.gallery(run, epoch)

    st.subheader("Details")
    sections.details(run)


widgets.live(run_view, chosen.active, key="run-view")
defect_reliance_section(chosen)  # outside the live view: measured on demand, never re-run by the timer
