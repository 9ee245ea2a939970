"""The Grid study page's results of one grid: table, heatmap, best cells, t-tests, fold curves and the report.

Every number comes from the grid's files through ``lightning_module.grid`` (results, tables, plots).
"""

from __future__ import annotations

import streamlit as st

from lightning_module.grid import plots, results, tables

COLUMNS = {"Verdict": st.column_config.TextColumn("Verdict", width="medium")}


def results_section(folder: results.GridFolder, cells) -> None:
    """Everything the grid's table and runs say, for the cells finished so far."""
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
