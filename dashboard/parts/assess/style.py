"""Looks shared by the Assess page's parts: colours, the rating badge, charts and the page's CSS."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import streamlit as st

from lightning_module.assessment.report import RATING_COLOURS, matrix_css
from lightning_module.assessment.risk import RISK_RATINGS

PHOTO_TYPES = ["jpg", "jpeg", "png", "webp", "heic", "heif", "gif", "bmp", "tif", "tiff"]

PAGE_CSS = """
.tr-badge{display:inline-block;padding:.35rem 1rem;border-radius:.5rem;color:#fff;font-weight:700;font-size:1.55rem;
 letter-spacing:.01em}
.tr-path{font-size:.92rem;color:#3d4a42;margin:.4rem 0 0 0;line-height:1.55}
.tr-path b{color:#1d2a22}
.tr-step{display:inline-block;background:#eef3ef;border-radius:.35rem;padding:0 .4rem;margin:0 .1rem}
.tr-muted{color:#5b6760;font-size:.88rem}
.tr-hero{border-left:5px solid #1f5135;padding:.15rem 0 .15rem .8rem;margin-bottom:.6rem;color:#3d4a42}
"""


def inject_css() -> None:
    st.html(f"<style>{PAGE_CSS}{matrix_css()}</style>")  # the ISA matrices are drawn with the report's own styles


def rating_badge(rating: str) -> str:
    colour = RATING_COLOURS.get(rating, "#607d8b")
    return f'<span class="tr-badge" style="background:{colour}">{rating} risk</span>'


def probability_bars(values: Mapping[str, float], colours: Mapping[str, str], title: str, height: int = 0) -> go.Figure:
    """Horizontal bars with the percentage written on each, first item on top."""
    names, probs = list(values), [float(v) for v in values.values()]
    figure = go.Figure(go.Bar(
        x=probs, y=names, orientation="h", marker_color=[colours.get(n, "#607d8b") for n in names],
        text=[f"{p:.0%}" for p in probs], textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:.1%}<extra></extra>",
    ))
    figure.update_layout(
        title={"text": title, "font": {"size": 15}}, height=height or 70 + 42 * len(names),
        margin={"l": 10, "r": 40, "t": 40, "b": 10}, showlegend=False,
        xaxis={"range": [0, 1.12], "tickformat": ".0%", "showgrid": True, "gridcolor": "#e6e9e6", "zeroline": False},
        yaxis={"autorange": "reversed", "automargin": True},
        plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)",
    )
    return figure


def show_chart(figure: go.Figure, key: str) -> None:
    st.plotly_chart(figure, key=key, config={"displayModeBar": False})


def rating_map(rows: Sequence) -> go.Figure:
    """The located photos (``ScreeningRow`` with latitude/longitude) on a street map, one colour per rating."""
    lats = [r.latitude for r in rows]
    lons = [r.longitude for r in rows]
    span = max(max(lats) - min(lats), (max(lons) - min(lons)) * math.cos(math.radians(sum(lats) / len(lats))), 1e-4)
    zoom = max(2.0, min(16.0, math.log2(360.0 / span) - 1.2))  # the whole spread fits, with a margin
    figure = go.Figure()
    for rating in (*RISK_RATINGS, "n/a"):
        group = [r for r in rows if (r.rating or "n/a") == rating]
        if not group:
            continue
        figure.add_trace(go.Scattermap(
            lat=[r.latitude for r in group], lon=[r.longitude for r in group], mode="markers",
            marker={"size": 14, "color": RATING_COLOURS.get(rating, "#607d8b")}, name=f"{rating} risk",
            text=[f"{r.name}<br>{r.predicted_class} ({r.confidence:.0%}) · {rating} risk" for r in group],
            hovertemplate="%{text}<extra></extra>",
        ))
    figure.update_layout(
        map={"style": "open-street-map", "zoom": zoom,
             "center": {"lat": (max(lats) + min(lats)) / 2, "lon": (max(lons) + min(lons)) / 2}},
        height=380, margin={"l": 0, "r": 0, "t": 0, "b": 0},
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0, "bgcolor": "rgba(255,255,255,0.8)"},
    )
    return figure
