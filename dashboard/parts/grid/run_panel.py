"""The Grid study page's "Run a grid" panel: pick a grid file in configs/, estimate its time, start it.

The grid runs in the background (``lightning_module.grid.launch``); the page only reads its files.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.parts.shared.paths import REPO_ROOT
from lightning_module.grid import launch
from lightning_module.grid.data_check import GridDataError
from lightning_module.grid.estimate import duration_text
from lightning_module.grid.runner import estimate_grid
from lightning_module.grid.spec import GridSpecError

state = st.session_state


def short_path(path: Path) -> str:
    """A path as the user knows it: relative to the project when it lies inside it."""
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
        config = st.selectbox("Grid file", configs, format_func=short_path, key="grid_config")
        try:
            spec = launch.resolve_spec(config)
        except GridSpecError as error:
            st.error(str(error), icon=":material/error:")
            return
        output = st.text_input("Output folder", value=short_path(Path(spec.output)), key=f"grid_output_{config.name}",
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
