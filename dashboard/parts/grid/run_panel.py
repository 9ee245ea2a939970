"""The Grid study page's "Run a grid" panel: pick a grid file in configs/, where its folds train (this machine,
a Ray cluster, a Slurm job array), estimate its time, start it.

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
from lightning_module.grid.spec import EXECUTORS, GridSpec, GridSpecError

state = st.session_state
EXECUTOR_LABELS = {"local": "This machine", "ray": "A Ray cluster", "slurm": "A Slurm job array"}


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
                               help="Finished folds in this folder are kept: running again only trains what is missing. "
                               "On a cluster it must be on storage every node reaches (docs/SCALE_OUT.md).")
        executor, ray_address = executor_choice(spec, config.name)
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
                started = launch.start_grid(config, output, executor, ray_address)
                state.grid_folder = str(started.output)
                st.rerun()
        except (GridSpecError, GridDataError) as error:
            problems = error.problems if isinstance(error, GridDataError) else [str(error)]
            st.error("\n\n".join(problems), icon=":material/error:")


def executor_choice(spec: GridSpec, key: str) -> tuple[str, str | None]:
    """Where the folds train (the grid file's choice first) and, for Ray, the cluster's address."""
    executor = st.radio("Train the folds on", EXECUTORS, index=EXECUTORS.index(spec.executor.kind), horizontal=True,
                        format_func=EXECUTOR_LABELS.get, key=f"grid_executor_{key}",
                        help="The same grid gives the same numbers wherever its folds train.")  # fmt: skip
    ray_address = None
    if executor == "ray":
        ray_address = st.text_input("Ray address", value=spec.executor.ray_address or "", key=f"grid_ray_{key}",
                                    placeholder="empty: a Ray on this machine; auto; host:6379; ray://host:10001") or None
        st.caption(f"Each fold is one Ray task asking for {spec.fold_resources}.")
    elif executor == "slurm":
        settings = spec.executor
        st.caption(f"One job array, one task per fold, each asking for {spec.fold_resources} for {settings.time} on "
                   f"{'partition ' + settings.partition if settings.partition else 'the default partition'} "
                   "(the grid file's executor section); needs Slurm's sbatch on this machine.")
    return executor, ray_address
