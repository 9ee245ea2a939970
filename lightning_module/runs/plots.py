"""Plotly figures of runs: metric curves with the majority baseline, confusion heatmaps, overlaid comparisons.

The baseline is always drawn as a dashed grey line named "majority baseline" so that a curve hugging it reads
as "no better than always guessing the commonest class".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from lightning_module.runs.store import METRIC_LABELS, Confusion

TRAIN_COLOUR, VAL_COLOUR, BASELINE_COLOUR = "#9e9e9e", "#2e7d32", "#c62828"
BASELINE_NAME = "majority baseline"
# Distinct colours for overlaid runs (colour-blind friendly, Okabe-Ito).
RUN_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def metric_curve(metrics: pd.DataFrame, metric: str, baseline: float | None, height: int = 300) -> go.Figure:
    """Train and validation ``metric`` per epoch (epochs counted from 1), with the baseline as a dashed line."""
    label = METRIC_LABELS.get(metric, metric)
    figure = go.Figure()
    epochs = _epoch_axis(metrics)
    for split, colour, dash in (("train", TRAIN_COLOUR, "dot"), ("val", VAL_COLOUR, "solid")):
        column = f"{split}/{metric}"
        if column in metrics.columns and metrics[column].notna().any():
            figure.add_trace(
                go.Scatter(
                    x=epochs,
                    y=metrics[column],
                    name="validation" if split == "val" else "training",
                    mode="lines+markers",
                    line={"color": colour, "dash": dash, "width": 3 if split == "val" else 2},
                    hovertemplate=f"epoch %{{x}}<br>{split} {label}: %{{y:.3f}}<extra></extra>",
                )
            )
    if baseline is not None:
        _add_baseline(figure, baseline, len(epochs))
    _style(figure, title=label, height=height, y_unit=metric != "loss")
    if metric == "loss" and _spans_decades(metrics, ("train/loss", "val/loss")):
        figure.update_yaxes(type="log", range=None)  # a diverging run's first loss would flatten the rest
    if not len(epochs):
        figure.add_annotation(text="no finished epoch yet", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return figure


def comparison_curves(
    curves: dict[str, pd.DataFrame], metric: str, baselines: dict[str, float | None], split: str = "val", height: int = 420
) -> go.Figure:
    """``split/metric`` of several runs overlaid, each run's baseline a dashed line in its own colour."""
    label = METRIC_LABELS.get(metric, metric)
    figure = go.Figure()
    for index, (run_id, metrics) in enumerate(curves.items()):
        colour = RUN_COLOURS[index % len(RUN_COLOURS)]
        column = f"{split}/{metric}"
        if column in metrics.columns:
            figure.add_trace(
                go.Scatter(
                    x=_epoch_axis(metrics),
                    y=metrics[column],
                    name=run_id,
                    legendgroup=run_id,
                    mode="lines+markers",
                    line={"color": colour, "width": 3},
                    hovertemplate=f"{run_id}<br>epoch %{{x}}: %{{y:.3f}}<extra></extra>",
                )
            )
        baseline = baselines.get(run_id)
        if baseline is not None and metric != "loss":
            epochs = _epoch_axis(metrics)
            x = [0.5, max(len(epochs), 1) + 0.5]
            figure.add_trace(
                go.Scatter(
                    x=x,
                    y=[baseline, baseline],
                    name=f"{run_id}: {BASELINE_NAME} {baseline:.2f}",
                    legendgroup=run_id,
                    mode="lines",
                    line={"color": colour, "dash": "dash", "width": 1.5},
                    hovertemplate=f"{run_id} {BASELINE_NAME}: {baseline:.3f}<extra></extra>",
                )
            )
    split_text = "validation" if split == "val" else "training"
    _style(figure, title=f"{label} ({split_text})", height=height, y_unit=metric != "loss")
    return figure


def confusion_heatmap(confusion: Confusion, normalised: bool = False, height: int = 380) -> go.Figure:
    """Rows true class, columns predicted; counts, or each row as a share of that class's images."""
    values = confusion.row_normalised() if normalised else confusion.matrix
    text = [[f"{v:.0%}" if normalised else f"{int(v)}" for v in row] for row in values]
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=confusion.classes,
            y=confusion.classes,
            text=text,
            texttemplate="%{text}",
            textfont={"size": 16},
            colorscale="Greens",
            zmin=0,
            zmax=1 if normalised else max(1, int(np.max(confusion.matrix))),
            hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
            colorbar={"title": "share of row" if normalised else "images"},
        )
    )
    figure.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis={"title": "predicted class", "side": "top", "type": "category"},
        yaxis={"title": "true class", "autorange": "reversed", "type": "category"},
        plot_bgcolor="white",
    )
    return figure


def epoch_times(seconds: list[float], height: int = 240) -> go.Figure:
    figure = go.Figure(go.Bar(x=list(range(1, len(seconds) + 1)), y=seconds, marker_color=VAL_COLOUR, hovertemplate="epoch %{x}: %{y:.1f} s<extra></extra>"))
    figure.update_layout(height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10}, title="Seconds per epoch", xaxis_title="epoch", plot_bgcolor="white")
    figure.update_yaxes(gridcolor="#eeeeee", rangemode="tozero")
    return figure


def _spans_decades(metrics: pd.DataFrame, columns: tuple[str, ...], ratio: float = 100.0) -> bool:
    values = pd.concat([metrics[c] for c in columns if c in metrics.columns] or [pd.Series(dtype=float)]).dropna()
    values = values[values > 0]
    return len(values) > 1 and values.max() / values.min() > ratio


def _epoch_axis(metrics: pd.DataFrame) -> list[int]:
    # Lightning counts epochs from 0; people count from 1.
    return [int(e) + 1 for e in metrics.index] if len(metrics) else []


def _add_baseline(figure: go.Figure, baseline: float, n_epochs: int) -> None:
    # A real trace (not just a shape) so it appears in the legend and can be found in the figure's data.
    figure.add_trace(
        go.Scatter(
            x=[0.5, max(n_epochs, 1) + 0.5],
            y=[baseline, baseline],
            name=f"{BASELINE_NAME} ({baseline:.2f})",
            mode="lines",
            line={"color": BASELINE_COLOUR, "dash": "dash", "width": 2},
            hovertemplate=f"{BASELINE_NAME}: {baseline:.3f}<extra></extra>",
        )
    )


def _style(figure: go.Figure, title: str, height: int, y_unit: bool) -> None:
    figure.update_layout(
        # Title on top, legend on its own line under it, so neither hides the other or the axis title.
        title={"text": title, "font": {"size": 16}, "y": 0.98, "yanchor": "top", "yref": "container"},
        height=height,
        margin={"l": 10, "r": 10, "t": 70, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0, "font": {"size": 12}},
        plot_bgcolor="white",
        hovermode="x unified",
    )
    # The last epoch drawn (a baseline line reaches half an epoch beyond it).
    last = int(max((max(trace.x) for trace in figure.data if trace.x is not None and len(trace.x)), default=1))
    # Whole epochs only: a tick per epoch while that stays readable, Plotly's choice beyond.
    figure.update_xaxes(title="epoch", gridcolor="#eeeeee", dtick=1 if last <= 20 else None, range=[0.5, max(1, last) + 0.5])
    figure.update_yaxes(gridcolor="#eeeeee", range=[0, 1.02] if y_unit else None, rangemode="tozero")
