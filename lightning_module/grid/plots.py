"""Plotly figures of a grid: the headline heatmap over scenario × image size, and one cell's fold curves.

A cell no better than its majority baseline is never just a colour: its text says so, because a heatmap of
balanced accuracies across scenarios with 2 and 3 classes otherwise invites comparing numbers with
different chance levels.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from lightning_module.grid.results import HEADLINE, METRIC_LABELS
from lightning_module.grid.tables import as_flag
from lightning_module.runs.plots import BASELINE_COLOUR, BASELINE_NAME, RUN_COLOURS

NO_BETTER_MARK = "✗ no better than baseline"


def headline_heatmap(cells: pd.DataFrame, metric: str = HEADLINE, height: int | None = None) -> go.Figure:
    """Mean ``metric`` per scenario (rows) × image size (columns); each cell's text gives ± sd, the baseline
    and, when it applies, the no-better-than-baseline mark. ``cells`` is a results table with one row per
    (scenario, image size): filter the other axes first."""
    scenarios = list(dict.fromkeys(cells["scenario"]))
    sizes = sorted(dict.fromkeys(int(s) for s in cells["image_size"]))
    z = np.full((len(scenarios), len(sizes)), np.nan)
    text = [["not run yet" for _ in sizes] for _ in scenarios]
    for _, row in cells.iterrows():
        i, j = scenarios.index(row["scenario"]), sizes.index(int(row["image_size"]))
        mean = row.get(f"{metric}_mean")
        if mean is None or _nan(mean):
            continue
        z[i, j] = float(mean)
        sd = row.get(f"{metric}_sd")
        lines = [f"<b>{float(mean):.3f}</b>" + ("" if _nan(sd) else f" ± {float(sd):.3f}")]
        lines.append(f"baseline {float(row['baseline_bal_acc']):.3f}" if not _nan(row.get("baseline_bal_acc")) else "")
        lines.append(f"{int(row['folds_done'])}/{int(row['folds_planned'])} folds")
        if as_flag(row.get("no_better_than_baseline")):
            lines.append(NO_BETTER_MARK)
        text[i][j] = "<br>".join(line for line in lines if line)
    label = METRIC_LABELS.get(metric, metric)
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"{s} px" for s in sizes],
            y=scenarios,
            text=text,
            texttemplate="%{text}",
            textfont={"size": 13},
            colorscale="Greens",
            zmin=0.0,
            zmax=1.0,
            colorbar={"title": {"text": f"mean<br>{label.lower()}"}},
            hovertemplate="%{y}, %{x}<br>%{text}<extra></extra>",
            xgap=3,
            ygap=3,
        )
    )
    figure.update_layout(
        title={"text": f"Mean validation {label.lower()} over folds", "font": {"size": 16}},
        height=height or 120 + 105 * len(scenarios),  # room for four lines of text in each square
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        plot_bgcolor="white",
    )
    figure.update_xaxes(title="image size", side="bottom", type="category")
    figure.update_yaxes(title="scenario", autorange="reversed", type="category")
    return figure


def fold_curves_figure(curves: dict[int, pd.DataFrame], metric: str = HEADLINE, baseline: float | None = None,
                       height: int = 360) -> go.Figure:  # fmt: skip
    """Validation ``metric`` per epoch, one line per fold, their mean in black, the baseline dashed."""
    label = METRIC_LABELS.get(metric, metric)
    column = f"val/{metric}"
    figure = go.Figure()
    series = []
    for index, (fold, metrics) in enumerate(curves.items()):
        if column not in metrics.columns:
            continue
        epochs = [int(e) + 1 for e in metrics.index]
        series.append(pd.Series(metrics[column].to_numpy(), index=epochs))
        figure.add_trace(
            go.Scatter(
                x=epochs, y=metrics[column], name=f"fold {fold}", mode="lines+markers",
                line={"color": RUN_COLOURS[index % len(RUN_COLOURS)], "width": 1.5},
                hovertemplate=f"fold {fold}, epoch %{{x}}: %{{y:.3f}}<extra></extra>",
            )  # fmt: skip
        )
    if len(series) > 1:
        mean = pd.concat(series, axis=1).mean(axis=1)
        figure.add_trace(go.Scatter(x=list(mean.index), y=mean.to_numpy(), name="mean of folds", mode="lines",
                                    line={"color": "#000000", "width": 3}))  # fmt: skip
    longest = max((len(s) for s in series), default=0)
    if baseline is not None and not _nan(baseline):
        figure.add_trace(
            go.Scatter(
                x=[1, max(longest, 1)] if longest > 1 else [0.8, 1.2], y=[baseline, baseline],
                name=f"{BASELINE_NAME} ({baseline:.2f})", mode="lines",
                line={"color": BASELINE_COLOUR, "dash": "dash", "width": 2},
            )  # fmt: skip
        )
    figure.update_layout(
        title={"text": f"Validation {label.lower()} per fold", "font": {"size": 16}},
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": -0.35, "x": 0},
        plot_bgcolor="white",
    )
    figure.update_xaxes(title="epoch", gridcolor="#eeeeee", dtick=1 if longest <= 20 else None)
    figure.update_yaxes(gridcolor="#eeeeee", range=[0, 1.02])
    if not series:
        figure.add_annotation(text="no finished epoch yet", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return figure


def _nan(value: object) -> bool:
    try:
        return value is None or math.isnan(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return True
