"""Grid study: scenarios × image sizes, each cross-validated; the table, the heatmap and every fold's curve."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.parts.grid.results_section import results_section
from dashboard.parts.grid.run_panel import run_panel, short_path
from dashboard.parts.shared.paths import REFRESH, REPO_ROOT
from lightning_module.grid import launch, results
from lightning_module.grid.estimate import duration_text
from lightning_module.runs.store import read_log_tail

state = st.session_state

st.title("Grid study")
st.caption("Each cell (a class grouping at an image size, …) is trained once per fold of a stratified group k-fold "
           "cross-validation: every photo of one tree is validated in exactly one fold. Scores are last-epoch "
           "validation scores; mean ± sd and the 95 % confidence interval are over folds.")

folders = results.find_grids(results.grids_dir(REPO_ROOT / "grids"), REPO_ROOT / "docs")
if "grid_folder" in state and all(str(f.path) != state.grid_folder for f in folders):
    started_folder = results.as_grid_folder(state.grid_folder)
    folders = ([started_folder] if started_folder else []) + folders
run_panel(expanded=not folders)
if not folders:
    st.info("No grid results yet. Start one above, or run `python -m lightning_module grid --config configs/grid.yaml`.",
            icon=":material/info:")
    st.stop()

paths = [str(f.path) for f in folders]
default = paths.index(state.grid_folder) if state.get("grid_folder") in paths else 0
chosen = st.selectbox("Grid results", paths, index=default, format_func=lambda p: short_path(Path(p)), key="grid_choice")
folder = folders[paths.index(chosen) if chosen in paths else 0]
running = launch.grid_running(folder.path)
if running and st.button("Stop the grid", icon=":material/stop:", help="The fold in progress stops and is re-run next time."):
    launch.stop_grid(folder.path)
    st.toast("Asked the grid to stop after marking the current fold stopped.")


@st.fragment(run_every=REFRESH if running else None)
def grid_view(folder: results.GridFolder, was_running: bool) -> None:
    now_running = launch.grid_running(folder.path)
    if was_running and not now_running:
        st.rerun()  # the grid ended: redraw the whole page once, without the refresh timer
    progress = results.read_progress(folder.path)
    if folder.has_runs and progress.total:
        text = f"{progress.done} of {progress.total} folds finished"
        if progress.failed:
            text += f", {progress.failed} failed"
        if now_running:
            text += f" · now: {progress.current or 'starting'} · about {duration_text(progress.eta_seconds)} left"
        else:
            text += f" · {progress.status}"
        st.progress(progress.share, text=text)
    elif now_running:
        st.progress(0.0, text="Starting: checking the data and timing the networks…")

    cells = results.read_table(folder.table)
    if cells.empty:
        st.info("No results yet: the table appears when the first fold finishes.", icon=":material/hourglass_top:")
    else:
        results_section(folder, cells)
    if not now_running and (folder.path / results.LOG_FILE).is_file():
        with st.expander("Console output of the last grid started here"):
            st.code(read_log_tail(folder.path / results.LOG_FILE, max_lines=40) or "(empty)", language=None)


grid_view(folder, running)
