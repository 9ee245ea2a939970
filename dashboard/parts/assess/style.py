"""Looks shared by the Assess page's parts: colours, the rating badge, charts and the page's CSS."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from lightning_module.assessment.pictures import image_uri
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
.tr-bars{margin:.2rem 0 .8rem 0}
.tr-bars-title{font-size:15px;color:#1b2a1b;margin-bottom:.45rem}
.tr-bar-row{display:flex;align-items:center;gap:.6rem;margin:.35rem 0}
.tr-bar-name{flex:0 0 7.5rem;text-align:right;font-size:.9rem;color:#3d4a42}
.tr-bar-track{flex:1 1 auto;height:1.55rem;background:#f1f5ee;border-radius:.25rem;overflow:hidden}
.tr-bar{display:block;height:100%;border-radius:.25rem}
.tr-bar-value{flex:0 0 3rem;font-size:.9rem;font-variant-numeric:tabular-nums;color:#1d2a22}
.tr-pictures{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:1.5rem;margin:.2rem 0 .4rem 0}
@media (max-width:640px){.tr-pictures{grid-template-columns:minmax(0,1fr)}}
.tr-pictures figure{margin:0}
.tr-pictures b{display:block;margin-bottom:.5rem;color:#1d2a22}
.tr-pictures img{display:block;width:100%;height:auto;border-radius:.25rem}
.tr-pictures figcaption{font-size:.875rem;color:#6b7670;text-align:center;margin-top:.35rem;line-height:1.45}
.tr-note{font-size:.875rem;color:#6b7670;line-height:1.5;margin:.1rem 0 .6rem 0}
.tr-box{border:1px solid rgba(49,51,63,.2);border-radius:.5rem;padding:.9rem 1rem .4rem 1rem;margin-top:.6rem;
 color:#1b2a1b;font-size:.95rem;line-height:1.5}
.tr-box ul{margin:.4rem 0 0 0;padding-left:1.3rem}
.tr-box li{margin-bottom:.35rem}
.tr-zoom-toggle{position:absolute;opacity:0;width:1px;height:1px;pointer-events:none}
.tr-zoom{display:block;cursor:zoom-in}
.tr-zoom-toggle:focus-visible+.tr-zoom img{outline:3px solid #2e7d32;outline-offset:2px}
.tr-zoom-toggle:checked+.tr-zoom{position:fixed;inset:0;z-index:1000100;display:flex;align-items:center;
 justify-content:center;padding:2.5rem;background:rgba(17,24,20,.95);cursor:zoom-out}
.tr-zoom-toggle:checked+.tr-zoom img{width:100%;height:100%;object-fit:contain;border-radius:0}
"""


def inject_css() -> None:
    st.html(f"<style>{PAGE_CSS}{matrix_css()}</style>")  # the ISA matrices are drawn with the report's own styles


def rating_badge(rating: str) -> str:
    colour = RATING_COLOURS.get(rating, "#607d8b")
    return f'<span class="tr-badge" style="background:{colour}">{rating} risk</span>'


def pictures_html(figures: Sequence[tuple[str, Image.Image | None, str, str]]) -> str:
    """(title, picture or None, caption, alternative text) side by side as one HTML block, the pictures inline.

    A click on a picture (or Space on it) shows it as large as the window allows, and another click closes it:
    a hidden checkbox and its label, in CSS alone, because ``st.html`` runs no script and an ``st.image`` per
    picture (whose toolbar has a full-screen button) cost the browsers more than the rest of an answer.
    """
    cells = []
    for number, (title, picture, caption, alternative) in enumerate(figures):
        image = ""
        if picture is not None:
            toggle = f"tr-zoom-{number}"
            image = (f'<input type="checkbox" class="tr-zoom-toggle" id="{toggle}" aria-label="Enlarge: '
                     f'{html.escape(alternative)}"><label class="tr-zoom" for="{toggle}" title="Click to enlarge; '
                     f'click again to close"><img src="{image_uri(picture, max_side=max(picture.size))}" '
                     f'alt="{html.escape(alternative)}"></label>')
        cells.append(f"<figure><b>{html.escape(title)}</b>{image}"
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    return f'<div class="tr-pictures">{"".join(cells)}</div>'


def muted(text: str) -> str:
    """``text`` (HTML) as a caption-like paragraph, to join another st.html element; "" for no text."""
    return f'<p class="tr-note">{text}</p>' if text else ""


def limitations_box(limitations: Sequence[str]) -> str:
    """The screening aid's limitations in a bordered box, as HTML."""
    items = "".join(f"<li>{html.escape(text)}</li>" for text in limitations)
    return f'<div class="tr-box"><b>ℹ️ Limitations</b><ul>{items}</ul></div>'


def probability_bars(values: Mapping[str, float], colours: Mapping[str, str], title: str) -> str:
    """Horizontal bars with the percentage written on each, first item on top, as HTML.

    Plain HTML rather than a chart library: two of these come with every answer, and a plotly figure cost each
    browser more CPU to draw than the server spent on the rest of the answer (bench/load_check.py).
    """
    rows = []
    for name, value in values.items():
        share = min(1.0, max(0.0, float(value)))
        colour = colours.get(name, "#607d8b")
        rows.append(
            f'<div class="tr-bar-row"><span class="tr-bar-name">{html.escape(name)}</span>'
            f'<span class="tr-bar-track"><span class="tr-bar" style="width:{share * 100:.1f}%;background:{colour}"></span>'
            f'</span><span class="tr-bar-value">{share:.0%}</span></div>'
        )
    label = html.escape(f"{title}: " + ", ".join(f"{n} {float(v):.0%}" for n, v in values.items()))
    return (f'<div class="tr-bars" role="img" aria-label="{label}"><div class="tr-bars-title">{html.escape(title)}</div>'
            + "".join(rows) + "</div>")


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
