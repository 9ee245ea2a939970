"""Train: choose data, scenario and model, start a run in its own process, watch it, stop or resume it."""

from __future__ import annotations

import streamlit as st


from dashboard.parts.shared import widgets
from dashboard.parts.shared.paths import runs_dir
from dashboard.parts.train.train_form import training_choices
from lightning_module.runs import launcher, store

st.title("Train")
st.caption(
    f"Each run trains in its own process and writes everything to `{runs_dir()}/<name>/version_<n>/`: "
    "closing or refreshing this page loses nothing."
)
request = training_choices()
refused = None
if st.button("Start training", type="primary", icon=":material/play_arrow:", key="start"):
    try:
        started = launcher.start_training(request, runs_dir())
    except launcher.LaunchError as error:
        refused = error
        st.error("**Training not started:**\n" + "\n".join(f"- {p}" for p in error.problems), icon=":material/block:")
    else:
        st.session_state["train_run"] = started.run_id
# Kept on every rerun of this session, not only the one after the click: the page redraws itself whenever any run
# starts or ends (another person's too), and the confirmation must not vanish with it.
if refused is None and st.session_state.get("train_run"):
    st.success(f"Started **{st.session_state['train_run']}**. Follow it below, or in detail on the Runs page.",
               icon=":material/check:")

st.divider()
st.subheader("Training now")
active_at_start = {r.run_id for r in store.list_runs(runs_dir()) if r.active}


def training_now() -> None:
    runs = store.list_runs(runs_dir())
    active = [r for r in runs if r.active]
    if {r.run_id for r in active} != active_at_start:
        st.rerun()  # a run started or ended: redraw the page (and switch the timer on or off)
    shown = list(active)
    just_started = next((r for r in runs if r.run_id == st.session_state.get("train_run")), None)
    if just_started is not None and not just_started.active:
        shown.insert(0, just_started)  # keep showing how the run started here ended
    if not shown:
        st.caption("No run is training right now.")
    for run in shown:
        with st.container(border=True):
            title, badge, stop, link = st.columns([4, 1.2, 1, 1.8], vertical_alignment="center")
            title.markdown(f"**{run.run_id}** · {run.record.get('scenario') or ''} · {run.record.get('backbone') or ''}")
            with badge:
                widgets.status_badge(run.status)
            if run.active:
                with stop:
                    widgets.stop_button(run, key=f"stop-{run.run_id}")
            link.page_link(widgets.RUNS_PAGE, label="Open in Runs", icon=":material/monitoring:", query_params={"run": run.run_id})
            widgets.progress_bar(run)
            widgets.run_problem(run)
            top = store.headline(run)
            if top.value is not None:
                st.markdown(
                    f"Best balanced accuracy **{widgets.fmt(top.value)}** "
                    f"(majority baseline {widgets.fmt(top.baseline)}) · {widgets.verdict(run)}"
                )
            widgets.log_tail(run, lines=12, expanded=run.active or run.status == "failed")


widgets.live(training_now, bool(active_at_start), key="training-now")

resumable = [r for r in store.list_runs(runs_dir()) if r.resumable]
if resumable:
    st.subheader("Continue a stopped, crashed or failed run")
    by_id = {r.run_id: r for r in resumable}
    chosen = st.selectbox("Run to resume", list(by_id), format_func=lambda i: widgets.run_label(by_id[i]), key="resume_pick")
    resumed = widgets.resume_button(by_id[chosen], key="resume")
    if resumed:
        st.session_state["train_run"] = resumed
        st.rerun()
