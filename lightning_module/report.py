"""A one-page, self-contained HTML assessment report for one tree, and the ISA matrices as HTML.

Everything the report shows is inside the file: images are inlined as base64 JPEG, the probability bars are inline
SVG, the styles are inline CSS, and nothing is fetched from the network, so the file can be mailed, archived and
printed (A4, one page) as it is. Every value taken from a photo, a file name or a checkpoint is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from PIL import Image

from lightning_module import risk
from lightning_module.evaluation.explain import crop_as_seen, outline_crop, overlay

LIMITATIONS: tuple[str, ...] = (
    "This rating is a screening aid, not a qualified arborist's assessment. It does not replace a TRAQ "
    "(Tree Risk Assessment Qualification) inspection of the tree on site.",
    "The model rates only the likelihood of failure, from one photo. The likelihood of impacting a target and the "
    "consequences are the assessor's choices shown here.",
    "The model saw only the centre square of the photo, at low resolution. Defects outside it, behind the tree, "
    "underground or too small to see at that size are not taken into account.",
    "The model was trained on the data named with it; photos unlike that data (other species, seasons, lighting or "
    "framing) can be rated wrongly even with high confidence.",
    "The heatmap shows which pixels raised the predicted class's score most (Grad-CAM); it is not a map of defects.",
)

RATING_COLOURS: dict[str, str] = {"Low": "#2e7d32", "Moderate": "#f2a900", "High": "#e8590c", "Extreme": "#c62828"}
FAILURE_COLOURS: dict[str, str] = {"Improbable": "#2e7d32", "Possible": "#f2a900", "Probable": "#e8590c", "Imminent": "#c62828"}
_LEVEL_TINTS: dict[str, str] = {  # light backgrounds for matrix cells, so the matrices read at a glance
    "Low": "#e8f5e9", "Moderate": "#fff8e1", "High": "#fff0e6", "Extreme": "#fdecea",
    "Unlikely": "#f4f6f4", "Somewhat likely": "#fff8e1", "Likely": "#fff0e6", "Very likely": "#fdecea",
}
_METRIC_NAMES = {
    "val/bal_acc": "validation balanced accuracy", "val/acc": "validation accuracy", "val/macro_f1": "validation macro F1",
    "test/bal_acc": "test balanced accuracy", "test/acc": "test accuracy", "test/macro_f1": "test macro F1",
    "bal_acc": "balanced accuracy", "acc": "accuracy", "macro_f1": "macro F1",
}


@dataclass
class ModelSummary:
    """What a report says about the checkpoint that rated the tree."""

    label: str  # how the dashboard named it, e.g. "Bundled: seed_cnn on synthetic trees"
    checkpoint: str  # file name
    backbone: str
    scenario: str
    classes: list[str]
    image_size: int
    color_mode: str
    metrics: dict[str, float] = field(default_factory=dict)  # readable name -> value
    trained_on: str = ""


def model_summary(predictor: Any, label: str) -> ModelSummary:
    """The report's model section from a predictor and its run.json or model card."""
    info: Mapping[str, Any] = predictor.info if isinstance(predictor.info, Mapping) else {}
    metrics: dict[str, float] = {}
    for section in ("test", "metrics", "best"):
        values = info.get(section)
        if isinstance(values, Mapping):
            for key, value in values.items():
                if key in _METRIC_NAMES and isinstance(value, (int, float)) and _METRIC_NAMES[key] not in metrics:
                    metrics[_METRIC_NAMES[key]] = float(value)
    data = info.get("data")
    trained_on = str(data.get("description") or data.get("source") or "") if isinstance(data, Mapping) else str(data or "")
    return ModelSummary(
        label=label,
        checkpoint=predictor.checkpoint.name,
        backbone=predictor.backbone,
        scenario=predictor.scenario,
        classes=list(predictor.classes),
        image_size=predictor.image_size,
        color_mode=predictor.color_mode,
        metrics=metrics,
        trained_on=str(info.get("trained_on", "")) or trained_on,
    )


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def image_uri(image: Image.Image, max_side: int = 480, quality: int = 85) -> str:
    """``image`` as an inline ``data:`` JPEG URI, no larger than ``max_side``."""
    picture = image.convert("RGB")
    picture.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# ------------------------------------------------------------------------------------------------------ matrices

MATRIX_CSS = """
.isa-matrices{display:flex;gap:18px;flex-wrap:wrap;font-family:inherit}
.isa-matrix{border-collapse:collapse;font-size:12px;line-height:1.25}
.isa-matrix caption{caption-side:top;text-align:left;font-weight:600;padding-bottom:4px;font-size:12.5px}
.isa-matrix th,.isa-matrix td{border:1px solid #d0d5d0;padding:5px 7px;text-align:center;min-width:62px}
.isa-matrix th{background:#f1f3f1;font-weight:600}
.isa-matrix th.corner{background:#fff;font-weight:400;color:#555;font-size:11px;text-align:left}
.isa-matrix th.on{background:#1f5135;color:#fff}
.isa-matrix td.on{outline:3px solid #1f5135;outline-offset:-3px;font-weight:700}
.isa-matrix td.lane{filter:saturate(1.6) brightness(0.96)}
"""


def _matrix_table(caption: str, corner: str, rows: Sequence[str], columns: Sequence[str],
                  cells: Mapping[str, Mapping[str, str]], row_on: str | None, column_on: str | None) -> str:
    head = "".join(f'<th class="{"on" if c == column_on else ""}" scope="col">{_e(c)}</th>' for c in columns)
    body = []
    for row in rows:
        tds = []
        for column in columns:
            value = cells[row][column]
            classes = []
            if row == row_on and column == column_on:
                classes.append("on")
            elif row == row_on or column == column_on:
                classes.append("lane")
            style = f"background:{_LEVEL_TINTS.get(value, '#fff')}"
            tds.append(f'<td class="{" ".join(classes)}" style="{style}">{_e(value)}</td>')
        body.append(f'<tr><th class="{"on" if row == row_on else ""}" scope="row">{_e(row)}</th>{"".join(tds)}</tr>')
    return (f'<table class="isa-matrix"><caption>{_e(caption)}</caption><thead><tr><th class="corner">{corner}</th>'
            f'{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')


def matrices_html(path: risk.RatingPath | None, likelihood_of_impact: str | None = None,
                  consequences: str | None = None) -> str:
    """Both ISA matrices as HTML tables with ``path`` highlighted (or just the chosen columns, when no path)."""
    impact = path.likelihood_of_impact if path else likelihood_of_impact
    consequence = path.consequences if path else consequences
    first = _matrix_table(
        "1 · Likelihood of failure and impact", "failure ↓ / impact →", risk.LIKELIHOOD_OF_FAILURE,
        risk.LIKELIHOOD_OF_IMPACT, risk.FAILURE_AND_IMPACT_MATRIX, path.likelihood_of_failure if path else None, impact,
    )
    second = _matrix_table(
        "2 · Risk rating", "failure &amp; impact ↓ / consequences →", risk.FAILURE_AND_IMPACT, risk.CONSEQUENCES,
        risk.RISK_MATRIX, path.failure_and_impact if path else None, consequence,
    )
    return f'<div class="isa-matrices">{first}{second}</div>'


def bars_svg(values: Mapping[str, float], colours: Mapping[str, str] | None = None, width: int = 300) -> str:
    """Horizontal probability bars as inline SVG (no script, no external resources)."""
    row, label_w, value_w = 22, 118, 46
    bar_w = width - label_w - value_w
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{row * len(values) + 4}" '
             f'role="img" aria-label="probabilities" font-size="12" font-family="inherit">']
    for i, (name, value) in enumerate(values.items()):
        y = i * row + 2
        fill = (colours or {}).get(name, "#3b7a57")
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{_e(name)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{bar_w}" height="{row - 8}" fill="#eef0ee" rx="2"/>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{max(0.0, min(1.0, value)) * bar_w:.1f}" '
                     f'height="{row - 8}" fill="{fill}" rx="2"/>')
        parts.append(f'<text x="{label_w + bar_w + 6}" y="{y + 15}">{value:.0%}</text>')
    parts.append("</svg>")
    return "".join(parts)


def class_colours(classes: Sequence[str]) -> dict[str, str]:
    """Each class coloured by the ISA category it is rated as (grey when it is not ISA)."""
    from lightning_module.data.categories import isa_category_of

    return {c: FAILURE_COLOURS.get(isa_category_of(c) or "", "#607d8b") for c in classes}


# ------------------------------------------------------------------------------------------------------ report

_REPORT_CSS = """
@page{size:A4;margin:10mm}
*{box-sizing:border-box}
body{font-family:-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1d2a22;margin:0;
 font-size:12px;line-height:1.32;background:#fff}
main{max-width:190mm;margin:0 auto;padding:10px}
header{display:flex;justify-content:space-between;align-items:flex-end;border-bottom:3px solid #1f5135;padding-bottom:5px}
h1{font-size:19px;margin:0;color:#1f5135}
h2{font-size:12.5px;margin:10px 0 4px;color:#1f5135;text-transform:uppercase;letter-spacing:.04em}
.meta{text-align:right;color:#555;font-size:11px}
.grid{display:grid;grid-template-columns:1fr 1fr 1fr;gap:10px;margin-top:8px}
figure{margin:0}
figure img{width:100%;height:172px;object-fit:contain;background:#f4f6f4;border-radius:4px;border:1px solid #d0d5d0;display:block}
figcaption{font-size:10.5px;color:#555;margin-top:2px}
.result{display:grid;grid-template-columns:1fr 1fr;gap:14px;align-items:start}
.badge{display:inline-block;padding:5px 13px;border-radius:6px;color:#fff;font-size:19px;font-weight:700}
.na{background:#607d8b}
.warn{background:#fff4e5;border-left:4px solid #e8590c;padding:4px 7px;margin:4px 0;font-size:10.5px}
.note{color:#555;font-size:10.5px;margin:3px 0}
.choices{border-collapse:collapse;margin-top:4px}
.choices td{padding:1px 8px 1px 0;vertical-align:top;font-size:11px}
.foot{display:grid;grid-template-columns:1fr 1.35fr;gap:14px}
.foot ul{margin:0;padding-left:15px;font-size:10.5px;color:#333}
.foot table{border-collapse:collapse}
.foot table td{padding:0 8px 1px 0;font-size:10.5px;vertical-align:top}
.isa-matrices{gap:12px;flex-wrap:nowrap}
.isa-matrix{font-size:10.5px}
.isa-matrix caption{font-size:11px}
.isa-matrix th,.isa-matrix td{padding:3px 4px;min-width:0}
.isa-matrix th.corner{font-size:9.5px;max-width:80px}
@media print{main{padding:0}}
"""


def build_report(
    assessment: Any,
    model: ModelSummary,
    likelihood_of_impact: str,
    consequences: str,
    opacity: float = 0.5,
    created: datetime | None = None,
) -> str:
    """The one-page HTML report of ``assessment`` (a ``screening.PhotoAssessment``) as a string."""
    created = created or datetime.now(timezone.utc)
    try:
        rated: risk.RiskAssessment | None = assessment.rating(likelihood_of_impact, consequences)
        unavailable = ""
    except risk.RatingUnavailable as error:
        rated, unavailable = None, str(error)
    photo, shown = assessment.photo, assessment.shown
    figures = [(image_uri(outline_crop(photo, shown)), "Photo; the framed square is what the model used.")]
    figures.append((image_uri(photo.image.convert("RGB").resize((216, 216), Image.Resampling.NEAREST)),
                    f"Model input: {photo.image.width}×{photo.image.height} px, {model.color_mode}."))
    if assessment.explanation is not None:
        caption = ("Grad-CAM: no region raised the score (flat heatmap)." if assessment.explanation.flat else
                   f"Grad-CAM for “{assessment.explanation.class_name}”: red = strongest evidence.")
        figures.append((image_uri(overlay(crop_as_seen(photo, shown), assessment.explanation.heatmap, opacity)), caption))
    figure_html = "".join(f'<figure><img src="{uri}" alt=""><figcaption>{_e(text)}</figcaption></figure>'
                          for uri, text in figures)

    probabilities = dict(zip(assessment.classes, map(float, assessment.probabilities)))
    if rated is not None:
        colour = RATING_COLOURS[rated.rating]
        verdict = (f'<div><span class="badge" style="background:{colour}">{_e(rated.rating)} risk</span></div>'
                   f'<p class="note">From the most likely class, <b>{_e(rated.predicted_class)}</b> '
                   f'({probabilities[rated.predicted_class]:.0%}), rated as {_e(rated.path.likelihood_of_failure)} '
                   f'likelihood of failure → {_e(rated.path.failure_and_impact)} likelihood of failure and impact.</p>')
        rating_bars = ("<h2>Probability of each risk rating</h2>"
                       + bars_svg(rated.rating_probabilities, RATING_COLOURS)
                       + '<p class="note">Expectation over the model\'s classes with the chosen target and consequences.</p>')
        merged = f'<p class="note">{_e(rated.merged_note)}</p>' if rated.merged_note else ""
    else:
        verdict = f'<div><span class="badge na">No ISA rating</span></div><p class="note">{_e(unavailable)}</p>'
        rating_bars, merged = "", ""
    warnings = "".join(f'<div class="warn">{_e(w)}</div>' for w in assessment.familiarity.warnings)
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in assessment.familiarity.notes)
    gps = (f"<tr><td>Location</td><td>{assessment.gps[0]:.6f}, {assessment.gps[1]:.6f} (from the photo's EXIF)</td></tr>"
           if assessment.gps else "")
    metrics = "".join(f"<tr><td>{_e(k)}</td><td>{v:.3f}</td></tr>" for k, v in model.metrics.items()) or \
        '<tr><td colspan="2">No metrics recorded with this checkpoint.</td></tr>'
    limitations = "".join(f"<li>{_e(text)}</li>" for text in LIMITATIONS)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>TreeRisk assessment – {_e(assessment.name)}</title>
<style>{MATRIX_CSS}{_REPORT_CSS}</style></head>
<body><main>
<header><div><h1>Tree risk screening report</h1><div>{_e(assessment.name)}</div></div>
<div class="meta">{_e(created.strftime("%d %B %Y, %H:%M %Z").strip())}<br>TreeRisk · screening aid, not an arborist's assessment</div></header>
<div class="grid">{figure_html}</div>
<div class="result">
<section><h2>Rating</h2>{verdict}
<table class="choices"><tr><td>Likelihood of impacting a target</td><td><b>{_e(likelihood_of_impact)}</b> – {_e(risk.IMPACT_HELP[likelihood_of_impact])}</td></tr>
<tr><td>Consequences of failure</td><td><b>{_e(consequences)}</b> – {_e(risk.CONSEQUENCES_HELP[consequences])}</td></tr>{gps}</table>
{warnings}{notes}</section>
<section><h2>Class probabilities</h2>{bars_svg(probabilities, class_colours(assessment.classes))}{merged}{rating_bars}</section>
</div>
<h2>ISA matrices</h2>{matrices_html(rated.path if rated else None, likelihood_of_impact, consequences)}
<div class="foot">
<section><h2>Model</h2><table>
<tr><td>Checkpoint</td><td>{_e(model.label)} ({_e(model.checkpoint)})</td></tr>
<tr><td>Network</td><td>{_e(model.backbone)}, {model.image_size}×{model.image_size} px {_e(model.color_mode)}</td></tr>
<tr><td>Classes</td><td>{_e(", ".join(model.classes))}{f" (scenario {_e(model.scenario)})" if model.scenario else ""}</td></tr>
{f"<tr><td>Trained on</td><td>{_e(model.trained_on)}</td></tr>" if model.trained_on else ""}{metrics}</table></section>
<section><h2>Limitations</h2><ul>{limitations}</ul></section>
</div>
</main></body></html>
"""
