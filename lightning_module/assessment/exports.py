"""A screened batch to take away: CSV (one line per file, good or bad) and GeoJSON (the photos with a position).

Both carry the target and consequences the ratings were made for, so a file read months later still says what its
ratings mean, and mark each photo that does not look like the model's training photos (``unfamiliar``), whose
rating is not to be trusted. File names come from uploads and archives and are untrusted: in the CSV a name that a spreadsheet
would run as a formula (``=cmd|…``) is prefixed with ``'`` so it stays text.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from lightning_module.assessment import risk
from lightning_module.assessment.screening import ScreeningRow


def _safe_cell(value: Any) -> Any:
    """Spreadsheets run cells that start with = + - @ as formulas; a file name must stay text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _yes_no(flag: bool | None) -> str:
    """``unfamiliar`` in the CSV: "yes" (do not trust the rating), "no", or "" when the model has no calibration."""
    return "" if flag is None else "yes" if flag else "no"


def rows_to_csv(rows: Sequence[ScreeningRow], classes: Sequence[str], likelihood_of_impact: str, consequences: str) -> str:
    """The batch as CSV: one line per file, good or bad, with the chosen target and consequences on each line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = ["file", "status", "predicted_class", "confidence", "rating", "likelihood_of_impact", "consequences"]
    header += [f"p_{c}" for c in classes] + [f"p_rating_{r}" for r in risk.RISK_RATINGS]
    header += ["unfamiliar", "warnings", "latitude", "longitude", "problem"]
    writer.writerow(header)
    for row in rows:
        line: list[Any] = [_safe_cell(row.name), "ok" if row.ok else "error"]
        if row.ok:
            line += [row.predicted_class, f"{row.confidence:.4f}", row.rating, likelihood_of_impact, consequences]
            line += [f"{row.probabilities.get(c, 0.0):.4f}" for c in classes]
            line += [f"{row.rating_probabilities[r]:.4f}" if row.rating_probabilities else "" for r in risk.RISK_RATINGS]
            line += [_yes_no(row.unfamiliar), "; ".join(row.warning_text)]
        else:
            line += ["", "", "", "", ""] + [""] * (len(classes) + len(risk.RISK_RATINGS)) + ["", ""]
        line += ["" if row.latitude is None else row.latitude, "" if row.longitude is None else row.longitude]
        line += [_safe_cell(row.reason)]
        writer.writerow(line)
    return buffer.getvalue()


def rows_to_geojson(rows: Sequence[ScreeningRow], likelihood_of_impact: str, consequences: str) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the photos that carry a GPS position (longitude first, as GeoJSON wants)."""
    features = []
    for row in rows:
        if not row.ok or row.latitude is None or row.longitude is None:
            continue
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [row.longitude, row.latitude]},
            "properties": {
                "file": row.name,
                "predicted_class": row.predicted_class,
                "confidence": round(row.confidence, 4),
                "rating": row.rating,
                "likelihood_of_impact": likelihood_of_impact,
                "consequences": consequences,
                "probabilities": {k: round(v, 4) for k, v in row.probabilities.items()},
                "unfamiliar": row.unfamiliar,  # true: not like the model's training photos, rating not to be trusted
                "warnings": row.warnings,
            },
        })
    return {"type": "FeatureCollection", "features": features}


def geojson_text(rows: Sequence[ScreeningRow], likelihood_of_impact: str, consequences: str) -> str:
    """:func:`rows_to_geojson` as the text of a ``.geojson`` file (UTF-8 names kept readable)."""
    return json.dumps(rows_to_geojson(rows, likelihood_of_impact, consequences), indent=1, ensure_ascii=False)
