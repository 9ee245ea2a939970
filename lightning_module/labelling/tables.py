"""Agreement as tables and pictures: what the Agreement page and reports show, built from :mod:`.agreement`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .agreement import AgreementReport, Estimate, PairAgreement

PAIR_COLUMNS = ("between", "and", "photos", "Cohen's κ", "95 % interval", "weighted κ", "95 % interval (weighted)",
                "raw agreement", "cannot tell")


def _interval(estimate: Estimate) -> str:
    return "–" if estimate.low is None else f"{estimate.low:.2f} to {estimate.high:.2f}"


def pair_table(pairs: Sequence[PairAgreement]) -> pd.DataFrame:
    """One row per pair: both kappas with their intervals, the photos they rest on, raw agreement, cannot-tells."""
    return pd.DataFrame(
        [(p.first, p.second, p.kappa.photos, p.kappa.value, _interval(p.kappa), p.weighted_kappa.value,
          _interval(p.weighted_kappa), p.raw_agreement, p.cannot_tell) for p in pairs],
        columns=list(PAIR_COLUMNS),
    )


def mean_kappa(report: AgreementReport, weighted: bool = False) -> float | None:
    """The mean of the pairs' kappas (those that could be computed), or None."""
    values = [(p.weighted_kappa if weighted else p.kappa).value for p in report.pairs]
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def confusion_figure(pair: PairAgreement, height: int = 360) -> go.Figure:
    """Rows: the first rater's class; columns: the second's; each cell the number of photos."""
    matrix = np.asarray(pair.confusion)
    figure = go.Figure(go.Heatmap(
        z=matrix, x=list(pair.classes), y=list(pair.classes), text=[[str(int(v)) for v in row] for row in matrix],
        texttemplate="%{text}", textfont={"size": 15}, colorscale="Greens", zmin=0, zmax=max(1, int(matrix.max(initial=0))),
        hovertemplate=f"{pair.first}: %{{y}}<br>{pair.second}: %{{x}}<br>%{{text}} photos<extra></extra>",
        colorbar={"title": "photos"},
    ))
    figure.update_layout(
        title=f"{pair.first} (rows) vs {pair.second} (columns)", height=height,
        margin={"l": 10, "r": 10, "t": 60, "b": 10}, plot_bgcolor="white",
        xaxis={"title": pair.second, "side": "top", "type": "category"},
        yaxis={"title": pair.first, "autorange": "reversed", "type": "category"},
    )
    return figure
