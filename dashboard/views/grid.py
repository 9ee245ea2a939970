"""Grid study: scenarios × image sizes, each cross-validated; the table, the heatmap and every fold's curve."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.ui.paths import REFRESH, REPO_ROOT
from lightning_module.grid import launch, plots, results, tables
from lightning_module.grid.data_check import GridDataError
from lightning_module.grid.estimate import duration_text
from lightning_module.grid.runner import estimate_grid
from lightning_module.grid.spec import GridSpecError
from lightning_module.runs.store import read_log_tail

state = st.session_state
COLUMNS = {"Verdict": st.column_config.TextColumn("Verdict", width="medium")}


def _short(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def run_panel(expanded: bool) -> None:
    """Start a grid from a grid file in configs/ (it runs in the background; this page only reads its files)."""
    configs = launch.grid_configs()
    with st.expander("Run a grid", expanded=expanded, icon=":material/play_arrow:"):
        if not configs:
            st.info("No grid files (configs/grid*.yaml) found.")
            return
        config = st.selectbox("Grid file", configs, format_func=_short, key="grid_config")
        try:
            spec = launch.resolve_spec(config)
        except GridSpecError as error:
            st.error(str(error), icon=":material/error:")
            return
        output = st.text_input("Output folder", value=_short(Path(spec.output)), key=f"grid_output_{config.name}",
                               help="Finished folds in this folder are kept: running again only trains what is missing.")
        st.caption(f"{len(spec.cells)} cells × {spec.folds} folds, {spec.epochs} epochs each, on "
                   f"{'the synthetic dataset' if spec.source == 'synthetic' else spec.source}.")
        estimate_col, start_col = st.columns(2)
        try:
            if estimate_col.button("Estimate the time", icon=":material/timer:", width="stretch"):
                with st.spinner("Timing a training step of each network shape…"):
                    estimate = estimate_grid(launch.resolve_spec(config, output))
                st.info(f"{len(estimate.todo)} of {len(estimate.tasks)} folds to run: about "
                        f"{duration_text(estimate.seconds)} on this machine (a rough guess until folds finish).")
            if start_col.button("Start", type="primary", icon=":material/play_arrow:", width="stretch"):
                started = launch.start_grid(config, output)
                state.grid_folder = str(started.output)
                st.rerun()
        except (GridSpecError, GridDataError) as error:
            problems = error.problems if isinstance(error, GridDataError) else [str(error)]
            st.error("\n\n".join(problems), icon=":material/error:")


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
chosen = st.selectbox("Grid results", paths, index=default, format_func=lambda p: _short(Path(p)), key="grid_choice")
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


def results_section(folder: results.GridFolder, cells) -> None:
    st.subheader("Results")
    st.dataframe(tables.display_table(cells), hide_index=True, key="grid_table", column_config=COLUMNS)
    st.caption(f"Verdict: {tables.BASELINE_RULE}.")

    st.subheader("Balanced accuracy over the grid")
    shown = cells
    for field in ("color_mode", "backbone", "pretrained"):  # the heatmap is scenario × image size: fix the rest
        values = list(dict.fromkeys(shown[field]))
        if len(values) > 1:
            value = st.selectbox(tables.AXIS_TITLES[field], values, key=f"grid_fix_{field}")
            shown = shown[shown[field] == value]
    st.plotly_chart(plots.headline_heatmap(shown), key="grid_heatmap")
    st.caption("Scenarios differ in their number of classes, so their chance levels differ: read each cell against "
               "its own baseline.")

    best = tables.best_per_scenario(cells)
    if len(best):
        st.subheader("Best cell per scenario")
        best_rows = cells[cells["cell"].isin(best["cell"])]
        st.dataframe(tables.display_table(best_rows, tables.varying_fields(cells)), hide_index=True, key="grid_best",
                     column_config=COLUMNS)

    comparisons = results.read_table(folder.tests)
    if len(comparisons):
        st.subheader("Welch's t-tests")
        testable = tables.display_tests(comparisons)
        waiting = len(comparisons) - len(testable)
        if len(testable):
            st.dataframe(testable, hide_index=True, key="grid_tests")
        st.caption("Two-sided Welch's t-test on fold balanced accuracies; p-values Holm-adjusted within each "
                   "family of comparisons. With few folds, 'not significant' is not 'the same'."
                   + (f" {waiting} comparisons wait for cells with at least two finished folds." if waiting else ""))

    st.subheader("Fold curves")
    if not folder.has_runs:
        st.caption("This is a published table (docs/); fold curves need the grid's own output folder with its runs/.")
    else:
        cell_ids = list(cells["cell"])
        cell_id = st.selectbox("Cell", cell_ids, key="grid_cell")
        row = cells[cells["cell"] == cell_id].iloc[0]
        curves = results.fold_curves(folder.path, cell_id)
        st.plotly_chart(plots.fold_curves_figure(curves, baseline=row.get("baseline_bal_acc")), key="grid_curves")
    if folder.report.is_file():
        with st.expander("The full report (Markdown, as written to disk)"):
            st.markdown(folder.report.read_text())


grid_view(folder, running)
