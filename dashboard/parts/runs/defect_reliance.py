"""Runs: "Which defects does this model use?" for a finished run trained on synthetic data, measured on demand.

Measuring draws each of the first :data:`DASHBOARD_TREES` trees of the independent set again without each of its
defects and rates every drawing (``lightning_module.evaluation.defect_reliance``): tens of seconds of CPU, so it
runs only when the user presses the button, in that user's session, and never while the run trains. The result is
kept as ``defect_reliance.json`` in the run's directory (written atomically, once the run has finished, so it
never races the training process), and shown at once on later visits. A result measured on a checkpoint that has
since been rewritten (a resumed run) is shown as out of date, with the button to measure again.
"""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from lightning_module.evaluation.defect_reliance import (
    USES,
    DefectRelianceReport,
    checkpoint_stamp,
    measure_defect_reliance,
    read_report,
    write_report,
)
from lightning_module.evaluation.independent_set import IndependentSetError
from lightning_module.evaluation.predictor import load_predictor
from lightning_module.models.checkpoints import CheckpointError
from lightning_module.runs.store import RunInfo
from lightning_module.synthetic import read_config

RELIANCE_FILE = "defect_reliance.json"
# Enough trees for every defect to turn up a dozen or more times; about a minute on a busy 2-core CPU.
DASHBOARD_TREES = 200
BUTTON = "Which defects does this model use?"
CHART_TITLE = "What the model loses when one defect is removed"
DARK, PALE = "#1f5135", "#a5c8ad"  # the verdict's measure stands out; the true-class drop beside it


def trained_on_synthetic(run: RunInfo) -> bool:
    """Whether the run's data was the built-in generator, or a folder it made (``synth --out``)."""
    data = run.record.get("data") if isinstance(run.record.get("data"), dict) else {}
    source = str(data.get("source") or "")
    return source == "synthetic" or (bool(source) and read_config(Path(source).expanduser()) is not None)


def reliance_chart(report: DefectRelianceReport) -> go.Figure:
    """Per defect, most-used on top: the drop in predicted risk (the verdict's measure) and in P(true class), each
    with its 95 % interval. Defects the model ignores are named so on the axis."""
    shown = sorted((d for d in report.defects if d.risk_drop is not None), key=lambda d: d.risk_drop)
    names = [d.defect.replace("_", " ") + ("" if d.verdict == USES else f" · {d.verdict}") for d in shown]
    figure = go.Figure()
    for label, colour, mean, low, high in (("P(true class)", PALE, "mean_drop", "low", "high"),
                                           ("predicted risk", DARK, "risk_drop", "risk_low", "risk_high")):
        values = [getattr(d, mean) for d in shown]
        figure.add_trace(go.Bar(
            name=f"drop in {label}", x=values, y=names, orientation="h", marker_color=colour,
            error_x={"type": "data", "symmetric": False, "color": "#37474f", "thickness": 1.2,
                     "array": [getattr(d, high) - v for d, v in zip(shown, values)],
                     "arrayminus": [v - getattr(d, low) for d, v in zip(shown, values)]},
            customdata=[[d.trees, getattr(d, low), getattr(d, high)] for d in shown],
            hovertemplate=(f"%{{y}}: drop in {label} %{{x:+.3f}} (95 % interval %{{customdata[1]:+.3f}} to "
                           "%{customdata[2]:+.3f}), %{customdata[0]} trees<extra></extra>"),
        ))
    figure.update_layout(
        title={"text": CHART_TITLE, "font": {"size": 15}}, barmode="group",
        height=120 + 46 * max(1, len(shown)), margin={"l": 10, "r": 20, "t": 70, "b": 10},
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0, "traceorder": "reversed"},
        xaxis={"tickformat": "+.2f", "zeroline": True, "zerolinecolor": "#37474f", "gridcolor": "#e6e9e6"},
        yaxis={"automargin": True}, plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)",
    )
    return figure


def _measure(checkpoint: Path, target: Path) -> DefectRelianceReport | None:
    bar = st.progress(0.0, text=f"Drawing and rating {DASHBOARD_TREES} trees without each of their defects…")
    try:
        report = measure_defect_reliance(
            load_predictor(checkpoint), limit=DASHBOARD_TREES,
            progress=lambda done, total: bar.progress(done / total, text=f"{done} of {total} trees"))
    except (CheckpointError, IndependentSetError, ValueError) as error:
        bar.empty()
        st.error(f"Cannot measure this checkpoint: {error}", icon=":material/error:")
        return None
    bar.empty()
    try:
        write_report(report, target)
    except OSError as error:  # a read-only runs folder: still show it
        st.caption(f"Not kept for next time ({error}).")
    return report


def defect_reliance_section(run: RunInfo) -> None:
    """The section, for a run trained on synthetic data; nothing for any other run."""
    if not trained_on_synthetic(run):
        return
    st.subheader(BUTTON)
    checkpoint = run.path / "checkpoints" / "best.ckpt"
    if run.active:
        st.info("Measured once the run has finished.", icon=":material/hourglass_top:")
        return
    if not checkpoint.is_file():
        st.info("This run has no best checkpoint to measure.", icon=":material/info:")
        return
    target = run.path / RELIANCE_FILE
    report = read_report(target)
    st.caption(f"Each of the first {DASHBOARD_TREES} trees of the independent synthetic set is drawn again with one "
               "defect removed (same scene otherwise) and rated again. Dark bars: the mean drop in the model's "
               "predicted risk (its expected class, 0 = surely the least risky, 1 = surely the riskiest); a model "
               "that reads the defect as a sign of risk rates the tree lower without it. Light bars: the drop in "
               "its probability of the tree's true class. Lines: 95 % intervals.")
    pressed = st.button(BUTTON if report is None else "Measure again", key=f"reliance-{run.run_id}",
                        icon=":material/troubleshoot:", help="Takes about a minute on a CPU; the result is kept.")
    if pressed:
        report = _measure(checkpoint, target) or report
    if report is None:
        return
    if report.checkpoint_stamp != checkpoint_stamp(checkpoint):
        st.warning("Measured on an earlier version of this checkpoint; measure again to update.",
                   icon=":material/update:")
    st.plotly_chart(reliance_chart(report), key=f"reliance-chart-{run.run_id}", config={"displayModeBar": False})
    ignored = ", ".join(d.replace("_", " ") for d in report.ignored) or "none"
    st.caption(f"Ignored (the risk drop's interval includes 0, or its mean is under {report.ignore_below:g}): "
               f"{ignored}. "
               f"{report.trees_with_defects} trees with defects, {report.photos_rated} photos rated, measured "
               f"{report.measured_on[:16].replace('T', ' ')} UTC in {report.seconds:.0f} s.")
    if report.warning:
        st.caption(f"⚠ {report.warning}")
