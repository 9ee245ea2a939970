"""A one-page, self-contained HTML assessment report for one tree, and the ISA matrices as HTML.

Everything the report shows is inside the file: images are inlined as base64 JPEG, the probability bars are inline
SVG, the styles are inline CSS, and nothing is fetched from the network, so the file can be mailed, archived and
printed (A4, one page) as it is.

The markup lives in Jinja2 templates beside this module (``templates/``); this module gathers what they show. The
environment autoescapes every value, so whatever comes from a photo, a file name or a checkpoint reaches the page as
text, never as markup, without each call site having to remember to escape it. The environment is built on first
use, not at import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from PIL import Image

from lightning_module.assessment import risk
from lightning_module.assessment.pictures import crop_as_seen, image_uri, outline_crop, overlay
from lightning_module.data.categories import isa_category_of

if TYPE_CHECKING:  # only for the annotation: the report itself needs no model code
    from lightning_module.assessment.photo_assessment import PhotoAssessment

TEMPLATES = Path(__file__).resolve().parent / "templates"

LIMITATIONS: tuple[str, ...] = (
    "This rating is a screening aid, not a qualified arborist's assessment. It does not replace a TRAQ "
    "(Tree Risk Assessment Qualification) inspection of the tree on site.",
    "The model rates only the likelihood of failure, from one photo. The likelihood of impacting a target and the "
    "consequences are the assessor's choices shown here.",
    "The model saw only the centre square of the photo, at low resolution. Defects outside it, behind the tree, "
    "underground or too small to see at that size are not taken into account.",
    "The model was trained on the data named with it; photos unlike that data (other species, seasons, lighting or "
    "framing) can be rated wrongly even with high confidence.",
    "The heatmap shows which pixels the predicted class's score depends on most (by the method named under it); it "
    "is not a map of defects.",
)

RATING_COLOURS: dict[str, str] = {"Low": "#2e7d32", "Moderate": "#f2a900", "High": "#e8590c", "Extreme": "#c62828"}
FAILURE_COLOURS: dict[str, str] = {"Improbable": "#2e7d32", "Possible": "#f2a900", "Probable": "#e8590c", "Imminent": "#c62828"}
_LEVEL_TINTS: dict[str, str] = {  # light backgrounds for matrix cells, so the matrices read at a glance
    "Low": "#e8f5e9", "Moderate": "#fff8e1", "High": "#fff0e6", "Extreme": "#fdecea",
    "Unlikely": "#f4f6f4", "Somewhat likely": "#fff8e1", "Likely": "#fff0e6", "Very likely": "#fdecea",
}
# The run's own metrics: (key in run.json and in its majority baseline, how the report names it), balanced first.
_RUN_METRICS = (("bal_acc", "balanced accuracy"), ("macro_f1", "macro F1"), ("acc", "accuracy"))


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
    baseline: dict[str, float] = field(default_factory=dict)  # readable name -> the majority baseline's value
    measured_on: str = ""  # the photos the metrics were measured on, in words
    baseline_class: str = ""  # the class the majority baseline always predicts
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)  # readable name -> 95 % interval


def model_summary(predictor: Any, label: str) -> ModelSummary:
    """The report's model section from a predictor and its run.json or model card.

    A bundled model's card holds a test on scenes of another generator seed, which it never saw: that is quoted.
    Its training run's own test split came from the training seed, so its figures are not results. A run of the
    user's own has only its held-out test split (else its best validation epoch), which is quoted with its majority
    baseline.
    """
    info: Mapping[str, Any] = predictor.info if isinstance(predictor.info, Mapping) else {}
    data = info.get("data")
    trained_on = str(data.get("description") or data.get("source") or "") if isinstance(data, Mapping) else str(data or "")
    independent = info.get("independent_test")
    if isinstance(independent, Mapping) and isinstance(independent.get("model"), Mapping):
        figures = _independent_figures(independent)
    else:
        figures = _run_figures(info)
    return ModelSummary(
        label=label,
        checkpoint=predictor.checkpoint.name,
        backbone=predictor.backbone,
        scenario=predictor.scenario,
        classes=list(predictor.classes),
        image_size=predictor.image_size,
        color_mode=predictor.color_mode,
        trained_on=str(info.get("trained_on", "")) or trained_on,
        **figures,
    )


def _independent_figures(test: Mapping[str, Any]) -> dict[str, Any]:
    """ModelSummary's figures (metrics, baseline, intervals, ...) from a model card's independent test."""
    model, baseline = test["model"], test.get("baseline") or {}
    metrics: dict[str, float] = {}
    base: dict[str, float] = {}
    intervals: dict[str, tuple[float, float]] = {}
    named = [("balanced_accuracy", "balanced accuracy"), ("macro_f1", "macro F1")]
    named += [(f"recall/{name}", f"recall of {name}") for name in (model.get("recall") or {})]
    for key, name in named:
        value, reference = _estimate(model, key), _estimate(baseline, key)
        if value is not None:
            metrics[name] = value
            low, high = _estimate(model, key, "low"), _estimate(model, key, "high")
            if low is not None and high is not None:
                intervals[name] = (low, high)
            if reference is not None:
                base[name] = reference
    photos = (test.get("test_set") or {}).get("photos")
    seed = (test.get("test_set") or {}).get("seed")
    trained_seed = (test.get("training_data") or {}).get("seed")
    where = f"{photos} synthetic scenes of seed {seed}" if photos and seed is not None else "an independent test set"
    unseen = f", a seed other than training's ({trained_seed})" if trained_seed is not None else ""
    confidence = (test.get("bootstrap") or {}).get("confidence")
    brackets = f"; in brackets, {confidence:.0%} bootstrap intervals" if intervals and confidence else ""
    return {"metrics": metrics, "baseline": base, "intervals": intervals,
            "baseline_class": str(baseline.get("class") or ""),
            "measured_on": f"{where}{unseen}: scenes the model never saw{brackets}"}


def _estimate(section: Mapping[str, Any], key: str, part: str = "value") -> float | None:
    """``section[key]`` (``recall/<class>`` reaches into ``recall``) as a number: an estimate's ``part`` (its
    ``value``, ``low`` or ``high``), or a plain float when asked for the value."""
    head, _, tail = key.partition("/")
    value = section.get(head)
    if tail:
        value = value.get(tail) if isinstance(value, Mapping) else None
    if isinstance(value, Mapping):
        value = value.get(part)
    elif part != "value":
        return None
    return float(value) if isinstance(value, (int, float)) else None


def _run_figures(info: Mapping[str, Any]) -> dict[str, Any]:
    """ModelSummary's figures from a training run's own record (run.json, or a card without an independent test)."""
    baseline = info.get("majority_baseline") if isinstance(info.get("majority_baseline"), Mapping) else {}
    for section, prefix, where in (("test", "test/", "the run's held-out test split"),
                                   ("best", "val/", "the run's validation split, at its best epoch"),
                                   ("metrics", "", "the run's validation split")):
        values = info.get(section)
        if not isinstance(values, Mapping):
            continue
        metrics = {name: float(values[prefix + key]) for key, name in _RUN_METRICS
                   if isinstance(values.get(prefix + key), (int, float))}
        if metrics:
            base = {name: float(baseline[key]) for key, name in _RUN_METRICS
                    if name in metrics and isinstance(baseline.get(key), (int, float))}
            return {"metrics": metrics, "baseline": base, "measured_on": where,
                    "baseline_class": str(baseline.get("class") or "") if base else ""}
    return {}


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name in a template fails loudly instead of printing ""
        keep_trailing_newline=True,
    )
    environment.filters["percent"] = lambda value: f"{value:.0%}"
    environment.globals.update(risk=risk, tints=_LEVEL_TINTS)
    return environment


def matrix_css() -> str:
    """The matrices' styles, for a page that shows :func:`matrices_html` (the report inlines them itself)."""
    return (TEMPLATES / "isa_matrices.css").read_text(encoding="utf-8")


@lru_cache(maxsize=256)  # a few dozen paths exist; rendering them was 4 % of the server's CPU per answer under load
def matrices_html(path: risk.RatingPath | None, likelihood_of_impact: str | None = None,
                  consequences: str | None = None) -> str:
    """Both ISA matrices as HTML tables with ``path`` highlighted (or just the chosen columns, when no path)."""
    macros = _environment().get_template("isa_matrices.html.j2").module
    return str(macros.isa_matrices(path, likelihood_of_impact, consequences))  # type: ignore[attr-defined]


def bars_svg(values: Mapping[str, float], colours: Mapping[str, str] | None = None, width: int = 300) -> str:
    """Horizontal probability bars as inline SVG (no script, no external resources)."""
    macros = _environment().get_template("bars.svg.j2").module
    return str(macros.bars(values, colours, width))  # type: ignore[attr-defined]


def class_colours(classes: Sequence[str]) -> dict[str, str]:
    """Each class coloured by the ISA category it is rated as (grey when it is not ISA)."""
    return {c: FAILURE_COLOURS.get(isa_category_of(c) or "", "#607d8b") for c in classes}


def build_report(
    assessment: PhotoAssessment,
    model: ModelSummary,
    likelihood_of_impact: str,
    consequences: str,
    opacity: float = 0.5,
    created: datetime | None = None,
) -> str:
    """The one-page HTML report of ``assessment`` (a ``PhotoAssessment``) as a string."""
    created = created or datetime.now(timezone.utc)
    try:
        rated: risk.RiskAssessment | None = assessment.rating(likelihood_of_impact, consequences)
        unavailable = ""
    except risk.RatingUnavailable as error:
        rated, unavailable = None, str(error)
    return _environment().get_template("report.html.j2").render(
        name=assessment.name,
        created=created.strftime("%d %B %Y, %H:%M %Z").strip(),
        figures=_figures(assessment, model, opacity),
        rated=rated,
        unavailable=unavailable,
        probabilities=dict(zip(assessment.classes, map(float, assessment.probabilities))),
        class_colours=class_colours(assessment.classes),
        rating_colours=RATING_COLOURS,
        likelihood_of_impact=likelihood_of_impact,
        impact_help=risk.IMPACT_HELP[likelihood_of_impact],
        consequences=consequences,
        consequences_help=risk.CONSEQUENCES_HELP[consequences],
        gps=assessment.gps,
        warnings=assessment.familiarity.warnings,
        notes=assessment.familiarity.notes,
        model=model,
        limitations=LIMITATIONS,
    )


def _figures(assessment: PhotoAssessment, model: ModelSummary, opacity: float) -> list[tuple[str, str]]:
    """(data: URI, caption) of the photo with the model's crop, the model input and, when there is one, the heatmap."""
    photo, shown = assessment.photo, assessment.shown
    figures = [(image_uri(outline_crop(photo, shown)), "Photo; the framed square is what the model used.")]
    figures.append((image_uri(photo.image.convert("RGB").resize((216, 216), Image.Resampling.NEAREST)),
                    f"Model input: {photo.image.width}×{photo.image.height} px, {model.color_mode}."))
    explanation = assessment.explanation
    if explanation is not None:
        caption = (f"{explanation.method_label}: no region raised the score (flat heatmap)." if explanation.flat else
                   f"{explanation.method_label} for “{explanation.class_name}”: red = strongest evidence.")
        figures.append((image_uri(overlay(crop_as_seen(photo, shown), explanation.heatmap, opacity)), caption))
    return figures
