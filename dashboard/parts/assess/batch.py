"""Screen many trees: many photos or zip archives in, a sortable table, a map, CSV and GeoJSON out."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import streamlit as st

from dashboard.parts.shared.models import CheckpointChoice, cache_key, cached_predictor, cached_reference
from dashboard.parts.assess.single import example_photos
from dashboard.parts.assess.style import PHOTO_TYPES, rating_map, show_chart
from dashboard.parts.assess.table import rows_table
from lightning_module.assessment import risk
from lightning_module.assessment.archives import Upload, batch_items
from lightning_module.assessment.exports import geojson_text, rows_to_csv
from lightning_module.assessment.screening import ScreeningRow, apply_rating, screen


def _use_examples() -> None:
    st.session_state["assess_batch_examples"] = True


def _examples_off() -> None:
    st.session_state["assess_batch_examples"] = False


def render_batch(choice: CheckpointChoice, impact: str, consequences: str) -> None:
    left, right = st.columns([3, 2], gap="large")
    with left:
        files = st.file_uploader(
            "Photos of many trees, or zip archives of them", type=[*PHOTO_TYPES, "zip"], accept_multiple_files=True,
            key="assess_batch_upload", on_change=_examples_off,
            help="Select many files at once or drop a zip. Every file gets a row; a bad file gets the reason.",
        )
    with right:
        st.markdown("**No photos at hand?**")
        st.button("Screen the example photos", key="assess_batch_try", on_click=_use_examples,
                  icon=":material/forest:", disabled=not example_photos())
    if files:
        uploads = [Upload(f.name, f.getvalue()) for f in files]
        signature = tuple(f.file_id for f in files)
    elif st.session_state.get("assess_batch_examples"):
        uploads = [Upload(p.name, p.read_bytes()) for p in example_photos()]
        signature = ("examples", *(p.name for p in example_photos()))
    else:
        st.info("Upload photos (or zip archives) to screen them in one go: a table you can sort, a map of the photos "
                "that carry GPS, and CSV / GeoJSON to take away.", icon=":material/photo_library:")
        return

    path, mtime = cache_key(choice.path)
    key = (path, mtime, signature)
    stored = st.session_state.get("assess_batch_result")
    if not stored or stored[0] != key:
        rows = _screen(path, mtime, uploads)
        st.session_state["assess_batch_result"] = (key, rows)
    else:
        rows = stored[1]
    classes = list(cached_predictor(path, mtime).classes)
    unavailable = apply_rating(rows, impact, consequences)
    _summary(rows, unavailable)
    _table(rows)
    _map(rows)
    _downloads(rows, classes, impact, consequences)


def _screen(path: str, mtime: float, uploads: list[Upload]) -> list[ScreeningRow]:
    predictor = cached_predictor(path, mtime)
    reference = cached_reference(path, mtime)
    items = batch_items(uploads)
    bar = st.progress(0.0, text=f"Screening {len(items)} files…")

    def progress(done: int, total: int, name: str) -> None:
        bar.progress(done / max(1, total), text=f"Screened {done} of {total}: {name}")

    rows = screen(predictor, items, reference, progress)
    bar.empty()
    return rows


def _summary(rows: list[ScreeningRow], unavailable: str | None) -> None:
    good = [r for r in rows if r.ok]
    bad = len(rows) - len(good)
    ratings = Counter(r.rating for r in good)
    columns = st.columns(2 + len(risk.RISK_RATINGS))
    columns[0].metric("Photos rated", len(good))
    columns[1].metric("Could not be read", bad)
    for column, rating in zip(columns[2:], risk.RISK_RATINGS):
        column.metric(f"{rating} risk", ratings.get(rating, 0))
    if unavailable:
        st.warning(unavailable, icon=":material/warning:")
    unfamiliar = sum(1 for r in good if r.unfamiliar)
    if unfamiliar:
        st.warning(f"{unfamiliar} photo{'s do' if unfamiliar != 1 else ' does'} not look like the tree photos the model "
                   f"learned from (ticked under “Unfamiliar”): do not trust {'their' if unfamiliar != 1 else 'its'} "
                   f"rating{'s' if unfamiliar != 1 else ''}.", icon=":material/warning:")
    flagged = sum(1 for r in good if r.warnings)
    if flagged:
        st.caption(f"⚠️ {flagged} photo{'s' if flagged != 1 else ''} flagged (too small, unfamiliar or low confidence): "
                   "check those trees yourself before relying on their rating.")
    st.caption("Sort by clicking a column header. A screening aid, not a qualified arborist's assessment.")


def _table(rows: list[ScreeningRow]) -> None:
    frame = pd.DataFrame(rows_table(rows))
    st.dataframe(
        frame,
        hide_index=True,
        row_height=64,
        height=min(len(frame), 12) * 64 + 40,  # up to 12 rows without scrolling; the header is about 40 px
        key="assess_batch_table",
        column_config={
            "Photo": st.column_config.ImageColumn("Photo", width="small"),
            "File": st.column_config.TextColumn("File", width="medium"),
            "Class": st.column_config.TextColumn("Class"),
            "Confidence": st.column_config.ProgressColumn("Confidence", format="percent", min_value=0.0, max_value=1.0),
            "Rating": st.column_config.TextColumn("Rating", width="small"),
            "Unfamiliar": st.column_config.CheckboxColumn(
                "Unfamiliar", width="small",
                help="The photo does not look like the tree photos the model learned from: do not trust its rating."),
            "Notes": st.column_config.TextColumn("Notes", width="large"),
        },
    )


def _map(rows: list[ScreeningRow]) -> None:
    located = [r for r in rows if r.ok and r.latitude is not None and r.longitude is not None]
    if not located:
        st.caption("No photo carries a GPS position in its EXIF, so there is no map.")
        return
    st.markdown(f"**Where the photos were taken** ({len(located)} with GPS)")
    show_chart(rating_map(located), "assess_batch_map")
    st.caption("Each dot is a photo, coloured by its risk rating; hover for the file. The street map needs an "
               "internet connection; the dots and the export do not.")
def _downloads(rows: list[ScreeningRow], classes: list[str], impact: str, consequences: str) -> None:
    left, right, _ = st.columns([1, 1, 2])
    left.download_button("Download CSV", rows_to_csv(rows, classes, impact, consequences), "treerisk_screening.csv",
                         "text/csv", icon=":material/table:", on_click="ignore", key="assess_batch_csv")
    has_gps = any(r.ok and r.latitude is not None for r in rows)
    right.download_button("Download GeoJSON", geojson_text(rows, impact, consequences), "treerisk_screening.geojson",
                          "application/geo+json", icon=":material/map:", on_click="ignore", key="assess_batch_geojson",
                          disabled=not has_gps, help=None if has_gps else "No photo carries a GPS position.")
